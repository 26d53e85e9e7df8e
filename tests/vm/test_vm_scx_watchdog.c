/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Two minutes of idle and busy hubs never trip the sched_ext watchdog (the scheduler runs with
 * a 5 s timeout, so a stuck task would eject it many times over):
 *
 *   idle    a hub whose only green thread waits on a pipe for the whole run: its carrier
 *           sleeps in its poll and its spare stays held in the scheduler's queue, kept alive
 *           by the heartbeat;
 *   sleepy  a hub that wakes once a second;
 *   busy    a hub of green threads making bare blocking calls (nanosleeps, pipe reads fed by a
 *           plain thread), running green code under an exclusivity marker and yielding; one of
 *           them now and then spins for longer than the scheduler's longest hold, so carriers
 *           whose calls return meanwhile are let go to their return gates;
 *   churn   a short-lived hub created and destroyed every few seconds.
 *
 * Every second the test checks that the scheduler is still enabled and has not exited. At the
 * end: no exclusivity violation, and the heartbeat and the long-hold path were exercised.
 * GH_VM_WATCHDOG_SECONDS overrides the length (default 120).
 */
#include <pthread.h>

#include "scx_test.h"

#define BUSY_THREADS 20
#define LONG_SPIN_MS 1600 /* longer than the scheduler's longest hold (1.25 s) */

static uint64_t deadline;
static struct scx_marker busy_marker, churn_marker;
static int idle_pipe[2], feed_pipe[2];
static atomic_uint fed_reads;
static atomic_ulong busy_rounds, churn_runs;

static unsigned rnd(unsigned *seed, unsigned n)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 8) % n;
}

/* ---- idle and sleepy hubs ---- */

static void *idle_green(void *arg)
{
	char c;

	(void)gh_read(idle_pipe[0], &c, 1, GH_NEVER);
	return NULL;
}

static void *sleepy_green(void *arg)
{
	while (gh_now() < deadline)
		gh_sleep_until(gh_now() + 1000000000ull);
	return NULL;
}

/* ---- the busy hub ---- */

static void *feeder(void *arg)
{
	while (scx_now() < deadline + 2000000000ull) {
		if (atomic_load(&fed_reads) > 0) {
			atomic_fetch_sub(&fed_reads, 1);
			if (write(feed_pipe[1], "x", 1) != 1)
				break;
		}
		scx_sleep_ms(1);
	}
	return NULL;
}

static void *busy_green(void *arg)
{
	uint64_t id = (uintptr_t)arg + 1, next_long = scx_now() + 10000000000ull * id / 4;
	unsigned seed = (unsigned)id * 7919u;
	char c;

	while (gh_now() < deadline) {
		unsigned what = rnd(&seed, 10);

		scx_spin(&busy_marker, id, scx_now() + rnd(&seed, 200) * 1000ull);
		if (id == 1 && scx_now() >= next_long) {
			/* Longer than a hold may last: the held carriers go to their gates. */
			scx_spin(&busy_marker, id, scx_now() + LONG_SPIN_MS * 1000000ull);
			next_long = scx_now() + 10000000000ull;
		}
		if (what < 3) {
			gh_yield();
		} else if (what < 6) {
			struct timespec ts = { 0, (long)rnd(&seed, 2000) * 1000 };

			nanosleep(&ts, NULL); /* bare */
		} else if (what < 8) {
			atomic_fetch_add(&fed_reads, 1);
			if (read(feed_pipe[0], &c, 1) != 1) /* bare, blocking */
				break;
		} else {
			gh_sleep_until(gh_now() + rnd(&seed, 5000) * 1000ull);
		}
		atomic_fetch_add(&busy_rounds, 1);
	}
	return NULL;
}

static void *busy_main(void *arg)
{
	gh_thread *t[BUSY_THREADS];

	for (uintptr_t i = 0; i < BUSY_THREADS; i++)
		t[i] = gh_spawn(busy_green, (void *)i);
	for (int i = 0; i < BUSY_THREADS; i++)
		gh_join(t[i], NULL);
	return NULL;
}

/* ---- churn ---- */

static void *churn_green(void *arg)
{
	uint64_t until = scx_now() + 1000000000ull;

	while (scx_now() < until) {
		struct timespec ts = { 0, 300000 };

		scx_spin(&churn_marker, (uintptr_t)arg + 1, scx_now() + 100000);
		nanosleep(&ts, NULL);
		gh_yield();
	}
	return NULL;
}

static void *churn_main(void *arg)
{
	gh_thread *a = gh_spawn(churn_green, (void *)0), *b = gh_spawn(churn_green, (void *)1);

	gh_join(a, NULL);
	gh_join(b, NULL);
	return NULL;
}

/* ---- drivers: one OS thread per hub ---- */

struct hub_run {
	gh_fn fn;
	bool repeat; /* churn: create, run, destroy, every few seconds */
	int err;
	pthread_t thread;
};

