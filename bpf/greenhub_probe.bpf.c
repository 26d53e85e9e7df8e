// SPDX-License-Identifier: GPL-2.0-only
/*
 * A probe the loader runs before it chooses trace mode's sys_exit gate: can a thread be
 * preempted while it runs a program on the sys_exit tracepoint?
 *
 * The kernel runs a tracing program only if the same program is not already running on that
 * CPU (its recursion guard), and skips it otherwise. Where programs on the system-call
 * tracepoints cannot be preempted (preemption disabled around them, or a kernel built without
 * involuntary preemption: every kernel up to 6.18 seen here), nothing can be running there when
 * another thread's system call exits, since no thread makes a system call from an interrupt.
 * Where they can (7.3.4, PREEMPT_LAZY: a thread preempted inside the gate leaves it "running"),
 * another displaced carrier's exit on that CPU can be skipped, and an ungated carrier breaks
 * exclusivity: measured in the 7.3.4 VM, 6 skipped gates and a stress abort within 15 s.
 *
 * The test is the thing itself rather than the kernel's configuration (which does not say
 * whether the tracepoint disables preemption): on the loader's thread, with another thread of
 * the loader busy on the same CPU, the program spins for spin_ns with interrupts on and looks
 * whether the thread was switched out involuntarily meanwhile (task_struct.nivcsw). A kernel
 * that preempts there does so within a few scheduler ticks.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* The spin is a walk over this array, SPIN_LOOKS clock reads per entry (bpf_for_each_map_elem,
 * Linux 5.13, bounds it without bpf_loop). */
#define SPIN_ENTRIES 16384
#define SPIN_LOOKS 64

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SPIN_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} spin SEC(".maps");

/* The loader's thread, whose system calls are the sample. Set through rodata. */
const volatile __u32 probe_tid = 0;

/* Written by the loader before the sample: how long each probed exit spins. */
__u64 spin_ns = 0;
/* Written here, read by the loader after its sample. */
__u32 nr_seen = 0;
__u32 nr_preempted = 0;

struct spin_ctx {
	__u64 until;
};

static long spin_entry(struct bpf_map *map, __u32 *key, __u32 *value, struct spin_ctx *sc)
{
	for (int i = 0; i < SPIN_LOOKS; i++)
		if (bpf_ktime_get_ns() >= sc->until)
			return 1;
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(greenhub_probe_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *p = bpf_get_current_task_btf();
	struct spin_ctx sc;
	unsigned long before;

	if ((__u32)bpf_get_current_pid_tgid() != probe_tid || !spin_ns)
		return 0;
	before = p->nivcsw;
	sc.until = bpf_ktime_get_ns() + spin_ns;
	bpf_for_each_map_elem(&spin, spin_entry, &sc, 0);
	__sync_fetch_and_add(&nr_seen, 1);
	if (p->nivcsw != before)
		__sync_fetch_and_add(&nr_preempted, 1);
	return 0;
}
