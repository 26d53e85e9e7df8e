/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The switch point, inline where green threads switch out (sched.c, thread.c): the run queue's
 * push and pop, the switch count, the round's housekeeping when it has nothing to do, and the
 * switch itself. See sched.c for the scheduling they implement.
 */
#ifndef GREENHUB_SWITCH_POINT_H
#define GREENHUB_SWITCH_POINT_H

#include "internal.h"

/* Make t READY at the back of its hub's run queue. */
static inline void gh__runq_push(struct gh_hub *hub, struct gh_thread *t)
{
	t->state = GH__READY;
	gh__list_push_back(&hub->runq, &t->node);
	hub->runq_len++;
}

/*
 * Start loading what the next switches will read, in two stages, while the popped thread runs.
 * Switching into a thread reads its descriptor (the saved context, the run queue's links) and
 * then the top of its stack, a page of its own: with thousands of threads (sleepers woken by
 * timers, say) both missed the TLB and the caches on nearly every switch. So each pop starts
 * loading the stack top of the thread that runs next, whose descriptor the pop before started
 * loading, and the descriptor of the thread after it. Without that head start, reading the
 * saved stack pointer for the stack's prefetch would stall the pop on the descriptor's miss.
 */
static inline __attribute__((always_inline)) void
gh__prefetch_next_ready(const struct gh_hub *hub)
{
	const struct gh__list *n = hub->runq.next;

	if (n == &hub->runq)
		return;
	__builtin_prefetch(GH_CONTAINER_OF(n, struct gh_thread, node)->ctx.sp);
	/* The queue's length says whether there is a thread after next, so that the branch
	 * waits for no load: a ping-pong of two threads never takes it, and pays nothing. */
	if (hub->runq_len > 1)
		__builtin_prefetch(GH_CONTAINER_OF(n->next, struct gh_thread, node));
}

static inline __attribute__((always_inline)) struct gh_thread *
gh__runq_pop(struct gh_hub *hub)
{
	struct gh__list *n = gh__list_pop_front(&hub->runq);

	if (!n)
		return NULL;
	hub->runq_len--;
	gh__prefetch_next_ready(hub);
	return GH_CONTAINER_OF(n, struct gh_thread, node);
}

/* The switch count (hub->switches): only the baton holder writes it. */
static inline uint64_t gh__switches_read(const struct gh_hub *hub)
{
	return atomic_load_explicit(&hub->switches, memory_order_relaxed);
}

static inline void gh__switches_set(struct gh_hub *hub, uint64_t n)
{
	atomic_store_explicit(&hub->switches, n, memory_order_relaxed);
}

/* Between rounds (sched.c): fire due timers, notice I/O, remote completions and posts, and size
 * the next round. */
void gh__round_housekeeping_work(struct gh_hub *hub, struct gh__carrier *c, uint64_t switches);
/* The same, inline for a hub with nothing to look at between rounds (no fd or remote waiters,
 * no timers, no posts): then only the next round is sized. A ping-pong of two threads ends a
 * round every other switch. */
static inline __attribute__((always_inline)) void
gh__round_housekeeping(struct gh_hub *hub, struct gh__carrier *c, uint64_t switches)
{
	if (GH_UNLIKELY(hub->fd_waiters || hub->timers.n || gh__posts_pending(hub) ||
			atomic_load_explicit(&hub->remote_waiters, memory_order_relaxed))) {
		gh__round_housekeeping_work(hub, c, switches);
		return;
	}
	hub->round_end = switches + hub->runq_len;
}

/*
 * Switch from the running thread self to the next READY one, or to the hub loop, for a caller
 * that has just read the calling carrier c and put self on a queue (or marked it DONE): the
 * exclusivity check (I1), the hand-back check, the round, and the swap itself (arch/swap.h),
 * with no call on the way when the round's housekeeping has nothing to do. Inline in gh_yield,
 * gh__switch_out and a finished thread's last switch (thread.c): a call there would push an
 * entry on the CPU's return-address stack that the thread it switches to never pops.
 */
static inline __attribute__((always_inline)) void
gh__switch_out_on(struct gh_hub *hub, struct gh__carrier *c, struct gh_thread *self)
{
	struct gh_thread *next;
	uint64_t switches;

	gh__check_runner(hub, c);
	/* A carrier waits to be handed the baton back: let the hub loop do it now. */
	if (GH_UNLIKELY(gh__return_pending(hub)))
		goto to_loop;
	switches = gh__switches_read(hub);
	if (switches >= hub->round_end)
		gh__round_housekeeping(hub, c, switches);
	next = gh__runq_pop(hub);
	if (next) {
		gh__switches_set(hub, switches + 1);
		next->state = GH__RUNNING;
		c->green = next;
		gh__green_publish(hub, c, next);
		if (next != self)
			gh__switch(&self->ctx, &next->ctx, false);
		return;
	}
to_loop:
	/* Nothing ready: the hub loop sleeps in the poller. */
	GH__PROBE_STOP(hub->slot_index);
	c->green = NULL;
	gh__switch(&self->ctx, &c->sched_ctx, false);
}

#endif
