/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Handoff latency, measured the same way by bench/handoff and bench/scx (and, in Go, by
 * bench/handoff/go): how long from a green thread's block until the next green thread runs on
 * a spare carrier.
 *
 *   A: seq++; t0 = now; read(pipe)      blocks (nothing in the pipe yet)
 *   B: spins on gh_yield() until seq moves, then records now - t0 and wakes the writer
 *   the writer, an OS thread outside the hub, writes the pipe
 *
 * A sets seq and blocks with no switch point in between, so B, ready all along, runs only once
 * the hub has been handed to a spare: now - t0 is the handoff latency. t0 is CLOCK_MONOTONIC
 * (gh_now()) taken right before the call, after everything else A does, as bench/handoff/go
 * takes Go's: the same event, timed the same way, in both runtimes. B cannot see seq move
 * before t0 is stored: it runs only once A blocks. The write releases A,
 * whose return is held until B yields the hub back, whatever the mode; then the next round
 * starts. B's futex wake never blocks and comes after its timestamp, so it opens no other way
 * back. The writer sleeps on the futex between rounds: a polling fair-class writer would
 * preempt SCHED_EXT carriers, which sched_ext places below the fair class, and blur the
 * measurement.
 *
 * One measurement per process: the state is the including program's own.
 */
#ifndef GREENHUB_BENCH_HANDOFF_LATENCY_H
#define GREENHUB_BENCH_HANDOFF_LATENCY_H

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "greenhub.h"

struct hl_opts {
	const char *prog;   /* names the program in messages */
	enum gh_mode mode;
	bool marked;        /* A's read in a blocking region, for mode none's sysmon */
	unsigned rounds;    /* measured rounds (at least 1) */
	unsigned warmup;    /* rounds before those, not measured */
	unsigned gap_us;    /* A first sleeps this long in green code: the spare has settled */
};

static const struct hl_opts *hl;
static int hl_pipe[2];
static volatile uint64_t hl_t0;
static volatile unsigned hl_seq;
static volatile bool hl_finished;
static atomic_uint hl_release; /* B -> writer: rounds released, a futex word */
static atomic_bool hl_writer_exit;
static uint64_t *hl_lat;       /* the measured rounds' latencies (ns), sorted once done */
static unsigned hl_nlat;

static void *hl_blocker(void *arg)
{
	char c;

	for (unsigned i = 0; i < hl->rounds + hl->warmup; i++) {
		ssize_t n;

		if (hl->gap_us)
			gh_sleep_until(gh_now() + hl->gap_us * 1000ull);
		hl_seq++;
		hl_t0 = gh_now();
		n = hl->marked ? GH_BLOCKING(read(hl_pipe[0], &c, 1)) : read(hl_pipe[0], &c, 1);
		if (n != 1) {
			fprintf(stderr, "%s: read: %s\n", hl->prog, strerror(errno));
			exit(1);
		}
	}
	hl_finished = true;
	return NULL;
}

static void hl_wake_writer(void)
{
	atomic_fetch_add(&hl_release, 1);
	syscall(SYS_futex, &hl_release, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *hl_runner(void *arg)
{
	unsigned last = 0;

	while (!hl_finished) {
		uint64_t t1;

		if (hl_seq == last) {
			gh_yield();
			continue;
		}
		t1 = gh_now();
		last = hl_seq;
		if (last > hl->warmup)
			hl_lat[hl_nlat++] = t1 - hl_t0;
		hl_wake_writer();
	}
	return NULL;
}

/* The writer: writes the pipe once per round B releases. */
static void *hl_writer(void *arg)
{
	unsigned seen = 0;

	while (!atomic_load(&hl_writer_exit)) {
		if (atomic_load(&hl_release) == seen) {
			syscall(SYS_futex, &hl_release, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
			continue;
		}
		seen++;
		if (write(hl_pipe[1], "x", 1) != 1)
			exit(1);
	}
	return NULL;
}

static void *hl_main(void *arg)
{
	gh_thread *a, *b;

	/* Let the sysmon start a spare before the first round. */
	gh_sleep_until(gh_now() + 50000000);
	b = gh_spawn(hl_runner, NULL);
	a = gh_spawn(hl_blocker, NULL);
	gh_join(a, NULL);
	gh_join(b, NULL);
	return NULL;
}

static int hl_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Measure in a hub of o->mode; 0, or 1 after a message. */
static int hl_measure(const struct hl_opts *o)
{
	struct gh_hub_opts ho;
	pthread_t writer;
	gh_hub *hub;
	int err;

	hl = o;
	if (!o->rounds) {
		fprintf(stderr, "%s: at least one round\n", o->prog);
		return 1;
	}
	hl_lat = calloc(o->rounds + o->warmup, sizeof(*hl_lat));
	if (!hl_lat || pipe(hl_pipe) || pthread_create(&writer, NULL, hl_writer, NULL)) {
		perror(o->prog);
		return 1;
	}
	gh_hub_opts_init(&ho);
	ho.mode = o->mode;
	hub = gh_hub_create(&ho);
	err = hub ? gh_hub_run(hub, hl_main, NULL, NULL) : -errno;
	atomic_store(&hl_writer_exit, true);
	hl_wake_writer();
	pthread_join(writer, NULL);
	if (err) {
		fprintf(stderr, "%s: %s (%s)\n", o->prog, gh_strerror(err),
			hub ? gh_hub_mode_reason(hub) : "no hub");
		return 1;
	}
	qsort(hl_lat, hl_nlat, sizeof(*hl_lat), hl_cmp);
	return 0;
}

/* The measured latencies' p50, p99 and largest in microseconds, and their count. */
static void hl_print(void)
{
	printf("p50_us=%.1f p99_us=%.1f max_us=%.1f rounds=%u", (double)hl_lat[hl_nlat / 2] / 1e3,
	       (double)hl_lat[hl_nlat * 99 / 100] / 1e3, (double)hl_lat[hl_nlat - 1] / 1e3,
	       hl_nlat);
}

#endif /* GREENHUB_BENCH_HANDOFF_LATENCY_H */
