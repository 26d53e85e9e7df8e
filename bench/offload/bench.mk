# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# bench/offload: gh_offload round trips against eventlet's tpool.execute and a bare pthread
# handoff; `make bench-offload` (part of `make bench`).

BENCH_OFFLOAD_DIR := $(BUILD)/bench/offload

$(BENCH_OFFLOAD_DIR)/offload_bench: bench/offload/offload_bench.c $(LIBGH_A)
	$(call ccld,,$(LIBGH_A))

$(eval $(call read_deps,$(BENCH_OFFLOAD_DIR)/offload_bench))

.PHONY: bench-offload
bench-offload: $(BENCH_OFFLOAD_DIR)/offload_bench
	$(call msg,BENCH,offload)
	$(Q)bench/offload/run $(BENCH_OFFLOAD_DIR)

BENCH_TARGETS += bench-offload
