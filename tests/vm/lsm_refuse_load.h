/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Have the kernel refuse to load BPF programs with EPERM, through the BPF LSM program of
 * tests/vm/lsm_refuse_load.bpf.c, until lsm_refuse_load_end(): for the VM tests of the loader's
 * fallbacks. Not on the host: a kernel that refuses trampolines to BPF programs (the 6.18 host
 * of these tests refuses fentry programs with EPERM) refuses BPF LSM programs too. Header-only,
 * like vm_test.h.
 */
#ifndef GREENHUB_LSM_REFUSE_LOAD_H
#define GREENHUB_LSM_REFUSE_LOAD_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "lsm_refuse_load.skel.h"

/* Which programs to refuse: those of prog_type (if match_type) whose expected attach type is
 * attach_type (if match_attach). A kernel older than 6.9 cannot tell a program's type at the
 * hook, so there the attach type must be given. */
struct lsm_refuse {
	bool match_type;
	__u32 prog_type;
	bool match_attach;
	__u32 attach_type;
};

/* 0 with *out attached; else -1 with what failed in why. */
static inline int lsm_refuse_load_begin(const struct lsm_refuse *r, struct lsm_refuse_load **out,
					char *why, size_t len)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct lsm_refuse_load *lsm;
	bool load_hook;
	int err;

	*out = NULL;
	if (!vmlinux) {
		snprintf(why, len, "reading the kernel's BTF: %s", strerror(errno));
		return -1;
	}
	/* The hook the kernel has: bpf_prog_load since 6.9, bpf_prog_alloc_security before. */
	load_hook = btf__find_by_name_kind(vmlinux, "bpf_lsm_bpf_prog_load", BTF_KIND_FUNC) >= 0;
	btf__free(vmlinux);
	if (!load_hook && !r->match_attach) {
		snprintf(why, len, "this kernel's LSM hook cannot tell a program's type: give an "
				   "attach type");
		return -1;
	}
	lsm = lsm_refuse_load__open();
	if (!lsm) {
		snprintf(why, len, "opening the BPF LSM program: %s", strerror(errno));
		return -1;
	}
	lsm->rodata->match_prog_type = r->match_type;
	lsm->rodata->refuse_prog_type = r->prog_type;
	lsm->rodata->match_attach_type = r->match_attach;
	lsm->rodata->refuse_attach_type = r->attach_type;
	err = bpf_program__set_autoload(lsm->progs.lsm_refuse_load, load_hook);
	if (!err)
		err = bpf_program__set_autoload(lsm->progs.lsm_refuse_alloc, !load_hook);
	if (!err)
		err = lsm_refuse_load__load(lsm);
	if (err) {
		snprintf(why, len, "loading the BPF LSM program: %s", strerror(-err));
		lsm_refuse_load__destroy(lsm);
		return -1;
	}
	err = lsm_refuse_load__attach(lsm);
	if (err) {
		snprintf(why, len, "attaching the BPF LSM program: %s (is bpf among the kernel's "
				   "active LSMs?)", strerror(-err));
		lsm_refuse_load__destroy(lsm);
		return -1;
	}
	*out = lsm;
	return 0;
}

/* How many loads it refused; detaches it. */
static inline unsigned long long lsm_refuse_load_end(struct lsm_refuse_load *lsm)
{
	unsigned long long n = lsm->bss->refused;

	lsm_refuse_load__destroy(lsm);
	return n;
}

#endif /* GREENHUB_LSM_REFUSE_LOAD_H */
