// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench/scx: the kernel-assist modes side by side, inside one VM boot (bench/scx/vm-run drives
 * it there; `make bench-vm`). Two measurements, each run in mode none (the blocking call marked,
 * so that the sysmon hands off), trace and sched_ext (the call bare):
 *
 *   latency MODE [rounds [gap_us]]
 *     How long from a green thread's block until the next green thread runs on a spare, the
 *     way bench/handoff measures it (bench/common/handoff_latency.h). With gap_us > 0, A first
 *     sleeps that long in green code, so that the spare has settled, asleep or held, when A
 *     blocks: a cold handoff; without a gap the previous round's spare may still be on its way
 *     to park and take the hub at once.
 *     Prints: latency MODE p50_us= p99_us= max_us= rounds= gap_us=
 *
 *   short MODE seconds threads block_us spin_us
 *     Many short blocks: each of `threads` green threads loops on spin_us of green code then a
 *     nanosleep of block_us (timer slack 1 ns), for `seconds`. In mode none the call is bare:
 *     the hub simply waits, as eventlet's would; the kernel-assisted modes hand it off.
 *     Prints: short MODE rounds= per_s= handoffs= holds=
 *
 *   busy MODE seconds threads block_us spin_us lone_ms
 *     The same loop with a switch point (gh_yield) after each sleep, so that while one green
 *     thread sleeps the others are ready: a handoff runs them. For the first lone_ms only
 *     thread 0 loops (the others wait on a green timer), as a service's one busy thread
 *     between requests; then all of them, for `seconds`, which alone are counted.
 *     Prints: busy MODE rounds= per_s= handoffs= holds=
 *
 * Timing never decides a test; bench/scx/vm-run prints ratios measured in the same boot.
 */
#include <sys/prctl.h>
#include <time.h>

#include "../common/handoff_latency.h"

static enum gh_mode mode;

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

static int latency(int argc, char **argv)
{
	struct hl_opts o = { .prog = "scx_bench", .mode = mode, .rounds = 2000, .warmup = 50 };

	if (argc > 3)
		o.rounds = (unsigned)strtoul(argv[3], NULL, 10);
	if (argc > 4)
		o.gap_us = (unsigned)strtoul(argv[4], NULL, 10);
	o.marked = mode == GH_MODE_NONE;
	if (hl_measure(&o))
		return 1;
	printf("latency %s ", argv[2]);
	hl_print();
	printf(" gap_us=%u\n", o.gap_us);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* short                                                                                      */

static unsigned seconds = 3, threads = 8, block_us = 10, spin_us = 5, lone_ms;
static bool yield_after; /* busy: a switch point after each sleep */
static uint64_t all_from, deadline;
static unsigned long total_rounds;

static void *short_green(void *arg)
{
	bool first = arg == NULL;
	unsigned long n = 0;

	while (gh_now() < deadline) {
		uint64_t until;

		if (!first && gh_now() < all_from) {
			gh_sleep_until(all_from);
			continue;
		}
		until = gh_now() + spin_us * 1000ull;
		while (gh_now() < until)
			;
		/* Timer slack is per thread, and a green thread may move between carriers. */
		prctl(PR_SET_TIMERSLACK, 1UL);
		sleep_us(block_us); /* bare: the kernel-assisted modes hand it off */
		if (gh_now() >= all_from)
			n++;
		if (yield_after)
			gh_yield();
	}
	__atomic_fetch_add(&total_rounds, n, __ATOMIC_RELAXED);
	return NULL;
}

static void *short_main(void *arg)
{
	gh_thread *t[256];

	for (uintptr_t i = 0; i < threads; i++)
		t[i] = gh_spawn(short_green, (void *)i);
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
	if (argc > 7)
		lone_ms = (unsigned)atoi(argv[7]);
	if (!seconds || !threads || threads > 256)
		return 2;
	yield_after = !strcmp(argv[1], "busy");
	all_from = gh_now() + (uint64_t)lone_ms * 1000000u;
	deadline = all_from + (uint64_t)seconds * 1000000000u;
	hub = run_hub(short_main);
	gh_hub_stats(hub, &st);
	printf("%s %s rounds=%lu per_s=%.0f handoffs=%llu holds=%llu\n", argv[1], argv[2],
	       total_rounds,
	       (double)total_rounds / seconds, (unsigned long long)st.handoffs,
	       (unsigned long long)st.holds);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: scx_bench latency MODE [rounds [gap_us]]\n"
				"       scx_bench short MODE [seconds threads block_us spin_us]\n"
				"       scx_bench busy MODE [seconds threads block_us spin_us "
				"lone_ms]\n");
		return 2;
	}
	mode = parse_mode(argv[2]);
	if (!strcmp(argv[1], "latency"))
		return latency(argc, argv);
	if (!strcmp(argv[1], "short") || !strcmp(argv[1], "busy"))
		return short_blocks(argc, argv);
	fprintf(stderr, "scx_bench: unknown measurement '%s'\n", argv[1]);
	return 2;
}
