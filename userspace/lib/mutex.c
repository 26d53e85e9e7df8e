// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The green mutex and the condition variable that waits with it.
 *
 * Ownership is handed over, never competed for: gh_mutex_unlock() with waiters makes the first
 * waiter the owner before it even runs, and a thread that arrives meanwhile finds the mutex
 * held and queues behind. So waiters are served strictly in FIFO order and none can starve.
 * The price is the "lock convoy" of handoff mutexes: a thread that unlocks and relocks at once
 * must wait its turn. That is the fairness the API promises; a barging mutex (faster under
 * contention, unfair) was rejected for it.
 *
 * No OS-level lock is involved: only the hub's baton holder touches these objects, and a green
 * thread that resumes on another carrier finds them as it left them.
 *
 * The condition variable lives here because gh_cond_wait() must re-lock the mutex in a way no
 * public call can: immune to cancellation, since the caller must always return holding it.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

struct gh_mutex {
	/* The green thread holding the mutex (also when handed to a waiter that has not run
	 * yet), or NULL when free. */
	struct gh_thread *owner;
	/* Green threads in gh_mutex_lock or re-locking in gh_cond_wait, FIFO. */
	struct gh__waitq waiters;
};

struct gh_cond {
	struct gh__waitq waiters; /* green threads in gh_cond_wait, FIFO */
};

gh_mutex *gh_mutex_create(void)
{
	struct gh_mutex *m = gh__calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	gh__waitq_init(&m->waiters);
	return m;
}

int gh_mutex_destroy(gh_mutex *m)
{
	if (!m)
		return -EINVAL;
	if (m->owner || !gh__waitq_empty(&m->waiters))
		return -EBUSY;
	free(m);
	return 0;
}

int gh_mutex_lock(gh_mutex *m, uint64_t deadline)
{
	struct gh_thread *self;
	int err = gh__may_wait(&self, m);

	if (err)
		return err;
	if (!m->owner) {
		m->owner = self;
		return 0;
	}
	if (m->owner == self)
		return -EDEADLK;
	if (deadline != GH_NEVER && deadline <= gh_now())
		return -ETIMEDOUT;
	/* 0 means gh_mutex_unlock made us the owner; otherwise we were never made one. */
	return gh__wait(&m->waiters, deadline);
}

int gh_mutex_trylock(gh_mutex *m)
{
	struct gh_thread *self = gh__thread_self();

	if (!self)
		return -EPERM;
	if (!m)
		return -EINVAL;
	if (m->owner)
		return -EBUSY;
	m->owner = self;
	return 0;
}

/* Release m held by its owner: hand it to the first waiter, or free it. */
static void release(struct gh_mutex *m)
{
	if (gh__waitq_empty(&m->waiters)) {
		m->owner = NULL;
		return;
	}
	m->owner = GH_CONTAINER_OF(m->waiters.waiters.next, struct gh_thread, node);
	gh__wake(m->owner, 0);
}

int gh_mutex_unlock(gh_mutex *m)
{
	struct gh_thread *self = gh__thread_self();

	if (!self)
		return -EPERM;
	if (!m)
		return -EINVAL;
	if (m->owner != self)
		return -EPERM;
	release(m);
	return 0;
}

/*
 * Lock m for gh_cond_wait, which must return holding it whatever happened. The wait is marked
 * uncancellable, like a remote completion: gh_cancel() then only records the cancellation,
 * which is restored afterwards so that the caller's next wait sees it. The owner will unlock
 * (it is running, or it is waiting and a hub deadlock break cancels it), so this ends; unless
 * the owner finished without unlocking, and then the hub is deadlocked: its deadlock break ends
 * the wait with -EDEADLK, the one case where the caller does not hold m on return.
 */
static int relock(struct gh_mutex *m, struct gh_thread *self)
{
	bool cancelled;
	int err;

	if (!m->owner) {
		m->owner = self;
		return 0;
	}
	cancelled = self->cancelled;
	self->cancelled = false;
	self->uncancellable_wait = true;
	err = gh__wait(&m->waiters, GH_NEVER);
	self->uncancellable_wait = false;
	self->cancelled = self->cancelled || cancelled;
	if (err && err != -EDEADLK)
		gh__panic("uncancellable mutex wait of green thread %llu ended without the mutex "
			  "(%d)", (unsigned long long)self->id, err);
	return err;
}

/* ---------------------------------------------------------------------------------------- */
/* Condition variables                                                                        */

gh_cond *gh_cond_create(void)
{
	struct gh_cond *c = gh__calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	gh__waitq_init(&c->waiters);
	return c;
}

int gh_cond_destroy(gh_cond *c)
{
	if (!c)
		return -EINVAL;
	if (!gh__waitq_empty(&c->waiters))
		return -EBUSY;
	free(c);
	return 0;
}

int gh_cond_wait(gh_cond *c, gh_mutex *m, uint64_t deadline)
{
	struct gh_thread *self = gh__thread_self();
	int err;

	if (!self)
		return -EPERM;
	if (!c || !m)
		return -EINVAL;
	if (m->owner != self)
		return -EPERM;
	if (self->cancelled)
		return -ECANCELED;
	if (deadline != GH_NEVER && deadline <= gh_now())
		return -ETIMEDOUT;
	/* Unlocking only makes the next owner READY: nothing runs before we are queued on c,
	 * so a signal sent by the next owner cannot be missed. */
	release(m);
	err = gh__wait(&c->waiters, deadline);
	return relock(m, self) ?: err;
}

int gh_cond_signal(gh_cond *c)
{
	if (!gh__thread_self())
		return -EPERM;
	if (!c)
		return -EINVAL;
	gh__waitq_wake_one(&c->waiters, 0);
	return 0;
}

int gh_cond_broadcast(gh_cond *c)
{
	if (!gh__thread_self())
		return -EPERM;
	if (!c)
		return -EINVAL;
	gh__waitq_wake_all(&c->waiters, 0);
	return 0;
}
