// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Counting and bounded semaphores.
 *
 * Like the mutex, a release hands its unit straight to the first waiter instead of raising the
 * value, so value > 0 only while nobody waits and waiters are served in FIFO order: a green
 * thread arriving between a release and the waiter's turn cannot take the unit first.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "internal.h"

struct gh_sem {
	unsigned value;           /* free units; > 0 only while waiters is empty */
	unsigned max;             /* a release beyond it is refused */
	struct gh__waitq waiters; /* green threads in gh_sem_acquire, FIFO */
};

gh_sem *gh_sem_create(unsigned value, unsigned max)
{
	struct gh_sem *s;

	if (max == 0)
		max = INT_MAX;
	if (max > INT_MAX || value > max) {
		errno = EINVAL;
		return NULL;
	}
	s = gh__calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->value = value;
	s->max = max;
	gh__waitq_init(&s->waiters);
	return s;
}

int gh_sem_destroy(gh_sem *s)
{
	if (!s)
		return -EINVAL;
	if (!gh__waitq_empty(&s->waiters))
		return -EBUSY;
	free(s);
	return 0;
}

int gh_sem_acquire(gh_sem *s, uint64_t deadline)
{
	struct gh_thread *self;
	int err = gh__may_wait(&self, s);

	if (err)
		return err;
	if (s->value) {
		s->value--;
		return 0;
	}
	if (deadline != GH_NEVER && deadline <= gh_now())
		return -ETIMEDOUT;
	/* 0 means a release handed us its unit. */
	return gh__wait(&s->waiters, deadline);
}

int gh_sem_tryacquire(gh_sem *s)
{
	if (!gh__thread_self())
		return -EPERM;
	if (!s)
		return -EINVAL;
	if (!s->value)
		return -EAGAIN;
	s->value--;
	return 0;
}

int gh_sem_release(gh_sem *s)
{
	if (!gh__thread_self())
		return -EPERM;
	if (!s)
		return -EINVAL;
	if (gh__waitq_wake_one(&s->waiters, 0))
		return 0;
	if (s->value >= s->max)
		return -EOVERFLOW;
	s->value++;
	return 0;
}

int gh_sem_value(const gh_sem *s)
{
	if (!s)
		return -EINVAL;
	return (int)s->value;
}
