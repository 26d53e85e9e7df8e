// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What a switch point keeps per green thread, as the ABI asks of any call: the callee-saved
 * registers and the floating-point control state (MXCSR and the x87 control word on x86-64,
 * FPCR on aarch64). Each thread switches out through every kind of switch point: a yield
 * (straight to the next thread), a sleep (through the hub loop when nothing else is ready) and
 * a join. test_swap.c checks the switch primitive's clobber list below the public API.
 */
#include <fenv.h>
#include <stdint.h>

#include "helpers.h"

#define ROUNDS 200

static void *nothing(void *arg)
{
	return arg;
}

/* Switch out through one of the kinds of switch point, chosen by i. */
static void switch_point(int i)
{
	switch (i % 3) {
	case 0:
		check_int_equal(gh_yield(), 0);
		break;
	case 1:
		check_int_equal(gh_sleep_until(gh_now() + 1000), 0);
		break;
	default: {
		gh_thread *t = gh_spawn(nothing, NULL);

		check_non_null(t);
		join_ok(t);
	}
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Floating-point control state                                                              */

#if defined(__x86_64__)
#define MXCSR_CONTROL 0xffc0u /* masks, rounding, flush-to-zero; not the sticky flags */
#define MXCSR_FTZ 0x8000u
#define MXCSR_DAZ 0x0040u
#define FPUCW_PC_DOUBLE 0x0200u /* x87 precision control: 53 bits */
#define FPUCW_PC_MASK 0x0300u

struct fp_state {
	uint32_t mxcsr;
	uint16_t fpucw;
};

static struct fp_state fp_get(void)
{
	struct fp_state s;

	__asm__ volatile("stmxcsr %0" : "=m"(s.mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(s.fpucw));
	s.mxcsr &= MXCSR_CONTROL;
	return s;
}

/* A state that differs from the default, and from every other variant's, in each register on
 * its own: MXCSR's rounding and flush bits, the x87 rounding and precision bits. */
static void fp_set_variant(int v)
{
	static const int modes[] = { FE_UPWARD, FE_TOWARDZERO, FE_DOWNWARD };
	uint32_t mxcsr;
	uint16_t fpucw;

	check_int_equal(fesetround(modes[v % 3]), 0);
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	mxcsr = v & 1 ? mxcsr | MXCSR_FTZ | MXCSR_DAZ : mxcsr & ~(MXCSR_FTZ | MXCSR_DAZ);
	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fpucw));
	fpucw = (uint16_t)((fpucw & ~FPUCW_PC_MASK) | (v & 2 ? FPUCW_PC_DOUBLE : FPUCW_PC_MASK));
	__asm__ volatile("fldcw %0" : : "m"(fpucw));
}

static bool fp_equal(struct fp_state a, struct fp_state b)
{
	return a.mxcsr == b.mxcsr && a.fpucw == b.fpucw;
}
#elif defined(__aarch64__)
#define FPCR_FZ (1u << 24)

struct fp_state {
	uint64_t fpcr;
};

static struct fp_state fp_get(void)
{
	struct fp_state s;

	__asm__ volatile("mrs %0, fpcr" : "=r"(s.fpcr));
	return s;
}

static void fp_set_variant(int v)
{
	static const int modes[] = { FE_UPWARD, FE_TOWARDZERO, FE_DOWNWARD };
	uint64_t fpcr;

	check_int_equal(fesetround(modes[v % 3]), 0);
	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	fpcr = v & 1 ? fpcr | FPCR_FZ : fpcr & ~(uint64_t)FPCR_FZ;
	__asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
}

static bool fp_equal(struct fp_state a, struct fp_state b)
{
	return a.fpcr == b.fpcr;
}
#endif

static void *keep_fp_state(void *arg)
{
	int v = (int)(intptr_t)arg;
	struct fp_state mine;

	fp_set_variant(v);
	mine = fp_get();
	for (int i = 0; i < ROUNDS; i++) {
		switch_point(i + v);
		check_msg(fp_equal(fp_get(), mine), "thread %d lost its floating-point state", v);
	}
	return NULL;
}

static void *inherit_fp_state(void *arg)
{
	struct fp_state *creator = arg;

	check_true(fp_equal(fp_get(), *creator));
	return NULL;
}

static void *fp_main(void *arg)
{
	struct fp_state before = fp_get(), creator;
	gh_thread *t[4];

	for (int v = 0; v < 4; v++)
		t[v] = gh_spawn(keep_fp_state, (void *)(intptr_t)v);
	for (int v = 0; v < 4; v++)
		join_ok(t[v]);
	/* The threads' modes stayed theirs: the spawner's are what it had. */
	check_true(fp_equal(fp_get(), before));

	/* A new thread starts with its creator's modes, whatever they are when it spawns. */
	fp_set_variant(1);
	creator = fp_get();
	join_ok(gh_spawn(inherit_fp_state, &creator));
	check_true(fp_equal(fp_get(), creator));
	fp_set_variant(0);
	fesetround(FE_TONEAREST);
	return NULL;
}

static void test_switch_fp_control_state_is_per_thread(void **state)
{
	fenv_t env;
	struct fp_state before;

	(void)state;
	check_int_equal(fegetenv(&env), 0);
	before = fp_get();
	run_in_hub(fp_main, NULL);
	/* The hub loop ran on this thread's own stack between green threads. */
	assert_true(fp_equal(fp_get(), before));
	fesetenv(&env);
}

/* ---------------------------------------------------------------------------------------- */
/* Callee-saved registers                                                                     */

/*
 * A thread holds values across its switch points while another fills the callee-saved
 * registers with garbage before each of its own. More values than there are registers, each
 * loaded from a volatile, so the compiler keeps as many as it can in callee-saved registers
 * across the call and cannot compute them again afterwards: the call (and the switches inside
 * it) must keep those registers.
 */
#define N_HELD 12
static volatile uint64_t held[3][N_HELD];

#if defined(__x86_64__)
#define SCRIBBLE()                                                                            \
	__asm__ volatile("movq $-1, %%rbx\n\tmovq $-1, %%r12\n\tmovq $-1, %%r13\n\t"          \
			 "movq $-1, %%r14\n\tmovq $-1, %%r15"                                 \
			 :                                                                    \
			 :                                                                    \
			 : "rbx", "r12", "r13", "r14", "r15")
#elif defined(__aarch64__)
#define SCRIBBLE()                                                                            \
	__asm__ volatile("mov x19, #-1\n\tmov x20, #-1\n\tmov x21, #-1\n\tmov x22, #-1\n\t"   \
			 "mov x23, #-1\n\tmov x24, #-1\n\tmov x25, #-1\n\tmov x26, #-1\n\t"   \
			 "mov x27, #-1\n\tmov x28, #-1\n\tfmov d8, #-1.0\n\t"                 \
			 "fmov d9, #-1.0\n\tfmov d10, #-1.0\n\tfmov d11, #-1.0\n\t"           \
			 "fmov d12, #-1.0\n\tfmov d13, #-1.0\n\tfmov d14, #-1.0\n\t"          \
			 "fmov d15, #-1.0"                                                    \
			 :                                                                    \
			 :                                                                    \
			 : "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27",     \
			   "x28", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15")
#endif

static volatile int scribbling;

/* noinline: the values are live across the switch point in this function alone. */
static __attribute__((noinline)) bool hold_across_switch(volatile uint64_t *h, int i)
{
	uint64_t v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5];
	uint64_t v6 = h[6], v7 = h[7], v8 = h[8], v9 = h[9], v10 = h[10], v11 = h[11];
	double f0 = (double)h[0], f1 = (double)h[1];

	switch_point(i);
	return v0 == h[0] && v1 == h[1] && v2 == h[2] && v3 == h[3] && v4 == h[4] &&
	       v5 == h[5] && v6 == h[6] && v7 == h[7] && v8 == h[8] && v9 == h[9] &&
	       v10 == h[10] && v11 == h[11] && f0 == (double)h[0] && f1 == (double)h[1];
}

static void *holder(void *arg)
{
	int n = (int)(intptr_t)arg;
	int lost = 0;

	for (int i = 0; i < ROUNDS; i++) {
		for (int k = 0; k < N_HELD; k++)
			held[n][k] = ((uint64_t)(n + 1) << 48) | ((uint64_t)i << 8) | (uint64_t)k;
		lost += !hold_across_switch(held[n], i);
	}
	check_int_equal(lost, 0);
	return NULL;
}

static void *scribbler(void *arg)
{
	(void)arg;
	for (int i = 0; scribbling; i++) {
		SCRIBBLE();
		switch_point(i);
	}
	return NULL;
}

static void *registers_main(void *arg)
{
	gh_thread *s[2], *h[3];

	(void)arg;
	scribbling = 1;
	for (int i = 0; i < 2; i++)
		s[i] = gh_spawn(scribbler, NULL);
	for (int i = 0; i < 3; i++)
		h[i] = gh_spawn(holder, (void *)(intptr_t)i);
	for (int i = 0; i < 3; i++)
		join_ok(h[i]);
	scribbling = 0;
	for (int i = 0; i < 2; i++)
		join_ok(s[i]);
	return NULL;
}

static void test_switch_callee_saved_registers_survive(void **state)
{
	(void)state;
	run_in_hub(registers_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_switch_fp_control_state_is_per_thread),
		cmocka_unit_test(test_switch_callee_saved_registers_survive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
