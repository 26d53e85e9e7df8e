/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Waiting for a thread to block. A test that must see a call block, and the kernel side react,
 * ends the call only once the thread sleeps in it: on a loaded machine the call may start later
 * than any fixed delay, and a call ended before it blocked is never handed off.
 */
#ifndef GREENHUB_TESTS_IN_SYSCALL_H
#define GREENHUB_TESTS_IN_SYSCALL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>

/*
 * Wait until thread tid of this process sleeps in system call nr (any call if nr < 0), up to
 * timeout_ms. /proc/self/task/TID/syscall names the call only while the thread is blocked in
 * it ("running" otherwise), so a match also means the thread has been switched out. True if it
 * was seen blocked.
 */
static inline bool wait_in_syscall(pid_t tid, long nr, unsigned timeout_ms)
{
	char path[64], line[256];

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	for (unsigned ms = 0; ms < timeout_ms; ms++) {
		struct timespec one = { 0, 1000000 };
		FILE *f = fopen(path, "r");
		bool in = false;

		if (f) {
			in = fgets(line, sizeof(line), f) && line[0] >= '0' && line[0] <= '9' &&
			     (nr < 0 || strtol(line, NULL, 10) == nr);
			fclose(f);
		}
		if (in)
			return true;
		nanosleep(&one, NULL);
	}
	return false;
}

#endif /* GREENHUB_TESTS_IN_SYSCALL_H */
