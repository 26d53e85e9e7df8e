// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench/stall: how late does a 1 ms ticker get while other green threads make 50 ms blocking
 * calls? One variant per run, chosen by the first argument:
 *
 *   plain    the calls are made bare: the hub's only OS thread blocks (eventlet's behaviour)
 *   offload  the calls go through gh_offload (eventlet's tpool)
 *   region   the calls are marked with GH_BLOCKING; the sysmon hands the hub to a spare
 *   assisted the calls are made bare in a kernel-assisted mode (see --mode)
 *   cost     no ticker: ns per uncontended gh_blocking_begin + gh_blocking_end pair, next to a
 *            pthread mutex lock + unlock pair measured the same way
 *
 * Prints one line: variant, ticker lateness p50/p99/max in microseconds, blocking calls done,
 * and the ticker's gap (from one tick to the next) p50/max next to the blockers' round: the
 * mean time from one of a blocker's calls to its next. In the plain variant the calls hold the
 * hub's only OS thread in turn, so that is one round of the run queue, and a hub that runs a
 * thread woken by a due timer within one round ticks once per round (gap / round 1), where one
 * that queues it behind a whole fresh round ticks every second round (2).
 * With 0 blockers the ticker runs alone: what waking the hub costs in that mode.
 * bench/stall/run runs every variant and the Go comparison and prints the ratios.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "greenhub.h"

#define TICK_NS 1000000ull
#define BLOCK_NS 50000000ull

enum variant { PLAIN, OFFLOAD, REGION, ASSISTED };

static enum variant variant;
static unsigned seconds = 3, blockers = 4;
static uint64_t deadline;
static uint64_t *lateness;
static uint64_t *gaps;
static size_t nlate, ngaps, cap_late;
static unsigned long calls;
static uint64_t run_start, run_end;

static void *sleep_50ms(void *arg)
{
	struct timespec ts = { 0, (long)BLOCK_NS };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return arg;
}

static void *blocker(void *arg)
{
	while (gh_now() < deadline) {
		int err = 0;

		switch (variant) {
		case PLAIN:
		case ASSISTED:
			sleep_50ms(NULL);
			break;
		case OFFLOAD:
			err = gh_offload(NULL, sleep_50ms, NULL, NULL);
			break;
		case REGION:
			gh_blocking_begin();
			sleep_50ms(NULL);
			gh_blocking_end();
			break;
		}
		if (err) {
			fprintf(stderr, "stall: gh_offload: %s\n", gh_strerror(err));
			exit(1);
		}
		calls++;
		/* A switch point between calls, as any real green thread has. */
		gh_yield();
	}
	return NULL;
}

static void *ticker(void *arg)
{
	uint64_t next = gh_now(), last_tick = 0;

	while (next < deadline) {
		uint64_t now;

		next += TICK_NS;
		gh_sleep_until(next);
		now = gh_now();
		if (nlate < cap_late)
			lateness[nlate++] = now > next ? now - next : 0;
		if (last_tick && ngaps < cap_late)
			gaps[ngaps++] = now - last_tick;
		last_tick = now;
		/* A stalled hub misses ticks; the ticker wants the next one after now. */
		while (next + TICK_NS <= now)
			next += TICK_NS;
	}
	return NULL;
}

static void *main_green(void *arg)
{
	gh_thread *t[65];
	unsigned n = 0;

	run_start = gh_now();
	t[n++] = gh_spawn(ticker, NULL);
	for (unsigned i = 0; i < blockers; i++)
		t[n++] = gh_spawn(blocker, NULL);
	for (unsigned i = 0; i < n; i++)
		gh_join(t[i], NULL);
	run_end = gh_now();
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The p quantile of the n sorted values v, in microseconds. */
static double pct_of(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1));

	return (double)v[i] / 1000.0;
}

static double pct(double p)
{
	return pct_of(lateness, nlate, p);
}

/* The mean time from one of a blocker's calls to its next, in microseconds (0 without
 * calls). */
static double round_us(void)
{
	if (!calls)
		return 0;
	return (double)(run_end - run_start) * blockers / (double)calls / 1000.0;
}

