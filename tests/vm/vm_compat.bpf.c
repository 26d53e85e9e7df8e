/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A scheduler that uses every part of bpf/scx_compat.bpf.h that greenhub's scheduler relies on,
 * so that the VM proves each declaration against a real sched_ext kernel: a user DSQ created in
 * the sleepable ops.init(), insertion into it, the DSQ iterator with scx_bpf_dsq_move() in
 * ops.dispatch(), CPU kicks, flag values read with GH_SCX_ENUM(), the task's scx fields read
 * and written through gh_task_scx(), and the exit record.
 *
 * Design: SCX_OPS_SWITCH_PARTIAL | SCX_OPS_ENQ_LAST. Every task is inserted into COMPAT_DSQ and
 * kicked awake on its CPU; ops.dispatch() moves the first task it can from COMPAT_DSQ to the
 * dispatching CPU's local DSQ. Used by tests/vm/test_vm_scx_compat.c only.
 *
 * Memory ordering: the counters are plain atomic increments read by the test after the
 * workload; nothing orders them against each other and nothing needs to.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../../bpf/scx_compat.bpf.h"

char _license[] SEC("license") = "GPL";

/* The one user DSQ; ids below 2^63 are the scheduler's own. */
#define COMPAT_DSQ 0x6768ULL

/* Counters, each bumped by the callback named and read by the test; never reset. */
__u64 nr_enqueued;   /* ops.enqueue */
__u64 nr_wakeups;    /* ops.enqueue with SCX_ENQ_WAKEUP */
__u64 nr_dispatches; /* ops.dispatch */
__u64 nr_moved;      /* tasks the iterator moved to a local DSQ */
__u64 nr_running;    /* ops.running */
__u64 nr_sleeps;     /* ops.quiescent with SCX_DEQ_SLEEP */
/* gh_scx_now() at the last ops.running; written there, read by the test (non-zero check). */
__u64 last_running_ns;

/* Why the scheduler exited: written once by greenhub_compat_exit, read by the test. */
__u32 exit_kind;
char exit_reason[128];
char exit_msg[256];

s32 GH_SCX_OP_SLEEPABLE(greenhub_compat_init)
{
	s32 err = scx_bpf_create_dsq(COMPAT_DSQ, -1);

	if (err)
		gh_scx_error("cannot create DSQ %llu: %d", COMPAT_DSQ, err);
	return err;
}

s32 GH_SCX_OP(greenhub_compat_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;

	return scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
}

void GH_SCX_OP(greenhub_compat_enqueue, struct task_struct *p, u64 enq_flags)
{
	__sync_fetch_and_add(&nr_enqueued, 1);
	if (enq_flags & GH_SCX_ENUM(scx_enq_flags, SCX_ENQ_WAKEUP))
		__sync_fetch_and_add(&nr_wakeups, 1);
	gh_scx_dsq_insert(p, COMPAT_DSQ, SCX_SLICE_DFL, enq_flags);
	/* The task's CPU may be idle: make it run ops.dispatch(). */
	scx_bpf_kick_cpu(scx_bpf_task_cpu(p), SCX_KICK_IDLE);
}

void GH_SCX_OP(greenhub_compat_dispatch, s32 cpu, struct task_struct *prev)
{
	struct task_struct *p;

	__sync_fetch_and_add(&nr_dispatches, 1);
	bpf_for_each(scx_dsq, p, COMPAT_DSQ, 0) {
		/* Fails if p left or re-entered the DSQ since the iterator saw it. */
		if (gh_scx_dsq_move(GH_SCX_DSQ_ITER, p, SCX_DSQ_LOCAL, 0)) {
			__sync_fetch_and_add(&nr_moved, 1);
			return;
		}
	}
	/* Nothing movable seen: the plain consume must then find nothing either, or a task that
	 * arrived after the walk. */
	gh_scx_dsq_move_to_local(COMPAT_DSQ);
}

void GH_SCX_OP(greenhub_compat_running, struct task_struct *p)
{
	struct sched_ext_entity___gh *scx = gh_task_scx(p);

	__sync_fetch_and_add(&nr_running, 1);
	last_running_ns = gh_scx_now();
	/* A write the verifier must accept: sched_ext lets the scheduler set the slice. */
	if (scx->slice > SCX_SLICE_DFL)
		scx->slice = SCX_SLICE_DFL;
}

void GH_SCX_OP(greenhub_compat_quiescent, struct task_struct *p, u64 deq_flags)
{
	if (deq_flags & GH_SCX_ENUM(scx_deq_flags, SCX_DEQ_SLEEP))
		__sync_fetch_and_add(&nr_sleeps, 1);
}

void GH_SCX_OP(greenhub_compat_exit, struct scx_exit_info *ei)
{
	bpf_probe_read_kernel_str(exit_reason, sizeof(exit_reason), ei->reason);
	bpf_probe_read_kernel_str(exit_msg, sizeof(exit_msg), ei->msg);
	exit_kind = ei->kind;
}

SEC(".struct_ops.link")
struct sched_ext_ops greenhub_compat_ops = {
	.select_cpu = (void *)greenhub_compat_select_cpu,
	.enqueue = (void *)greenhub_compat_enqueue,
	.dispatch = (void *)greenhub_compat_dispatch,
	.running = (void *)greenhub_compat_running,
	.quiescent = (void *)greenhub_compat_quiescent,
	.init = (void *)greenhub_compat_init,
	.exit = (void *)greenhub_compat_exit,
	.flags = SCX_OPS_SWITCH_PARTIAL | SCX_OPS_ENQ_LAST,
	.timeout_ms = 5000,
	.name = "greenhub_compat",
};
