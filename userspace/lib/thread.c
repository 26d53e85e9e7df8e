// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Green threads: spawn, join, detach, cancel, names, yield and sleep.
 *
 * A thread's descriptor comes from its hub's free list and its stack from the hub's stack pool,
 * so a spawn with both warm allocates nothing. A finished thread keeps its stack until it is
 * joined (the descriptor holds the result) or, if detached, until the hub loop releases it right
 * after it switched away for the last time. Handles carry the descriptor's generation (struct
 * gh_thread): a second join or detach of a thread that is gone gets -ESRCH instead of freeing
 * its stack twice.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "switch_point.h"

#define GH__ID_BLOCK 1024
/* Descriptors allocated at once when the free list is empty. */
#define GH__THREAD_CHUNK 64

struct gh__thread_chunk {
	struct gh__thread_chunk *next;
	struct gh_thread threads[GH__THREAD_CHUNK];
};

static atomic_uint_fast64_t next_thread_id = 1;

/* Inside a blocking region the carrier may no longer hold the baton, so no runtime call that
 * touches the hub is allowed: they all see no green thread and return -EPERM. */
struct gh_thread *gh__thread_self(void)
{
	struct gh__carrier *c = gh__carrier_self();

	return c && !c->region_depth ? c->green : NULL;
}

static void on_deadline(struct gh__timer *timer)
{
	gh__wake(GH_CONTAINER_OF(timer, struct gh_thread, timer), -ETIMEDOUT);
}

/* The bottom frame of every green thread. */
static void thread_main(void *arg)
{
	struct gh_thread *t = arg;
	struct gh_hub *hub;
	struct gh__carrier *c;

	gh__ctx_started(&t->ctx);
	gh__check_runner(t->hub, gh__carrier_self());
	t->result = t->fn(t->arg);
	/* Re-read after fn: the thread may have moved to another carrier meanwhile. */
	c = gh__carrier_self();
	hub = t->hub;
	if (!c)
		gh__panic("green thread '%s' (id %llu) returned in a child of fork(): the child's hubs "
			  "are its parent's; the child must exec or _exit",
			  t->name, (unsigned long long)t->id);
	if (c->region_depth)
		gh__panic("green thread '%s' (id %llu) returned inside a blocking region: "
			  "gh_blocking_begin() without gh_blocking_end()",
			  t->name, (unsigned long long)t->id);
	gh__check_runner(hub, c);
	t->state = GH__DONE;
	hub->live--;
	gh__waitq_wake_one(&t->joiner, 0);
#ifndef GH_ASAN /* ASan must hear that this stack ends: keep the hub loop's path there */
	if (!t->detached) {
		/* Its joiner frees it, off this stack: go straight on to the next ready thread
		 * (the joiner, usually) rather than through the hub loop. */
		gh__switch_out_on(hub, c, t);
		gh__panic("finished green thread %llu was resumed", (unsigned long long)t->id);
	}
#endif
	/* Detached: leave this stack for good; the hub loop releases it. */
	hub->dying = t;
	GH__PROBE_STOP(hub->slot_index);
	c->green = NULL;
	gh__switch(&t->ctx, &c->sched_ctx, true);
	gh__panic("finished green thread %llu was resumed", (unsigned long long)t->id);
}

/* A free descriptor of hub; NULL if memory runs out. Chunks are hub memory (hub_mem.c): the hub
 * loop and switch points take descriptors too, for posted functions. */
static struct gh_thread *descriptor_get(struct gh_hub *hub)
{
	struct gh_thread *t = hub->free_threads;

	if (!t) {
		struct gh__thread_chunk *chunk = gh__hub_mem_map(sizeof(*chunk));

		if (!chunk)
			return NULL;
		chunk->next = hub->thread_chunks;
		hub->thread_chunks = chunk;
		for (int i = GH__THREAD_CHUNK - 1; i >= 0; i--) {
			chunk->threads[i].state = GH__FREE;
			chunk->threads[i].free_next = hub->free_threads;
			hub->free_threads = &chunk->threads[i];
		}
		t = hub->free_threads;
	}
	hub->free_threads = t->free_next;
	return t;
}

