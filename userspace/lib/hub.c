// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The hub: a run queue, timers and a poller, run by one carrier at a time.
 *
 * Scheduling
 * ----------
 * A green thread at a switch point puts itself on a queue (the run queue, a wait queue, or
 * none) and calls gh__switch_out(), which switches *directly* to the next READY thread: one
 * register swap per green switch. The hub loop (carrier.c), on the carrier's own stack, runs
 * only when nothing is ready (to sleep in the poller), when a thread finishes (its stack cannot
 * be released while it is still in use), and when the baton must be handed back to a carrier
 * whose blocking call returned.
 *
 * Work is done in rounds: a round lets every thread that was READY when it began run once.
 * Between rounds the hub does its housekeeping on whatever stack it is on: fire due timers and,
 * if any green thread waits for an fd or a remote completion, poll without blocking. So a busy
 * hub still sees I/O and timers once per round, and a hub with no fds and no timers pays only a
 * counter per switch.
 *
 * Everything in struct gh_hub above the baton section is touched only by the carrier that
 * holds the hub's baton, so it needs no locks; the baton's acquire/release CAS orders it
 * between carriers (see carrier.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

void gh_hub_opts_init(struct gh_hub_opts *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->sz = sizeof(*opts);
	opts->stack_size = 256 * 1024;
	opts->stack_cache = 1024;
	opts->mode = GH_MODE_AUTO;
	opts->min_spares = 1;
	opts->max_spares = 256;
	opts->sysmon_ns = 20000;
	opts->spare_idle_ns = 10ull * 1000000000u;
}

/* Copy user options, accepting an older (shorter) struct. A larger sz than this library knows
 * is refused without reading past the fields it knows: nothing says the caller's object really
 * is that large (a wrong sz would make the check itself read out of bounds). */
static int opts_copy(struct gh_hub_opts *dst, const struct gh_hub_opts *src)
{
	size_t sz;

	gh_hub_opts_init(dst);
	if (!src)
		return 0;
	sz = src->sz;
	if (sz < sizeof(src->sz) || sz > sizeof(*dst))
		return -EINVAL;
	memcpy(dst, src, sz);
	dst->sz = sizeof(*dst);
	if (dst->stack_size < GH_STACK_MIN || dst->stack_size > GH_STACK_MAX)
		return -EINVAL;
	if (dst->stack_cache > (1u << 20))
		return -EINVAL;
	if (dst->max_spares < 1 || dst->max_spares > 4096 || dst->min_spares > dst->max_spares)
		return -EINVAL;
	if (dst->sysmon_ns < 1000 || dst->sysmon_ns > 1000000000u)
		return -EINVAL;
	switch (dst->mode) {
	case GH_MODE_AUTO:
	case GH_MODE_NONE:
		break;
	case GH_MODE_TRACE:
	case GH_MODE_SCHED_EXT:
		/* Whether it can run is decided by gh_hub_run (the loader may start later). */
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

gh_hub *gh_hub_create(const struct gh_hub_opts *opts)
{
	struct gh_hub *hub;
	int err;

	hub = calloc(1, sizeof(*hub));
	if (!hub) {
		errno = ENOMEM;
		return NULL;
	}
	err = opts_copy(&hub->opts, opts);
	if (err)
		goto fail_free;
	gh__list_init(&hub->runq);
	gh__list_init(&hub->threads);
	gh__list_init(&hub->carriers);
	gh__list_init(&hub->parked);
	gh__list_init(&hub->retiring);
	gh__list_init(&hub->sysmon_link);
	gh__timer_heap_init(&hub->timers);
	hub->slot = &hub->slot_mem;
	hub->slot->baton = gh_baton_next(0, GH_BATON_FREE, 0);
	hub->mode = GH_MODE_NONE;
	hub->backend = &gh__backend_none;
	err = gh__stack_pool_init(&hub->stacks, hub->opts.stack_size, hub->opts.stack_cache);
	if (err)
		goto fail_free;
	err = -pthread_mutex_init(&hub->carrier_lock, NULL);
	if (err)
		goto fail_stacks;
	err = gh__poller_init(hub);
	if (err)
		goto fail_mutex;
	return hub;

fail_mutex:
	pthread_mutex_destroy(&hub->carrier_lock);
fail_stacks:
	gh__stack_pool_fini(&hub->stacks);
fail_free:
	free(hub);
	errno = -err;
	return NULL;
}

int gh_hub_destroy(gh_hub *hub)
{
	if (!hub)
		return -EINVAL;
	if (atomic_load(&hub->running))
		return -EBUSY;
	gh__poller_fini(hub);
	gh__stack_pool_fini(&hub->stacks);
	gh__thread_descriptors_fini(hub);
	gh__timer_heap_fini(&hub->timers);
	pthread_mutex_destroy(&hub->carrier_lock);
	free(hub);
	return 0;
}

gh_hub *gh_hub_current(void)
{
	struct gh_thread *self = gh__thread_self();

	if (!self) {
		errno = EPERM;
		return NULL;
	}
	return self->hub;
}

enum gh_mode gh_hub_mode(const gh_hub *hub)
{
	return hub ? hub->mode : GH_MODE_NONE;
}

const char *gh_mode_name(enum gh_mode mode)
{
	switch (mode) {
	case GH_MODE_AUTO:
		return "auto";
	case GH_MODE_NONE:
		return "none";
	case GH_MODE_TRACE:
		return "trace";
	case GH_MODE_SCHED_EXT:
		return "sched_ext";
	}
	return "unknown";
}

int gh_hub_stats(const gh_hub *hub, struct gh_hub_stats *st)
{
	const struct gh_hub_slot *slot;
	size_t sz;
	struct gh_hub_stats s;

	if (!hub || !st || st->sz < sizeof(st->sz))
		return -EINVAL;
	slot = hub->slot;
	memset(&s, 0, sizeof(s));
	s.sz = sizeof(s);
	s.mode = hub->mode;
	s.handoffs = __atomic_load_n(&slot->nr_handoffs, __ATOMIC_RELAXED);
	s.takeovers = __atomic_load_n(&slot->nr_takeovers, __ATOMIC_RELAXED);
	s.cancels = __atomic_load_n(&slot->nr_cancels, __ATOMIC_RELAXED);
	s.holds = __atomic_load_n(&slot->nr_holds, __ATOMIC_RELAXED);
	s.handbacks = __atomic_load_n(&slot->nr_handbacks, __ATOMIC_RELAXED);
	s.idle_returns = __atomic_load_n(&slot->nr_idle_returns, __ATOMIC_RELAXED);
	s.stalled_ns = __atomic_load_n(&slot->stalled_ns, __ATOMIC_RELAXED);
	s.spares_started = atomic_load_explicit(&hub->spares_started, memory_order_relaxed);
	s.spares_retired = atomic_load_explicit(&hub->spares_retired, memory_order_relaxed);
	sz = st->sz < sizeof(s) ? st->sz : sizeof(s);
	memcpy(st, &s, sz);
	st->sz = sz;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Run queue and switching                                                                    */

static void runq_push(struct gh_hub *hub, struct gh_thread *t)
{
	t->state = GH__READY;
	gh__list_push_back(&hub->runq, &t->node);
	hub->runq_len++;
}

struct gh_thread *gh__runq_pop(struct gh_hub *hub)
{
	struct gh__list *n = gh__list_pop_front(&hub->runq);

	if (!n)
		return NULL;
	hub->runq_len--;
	return GH_CONTAINER_OF(n, struct gh_thread, node);
}

void gh__runq_push(struct gh_hub *hub, struct gh_thread *t)
{
	runq_push(hub, t);
}

/* Between rounds: fire due timers, notice I/O and remote completions without blocking, and
 * size the next round. */
static void housekeeping(struct gh_hub *hub, struct gh__carrier *c)
{
	if (hub->fd_waiters || atomic_load_explicit(&hub->remote_waiters, memory_order_relaxed))
		gh__poller_poll(hub, c, 0);
	else if (hub->timers.n)
		gh__timer_run(&hub->timers, gh_now());
	hub->batch = (unsigned)hub->runq_len;
}

void gh__switch_out_on(struct gh_hub *hub, struct gh__carrier *c, struct gh_thread *self)
{
	struct gh_thread *next;

	gh__check_runner(hub, c);
	/* A carrier waits to be handed the baton back: let the hub loop do it now. */
	if (GH_UNLIKELY(gh__return_pending(hub)))
		goto to_loop;
	if (hub->batch == 0)
		housekeeping(hub, c);
	next = gh__runq_pop(hub);
	if (next) {
		if (hub->batch)
			hub->batch--;
		next->state = GH__RUNNING;
		c->green = next;
		if (next != self)
			gh__switch(&self->ctx, &next->ctx, false);
		return;
	}
to_loop:
	/* Nothing ready: the hub loop sleeps in the poller. */
	c->green = NULL;
	gh__switch(&self->ctx, &c->sched_ctx, false);
}

void gh__switch_out(struct gh_hub *hub, struct gh_thread *self)
{
	gh__switch_out_on(hub, gh__carrier_self(), self);
}

void gh__schedule(struct gh_hub *hub)
{
	struct gh__carrier *c = gh__carrier_self();
	struct gh_thread *self = c->green;

	runq_push(hub, self);
	gh__switch_out_on(hub, c, self);
}

int gh_yield(void)
{
	struct gh__carrier *c = gh__carrier_self(); /* the one TLS read of a yield */
	struct gh_thread *self;

	if (GH_UNLIKELY(!c || c->region_depth || !(self = c->green)))
		return -EPERM;
	runq_push(self->hub, self);
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
	runq_push(hub, t);
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

void gh__hub_wake_remote(struct gh_hub *hub, struct gh_thread *t, int result)
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

/* Called by the poller when wake_fd is readable. */
void gh__hub_drain_remote(struct gh_hub *hub)
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
		runq_push(hub, t);
	}
}

/* ---------------------------------------------------------------------------------------- */

int gh_hub_run(gh_hub *hub, gh_fn fn, void *arg, void **result)
{
	struct gh__carrier *carrier;
	struct gh_thread *main_thread;
	struct gh__list *n;
	void *main_result;
	int err;

	if (!hub || !fn)
		return -EINVAL;
	if (gh__carrier_self())
		return -EDEADLK;
	if (atomic_exchange(&hub->running, true))
		return -EBUSY;
	err = gh__overflow_reporter_install();
	if (!err)
		err = gh__fork_handlers_install();
	if (err)
		goto out_unclaim;
	err = -pthread_sigmask(SIG_BLOCK, NULL, &hub->app_mask);
	if (err)
		goto out_unclaim;
	err = gh__backend_start(hub);
	if (err)
		goto out_unclaim;
	/* The calling thread is the hub's first carrier. Its struct is large (the poll buffer),
	 * so it is not on the caller's stack. */
	carrier = calloc(1, sizeof(*carrier));
	if (!carrier) {
		err = -ENOMEM;
		goto out_backend;
	}
	gh__list_init(&carrier->link);
	gh__list_init(&carrier->park_link);
	hub->first_carrier = pthread_self();
	atomic_init(&carrier->wake_word, 0);
	{
		char why[256];
		size_t used;

		err = gh__carrier_init(hub, carrier, why, sizeof(why));
		if (err) {
			used = strlen(hub->mode_reason);
			snprintf(hub->mode_reason + used, sizeof(hub->mode_reason) - used,
				 "%shub not started: %s", used ? "; " : "", why);
			goto out_free;
		}
	}

	hub->deadlocked = false;
	atomic_store(&hub->stopping, false);
	main_thread = gh__thread_create(hub, fn, arg);
	if (!main_thread) {
		err = -errno;
		goto out_carrier;
	}
	gh__thread_name(main_thread, "main");
	/* gh_hub_run collects main's result itself: nobody may join or detach it. */
	main_thread->joining = true;
	/* The first carrier starts as the owner. */
	hub->slot->baton = gh_baton_next(hub->slot->baton, GH_BATON_RUN, (__u32)carrier->tid);
	hub->slot->runner_tid = (__u32)carrier->tid;
	/* Spares for the first block: started here rather than by the sysmon, so that a block
	 * right at the start of the run finds one (they park on their own, soon after). */
	for (unsigned i = 0; i < hub->opts.min_spares; i++)
		if (gh__spare_start(hub))
			break; /* the sysmon keeps trying */
	err = gh__sysmon_add(hub);
	if (err)
		goto out_main;

	gh__carrier_loop(hub, carrier);

	gh__sysmon_remove(hub);
	gh__carriers_stop(hub);
	main_result = main_thread->result;
	/* Everything has finished; unjoined threads are freed, as documented. */
	while ((n = gh__list_pop_front(&hub->threads))) {
		gh__list_init(n);
		gh__thread_free(GH_CONTAINER_OF(n, struct gh_thread, all));
	}
	if (result)
		*result = main_result;
	err = hub->deadlocked ? -EDEADLK : 0;
	goto out_carrier;

out_main:
	gh__carriers_stop(hub);
	gh__list_remove(&main_thread->all);
	gh__list_remove(&main_thread->node);
	hub->runq_len--;
	hub->live--;
	gh__thread_free(main_thread);
out_carrier:
	hub->slot->baton = gh_baton_next(hub->slot->baton, GH_BATON_FREE, 0);
	hub->slot->runner_tid = 0;
	gh__carrier_fini(carrier);
out_free:
	free(carrier);
out_backend:
	gh__backend_stop(hub);
out_unclaim:
	atomic_store(&hub->running, false);
	return err;
}
