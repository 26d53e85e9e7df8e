/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A BPF LSM program that makes the kernel refuse, with EPERM, to load BPF programs of one kind
 * while it is attached: a kernel that refuses part of greenhub's kernel side for reasons of its
 * own, as one with tracing locked down refuses fentry programs (some hosts refuse every fentry
 * load with an empty verifier log). tests/vm/lsm_refuse_load.h sets the rodata and attaches it;
 * the tests that use it say what they refuse.
 *
 * Two hooks, one loaded: bpf_prog_load (Linux 6.9 and later), which sees the program's type and
 * expected attach type; before 6.9, bpf_prog_alloc_security, called in the same place of the
 * load, which sees the expected attach type only (the type is set after it). Needs "bpf" among
 * the kernel's active LSMs (Debian's kernels since 6.1 have it in CONFIG_LSM).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1

char _license[] SEC("license") = "GPL";

const volatile bool match_prog_type;
const volatile __u32 refuse_prog_type;
const volatile bool match_attach_type;
const volatile __u32 refuse_attach_type;

/* How many loads it refused: the tests check that the refusal came from here. */
__u64 refused;

/* type_known: false at the older hook, where the attach type alone decides. */
static int decide(bool type_known, __u32 prog_type, __u32 attach_type)
{
	if (match_prog_type && type_known && prog_type != refuse_prog_type)
		return 0;
	if (match_attach_type && attach_type != refuse_attach_type)
		return 0;
	__sync_fetch_and_add(&refused, 1);
	return -EPERM;
}

SEC("lsm/bpf_prog_load")
int BPF_PROG(lsm_refuse_load, struct bpf_prog *prog, union bpf_attr *attr)
{
	return decide(true, attr->prog_type, attr->expected_attach_type);
}

SEC("lsm/bpf_prog_alloc_security")
int BPF_PROG(lsm_refuse_alloc, struct bpf_prog_aux *aux)
{
	return decide(false, 0, BPF_CORE_READ(aux, prog, expected_attach_type));
}
