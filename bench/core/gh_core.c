// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The greenhub side of the core benchmarks. Each run measures one thing once and prints one
 * number on stdout; bench/core/run repeats the runs, interleaves them with the Go and C
 * comparison programs, and prints medians and ratios.
 *
 *   gh_core switch N       ns per green switch: two green threads running the same loop
 *                          ping-pong with gh_yield(), N yields each
 *   gh_core switch-asym N  the same, but main's loop and a partner's loop ping-pong
 *   gh_core spawn N        ns per gh_spawn() + gh_join() of a thread that returns at once,
 *                          the stack pool warm (the same stack is reused every time)
 *   gh_core timers T MS [STACK_KIB]
 *                          sleeps finished per second: T green threads, each looping on
 *                          gh_sleep(a random 1 us .. 1 ms), counted over MS ms; with
 *                          STACK_KIB, the hub's stack_size is that many KiB instead of the
 *                          default
 *
 * Every measurement is preceded by a warm-up of the same loop, so page faults on fresh stacks,
 * the timer heap's growth and cold caches stay out of the timed part. The hub runs with the
 * default options (but for timers' STACK_KIB), in the mode GREENHUB_MODE names; the mode it ran
 * in goes to stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greenhub.h"

static long iters;

/* ---------------------------------------------------------------------------------------- */
/* Switch. Two shapes, because a stack switch costs more when the two sides called the switch  */
/* from different places: the CPU's return-address predictor expects to return to the caller   */
/* of the side that left, so the first return on the other side is mispredicted.               */

/* Same loop: two green threads run this function, each gh_yield() switching to the other. */
static void *pingpong(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++)
		gh_yield();
	return NULL;
}

static int run_pair(long n)
{
	gh_thread *a = gh_spawn(pingpong, (void *)(intptr_t)n);
	gh_thread *b = gh_spawn(pingpong, (void *)(intptr_t)n);

	if (!a || !b)
		return -errno;
	/* Main waits in join, so the run queue holds just the pair. */
	gh_join(a, NULL);
	gh_join(b, NULL);
	return 0;
}

static void *bench_switch(void *arg)
{
	double *ns = arg;
	uint64_t t0, t1;
	int err;

	err = run_pair(iters / 10 + 1000);
	if (err)
		return (void *)(intptr_t)err;
	t0 = gh_now();
	err = run_pair(iters);
	t1 = gh_now();
	if (err)
		return (void *)(intptr_t)err;
	/* 2 * iters yields, each one switch (the two spawns and joins are noise next to that). */
	*ns = (double)(t1 - t0) / (2.0 * (double)iters);
	return NULL;
}

/* Different loops: main's loop and a partner's loop yield to each other. */
static volatile int partner_stop;

static void *partner(void *arg)
{
	while (!partner_stop)
		gh_yield();
	return NULL;
}

static void *bench_switch_asym(void *arg)
{
	double *ns = arg;
	gh_thread *t = gh_spawn(partner, NULL);
	uint64_t t0, t1;

	if (!t)
		return (void *)(intptr_t)-errno;
	for (long i = 0; i < iters / 10 + 1000; i++)
		gh_yield();
	t0 = gh_now();
	for (long i = 0; i < iters; i++)
		gh_yield();
	t1 = gh_now();
	partner_stop = 1;
	gh_join(t, NULL);
	/* Each of main's yields runs the partner once, whose yield comes back: two switches. */
	*ns = (double)(t1 - t0) / (2.0 * (double)iters);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Spawn + join, one at a time.                                                              */

static void *noop(void *arg)
{
	return arg;
}

static int spawn_join(long n)
{
	for (long i = 0; i < n; i++) {
		gh_thread *t = gh_spawn(noop, NULL);
		int err;

		if (!t)
			return -errno;
		err = gh_join(t, NULL);
		if (err)
			return err;
	}
	return 0;
}

static void *bench_spawn(void *arg)
{
	double *ns = arg;
	uint64_t t0, t1;
	int err;

	err = spawn_join(iters / 10 + 1000);
	if (err)
		return (void *)(intptr_t)err;
	t0 = gh_now();
	err = spawn_join(iters);
	t1 = gh_now();
	if (err)
		return (void *)(intptr_t)err;
	*ns = (double)(t1 - t0) / (double)iters;
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Sleep timers: many sleepers, each on a random short deadline, counted over a window.     */

static long nr_sleepers;
static uint64_t window_ns;
static uint64_t fired;
static volatile int sleepers_stop;

/* xorshift64*: a cheap per-thread generator, so the generator costs nothing next to a sleep. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void *sleeper(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;

	while (!sleepers_stop) {
		uint64_t d = 1000 + next_rand(&seed) % 999000; /* 1 us .. 1 ms */

		if (gh_sleep(d))
			return (void *)1;
		fired++;
	}
	return NULL;
}

