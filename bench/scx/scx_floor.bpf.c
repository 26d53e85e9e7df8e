/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The floor of sched_ext's cost: a scheduler that decides nothing. With no ops.select_cpu and
 * no ops.enqueue the kernel's defaults apply: a waking task goes to an idle CPU's local DSQ
 * when there is one, else to the global DSQ, which every CPU consumes by itself. Only threads
 * that chose SCHED_EXT are scheduled here (SCX_OPS_SWITCH_PARTIAL). bench/scx/scx_floor.c runs
 * a command under it, so that bench/scx/vm-run can tell how much of a workload's slowdown in
 * sched_ext mode the scheduling class itself costs and how much greenhub's scheduler adds.
 *
 * ops.exit keeps the reason, for the runner to print if the kernel ejected the scheduler.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../../bpf/scx_compat.bpf.h"

char _license[] SEC("license") = "GPL";

/* Written once by scx_floor_exit; read by the runner after it detached the scheduler. */
__u32 exit_kind;
char exit_reason[128];

void GH_SCX_OP(scx_floor_exit, struct scx_exit_info *ei)
{
	bpf_probe_read_kernel_str(exit_reason, sizeof(exit_reason), ei->reason);
	exit_kind = ei->kind;
}

SEC(".struct_ops.link")
struct sched_ext_ops scx_floor_ops = {
	.exit = (void *)scx_floor_exit,
	.flags = SCX_OPS_SWITCH_PARTIAL,
	.timeout_ms = 5000,
	.name = "greenhub_floor",
};
