# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# VM tests: programs run as root in a qemu VM on a Debian kernel with sched_ext (tests/vm/run-vm
# boots it; tests/vm/fetch-kernel obtains and caches the kernel). `make test-vm` runs them.
#
# A suite plugs in by adding its binaries to VM_TESTS, with a rule that builds each, from a
# fragment included before this one (or on the command line):
#     VM_TESTS += $(BUILD)/tests/vm/test_vm_foo
# Programs the tests call but that are not tests (the loader) go in VM_EXTRA; they land in the
# VM's /bin. Each test follows the contract in tests/vm/vm_test.h.
#
# VM_TIMEOUT bounds the whole VM run (boot included), VM_TEST_TIMEOUT each test, in seconds.

VM_BUILD := $(BUILD)/tests/vm
VM_TIMEOUT ?= 600
VM_TEST_TIMEOUT ?= 240
VM_EXTRA ?=

VM_TESTS += $(VM_BUILD)/test_vm_sched_ext_env $(VM_BUILD)/test_vm_scx_compat

VM_CFLAGS = $(GH_CFLAGS) $(CFLAGS) $(BPF_SKEL_CFLAGS) $(LIBBPF_CFLAGS) -Itests/vm
VM_LIBS = $(LIBBPF_LIBS) $(GH_LDFLAGS) $(LDFLAGS)

# tests/vm/test_vm_<x>.c, each with the skeleton of the scheduler it loads.
$(VM_BUILD)/test_vm_sched_ext_env: $(BPF_BUILD)/vm_smoke.skel.h
$(VM_BUILD)/test_vm_scx_compat: $(BPF_BUILD)/vm_compat.skel.h

$(VM_BUILD)/test_vm_%: tests/vm/test_vm_%.c tests/vm/vm_test.h
	$(call msg,CCLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(VM_CFLAGS) $< -o $@ $(VM_LIBS)

# sched_ext mode (bpf/greenhub.bpf.c, docs/sched-ext.md), and trace mode on the VM's kernel: tests
# that run hubs link the runtime and drive the loader, which lands in the VM's /bin with the
# stress checker.
VM_SCX_TESTS := $(VM_BUILD)/test_vm_scx_loader $(VM_BUILD)/test_vm_scx_block \
		$(VM_BUILD)/test_vm_scx_stress $(VM_BUILD)/test_vm_scx_eject \
		$(VM_BUILD)/test_vm_scx_grace $(VM_BUILD)/test_vm_scx_watchdog \
		$(VM_BUILD)/test_vm_trace_stress
VM_TESTS += $(VM_SCX_TESTS)
VM_EXTRA += $(LOADER) $(STRESS_BIN)

$(VM_SCX_TESTS): $(VM_BUILD)/test_vm_%: tests/vm/test_vm_%.c tests/vm/vm_test.h \
		 tests/vm/scx_test.h $(LIBGH_A)
	$(call msg,CCLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(VM_CFLAGS) $< -o $@ $(LIBGH_A) $(LIB_EXTRA_LIBS) $(VM_LIBS)

.PHONY: test-vm
test-vm: $(VM_TESTS) $(VM_EXTRA)
	$(Q)tests/vm/run-vm --out $(BUILD)/vm --timeout $(VM_TIMEOUT) \
		--test-timeout $(VM_TEST_TIMEOUT) $(foreach x,$(VM_EXTRA),--extra $(x)) $(VM_TESTS)

# `make test` runs every suite this machine can run; the VM suite skips by itself when qemu or
# busybox is missing.
test: test-vm
