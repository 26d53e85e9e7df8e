# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Unit tests (cmocka): tests/unit/test_<unit>.c, each linked against the static library.

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TEST_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/helpers.h $(LIBGH_A)
	$(call msg,CCLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(GH_CFLAGS) $(CFLAGS) -Itests/unit $< -o $@ $(LIBGH_A) $(TEST_LIBS) \
		$(LIB_EXTRA_LIBS) -lm $(GH_LDFLAGS) $(LDFLAGS)

.PHONY: test-unit test-asan test-tsan test-aarch64
test-unit: $(UNIT_BINS)
	$(Q)tests/run-suite unit $(UNIT_BINS)

test-asan:
	$(Q)$(MAKE) --no-print-directory SAN=asan CC=clang test-unit

test-tsan:
	$(Q)$(MAKE) --no-print-directory SAN=tsan CC=clang test-unit $(TSAN_EXTRA_TARGETS)

test: test-unit
