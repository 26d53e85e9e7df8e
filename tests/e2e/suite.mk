# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# End-to-end tests of the examples: each starts an example server, talks to it over loopback
# and stops it with a signal. `make test-e2e`; part of `make test`. test_e2e_dbapi also starts
# a private mariadbd (tests/mariadb_server.h) and reads it with libmariadb.

E2E_SRCS := $(wildcard tests/e2e/test_*.c)
E2E_BINS := $(patsubst tests/e2e/%.c,$(BUILD)/tests/e2e/%,$(E2E_SRCS))
E2E_EXAMPLES := $(ECHO_SERVER) $(HTTP_SERVER) $(DBAPI_SERVER)
E2E_CFLAGS = -DEXAMPLES_DIR='"$(abspath $(BUILD)/examples)"'
E2E_LIBS = $(TEST_LIBS)

$(BUILD)/tests/e2e/test_e2e_dbapi: E2E_CFLAGS += $(DBAPI_MARIADB_CFLAGS)
$(BUILD)/tests/e2e/test_e2e_dbapi: E2E_LIBS += $(DBAPI_MARIADB_LIBS) -pthread

$(BUILD)/tests/e2e/%: tests/e2e/%.c
	$(call ccld,$(E2E_CFLAGS),$(E2E_LIBS))

$(eval $(call read_deps,$(E2E_BINS)))

.PHONY: test-e2e
test-e2e: $(E2E_BINS) $(E2E_EXAMPLES)
	$(Q)tests/run-suite e2e $(E2E_BINS)

test: test-e2e
