// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The wake experiment: which way should trace mode's sched_switch program wake a hub's spare?
 *
 * An owner thread O blocks in read(2) on an empty pipe; a waiter thread W is woken and
 * records the time from just before O's read to W running again, then writes the pipe to let O
 * go. Three ways to wake W, in interleaved batches so that a slow spell of the machine hits all
 * three alike:
 *
 *   ringbuf  handoff_wake.bpf.c sees O switch out asleep and writes a ring buffer with
 *            BPF_RB_FORCE_WAKEUP; W waits in epoll_wait on it
 *   signal   the same program sends W a signal (bpf_send_signal_task); W waits in a futex wait
 *            that the handler ends, as trace mode's parked spares do
 *   futex    no BPF: O wakes W's futex itself just before it blocks (the best a runtime could
 *            do if it knew in advance that a call will block)
 *
 * Needs root. Prints one line per mechanism (p50/p99/max in microseconds) and the ratios.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "handoff_wake.skel.h"

#define SIGNO 61
#define BATCH 250
#define MECHANISMS 3

enum mech { RINGBUF, SIGNAL, FUTEX };
static const char *const names[] = { "ringbuf", "signal", "futex" };

static struct handoff_wake *skel;
static struct ring_buffer *rb;
static int pipefd[2];
static atomic_uint word;      /* W's futex word */
static atomic_long ready;     /* the round W waits for */
static atomic_int mech;
static atomic_bool quit;
static _Atomic uint64_t t0;
static uint64_t *lat[MECHANISMS];
static unsigned nlat[MECHANISMS];
static pid_t owner_tid;
static atomic_int waiter_tid;

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void futex_wait(atomic_uint *w)
{
	while (!atomic_load(w))
		syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	atomic_store(&word, 1);
}

static int on_record(void *ctx, void *data, size_t len)
{
	return 0;
}

/* W: wait the chosen way for each round, record, release O. */
static void *waiter(void *arg)
{
	struct epoll_event ev;
	int epfd = ring_buffer__epoll_fd(rb);

	atomic_store(&waiter_tid, gettid());
	for (long round = 1; !atomic_load(&quit); round++) {
		enum mech m = atomic_load(&mech);
		uint64_t t1;

		atomic_store(&word, 0);
		atomic_store(&ready, round);
		if (m == RINGBUF) {
			while (epoll_wait(epfd, &ev, 1, -1) < 0 && errno == EINTR &&
			       !atomic_load(&quit))
				;
			ring_buffer__consume(rb);
		} else {
			futex_wait(&word);
		}
		t1 = now();
		if (atomic_load(&quit))
			break;
		lat[m][nlat[m]++] = t1 - atomic_load(&t0);
		if (write(pipefd[1], "x", 1) != 1)
			exit(1);
	}
	return NULL;
}

/*
 * O: one round woken by m: wait until W waits (and some more, so that it is asleep), then
 * block. W reads the next round's mechanism once woken, so it is set here, before the block.
 */
static void owner_round(long round, enum mech m, enum mech next)
{
	uint64_t settle;
	char c;

	while (atomic_load(&ready) != round)
		sched_yield();
	skel->bss->mechanism = m == RINGBUF ? 1 : m == SIGNAL ? 2 : 0;
	atomic_store(&mech, next);
	settle = now() + 100000; /* 100 us of spinning: no system call, so no sleep */
	while (now() < settle)
		;
	atomic_store(&t0, now());
	if (m == FUTEX) {
		atomic_store(&word, 1);
		syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	if (read(pipefd[0], &c, 1) != 1)
		exit(1);
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned batches = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 8;
	struct sigaction sa;
	pthread_t w;
	double p50[MECHANISMS], p99[MECHANISMS];
	long round = 1;

	if (geteuid() != 0) {
		printf("wake experiment: not measured (needs root)\n");
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGNO, &sa, NULL);
	skel = handoff_wake__open_and_load();
	if (!skel || handoff_wake__attach(skel)) {
		printf("wake experiment: not measured (the BPF program does not load here)\n");
		return 0;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.wake_rb), on_record, NULL, NULL);
	if (!rb || pipe(pipefd))
		return 1;
	for (int m = 0; m < MECHANISMS; m++)
		lat[m] = calloc(batches * BATCH + 1, sizeof(uint64_t));
	owner_tid = gettid();
	atomic_store(&mech, RINGBUF); /* the first round's */
	pthread_create(&w, NULL, waiter, NULL);
	while (!atomic_load(&waiter_tid))
		sched_yield();
	skel->bss->owner = (__u32)owner_tid;
	skel->bss->waiter = (__u32)waiter_tid;
	skel->bss->signo = SIGNO;

	/* Batches of BATCH rounds per mechanism, the mechanisms taking turns. */
	for (unsigned b = 0; b < batches; b++)
		for (int m = 0; m < MECHANISMS; m++)
			for (int i = 0; i < BATCH; i++) {
				bool last = i == BATCH - 1;
				int next = last ? (m + 1) % MECHANISMS : m;

				owner_round(round++, (enum mech)m, (enum mech)next);
			}
	while (atomic_load(&ready) != round)
		sched_yield();
	skel->bss->mechanism = 0;
	atomic_store(&quit, true);
	atomic_store(&word, 1);
	syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_kill(w, SIGNO);
	pthread_join(w, NULL);

	printf("wake experiment: block (read of an empty pipe) to the woken thread running, "
	       "%u rounds each\n", batches * BATCH);
	for (int m = 0; m < MECHANISMS; m++) {
		unsigned n = nlat[m];

		qsort(lat[m], n, sizeof(uint64_t), cmp);
		p50[m] = (double)lat[m][n / 2] / 1e3;
		p99[m] = (double)lat[m][n * 99 / 100] / 1e3;
		printf("  %-8s p50 %7.1f us  p99 %7.1f us  max %8.1f us\n", names[m], p50[m],
		       p99[m], (double)lat[m][n - 1] / 1e3);
	}
	printf("  signal / ringbuf: p50 %.2fx, p99 %.2fx;  signal / futex: p50 %.2fx, p99 %.2fx\n",
	       p50[SIGNAL] / p50[RINGBUF], p99[SIGNAL] / p99[RINGBUF], p50[SIGNAL] / p50[FUTEX],
	       p99[SIGNAL] / p99[FUTEX]);
	if (skel->bss->nr_failed)
		printf("  (%llu BPF wakes failed)\n", (unsigned long long)skel->bss->nr_failed);
	ring_buffer__free(rb);
	handoff_wake__destroy(skel);
	return 0;
}
