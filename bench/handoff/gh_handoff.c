// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench/handoff: how long from a green thread's block until the next green thread runs on a
 * spare carrier? Measured the way bench/handoff/go measures Go's handoff:
 *
 *   A: t0 = now; seq++; read(pipe)        blocks (nothing in the pipe yet)
 *   B: spins on gh_yield() until seq moves, then t1 = now, records t1 - t0, moves the futex
 *      word `release` and wakes it (FUTEX_WAKE never blocks)
 *   a helper OS thread, outside the hub, asleep on `release`, wakes and writes the pipe
 *
 * A sets seq and blocks with no switch point in between, so B, ready all along, can run only
 * once the hub has been handed to a spare: t1 - t0 is the handoff latency. The write releases
 * A, whose return is held until B yields the hub back; then the next round starts. The Go
 * version does the same, with the futex wake as a raw system call (see its header).
 *
 *   gh_handoff trace [rounds]    the read is unmarked; trace mode (scx_greenhub loaded)
 *   gh_handoff region [rounds]   the read is marked with GH_BLOCKING; mode none's sysmon
 *
 * Prints one line: variant, p50/p99/max in microseconds, rounds.
 */
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

#define WARMUP 100

static bool marked;
static unsigned rounds = 5000;
static int pipefd[2];
static volatile uint64_t t0;
static volatile unsigned seq;
static volatile bool finished;
static atomic_uint release; /* B -> helper: rounds released, a futex word */
static atomic_bool helper_exit;
static uint64_t *lat;
static unsigned nlat;

static void *blocker(void *arg)
{
	char c;

	for (unsigned i = 0; i < rounds + WARMUP; i++) {
		ssize_t n;

		t0 = gh_now();
		seq++;
		n = marked ? GH_BLOCKING(read(pipefd[0], &c, 1)) : read(pipefd[0], &c, 1);
		if (n != 1) {
			fprintf(stderr, "gh_handoff: read: %s\n", strerror(errno));
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
		atomic_fetch_add(&release, 1);
		syscall(SYS_futex, &release, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	return NULL;
}

/* The helper OS thread: writes the pipe once per round B releases. */
static void *helper(void *arg)
{
	unsigned seen = 0;

	while (!atomic_load(&helper_exit)) {
		if (atomic_load(&release) == seen) {
			syscall(SYS_futex, &release, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
			continue;
		}
		seen++;
		if (write(pipefd[1], "x", 1) != 1)
			exit(1);
	}
	return NULL;
}

static void *main_fn(void *arg)
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

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct gh_hub_opts o;
	pthread_t helper_thread;
	gh_hub *hub;
	int err;

	if (argc < 2 || (strcmp(argv[1], "trace") && strcmp(argv[1], "region"))) {
		fprintf(stderr, "usage: gh_handoff trace|region [rounds]\n");
		return 2;
	}
	marked = !strcmp(argv[1], "region");
	if (argc > 2)
		rounds = (unsigned)strtoul(argv[2], NULL, 10);
	lat = calloc(rounds + WARMUP, sizeof(*lat));
	if (!lat || pipe(pipefd))
		return 1;
	gh_hub_opts_init(&o);
	o.mode = marked ? GH_MODE_NONE : GH_MODE_TRACE;
	hub = gh_hub_create(&o);
	if (pthread_create(&helper_thread, NULL, helper, NULL))
		return 1;
	err = hub ? gh_hub_run(hub, main_fn, NULL, NULL) : -errno;
	atomic_store(&helper_exit, true);
	atomic_fetch_add(&release, 1);
	syscall(SYS_futex, &release, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(helper_thread, NULL);
	if (err) {
		fprintf(stderr, "gh_handoff: %s (%s)\n", gh_strerror(err),
			hub ? gh_hub_mode_reason(hub) : "");
		return 1;
	}
	qsort(lat, nlat, sizeof(*lat), cmp);
	printf("gh-%s p50_us=%.1f p99_us=%.1f max_us=%.1f rounds=%u\n", argv[1],
	       (double)lat[nlat / 2] / 1e3, (double)lat[nlat * 99 / 100] / 1e3,
	       (double)lat[nlat - 1] / 1e3, nlat);
	return 0;
}
