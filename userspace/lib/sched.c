// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The scheduler: the run queue, switch points, green threads' waits and wake-ups, and the
 * carrier loop, which runs the hub while its carrier holds the baton (baton.c) and parks the
 * carrier as a spare (spare.c) while another does.
 *
 * Scheduling
 *   A green thread at a switch point puts itself on a queue (the run queue, a wait queue, or
 *   none) and calls gh__switch_out(), which switches *directly* to the next READY thread: one
 *   register swap per green switch. The hub loop (run_hub), on the carrier's own stack, runs
 *   only when nothing is ready (to sleep in the poller), when a thread finishes (its stack
 *   cannot be released while it is still in use), and when the baton must be handed back to a
 *   carrier whose blocking call returned.
 *
 *   Work is done in rounds: a round lets every thread that was READY when it began run once.
 *   Between rounds the hub does its housekeeping on whatever stack it is on: fire due timers
 *   and, if any green thread waits for an fd or a remote completion, poll without blocking. So
 *   a busy hub still sees I/O and timers once per round, and a hub with no fds and no timers
 *   pays only a counter per switch. That counter (hub->switches) only grows, so the sysmon
 *   reads it too: a hub whose count stands still has reached no switch point (stall.c).
 *
 * Who touches what
 *   Everything here runs on the carrier that holds the hub's baton and touches the hub's
 *   green-thread state without locks; the baton's CAS orders it between carriers (baton.c).
 *   The exceptions are gh__wake_remote and gh_hub_post (post.c), which any OS thread may
 *   call: they only push onto hub->remote or hub->posts, lock-free stacks that the baton
 *   holder empties (gh__drain_remote, gh__posts_run), and write the hub's eventfd.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "greenhub/records.h"
#include "internal.h"
#include "switch_point.h"

/* ---------------------------------------------------------------------------------------- */
/* Rounds and switching (the inline half: switch_point.h)                                    */

/*
 * Between rounds: fire due timers, notice I/O, remote completions and posts without blocking, and
 * size the next round. The threads this wakes start the next round, ahead of the threads already
 * queued for it: queued behind them, a thread whose timer fell due early in a round would wait out
 * the rest of that round and all of the next, so every other thread would run twice first (a 1 ms
 * ticker beside 8 threads making 50 ms calls got a tick every two rounds). Housekeeping once per
 * round and the woken first bound the wait to one round.
 */
void gh__round_housekeeping_work(struct gh_hub *hub, struct gh__carrier *c, uint64_t switches)
{
	struct gh__list *queued_last = hub->runq.prev;
	/* At a switch point the thread that switches out is already queued (or done): a spare
	 * that took the hub now would run it, or free its stack, under this carrier. So nothing
	 * here hands off, as in the hub loop: its poll and the spawns of posts included. */
	struct gh_thread *self = gh__no_handoff_begin(c);

	if (hub->fd_waiters || atomic_load_explicit(&hub->remote_waiters, memory_order_relaxed))
		gh__poller_poll(hub, c, 0);
	else if (hub->timers.n)
		gh__timer_run(&hub->timers, gh_now());
	gh__list_move_after_to_front(&hub->runq, queued_last);
	/* A busy hub never polls: it finds posts here, at most a round after they came. Their
	 * threads join the back of the next round: new work waits behind the woken. */
	if (gh__posts_pending(hub))
		gh__posts_run(hub);
	/* The next round ends after as many switches as threads are ready now. */
	hub->round_end = switches + hub->runq_len;
	gh__no_handoff_end(c, self);
}

