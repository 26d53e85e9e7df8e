# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Trace-mode tests on this machine's own kernel (`make test-bpf`, part of `make test`). They
# need root: elsewhere each binary reports SKIP with the reason. CI runs them as root on a
# kernel that has what trace mode needs, so there they run. They load and unload scx_greenhub
# themselves (stopping one that is already loaded) and run one at a time, with the machine's
# kernel side to themselves: no other suite runs meanwhile, even under make -j
# (tests/run-suite's lock).

BPF_TEST_CFLAGS = -Itests/bpf $(LIBBPF_CFLAGS) -DGH_BUILD_DIR='"$(abspath $(BUILD))"' \
		  -DGH_SOURCE_DIR='"$(abspath .)"'
BPF_TEST_LIBS = $(LIBGH_A) $(LIBBPF_LIBS) $(TEST_LIBS)
MARIADB_LIBS := $(or $(shell pkg-config --libs libmariadb 2>/dev/null),-lmariadb)
MARIADB_CFLAGS := $(shell pkg-config --cflags libmariadb 2>/dev/null)

$(BUILD)/tests/bpf/test_bpf_mariadb: BPF_TEST_CFLAGS += $(MARIADB_CFLAGS)
$(BUILD)/tests/bpf/test_bpf_mariadb: BPF_TEST_LIBS += $(MARIADB_LIBS)
LIBPQ_LIBS := $(or $(shell pkg-config --libs libpq 2>/dev/null),-lpq)
LIBPQ_CFLAGS := $(or $(shell pkg-config --cflags libpq 2>/dev/null),-I/usr/include/postgresql)
$(BUILD)/tests/bpf/test_bpf_postgres: BPF_TEST_CFLAGS += $(LIBPQ_CFLAGS)
$(BUILD)/tests/bpf/test_bpf_postgres: BPF_TEST_LIBS += $(LIBPQ_LIBS)
# test_bpf_dbapi drives examples/dbapi with e2e's helpers (tests/e2e/e2e.h, dbapi_client.h).
$(BUILD)/tests/bpf/test_bpf_dbapi: BPF_TEST_CFLAGS += $(MARIADB_CFLAGS) \
	-DEXAMPLES_DIR='"$(abspath $(BUILD)/examples)"'
$(BUILD)/tests/bpf/test_bpf_dbapi: BPF_TEST_LIBS += $(MARIADB_LIBS)
# test_bpf_observe runs itself as the program it watches (--program), with scx_greenhub --top,
# --stats --format openmetrics and promtool (tests/bpf/promtool.h, shared with test_bpf_loader).

$(BUILD)/tests/bpf/%: tests/bpf/%.c $(LIBGH_A)
	$(call ccld,$(BPF_TEST_CFLAGS),$(BPF_TEST_LIBS))

$(eval $(call read_deps,$(BPF_TEST_BINS)))

.PHONY: test-bpf
test-bpf: $(BPF_TEST_BINS) $(LOADER) $(STRESS_BIN) $(DBAPI_SERVER)
	$(Q)SUITE_KERNEL_SIDE=exclusive tests/run-suite bpf $(BPF_TEST_BINS)

test: test-bpf
