/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The first code a new green thread runs, on x86-64. The switch itself is inline assembly at
 * each switch point (arch/swap.h); a new context resumes here, with the stack pointer 16-byte
 * aligned, the entry function at sp + 0, its argument at sp + 8, and rbp 0, the end of the
 * frame-pointer chain.
 *
 * The entry function is entered by a jump, not a call, with the address of a stub that aborts
 * as its return address: a call would push an entry on the CPU's return-address stack that no
 * return ever pops (the entry function never returns), and every return after the thread's
 * first switch out would be mispredicted, in whichever thread the CPU ran on. The stack is as a
 * call leaves it: the return address at a stack pointer 8 off 16-byte alignment.
 *
 * The entry function must never return: a green thread ends by switching away for good. If it
 * does return, gh__ctx_returned() aborts with a message rather than letting the CPU run off the
 * top of the stack. The stub lies inside this function's unwind information, which says there
 * is no caller (a return address's unwind information is looked up one byte before it).
 */
	.text

	.globl	gh__ctx_trampoline
	.hidden	gh__ctx_trampoline
	.type	gh__ctx_trampoline, @function
	.p2align 4
gh__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq	8(%rsp), %rdi
	movq	(%rsp), %rax
	leaq	1f(%rip), %rcx
	movq	%rcx, 8(%rsp)
	addq	$8, %rsp
	jmpq	*%rax
1:	callq	gh__ctx_returned
	ud2
	.cfi_endproc
	.size	gh__ctx_trampoline, .-gh__ctx_trampoline

	.section .note.GNU-stack,"",@progbits
