/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Green thread context switch for aarch64, AAPCS64.
 *
 * AAPCS64 (section 6.1.1) makes x19-x28, the frame pointer x29 and sp callee-saved, and of the
 * SIMD registers only the low 64 bits of v8-v15, that is d8-d15. The link register x30 holds
 * where to resume. FPCR's rounding and flush-to-zero modes are per-thread state a callee must
 * not change, so it is kept per context too. The saved state lives on the stack being left;
 * the context holds just the stack pointer.
 *
 * A suspended stack, from its saved stack pointer upwards (176 bytes, 16-byte aligned):
 *
 *     sp + 0    x19 x20        sp + 96   d8  d9
 *     sp + 16   x21 x22        sp + 112  d10 d11
 *     sp + 32   x23 x24        sp + 128  d12 d13
 *     sp + 48   x25 x26        sp + 144  d14 d15
 *     sp + 64   x27 x28        sp + 160  fpcr, pad
 *     sp + 80   x29 x30
 *
 * gh__ctx_init() in context.c builds this frame on a fresh stack with x30 =
 * gh__ctx_trampoline, x19 = entry function and x20 = its argument.
 */
	.text

/* void gh__ctx_switch(struct gh__ctx *from, const struct gh__ctx *to) */
	.globl	gh__ctx_switch
	.hidden	gh__ctx_switch
	.type	gh__ctx_switch, %function
	.p2align 4
gh__ctx_switch:
	sub	sp, sp, #176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x9, sp
	str	x9, [x0]
	ldr	x9, [x1]
	mov	sp, x9
	ldr	x9, [sp, #160]
	msr	fpcr, x9
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #176
	ret
	.size	gh__ctx_switch, .-gh__ctx_switch

/*
 * First code a new context runs. The entry function must never return: a green thread ends
 * by switching away for good. If it does return, gh__ctx_returned() aborts with a message.
 */
	.globl	gh__ctx_trampoline
	.hidden	gh__ctx_trampoline
	.type	gh__ctx_trampoline, %function
	.p2align 4
gh__ctx_trampoline:
	mov	x0, x20
	blr	x19
	bl	gh__ctx_returned
	brk	#0
	.size	gh__ctx_trampoline, .-gh__ctx_trampoline

	.section .note.GNU-stack,"",%progbits
