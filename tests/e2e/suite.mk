# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# End-to-end tests of the examples: each starts an example server, talks to it over loopback
# and stops it with a signal. `make test-e2e`; part of `make test`.

E2E_SRCS := $(wildcard tests/e2e/test_*.c)
E2E_BINS := $(patsubst tests/e2e/%.c,$(BUILD)/tests/e2e/%,$(E2E_SRCS))
E2E_EXAMPLES := $(ECHO_SERVER) $(HTTP_SERVER)

$(BUILD)/tests/e2e/%: tests/e2e/%.c
	$(call ccld,-DEXAMPLES_DIR='"$(abspath $(BUILD)/examples)"',$(TEST_LIBS))

$(eval $(call read_deps,$(E2E_BINS)))

.PHONY: test-e2e
test-e2e: $(E2E_BINS) $(E2E_EXAMPLES)
	$(Q)tests/run-suite e2e $(E2E_BINS)

test: test-e2e
