// SPDX-License-Identifier: GPL-2.0-only
/*
 * The rejected alternative of trace mode, for bench/watch-cost to price: knowing "inside a
 * system call" by tracking entries with a sys_enter program beside the sys_exit one. This
 * program does what such tracking would do for threads that are not carriers (look up the
 * thread's task storage, find none) and nothing else.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} entered SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(watch_enter_sys_enter, struct pt_regs *regs, long id)
{
	__u64 *in = bpf_task_storage_get(&entered, bpf_get_current_task_btf(), 0, 0);

	if (in)
		*in = 1;
	return 0;
}
