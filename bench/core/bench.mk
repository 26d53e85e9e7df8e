# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Core runtime benchmarks: green switch, spawn + join, sleep timers, each measured
# side by side with Go goroutines and a naive C baseline in one run (bench/core/run).
#   make bench-switch | bench-spawn | bench-timers   (make bench runs all three)
# The Go side is built as bench/bench.mk says; without go the Go column says why it is missing.

BENCH_CORE_DIR := $(BUILD)/bench/core
BENCH_CORE_GH := $(BENCH_CORE_DIR)/gh_core
BENCH_CORE_C := $(BENCH_CORE_DIR)/c_baseline
BENCH_CORE_GO := $(BENCH_CORE_DIR)/go_core
BENCH_CORE_BINS := $(BENCH_CORE_GH) $(BENCH_CORE_C)

ifneq ($(BENCH_HAVE_GO),)
BENCH_CORE_BINS += $(BENCH_CORE_GO)
endif

$(BENCH_CORE_GH): bench/core/gh_core.c $(LIBGH_A)
	$(call ccld,,$(LIBGH_A))

$(BENCH_CORE_C): bench/core/c_baseline.c
	$(call ccld)

$(eval $(call read_deps,$(BENCH_CORE_GH) $(BENCH_CORE_C)))

$(BENCH_CORE_GO): bench/core/go/main.go bench/core/go/go.mod
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd bench/core/go && $(BENCH_GO_ENV) $(GO) build -o $(abspath $@) .

.PHONY: bench-switch bench-spawn bench-timers
bench-switch bench-spawn bench-timers: $(BENCH_CORE_BINS)
	$(call msg,BENCH,$(@:bench-%=%))
	$(Q)bench/core/run $(BENCH_CORE_DIR) $(@:bench-%=%)

BENCH_TARGETS += bench-switch bench-spawn bench-timers
