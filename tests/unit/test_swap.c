// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The switch primitive itself (userspace/lib/arch/swap.h), below the public API: it is inline
 * assembly whose clobber list tells the compiler which registers the other side may change.
 * A register missing from that list is one the compiler believes survives the switch, and
 * keeps a value in; these tests hold values in callee-saved and caller-saved registers across
 * switches to a context that fills every register with garbage, so a missing register fails
 * them. test_switch.c checks the same guarantees through the public API.
 */
#include <sys/mman.h>

#include "helpers.h"
#include "../../userspace/lib/internal.h"

#define STACK_SIZE (64 * 1024)
#define ROUNDS 100

static struct gh__ctx native, other;

/*
 * Values the holder keeps live across a switch: more than there are registers, each loaded
 * from a volatile (so the compiler cannot compute it again afterwards), so the compiler puts
 * them in every register it believes survives the switch and spills the rest.
 */
#define N_HELD 16
static volatile uint64_t held_u[N_HELD];
static volatile double held_d[N_HELD];

#define HOLD_DECLARE()                                                                        \
	uint64_t u0 = held_u[0], u1 = held_u[1], u2 = held_u[2], u3 = held_u[3];               \
	uint64_t u4 = held_u[4], u5 = held_u[5], u6 = held_u[6], u7 = held_u[7];               \
	uint64_t u8 = held_u[8], u9 = held_u[9], u10 = held_u[10], u11 = held_u[11];           \
	uint64_t u12 = held_u[12], u13 = held_u[13], u14 = held_u[14], u15 = held_u[15];       \
	double d0 = held_d[0], d1 = held_d[1], d2 = held_d[2], d3 = held_d[3];                 \
	double d4 = held_d[4], d5 = held_d[5], d6 = held_d[6], d7 = held_d[7];                 \
	double d8 = held_d[8], d9 = held_d[9], d10 = held_d[10], d11 = held_d[11];             \
	double d12 = held_d[12], d13 = held_d[13], d14 = held_d[14], d15 = held_d[15]
#define HOLD_OK()                                                                             \
	(u0 == held_u[0] && u1 == held_u[1] && u2 == held_u[2] && u3 == held_u[3] &&           \
	 u4 == held_u[4] && u5 == held_u[5] && u6 == held_u[6] && u7 == held_u[7] &&           \
	 u8 == held_u[8] && u9 == held_u[9] && u10 == held_u[10] && u11 == held_u[11] &&       \
	 u12 == held_u[12] && u13 == held_u[13] && u14 == held_u[14] && u15 == held_u[15] &&   \
	 d0 == held_d[0] && d1 == held_d[1] && d2 == held_d[2] && d3 == held_d[3] &&           \
	 d4 == held_d[4] && d5 == held_d[5] && d6 == held_d[6] && d7 == held_d[7] &&           \
	 d8 == held_d[8] && d9 == held_d[9] && d10 == held_d[10] && d11 == held_d[11] &&       \
	 d12 == held_d[12] && d13 == held_d[13] && d14 == held_d[14] && d15 == held_d[15])

