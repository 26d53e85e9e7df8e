// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Spare carriers: threads the runtime starts (gh__spare_start: gh_hub_run for the first ones,
 * then the sysmon) so that a handoff finds a carrier to take the hub at once. A carrier that
 * has nothing to run, or lost the hub, parks as a spare (gh__spare_park, from the carrier loop
 * in sched.c), the application's thread that called gh_hub_run included; it is woken for a
 * handoff (by the sysmon, or a kernel side), for a retirement when it idled longer than
 * opts.spare_idle_ns, or for the hub's stop.
 *
 * Locking
 *   The carrier lists and the parking state (struct gh_hub's carriers, parked, retiring and
 *   their counts, each carrier's link, park_link, parked, fresh, retire) are under
 *   hub->carrier_lock. It is never held while waiting for the baton or a hand-back, and the
 *   hub loop and switch points never take it (baton.c: the owner's paths are lock-free). A
 *   spare publishes itself as parked under it and then looks at the baton once more: the
 *   sysmon, which sets HANDOFF and then takes the lock to pop a spare, finds it, or it finds
 *   the HANDOFF.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "backend.h"
#include "internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Parking                                                                                    */

/* A new spare is counted as ready until it first parks, takes the hub, or exits. Only the
 * spare itself clears the flag, so it may test it without the lock; it changes it (and
 * nr_fresh) under carrier_lock, held by the caller of not_fresh_locked. */
static void not_fresh_locked(struct gh_hub *hub, struct gh__carrier *c)
{
	if (c->fresh) {
		c->fresh = false;
		hub->nr_fresh--;
	}
}

static void not_fresh(struct gh_hub *hub, struct gh__carrier *c)
{
	if (c->fresh) {
		pthread_mutex_lock(&hub->carrier_lock);
		not_fresh_locked(hub, c);
		pthread_mutex_unlock(&hub->carrier_lock);
	}
}

/* mark_parked and mark_unparked: under carrier_lock. */
static void mark_parked(struct gh_hub *hub, struct gh__carrier *c)
{
	not_fresh_locked(hub, c);
	c->parked = true;
	c->parked_since = gh_now();
	gh__list_push_back(&hub->parked, &c->park_link);
	hub->nr_parked++;
	if (hub->backend->spare_parked)
		hub->backend->spare_parked(hub, c, true);
}

static void mark_unparked(struct gh_hub *hub, struct gh__carrier *c)
{
	if (c->parked) {
		gh__list_remove(&c->park_link);
		c->parked = false;
		hub->nr_parked--;
		if (hub->backend->spare_parked)
			hub->backend->spare_parked(hub, c, false);
	}
}

/* A stop or a retirement, read under carrier_lock (held by the caller). */
static bool told_to_leave(struct gh_hub *hub, struct gh__carrier *c, enum gh__park_result *why)
{
	if (c->retire) {
		*why = GH__PARK_RETIRE;
		return true;
	}
	if (atomic_load(&hub->stopping)) {
		*why = GH__PARK_STOP;
		return true;
	}
	return false;
}

/* Park c until it takes a handoff (transition 2, or 6 for one that waited), or is told to
 * stop or retire. */
static enum gh__park_result park_until_needed(struct gh_hub *hub, struct gh__carrier *c)
{
	enum gh__park_result why;

	for (;;) {
		__u64 b;

		pthread_mutex_lock(&hub->carrier_lock);
		if (told_to_leave(hub, c, &why)) {
			pthread_mutex_unlock(&hub->carrier_lock);
			return why;
		}
		pthread_mutex_unlock(&hub->carrier_lock);
		b = gh__baton_load(hub);
		if (gh_baton_state(b) == GH_BATON_HANDOFF) {
			if (gh__baton_take_over(hub, c, b))
				return GH__PARK_OWNER;
			continue;
		}
		pthread_mutex_lock(&hub->carrier_lock);
		if (told_to_leave(hub, c, &why)) {
			pthread_mutex_unlock(&hub->carrier_lock);
			return why;
		}
		atomic_store(&c->wake_word, 0);
		mark_parked(hub, c);
		pthread_mutex_unlock(&hub->carrier_lock);

		if (gh_baton_state(gh__baton_load(hub)) == GH_BATON_HANDOFF) {
			pthread_mutex_lock(&hub->carrier_lock);
			mark_unparked(hub, c);
			pthread_mutex_unlock(&hub->carrier_lock);
			continue;
		}
		if (hub->backend->spare_wait)
			hub->backend->spare_wait(hub, c);
		else
			gh__carrier_sleep(c);
		/* A waker in the runtime took us off the parked list; a kernel side that wakes
		 * spares itself (trace mode's wake ring, sched_ext mode's signal handler) cannot
		 * take the lock, so leave the list here if still on it. Then look again: a
		 * handoff, a stop, a retirement, or nothing (the handoff was cancelled: park
		 * again). */
		pthread_mutex_lock(&hub->carrier_lock);
		mark_unparked(hub, c);
		pthread_mutex_unlock(&hub->carrier_lock);
	}
}

enum gh__park_result gh__spare_park(struct gh_hub *hub, struct gh__carrier *c)
{
	enum gh__park_result why = park_until_needed(hub, c);

	not_fresh(hub, c);
	return why;
}

unsigned gh__spares_ready(struct gh_hub *hub)
{
	unsigned n;

	pthread_mutex_lock(&hub->carrier_lock);
	n = hub->nr_parked + hub->nr_fresh;
	pthread_mutex_unlock(&hub->carrier_lock);
	return n;
}

bool gh__spare_wake(struct gh_hub *hub)
{
	struct gh__list *n;
	struct gh__carrier *c = NULL;

	pthread_mutex_lock(&hub->carrier_lock);
	n = hub->parked.next;
	if (n != &hub->parked) {
		c = GH_CONTAINER_OF(n, struct gh__carrier, park_link);
		mark_unparked(hub, c);
	}
	pthread_mutex_unlock(&hub->carrier_lock);
	if (c)
		gh__carrier_wake(c);
	return c != NULL;
}

/* Every green thread has finished: free the baton (RUN(last) -> FREE, baton.c) and release
 * every parked carrier. */
void gh__carriers_release(struct gh_hub *hub, struct gh__carrier *last)
{
	struct gh__list *n;

	gh__baton_free(hub, last);
	pthread_mutex_lock(&hub->carrier_lock);
	atomic_store(&hub->stopping, true);
	while ((n = hub->parked.next) != &hub->parked) {
		struct gh__carrier *c = GH_CONTAINER_OF(n, struct gh__carrier, park_link);

		mark_unparked(hub, c);
		gh__carrier_wake(c);
	}
	/* A carrier may still sit in an idle poll it lost to a kernel side that could not kick
	 * it (or be about to enter one): a kick stays pending until its next poll, which it
	 * then leaves at once, to find the hub stopped. */
	for (n = hub->carriers.next; n != &hub->carriers; n = n->next)
		pthread_kill(GH_CONTAINER_OF(n, struct gh__carrier, link)->thread, GH__SIG_KICK);
	pthread_kill(hub->first_carrier, GH__SIG_KICK);
	pthread_mutex_unlock(&hub->carrier_lock);
}

/* ---------------------------------------------------------------------------------------- */
/* Spare threads                                                                              */

static void *spare_main(void *arg)
{
	struct gh__carrier *c = arg;
	struct gh_hub *hub = c->hub;
	char why[256];
	int err;

	/* A spare would inherit the name of the thread that started it (the sysmon's, or the
	 * application's thread that runs the hub). */
	pthread_setname_np(pthread_self(), "gh-carrier");
	err = gh__carrier_init(hub, c, why, sizeof(why));
	if (err)
		gh__panic("starting a spare carrier: %s", why);
	if (gh__carrier_loop(hub, c) == 1)
		atomic_fetch_add(&hub->spares_retired, 1);
	gh__carrier_fini(c);
	return NULL;
}

int gh__spare_start(struct gh_hub *hub)
{
	struct gh__carrier *c;
	sigset_t old;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->hub = hub;
	c->spare_thread = true;
	gh__list_init(&c->link);
	gh__list_init(&c->park_link);
	atomic_init(&c->wake_word, 0);

	/* On the carrier list before it runs, so that whoever stops or retires carriers
	 * always finds it; the lock is held until pthread_create has filled c->thread. */
	pthread_mutex_lock(&hub->carrier_lock);
	if (hub->nr_carriers >= hub->opts.max_spares || atomic_load(&hub->stopping)) {
		pthread_mutex_unlock(&hub->carrier_lock);
		free(c);
		return -EAGAIN;
	}
	/* Spares run green code: with the signal mask of the application's thread that runs the
	 * hub, like the first carrier, so that what green code starts (fork, posix_spawn,
	 * system) inherits the application's mask, and a signal the application lets in may be
	 * taken wherever its green code runs. */
	pthread_sigmask(SIG_SETMASK, &hub->app_mask, &old);
	err = -pthread_create(&c->thread, NULL, spare_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err) {
		gh__list_push_back(&hub->carriers, &c->link);
		hub->nr_carriers++;
		c->fresh = true;
		hub->nr_fresh++;
	}
	pthread_mutex_unlock(&hub->carrier_lock);
	if (err) {
		free(c);
		return err;
	}
	atomic_fetch_add(&hub->spares_started, 1);
	return 0;
}

static void join_and_free(struct gh__carrier *c)
{
	int err = pthread_join(c->thread, NULL);

	if (err)
		gh__panic("pthread_join(spare carrier): %s", gh_strerror(err));
	free(c);
}

/* Free the retired spares whose threads have exited, without waiting for the others. Under
 * carrier_lock: a retiring spare may still need it to see that it retired, which is why
 * nothing waits for one under it. */
static void reap_retired(struct gh_hub *hub)
{
	struct gh__list *n, *next;

	for (n = hub->retiring.next; n != &hub->retiring; n = next) {
		struct gh__carrier *c = GH_CONTAINER_OF(n, struct gh__carrier, link);
		int err = pthread_tryjoin_np(c->thread, NULL);

		next = n->next;
		if (err == EBUSY)
			continue;
		if (err)
			gh__panic("joining a retired spare carrier: %s", gh_strerror(err));
		gh__list_remove(&c->link);
		free(c);
	}
}

void gh__spares_retire_idle(struct gh_hub *hub, uint64_t now)
{
	struct gh__list *n, *next;

	pthread_mutex_lock(&hub->carrier_lock);
	reap_retired(hub);
	for (n = hub->parked.next; n != &hub->parked; n = next) {
		struct gh__carrier *c = GH_CONTAINER_OF(n, struct gh__carrier, park_link);

		next = n->next;
		if (hub->nr_parked <= hub->opts.min_spares)
			break;
		/* The thread that called gh_hub_run parks like any carrier once it hands the hub
		 * on, but it is the caller's thread: it never retires. */
		if (!c->spare_thread)
			continue;
		/* parked_since may be later than the sysmon's now. */
		if (now < c->parked_since || now - c->parked_since < hub->opts.spare_idle_ns)
			continue;
		mark_unparked(hub, c);
		c->retire = true;
		gh__list_remove(&c->link);
		gh__list_push_back(&hub->retiring, &c->link);
		hub->nr_carriers--;
		gh__carrier_wake(c);
	}
	pthread_mutex_unlock(&hub->carrier_lock);
}

void gh__carriers_stop(struct gh_hub *hub)
{
	struct gh__list *n;

	/* The sysmon no longer starts spares for this hub; wake any that parked after the
	 * stop broadcast and collect them all. */
	gh__carriers_release(hub, NULL);
	pthread_mutex_lock(&hub->carrier_lock);
	while ((n = gh__list_pop_front(&hub->carriers))) {
		hub->nr_carriers--;
		pthread_mutex_unlock(&hub->carrier_lock);
		join_and_free(GH_CONTAINER_OF(n, struct gh__carrier, link));
		pthread_mutex_lock(&hub->carrier_lock);
	}
	/* Spares retired earlier that had not exited by the sysmon's last look. */
	while ((n = gh__list_pop_front(&hub->retiring))) {
		pthread_mutex_unlock(&hub->carrier_lock);
		join_and_free(GH_CONTAINER_OF(n, struct gh__carrier, link));
		pthread_mutex_lock(&hub->carrier_lock);
	}
	pthread_mutex_unlock(&hub->carrier_lock);
}

