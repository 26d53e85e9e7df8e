# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# examples/echo: a TCP echo server, one green thread per connection (docs/io.md).
# examples/server.c is the server around the handler, shared with examples/http.

ALL_TARGETS += $(ECHO_SERVER)

$(ECHO_SERVER): examples/echo/echo.c examples/server.c examples/server.h include/greenhub.h \
		$(LIBGH_A)
	$(call msg,CCLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(GH_CFLAGS) $(CFLAGS) -Iexamples $(filter %.c,$^) -o $@ $(LIBGH_A) \
		$(GH_LDFLAGS) $(LDFLAGS)
