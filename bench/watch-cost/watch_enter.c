// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attach watch_enter.bpf.c (a sys_enter program, the rejected alternative's extra cost) and
 * keep it attached until SIGINT or SIGTERM. Prints "attached" once it is. Needs root.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "watch_enter.skel.h"

int main(void)
{
	struct watch_enter *skel;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	skel = watch_enter__open_and_load();
	if (!skel || watch_enter__attach(skel)) {
		fprintf(stderr, "watch_enter: cannot attach the sys_enter program\n");
		return 1;
	}
	printf("attached\n");
	fflush(stdout);
	sigwait(&set, &sig);
	watch_enter__destroy(skel);
	return 0;
}
