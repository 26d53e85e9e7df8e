/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * int gh_yield(void), on x86-64: gh__yield() (sched.c) does the work; this returns from it to
 * gh_yield's caller with an indirect jump instead of a return.
 *
 * A yield's return goes to whatever called gh_yield in the thread that resumes, while the
 * CPU's return-address stack holds where the thread that left called it from: when the two
 * yield from different places (two different loops, as green threads do in real programs),
 * a return is mispredicted after every switch, about 10 ns on the machine of
 * docs/benchmarks.md, as much as the rest of the switch. An indirect jump is predicted from the
 * branches that led to it instead, which tell which thread is resuming.
 *
 * The price: the entry the caller's call pushed on the return-address stack is never popped,
 * so the returns further up the resumed thread's stack are predicted one entry off. A thread
 * that yields in a loop returns further up only when the loop ends.
 *
 * The return address is read at -8(%rsp), just below the stack pointer: in the red zone, which
 * signal delivery leaves alone.
 */
	.text

	.globl	gh_yield
	.type	gh_yield, @function
	.p2align 4
gh_yield:
	.cfi_startproc
	subq	$8, %rsp		/* the call wants a 16-byte aligned stack */
	.cfi_adjust_cfa_offset 8
	callq	gh__yield
	addq	$16, %rsp
	.cfi_adjust_cfa_offset -16
	jmpq	*-8(%rsp)
	.cfi_endproc
	.size	gh_yield, .-gh_yield

	.section .note.GNU-stack,"",@progbits
