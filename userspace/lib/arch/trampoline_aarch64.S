/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The first code a new green thread runs, on aarch64. The switch itself is inline assembly at
 * each switch point (arch/swap.h); a new context resumes here, with sp 16-byte aligned, the
 * entry function at sp + 0, its argument at sp + 8, and x29 0, the end of the frame-pointer
 * chain.
 *
 * The entry function is entered by a branch that does not link (br, not blr), with x30 set to
 * a stub that aborts: a linking branch would push an entry on the CPU's return-address
 * predictor that no return ever pops (the entry function never returns), and returns after the
 * thread's first switch out would be mispredicted.
 *
 * The entry function must never return: a green thread ends by switching away for good. If it
 * does return, gh__ctx_returned() aborts with a message. The stub lies inside this function's
 * unwind information, which says there is no caller.
 */
	.text

	.globl	gh__ctx_trampoline
	.hidden	gh__ctx_trampoline
	.type	gh__ctx_trampoline, %function
	.p2align 4
gh__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	ldp	x9, x0, [sp]
	add	sp, sp, #16
	adr	x30, 1f
	br	x9
1:	bl	gh__ctx_returned
	brk	#0
	.cfi_endproc
	.size	gh__ctx_trampoline, .-gh__ctx_trampoline

	.section .note.GNU-stack,"",%progbits
