// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * blocking: a green service whose green threads call a C function that blocks in the kernel,
 * next to a heartbeat green thread that wants to run every 10 ms.
 *
 * Without help the hub's only OS thread sleeps in every blocking call and the heartbeat
 * stalls, as in any green-thread runtime. With --marked the calls are wrapped in GH_BLOCKING
 * and the sysmon hands the hub to a spare carrier; under scx_greenhub (trace or sched_ext
 * mode) the bare calls are noticed by the kernel and the hub keeps running with no change to
 * the code. The program prints the mode, how many heartbeats ran, how late they were, and the
 * hub's handoff counters.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "greenhub.h"

#define BEAT_NS 10000000ull

static unsigned opt_workers = 4, opt_block_ms = 200, opt_seconds = 2;
static bool opt_marked;
static uint64_t deadline;
static unsigned beats, late_beats;
static uint64_t worst_ns;
static unsigned long calls;

/* Stands for any C library call that sleeps in the kernel: a database query, a DNS lookup. */
static void slow_library_call(void)
{
	struct timespec ts = { opt_block_ms / 1000, (long)(opt_block_ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *worker(void *arg)
{
	while (gh_now() < deadline) {
		if (opt_marked) {
			gh_blocking_begin();
			slow_library_call();
			gh_blocking_end();
		} else {
			slow_library_call();
		}
		calls++;
		gh_yield();
	}
	return NULL;
}

static void *heartbeat(void *arg)
{
	uint64_t next = gh_now();

	while (next < deadline) {
		uint64_t now;

		next += BEAT_NS;
		gh_sleep_until(next);
		now = gh_now();
		beats++;
		if (now - next > worst_ns)
			worst_ns = now - next;
		if (now - next > BEAT_NS)
			late_beats++;
		while (next + BEAT_NS <= now)
			next += BEAT_NS;
	}
	return NULL;
}

static void *service(void *arg)
{
	gh_thread *t[65];
	unsigned n = 0;

	t[n++] = gh_spawn(heartbeat, NULL);
	for (unsigned i = 0; i < opt_workers; i++)
		t[n++] = gh_spawn(worker, NULL);
	for (unsigned i = 0; i < n; i++)
		gh_join(t[i], NULL);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: blocking [--marked] [--workers N] [--block-ms N] [--seconds N]\n"
		"  Runs a heartbeat green thread (every 10 ms) beside N green threads that call a\n"
		"  C function blocking for --block-ms, and reports how the heartbeat fared.\n"
		"  --marked      wrap the calls in GH_BLOCKING (mode none needs this)\n"
		"  --workers N   blocking green threads (1-64, default 4)\n"
		"  --block-ms N  length of each blocking call (1-10000, default 200)\n"
		"  --seconds N   how long to run (1-3600, default 2)\n"
		"  The mode comes from GREENHUB_MODE (auto, none, trace, sched_ext); auto uses\n"
		"  scx_greenhub if it is running.\n");
}

static int number(const char *s, unsigned lo, unsigned hi, unsigned *out, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		fprintf(stderr, "blocking: %s must be a number from %u to %u, not '%s'\n", what,
			lo, hi, s);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "marked", no_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ "block-ms", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct gh_hub_stats st = { .sz = sizeof(st) };
	gh_hub *hub;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			opt_marked = true;
			break;
		case 'w':
			if (number(optarg, 1, 64, &opt_workers, "--workers"))
				return 2;
			break;
		case 'b':
			if (number(optarg, 1, 10000, &opt_block_ms, "--block-ms"))
				return 2;
			break;
		case 's':
			if (number(optarg, 1, 3600, &opt_seconds, "--seconds"))
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "blocking: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	hub = gh_hub_create(NULL);
	if (!hub) {
		fprintf(stderr, "blocking: gh_hub_create: %s\n", gh_strerror(errno));
		return 1;
	}
	deadline = gh_now() + (uint64_t)opt_seconds * 1000000000u;
	err = gh_hub_run(hub, service, NULL, NULL);
	if (err) {
		fprintf(stderr, "blocking: gh_hub_run: %s (%s)\n", gh_strerror(err),
			gh_hub_mode_reason(hub));
		gh_hub_destroy(hub);
		return 1;
	}
	gh_hub_stats(hub, &st);
	printf("mode %s (%s)\n", gh_mode_name(gh_hub_mode(hub)), gh_hub_mode_reason(hub));
	printf("%u workers made %lu %s calls of %u ms\n", opt_workers, calls,
	       opt_marked ? "marked" : "unmarked", opt_block_ms);
	printf("heartbeat: %u of %u beats ran, %u more than a beat late, worst %.1f ms late\n",
	       beats, opt_seconds * 100, late_beats, (double)worst_ns / 1e6);
	printf("hub: %llu handoffs, %llu takeovers, %llu hand-backs, %llu spares started\n",
	       (unsigned long long)st.handoffs, (unsigned long long)st.takeovers,
	       (unsigned long long)st.handbacks, (unsigned long long)st.spares_started);
	gh_hub_destroy(hub);
	return 0;
}