/* The layout the kernel side reads at green_addr (&c->green): struct gh_carrier_green. */
#define GREEN_AT(field, want)                                                                 \
	_Static_assert(offsetof(struct gh__carrier, field) - offsetof(struct gh__carrier, green) == \
			       offsetof(struct gh_carrier_green, want),                            \
		       "struct gh__carrier." #field " is not where greenhub/records.h says")
GREEN_AT(green_id, id);
GREEN_AT(green_name_id, name_id);
GREEN_AT(green_name, name);
_Static_assert(sizeof(((struct gh__carrier *)0)->green) == 8, "green is the 64-bit word");

void gh__green_publish_name(struct gh__carrier *c, const struct gh_thread *t)
{
	size_t len = strnlen(t->name, sizeof(c->green_name) - 1);

	/* Plain stores: the kernel side reads them from this carrier's own context, when it
	 * sleeps. NUL-padded, so that no earlier name's tail shows. */
	memcpy(c->green_name, t->name, len);
	memset(c->green_name + len, 0, sizeof(c->green_name) - len);
	c->green_name_id = t->id;
}

void gh__switch_out(struct gh_hub *hub, struct gh_thread *self)
{
	gh__switch_out_on(hub, gh__carrier_self(), self);
}

/* gh_yield() itself is a few instructions of assembly around this (arch/yield_<arch>.S): see
 * there why. */
int gh__yield(void);
int gh__yield(void)
{
	struct gh__carrier *c = gh__carrier_self(); /* the one TLS read of a yield */
	struct gh_thread *self;

	if (GH_UNLIKELY(!c || c->region_depth || !(self = c->green)))
		return -EPERM;
	gh__runq_push(self->hub, self);
	gh__switch_out_on(self->hub, c, self);
	/* A cancelled thread still yields (a loop that ignores errors must not starve the hub),
	 * but hears that it should unwind. */
	return self->cancelled ? -ECANCELED : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Waiting and waking                                                                         */

int gh__wait(struct gh__waitq *q, uint64_t deadline)
{
	struct gh_thread *self = gh__thread_self();
	struct gh_hub *hub = self->hub;

	if (self->cancelled)
		return -ECANCELED;
	self->state = GH__WAITING;
	hub->nr_waiting++;
	self->wake_result = 0;
	self->waitq = q;
	if (q)
		gh__list_push_back(&q->waiters, &self->node);
	if (deadline != GH_NEVER)
		gh__timer_arm(&hub->timers, &self->timer, deadline);
	gh__switch_out(hub, self);
	return self->wake_result;
}

void gh__wake(struct gh_thread *t, int result)
{
	struct gh_hub *hub = t->hub;

	if (t->state != GH__WAITING)
		gh__panic("waking green thread %llu that is not waiting (state %d)",
			  (unsigned long long)t->id, (int)t->state);
	if (t->waitq) {
		gh__list_remove(&t->node);
		t->waitq = NULL;
	}
	gh__timer_disarm(&hub->timers, &t->timer);
	t->wake_result = result;
	hub->nr_waiting--;
	gh__runq_push(hub, t);
}

bool gh__waitq_wake_one(struct gh__waitq *q, int result)
{
	if (gh__waitq_empty(q))
		return false;
	gh__wake(GH_CONTAINER_OF(q->waiters.next, struct gh_thread, node), result);
	return true;
}

size_t gh__waitq_wake_all(struct gh__waitq *q, int result)
{
	size_t n = 0;

	while (gh__waitq_wake_one(q, result))
		n++;
	return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Remote completions                                                                         */

void gh__wait_remote_begin(struct gh_hub *hub)
{
	struct gh_thread *self = gh__thread_self();

	self->wake_result = 0;
	atomic_fetch_add_explicit(&hub->remote_waiters, 1, memory_order_relaxed);
}

int gh__wait_remote(struct gh_hub *hub)
{
	struct gh_thread *self = gh__thread_self();

	/* The completion may already sit in hub->remote: it is drained only by the baton
	 * holder's poll, which cannot run before we switch out, so the thread is WAITING by
	 * then. */
	self->uncancellable_wait = true;
	self->state = GH__WAITING;
	hub->nr_waiting++;
	self->waitq = NULL;
	gh__switch_out(hub, self);
	self->uncancellable_wait = false;
	return self->wake_result;
}

void gh__wake_remote(struct gh_hub *hub, struct gh_thread *t, int result)
{
	struct gh_thread *head = atomic_load_explicit(&hub->remote, memory_order_relaxed);

	t->wake_result = result;
	do {
		t->remote_next = head;
	} while (!atomic_compare_exchange_weak_explicit(&hub->remote, &head, t,
							memory_order_release,
							memory_order_relaxed));
	/* One eventfd write per batch: the hub drains the whole stack when it sees the fd. */
	if (!head)
		gh__poller_kick(hub);
}

void gh__drain_remote(struct gh_hub *hub)
{
	struct gh_thread *t, *fifo = NULL;
	uint64_t count;

	if (read(hub->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		gh__panic("read(eventfd): %s", gh_strerror(errno));
	t = atomic_exchange_explicit(&hub->remote, NULL, memory_order_acquire);
	/* The stack is newest first; reverse it so completions run in the order they came. */
	while (t) {
		struct gh_thread *next = t->remote_next;

		t->remote_next = fifo;
		fifo = t;
		t = next;
	}
	for (t = fifo; t; t = fifo) {
		fifo = t->remote_next;
		atomic_fetch_sub_explicit(&hub->remote_waiters, 1, memory_order_relaxed);
		hub->nr_waiting--;
		gh__runq_push(hub, t);
	}
	/* Posts share the eventfd, and the read above consumed their kick too; they stay queued
	 * for the hub loop or the round's housekeeping, which spawn them behind the threads
	 * woken here. Spawned here, inside a round's poll, they would be moved to the front of
	 * the next round with the woken, ahead of posts of an earlier batch: out of the order
	 * they were posted in. */
}

/* ---------------------------------------------------------------------------------------- */
/* The hub loop                                                                               */

enum run_result { RUN_LOST, RUN_DONE };

/* How soon an idle hub tries again to spawn a post's green thread after running out of
 * memory for it. */
#define GH__POST_RETRY_NS (1000u * 1000u)

/* Nothing is ready and nothing outside the hub can make anything ready: every live green
 * thread waits on another. A thread held by a blocked carrier still counts as running. */
static bool hub_deadlocked(struct gh_hub *hub)
{
	return hub->live && !hub->runq_len && hub->live == hub->nr_waiting && !hub->timers.n &&
	       !hub->fd_waiters &&
	       !atomic_load_explicit(&hub->remote_waiters, memory_order_relaxed) &&
	       !gh__posts_pending(hub);
}

/*
 * Break a deadlock by cancelling every waiting thread: their waits return -ECANCELED so they
 * can unwind, and gh_hub_run reports -EDEADLK. Uncancellable waits are remote completions
 * (none is pending, or this is no deadlock) or a gh_cond_wait re-locking its mutex: that one
 * cannot end if the mutex's owner finished without unlocking it, so if cancelling left nothing
 * ready, those waits end with -EDEADLK too (without the mutex), or the hub would spin here.
 */
static void cancel_all(struct gh_hub *hub)
{
	struct gh__list *n;

	hub->deadlocked = true;
	for (n = hub->threads.next; n != &hub->threads; n = n->next) {
		struct gh_thread *t = GH_CONTAINER_OF(n, struct gh_thread, all);

		t->cancelled = true;
		if (t->state == GH__WAITING && !t->uncancellable_wait)
			gh__wake(t, -ECANCELED);
	}
	if (hub->runq_len)
		return;
	for (n = hub->threads.next; n != &hub->threads; n = n->next) {
		struct gh_thread *t = GH_CONTAINER_OF(n, struct gh_thread, all);

		if (t->state == GH__WAITING)
			gh__wake(t, -EDEADLK);
	}
}

static void release_dying(struct gh_hub *hub)
{
	struct gh_thread *t = hub->dying;

	if (!t)
		return;
	hub->dying = NULL;
	if (t->detached)
		gh__thread_free(t);
}

/*
 * Nothing is ready: sleep in the poller as IDLE(c), so that the sleep is not taken for a
 * block and a returning carrier may take the hub. False if the baton was lost meanwhile.
 */
static bool idle_poll(struct gh_hub *hub, struct gh__carrier *c)
{
	__u64 idle_word;
	uint64_t deadline;
	__u32 unused_for;
	int n;

	/* Read while the hub is ours: once IDLE is published, a returning carrier may take the
	 * hub and rearrange the timer heap (or reallocate it) under this thread. */
	deadline = gh__timer_next(&hub->timers);
	if (hub->post_fifo) {
		/* The hub loop spawns a batch of posts before it looks for a ready thread, so
		 * posts still wait here only if one could not be spawned (no memory): try again
		 * soon. */
		uint64_t retry = gh_now() + GH__POST_RETRY_NS;

		if (retry < deadline)
			deadline = retry;
	}
	/* For the kernel side's adaptive grace policy (greenhub/slot.h): a spare that took a
	 * handoff and goes idle having run nothing since; if the blocked call returns to find
	 * the hub still IDLE, the handoff bought the hub nothing. A spare may go idle more than
	 * once before that return (its poll woken for nothing), and says so each time. */
	unused_for = 0;
	if (hub->handoff_taker == c->tid && gh__switches_read(hub) == hub->handoff_switches)
		unused_for = (__u32)hub->handoff_from;
	__atomic_store_n(&hub->slot->idle_unused_tid, unused_for, __ATOMIC_RELAXED);
	idle_word = gh__baton_go_idle(hub, c);
	if (gh__return_pending(hub)) {
		/* The Dekker pair with a returning carrier: it may not have seen IDLE. Take the
		 * hub back (or learn the returner already did) and let the loop hand back. */
		return gh__baton_leave_idle(hub, c, idle_word);
	}
	n = gh__poller_wait(hub, c->events, deadline, &c->poll_mask);
	/* Leaving the poll: events are only looked at once the hub is ours again. If a
	 * returning carrier took it, the level-triggered poller reports them again to the
	 * next poll. */
	if (!gh__baton_leave_idle(hub, c, idle_word))
		return false;
	gh__check_runner(hub, c);
	gh__poller_dispatch(hub, c->events, n);
	return true;
}

static enum run_result run_hub(struct gh_hub *hub, struct gh__carrier *c)
{
	for (;;) {
		struct gh_thread *t;
		uint64_t switches;

		release_dying(hub);
		if (gh__return_pending(hub) && gh__baton_hand_back(hub, c))
			return RUN_LOST;
		/* Posts become green threads a batch at a time once the ones before have run:
		 * this loop comes round after every thread that finishes, and spawning here
		 * each time would pile up a stack per post. A busy hub takes them between
		 * rounds instead. */
		if (!hub->runq_len && gh__posts_pending(hub))
			gh__posts_run(hub);
		/* The run ends only once no post can get in any more (post.c). */
		if (!hub->live && gh__posts_close(hub))
			return RUN_DONE;
		/* The round goes on across the hub loop: restarting it here, as each handoff to
		 * a spare and each finished thread does, put off the housekeeping for as long as
		 * that kept happening, and with it every due timer while others stayed ready. */
		switches = gh__switches_read(hub);
		if (switches >= hub->round_end && hub->runq_len)
			gh__round_housekeeping(hub, c, switches);
		t = gh__runq_pop(hub);
		if (t) {
			/* A switch point too (a thread finished, or the hub was idle): counted, and
			 * toward the round, which goes on. */
			gh__switches_set(hub, switches + 1);
			t->state = GH__RUNNING;
			c->green = t;
			gh__check_runner(hub, c);
			gh__green_publish(hub, c, t);
			gh__switch(&c->sched_ctx, &t->ctx, false);
			c->green = NULL;
			continue;
		}
		if (hub_deadlocked(hub)) {
			cancel_all(hub);
			continue;
		}
		if (!idle_poll(hub, c))
			return RUN_LOST;
		/* That poll was the housekeeping: what it woke is the next round. */
		hub->round_end = gh__switches_read(hub) + hub->runq_len;
	}
}

int gh__carrier_loop(struct gh_hub *hub, struct gh__carrier *c)
{
	for (;;) {
		if (gh__baton_is(gh__baton_load(hub), GH_BATON_RUN, c->tid)) {
			if (run_hub(hub, c) == RUN_DONE) {
				gh__carriers_release(hub, c);
				return 0;
			}
		}
		switch (gh__spare_park(hub, c)) {
		case GH__PARK_OWNER:
			/* Keep a spare ready for the next handoff (transition 6): the sysmon
			 * starts one if none is parked; wake it if it sleeps long. */
			if (atomic_load_explicit(&gh__sysmon_deep, memory_order_relaxed))
				gh__sysmon_kick();
			break;
		case GH__PARK_STOP:
			return 0;
		case GH__PARK_RETIRE:
			return 1;
		}
	}
}
