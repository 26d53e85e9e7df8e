// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Building and switching contexts. The switch itself is inline assembly (arch/swap.h); this
 * file lays out a new context's first frame and tells the sanitizers about every switch (ASan
 * must know which stack is live to track it, TSan treats each green thread as a fiber with its
 * own happens-before history).
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

void gh__ctx_init(struct gh__ctx *ctx, void *lo, size_t size, void (*entry)(void *), void *arg)
{
	uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
	/* What gh__ctx_trampoline reads (arch/trampoline_<arch>.S): the entry function and its
	 * argument, at a 16-byte aligned stack pointer. */
	void **frame = (void **)(top - 2 * sizeof(void *));

	frame[0] = (void *)(uintptr_t)entry;
	frame[1] = arg;
	ctx->sp = frame;
	ctx->pc = (void *)(uintptr_t)gh__ctx_trampoline;
	ctx->fp = NULL; /* the end of the frame-pointer chain */
	/* A new green thread starts with the creator's floating-point modes. */
	GH__CTX_FPU_INIT(ctx);
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
	gh__ctx_swap(from, to);
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