void gh__thread_descriptors_fini(struct gh_hub *hub)
{
	struct gh__thread_chunk *chunk, *next;

	for (chunk = hub->thread_chunks; chunk; chunk = next) {
		next = chunk->next;
		gh__hub_mem_unmap(chunk, sizeof(*chunk));
	}
	hub->thread_chunks = NULL;
	hub->free_threads = NULL;
}

struct gh_thread *gh__thread_of(const gh_thread *handle)
{
	uintptr_t h = (uintptr_t)handle;
	struct gh_thread *t = (struct gh_thread *)(h & ((1ull << GH__HANDLE_GEN_SHIFT) - 1));

	if (!t || t->gen != (uint16_t)(h >> GH__HANDLE_GEN_SHIFT) || t->state == GH__FREE)
		return NULL;
	return t;
}

struct gh_thread *gh__thread_create(struct gh_hub *hub, gh_fn fn, void *arg)
{
	struct gh__stack stack;
	struct gh_thread *t;
	int err;

	t = descriptor_get(hub);
	if (!t) {
		err = -ENOMEM;
		goto fail;
	}
	err = gh__stack_get(&hub->stacks, &stack, 0);
	if (err)
		goto fail_descriptor;
	/* Field by field rather than memset: the struct is big enough for the compiler to pick
	 * `rep stos`, whose start-up cost alone was a tenth of a warm spawn. */
	t->result = NULL;
	t->detached = t->joining = t->cancelled = t->uncancellable_wait = false;
	t->waitq = NULL;
	t->wake_result = 0;
	t->wait_events = 0;
	t->remote_next = NULL;
	t->timer.deadline = 0;
	t->timer.order = 0;
	t->name[0] = '\0';
	t->stack = stack;
	t->hub = hub;
	t->fn = fn;
	t->arg = arg;
	/* Ids come from the process-wide counter in blocks, so a spawn costs no atomic. */
	if (hub->next_id == hub->end_id) {
		hub->next_id = atomic_fetch_add_explicit(&next_thread_id, GH__ID_BLOCK,
							 memory_order_relaxed);
		hub->end_id = hub->next_id + GH__ID_BLOCK;
	}
	t->id = hub->next_id++;
	gh__list_init(&t->node);
	t->timer.index = GH__TIMER_IDLE;
	t->timer.fire = on_deadline;
	gh__waitq_init(&t->joiner);
	gh__ctx_init(&t->ctx, stack.lo, stack.size, thread_main, t);
	/* One timer slot per live thread, so arming a deadline can never fail later. Made last:
	 * from the check to the thread counted live nothing may sleep or touch fresh memory
	 * (the new stack's first frame, above), where green code could be handed off (a page
	 * fault in sched_ext mode) and another spawn take the slot (internal.h, no_handoff). The
	 * growth itself hands nothing off (hub memory). */
	err = gh__timer_heap_grow(&hub->timers, hub->live + 1);
	if (err) {
		gh__ctx_destroy(&t->ctx);
		gh__stack_put(&hub->stacks, &stack);
		goto fail_descriptor;
	}
	gh__list_push_back(&hub->threads, &t->all);
	gh__runq_push(hub, t);
	hub->live++;
	return t;
fail_descriptor:
	t->free_next = hub->free_threads;
	hub->free_threads = t;
fail:
	errno = -err;
	return NULL;
}

void gh__thread_free(struct gh_thread *t)
{
	struct gh_hub *hub = t->hub;

	gh__list_remove(&t->all);
	gh__ctx_destroy(&t->ctx);
	gh__stack_put(&hub->stacks, &t->stack);
	/* Every handle handed out so far is stale from here on. */
	t->gen++;
	t->state = GH__FREE;
	t->free_next = hub->free_threads;
	hub->free_threads = t;
}

gh_thread *gh_spawn(gh_fn fn, void *arg)
{
	struct gh_thread *self = gh__thread_self();

	if (!self) {
		errno = EPERM;
		return NULL;
	}
	if (!fn) {
		errno = EINVAL;
		return NULL;
	}
	struct gh_thread *t = gh__thread_create(self->hub, fn, arg);

	return t ? gh__thread_handle(t) : NULL;
}

gh_thread *gh_self(void)
{
	struct gh_thread *self = gh__thread_self();

	if (!self) {
		errno = EPERM;
		return NULL;
	}
	return gh__thread_handle(self);
}

