// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The naive C baselines of the core benchmarks, measured the same way as gh_core:
 *
 *   c_baseline swapcontext N       ns per switch: two ucontexts running the same loop
 *                                  ping-pong with swapcontext(3), which saves and restores
 *                                  the signal mask with a system call on every switch
 *   c_baseline swapcontext-asym N  the same, but main's loop and a partner's loop ping-pong
 *   c_baseline pthread N           ns per pthread_create() + pthread_join() of a thread that
 *                                  returns at once (glibc caches the stacks, so they are warm)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Same loop: two contexts run this function, each swapcontext() switching to the other; the
 * first to finish returns to main through uc_link. */
static ucontext_t main_uc, pair_uc[2];
static long pair_n;

static void pingpong(int self)
{
	for (long i = 0; i < pair_n; i++)
		swapcontext(&pair_uc[self], &pair_uc[!self]);
}

static void first(void)
{
	pingpong(0);
}

static void second(void)
{
	pingpong(1);
}

static void run_pair(long n)
{
	static char stacks[2][64 * 1024] __attribute__((aligned(16)));

	pair_n = n;
	for (int i = 0; i < 2; i++) {
		getcontext(&pair_uc[i]);
		pair_uc[i].uc_stack.ss_sp = stacks[i];
		pair_uc[i].uc_stack.ss_size = sizeof(stacks[i]);
		pair_uc[i].uc_link = &main_uc;
		makecontext(&pair_uc[i], i ? second : first, 0);
	}
	swapcontext(&main_uc, &pair_uc[0]);
}

static double bench_swapcontext(long n)
{
	uint64_t t0, t1;

	run_pair(n / 10 + 1000);
	t0 = now_ns();
	run_pair(n);
	t1 = now_ns();
	return (double)(t1 - t0) / (2.0 * (double)n);
}

/* Different loops: main's loop and a partner's loop. */
static ucontext_t partner_uc;

static void partner(void)
{
	for (;;)
		swapcontext(&partner_uc, &main_uc);
}

static double bench_swapcontext_asym(long n)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	uint64_t t0, t1;

	getcontext(&partner_uc);
	partner_uc.uc_stack.ss_sp = stack;
	partner_uc.uc_stack.ss_size = sizeof(stack);
	partner_uc.uc_link = NULL;
	makecontext(&partner_uc, partner, 0);
	for (long i = 0; i < n / 10 + 1000; i++)
		swapcontext(&main_uc, &partner_uc);
	t0 = now_ns();
	for (long i = 0; i < n; i++)
		swapcontext(&main_uc, &partner_uc);
	t1 = now_ns();
	/* Each round trip is two switches: there and back. */
	return (double)(t1 - t0) / (2.0 * (double)n);
}

static void *noop(void *arg)
{
	return arg;
}

static int create_join(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, noop, NULL) || pthread_join(t, NULL))
			return -1;
	}
	return 0;
}

static double bench_pthread(long n)
{
	uint64_t t0, t1;

	if (create_join(n / 10 + 100))
		return -1;
	t0 = now_ns();
	if (create_join(n))
		return -1;
	t1 = now_ns();
	return (double)(t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
	double value;
	long n;

	if (argc != 3 || (n = atol(argv[2])) <= 0)
		goto usage;
	if (!strcmp(argv[1], "swapcontext"))
		value = bench_swapcontext(n);
	else if (!strcmp(argv[1], "swapcontext-asym"))
		value = bench_swapcontext_asym(n);
	else if (!strcmp(argv[1], "pthread"))
		value = bench_pthread(n);
	else
		goto usage;
	if (value < 0) {
		perror("pthread_create");
		return 1;
	}
	printf("%.3f\n", value);
	return 0;
usage:
	fprintf(stderr, "usage: c_baseline swapcontext N | swapcontext-asym N | pthread N\n");
	return 2;
}
