# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# examples/http: a small HTTP/1.1 server that wrk can load (docs/io.md).
# examples/server.c is the server around the handler, shared with examples/echo.

ALL_TARGETS += $(HTTP_SERVER)

$(HTTP_SERVER): examples/http/http.c examples/server.c examples/server.h include/greenhub.h \
		$(LIBGH_A)
	$(call msg,CCLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(GH_CFLAGS) $(CFLAGS) -Iexamples $(filter %.c,$^) -o $@ $(LIBGH_A) \
		$(GH_LDFLAGS) $(LDFLAGS)
