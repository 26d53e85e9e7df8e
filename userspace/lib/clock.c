// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The runtime's clock: every deadline and timer is in CLOCK_MONOTONIC nanoseconds. */
#include <time.h>

#include "internal.h"

uint64_t gh_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
