// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Timers: a binary min-heap keyed by (deadline, arming order). Arm, disarm and fire are
 * O(log n); the next deadline is O(1). Each timer records its heap index so a wait that ends
 * early (woken, cancelled) removes its timer without a search.
 *
 * A heap was chosen over a timer wheel because deadlines here are absolute nanoseconds with no
 * natural tick, and most hubs hold few timers; the wheel's O(1) would cost a tick and cascading.
 * Arming never allocates: the hub reserves one slot per green thread when it spawns one, since
 * a green thread waits on at most one deadline at a time.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

void gh__timer_heap_init(struct gh__timer_heap *h)
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->next_order = 0;
}

void gh__timer_heap_fini(struct gh__timer_heap *h)
{
	free(h->v);
	gh__timer_heap_init(h);
}

int gh__timer_heap_reserve(struct gh__timer_heap *h, size_t n)
{
	struct gh__timer **v;
	size_t cap;

	if (n <= h->cap)
		return 0;
	cap = h->cap ? h->cap : 64;
	while (cap < n)
		cap *= 2;
	v = realloc(h->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

static bool earlier(const struct gh__timer *a, const struct gh__timer *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->order < b->order);
}

static void place(struct gh__timer_heap *h, size_t i, struct gh__timer *t)
{
	h->v[i] = t;
	t->index = i;
}

static void sift_up(struct gh__timer_heap *h, size_t i)
{
	struct gh__timer *t = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!earlier(t, h->v[parent]))
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void sift_down(struct gh__timer_heap *h, size_t i)
{
	struct gh__timer *t = h->v[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && earlier(h->v[child + 1], h->v[child]))
			child++;
		if (!earlier(h->v[child], t))
			break;
		place(h, i, h->v[child]);
		i = child;
	}
	place(h, i, t);
}

void gh__timer_arm(struct gh__timer_heap *h, struct gh__timer *t, uint64_t deadline)
{
	if (t->index != GH__TIMER_IDLE)
		gh__timer_disarm(h, t);
	if (h->n == h->cap)
		gh__panic("timer heap full (%zu): a slot was not reserved", h->cap);
	t->deadline = deadline;
	t->order = h->next_order++;
	place(h, h->n++, t);
	sift_up(h, t->index);
}

void gh__timer_disarm(struct gh__timer_heap *h, struct gh__timer *t)
{
	size_t i = t->index;
	struct gh__timer *last;

	if (i == GH__TIMER_IDLE)
		return;
	t->index = GH__TIMER_IDLE;
	last = h->v[--h->n];
	if (last == t)
		return;
	place(h, i, last);
	if (i > 0 && earlier(last, h->v[(i - 1) / 2]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

uint64_t gh__timer_next(const struct gh__timer_heap *h)
{
	return h->n ? h->v[0]->deadline : GH_NEVER;
}

size_t gh__timer_run(struct gh__timer_heap *h, uint64_t now)
{
	size_t fired = 0;

	while (h->n && h->v[0]->deadline <= now) {
		struct gh__timer *t = h->v[0];

		gh__timer_disarm(h, t);
		t->fire(t);
		fired++;
	}
	return fired;
}