static void *cost_main(void *arg)
{
	const unsigned n = 20000000;
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	uint64_t t0, t1, t2;

	for (unsigned i = 0; i < n / 10; i++) { /* warm up */
		gh_blocking_begin();
		gh_blocking_end();
	}
	t0 = gh_now();
	for (unsigned i = 0; i < n; i++) {
		gh_blocking_begin();
		gh_blocking_end();
	}
	t1 = gh_now();
	for (unsigned i = 0; i < n; i++) {
		pthread_mutex_lock(&m);
		__asm__ volatile("" ::: "memory");
		pthread_mutex_unlock(&m);
	}
	t2 = gh_now();
	printf("cost region_ns=%.2f mutex_ns=%.2f\n", (double)(t1 - t0) / n,
	       (double)(t2 - t1) / n);
	return NULL;
}

int main(int argc, char **argv)
{
	struct gh_hub_opts o;
	gh_hub *hub;
	int err;

	if (argc < 2) {
		fprintf(stderr, "usage: gh_stall plain|offload|region|assisted|cost [seconds] "
				"[blockers] [mode]\n");
		return 2;
	}
	if (argc > 2)
		seconds = (unsigned)atoi(argv[2]);
	if (argc > 3)
		blockers = (unsigned)atoi(argv[3]);
	/* 0 blockers: the ticker alone, the floor the other variants stand on. */
	if (!seconds || blockers > 64) {
		fprintf(stderr, "stall: seconds must be positive and blockers 0..64\n");
		return 2;
	}
	gh_hub_opts_init(&o);
	o.mode = GH_MODE_NONE;
	if (!strcmp(argv[1], "plain"))
		variant = PLAIN;
	else if (!strcmp(argv[1], "offload"))
		variant = OFFLOAD;
	else if (!strcmp(argv[1], "region"))
		variant = REGION;
	else if (!strcmp(argv[1], "assisted")) {
		variant = ASSISTED;
		o.mode = argc > 4 && !strcmp(argv[4], "sched_ext") ? GH_MODE_SCHED_EXT
								   : GH_MODE_TRACE;
	} else if (!strcmp(argv[1], "cost")) {
		if (getenv("STALL_TICK"))
			o.sysmon_ns = strtoull(getenv("STALL_TICK"), NULL, 10);
		hub = gh_hub_create(&o);
		return hub && gh_hub_run(hub, cost_main, NULL, NULL) == 0 ? 0 : 1;
	} else {
		fprintf(stderr, "stall: unknown variant '%s'\n", argv[1]);
		return 2;
	}
	cap_late = (size_t)seconds * 2000 + 100;
	lateness = calloc(cap_late, sizeof(*lateness));
	gaps = calloc(cap_late, sizeof(*gaps));
	hub = gh_hub_create(&o);
	if (!lateness || !gaps || !hub) {
		perror("stall: setup");
		return 1;
	}
	deadline = gh_now() + (uint64_t)seconds * 1000000000u;
	err = gh_hub_run(hub, main_green, NULL, NULL);
	if (err) {
		fprintf(stderr, "stall: gh_hub_run: %s (%s)\n", gh_strerror(err),
			gh_hub_mode_reason(hub));
		return 1;
	}
	if (!nlate) {
		fprintf(stderr, "stall: the ticker never ran\n");
		return 1;
	}
	qsort(lateness, nlate, sizeof(*lateness), cmp_u64);
	qsort(gaps, ngaps, sizeof(*gaps), cmp_u64);
	/* The assisted row is named after the mode it ran in. */
	printf("%s p50_us=%.1f p99_us=%.1f max_us=%.1f calls=%lu mode=%s",
	       variant == ASSISTED ? gh_mode_name(gh_hub_mode(hub)) : argv[1], pct(0.5),
	       pct(0.99), (double)lateness[nlate - 1] / 1000.0, calls,
	       gh_mode_name(gh_hub_mode(hub)));
	if (ngaps)
		printf(" gap_p50_us=%.1f gap_max_us=%.1f round_us=%.1f", pct_of(gaps, ngaps, 0.5),
		       pct_of(gaps, ngaps, 1.0), round_us());
	printf("\n");
	gh_hub_destroy(hub);
	return 0;
}
