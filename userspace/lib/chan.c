// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Channels: typed-by-size FIFO queues between the green threads of one hub.
 *
 * Elements are copied, never referenced. A channel has a ring buffer of up to `cap` elements
 * (none for a rendezvous channel, growing on demand for an unbounded one) and two FIFO queues
 * of waiters. Each waiter is a record on its own green stack that says where its element is:
 * a sender's element to take, or a receiver's slot to fill. The thread that finds a partner
 * waiting does the whole transfer and wakes the partner with 0, so a woken waiter never has
 * to retry, and waiters are served strictly in arrival order:
 *
 *   - send, receiver waiting (the buffer is then empty): copy into its slot, wake it.
 *   - send, room in the buffer: append.
 *   - recv, buffer not empty: take the head; then the first waiting sender's element moves
 *     into the freed place and that sender is woken.
 *   - recv, buffer empty, sender waiting (rendezvous only): copy from it, wake it.
 *
 * Waiters wait on no wait queue of the hub's (gh__wait(NULL, ...)): the channel's own lists
 * carry the per-waiter record. A wait that ends by deadline or cancellation unlinks its record
 * itself; one served or closed was unlinked by the waker.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ELEM_MAX 65536
#define UNBOUNDED_FIRST 16

/* A green thread waiting in gh_chan_send or gh_chan_recv; lives on that thread's stack. */
struct waiter {
	struct gh__list link;  /* in sendq or recvq while waiting; self-linked once served */
	struct gh_thread *t;
	void *elem;            /* the element to send, or where to put the one received */
};

struct gh_chan {
	size_t elem_size;
	size_t cap;        /* most elements buffered; GH_CHAN_UNBOUNDED for no limit */
	char *buf;         /* ring of slots elements; NULL for capacity 0 until needed */
	size_t slots;      /* allocated capacity of buf, in elements */
	size_t head, len;  /* first element and count */
	bool closed;
	struct gh__list sendq; /* struct waiter, FIFO; non-empty only while the buffer is full */
	struct gh__list recvq; /* struct waiter, FIFO; non-empty only while the buffer is empty */
};

gh_chan *gh_chan_create(size_t elem_size, size_t capacity)
{
	struct gh_chan *c;

	if (elem_size == 0 || elem_size > ELEM_MAX) {
		errno = EINVAL;
		return NULL;
	}
	c = gh__calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->elem_size = elem_size;
	c->cap = capacity;
	gh__list_init(&c->sendq);
	gh__list_init(&c->recvq);
	if (capacity && capacity != GH_CHAN_UNBOUNDED) {
		if (capacity > SIZE_MAX / elem_size || !(c->buf = malloc(capacity * elem_size))) {
			free(c);
			errno = capacity > SIZE_MAX / elem_size ? EINVAL : ENOMEM;
			return NULL;
		}
		c->slots = capacity;
	}
	return c;
}

int gh_chan_destroy(gh_chan *c)
{
	if (!c)
		return -EINVAL;
	if (!gh__list_empty(&c->sendq) || !gh__list_empty(&c->recvq))
		return -EBUSY;
	free(c->buf);
	free(c);
	return 0;
}

static void *slot(struct gh_chan *c, size_t i)
{
	return c->buf + ((c->head + i) % c->slots) * c->elem_size;
}

/* Make room for one more buffered element of an unbounded channel. The allocation may let the
 * hub's other green threads run (internal.h, no_handoff), which may send, receive or grow the
 * buffer themselves: the caller looks at the channel again once this returns. */
