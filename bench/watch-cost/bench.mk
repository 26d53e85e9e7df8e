# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# bench/watch-cost: the system-wide cost of trace mode's programs on system calls and context
# switches, attached vs not, and of the sys_enter tracking trace mode does without. `make
# bench-watch-cost` (part of `make bench`; needs root). WATCH_COST_REPS sets the runs.

BENCH_WATCH_DIR := $(BUILD)/bench/watch-cost
WATCH_COST_REPS ?= 5

# watch_enter.bpf.c is built by bpf/bpf.mk's rules, from here.
vpath %.bpf.c bench/watch-cost

$(BENCH_WATCH_DIR)/watch_cost: bench/watch-cost/watch_cost.c $(LIBGH_A)
	$(call ccld,,$(LIBGH_A))

$(BENCH_WATCH_DIR)/watch_enter: bench/watch-cost/watch_enter.c $(BPF_BUILD)/watch_enter.skel.h
	$(call ccld,$(BPF_SKEL_CFLAGS) $(LIBBPF_CFLAGS),$(LIBBPF_LIBS))

$(eval $(call read_deps,$(BENCH_WATCH_DIR)/watch_cost $(BENCH_WATCH_DIR)/watch_enter))

.PHONY: bench-watch-cost
bench-watch-cost: $(BENCH_WATCH_DIR)/watch_cost $(BENCH_WATCH_DIR)/watch_enter $(LOADER)
	$(call msg,BENCH,watch-cost)
	$(Q)bench/watch-cost/run $(BENCH_WATCH_DIR) $(LOADER) $(WATCH_COST_REPS)

BENCH_TARGETS += bench-watch-cost
