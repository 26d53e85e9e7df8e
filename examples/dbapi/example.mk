# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# examples/dbapi: an HTTP/1.1 server over libmariadb on N hubs, whose green threads call the
# client library bare (docs/dbapi.md). Needs libmariadb-dev (make deps).
# examples/http_request.c reads and parses requests, shared with examples/http.

DBAPI_SRCS := examples/dbapi/main.c examples/dbapi/db.c examples/dbapi/http.c \
	examples/http_request.c
DBAPI_MARIADB_CFLAGS := $(or $(shell pkg-config --cflags libmariadb 2>/dev/null),-I/usr/include/mariadb)
DBAPI_MARIADB_LIBS := $(or $(shell pkg-config --libs libmariadb 2>/dev/null),-lmariadb)
ALL_TARGETS += $(DBAPI_SERVER)

$(DBAPI_SERVER): $(DBAPI_SRCS) $(LIBGH_A)
	$(call ccld,-Iexamples/dbapi -Iexamples $(DBAPI_MARIADB_CFLAGS),$(LIBGH_A) $(DBAPI_MARIADB_LIBS),$(DBAPI_SRCS))

$(eval $(call read_deps,$(DBAPI_SERVER)))
