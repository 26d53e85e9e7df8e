// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Events: a flag green threads wait for. Setting it wakes every waiter, in the order they
 * came; it stays set (later waits return at once) until cleared.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "internal.h"

struct gh_event {
	bool set;
	struct gh__waitq waiters; /* green threads in gh_event_wait; empty while set */
};

gh_event *gh_event_create(void)
{
	struct gh_event *e = gh__calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	gh__waitq_init(&e->waiters);
	return e;
}

int gh_event_destroy(gh_event *e)
{
	if (!e)
		return -EINVAL;
	if (!gh__waitq_empty(&e->waiters))
		return -EBUSY;
	free(e);
	return 0;
}

int gh_event_set(gh_event *e)
{
	if (!gh__thread_self())
		return -EPERM;
	if (!e)
		return -EINVAL;
	e->set = true;
	gh__waitq_wake_all(&e->waiters, 0);
	return 0;
}

int gh_event_clear(gh_event *e)
{
	if (!gh__thread_self())
		return -EPERM;
	if (!e)
		return -EINVAL;
	e->set = false;
	return 0;
}

int gh_event_wait(gh_event *e, uint64_t deadline)
{
	struct gh_thread *self;
	int err = gh__may_wait(&self, e);

	if (err)
		return err;
	if (e->set)
		return 0;
	if (deadline != GH_NEVER && deadline <= gh_now())
		return -ETIMEDOUT;
	return gh__wait(&e->waiters, deadline);
}

int gh_event_is_set(const gh_event *e)
{
	if (!e)
		return -EINVAL;
	return e->set;
}
