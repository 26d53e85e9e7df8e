// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The exclusivity stress checker.
 *
 * Several hubs, each with hundreds of green threads that do random work: stretches of green
 * code, yields, green sleeps, and blocking calls of random length (a read of a blocking pipe fed
 * by another OS thread, nanosleep, a futex wait woken by another OS thread). The blocking calls
 * are marked with GH_BLOCKING (mode none: the sysmon hands the hub off) or, with --unmarked,
 * left bare for a kernel-assisted mode to notice.
 *
 * What it checks, independently of the runtime's own bookkeeping:
 *   I1  Every stretch of green code holds its hub's marker word (set by exchange on entry,
 *       cleared by exchange on exit, and re-read inside the stretch). If two carriers ever ran
 *       green code of one hub at once, an exchange would find another thread's id.
 *   I2  Every green thread finishes all its rounds, every blocking call gets the byte or wakeup
 *       it waited for, and every handoff ended in exactly one takeover or cancel.
 *   I3  In a control phase with green sleeps and yields only, nothing is handed off.
 *   I4  A watchdog fails the run if it does not finish (a carrier waiting forever on a hub).
 *
 * Usage: stress [--seconds N] [--hubs N] [--threads N] [--mode none|auto|trace|sched_ext]
 *               [--unmarked] [--inject-violation]
 * Exit status 0 when no invariant was broken. --inject-violation has an extra OS thread run
 * "green code" of hub 0 behind the runtime's back, to show the checker catches it (the run
 * must then fail).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "greenhub.h"

enum block_kind { BLOCK_PIPE, BLOCK_NANOSLEEP, BLOCK_FUTEX, NR_BLOCK_KINDS };

struct hub_state {
	gh_hub *hub;
	pthread_t thread;
	int index;
	atomic_uint_fast64_t marker; /* id of the green thread in green code, 0 if none */
	struct gh_hub_stats stats;
	int result;
};

struct green {
	struct hub_state *hs;
	uint64_t id;
	unsigned seed;
	int pipe_rd, pipe_wr; /* blocking pipe the feeders write our byte to */
	atomic_uint futex_word;
	uint64_t rounds;
	uint64_t blocks[NR_BLOCK_KINDS];
};

struct request {
	struct green *g;
	enum block_kind kind;
	uint32_t delay_us;
};

static unsigned opt_seconds = 3, opt_hubs = 2, opt_threads = 200;
static enum gh_mode opt_mode = GH_MODE_NONE;
static bool opt_unmarked, opt_inject;
static uint64_t deadline;
static int request_pipe[2];
static atomic_uint_fast64_t violations, total_rounds, total_blocks, next_id = 1;

static unsigned rnd(unsigned *seed, unsigned n)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 8) % n;
}

static void violation(struct green *g, const char *what, uint64_t seen)
{
	atomic_fetch_add(&violations, 1);
	fprintf(stderr, "stress: I1 violated in hub %d: green thread %llu %s, found %llu\n",
		g->hs->index, (unsigned long long)g->id, what, (unsigned long long)seen);
}

/* Green code of this hub starts/stops running on the calling carrier. */
static void enter(struct green *g)
{
	uint64_t old = atomic_exchange(&g->hs->marker, g->id);

	if (old)
		violation(g, "entered green code while another was in it", old);
}

static void leave(struct green *g)
{
	uint64_t old = atomic_exchange(&g->hs->marker, 0);

	if (old != g->id)
		violation(g, "left green code it did not hold", old);
}

static void stretch(struct green *g)
{
	unsigned n = rnd(&g->seed, 2000);

	for (unsigned i = 0; i < n; i++) {
		uint64_t seen = atomic_load_explicit(&g->hs->marker, memory_order_relaxed);

		if (seen != g->id) {
			violation(g, "saw the marker change inside its stretch", seen);
			break;
		}
	}
}

