// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Posts: gh_hub_post(hub, fn, arg) from any OS thread runs fn(arg) as a new detached green
 * thread of hub.
 *
 * A post is a small node pushed onto hub->posts, a lock-free stack like the remote
 * completions' (sched.c): any thread pushes, the baton holder takes the whole stack at once
 * (gh__posts_run), reverses it and spawns one green thread per node, oldest first. The push
 * that finds the stack empty writes the hub's eventfd, so an idle hub leaves its poll at once;
 * a busy hub also looks at the stack between rounds (sched.c, round_housekeeping).
 *
 * Open and closed
 *   The stack holds GH__POSTS_CLOSED while the hub takes no posts: from the end of a run to the
 *   start of the next. A new hub is open (NULL), so posts made before the first run wait for
 *   it. The run ends only by swapping an empty stack for CLOSED (gh__posts_close); a post that
 *   got in first makes that fail, and the hub runs it instead. So a post either returns 0 and
 *   runs, or returns -ESHUTDOWN: none is accepted and then dropped, except by gh_hub_destroy of
 *   a hub that never ran them (gh__posts_free).
 *
 * Who touches what
 *   hub->posts: any thread (CAS push), the baton holder (exchange), gh_hub_run and
 *   gh_hub_destroy while no carrier runs. hub->post_fifo and post_fifo_tail: the baton
 *   holder only.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

struct gh__post {
	gh_fn fn;
	void *arg;
	struct gh__post *next;
};

int gh_hub_post(gh_hub *hub, gh_fn fn, void *arg)
{
	struct gh__post *p, *head;

	if (!hub || !fn)
		return -EINVAL;
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	head = atomic_load_explicit(&hub->posts, memory_order_relaxed);
	do {
		if (head == GH__POSTS_CLOSED) {
			free(p);
			return -ESHUTDOWN;
		}
		p->next = head;
		/* Release: the node's fields are seen by the hub that takes it (acquire). */
	} while (!atomic_compare_exchange_weak_explicit(&hub->posts, &head, p,
							memory_order_release,
							memory_order_relaxed));
	/* One eventfd write per batch: the hub takes the whole stack when it wakes. Kicking a
	 * hub that does not run yet is harmless: its first poll finds the fd readable. */
	if (!head)
		gh__poller_kick(hub);
	return 0;
}

/* Move every pushed post to the end of the hub's FIFO, oldest first. */
static void posts_take(struct gh_hub *hub)
{
	struct gh__post *p, *fifo = NULL, *last;

	p = atomic_exchange_explicit(&hub->posts, NULL, memory_order_acquire);
	if (!p)
		return;
	last = p;
	/* The stack is newest first; reverse it so that each poster's posts run in order. */
	while (p) {
		struct gh__post *next = p->next;

		p->next = fifo;
		fifo = p;
		p = next;
	}
	if (hub->post_fifo_tail)
		hub->post_fifo_tail->next = fifo;
	else
		hub->post_fifo = fifo;
	hub->post_fifo_tail = last;
}

/* Most posts spawned at a time: a flood of posts becomes green threads a batch per round
 * (or per pass of the hub loop), not all at once, so that it does not take a stack each
 * before any of them has run. */
#define POST_SPAWN_BATCH 128

/* A posted function's green thread. Its node is freed here, by green code, where a free that
 * sleeps may let the hub's other green threads run: the hub loop and switch points, which spawn
 * it, must never wait on the allocator's lock (hub_mem.c says why). After the function: posts
 * start in the order they were posted, and a handoff in the free would let later posts start
 * first. */
static void *post_main(void *arg)
{
	struct gh__post *p = arg;
	void *result = p->fn(p->arg);

	free(p);
	return result;
}

/* Spawn a detached green thread for each post at the front of the FIFO, up to a batch. One
 * that cannot be spawned (no memory for its stack) stays first in the FIFO and is tried again
 * later (gh__posts_pending keeps the hub running and its idle poll short). */
static void posts_spawn(struct gh_hub *hub)
{
	struct gh__post *p;

	for (unsigned n = 0; n < POST_SPAWN_BATCH && (p = hub->post_fifo); n++) {
		struct gh__post *next = p->next; /* p is the new thread's, to free once it runs */
		struct gh_thread *t = gh__thread_create(hub, post_main, p);

		if (!t)
			return;
		t->detached = true;
		gh__thread_name(t, "post");
		hub->post_fifo = next;
		if (!hub->post_fifo)
			hub->post_fifo_tail = NULL;
	}
}

void gh__posts_run(struct gh_hub *hub)
{
	posts_take(hub);
	posts_spawn(hub);
}

bool gh__posts_close(struct gh_hub *hub)
{
	struct gh__post *empty = NULL;

	if (hub->post_fifo)
		return false;
	/* Acq_rel: a post that sees CLOSED happened after the run, as far as it can tell. */
	return atomic_compare_exchange_strong_explicit(&hub->posts, &empty, GH__POSTS_CLOSED,
						       memory_order_acq_rel,
						       memory_order_relaxed);
}

void gh__posts_open(struct gh_hub *hub)
{
	struct gh__post *closed = GH__POSTS_CLOSED;

	/* Fails, leaving them queued, if posts came before this run (the hub never ran). */
	atomic_compare_exchange_strong_explicit(&hub->posts, &closed, NULL, memory_order_relaxed,
						memory_order_relaxed);
}

void gh__posts_free(struct gh_hub *hub)
{
	struct gh__post *p = atomic_exchange_explicit(&hub->posts, GH__POSTS_CLOSED,
						      memory_order_acquire);

	if (p == GH__POSTS_CLOSED)
		p = NULL;
	while (p) {
		struct gh__post *next = p->next;

		free(p);
		p = next;
	}
	for (p = hub->post_fifo; p; p = hub->post_fifo) {
		hub->post_fifo = p->next;
		free(p);
	}
	hub->post_fifo_tail = NULL;
}
