/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The first code a new green thread runs, on x86-64. The switch itself is inline assembly at
 * each switch point (arch/swap.h); a new context resumes here, with the stack pointer 16-byte
 * aligned, the entry function at sp + 0, its argument at sp + 8, and rbp 0, the end of the
 * frame-pointer chain. The call leaves the stack aligned as the System V ABI wants it at a
 * function's entry.
 *
 * The entry function must never return: a green thread ends by switching away for good. If it
 * does return, gh__ctx_returned() aborts with a message rather than letting the CPU run off the
 * top of the stack.
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
	callq	*(%rsp)
	callq	gh__ctx_returned
	ud2
	.cfi_endproc
	.size	gh__ctx_trampoline, .-gh__ctx_trampoline

	.section .note.GNU-stack,"",@progbits
