// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Futures: a value set once, from any OS thread, and waited for by green threads of any hub
 * or by plain OS threads.
 *
 * A future is guarded by a short pthread mutex, never held across a switch point. Green
 * waiters wait as remote completions (sched.c): each puts a record on its own stack into the
 * future's list, and whoever ends the wait first, gh_future_set or the waiter's deadline
 * timer, takes the record off the list under the lock (claims it) and pushes the thread onto
 * its hub's completion stack with gh__wake_remote. Only one of them can, so a thread is never
 * woken twice. Plain threads sleep on a futex on the state word.
 *
 * Lifetime
 *   gh_future_set does all its work, down to the last eventfd write and futex wake, under the
 *   lock, and every waiter takes the lock once more before it returns. So once a wait has
 *   returned the future may be destroyed: the setter no longer touches it. The waiter's hub
 *   stays alive while the setter writes its eventfd for the same reason (the waiting thread
 *   cannot finish before it gets the lock).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

enum { FUTURE_UNSET = 0, FUTURE_SET = 1 };

struct gh_future {
	pthread_mutex_t lock;    /* guards everything below but state's reads */
	/* FUTURE_UNSET, then FUTURE_SET once: written under the lock (release, after value),
	 * read without it by plain waiters (acquire) as their futex word. */
	atomic_uint state;
	void *value;             /* written once, before state is set */
	struct gh__list waiters; /* green waiters not yet claimed (struct green_waiter) */
	unsigned plain_waiters;  /* plain threads inside gh_future_wait */
};

/* A green thread's wait, on its own stack. */
struct green_waiter {
	struct gh__list link;    /* in f->waiters until claimed */
	struct gh_thread *t;
	struct gh_future *f;
	/* The deadline: armed in the waiter's hub's timer heap. The thread's own timer is idle
	 * during the wait, so the heap's one slot per live thread still suffices. */
	struct gh__timer timer;
};

static void lock(struct gh_future *f)
{
	int err = pthread_mutex_lock(&f->lock);

	if (err)
		gh__panic("future lock: %s", gh_strerror(err));
}

static void unlock(struct gh_future *f)
{
	int err = pthread_mutex_unlock(&f->lock);

	if (err)
		gh__panic("future unlock: %s", gh_strerror(err));
}

gh_future *gh_future_create(void)
{
	struct gh_future *f = gh__calloc(1, sizeof(*f));
	int err;

	if (!f)
		return NULL;
	err = pthread_mutex_init(&f->lock, NULL);
	if (err) {
		free(f);
		errno = err;
		return NULL;
	}
	atomic_init(&f->state, FUTURE_UNSET);
	gh__list_init(&f->waiters);
	return f;
}

