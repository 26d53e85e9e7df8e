/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The library's intrusive list: circular and doubly linked, with the node embedded in the
 * struct it links (GH_CONTAINER_OF, internal.h, gets the struct back). An unlinked node points
 * to itself, so removing a node twice is harmless and gh__list_empty() on a node tells whether
 * it is linked.
 */
#ifndef GREENHUB_LIST_H
#define GREENHUB_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct gh__list {
	struct gh__list *next, *prev;
};

static inline void gh__list_init(struct gh__list *l)
{
	l->next = l->prev = l;
}

static inline bool gh__list_empty(const struct gh__list *l)
{
	return l->next == l;
}

static inline void gh__list_push_back(struct gh__list *l, struct gh__list *n)
{
	n->prev = l->prev;
	n->next = l;
	l->prev->next = n;
	l->prev = n;
}

static inline void gh__list_remove(struct gh__list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}

static inline struct gh__list *gh__list_pop_front(struct gh__list *l)
{
	struct gh__list *n = l->next;

	if (n == l)
		return NULL;
	gh__list_remove(n);
	return n;
}

/* Move the nodes that follow after (a node of l, or l itself) to the front of l, in order. */
static inline void gh__list_move_after_to_front(struct gh__list *l, struct gh__list *after)
{
	struct gh__list *first = after->next, *last = l->prev;

	if (after == l || first == l)
		return;
	after->next = l;
	l->prev = after;
	last->next = l->next;
	l->next->prev = last;
	l->next = first;
	first->prev = l;
}

#endif /* GREENHUB_LIST_H */