static long futex(atomic_uint *word, int op, unsigned val)
{
	return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

static void ask_feeder(struct green *g, enum block_kind kind, uint32_t delay_us)
{
	struct request rq = { g, kind, delay_us };

	/* A pipe write of a few bytes to a pipe with room never blocks. */
	if (write(request_pipe[1], &rq, sizeof(rq)) != sizeof(rq)) {
		perror("stress: write(request pipe)");
		exit(2);
	}
}

#define MAYBE_MARKED(call) (opt_unmarked ? (call) : GH_BLOCKING(call))

static void block(struct green *g)
{
	enum block_kind kind = (enum block_kind)rnd(&g->seed, NR_BLOCK_KINDS);
	uint32_t delay_us = rnd(&g->seed, 400);
	struct timespec ts = { 0, (long)delay_us * 1000 };
	char byte;
	ssize_t n;

	switch (kind) {
	case BLOCK_PIPE:
		ask_feeder(g, kind, delay_us);
		do
			n = MAYBE_MARKED(read(g->pipe_rd, &byte, 1));
		while (n < 0 && errno == EINTR);
		if (n != 1 || byte != 'x') {
			fprintf(stderr, "stress: I2: pipe read returned %zd\n", n);
			atomic_fetch_add(&violations, 1);
		}
		break;
	case BLOCK_NANOSLEEP:
		while (MAYBE_MARKED(nanosleep(&ts, &ts)) < 0 && errno == EINTR)
			;
		break;
	case BLOCK_FUTEX:
		atomic_store(&g->futex_word, 0);
		ask_feeder(g, kind, delay_us);
		while (!atomic_load(&g->futex_word))
			MAYBE_MARKED(futex(&g->futex_word, FUTEX_WAIT_PRIVATE, 0));
		break;
	default:
		abort();
	}
	g->blocks[kind]++;
}

static void *green_main(void *arg)
{
	struct green *g = arg;

	enter(g);
	/* Every thread makes at least one round, however late it first runs: I2 promises that a
	 * ready thread runs eventually, not by a deadline a loaded machine may pass (a thread
	 * that never ran hangs the run, which the suite's timeout reports). */
	while (gh_now() < deadline || !g->rounds) {
		unsigned what = rnd(&g->seed, 10);

		stretch(g);
		leave(g);
		if (what < 3) {
			gh_yield();
		} else if (what < 6) {
			gh_sleep_until(gh_now() + rnd(&g->seed, 200) * 1000u);
		} else {
			/* The blocking call is plain C code, not green code of the hub: a
			 * carrier blocked in it is exactly what the hub must run beside. */
			block(g);
		}
		enter(g);
		g->rounds++;
	}
	leave(g);
	return NULL;
}

static void *hub_main(void *arg)
{
	struct hub_state *hs = arg;
	struct green *gs = calloc(opt_threads, sizeof(*gs));
	gh_thread **ts = calloc(opt_threads, sizeof(*ts));

	if (!gs || !ts)
		abort();
	for (unsigned i = 0; i < opt_threads; i++) {
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0) {
			perror("stress: pipe2");
			exit(2);
		}
		gs[i].hs = hs;
		gs[i].id = atomic_fetch_add(&next_id, 1);
		gs[i].seed = (unsigned)(hs->index * 7919 + i * 104729 + 1);
		gs[i].pipe_rd = p[0];
		gs[i].pipe_wr = p[1];
		ts[i] = gh_spawn(green_main, &gs[i]);
		if (!ts[i]) {
			perror("stress: gh_spawn");
			exit(2);
		}
	}
	for (unsigned i = 0; i < opt_threads; i++) {
		int err = gh_join(ts[i], NULL);

		if (err) {
			fprintf(stderr, "stress: gh_join: %s\n", gh_strerror(err));
			atomic_fetch_add(&violations, 1);
		}
		atomic_fetch_add(&total_rounds, gs[i].rounds);
		for (int k = 0; k < NR_BLOCK_KINDS; k++)
			atomic_fetch_add(&total_blocks, gs[i].blocks[k]);
		if (!gs[i].rounds) {
			fprintf(stderr, "stress: I2: green thread %llu made no progress\n",
				(unsigned long long)gs[i].id);
			atomic_fetch_add(&violations, 1);
		}
		close(gs[i].pipe_rd);
		close(gs[i].pipe_wr);
	}
	free(gs);
	free(ts);
	return NULL;
}