static void *hub_thread(void *arg)
{
	struct hub_run *hr = arg;

	do {
		struct gh_hub_opts o;
		gh_hub *hub;

		gh_hub_opts_init(&o);
		o.mode = GH_MODE_SCHED_EXT;
		hub = gh_hub_create(&o);
		if (!hub) {
			hr->err = -errno;
			return NULL;
		}
		hr->err = gh_hub_run(hub, hr->fn, NULL, NULL);
		gh_hub_destroy(hub);
		if (hr->err)
			return NULL;
		if (hr->repeat) {
			atomic_fetch_add(&churn_runs, 1);
			scx_sleep_ms(3000);
		}
	} while (hr->repeat && scx_now() < deadline);
	return NULL;
}

int main(void)
{
	const char *env = getenv("GH_VM_WATCHDOG_SECONDS");
	unsigned seconds = env && *env ? (unsigned)atoi(env) : 120;
	struct hub_run runs[] = {
		{ .fn = idle_green }, { .fn = sleepy_green }, { .fn = busy_main },
		{ .fn = churn_main, .repeat = true },
	};
	const int nruns = sizeof(runs) / sizeof(runs[0]);
	struct gh_scx_control *ctl;
	pthread_t feed;
	char buf[64];

	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	VM_CHECK(vm_scx_wait_state("disabled", 0) == 0, "a scheduler is already loaded");
	VM_CHECK(seconds > 0, "GH_VM_WATCHDOG_SECONDS must be positive");
	scx_load();
	ctl = scx_control();
	VM_CHECK(ctl != NULL, "the control map is not pinned");
	VM_CHECK(pipe(idle_pipe) == 0 && pipe(feed_pipe) == 0, "pipe: %s", strerror(errno));
	VM_CHECK(gh_fd_setup(idle_pipe[0]) == 0, "gh_fd_setup");

	deadline = scx_now() + (uint64_t)seconds * 1000000000ull;
	VM_CHECK(pthread_create(&feed, NULL, feeder, NULL) == 0, "pthread_create");
	for (int i = 0; i < nruns; i++)
		VM_CHECK(pthread_create(&runs[i].thread, NULL, hub_thread, &runs[i]) == 0,
			 "pthread_create");
	for (unsigned s = 1; scx_now() < deadline; s++) {
		scx_sleep_ms(1000);
		if (strcmp(vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf)), "enabled") != 0 ||
		    ctl->exit.kind)
			vm_test_fail("after %u s: state %s, exit %s: %s", s, buf, ctl->exit.reason,
				     ctl->exit.msg);
		if (s % 30 == 0)
			printf("%u s: enabled; handoffs %llu, holds %llu, heartbeats %llu, long holds "
			       "%llu, busy rounds %lu, churn runs %lu\n",
			       s, (unsigned long long)ctl->kside.nr_handoffs,
			       (unsigned long long)ctl->nr_holds,
			       (unsigned long long)ctl->nr_heartbeats,
			       (unsigned long long)ctl->nr_long_holds, atomic_load(&busy_rounds),
			       atomic_load(&churn_runs));
	}
	VM_CHECK(write(idle_pipe[1], "x", 1) == 1, "write: %s", strerror(errno));
	for (int i = 0; i < nruns; i++) {
		pthread_join(runs[i].thread, NULL);
		VM_CHECK(runs[i].err == 0, "hub %d: gh_hub_run: %s", i, gh_strerror(runs[i].err));
	}
	pthread_join(feed, NULL);
	printf("end: handoffs %llu, holds %llu, releases %llu, heartbeats %llu, long holds %llu, "
	       "gates stopped %llu; busy rounds %lu, churn runs %lu\n",
	       (unsigned long long)ctl->kside.nr_handoffs, (unsigned long long)ctl->nr_holds,
	       (unsigned long long)ctl->nr_releases, (unsigned long long)ctl->nr_heartbeats,
	       (unsigned long long)ctl->nr_long_holds, (unsigned long long)ctl->kside.nr_gates,
	       atomic_load(&busy_rounds), atomic_load(&churn_runs));
	VM_CHECK(ctl->exit.kind == 0, "the scheduler exited: %s: %s", ctl->exit.reason,
		 ctl->exit.msg);
	VM_CHECK(atomic_load(&busy_marker.violations) == 0 &&
			 atomic_load(&churn_marker.violations) == 0,
		 "exclusivity violations: busy %u, churn %u", atomic_load(&busy_marker.violations),
		 atomic_load(&churn_marker.violations));
	VM_CHECK(ctl->nr_heartbeats > 0, "the heartbeat never let a held spare run");
	VM_CHECK(ctl->kside.nr_handoffs > 0 && ctl->nr_holds > 0, "nothing was handed off or held");
	if (seconds >= 60)
		VM_CHECK(ctl->nr_long_holds > 0, "no hold ever lasted long enough to be let go");
	scx_control_put(ctl);
	scx_unload();
	printf("PASS\n");
	return VM_EXIT_PASS;
}
