/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Have the kernel refuse to load BPF programs of one type (and, if match_attach, one expected
 * attach type) with EPERM, through the BPF LSM program of tests/vm/vm_refuse_load.bpf.c, until
 * refuse_load_end(). For the VM tests of the loader's fallbacks; header-only, like vm_test.h.
 */
#ifndef GREENHUB_REFUSE_LOAD_H
#define GREENHUB_REFUSE_LOAD_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "vm_refuse_load.skel.h"
#include "vm_test.h"

/* Attached, or FAIL: a kernel without "bpf" among its active LSMs cannot run these tests. */
static inline struct vm_refuse_load *refuse_load_begin(__u32 prog_type, bool match_attach,
						       __u32 attach_type)
{
	struct vm_refuse_load *lsm = vm_refuse_load__open();

	VM_CHECK(lsm != NULL, "opening the BPF LSM program: %s", strerror(errno));
	lsm->rodata->refuse_prog_type = prog_type;
	lsm->rodata->match_attach_type = match_attach;
	lsm->rodata->refuse_attach_type = attach_type;
	VM_CHECK(vm_refuse_load__load(lsm) == 0, "loading the BPF LSM program: %s",
		 strerror(errno));
	VM_CHECK(vm_refuse_load__attach(lsm) == 0, "attaching the BPF LSM program: %s (is bpf "
		 "among the kernel's active LSMs?)", strerror(errno));
	return lsm;
}

/* How many loads it refused; detaches it. */
static inline unsigned long long refuse_load_end(struct vm_refuse_load *lsm)
{
	unsigned long long n = lsm->bss->refused;

	vm_refuse_load__destroy(lsm);
	return n;
}

#endif /* GREENHUB_REFUSE_LOAD_H */
