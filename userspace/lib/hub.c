// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The hub: a run queue, timers and a poller, run by one carrier at a time.
 *
 * Scheduling
 * ----------
 * A green thread at a switch point puts itself on a queue (the run queue, a wait queue, or
 * none) and calls gh__switch_out(), which switches *directly* to the next READY thread: one
 * register swap per green switch. The hub loop, on the carrier's own stack, runs only when
 * nothing is ready (to sleep in the poller) and when a thread finishes (its stack cannot be
 * released while it is still in use).
 *
 * Work is done in rounds: a round lets every thread that was READY when it began run once.
 * Between rounds the hub does its housekeeping on whatever stack it is on: fire due timers and,
 * if any green thread waits for an fd or a remote completion, poll without blocking. So a busy
 * hub still sees I/O and timers once per round, and a hub with no fds and no timers pays only a
 * counter per switch.
 *
 * Everything in struct gh_hub except the remote queue is touched only by the carrier that
 * holds the hub's baton; no locks are needed for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static __thread struct gh__carrier *tls_carrier;

/*
 * The carrier of the calling OS thread. It must be re-read after every switch point: a green
 * thread may continue on another carrier, and a compiler that cached the TLS address across
 * the switch would read the old carrier's variable. An out-of-line function with an opaque
 * barrier cannot be folded or hoisted by the caller's optimizer.
 */
#if defined(__has_attribute)
#if __has_attribute(noipa)
__attribute__((noipa))
#endif
#endif
__attribute__((noinline)) struct gh__carrier *gh__carrier_self(void)
{
	__asm__ volatile("" ::: "memory");
	return tls_carrier;
}

void gh__carrier_set(struct gh__carrier *c)
{
	tls_carrier = c;
}

struct gh_thread *gh__thread_self(void)
{
	struct gh__carrier *c = gh__carrier_self();

	return c && c->hub ? c->hub->current : NULL;
}

void gh_hub_opts_init(struct gh_hub_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->sz = sizeof(*opts);
	opts->stack_size = 256 * 1024;
	opts->stack_cache = 1024;
	opts->mode = GH_MODE_AUTO;
}

/* Copy user options, accepting an older (shorter) struct and a newer one whose extra fields
 * are all zero, as libbpf does with its opts. */