/* The calling thread, and the thread behind handle h if it is a live thread of the same hub:
 * 0, or -EPERM (not in a green thread), -EINVAL (no handle, or another hub's thread), -ESRCH
 * (a thread that was joined or detached and is gone). */
static int check_same_hub(struct gh_thread **self, const gh_thread *h, struct gh_thread **t)
{
	*self = gh__thread_self();
	if (!*self)
		return -EPERM;
	if (!h)
		return -EINVAL;
	*t = gh__thread_of(h);
	if (!*t)
		return -ESRCH;
	if ((*t)->hub != (*self)->hub)
		return -EINVAL;
	return 0;
}

int gh_join(gh_thread *h, void **result)
{
	struct gh_thread *self, *t = NULL;
	int err = check_same_hub(&self, h, &t);

	if (err)
		return err;
	if (t == self)
		return -EDEADLK;
	if (t->detached || t->joining)
		return -EINVAL;
	if (t->state != GH__DONE) {
		t->joining = true;
		err = gh__wait(&t->joiner, GH_NEVER);
		if (err < 0) {
			t->joining = false;
			return err;
		}
	}
	if (result)
		*result = t->result;
	gh__thread_free(t);
	return 0;
}

int gh_detach(gh_thread *h)
{
	struct gh_thread *self, *t = NULL;
	int err = check_same_hub(&self, h, &t);

	if (err)
		return err;
	if (t->detached || t->joining)
		return -EINVAL;
	if (t->state == GH__DONE && t != self) {
		gh__thread_free(t);
		return 0;
	}
	t->detached = true;
	return 0;
}

int gh_cancel(gh_thread *h)
{
	struct gh_thread *self, *t = NULL;
	int err = check_same_hub(&self, h, &t);

	if (err)
		return err;
	if (t->state == GH__DONE)
		return -EINVAL;
	t->cancelled = true;
	if (t->state == GH__WAITING && !t->uncancellable_wait)
		gh__wake(t, -ECANCELED);
	return 0;
}

int gh_cancelled(void)
{
	struct gh_thread *self = gh__thread_self();

	if (!self)
		return -EPERM;
	return self->cancelled;
}

void gh__thread_name(struct gh_thread *t, const char *name)
{
	strncpy(t->name, name, sizeof(t->name) - 1);
	t->name[sizeof(t->name) - 1] = '\0';
}

int gh_thread_set_name(gh_thread *h, const char *name)
{
	struct gh_thread *t = gh__thread_of(h);
	struct gh__carrier *c = gh__carrier_self();

	if (!h || !name)
		return -EINVAL;
	if (!t)
		return -ESRCH;
	gh__thread_name(t, name);
	/* A thread that names itself may run on without another switch (a blocking call it makes
	 * next is handed off and its carrier gets the hub back without one): publish the new
	 * name now for the block records, whether or not a reader is attached yet (one may attach
	 * before its next switch in), rather than at that switch. */
	if (c && c->green == t)
		gh__green_publish_name(c, t);
	return 0;
}

const char *gh_thread_name(const gh_thread *h)
{
	struct gh_thread *t = gh__thread_of(h);

	if (!t) {
		errno = h ? ESRCH : EINVAL;
		return NULL;
	}
	return t->name;
}

uint64_t gh_thread_id(const gh_thread *h)
{
	struct gh_thread *t = gh__thread_of(h);

	return t ? t->id : 0;
}

/* Both sleeps: the running thread waits on its timer alone until deadline, or yields if it
 * is not after now, a read of the clock the caller made. */
static int sleep_until(uint64_t deadline, uint64_t now)
{
	struct gh_thread *self = gh__thread_self();
	int err;

	if (!self)
		return -EPERM;
	if (self->cancelled)
		return -ECANCELED;
	if (deadline <= now)
		return gh_yield();
	err = gh__wait(NULL, deadline);
	return err == -ETIMEDOUT ? 0 : err;
}

int gh_sleep_until(uint64_t deadline)
{
	return sleep_until(deadline, gh_now());
}

int gh_sleep(uint64_t ns)
{
	uint64_t now = gh_now();

	/* A sleep past the end of the clock has no deadline: it ends when cancelled. A zero
	 * sleep's deadline is now: it yields. */
	return sleep_until(ns < GH_NEVER - now ? now + ns : GH_NEVER, now);
}
