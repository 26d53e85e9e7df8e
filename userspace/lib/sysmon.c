// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The sysmon: one monitor thread per process, watching every running hub.
 *
 * At each tick it
 *   - hands off a hub whose owner has stayed in the same blocking region since the last tick
 *     (transition 1 for mode none): RUN(t)+REGION -> HANDOFF(t), then wakes a parked spare;
 *   - starts a spare when a hub has fewer parked than opts.min_spares, or a handoff waits
 *     with none parked (transition 6), up to opts.max_spares;
 *   - retires spares parked longer than opts.spare_idle_ns beyond the minimum;
 *   - reports a hub that has reached no switch point for opts.stall_ns, if the stall detector
 *     is on for it (stall.c).
 *
 * Ticks are the smallest sysmon_ns of the running hubs (default 20 us). As Go's sysmon does,
 * it backs off when there is nothing to watch (no region outlived a tick, no handoff waits):
 * after 50 quiet ticks the sleep doubles each tick up to 10 ms, so a block that starts after a
 * quiet spell is noticed within 10 ms at worst.
 *
 * To do better than that worst case, a sleeping sysmon may invite a kick: it sets
 * gh__sysmon_deep, and the next region to begin clears the flag and wakes it (one futex wake).
 * But a program that makes many short regions would then keep the sysmon ticking, and its
 * wakeups would cost every region far more than the region's own CAS. So kicks adapt: a kick
 * after which nothing was handed off is useless, and each useless kick doubles the number of
 * long sleeps (up to 64) during which no kick is invited; a useful kick resets it. Programs
 * whose regions do block get a 20 us sysmon after idling; programs whose regions never block
 * get Go's behaviour and pay nothing.
 *
 * A region is recognised across ticks by the whole baton word: gh_blocking_begin bumps its
 * sequence, so a word seen at two ticks is one region that has lasted at least a tick.
 */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>

#include "internal.h"

#define QUIET_TICKS 50
#define MAX_SLEEP_NS 10000000ull
#define RETIRE_EVERY_NS 100000000ull
#define MAX_HOLDOFF 64

atomic_uint gh__sysmon_deep;
static atomic_uint sysmon_word;
static pthread_mutex_t sysmon_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gh__list hubs = { &hubs, &hubs };
static bool started;

void gh__sysmon_kick(void)
{
	/* Whoever clears the deep flag first sends the one wakeup; the rest see it clear. */
	atomic_store(&gh__sysmon_deep, 0);
	atomic_store(&sysmon_word, 1);
	gh__futex_wake(&sysmon_word, 1);
}

/* Handoffs made by the sysmon, to tell useful kicks from useless ones (sysmon thread only). */
static uint64_t handoffs_made;

/* One hub at one tick; true if there was something to watch. */
static bool watch(struct gh_hub *hub, uint64_t now, bool retire)
{
	__u64 b = gh__baton_load(hub);
	bool active = false;
	unsigned nparked = gh__spares_ready(hub);

	if (gh_baton_state(b) == GH_BATON_RUN && gh_baton_in_region(b)) {
		/* Only a region that outlives a tick keeps the sysmon busy: short regions come
		 * and go between ticks and need no watching. */
		if (b == hub->sysmon_seen) {
			active = true;
			if (gh__baton_hand_off(hub, b, now)) {
				handoffs_made++;
				if (gh__spare_wake(hub))
					nparked--;
				else
					(void)gh__spare_start(hub);
			}
			hub->sysmon_seen = 0;
		} else {
			hub->sysmon_seen = b;
		}
	} else if (gh_baton_state(b) == GH_BATON_HANDOFF) {
		/* A handoff that no spare has taken yet (transition 6): start one if none is
		 * ready, and if the same handoff is still there a tick later (a kernel side's wake
		 * missed, or the woken spare retired), wake a parked one. */
		active = true;
		if (!nparked)
			(void)gh__spare_start(hub);
		else if (b == hub->sysmon_seen)
			gh__spare_wake(hub);
		hub->sysmon_seen = b;
	} else {
		hub->sysmon_seen = 0;
	}
	if (nparked < hub->opts.min_spares)
		(void)gh__spare_start(hub);
	if (retire)
		gh__spares_retire_idle(hub, now);
	return active;
}

