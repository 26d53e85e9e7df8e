// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench/watch-cost: what trace mode's programs cost the rest of the machine, and a carrier.
 *
 *   watch_cost syscall [n]      ns per getppid(2): the sys_exit program runs on every system
 *                               call of every thread of the machine
 *   watch_cost ctxsw [n]        ns per round trip of two threads on one CPU passing a byte
 *                               through two pipes: two context switches (and four system calls)
 *                               each, so the sched_switch program runs twice
 *   watch_cost carrier [n]      ns per getppid(2) from a green thread of a hub: the system
 *                               calls of a registered carrier, which find their registration
 *                               (in trace mode if scx_greenhub is loaded, else mode none)
 *
 * Prints one number (ns per operation). bench/watch-cost/run runs them with the programs
 * attached and not, interleaved, and prints the ratios.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "greenhub.h"

static unsigned long n;
static double result;

static double syscall_loop(void)
{
	uint64_t t0 = gh_now();

	for (unsigned long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return (double)(gh_now() - t0) / (double)n;
}

static int ping[2], pong[2];

static void *ponger(void *arg)
{
	char c;

	for (unsigned long i = 0; i < n; i++)
		if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
			exit(1);
	return NULL;
}

static double ctxsw_loop(void)
{
	cpu_set_t one;
	pthread_t t;
	uint64_t t0;
	char c = 'x';

	/* Both threads on one CPU: every hand-over is a context switch. */
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (pipe(ping) || pipe(pong) || sched_setaffinity(0, sizeof(one), &one))
		exit(1);
	pthread_create(&t, NULL, ponger, NULL);
	t0 = gh_now();
	for (unsigned long i = 0; i < n; i++)
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			exit(1);
	t0 = gh_now() - t0;
	pthread_join(t, NULL);
	return (double)t0 / (double)n;
}

static void *carrier_main(void *arg)
{
	result = syscall_loop();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: watch_cost syscall|ctxsw|carrier [n]\n");
		return 2;
	}
	if (!strcmp(argv[1], "syscall")) {
		n = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000000;
		result = syscall_loop();
	} else if (!strcmp(argv[1], "ctxsw")) {
		n = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
		result = ctxsw_loop();
	} else if (!strcmp(argv[1], "carrier")) {
		gh_hub *hub = gh_hub_create(NULL);
		int err;

		n = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000000;
		err = hub ? gh_hub_run(hub, carrier_main, NULL, NULL) : -errno;
		if (err) {
			fprintf(stderr, "watch_cost: %s\n", gh_strerror(err));
			return 1;
		}
		fprintf(stderr, "mode %s\n", gh_mode_name(gh_hub_mode(hub)));
	} else {
		fprintf(stderr, "watch_cost: unknown benchmark '%s'\n", argv[1]);
		return 2;
	}
	printf("%.1f\n", result);
	return 0;
}
