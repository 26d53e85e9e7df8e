# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# bench/handoff: handoff latency, from a green thread's block to the next green thread running
# on another thread, in trace mode and with mode none's sysmon, pinned and unpinned, against Go
# measured the same way in four shapes (syscall.Read and a cgo call, GOMAXPROCS=1 pinned and
# GOMAXPROCS=2 unpinned); and the wake experiment that chose how trace mode wakes a spare.
# `make bench-handoff` (part of `make bench`); trace mode and the wake experiment need root
# (scx_greenhub is loaded for the trace rows and unloaded after, under the kernel side's lock).
# HANDOFF_ROUNDS sets the rounds per measurement, BENCH_REPS the reps (bench/handoff/run).

BENCH_HANDOFF_DIR := $(BUILD)/bench/handoff
HANDOFF_ROUNDS ?= 5000
BENCH_HANDOFF_BINS := $(BENCH_HANDOFF_DIR)/gh_handoff $(BENCH_HANDOFF_DIR)/handoff_wake
ifneq ($(BENCH_HAVE_GO),)
BENCH_HANDOFF_BINS += $(BENCH_HANDOFF_DIR)/go_handoff
endif

# The wake experiment's BPF object and skeleton are built by bpf/bpf.mk's rules, from here.
vpath %.bpf.c bench/handoff

$(BENCH_HANDOFF_DIR)/gh_handoff: bench/handoff/gh_handoff.c $(LIBGH_A)
	$(call ccld,,$(LIBGH_A))

$(BENCH_HANDOFF_DIR)/handoff_wake: bench/handoff/handoff_wake.c $(BPF_BUILD)/handoff_wake.skel.h
	$(call ccld,$(BPF_SKEL_CFLAGS) $(LIBBPF_CFLAGS),$(LIBBPF_LIBS))

$(eval $(call read_deps,$(BENCH_HANDOFF_DIR)/gh_handoff $(BENCH_HANDOFF_DIR)/handoff_wake))

# cgo: the helper thread that releases the blocked goroutine must live outside the Go scheduler,
# and the cgo shape's blocking call is C. Built offline: standard library only, GOPROXY=off.
$(BENCH_HANDOFF_DIR)/go_handoff: bench/handoff/go/main.go bench/handoff/go/go.mod
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd bench/handoff/go && $(BENCH_GO_ENV) CGO_ENABLED=1 $(GO) build -o $(abspath $@) .

.PHONY: bench-handoff
bench-handoff: $(BENCH_HANDOFF_BINS) $(LOADER)
	$(call msg,BENCH,handoff)
	$(Q)bench/handoff/run $(BENCH_HANDOFF_DIR) $(LOADER) $(HANDOFF_ROUNDS)

BENCH_TARGETS += bench-handoff