/* Feeders: OS threads that complete the green threads' blocking calls after a delay. */
static void *feeder_main(void *arg)
{
	struct request rq;

	while (read(request_pipe[0], &rq, sizeof(rq)) == sizeof(rq)) {
		struct timespec ts = { 0, (long)rq.delay_us * 1000 };

		if (!rq.g)
			break;
		nanosleep(&ts, NULL);
		if (rq.kind == BLOCK_PIPE) {
			if (write(rq.g->pipe_wr, "x", 1) != 1) {
				perror("stress: write(pipe)");
				exit(2);
			}
		} else {
			atomic_store(&rq.g->futex_word, 1);
			futex(&rq.g->futex_word, FUTEX_WAKE_PRIVATE, 1);
		}
	}
	return NULL;
}

/* Run stretches of hub 0's green code from a thread that is no carrier at all. */
static void *intruder_main(void *arg)
{
	struct green g = { .hs = arg, .id = UINT64_MAX, .seed = 1 };

	while (gh_now() < deadline) {
		enter(&g);
		stretch(&g);
		leave(&g);
	}
	return NULL;
}

static void *run_hub(void *arg)
{
	struct hub_state *hs = arg;

	hs->result = gh_hub_run(hs->hub, hub_main, hs, NULL);
	hs->stats.sz = sizeof(hs->stats);
	gh_hub_stats(hs->hub, &hs->stats);
	return NULL;
}

static void *control_main(void *arg)
{
	for (int i = 0; i < 50; i++)
		gh_sleep_until(gh_now() + 100000);
	return NULL;
}

/* I3: a hub that only sleeps by choice is never handed off. */
static int control_phase(void)
{
	struct gh_hub_opts o;
	struct gh_hub_stats st = { .sz = sizeof(st) };
	gh_hub *hub;
	int err;

	gh_hub_opts_init(&o);
	o.mode = opt_mode;
	hub = gh_hub_create(&o);
	if (!hub) {
		perror("stress: gh_hub_create");
		return 1;
	}
	err = gh_hub_run(hub, control_main, NULL, NULL);
	gh_hub_stats(hub, &st);
	gh_hub_destroy(hub);
	if (err) {
		fprintf(stderr, "stress: control hub: %s\n", gh_strerror(err));
		return 1;
	}
	if (st.handoffs) {
		fprintf(stderr, "stress: I3 violated: %llu handoffs of a hub that only slept\n",
			(unsigned long long)st.handoffs);
		return 1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: stress [--seconds N] [--hubs N] [--threads N] "
		   "[--mode none|auto|trace|sched_ext] [--unmarked] [--inject-violation]\n");
}

static int parse(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "hubs", required_argument, NULL, 'h' },
		{ "threads", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'm' },
		{ "unmarked", no_argument, NULL, 'u' },
		{ "inject-violation", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'H' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt_seconds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			opt_hubs = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			opt_threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			if (!strcmp(optarg, "none"))
				opt_mode = GH_MODE_NONE;
			else if (!strcmp(optarg, "auto"))
				opt_mode = GH_MODE_AUTO;
			else if (!strcmp(optarg, "trace"))
				opt_mode = GH_MODE_TRACE;
			else if (!strcmp(optarg, "sched_ext"))
				opt_mode = GH_MODE_SCHED_EXT;
			else {
				fprintf(stderr, "stress: unknown mode '%s'\n", optarg);
				return -1;
			}
			break;
		case 'u':
			opt_unmarked = true;
			break;
		case 'i':
			opt_inject = true;
			break;
		case 'H':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!opt_seconds || !opt_hubs || opt_hubs > 64 || !opt_threads || opt_threads > 5000) {
		fprintf(stderr, "stress: --seconds, --hubs (1-64) and --threads (1-5000) must be "
				"positive\n");
		return -1;
	}
	return 0;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			perror("stress: setrlimit(RLIMIT_NOFILE)");
	}
}

