# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# bench/stall: ticker lateness beside 50 ms blocking calls, per way of making them; `make
# bench-stall` (part of `make bench`). STALL_SECONDS and STALL_BLOCKERS tune it.

BENCH_STALL_DIR := $(BUILD)/bench/stall
STALL_SECONDS ?= 3
STALL_BLOCKERS ?= 4
BENCH_STALL_BINS := $(BENCH_STALL_DIR)/gh_stall
ifneq ($(BENCH_HAVE_GO),)
BENCH_STALL_BINS += $(BENCH_STALL_DIR)/go_stall
endif

$(BENCH_STALL_DIR)/gh_stall: bench/stall/gh_stall.c $(LIBGH_A)
	$(call ccld,,$(LIBGH_A))

$(eval $(call read_deps,$(BENCH_STALL_DIR)/gh_stall))

# cgo: the blocking call is C, as it would be for a Go program using a C client library.
$(BENCH_STALL_DIR)/go_stall: bench/stall/go/main.go bench/stall/go/go.mod
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd bench/stall/go && $(BENCH_GO_ENV) CGO_ENABLED=1 $(GO) build -o $(abspath $@) .

.PHONY: bench-stall
bench-stall: $(BENCH_STALL_BINS) $(LOADER)
	$(call msg,BENCH,stall)
	$(Q)bench/stall/run $(BENCH_STALL_DIR) $(LOADER) $(STALL_SECONDS) $(STALL_BLOCKERS)

BENCH_TARGETS += bench-stall
