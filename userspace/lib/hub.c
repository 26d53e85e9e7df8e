// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The hub's life: its options, gh_hub_create, gh_hub_run, gh_hub_destroy, and its statistics.
 * What a running hub does is elsewhere: the scheduler and the carrier loop (sched.c), the
 * baton protocol (baton.c), carriers and spares (carrier.c, spare.c), timers and the poller
 * (timer.c, poller.c), the sysmon (sysmon.c) and the kernel-assist mode (backend.c).
 *
 * A run
 *   gh_hub_run claims the hub (two OS threads cannot both run it), picks and attaches a mode,
 *   makes the calling thread the first carrier and the owner of the baton, spawns the main
 *   green thread, starts the first spares and shows the hub to the sysmon. The carrier loop
 *   returns once every green thread has finished; the spares are then joined, the threads
 *   nobody joined are freed, and the mode is detached.
 *
 * Who touches what is said part by part in struct gh_hub (internal.h): what gh_hub_run sets
 * before the run is read-only while it lasts, the green-thread state belongs to the carrier
 * that holds the baton, and other OS threads reach a running hub only through its completion
 * stack, its eventfd, its slot and the carrier lists under carrier_lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"

void gh_hub_opts_init(struct gh_hub_opts *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->sz = sizeof(*opts);
	opts->stack_size = 256 * 1024;
	opts->stack_cache = 1024;
	opts->mode = GH_MODE_AUTO;
	opts->min_spares = 1;
	opts->max_spares = 256;
	opts->sysmon_ns = 20000;
	opts->spare_idle_ns = 10ull * 1000000000u;
}

/* Copy user options, accepting an older (shorter) struct. A larger sz than this library knows
 * is refused without reading past the fields it knows: nothing says the caller's object really
 * is that large (a wrong sz would make the check itself read out of bounds). */
