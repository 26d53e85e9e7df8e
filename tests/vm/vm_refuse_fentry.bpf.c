/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A BPF LSM program that makes the kernel refuse to load fentry programs, with EPERM, as a kernel
 * with tracing locked down does (the same refusal some hosts give every fentry load, with an
 * empty verifier log). tests/vm/test_vm_scx_grace.c attaches it while scx_greenhub loads, so
 * that the kernel itself refuses to load greenhub_presleep, the grace timers' head start, and the
 * loader must load the scheduler without it. Needs "bpf" among the kernel's active LSMs (Debian's
 * kernels since 6.1 have it in CONFIG_LSM). Used by that test only.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1

char _license[] SEC("license") = "GPL";

/* How many loads it refused: the test checks that the refusal came from here. */
__u64 refused;

SEC("lsm/bpf_prog_load")
int BPF_PROG(vm_refuse_fentry, struct bpf_prog *prog, union bpf_attr *attr)
{
	if (attr->prog_type != BPF_PROG_TYPE_TRACING ||
	    attr->expected_attach_type != BPF_TRACE_FENTRY)
		return 0;
	__sync_fetch_and_add(&refused, 1);
	return -EPERM;
}