static void *sysmon_main(void *arg)
{
	unsigned quiet = 0, holdoff = 0, next_holdoff = 1;
	uint64_t last_retire = 0, handoffs_at_kick = 0;
	bool judging_kick = false;

	prctl(PR_SET_NAME, "gh-sysmon");
	/* The default 50 us timer slack would stretch every 20 us tick. */
	prctl(PR_SET_TIMERSLACK, 1UL);
	for (;;) {
		uint64_t now = gh_now(), tick = MAX_SLEEP_NS, sleep_ns;
		bool active = false, retire = now - last_retire >= RETIRE_EVERY_NS;
		struct gh__list *n;
		struct timespec ts;

		pthread_mutex_lock(&sysmon_lock);
		for (n = hubs.next; n != &hubs; n = n->next) {
			struct gh_hub *hub = GH_CONTAINER_OF(n, struct gh_hub, sysmon_link);

			if (hub->opts.sysmon_ns < tick)
				tick = hub->opts.sysmon_ns;
			active |= watch(hub, now, retire);
			gh__stall_watch(hub);
		}
		pthread_mutex_unlock(&sysmon_lock);
		if (retire)
			last_retire = now;

		quiet = active ? 0 : quiet + 1;
		sleep_ns = tick;
		if (quiet > QUIET_TICKS) {
			unsigned shift = quiet - QUIET_TICKS;

			sleep_ns = shift >= 20 || (tick << shift) > MAX_SLEEP_NS ? MAX_SLEEP_NS
										  : tick << shift;
			if (judging_kick) {
				/* The burst of ticks a kick started is over: was it worth it? */
				judging_kick = false;
				if (handoffs_made == handoffs_at_kick) {
					holdoff = next_holdoff;
					if (next_holdoff < MAX_HOLDOFF)
						next_holdoff *= 2;
				} else {
					next_holdoff = 1;
				}
			}
		}
		if (sleep_ns > tick) {
			if (holdoff)
				holdoff--;
			else
				atomic_store(&gh__sysmon_deep, 1);
		}
		ts.tv_sec = (time_t)(sleep_ns / 1000000000u);
		ts.tv_nsec = (long)(sleep_ns % 1000000000u);
		(void)gh__futex_wait(&sysmon_word, 0, &ts);
		atomic_store(&gh__sysmon_deep, 0);
		if (atomic_exchange(&sysmon_word, 0)) {
			quiet = 0;
			judging_kick = true;
			handoffs_at_kick = handoffs_made;
		}
	}
	return NULL;
}

int gh__sysmon_add(struct gh_hub *hub)
{
	int err = 0;

	pthread_mutex_lock(&sysmon_lock);
	if (!started) {
		pthread_attr_t attr;
		pthread_t thread;
		sigset_t all, old;

		/* A process-lifetime thread: detached, every signal blocked. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		gh__attr_fair_class(&attr);
		err = -pthread_create(&thread, &attr, sysmon_main, NULL);
		pthread_attr_destroy(&attr);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		started = !err;
	}
	if (!err) {
		hub->sysmon_seen = 0;
		gh__list_push_back(&hubs, &hub->sysmon_link);
	}
	pthread_mutex_unlock(&sysmon_lock);
	if (!err)
		gh__sysmon_kick();
	return err;
}

/* fork(): the sysmon thread may hold its lock; the child has no sysmon thread at all. */
void gh__sysmon_fork_prepare(void)
{
	pthread_mutex_lock(&sysmon_lock);
}

void gh__sysmon_fork_parent(void)
{
	pthread_mutex_unlock(&sysmon_lock);
}

void gh__sysmon_fork_child(void (*each)(struct gh_hub *hub))
{
	struct gh__list *n;

	/* The parent's running hubs: dead here (fork.c). */
	while ((n = gh__list_pop_front(&hubs)))
		each(GH_CONTAINER_OF(n, struct gh_hub, sysmon_link));
	started = false;
	atomic_store(&sysmon_word, 0);
	atomic_store(&gh__sysmon_deep, 0);
	handoffs_made = 0;
	pthread_mutex_init(&sysmon_lock, NULL);
	gh__stall_fork_child();
}

void gh__sysmon_remove(struct gh_hub *hub)
{
	/* The sysmon scans under sysmon_lock: once removed, it never looks at hub again. */
	pthread_mutex_lock(&sysmon_lock);
	gh__list_remove(&hub->sysmon_link);
	pthread_mutex_unlock(&sysmon_lock);
}
