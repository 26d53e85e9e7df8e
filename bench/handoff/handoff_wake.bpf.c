// SPDX-License-Identifier: GPL-2.0-only
/*
 * The wake experiment of bench/handoff (handoff_wake.c): how fast can a sched_switch program
 * wake a chosen thread when another thread blocks? Two mechanisms, chosen by `mechanism`:
 *
 *   1  ring buffer: bpf_ringbuf_output(..., BPF_RB_FORCE_WAKEUP); the waiter sits in
 *      epoll_wait on the ring buffer's fd
 *   2  signal: bpf_send_signal_task() to the waiter, thread-directed; the waiter sits in a
 *      futex wait that its handler ends (as a parked spare of trace mode does)
 *
 * Both fire when the thread `owner` switches out asleep (!preempt, prev_state != 0), which is
 * what trace mode's handoff program reacts to. Set by user space through the skeleton's bss.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* Written by user space before each run; read here. */
__u32 owner;     /* tid whose sleep triggers the wake */
__u32 waiter;    /* tid to wake */
__u32 mechanism; /* 0 off, 1 ring buffer, 2 signal */
__u32 signo;
__u64 nr_fired, nr_failed;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} wake_rb SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(handoff_wake_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	__u64 now;

	if (preempt || !prev_state || prev->pid != owner || !mechanism)
		return 0;
	now = bpf_ktime_get_ns();
	if (mechanism == 1) {
		if (bpf_ringbuf_output(&wake_rb, &now, sizeof(now), BPF_RB_FORCE_WAKEUP))
			__sync_fetch_and_add(&nr_failed, 1);
	} else {
		struct task_struct *t = bpf_task_from_pid(waiter);

		if (!t)
			return 0;
		if (bpf_send_signal_task(t, signo, PIDTYPE_PID, 1))
			__sync_fetch_and_add(&nr_failed, 1);
		bpf_task_release(t);
	}
	__sync_fetch_and_add(&nr_fired, 1);
	return 0;
}
