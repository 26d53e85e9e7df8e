/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The smallest sched_ext scheduler: proof that the toolchain builds a struct_ops scheduler on a
 * kernel without sched_ext and that it loads, schedules and detaches on one with it.
 *
 * Design: SCX_OPS_SWITCH_PARTIAL, so only threads that chose SCHED_EXT are scheduled here;
 * every enqueued task goes to the global DSQ, which the kernel consumes by itself when a CPU's
 * local DSQ is empty, so no ops.dispatch() is needed. ops.select_cpu() only picks the CPU: the
 * kernel's default would insert a wakee straight into an idle CPU's local DSQ and skip
 * ops.enqueue(), and the test wants to see every wakeup pass through the scheduler. Used by
 * tests/vm/test_vm_sched_ext_env.c only.
 *
 * Memory ordering: the counters are plain increments from any CPU; a lost increment is
 * harmless, the test only checks that some enqueue happened.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../../bpf/scx_compat.bpf.h"

char _license[] SEC("license") = "GPL";

/* Tasks passed to ops.enqueue(). Written by greenhub_smoke_enqueue, read by the test, never
 * reset. */
__u64 nr_enqueued;

/* Why the scheduler exited: written once by greenhub_smoke_exit, read by the test after it
 * detached the scheduler. exit_kind is 0 (SCX_EXIT_NONE) until then. */
__u32 exit_kind;
char exit_reason[128];

s32 GH_SCX_OP(greenhub_smoke_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;

	return scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
}

void GH_SCX_OP(greenhub_smoke_enqueue, struct task_struct *p, u64 enq_flags)
{
	__sync_fetch_and_add(&nr_enqueued, 1);
	gh_scx_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

void GH_SCX_OP(greenhub_smoke_exit, struct scx_exit_info *ei)
{
	bpf_probe_read_kernel_str(exit_reason, sizeof(exit_reason), ei->reason);
	exit_kind = ei->kind;
}

SEC(".struct_ops.link")
struct sched_ext_ops greenhub_smoke_ops = {
	.select_cpu = (void *)greenhub_smoke_select_cpu,
	.enqueue = (void *)greenhub_smoke_enqueue,
	.exit = (void *)greenhub_smoke_exit,
	.flags = SCX_OPS_SWITCH_PARTIAL,
	.timeout_ms = 5000,
	.name = "greenhub_smoke",
};
