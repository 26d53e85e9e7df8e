# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# examples/http: a small HTTP/1.1 server that wrk can load (docs/io.md).
# examples/server.c is the server around the handler, shared with examples/echo;
# examples/http_request.c reads and parses requests, shared with examples/dbapi.

HTTP_SERVER_SRCS := examples/http/http.c examples/server.c examples/http_request.c
ALL_TARGETS += $(HTTP_SERVER)

$(HTTP_SERVER): $(HTTP_SERVER_SRCS) $(LIBGH_A)
	$(call ccld,-Iexamples,$(LIBGH_A),$(HTTP_SERVER_SRCS))

$(eval $(call read_deps,$(HTTP_SERVER)))
