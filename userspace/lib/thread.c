// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Green threads: spawn, join, detach, cancel, names, yield and sleep.
 *
 * A thread's struct lives at the top of its own stack mapping (see struct gh__stack), so a
 * spawn with a warm stack pool allocates nothing. A finished thread keeps its mapping until it
 * is joined (it holds the result) or, if detached, until the hub loop releases it right after
 * it switched away for the last time.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

#define GH__ID_BLOCK 1024

static atomic_uint_fast64_t next_thread_id = 1;

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
	c->green = NULL;
	gh__switch(&t->ctx, &c->sched_ctx, true);
	gh__panic("finished green thread %llu was resumed", (unsigned long long)t->id);
}

struct gh_thread *gh__thread_create(struct gh_hub *hub, gh_fn fn, void *arg)
{
	struct gh__stack stack;
	struct gh_thread *t;
	int err;

	/* One timer slot per live thread, so arming a deadline can never fail later. */
	err = gh__timer_heap_reserve(&hub->timers, hub->live + 1);
	if (err)
		goto fail;
	err = gh__stack_get(&hub->stacks, &stack, sizeof(struct gh_thread));
	if (err)
		goto fail;
	t = (struct gh_thread *)((char *)stack.lo + stack.size);
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
	gh__list_push_back(&hub->threads, &t->all);
	gh__ctx_init(&t->ctx, stack.lo, stack.size, thread_main, t);
	t->state = GH__READY;
	gh__list_push_back(&hub->runq, &t->node);
	hub->runq_len++;
	hub->live++;
	return t;
fail:
	errno = -err;
	return NULL;
}

void gh__thread_free(struct gh_thread *t)
{
	struct gh_hub *hub = t->hub;
	struct gh__stack stack = t->stack; /* t lives inside the mapping it describes */

	gh__list_remove(&t->all);
	gh__ctx_destroy(&t->ctx);
	gh__stack_put(&hub->stacks, &stack);
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
	return gh__thread_create(self->hub, fn, arg);
}

gh_thread *gh_self(void)
{
	struct gh_thread *self = gh__thread_self();

	if (!self)
		errno = EPERM;
	return self;
}

/* The calling thread, if t is a thread of its hub: 0, or -EPERM / -EINVAL. */
static int check_same_hub(struct gh_thread **self, const struct gh_thread *t)
{
	*self = gh__thread_self();
	if (!*self)
		return -EPERM;
	if (!t || t->hub != (*self)->hub)
		return -EINVAL;
	return 0;
}

int gh_join(gh_thread *t, void **result)
{
	struct gh_thread *self;
	int err = check_same_hub(&self, t);

	if (err)
		return err;
	if (t == self)
		return -EDEADLK;
	if (t->detached || t->joining)
		return -EINVAL;
	if (t->state != GH__DONE) {
		t->joining = true;
		err = gh__park(&t->joiner, GH_NEVER);
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

int gh_detach(gh_thread *t)
{
	struct gh_thread *self;
	int err = check_same_hub(&self, t);

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

int gh_cancel(gh_thread *t)
{
	struct gh_thread *self;
	int err = check_same_hub(&self, t);

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

int gh_thread_set_name(gh_thread *t, const char *name)
{
	if (!t || !name)
		return -EINVAL;
	strncpy(t->name, name, sizeof(t->name) - 1);
	t->name[sizeof(t->name) - 1] = '\0';
	return 0;
}

const char *gh_thread_name(const gh_thread *t)
{
	if (!t) {
		errno = EINVAL;
		return NULL;
	}
	return t->name;
}

uint64_t gh_thread_id(const gh_thread *t)
{
	return t ? t->id : 0;
}

int gh_sleep_until(uint64_t deadline)
{
	struct gh_thread *self = gh__thread_self();
	int err;

	if (!self)
		return -EPERM;
	if (self->cancelled)
		return -ECANCELED;
	if (deadline <= gh_now())
		return gh_yield();
	err = gh__park(NULL, deadline);
	return err == -ETIMEDOUT ? 0 : err;
}
