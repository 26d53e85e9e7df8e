// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench/scx: the kernel-assist modes side by side, inside one VM boot (bench/scx/vm-run drives
 * it there; `make bench-vm`). Two measurements, each run in mode none (the blocking call marked,
 * so that the sysmon hands off), trace and sched_ext (the call bare):
 *
 *   latency MODE [rounds [gap_us]]
 *     How long from a green thread's block until the next green thread runs on a spare, the
 *     way bench/handoff measures it (gap_us > 0: A first sleeps that long in green code, so
 *     that the spare has settled, asleep or held, when A blocks: a cold handoff; without a gap
 *     the previous round's spare may still be on its way to park and take the hub at once):
 *       A: t0 = now; seq++; read(pipe)      blocks (nothing in the pipe yet)
 *       B: spins on gh_yield() until seq moves, then records now - t0 and wakes the writer
 *       the writer, an OS thread outside the hub, writes the pipe
 *     A sets seq and blocks with no switch point in between, so B, ready all along, runs only
 *     once the hub has been handed to a spare. The writer sleeps on a futex between rounds: a
 *     polling fair-class writer would preempt SCHED_EXT carriers, which sched_ext places below
 *     the fair class, and blur the measurement. B's futex wake comes after its timestamp, and
 *     A's return is held until B yields whatever the mode, so it opens no other way back.
 *     Prints: latency MODE p50_us= p99_us= max_us= rounds=
 *
 *   short MODE seconds threads block_us spin_us
 *     Many short blocks: each of `threads` green threads loops on spin_us of green code then a
 *     nanosleep of block_us (timer slack 1 ns), for `seconds`. In mode none the call is bare:
 *     the hub simply waits, as eventlet's would; the kernel-assisted modes hand it off.
 *     Prints: short MODE rounds= per_s= handoffs= holds=
 *
 * Timing never decides a test; bench/scx/vm-run prints ratios measured in the same boot.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "greenhub.h"

#define WARMUP 50

static enum gh_mode mode;
static bool marked;

static enum gh_mode parse_mode(const char *s)
{
	if (!strcmp(s, "none"))
		return GH_MODE_NONE;
	if (!strcmp(s, "trace"))
		return GH_MODE_TRACE;
	if (!strcmp(s, "sched_ext"))
		return GH_MODE_SCHED_EXT;
	fprintf(stderr, "scx_bench: unknown mode '%s' (none, trace, sched_ext)\n", s);
	exit(2);
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static gh_hub *run_hub(gh_fn fn)
{
	struct gh_hub_opts o;
	gh_hub *hub;
	int err;

	gh_hub_opts_init(&o);
	o.mode = mode;
	hub = gh_hub_create(&o);
	if (!hub) {
		perror("scx_bench: gh_hub_create");
		exit(1);
	}
	err = gh_hub_run(hub, fn, NULL, NULL);
	if (err) {
		fprintf(stderr, "scx_bench: gh_hub_run: %s (%s)\n", gh_strerror(err),
			gh_hub_mode_reason(hub));
		exit(1);
	}
	return hub;
}

/* ---------------------------------------------------------------------------------------- */
/* latency                                                                                    */

static unsigned rounds = 2000;
static unsigned gap_us; /* green sleep before each block: lets the spare settle (cold) */
static int pipefd[2];
static volatile uint64_t t0;
static volatile unsigned seq;
static volatile bool finished;
static volatile long release; /* B -> writer: the round to release; -1: exit */
static unsigned release_word;  /* the writer's futex: bumped with release */
static uint64_t *lat;
static unsigned nlat;

static void *blocker(void *arg)
{
	char c;

	for (unsigned i = 0; i < rounds + WARMUP; i++) {
		ssize_t n;

		if (gap_us)
			gh_sleep_until(gh_now() + gap_us * 1000ull);
		t0 = gh_now();
		seq++;
		n = marked ? GH_BLOCKING(read(pipefd[0], &c, 1)) : read(pipefd[0], &c, 1);
		if (n != 1) {
			fprintf(stderr, "scx_bench: read: %s\n", strerror(errno));
			exit(1);
		}
	}
	finished = true;
	return NULL;
}

static void *runner(void *arg)
{
	unsigned last = 0;

	while (!finished) {
		uint64_t t1;

		if (seq == last) {
			gh_yield();
			continue;
		}
		t1 = gh_now();
		last = seq;
		if (last > WARMUP)
			lat[nlat++] = t1 - t0;
		__atomic_store_n(&release, (long)last, __ATOMIC_RELEASE);
		__atomic_fetch_add(&release_word, 1, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, &release_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	return NULL;
}

static void *writer(void *arg)
{
	long seen = 0;

	for (;;) {
		unsigned word = __atomic_load_n(&release_word, __ATOMIC_SEQ_CST);
		long want = __atomic_load_n(&release, __ATOMIC_ACQUIRE);

		if (want < 0)
			return NULL;
		if (want == seen) {
			syscall(SYS_futex, &release_word, FUTEX_WAIT_PRIVATE, word, NULL, NULL, 0);
			continue;
		}
		seen = want;
		if (write(pipefd[1], "x", 1) != 1)
			exit(1);
	}
}

static void *latency_main(void *arg)
{
	gh_thread *a, *b;

	/* Let the sysmon start a spare before the first round. */
	gh_sleep_until(gh_now() + 50000000);
	b = gh_spawn(runner, NULL);
	a = gh_spawn(blocker, NULL);
	gh_join(a, NULL);
	gh_join(b, NULL);
	return NULL;
}

static int latency(int argc, char **argv)
{
	pthread_t th;

	if (argc > 3)
		rounds = (unsigned)strtoul(argv[3], NULL, 10);
	if (argc > 4)
		gap_us = (unsigned)strtoul(argv[4], NULL, 10);
	marked = mode == GH_MODE_NONE;
	lat = calloc(rounds + WARMUP, sizeof(*lat));
	if (!lat || pipe(pipefd) || pthread_create(&th, NULL, writer, NULL))
		return 1;
	run_hub(latency_main);
	__atomic_store_n(&release, -1L, __ATOMIC_RELEASE);
	__atomic_fetch_add(&release_word, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &release_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(th, NULL);
	qsort(lat, nlat, sizeof(*lat), cmp);
	printf("latency %s p50_us=%.1f p99_us=%.1f max_us=%.1f rounds=%u gap_us=%u\n", argv[2],
	       (double)lat[nlat / 2] / 1e3, (double)lat[nlat * 99 / 100] / 1e3,
	       (double)lat[nlat - 1] / 1e3, nlat, gap_us);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* short                                                                                      */

static unsigned seconds = 3, threads = 8, block_us = 10, spin_us = 5;
static uint64_t deadline;
static unsigned long total_rounds;

static void *short_green(void *arg)
{
	unsigned long n = 0;

	while (gh_now() < deadline) {
		uint64_t until = gh_now() + spin_us * 1000ull;

		while (gh_now() < until)
			;
		/* Timer slack is per thread, and a green thread may move between carriers. */
		prctl(PR_SET_TIMERSLACK, 1UL);
		sleep_us(block_us); /* bare: the kernel-assisted modes hand it off */
		n++;
	}
	__atomic_fetch_add(&total_rounds, n, __ATOMIC_RELAXED);
	return NULL;
}

static void *short_main(void *arg)
{
	gh_thread *t[256];

	for (unsigned i = 0; i < threads; i++)
		t[i] = gh_spawn(short_green, NULL);
	for (unsigned i = 0; i < threads; i++)
		gh_join(t[i], NULL);
	return NULL;
}

static int short_blocks(int argc, char **argv)
{
	struct gh_hub_stats st = { .sz = sizeof(st) };
	gh_hub *hub;

	if (argc > 3)
		seconds = (unsigned)atoi(argv[3]);
	if (argc > 4)
		threads = (unsigned)atoi(argv[4]);
	if (argc > 5)
		block_us = (unsigned)atoi(argv[5]);
	if (argc > 6)
		spin_us = (unsigned)atoi(argv[6]);
	if (!seconds || !threads || threads > 256)
		return 2;
	deadline = gh_now() + (uint64_t)seconds * 1000000000u;
	hub = run_hub(short_main);
	gh_hub_stats(hub, &st);
	printf("short %s rounds=%lu per_s=%.0f handoffs=%llu holds=%llu\n", argv[2], total_rounds,
	       (double)total_rounds / seconds, (unsigned long long)st.handoffs,
	       (unsigned long long)st.holds);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: scx_bench latency MODE [rounds [gap_us]]\n"
				"       scx_bench short MODE [seconds threads block_us spin_us]\n");
		return 2;
	}
	mode = parse_mode(argv[2]);
	if (!strcmp(argv[1], "latency"))
		return latency(argc, argv);
	if (!strcmp(argv[1], "short"))
		return short_blocks(argc, argv);
	fprintf(stderr, "scx_bench: unknown measurement '%s'\n", argv[1]);
	return 2;
}
