# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# VM tests: programs run as root in qemu VMs booted on Debian's own kernels (tests/vm/run-vm boots
# one; tests/vm/fetch-kernel obtains and caches each). `make test-vm` boots the whole matrix:
#   bullseye 5.10          trace mode refuses cleanly; the runtime runs in mode none
#   bookworm 6.1           trace mode's suite
#   trixie 6.12            trace mode's suite
#   trixie-backports 7.x   trace mode's suite and the sched_ext suite
# and prints one table; `make test-vm-<suite>` boots one of them.
#
# The sched_ext suite is VM_TESTS: each test is added to it below, with a rule that builds it
#     VM_TESTS += $(VM_BUILD)/test_vm_foo
# (VM_TESTS=... on the command line runs others). Programs the tests call but that are not tests
# (the loader, the stress checker) go in VM_EXTRA; they land in the VM's /bin. Each test follows
# the contract in tests/vm/vm_test.h. Trace mode's suite in the VM is tests/bpf's (BPF_TEST_BINS,
# from tests/tests.mk).
#
# VM_TIMEOUT bounds a whole VM run (boot included), VM_TEST_TIMEOUT each test, in seconds.

VM_BUILD := $(BUILD)/tests/vm
VM_TIMEOUT ?= 1500
VM_TEST_TIMEOUT ?= 240
VM_EXTRA ?=

VM_TESTS += $(VM_BUILD)/test_vm_sched_ext_env $(VM_BUILD)/test_vm_scx_compat

VM_CFLAGS = $(BPF_SKEL_CFLAGS) $(LIBBPF_CFLAGS) -Itests/vm
VM_LIBS = $(LIBBPF_LIBS)

# tests/vm/test_vm_<x>.c, each with the skeleton of the scheduler it loads.
$(VM_BUILD)/test_vm_sched_ext_env: $(BPF_BUILD)/vm_smoke.skel.h
$(VM_BUILD)/test_vm_scx_compat: $(BPF_BUILD)/vm_compat.skel.h
# test_vm_scx_grace fills schedule()'s trampoline with these, so that the head start's attach is
# refused.
$(VM_BUILD)/test_vm_scx_grace: $(BPF_BUILD)/vm_fentry_fill.skel.h
# A BPF LSM program that has the kernel refuse programs of one kind: test_vm_scx_grace refuses
# fentry programs with it (the head start's load), test_vm_scx_refused struct_ops programs (the
# scheduler), test_vm_trace_refused_load tp_btf programs (trace mode).
$(VM_BUILD)/test_vm_scx_grace $(VM_BUILD)/test_vm_scx_refused \
		$(VM_BUILD)/test_vm_trace_refused_load: $(BPF_BUILD)/lsm_refuse_load.skel.h

$(VM_BUILD)/test_vm_%: tests/vm/test_vm_%.c
	$(call ccld,$(VM_CFLAGS),$(VM_LIBS))

# sched_ext mode (bpf/greenhub_scx.bpf.c, docs/sched-ext.md): tests that run hubs link the runtime and
# drive the loader, which lands in the VM's /bin with the stress checker.
VM_SCX_TESTS := $(VM_BUILD)/test_vm_scx_loader $(VM_BUILD)/test_vm_scx_block \
		$(VM_BUILD)/test_vm_scx_stress $(VM_BUILD)/test_vm_scx_eject \
		$(VM_BUILD)/test_vm_scx_grace $(VM_BUILD)/test_vm_scx_watchdog \
		$(VM_BUILD)/test_vm_scx_isolation $(VM_BUILD)/test_vm_scx_records \
		$(VM_BUILD)/test_vm_scx_refused $(VM_BUILD)/test_vm_scx_dbclients
VM_TESTS += $(VM_SCX_TESTS)
# test_vm_scx_dbclients drives libmariadb and libpq (their flags: tests/bpf/suite.mk).
$(VM_BUILD)/test_vm_scx_dbclients: VM_CFLAGS += $(MARIADB_CFLAGS) $(LIBPQ_CFLAGS)
$(VM_BUILD)/test_vm_scx_dbclients: VM_LIBS += $(MARIADB_LIBS) $(LIBPQ_LIBS)
VM_EXTRA += $(LOADER) $(STRESS_BIN)

# Tests that link the runtime: the sched_ext suite, and trace mode's VM tests below.
$(VM_SCX_TESTS) $(VM_BUILD)/test_vm_trace_stress $(VM_BUILD)/test_vm_trace_refused \
		$(VM_BUILD)/test_vm_trace_refused_load: \
		$(VM_BUILD)/test_vm_%: tests/vm/test_vm_%.c $(LIBGH_A)
	$(call ccld,$(VM_CFLAGS),$(LIBGH_A) $(VM_LIBS))