int main(int argc, char **argv)
{
	struct hub_state *hubs;
	pthread_t feeders[4];
	uint64_t handoffs = 0, takeovers = 0, cancels = 0, holds = 0, handbacks = 0;
	uint64_t idle_returns = 0, spares = 0, stalled = 0;
	int failed = 0;

	if (parse(argc, argv))
		return 2;
	/* Every green thread holds a pipe: raise the soft descriptor limit (1024 by default on
	 * Debian) as far as the hard one allows. */
	raise_fd_limit();
	/* I4: a run that hangs fails. */
	alarm(opt_seconds * 10 + 60);
	if (pipe2(request_pipe, O_CLOEXEC) < 0) {
		perror("stress: pipe2");
		return 2;
	}
	for (int i = 0; i < 4; i++)
		if (pthread_create(&feeders[i], NULL, feeder_main, NULL)) {
			perror("stress: pthread_create");
			return 2;
		}
	failed |= control_phase();

	hubs = calloc(opt_hubs, sizeof(*hubs));
	deadline = gh_now() + (uint64_t)opt_seconds * 1000000000u;
	for (unsigned i = 0; i < opt_hubs; i++) {
		struct gh_hub_opts o;

		gh_hub_opts_init(&o);
		o.mode = opt_mode;
		hubs[i].index = (int)i;
		hubs[i].hub = gh_hub_create(&o);
		if (!hubs[i].hub || pthread_create(&hubs[i].thread, NULL, run_hub, &hubs[i])) {
			perror("stress: starting a hub");
			return 2;
		}
	}
	if (opt_inject) {
		pthread_t intruder;

		if (pthread_create(&intruder, NULL, intruder_main, &hubs[0]) == 0)
			pthread_detach(intruder);
	}
	for (unsigned i = 0; i < opt_hubs; i++) {
		struct gh_hub_stats *st = &hubs[i].stats;

		pthread_join(hubs[i].thread, NULL);
		if (hubs[i].result) {
			fprintf(stderr, "stress: hub %u: gh_hub_run: %s (%s)\n", i,
				gh_strerror(hubs[i].result), gh_hub_mode_reason(hubs[i].hub));
			failed = 1;
		}
		if (st->handoffs != st->takeovers + st->cancels) {
			fprintf(stderr, "stress: I2 violated in hub %u: %llu handoffs but %llu "
					"takeovers + %llu cancels\n", i,
				(unsigned long long)st->handoffs,
				(unsigned long long)st->takeovers,
				(unsigned long long)st->cancels);
			failed = 1;
		}
		handoffs += st->handoffs;
		takeovers += st->takeovers;
		cancels += st->cancels;
		holds += st->holds;
		handbacks += st->handbacks;
		idle_returns += st->idle_returns;
		spares += st->spares_started;
		stalled += st->stalled_ns;
		printf("stress: hub %u mode %s\n", i, gh_mode_name(gh_hub_mode(hubs[i].hub)));
		gh_hub_destroy(hubs[i].hub);
	}
	for (int i = 0; i < 4; i++) {
		struct request stop = { 0 };

		if (write(request_pipe[1], &stop, sizeof(stop)) != sizeof(stop))
			return 2;
	}
	for (int i = 0; i < 4; i++)
		pthread_join(feeders[i], NULL);

	printf("stress: %u hubs x %u green threads, %u s, %s calls: %llu rounds, %llu blocking "
	       "calls\n", opt_hubs, opt_threads, opt_seconds, opt_unmarked ? "unmarked" : "marked",
	       (unsigned long long)atomic_load(&total_rounds),
	       (unsigned long long)atomic_load(&total_blocks));
	printf("stress: %llu handoffs = %llu takeovers + %llu cancels; %llu holds, %llu "
	       "hand-backs, %llu idle returns, %llu spares started, %.1f ms stalled\n",
	       (unsigned long long)handoffs, (unsigned long long)takeovers,
	       (unsigned long long)cancels, (unsigned long long)holds,
	       (unsigned long long)handbacks, (unsigned long long)idle_returns,
	       (unsigned long long)spares, (double)stalled / 1e6);
	printf("stress: %llu exclusivity violations\n",
	       (unsigned long long)atomic_load(&violations));
	if (atomic_load(&violations))
		failed = 1;
	if (!atomic_load(&total_rounds)) {
		fprintf(stderr, "stress: no green thread ran a round: the run proved nothing\n");
		failed = 1;
	}
	if (!opt_unmarked && opt_mode == GH_MODE_NONE && handoffs == 0) {
		fprintf(stderr, "stress: no handoff happened: the run proved nothing\n");
		failed = 1;
	}
	return failed;
}