#if defined(__x86_64__)
/* Every general-purpose register but rsp and rbp (the switch's own), every xmm register. */
#define SCRIBBLE()                                                                            \
	__asm__ volatile("movq $-1, %%rax\n\tmovq $-1, %%rbx\n\tmovq $-1, %%rcx\n\t"          \
			 "movq $-1, %%rdx\n\tmovq $-1, %%rsi\n\tmovq $-1, %%rdi\n\t"          \
			 "movq $-1, %%r8\n\tmovq $-1, %%r9\n\tmovq $-1, %%r10\n\t"            \
			 "movq $-1, %%r11\n\tmovq $-1, %%r12\n\tmovq $-1, %%r13\n\t"          \
			 "movq $-1, %%r14\n\tmovq $-1, %%r15\n\t"                             \
			 "pcmpeqd %%xmm0, %%xmm0\n\tpcmpeqd %%xmm1, %%xmm1\n\t"               \
			 "pcmpeqd %%xmm2, %%xmm2\n\tpcmpeqd %%xmm3, %%xmm3\n\t"               \
			 "pcmpeqd %%xmm4, %%xmm4\n\tpcmpeqd %%xmm5, %%xmm5\n\t"               \
			 "pcmpeqd %%xmm6, %%xmm6\n\tpcmpeqd %%xmm7, %%xmm7\n\t"               \
			 "pcmpeqd %%xmm8, %%xmm8\n\tpcmpeqd %%xmm9, %%xmm9\n\t"               \
			 "pcmpeqd %%xmm10, %%xmm10\n\tpcmpeqd %%xmm11, %%xmm11\n\t"           \
			 "pcmpeqd %%xmm12, %%xmm12\n\tpcmpeqd %%xmm13, %%xmm13\n\t"           \
			 "pcmpeqd %%xmm14, %%xmm14\n\tpcmpeqd %%xmm15, %%xmm15"               \
			 :                                                                    \
			 :                                                                    \
			 : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10",       \
			   "r11", "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3",  \
			   "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",   \
			   "xmm12", "xmm13", "xmm14", "xmm15")
#elif defined(__aarch64__)
/* Every general-purpose register but sp, x29 and x30, every vector register. */
#define SCRIBBLE()                                                                            \
	__asm__ volatile("mov x0, #-1\n\tmov x1, #-1\n\tmov x2, #-1\n\tmov x3, #-1\n\t"       \
			 "mov x4, #-1\n\tmov x5, #-1\n\tmov x6, #-1\n\tmov x7, #-1\n\t"       \
			 "mov x8, #-1\n\tmov x9, #-1\n\tmov x10, #-1\n\tmov x11, #-1\n\t"     \
			 "mov x12, #-1\n\tmov x13, #-1\n\tmov x14, #-1\n\tmov x15, #-1\n\t"   \
			 "mov x16, #-1\n\tmov x17, #-1\n\tmov x18, #-1\n\tmov x19, #-1\n\t"   \
			 "mov x20, #-1\n\tmov x21, #-1\n\tmov x22, #-1\n\tmov x23, #-1\n\t"   \
			 "mov x24, #-1\n\tmov x25, #-1\n\tmov x26, #-1\n\tmov x27, #-1\n\t"   \
			 "mov x28, #-1\n\t"                                                    \
			 "movi v0.2d, #-1\n\tmovi v1.2d, #-1\n\tmovi v2.2d, #-1\n\t"          \
			 "movi v3.2d, #-1\n\tmovi v4.2d, #-1\n\tmovi v5.2d, #-1\n\t"          \
			 "movi v6.2d, #-1\n\tmovi v7.2d, #-1\n\tmovi v8.2d, #-1\n\t"          \
			 "movi v9.2d, #-1\n\tmovi v10.2d, #-1\n\tmovi v11.2d, #-1\n\t"        \
			 "movi v12.2d, #-1\n\tmovi v13.2d, #-1\n\tmovi v14.2d, #-1\n\t"       \
			 "movi v15.2d, #-1\n\tmovi v16.2d, #-1\n\tmovi v17.2d, #-1\n\t"       \
			 "movi v18.2d, #-1\n\tmovi v19.2d, #-1\n\tmovi v20.2d, #-1\n\t"       \
			 "movi v21.2d, #-1\n\tmovi v22.2d, #-1\n\tmovi v23.2d, #-1\n\t"       \
			 "movi v24.2d, #-1\n\tmovi v25.2d, #-1\n\tmovi v26.2d, #-1\n\t"       \
			 "movi v27.2d, #-1\n\tmovi v28.2d, #-1\n\tmovi v29.2d, #-1\n\t"       \
			 "movi v30.2d, #-1\n\tmovi v31.2d, #-1"                               \
			 :                                                                    \
			 :                                                                    \
			 : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", \
			   "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x18", "x19",     \
			   "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",     \
			   "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10",  \
			   "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19",     \
			   "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28",     \
			   "v29", "v30", "v31")
#endif

/* The other context: garbage in every register, then back. */
static void scribbler(void *arg)
{
	(void)arg;
	gh__ctx_started(&other);
	for (;;) {
		SCRIBBLE();
		gh__switch(&other, &native, false);
	}
}

/* noinline: the values are live across the switch in this function alone. */
static __attribute__((noinline)) bool hold_across_switch(void)
{
	HOLD_DECLARE();
	gh__switch(&native, &other, false);
	return HOLD_OK();
}

static void test_swap_keeps_registers_the_compiler_holds(void **state)
{
	void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	int lost = 0;

	(void)state;
	assert_true(stack != MAP_FAILED);
	gh__ctx_init_native(&native);
	gh__ctx_init(&other, stack, STACK_SIZE, scribbler, NULL);
	for (int i = 0; i < ROUNDS; i++) {
		for (int k = 0; k < N_HELD; k++) {
			held_u[k] = ((uint64_t)i << 32) | (uint64_t)(k + 1);
			held_d[k] = (double)i + (double)k / 32;
		}
		lost += !hold_across_switch();
	}
	gh__ctx_destroy(&other);
	gh__ctx_destroy(&native);
	assert_int_equal(munmap(stack, STACK_SIZE), 0);
	assert_int_equal(lost, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swap_keeps_registers_the_compiler_holds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
