// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Building and switching contexts. The register save and restore itself is in
 * arch/switch_<arch>.S; this file lays out a new context's first frame and tells the
 * sanitizers about every switch (ASan must know which stack is live to track it, TSan treats
 * each green thread as a fiber with its own happens-before history).
 */
#include <string.h>

#include "internal.h"

#ifdef GH_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GH_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Called by gh__ctx_trampoline if an entry function returns, which the runtime never lets
 * happen: a finished green thread switches away for good. */
void gh__ctx_returned(void);
void gh__ctx_returned(void)
{
	gh__panic("a green thread's entry function returned instead of ending through the hub");
}

#if defined(__x86_64__)
/* Words of the initial frame below the stack top; see arch/switch_x86_64.S. */
enum { FRAME_WORDS = 8, FRAME_FPU = 0, FRAME_R13 = 3, FRAME_R12 = 4, FRAME_RET = 7 };

void gh__ctx_init(struct gh__ctx *ctx, void *lo, size_t size, void (*entry)(void *), void *arg)
{
	uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
	uint64_t *frame = (uint64_t *)(top - FRAME_WORDS * sizeof(uint64_t));
	uint32_t mxcsr;
	uint16_t fpucw;

	/* A new green thread starts with the creator's floating-point modes. */
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fpucw));
	memset(frame, 0, FRAME_WORDS * sizeof(uint64_t));
	memcpy(&frame[FRAME_FPU], &mxcsr, sizeof(mxcsr));
	memcpy((char *)&frame[FRAME_FPU] + 4, &fpucw, sizeof(fpucw));
	frame[FRAME_R12] = (uint64_t)(uintptr_t)entry;
	frame[FRAME_R13] = (uint64_t)(uintptr_t)arg;
	frame[FRAME_RET] = (uint64_t)(uintptr_t)gh__ctx_trampoline;
	ctx->sp = frame;
#elif defined(__aarch64__)
/* Words of the initial frame; see arch/switch_aarch64.S. */
enum { FRAME_WORDS = 22, FRAME_X19 = 0, FRAME_X20 = 1, FRAME_X29 = 10, FRAME_X30 = 11,
       FRAME_FPCR = 20 };

void gh__ctx_init(struct gh__ctx *ctx, void *lo, size_t size, void (*entry)(void *), void *arg)
{
	uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
	uint64_t *frame = (uint64_t *)(top - FRAME_WORDS * sizeof(uint64_t));
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	memset(frame, 0, FRAME_WORDS * sizeof(uint64_t));
	frame[FRAME_X19] = (uint64_t)(uintptr_t)entry;
	frame[FRAME_X20] = (uint64_t)(uintptr_t)arg;
	frame[FRAME_X29] = 0;
	frame[FRAME_X30] = (uint64_t)(uintptr_t)gh__ctx_trampoline;
	frame[FRAME_FPCR] = fpcr;
	ctx->sp = frame;
#else
#error "greenhub has a context switch for x86-64 and aarch64 only"
#endif
#ifdef GH_ASAN
	ctx->stack_lo = lo;
	ctx->stack_size = size;
	ctx->fake_stack = NULL;
#endif
#ifdef GH_TSAN
	ctx->tsan_fiber = __tsan_create_fiber(0);
	ctx->tsan_owned = true;
#endif
}

void gh__ctx_init_native(struct gh__ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
#ifdef GH_ASAN
	pthread_attr_t attr;
	void *lo;
	size_t size;

	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
			ctx->stack_lo = lo;
			ctx->stack_size = size;
		}
		pthread_attr_destroy(&attr);
	}
#endif
#ifdef GH_TSAN
	ctx->tsan_fiber = __tsan_get_current_fiber();
	ctx->tsan_owned = false;
#endif
}

void gh__ctx_destroy(struct gh__ctx *ctx)
{
#ifdef GH_TSAN
	if (ctx->tsan_owned && ctx->tsan_fiber)
		__tsan_destroy_fiber(ctx->tsan_fiber);
	ctx->tsan_fiber = NULL;
#endif
	(void)ctx;
}

#if defined(GH_ASAN) || defined(GH_TSAN)
void gh__switch(struct gh__ctx *from, struct gh__ctx *to, bool from_ends)
{
#ifdef GH_ASAN
	__sanitizer_start_switch_fiber(from_ends ? NULL : &from->fake_stack, to->stack_lo,
				       to->stack_size);
#endif
#ifdef GH_TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	gh__ctx_switch(from, to);
#ifdef GH_ASAN
	__sanitizer_finish_switch_fiber(from->fake_stack, NULL, NULL);
#endif
	(void)from_ends;
}
#endif

void gh__ctx_started(struct gh__ctx *ctx)
{
#ifdef GH_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	(void)ctx;
}