static int opts_copy(struct gh_hub_opts *dst, const struct gh_hub_opts *src)
{
	size_t sz;

	gh_hub_opts_init(dst);
	if (!src)
		return 0;
	sz = src->sz;
	if (sz < sizeof(src->sz) || sz > sizeof(*dst))
		return -EINVAL;
	memcpy(dst, src, sz);
	dst->sz = sizeof(*dst);
	if (dst->stack_size < GH_STACK_MIN || dst->stack_size > GH_STACK_MAX)
		return -EINVAL;
	if (dst->stack_cache > (1u << 20))
		return -EINVAL;
	if (dst->max_spares < 1 || dst->max_spares > 4096 || dst->min_spares > dst->max_spares)
		return -EINVAL;
	if (dst->sysmon_ns < 1000 || dst->sysmon_ns > 1000000000u)
		return -EINVAL;
	if (dst->stall_ns && dst->stall_ns != GH_STALL_OFF &&
	    (dst->stall_ns < GH_STALL_MIN_NS || dst->stall_ns > GH_STALL_MAX_NS))
		return -EINVAL;
	switch (dst->mode) {
	case GH_MODE_AUTO:
	case GH_MODE_NONE:
		break;
	case GH_MODE_TRACE:
	case GH_MODE_SCHED_EXT:
		/* Whether it can run is decided by gh_hub_run (the loader may start later). */
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

gh_hub *gh_hub_create(const struct gh_hub_opts *opts)
{
	struct gh_hub *hub;
	int err;

	hub = gh__calloc(1, sizeof(*hub));
	if (!hub)
		return NULL;
	err = opts_copy(&hub->opts, opts);
	if (err)
		goto fail_free;
	gh__list_init(&hub->runq);
	gh__list_init(&hub->threads);
	gh__list_init(&hub->carriers);
	gh__list_init(&hub->parked);
	gh__list_init(&hub->retiring);
	gh__list_init(&hub->sysmon_link);
	gh__timer_heap_init(&hub->timers);
	hub->slot = &hub->slot_mem;
	hub->slot_index = GH__NO_SLOT;
	hub->slot->baton = gh_baton_next(0, GH_BATON_FREE, 0);
	hub->mode = GH_MODE_NONE;
	hub->backend = &gh__backend_none;
	err = gh__stack_pool_init(&hub->stacks, hub->opts.stack_size, hub->opts.stack_cache);
	if (err)
		goto fail_free;
	err = -pthread_mutex_init(&hub->carrier_lock, NULL);
	if (err)
		goto fail_stacks;
	err = gh__poller_init(hub);
	if (err)
		goto fail_mutex;
	return hub;

fail_mutex:
	pthread_mutex_destroy(&hub->carrier_lock);
fail_stacks:
	gh__stack_pool_fini(&hub->stacks);
fail_free:
	free(hub);
	errno = -err;
	return NULL;
}

int gh_hub_destroy(gh_hub *hub)
{
	if (!hub)
		return -EINVAL;
	if (atomic_load(&hub->running))
		return -EBUSY;
	/* Posts made since the last run (or to a hub that never ran) are dropped unrun. */
	gh__posts_free(hub);
	gh__poller_fini(hub);
	gh__stack_pool_fini(&hub->stacks);
	gh__thread_descriptors_fini(hub);
	gh__timer_heap_fini(&hub->timers);
	pthread_mutex_destroy(&hub->carrier_lock);
	free(hub);
	return 0;
}

gh_hub *gh_hub_current(void)
{
	struct gh_thread *self = gh__thread_self();

	if (!self) {
		errno = EPERM;
		return NULL;
	}
	return self->hub;
}

enum gh_mode gh_hub_mode(const gh_hub *hub)
{
	return hub ? hub->mode : GH_MODE_NONE;
}

const char *gh_mode_name(enum gh_mode mode)
{
	switch (mode) {
	case GH_MODE_AUTO:
		return "auto";
	case GH_MODE_NONE:
		return "none";
	case GH_MODE_TRACE:
		return "trace";
	case GH_MODE_SCHED_EXT:
		return "sched_ext";
	}
	return "unknown";
}

int gh_hub_stats(const gh_hub *hub, struct gh_hub_stats *st)
{
	const struct gh_hub_slot *slot;
	size_t sz;
	struct gh_hub_stats s;

	if (!hub || !st || st->sz < sizeof(st->sz))
		return -EINVAL;
	slot = hub->slot;
	memset(&s, 0, sizeof(s));
	s.sz = sizeof(s);
	s.mode = hub->mode;
	s.handoffs = __atomic_load_n(&slot->nr_handoffs, __ATOMIC_RELAXED);
	s.takeovers = __atomic_load_n(&slot->nr_takeovers, __ATOMIC_RELAXED);
	s.cancels = __atomic_load_n(&slot->nr_cancels, __ATOMIC_RELAXED);
	s.holds = __atomic_load_n(&slot->nr_holds, __ATOMIC_RELAXED);
	s.handbacks = __atomic_load_n(&slot->nr_handbacks, __ATOMIC_RELAXED);
	s.idle_returns = __atomic_load_n(&slot->nr_idle_returns, __ATOMIC_RELAXED);
	s.stalled_ns = __atomic_load_n(&slot->stalled_ns, __ATOMIC_RELAXED);
	s.spares_started = atomic_load_explicit(&hub->spares_started, memory_order_relaxed);
	s.spares_retired = atomic_load_explicit(&hub->spares_retired, memory_order_relaxed);
	sz = st->sz < sizeof(s) ? st->sz : sizeof(s);
	memcpy(st, &s, sz);
	st->sz = sz;
	return 0;
}

int gh_hub_run(gh_hub *hub, gh_fn fn, void *arg, void **result)
{
	struct gh__carrier *carrier;
	struct gh_thread *main_thread;
	struct gh__list *n;
	void *main_result;
	int err;

	if (!hub || !fn)
		return -EINVAL;
	if (gh__carrier_self())
		return -EDEADLK;
	if (atomic_exchange(&hub->running, true))
		return -EBUSY;
	err = gh__overflow_reporter_install();
	if (!err)
		err = gh__fork_handlers_install();
	if (err)
		goto out_unclaim;
	err = -pthread_sigmask(SIG_BLOCK, NULL, &hub->app_mask);
	if (err)
		goto out_unclaim;
	err = gh__backend_start(hub);
	if (err)
		goto out_unclaim;
	/* The calling thread is the hub's first carrier. Its struct is large (the poll buffer),
	 * so it is not on the caller's stack. */
	carrier = calloc(1, sizeof(*carrier));
	if (!carrier) {
		err = -ENOMEM;
		goto out_backend;
	}
	gh__list_init(&carrier->link);
	gh__list_init(&carrier->park_link);
	hub->first_carrier = pthread_self();
	atomic_init(&carrier->wake_word, 0);
	{
		char why[256];
		size_t used;

		err = gh__carrier_init(hub, carrier, why, sizeof(why));
		if (err) {
			used = strlen(hub->mode_reason);
			snprintf(hub->mode_reason + used, sizeof(hub->mode_reason) - used,
				 "%shub not started: %s", used ? "; " : "", why);
			goto out_free;
		}
	}

	hub->deadlocked = false;
	atomic_store(&hub->stopping, false);
	main_thread = gh__thread_create(hub, fn, arg);
	if (!main_thread) {
		err = -errno;
		goto out_carrier;
	}
	gh__thread_name(main_thread, "main");
	/* gh_hub_run collects main's result itself: nobody may join or detach it. */
	main_thread->joining = true;
	/* The first carrier starts as the owner. */
	gh__baton_first_owner(hub, carrier);
	/* Spares for the first block: started here rather than by the sysmon, so that a block
	 * right at the start of the run finds one (they park on their own, soon after). */
	for (unsigned i = 0; i < hub->opts.min_spares; i++)
		if (gh__spare_start(hub))
			break; /* the sysmon keeps trying */
	gh__stall_start(hub);
	err = gh__sysmon_add(hub);
	if (err)
		goto out_main;
	/* Posts are taken from here until the carrier loop ends the run (post.c). */
	gh__posts_open(hub);

	gh__carrier_loop(hub, carrier);

	gh__sysmon_remove(hub);
	gh__carriers_stop(hub);
	main_result = main_thread->result;
	/* Everything has finished; unjoined threads are freed, as documented. */
	while ((n = gh__list_pop_front(&hub->threads))) {
		gh__list_init(n);
		gh__thread_free(GH_CONTAINER_OF(n, struct gh_thread, all));
	}
	if (result)
		*result = main_result;
	err = hub->deadlocked ? -EDEADLK : 0;
	goto out_carrier;

out_main:
	gh__carriers_stop(hub);
	gh__list_remove(&main_thread->all);
	gh__list_remove(&main_thread->node);
	hub->runq_len--;
	hub->live--;
	gh__thread_free(main_thread);
out_carrier:
	gh__baton_clear(hub);
	gh__carrier_fini(carrier);
out_free:
	free(carrier);
out_backend:
	gh__backend_stop(hub);
out_unclaim:
	atomic_store(&hub->running, false);
	return err;
}
