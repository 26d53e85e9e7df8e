/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The green switch: gh__ctx_swap(from, to) saves the running context in from and resumes to.
 * Included by internal.h only.
 *
 * It is inline assembly at the switch point rather than a call to an assembly function. The
 * asm statement tells the compiler that every general-purpose and vector register is
 * clobbered, so the compiler itself keeps what is live across the switch: callee-saved
 * registers are saved once in the prologue of the function that switches (in a loop that
 * switches over and over, as the hub loop does, once for the whole loop), caller-saved ones
 * that hold live values are spilled around the switch, and the rest cost nothing. What the
 * compiler cannot allocate is kept in the context itself, not on the stack (so nothing is
 * written below the stack pointer, where the red zone may hold a leaf function's locals):
 *
 *   sp   the stack pointer                 pc  where to resume
 *   fp   the frame pointer (rbp, x29)      fpu the floating-point control state
 *
 * The floating-point control state is per green thread, as the ABIs ask of a callee: on
 * x86-64 MXCSR and the x87 control word (System V AMD64 ABI, section 3.2.1), on aarch64 FPCR
 * (AAPCS64, section 6.1.2). On x86-64 that is most of a switch's cost: stmxcsr and fnstcw take
 * about 4 ns together on the AMD EPYC of docs/benchmarks.md, the rest of the swap well under
 * 1 ns. Loading only the values that differ was tried and was slower there: comparing reads
 * back what stmxcsr and fnstcw just stored, which the CPU does not forward from those stores.
 * On aarch64 the comparison is between registers, and FPCR is written only when it differs.
 *
 * The resume is an indirect jump, not a return: it leaves the CPU's return-address stack
 * alone, so the return out of the function that switched is predicted as it would be without
 * a switch whenever both sides switched from the same place.
 *
 * A new context's pc is gh__ctx_trampoline (arch/trampoline_<arch>.S), its fp 0 (the end of
 * the frame-pointer chain), and the entry function and its argument sit at sp + 0 and sp + 8.
 */
#ifndef GREENHUB_ARCH_SWAP_H
#define GREENHUB_ARCH_SWAP_H

#if defined(__x86_64__)
#define GH__CTX_FPU_INIT(ctx)                                                                 \
	do {                                                                                  \
		__asm__ volatile("stmxcsr %0" : "=m"((ctx)->mxcsr));                         \
		__asm__ volatile("fnstcw %0" : "=m"((ctx)->fpucw));                          \
	} while (0)

static inline __attribute__((always_inline)) void gh__ctx_swap(struct gh__ctx *from,
							      const struct gh__ctx *to)
{
	register struct gh__ctx *f __asm__("rdi") = from;
	register const struct gh__ctx *t __asm__("rsi") = to;

	_Static_assert(offsetof(struct gh__ctx, sp) == 0 && offsetof(struct gh__ctx, pc) == 8 &&
			       offsetof(struct gh__ctx, fp) == 16 &&
			       offsetof(struct gh__ctx, mxcsr) == 24 &&
			       offsetof(struct gh__ctx, fpucw) == 28,
		       "struct gh__ctx is not laid out as gh__ctx_swap reads it");
	__asm__ volatile(
		"leaq	1f(%%rip), %%rax\n\t"
		"movq	%%rsp, 0(%0)\n\t"
		"movq	%%rax, 8(%0)\n\t"
		"movq	%%rbp, 16(%0)\n\t"
		"stmxcsr	24(%0)\n\t"
		"fnstcw	28(%0)\n\t"
		"ldmxcsr	24(%1)\n\t"
		"fldcw	28(%1)\n\t"
		"movq	0(%1), %%rsp\n\t"
		"movq	16(%1), %%rbp\n\t"
		"jmpq	*8(%1)\n"
		"1:"
		: "+r"(f), "+r"(t)
		:
		: "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
		  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
		  "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)",
		  "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "mm0", "mm1", "mm2", "mm3", "mm4",
		  "mm5", "mm6", "mm7", "cc", "memory");
}
#elif defined(__aarch64__)
#define GH__CTX_FPU_INIT(ctx) __asm__ volatile("mrs %0, fpcr" : "=r"((ctx)->fpcr))

static inline __attribute__((always_inline)) void gh__ctx_swap(struct gh__ctx *from,
							      const struct gh__ctx *to)
{
	register struct gh__ctx *f __asm__("x0") = from;
	register const struct gh__ctx *t __asm__("x1") = to;

	_Static_assert(offsetof(struct gh__ctx, sp) == 0 && offsetof(struct gh__ctx, pc) == 8 &&
			       offsetof(struct gh__ctx, fp) == 16 &&
			       offsetof(struct gh__ctx, fpcr) == 24,
		       "struct gh__ctx is not laid out as gh__ctx_swap reads it");
	__asm__ volatile(
		"adr	x9, 1f\n\t"
		"mov	x10, sp\n\t"
		"mrs	x11, fpcr\n\t"
		"stp	x10, x9, [%0]\n\t"
		"stp	x29, x11, [%0, #16]\n\t"
		"ldp	x10, x9, [%1]\n\t"
		"ldp	x29, x12, [%1, #16]\n\t"
		"cmp	x11, x12\n\t"
		"b.eq	2f\n\t"
		"msr	fpcr, x12\n"
		"2:\n\t"
		"mov	sp, x10\n\t"
		"br	x9\n"
		"1:"
		: "+r"(f), "+r"(t)
		:
		: "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
		  "x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24",
		  "x25", "x26", "x27", "x28", "x30", "v0", "v1", "v2", "v3", "v4", "v5", "v6",
		  "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18",
		  "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29",
		  "v30", "v31", "cc", "memory");
}
#else
#error "greenhub has a context switch for x86-64 and aarch64 only"
#endif

#endif