static int opts_copy(struct gh_hub_opts *dst, const struct gh_hub_opts *src)
{
	size_t sz;

	gh_hub_opts_init(dst);
	if (!src)
		return 0;
	sz = src->sz;
	if (sz < sizeof(src->sz))
		return -EINVAL;
	if (sz > sizeof(*dst)) {
		for (size_t i = sizeof(*dst); i < sz; i++)
			if (((const char *)src)[i])
				return -EINVAL;
		sz = sizeof(*dst);
	}
	memcpy(dst, src, sz);
	dst->sz = sizeof(*dst);
	if (dst->stack_size < GH_STACK_MIN || dst->stack_size > GH_STACK_MAX)
		return -EINVAL;
	if (dst->stack_cache > (1u << 20))
		return -EINVAL;
	switch (dst->mode) {
	case GH_MODE_AUTO:
	case GH_MODE_NONE:
		break;
	case GH_MODE_TRACE:
	case GH_MODE_SCHED_EXT:
		/* Not built into this version: refuse rather than silently run without. */
		return -EOPNOTSUPP;
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
	gh__list_init(&hub->remote);
	gh__timer_heap_init(&hub->timers);
	atomic_init(&hub->remote_waiters, 0);
	hub->slot = &hub->slot_mem;
	hub->slot->baton = gh_baton_next(0, GH_BATON_FREE, 0);
	err = gh__stack_pool_init(&hub->stacks, hub->opts.stack_size, hub->opts.stack_cache);
	if (err)
		goto fail_free;
	err = -pthread_mutex_init(&hub->remote_lock, NULL);
	if (err)
		goto fail_stacks;
	err = gh__poller_init(hub);
	if (err)
		goto fail_mutex;
	return hub;

fail_mutex:
	pthread_mutex_destroy(&hub->remote_lock);
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
	gh__timer_heap_fini(&hub->timers);
	pthread_mutex_destroy(&hub->remote_lock);
	free(hub);
	return 0;
}

gh_hub *gh_hub_current(void)
{
	struct gh__carrier *c = gh__carrier_self();

	if (!c || !c->hub) {
		errno = EPERM;
		return NULL;
	}
	return c->hub;
}

/* ---------------------------------------------------------------------------------------- */
/* Run queue and switching                                                                    */

static void runq_push(struct gh_hub *hub, struct gh_thread *t)
{
	t->state = GH__READY;
	gh__list_push_back(&hub->runq, &t->node);
	hub->runq_len++;
}

static struct gh_thread *runq_pop(struct gh_hub *hub)
{
	struct gh__list *n = gh__list_pop_front(&hub->runq);

	if (!n)
		return NULL;
	hub->runq_len--;
	return GH_CONTAINER_OF(n, struct gh_thread, node);
}

/* Between rounds: fire due timers, notice I/O and remote completions without blocking, and
 * size the next round. */
static void housekeeping(struct gh_hub *hub)
{
	if (hub->fd_waiters || atomic_load_explicit(&hub->remote_waiters, memory_order_relaxed))
		gh__poller_poll(hub, 0);
	else if (hub->timers.n)
		gh__timer_run(&hub->timers, gh_now());
	hub->batch = (unsigned)hub->runq_len;
}

void gh__switch_out(struct gh_hub *hub, struct gh_thread *self)
{
	struct gh__carrier *c = gh__carrier_self();
	struct gh_thread *next;

	if (hub->batch == 0)
		housekeeping(hub);
	next = runq_pop(hub);
	if (next) {
		if (hub->batch)
			hub->batch--;
		next->state = GH__RUNNING;
		hub->current = next;
		if (next != self)
			gh__switch(&self->ctx, &next->ctx, false);
		return;
	}
	/* Nothing ready: the hub loop sleeps in the poller. */
	hub->current = NULL;
	gh__switch(&self->ctx, &c->sched_ctx, false);
}

void gh__schedule(struct gh_hub *hub)
{
	struct gh_thread *self = hub->current;

	runq_push(hub, self);
	gh__switch_out(hub, self);
}

/* ---------------------------------------------------------------------------------------- */
/* Waiting and waking                                                                         */

int gh__park(struct gh__waitq *q, uint64_t deadline)
{
	struct gh_thread *self = gh__thread_self();
	struct gh_hub *hub = self->hub;

	if (self->cancelled)
		return -ECANCELED;
	self->state = GH__WAITING;
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

void gh__park_remote_begin(struct gh_hub *hub)
{
	struct gh_thread *self = hub->current;

	self->wake_result = 0;
	atomic_fetch_add_explicit(&hub->remote_waiters, 1, memory_order_relaxed);
}

int gh__park_remote(struct gh_hub *hub)
{
	struct gh_thread *self = hub->current;

	/* The completion may already sit in hub->remote: it is drained only by this carrier's
	 * poll, which cannot run before we switch out, so the thread is WAITING by then. */
	self->uncancellable_wait = true;
	self->state = GH__WAITING;
	self->waitq = NULL;
	gh__switch_out(hub, self);
	self->uncancellable_wait = false;
	return self->wake_result;
}

void gh__hub_wake_remote(struct gh_hub *hub, struct gh_thread *t, int result)
{
	bool was_empty;
	int err;

	err = pthread_mutex_lock(&hub->remote_lock);
	if (err)
		gh__panic("pthread_mutex_lock(remote_lock): %s", gh_strerror(err));
	t->wake_result = result;
	was_empty = gh__list_empty(&hub->remote);
	gh__list_push_back(&hub->remote, &t->node);
	pthread_mutex_unlock(&hub->remote_lock);
	/* One eventfd write per batch: the hub drains the whole list when it sees the fd. */
	if (was_empty) {
		uint64_t one = 1;

		if (write(hub->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			gh__panic("write(eventfd): %s", gh_strerror(errno));
	}
}

/* Called by the poller when wake_fd is readable. */
void gh__hub_drain_remote(struct gh_hub *hub);
void gh__hub_drain_remote(struct gh_hub *hub)
{
	struct gh__list batch;
	struct gh__list *n;
	uint64_t count;

	if (read(hub->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		gh__panic("read(eventfd): %s", gh_strerror(errno));
	gh__list_init(&batch);
	pthread_mutex_lock(&hub->remote_lock);
	while ((n = gh__list_pop_front(&hub->remote)))
		gh__list_push_back(&batch, n);
	pthread_mutex_unlock(&hub->remote_lock);
	while ((n = gh__list_pop_front(&batch))) {
		atomic_fetch_sub_explicit(&hub->remote_waiters, 1, memory_order_relaxed);
		runq_push(hub, GH_CONTAINER_OF(n, struct gh_thread, node));
	}
}

/* ---------------------------------------------------------------------------------------- */
/* The hub loop                                                                               */

/* Nothing is ready and nothing outside the hub can make anything ready: every live green
 * thread waits on another. */
static bool deadlocked(struct gh_hub *hub)
{
	return hub->live && !hub->runq_len && !hub->timers.n && !hub->fd_waiters &&
	       !atomic_load_explicit(&hub->remote_waiters, memory_order_relaxed);
}

/* Break a deadlock by cancelling every waiting thread: their waits return -ECANCELED so they
 * can unwind, and gh_hub_run reports -EDEADLK. */
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

static void hub_loop(struct gh_hub *hub, struct gh__carrier *c)
{
	for (;;) {
		struct gh_thread *t;

		release_dying(hub);
		if (!hub->live)
			break;
		t = runq_pop(hub);
		if (t) {
			hub->batch = (unsigned)hub->runq_len;
			t->state = GH__RUNNING;
			hub->current = t;
			gh__switch(&c->sched_ctx, &t->ctx, false);
			hub->current = NULL;
			continue;
		}
		if (deadlocked(hub)) {
			cancel_all(hub);
			continue;
		}
		gh__poller_poll(hub, gh__timer_next(&hub->timers));
	}
}

int gh_hub_run(gh_hub *hub, gh_fn fn, void *arg, void **result)
{
	struct gh__carrier carrier;
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
	if (err)
		goto out_unclaim;
	memset(&carrier, 0, sizeof(carrier));
	gh__ctx_init_native(&carrier.sched_ctx);
	carrier.hub = hub;
	carrier.tid = gettid();
	err = gh__altstack_acquire(&carrier.altstack);
	if (err)
		goto out_unclaim;

	hub->deadlocked = false;
	hub->carrier = &carrier;
	gh__carrier_set(&carrier);
	main_thread = gh__thread_create(hub, fn, arg);
	if (!main_thread) {
		err = -errno;
		goto out;
	}
	gh_thread_set_name(main_thread, "main");
	/* gh_hub_run collects main's result itself: nobody may join or detach it. */
	main_thread->joining = true;

	hub_loop(hub, &carrier);

	main_result = main_thread->result;
	/* Everything has finished; unjoined threads are freed, as documented. */
	while ((n = gh__list_pop_front(&hub->threads))) {
		gh__list_init(n);
		gh__thread_free(GH_CONTAINER_OF(n, struct gh_thread, all));
	}
	if (result)
		*result = main_result;
	err = hub->deadlocked ? -EDEADLK : 0;
out:
	gh__carrier_set(NULL);
	hub->carrier = NULL;
	gh__altstack_release(carrier.altstack);
	gh__ctx_destroy(&carrier.sched_ctx);
out_unclaim:
	atomic_store(&hub->running, false);
	return err;
}
