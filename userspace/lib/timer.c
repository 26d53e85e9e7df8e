// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Timers: a 4-ary min-heap keyed by (deadline, arming order). Arm, disarm and fire are
 * O(log n); the next deadline is O(1). Each timer records its heap index so a wait that ends
 * early (woken, cancelled) removes its timer without a search.
 *
 * A heap was chosen over a timer wheel because deadlines here are absolute nanoseconds with no
 * natural tick, and most hubs hold few timers; the wheel's O(1) would cost a tick and cascading.
 * Arming never allocates: the hub reserves one slot per green thread when it spawns one, since
 * a green thread waits on at most one deadline at a time (gh__thread_create). The heap is hub
 * memory (hub_mem.c): the hub loop and switch points grow it, for posted functions' threads.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

void gh__timer_heap_init(struct gh__timer_heap *h)
{
	h->v = NULL;
	h->n = h->cap = h->bytes = 0;
	h->next_order = 0;
}

void gh__timer_heap_fini(struct gh__timer_heap *h)
{
	gh__hub_mem_unmap(h->v, h->bytes);
	gh__timer_heap_init(h);
}

int gh__timer_heap_grow(struct gh__timer_heap *h, size_t n)
{
	size_t bytes;
	void *v;

	if (n <= h->cap)
		return 0;
	/* At least double: a spawn at a time grows it, and each growth is a system call. */
	if (n < 2 * h->cap)
		n = 2 * h->cap;
	bytes = gh__page_round(n * sizeof(*h->v));
	v = h->v ? gh__hub_mem_grow(h->v, h->bytes, bytes) : gh__hub_mem_map(bytes);
	if (!v)
		return -ENOMEM;
	h->v = v;
	h->bytes = bytes;
	h->cap = bytes / sizeof(*h->v);
	return 0;
}

#define ARITY 4

static bool earlier(const struct gh__timer_slot *a, const struct gh__timer_slot *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->order < b->order);
}

static void place(struct gh__timer_heap *h, size_t i, const struct gh__timer_slot *s)
{
	h->v[i] = *s;
	s->t->index = i;
}

static void sift_up(struct gh__timer_heap *h, size_t i)
{
	struct gh__timer_slot s = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / ARITY;

		if (!earlier(&s, &h->v[parent]))
			break;
		place(h, i, &h->v[parent]);
		i = parent;
	}
	place(h, i, &s);
}

static void sift_down(struct gh__timer_heap *h, size_t i)
{
	struct gh__timer_slot s = h->v[i];

	for (;;) {
		size_t first = ARITY * i + 1, best, end;

		if (first >= h->n)
			break;
		best = first;
		end = first + ARITY < h->n ? first + ARITY : h->n;
		for (size_t c = first + 1; c < end; c++)
			if (earlier(&h->v[c], &h->v[best]))
				best = c;
		if (!earlier(&h->v[best], &s))
			break;
		place(h, i, &h->v[best]);
		i = best;
	}
	place(h, i, &s);
}

void gh__timer_arm(struct gh__timer_heap *h, struct gh__timer *t, uint64_t deadline)
{
	if (t->index != GH__TIMER_IDLE)
		gh__timer_disarm(h, t);
	if (h->n == h->cap)
		gh__panic("timer heap full (%zu): a slot was not reserved", h->cap);
	t->deadline = deadline;
	t->order = h->next_order++;
	h->v[h->n] = (struct gh__timer_slot){ deadline, t->order, t };
	t->index = h->n++;
	sift_up(h, t->index);
}

void gh__timer_disarm(struct gh__timer_heap *h, struct gh__timer *t)
{
	size_t i = t->index;
	struct gh__timer_slot last;

	if (i == GH__TIMER_IDLE)
		return;
	t->index = GH__TIMER_IDLE;
	last = h->v[--h->n];
	if (last.t == t)
		return;
	place(h, i, &last);
	if (i > 0 && earlier(&last, &h->v[(i - 1) / ARITY]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

uint64_t gh__timer_next(const struct gh__timer_heap *h)
{
	return h->n ? h->v[0].deadline : GH_NEVER;
}

size_t gh__timer_run(struct gh__timer_heap *h, uint64_t now)
{
	size_t fired = 0;

	while (h->n && h->v[0].deadline <= now) {
		struct gh__timer *t = h->v[0].t;

		gh__timer_disarm(h, t);
		t->fire(t);
		fired++;
	}
	return fired;
}