int gh_future_destroy(gh_future *f)
{
	bool busy;

	if (!f)
		return -EINVAL;
	lock(f);
	busy = !gh__list_empty(&f->waiters) || f->plain_waiters;
	unlock(f);
	if (busy)
		return -EBUSY;
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

/* Under f's lock: end w's wait with result. Its thread becomes READY on its own hub. */
static void claim(struct green_waiter *w, int result)
{
	struct gh_thread *t = w->t;

	gh__list_remove(&w->link); /* leaves it self-linked: empty, claimed */
	gh__wake_remote(t->hub, t, result);
}

int gh_future_set(gh_future *f, void *value)
{
	struct gh__list *n;

	if (!f)
		return -EINVAL;
	lock(f);
	if (atomic_load_explicit(&f->state, memory_order_relaxed) == FUTURE_SET) {
		unlock(f);
		return -EALREADY;
	}
	f->value = value;
	/* Release: a plain waiter that reads SET without the lock sees value. */
	atomic_store_explicit(&f->state, FUTURE_SET, memory_order_release);
	while ((n = gh__list_pop_front(&f->waiters)))
		claim(GH_CONTAINER_OF(n, struct green_waiter, link), 0);
	/* Under the lock: a woken plain waiter takes it before returning, so the future is not
	 * freed under this wake. */
	if (f->plain_waiters)
		gh__futex_wake(&f->state, INT_MAX);
	unlock(f);
	return 0;
}

/* How soon a deadline that found the future's lock taken looks again. */
#define DEADLINE_RETRY_NS 20000u

/* The waiter's deadline passed (its hub's baton holder, from the timer heap). */
static void green_deadline(struct gh__timer *timer)
{
	struct green_waiter *w = GH_CONTAINER_OF(timer, struct green_waiter, timer);
	struct gh_future *f = w->f;
	int err = pthread_mutex_trylock(&f->lock);

	if (err == EBUSY) {
		/* This may run in the hub loop, where sleeping on the lock would look like a
		 * block to the kernel side: look again shortly instead. The timer's heap slot
		 * is free again (gh__timer_run disarmed it), and now + retry is not due in
		 * the current pass. */
		gh__timer_arm(&w->t->hub->timers, &w->timer, gh_now() + DEADLINE_RETRY_NS);
		return;
	}
	if (err)
		gh__panic("future trylock: %s", gh_strerror(err));
	/* Claimed already if the set came first: its wake is on the way. */
	if (!gh__list_empty(&w->link))
		claim(w, -ETIMEDOUT);
	unlock(f);
}

static int green_wait(struct gh_future *f, struct gh_thread *self, void **value,
		      uint64_t deadline)
{
	struct gh_hub *hub = self->hub;
	struct green_waiter w = { .t = self, .f = f };
	int err;

	lock(f);
	if (atomic_load_explicit(&f->state, memory_order_relaxed) == FUTURE_SET)
		goto got;
	gh__wait_remote_begin(hub);
	gh__list_push_back(&f->waiters, &w.link);
	w.timer.index = GH__TIMER_IDLE;
	w.timer.fire = green_deadline;
	if (deadline != GH_NEVER)
		gh__timer_arm(&hub->timers, &w.timer, deadline);
	unlock(f);
	/* Neither the setter nor the timer can make this thread READY before it has switched
	 * out: both only push it to the hub's completion stack, drained by the baton holder. */
	err = gh__wait_remote(hub);
	gh__timer_disarm(&hub->timers, &w.timer);
	/* Also waits for a setter to leave its critical section (see Lifetime above). */
	lock(f);
	if (err) {
		unlock(f);
		return err;
	}
got:
	if (value)
		*value = f->value;
	unlock(f);
	return 0;
}

/* Sleep on the state word until set or until deadline; -ETIMEDOUT. */
static int plain_sleep(struct gh_future *f, uint64_t deadline)
{
	while (atomic_load_explicit(&f->state, memory_order_acquire) == FUTURE_UNSET) {
		struct timespec rel, *relp = NULL;
		uint64_t now;

		if (deadline != GH_NEVER) {
			now = gh_now();
			if (now >= deadline)
				return -ETIMEDOUT;
			rel.tv_sec = (time_t)((deadline - now) / 1000000000u);
			rel.tv_nsec = (long)((deadline - now) % 1000000000u);
			relp = &rel;
		}
		/* EAGAIN (set meanwhile), EINTR and ETIMEDOUT all loop to look again. */
		(void)gh__futex_wait(&f->state, FUTURE_UNSET, relp);
	}
	return 0;
}

static int plain_wait(struct gh_future *f, void **value, uint64_t deadline)
{
	int err;

	lock(f);
	f->plain_waiters++;
	unlock(f);
	err = plain_sleep(f, deadline);
	lock(f);
	f->plain_waiters--;
	/* Set just after the deadline: take the value rather than report a timeout. */
	if (atomic_load_explicit(&f->state, memory_order_relaxed) == FUTURE_SET)
		err = 0;
	if (!err && value)
		*value = f->value;
	unlock(f);
	return err;
}

int gh_future_wait(gh_future *f, void **value, uint64_t deadline)
{
	struct gh__carrier *c = gh__carrier_self();
	struct gh_thread *self;
	int err;

	if (!c)
		return f ? plain_wait(f, value, deadline) : -EINVAL;
	/* A carrier: only its green thread may wait, outside a blocking region. */
	err = gh__may_wait(&self, f != NULL);
	if (err)
		return err;
	return green_wait(f, self, value, deadline);
}

int gh_future_is_set(const gh_future *f)
{
	if (!f)
		return -EINVAL;
	return atomic_load_explicit(&((struct gh_future *)f)->state, memory_order_acquire) ==
	       FUTURE_SET;
}