static int grow(struct gh_chan *c)
{
	size_t n = c->slots ? c->slots * 2 : UNBOUNDED_FIRST;
	struct gh__carrier *carrier = gh__carrier_self();
	struct gh_thread *self;
	char *buf, *old;

	if (n < c->slots || n > SIZE_MAX / c->elem_size)
		return -ENOMEM;
	buf = gh__malloc(n * c->elem_size);
	if (!buf)
		return -ENOMEM;
	if (n <= c->slots) {
		gh__free(buf); /* grown meanwhile */
		return 0;
	}
	/* Unwrap the ring, as it is now, into the new buffer, oldest first, and touch the rest:
	 * a page fault in fresh memory must not hand off, here or in a later send between its
	 * copy and its count (sched_ext mode hands off faults). */
	self = gh__no_handoff_begin(carrier);
	for (size_t i = 0; i < c->len; i++)
		memcpy(buf + i * c->elem_size, slot(c, i), c->elem_size);
	memset(buf + c->len * c->elem_size, 0, (n - c->len) * c->elem_size);
	old = c->buf;
	c->buf = buf;
	c->slots = n;
	c->head = 0;
	gh__no_handoff_end(carrier, self);
	gh__free(old);
	return 0;
}

static struct waiter *pop_waiter(struct gh__list *q)
{
	struct gh__list *n = gh__list_pop_front(q);

	return n ? GH_CONTAINER_OF(n, struct waiter, link) : NULL;
}

/* Wait in q with a record for elem; 0 once served, else why not. */
static int wait_in(struct gh__list *q, struct gh_thread *self, void *elem, uint64_t deadline)
{
	struct waiter w = { .t = self, .elem = elem };
	int err;

	if (deadline != GH_NEVER && deadline <= gh_now())
		return -ETIMEDOUT;
	gh__list_push_back(q, &w.link);
	err = gh__wait(NULL, deadline);
	/* Served and closed waiters were unlinked by their waker; this is a no-op for them. */
	gh__list_remove(&w.link);
	return err;
}

int gh_chan_send(gh_chan *c, const void *elem, uint64_t deadline)
{
	struct gh_thread *self;
	struct waiter *w;
	int err = gh__may_wait(&self, c && elem);

	if (err)
		return err;
	for (;;) {
		if (c->closed)
			return -EPIPE;
		w = pop_waiter(&c->recvq);
		if (w) {
			memcpy(w->elem, elem, c->elem_size);
			gh__wake(w->t, 0);
			return 0;
		}
		if (c->len >= c->cap)
			return wait_in(&c->sendq, self, (void *)elem, deadline);
		if (c->len < c->slots) {
			memcpy(slot(c, c->len), elem, c->elem_size);
			c->len++;
			return 0;
		}
		err = grow(c);
		if (err)
			return err;
	}
}

int gh_chan_recv(gh_chan *c, void *elem, uint64_t deadline)
{
	struct gh_thread *self;
	struct waiter *w;
	int err = gh__may_wait(&self, c && elem);

	if (err)
		return err;
	if (c->len) {
		memcpy(elem, slot(c, 0), c->elem_size);
		c->head = (c->head + 1) % c->slots;
		c->len--;
		w = pop_waiter(&c->sendq);
		if (w) {
			memcpy(slot(c, c->len), w->elem, c->elem_size);
			c->len++;
			gh__wake(w->t, 0);
		}
		return 0;
	}
	w = pop_waiter(&c->sendq);
	if (w) {
		memcpy(elem, w->elem, c->elem_size);
		gh__wake(w->t, 0);
		return 0;
	}
	if (c->closed)
		return -EPIPE;
	return wait_in(&c->recvq, self, elem, deadline);
}

int gh_chan_close(gh_chan *c)
{
	struct waiter *w;

	if (!gh__thread_self())
		return -EPERM;
	if (!c)
		return -EINVAL;
	if (c->closed)
		return -EPIPE;
	c->closed = true;
	while ((w = pop_waiter(&c->recvq)))
		gh__wake(w->t, -EPIPE);
	while ((w = pop_waiter(&c->sendq)))
		gh__wake(w->t, -EPIPE);
	return 0;
}

size_t gh_chan_len(const gh_chan *c)
{
	return c ? c->len : 0;
}
