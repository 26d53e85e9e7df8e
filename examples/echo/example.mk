# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# examples/echo: a TCP echo server, one green thread per connection (docs/io.md).
# examples/server.c is the server around the handler, shared with examples/http.

ECHO_SERVER_SRCS := examples/echo/echo.c examples/server.c
ALL_TARGETS += $(ECHO_SERVER)

$(ECHO_SERVER): $(ECHO_SERVER_SRCS) $(LIBGH_A)
	$(call ccld,-Iexamples,$(LIBGH_A),$(ECHO_SERVER_SRCS))

$(eval $(call read_deps,$(ECHO_SERVER)))
