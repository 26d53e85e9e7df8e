// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * offload_bench: the round trip of handing a function that does nothing to a worker OS thread
 * and getting its result back, in ns per call.
 *
 *   offload_bench greenhub CALLS CONCURRENCY WORKERS
 *       gh_offload from CONCURRENCY green threads of one hub (CALLS in all), on a pool of
 *       WORKERS worker threads.
 *   offload_bench pthread CALLS
 *       the bare handoff: one caller thread and one worker thread passing a job back and forth
 *       with a mutex and two condition variables; the least any thread pool can cost.
 *
 * Prints "ns_per_call=N". A tenth of CALLS more run first, unmeasured, to start the workers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greenhub.h"

static void *noop(void *arg)
{
	return arg;
}

/* ---------------------------------------------------------------------------------------- */

static gh_offload_pool *pool;
static long calls_each;

static void *caller(void *arg)
{
	for (long i = 0; i < calls_each; i++) {
		void *r = NULL;
		int err = gh_offload(pool, noop, (void *)(intptr_t)i, &r);

		if (err || r != (void *)(intptr_t)i) {
			fprintf(stderr, "offload_bench: gh_offload: %s\n", gh_strerror(err));
			exit(1);
		}
	}
	return NULL;
}

struct gh_args {
	long calls;
	long concurrency;
};

/* Run calls in all from concurrency green threads; elapsed ns. */
static uint64_t gh_round(long calls, long concurrency)
{
	gh_thread **t = calloc((size_t)concurrency, sizeof(*t));
	uint64_t t0;

	if (!t) {
		fprintf(stderr, "offload_bench: out of memory\n");
		exit(1);
	}
	calls_each = calls / concurrency;
	t0 = gh_now();
	for (long i = 0; i < concurrency; i++) {
		t[i] = gh_spawn(caller, NULL);
		if (!t[i]) {
			fprintf(stderr, "offload_bench: gh_spawn: %s\n", strerror(errno));
			exit(1);
		}
	}
	for (long i = 0; i < concurrency; i++) {
		int err = gh_join(t[i], NULL);

		if (err) {
			fprintf(stderr, "offload_bench: gh_join: %s\n", gh_strerror(err));
			exit(1);
		}
	}
	free(t);
	return gh_now() - t0;
}

static void *gh_main(void *arg)
{
	struct gh_args *a = arg;
	uint64_t ns;

	gh_round(a->calls / 10, a->concurrency);
	ns = gh_round(a->calls, a->concurrency);
	printf("ns_per_call=%.0f\n", (double)ns / (double)(calls_each * a->concurrency));
	return NULL;
}

static int run_greenhub(long calls, long concurrency, unsigned workers)
{
	struct gh_args a = { .calls = calls, .concurrency = concurrency };
	gh_hub *hub;
	int err;

	pool = gh_offload_pool_create(workers);
	if (!pool) {
		fprintf(stderr, "offload_bench: gh_offload_pool_create: %s\n", strerror(errno));
		return 1;
	}
	hub = gh_hub_create(NULL);
	if (!hub) {
		fprintf(stderr, "offload_bench: gh_hub_create: %s\n", strerror(errno));
		return 1;
	}
	err = gh_hub_run(hub, gh_main, &a, NULL);
	if (err) {
		fprintf(stderr, "offload_bench: gh_hub_run: %s\n", gh_strerror(err));
		return 1;
	}
	gh_hub_destroy(hub);
	err = gh_offload_pool_destroy(pool);
	if (err) {
		fprintf(stderr, "offload_bench: gh_offload_pool_destroy: %s\n", gh_strerror(err));
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t posted, done;
	void *(*fn)(void *);
	void *arg, *result;
	int state; /* 0 idle, 1 posted, 2 done, 3 stop */
} handoff = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.posted = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

static void *handoff_worker(void *unused)
{
	pthread_mutex_lock(&handoff.lock);
	for (;;) {
		while (handoff.state != 1 && handoff.state != 3)
			pthread_cond_wait(&handoff.posted, &handoff.lock);
		if (handoff.state == 3)
			break;
		handoff.result = handoff.fn(handoff.arg);
		handoff.state = 2;
		pthread_cond_signal(&handoff.done);
	}
	pthread_mutex_unlock(&handoff.lock);
	return NULL;
}

static void handoff_call(void *arg)
{
	pthread_mutex_lock(&handoff.lock);
	handoff.fn = noop;
	handoff.arg = arg;
	handoff.state = 1;
	pthread_cond_signal(&handoff.posted);
	while (handoff.state != 2)
		pthread_cond_wait(&handoff.done, &handoff.lock);
	if (handoff.result != arg) {
		fprintf(stderr, "offload_bench: wrong result\n");
		exit(1);
	}
	handoff.state = 0;
	pthread_mutex_unlock(&handoff.lock);
}

static int run_pthread(long calls)
{
	pthread_t w;
	uint64_t t0, ns;
	int err = pthread_create(&w, NULL, handoff_worker, NULL);

	if (err) {
		fprintf(stderr, "offload_bench: pthread_create: %s\n", strerror(err));
		return 1;
	}
	for (long i = 0; i < calls / 10; i++)
		handoff_call((void *)(intptr_t)i);
	t0 = gh_now();
	for (long i = 0; i < calls; i++)
		handoff_call((void *)(intptr_t)i);
	ns = gh_now() - t0;
	pthread_mutex_lock(&handoff.lock);
	handoff.state = 3;
	pthread_cond_signal(&handoff.posted);
	pthread_mutex_unlock(&handoff.lock);
	pthread_join(w, NULL);
	printf("ns_per_call=%.0f\n", (double)ns / (double)calls);
	return 0;
}

int main(int argc, char **argv)
{
	long calls = argc > 2 ? atol(argv[2]) : 0;

	if (argc == 5 && strcmp(argv[1], "greenhub") == 0 && calls > 0 && atol(argv[3]) > 0 &&
	    atol(argv[4]) > 0)
		return run_greenhub(calls, atol(argv[3]), (unsigned)atol(argv[4]));
	if (argc == 3 && strcmp(argv[1], "pthread") == 0 && calls > 0)
		return run_pthread(calls);
	fprintf(stderr, "usage: offload_bench greenhub CALLS CONCURRENCY WORKERS\n"
			"       offload_bench pthread CALLS\n");
	return 2;
}
