/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * int gh_yield(void), on aarch64: gh__yield() (sched.c) does the work; this returns from it to
 * gh_yield's caller with a branch to x30 (br) instead of a return (ret), for the reason
 * arch/yield_x86_64.S gives: a return is predicted from the return-address stack, which holds
 * where the thread that left called gh_yield from, a branch from the branches that led to it.
 */
	.text

	.globl	gh_yield
	.type	gh_yield, %function
	.p2align 4
gh_yield:
	.cfi_startproc
	stp	x29, x30, [sp, #-16]!
	.cfi_def_cfa_offset 16
	.cfi_offset x29, -16
	.cfi_offset x30, -8
	mov	x29, sp
	bl	gh__yield
	ldp	x29, x30, [sp], #16
	.cfi_def_cfa_offset 0
	.cfi_restore x29
	.cfi_restore x30
	br	x30
	.cfi_endproc
	.size	gh_yield, .-gh_yield

	.section .note.GNU-stack,"",%progbits
