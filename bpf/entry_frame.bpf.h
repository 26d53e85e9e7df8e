/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What a sleeping task's user-entry frame (task_pt_regs) says: whether it sleeps inside a
 * system call, and which. Trace mode hands off only such sleeps (greenhub_trace.bpf.c's header
 * says how the frame tells a system call from a fault); both kernel sides name the call in
 * their block records (greenhub/records.h). x86-64 only.
 */
#ifndef GREENHUB_ENTRY_FRAME_BPF_H
#define GREENHUB_ENTRY_FRAME_BPF_H

#if !defined(__TARGET_ARCH_x86)
#error "entry_frame.bpf.h reads x86-64 entry frames; other architectures need their own test"
#endif

#ifndef ENOSYS
#define ENOSYS 38
#endif
#define FRED_EVENT_TYPE_OTHER 7
#define FRED_VECTOR_SYSCALL 1

/*
 * Is p asleep inside a system call, rather than in a fault taken from user mode? See
 * greenhub_trace.bpf.c's header for why the entry frame tells. *nr gets the system call number.
 */
static bool in_syscall(struct task_struct *p, long *nr)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);
	__u64 ss;

	if (!regs)
		return false;
	*nr = (long)regs->orig_ax;
	/* FRED (6.9) widened the SS slot to ssx; an older kernel has no FRED frames. */
	ss = bpf_core_field_exists(regs->ssx) ? regs->ssx : 0;
	if (ss >> 32) {
		/* A FRED frame: the event type and vector sit above the selector. */
		return ((ss >> 48) & 0xf) == FRED_EVENT_TYPE_OTHER &&
		       ((ss >> 32) & 0xff) == FRED_VECTOR_SYSCALL;
	}
	/* -1 for exceptions and interrupts; then what SYSCALL and entry_SYSCALL_64 leave. */
	return *nr >= 0 && regs->ax == (unsigned long)-ENOSYS && regs->cx == regs->ip &&
	       regs->r11 == regs->flags;
}

#endif /* GREENHUB_ENTRY_FRAME_BPF_H */
