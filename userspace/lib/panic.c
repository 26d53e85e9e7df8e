// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The runtime's abort for a broken internal invariant or a misuse it cannot report otherwise
 * (a second runner, a thread ended under a hub, a failed call that cannot fail): one line on
 * stderr, then abort(), so that the process leaves a core at the point of failure.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

void gh__panic(const char *fmt, ...)
{
	va_list ap;

	fputs("greenhub: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
