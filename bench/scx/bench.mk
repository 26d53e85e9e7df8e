# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# bench/scx: handoff latency, short blocks and bench/stall's ticker lateness in mode none, trace
# mode and sched_ext mode (held and parked spares), beside the wake floor (bench/handoff's wake
# experiment) and the sched_ext floor (scx_floor: a scheduler that decides nothing), and with
# the kernel side's BPF time per sleep (bpftool in the VM), all in one boot
# of the sched_ext VM (tests/vm/run-vm), printed as ratios. `make bench-vm` (part of
# `make bench`); SCX_BENCH_REPS and SCX_BENCH_ROUNDS are passed into the VM through
# bench/scx/vm-run's defaults only.

BENCH_SCX_DIR := $(BUILD)/bench/scx

$(BENCH_SCX_DIR)/scx_bench: bench/scx/scx_bench.c $(LIBGH_A)
	$(call ccld,,$(LIBGH_A))

# The floor: a command run under a sched_ext scheduler that decides nothing (scx_floor.bpf.c).
$(BENCH_SCX_DIR)/scx_floor: bench/scx/scx_floor.c $(BPF_BUILD)/scx_floor.skel.h
	$(call ccld,$(BPF_SKEL_CFLAGS) $(LIBBPF_CFLAGS),$(LIBBPF_LIBS))

$(eval $(call read_deps,$(BENCH_SCX_DIR)/scx_bench $(BENCH_SCX_DIR)/scx_floor))

.PHONY: bench-vm
bench-vm: $(BENCH_SCX_DIR)/scx_bench $(BENCH_SCX_DIR)/scx_floor $(BUILD)/bench/stall/gh_stall \
		$(BUILD)/bench/handoff/handoff_wake $(LOADER)
	$(call msg,BENCH,vm)
	$(Q)tests/vm/run-vm --out $(BUILD)/vm-bench --timeout 1200 --test-timeout 1100 \
		--extra $(LOADER) --extra $(BENCH_SCX_DIR)/scx_bench --extra $(BENCH_SCX_DIR)/scx_floor \
		--extra $(BUILD)/bench/stall/gh_stall --extra $(BUILD)/bench/handoff/handoff_wake \
		--extra "$$(command -v $(BPFTOOL))" bench/scx/vm-run
	$(Q)sed -n '/^@@GHVM BEGIN vm-run/,/^@@GHVM END vm-run/p' $(BUILD)/vm-bench/console.log | \
		sed '1d;$$d' | tr -d '\r'

BENCH_TARGETS += bench-vm

# The short-blocks workload on the host, trace mode against mode none (bench/scx/host-run;
# root). SHORT_REPS and SHORT_SECONDS set the rounds and each run's length.
.PHONY: bench-short
bench-short: $(BENCH_SCX_DIR)/scx_bench $(LOADER)
	$(call msg,BENCH,short)
	$(Q)bench/scx/host-run $(BENCH_SCX_DIR)/scx_bench $(LOADER)

BENCH_TARGETS += bench-short
