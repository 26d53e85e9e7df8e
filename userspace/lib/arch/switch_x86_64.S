/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Green thread context switch for x86-64, System V ABI.
 *
 * The System V AMD64 ABI (section 3.2.1) makes rbx, rbp, r12-r15 and rsp callee-saved, and
 * says the control bits of MXCSR and the x87 control word are preserved across calls. A switch
 * is an ordinary call, so only those need saving: every other register is already dead. The
 * saved state lives on the stack being left; the context holds just the stack pointer.
 *
 * A suspended stack, from its saved stack pointer upwards:
 *
 *     sp + 0    MXCSR (4 bytes) | x87 control word (2 bytes) | pad
 *     sp + 8    r15
 *     sp + 16   r14
 *     sp + 24   r13
 *     sp + 32   r12
 *     sp + 40   rbx
 *     sp + 48   rbp
 *     sp + 56   return address
 *
 * gh__ctx_init() in context.c builds this frame on a fresh stack with the return address set
 * to gh__ctx_trampoline, r12 = entry function and r13 = its argument.
 */
	.text

/* void gh__ctx_switch(struct gh__ctx *from, const struct gh__ctx *to) */
	.globl	gh__ctx_switch
	.hidden	gh__ctx_switch
	.type	gh__ctx_switch, @function
	.p2align 4
gh__ctx_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.cfi_endproc
	.size	gh__ctx_switch, .-gh__ctx_switch

/*
 * First code a new context runs. The entry function must never return: a green thread ends
 * by switching away for good. If it does return, gh__ctx_returned() aborts with a message
 * rather than letting the CPU run off the top of the stack.
 */
	.globl	gh__ctx_trampoline
	.hidden	gh__ctx_trampoline
	.type	gh__ctx_trampoline, @function
	.p2align 4
gh__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r13, %rdi
	callq	*%r12
	callq	gh__ctx_returned
	ud2
	.cfi_endproc
	.size	gh__ctx_trampoline, .-gh__ctx_trampoline

	.section .note.GNU-stack,"",@progbits
