/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One fentry program on schedule() that does nothing. The kernel takes only so many programs
 * on one function's trampoline (BPF_MAX_TRAMP_LINKS; 7.3.4 takes 36 of these) and refuses the
 * next attach with E2BIG: tests/vm/test_vm_scx_grace.c loads this object over and over,
 * attaching each copy, until the kernel refuses one, so that scx_greenhub's attach of
 * greenhub_presleep (also on schedule()) is refused by the kernel itself. Used by that test
 * only.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "GPL";

SEC("fentry/schedule")
int BPF_PROG(vm_fentry_fill)
{
	return 0;
}
