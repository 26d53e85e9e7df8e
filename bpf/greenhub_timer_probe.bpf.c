// SPDX-License-Identifier: GPL-2.0-only
/*
 * A probe the loader runs before it loads trace mode: does a BPF timer started from a
 * context-switch program, with interrupts off, arm its hrtimer there and then?
 *
 * Trace mode starts its grace timers from its sched_switch program, and how it keeps them
 * depends on what a start costs there (trace_grace.bpf.h, docs/trace-mode.md). Where the kernel
 * arms the hrtimer at once (every kernel before 7.0 seen here: 6.1, 6.12, 6.18), a start is a
 * cheap update of a timer that is not the CPU's next event. Where it only queues the start for
 * an irq_work, a self-interrupt that arms it later (7.3.4: "bpf: Enable bpf_timer and bpf_wq in
 * any context"), every start costs an interrupt.
 *
 * The test is the thing itself, not the kernel's version: when the loader's thread goes to
 * sleep, the program starts a timer far off and cancels it at once. The cancel says the timer
 * was active (1) only if the start armed it. Anything else (0, an error, a start or a set-up
 * that failed) is taken as "not at once".
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define CLOCK_MONOTONIC 1
/* Far enough off that it cannot fire between the start and the cancel. */
#define PROBE_TIMEOUT_NS 10000000000ULL

struct probe_timer {
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_timer);
} probe_timers SEC(".maps");

/* The loader's thread, whose sleep is the sample. Set through rodata. */
const volatile __u32 probe_tid = 0;

/* Written here, read by the loader after its sample: whether the sample was taken, and what
 * each step returned. */
__u32 nr_seen = 0;
int init_ret = 0;
int start_ret = 0;
int cancel_ret = 0;

static int probe_fired(void *map, __u32 *key, struct probe_timer *pt)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(greenhub_timer_probe, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	struct probe_timer *pt;
	__u32 zero = 0;

	if (prev->pid != probe_tid || preempt || !prev_state || nr_seen)
		return 0;
	pt = bpf_map_lookup_elem(&probe_timers, &zero);
	if (!pt)
		return 0;
	nr_seen = 1;
	init_ret = bpf_timer_init(&pt->timer, &probe_timers, CLOCK_MONOTONIC);
	if (init_ret)
		return 0;
	bpf_timer_set_callback(&pt->timer, probe_fired);
	start_ret = bpf_timer_start(&pt->timer, PROBE_TIMEOUT_NS, 0);
	if (start_ret)
		return 0;
	cancel_ret = bpf_timer_cancel(&pt->timer);
	return 0;
}
