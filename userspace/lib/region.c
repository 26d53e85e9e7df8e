// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Blocking regions: the explicit way to tell the hub that a call may block, for mode none.
 *
 * Entering a region marks the baton word (RUN(t) -> RUN(t)+REGION, one CAS, no syscall) and so
 * releases it to the sysmon: if the sysmon sees the same region at two consecutive ticks it
 * moves the baton to HANDOFF(t) and wakes a spare. Leaving the region takes the REGION flag
 * off again with one CAS when nobody touched the baton; otherwise the carrier re-acquires the
 * hub through the protocol (transitions 2 to 5, baton.c), waiting for a hand-back if another
 * carrier runs the hub.
 *
 * Between begin and end the carrier may no longer own the hub, so the code inside must be
 * plain C: greenhub calls made there see no green thread and return -EPERM.
 */
#include <errno.h>

#include "internal.h"

int gh_blocking_begin(void)
{
	struct gh__carrier *c = gh__carrier_self();
	struct gh_hub *hub;
	__u64 b;

	if (!c || !c->green)
		return -EPERM;
	if (c->region_depth++)
		return 0;
	hub = c->hub;
	/* Only this carrier changes RUN(c) while it runs, but a kernel side may move the baton
	 * while it sleeps (a page fault under sched_ext) and give it back before it runs again:
	 * so CAS, and retry. */
	do {
		b = __atomic_load_n(&hub->slot->baton, __ATOMIC_RELAXED);
		if (gh__baton_stale(hub, c, b)) {
			gh__baton_reclaim(hub, c, b);
			b = __atomic_load_n(&hub->slot->baton, __ATOMIC_RELAXED);
		}
		if (gh_baton_state(b) != GH_BATON_RUN || gh_baton_tid(b) != (__u32)c->tid ||
		    gh_baton_in_region(b))
			gh__panic("gh_blocking_begin on carrier %d without the baton (%#llx)",
				  (int)c->tid, (unsigned long long)b);
	} while (!__atomic_compare_exchange_n(&hub->slot->baton, &b,
					      gh_baton_next(b, GH_BATON_RUN, (__u32)c->tid) |
						      GH_BATON_REGION,
					      false, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	if (GH_UNLIKELY(atomic_load_explicit(&gh__sysmon_deep, memory_order_relaxed)) &&
	    atomic_exchange(&gh__sysmon_deep, 0))
		gh__sysmon_kick();
	return 0;
}

/* The slow path: somebody moved the baton while we were in the region. */
static void __attribute__((noinline)) end_slow(struct gh_hub *hub, struct gh__carrier *c)
{
	int saved_errno = errno;

	gh__carrier_reacquire(hub, c);
	errno = saved_errno;
}

int gh_blocking_end(void)
{
	struct gh__carrier *c = gh__carrier_self();
	struct gh_hub *hub;
	__u64 b;

	if (!c || !c->green)
		return -EPERM;
	if (!c->region_depth)
		return -EINVAL;
	if (--c->region_depth)
		return 0;
	hub = c->hub;
	b = __atomic_load_n(&hub->slot->baton, __ATOMIC_RELAXED);
	if (!(gh_baton_state(b) == GH_BATON_RUN && gh_baton_tid(b) == (__u32)c->tid &&
	      gh_baton_in_region(b) &&
	      __atomic_compare_exchange_n(&hub->slot->baton, &b,
					  gh_baton_next(b, GH_BATON_RUN, (__u32)c->tid), false,
					  __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
		end_slow(hub, c);
	gh__check_runner(hub, c);
	return 0;
}
