# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Unit tests (cmocka): tests/unit/test_<unit>.c, each linked against the static library.

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TEST_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/helpers.h $(LIBGH_A)
	$(call ccld,-Itests/unit,$(LIBGH_A) $(TEST_LIBS) -lm)

.PHONY: test-unit test-asan test-tsan test-aarch64
test-unit: $(UNIT_BINS)
	$(Q)tests/run-suite unit $(UNIT_BINS)

test-asan:
	$(Q)$(MAKE) --no-print-directory SAN=asan CC=clang test-unit

# Tests that check an abort or a crash run a hub in a forked child, which starts threads:
# TSan's default is to kill such a child before it can.
test-tsan:
	$(Q)TSAN_OPTIONS="die_after_fork=0 $(TSAN_OPTIONS)" $(MAKE) --no-print-directory SAN=tsan \
		CC=clang test-unit $(TSAN_EXTRA_TARGETS)

# The sanitizer builds run in `make test` too: a race or a leak that only they see must fail it.
test: test-unit test-asan test-tsan
