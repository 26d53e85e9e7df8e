// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Futexes on the runtime's own words (a carrier's wake word, the sysmon's): process-private,
 * since no other process may wait on them.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

int gh__futex_wait(atomic_uint *word, unsigned val, const struct timespec *rel)
{
	if (syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0) < 0)
		return -errno;
	return 0;
}

void gh__futex_wake(atomic_uint *word, int n)
{
	if (syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0) < 0)
		gh__panic("futex(FUTEX_WAKE): %s", gh_strerror(errno));
}