$(eval $(call read_deps,$(patsubst tests/vm/%.c,$(VM_BUILD)/%,$(wildcard tests/vm/test_vm_*.c))))

# The kernel matrix: each Debian kernel is booted once (tests/vm/fetch-kernel names them) and
# runs what it can run. Trace mode's suite is the host suite (tests/bpf) plus the VM's own
# stress test; the sched_ext suite runs on the kernel that has sched_ext; the oldest kernel
# checks that everything refuses cleanly and the runtime falls back to mode none. The dbapi
# example's trace-mode test runs on the host only: the boots carry no examples. So does the
# observability test: its program binds a resolv.conf over /etc/resolv.conf, which the boots
# do not have, and it checks the metrics with promtool, which they do not carry (--top in
# sched_ext mode is test_vm_scx_records); and test_bpf_record, whose checker of the recorded
# file is a python3 script the boots lack (--record in sched_ext mode is test_vm_scx_records too,
# which reads the file in C).
VM_TRACE_TESTS := $(filter-out %/test_bpf_dbapi %/test_bpf_observe %/test_bpf_record,$(BPF_TEST_BINS)) \
		  $(VM_BUILD)/test_vm_trace_stress $(VM_BUILD)/test_vm_trace_refused_load
VM_OLD_TESTS := $(VM_BUILD)/test_vm_trace_refused

# The MariaDB server test_bpf_mariadb starts, with what mariadb-install-db needs.
VM_MARIADB := $(foreach p,/usr/sbin/mariadbd /usr/bin/mariadb-install-db \
		/usr/bin/my_print_defaults /usr/bin/resolveip /usr/share/mysql /usr/lib/mysql,\
		$(if $(wildcard $(p)),--extra-root $(p)))
# The PostgreSQL server test_bpf_postgres starts: the binaries and the files initdb reads.
VM_POSTGRES := $(foreach p,$(wildcard /usr/lib/postgresql/*) $(wildcard /usr/share/postgresql/*),\
		--extra-root $(p))
VM_RUN = tests/vm/run-vm --timeout $(VM_TIMEOUT) --test-timeout $(VM_TEST_TIMEOUT) \
	 $(foreach x,$(VM_EXTRA),--extra $(x))
VM_KERNELS := bullseye bookworm trixie trixie-backports
# Boots at once: each qemu (TCG, one thread) keeps one host CPU busy.
VM_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 2 ] && n=2; echo $$n)

.PHONY: test-vm $(addprefix test-vm-,$(VM_KERNELS))
test-vm-bullseye: $(VM_OLD_TESTS) $(VM_EXTRA)
	$(Q)$(VM_RUN) --kernel bullseye --out $(BUILD)/vm/bullseye \
		--env "GH_VM_REFUSED_FEATURE=task-local storage" $(VM_OLD_TESTS)

test-vm-bookworm test-vm-trixie: test-vm-%: $(VM_TRACE_TESTS) $(VM_EXTRA)
	$(Q)$(VM_RUN) --kernel $* --out $(BUILD)/vm/$* $(VM_MARIADB) $(VM_POSTGRES) \
		--env GH_VM_EXPECT_GATE=sys_exit $(VM_TRACE_TESTS)

test-vm-trixie-backports: $(VM_TESTS) $(VM_TRACE_TESTS) $(VM_EXTRA)
	$(Q)$(VM_RUN) --kernel trixie-backports --out $(BUILD)/vm/trixie-backports $(VM_MARIADB) \
		$(VM_POSTGRES) \
		--env "GH_VM_EXPECT_GATE=task work" $(VM_TESTS) $(VM_TRACE_TESTS)

# Every boot of the matrix (VM_KERNELS=... for fewer), then one table of what each kernel ran.
test-vm: $(VM_TESTS) $(VM_TRACE_TESTS) $(VM_OLD_TESTS) $(VM_EXTRA)
	$(Q)rm -f $(foreach k,$(VM_KERNELS),$(BUILD)/vm/$(k)/summary); \
	$(MAKE) --no-print-directory -k -O -j$(VM_JOBS) $(addprefix test-vm-,$(VM_KERNELS)); \
	rc=$$?; tests/vm/matrix-report $(addprefix $(BUILD)/vm/,$(VM_KERNELS)) || rc=1; exit $$rc

# `make test` runs every suite this machine can run; the VM suite skips by itself when qemu or
# busybox is missing.
test: test-vm