static void *bench_timers(void *arg)
{
	double *per_s = arg;
	gh_thread **t = calloc((size_t)nr_sleepers, sizeof(*t));
	uint64_t t0, t1, f0, f1;
	long i;

	if (!t)
		return (void *)(intptr_t)-ENOMEM;
	for (i = 0; i < nr_sleepers; i++) {
		t[i] = gh_spawn(sleeper, (void *)(uintptr_t)(i + 1));
		if (!t[i])
			return (void *)(intptr_t)-errno;
	}
	/* Warm-up: every sleeper has slept a few times before the window opens. */
	gh_sleep_until(gh_now() + window_ns / 5);
	t0 = gh_now();
	f0 = fired;
	gh_sleep_until(t0 + window_ns);
	t1 = gh_now();
	f1 = fired;
	sleepers_stop = 1;
	for (i = 0; i < nr_sleepers; i++)
		gh_join(t[i], NULL);
	free(t);
	*per_s = (double)(f1 - f0) * 1e9 / (double)(t1 - t0);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */

static int usage(void)
{
	fprintf(stderr, "usage: gh_core switch N | switch-asym N | spawn N | "
			"timers THREADS MS [STACK_KIB]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct gh_hub_opts opts;
	gh_fn fn;
	gh_hub *hub;
	double value = 0;
	void *res = NULL;
	int err;

	if (argc < 3)
		return usage();
	if (!strcmp(argv[1], "switch")) {
		fn = bench_switch;
	} else if (!strcmp(argv[1], "switch-asym")) {
		fn = bench_switch_asym;
	} else if (!strcmp(argv[1], "spawn")) {
		fn = bench_spawn;
	} else if (!strcmp(argv[1], "timers") && (argc == 4 || argc == 5)) {
		fn = bench_timers;
		nr_sleepers = atol(argv[2]);
		window_ns = (uint64_t)atol(argv[3]) * 1000000u;
	} else {
		return usage();
	}
	iters = atol(argv[2]);
	if (iters <= 0)
		return usage();
	gh_hub_opts_init(&opts);
	if (fn == bench_timers && argc == 5) {
		long kib = atol(argv[4]);

		if (kib <= 0)
			return usage();
		opts.stack_size = (size_t)kib * 1024;
	}
	hub = gh_hub_create(&opts);
	if (!hub) {
		fprintf(stderr, "gh_hub_create: %s\n", gh_strerror(errno));
		return 1;
	}
	err = gh_hub_run(hub, fn, &value, &res);
	if (!err && res)
		err = (int)(intptr_t)res;
	/* bench/core/run shows the mode (set with GREENHUB_MODE) in its header. */
	fprintf(stderr, "mode: %s\n", gh_mode_name(gh_hub_mode(hub)));
	gh_hub_destroy(hub);
	if (err) {
		fprintf(stderr, "gh_core %s: %s\n", argv[1], gh_strerror(err));
		return 1;
	}
	printf("%.3f\n", value);
	return 0;
}
