/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A BPF LSM program on the bpf_prog_load hook that makes the kernel refuse, with EPERM, every
 * program of one type (and, if set, one expected attach type) while it is attached: a kernel
 * that refuses part of greenhub's kernel side for reasons of its own, as one with tracing locked
 * down refuses fentry programs (some hosts refuse every fentry load with an empty verifier log).
 * The tests set the rodata before the load:
 *   test_vm_scx_grace    fentry programs: the grace timers' head start, greenhub_presleep;
 *   test_vm_scx_refused  struct_ops programs: the whole sched_ext scheduler.
 * Needs "bpf" among the kernel's active LSMs (Debian's kernels since 6.1 have it in CONFIG_LSM).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1

char _license[] SEC("license") = "GPL";

const volatile __u32 refuse_prog_type;
const volatile bool match_attach_type;
const volatile __u32 refuse_attach_type;

/* How many loads it refused: the tests check that the refusal came from here. */
__u64 refused;

SEC("lsm/bpf_prog_load")
int BPF_PROG(vm_refuse_load, struct bpf_prog *prog, union bpf_attr *attr)
{
	if (attr->prog_type != refuse_prog_type)
		return 0;
	if (match_attach_type && attr->expected_attach_type != refuse_attach_type)
		return 0;
	__sync_fetch_and_add(&refused, 1);
	return -EPERM;
}
