# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Unit tests (cmocka): tests/unit/test_<unit>.c, each linked against the static library; and
# what the test suites share. The Makefile includes this file before every tests/*/suite.mk, so
# that each suite can name these in its rules whichever suite is read first.

TEST_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
# Binaries that one suite builds and others run too: the stress checker (tests/stress), which
# tests/bpf and the VM suite run; trace mode's tests (tests/bpf), which the VM suite runs on each
# kernel. tests/cross builds UNIT_SRCS for aarch64.
STRESS_BIN := $(BUILD)/tests/stress
BPF_TEST_SRCS := $(wildcard tests/bpf/test_bpf_*.c)
BPF_TEST_BINS := $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/%,$(BPF_TEST_SRCS))

$(BUILD)/tests/%: tests/unit/%.c $(LIBGH_A)
	$(call ccld,-Itests/unit,$(LIBGH_A) $(TEST_LIBS) -lm)

$(eval $(call read_deps,$(UNIT_BINS)))

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
