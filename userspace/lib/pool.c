// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Green pools: at most `size` green threads at a time, like eventlet's GreenPool.
 *
 * The pool owns one slot per thread it may run, allocated up front, so a spawn allocates
 * nothing beyond the green thread itself. A slot is free (on `free_slots`), or busy (on
 * `busy_slots`, holding the thread that runs in it). Each pool thread starts in trampoline(),
 * which calls the user's function and then gives the slot back.
 *
 * A slot given back while spawners wait is handed to the first of them: the slot goes back on
 * the free list but is counted in `reserved`, and only that woken spawner may take it. So
 * spawners are served in FIFO order and one that arrives later cannot take the slot first.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

struct slot {
	struct gh__list link;   /* in free_slots or busy_slots */
	struct gh_pool *pool;
	gh_fn fn;
	void *arg;
	struct gh_thread *t;    /* the thread running in the slot while busy, else NULL */
};

struct gh_pool {
	size_t size;
	size_t running;          /* busy slots */
	size_t nfree;            /* slots on free_slots, reserved ones included */
	size_t reserved;         /* free slots promised to woken spawners */
	struct slot *slots;      /* size entries */
	struct gh__list free_slots;
	struct gh__list busy_slots;
	struct gh__waitq spawners; /* green threads in gh_pool_spawn waiting for a slot, FIFO */
	struct gh__waitq idle;     /* green threads in gh_pool_waitall */
};

gh_pool *gh_pool_create(size_t size)
{
	struct gh_pool *p;

	if (size == 0 || size > SIZE_MAX / sizeof(struct slot)) {
		errno = EINVAL;
		return NULL;
	}
	p = gh__calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->slots = gh__calloc(size, sizeof(*p->slots));
	if (!p->slots) {
		free(p); /* keeps errno */
		return NULL;
	}
	p->size = size;
	p->nfree = size;
	gh__list_init(&p->free_slots);
	gh__list_init(&p->busy_slots);
	gh__waitq_init(&p->spawners);
	gh__waitq_init(&p->idle);
	for (size_t i = 0; i < size; i++) {
		p->slots[i].pool = p;
		gh__list_push_back(&p->free_slots, &p->slots[i].link);
	}
	return p;
}

int gh_pool_destroy(gh_pool *p)
{
	if (!p)
		return -EINVAL;
	if (p->running || p->reserved || !gh__waitq_empty(&p->spawners) ||
	    !gh__waitq_empty(&p->idle))
		return -EBUSY;
	free(p->slots);
	free(p);
	return 0;
}

/* Return a slot: to the first waiting spawner if there is one, else to the free list. */
static void put_slot(struct gh_pool *p, struct slot *s)
{
	s->t = NULL;
	gh__list_remove(&s->link);
	gh__list_push_back(&p->free_slots, &s->link);
	p->nfree++;
	if (gh__waitq_wake_one(&p->spawners, 0))
		p->reserved++;
}

static void *trampoline(void *arg)
{
	struct slot *s = arg;
	struct gh_pool *p = s->pool;

	s->fn(s->arg);
	p->running--;
	/* The slot may be handed to a spawner here: s is not touched after this line. */
	put_slot(p, s);
	/* Nor is p after this one: a woken waiter may destroy the pool once we switch away. */
	if (!p->running)
		gh__waitq_wake_all(&p->idle, 0);
	return NULL;
}

int gh_pool_spawn(gh_pool *p, gh_fn fn, void *arg, uint64_t deadline)
{
	struct gh_thread *self;
	struct slot *s;
	int err = gh__may_wait(&self, p && fn);

	if (err)
		return err;
	/* A free slot that is not promised to a woken spawner can be taken at once. */
	if (p->nfree <= p->reserved) {
		if (deadline != GH_NEVER && deadline <= gh_now())
			return -ETIMEDOUT;
		err = gh__wait(&p->spawners, deadline);
		if (err)
			return err;
		/* A finishing thread reserved a slot for us. */
		p->reserved--;
	}
	s = GH_CONTAINER_OF(gh__list_pop_front(&p->free_slots), struct slot, link);
	p->nfree--;
	gh__list_push_back(&p->busy_slots, &s->link);
	p->running++;
	s->fn = fn;
	s->arg = arg;
	s->t = gh_spawn(trampoline, s);
	if (!s->t) {
		err = -errno;
		p->running--;
		put_slot(p, s);
		return err;
	}
	err = gh_detach(s->t);
	if (err)
		gh__panic("gh_detach of a new pool thread: %s", gh_strerror(err));
	return 0;
}

int gh_pool_waitall(gh_pool *p, uint64_t deadline)
{
	struct gh_thread *self;
	struct gh__list *n;
	int err = gh__may_wait(&self, p);

	if (err)
		return err;
	if (!p->running)
		return 0;
	for (n = p->busy_slots.next; n != &p->busy_slots; n = n->next)
		if (GH_CONTAINER_OF(n, struct slot, link)->t == self)
			return -EDEADLK;
	if (deadline != GH_NEVER && deadline <= gh_now())
		return -ETIMEDOUT;
	return gh__wait(&p->idle, deadline);
}

int gh_pool_cancel(gh_pool *p)
{
	struct gh__list *n;
	int count = 0;

	if (!gh__thread_self())
		return -EPERM;
	if (!p)
		return -EINVAL;
	for (n = p->busy_slots.next; n != &p->busy_slots; n = n->next) {
		struct slot *s = GH_CONTAINER_OF(n, struct slot, link);

		/* Cancelling only marks the thread (and wakes it if it waits): no thread runs
		 * and no slot moves during this loop. */
		if (s->t && gh_cancel(s->t) == 0)
			count++;
	}
	return count;
}

size_t gh_pool_available(const gh_pool *p)
{
	return p ? p->nfree - p->reserved : 0;
}

size_t gh_pool_running(const gh_pool *p)
{
	return p ? p->running : 0;
}
