// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Error names: gh_strerror(), with greenhub's own meaning of the codes it gives one. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "internal.h"

const char *gh_strerror(int err)
{
	const char *desc;

	if (err == INT_MIN)
		return "unknown error";
	if (err < 0)
		err = -err;
	/* The codes greenhub gives its own meaning; the rest keep the C library's wording. */
	switch (err) {
	case 0:
		return "success";
	case EPERM:
		return "not allowed here (called outside a green thread, in a child of fork(), or "
		       "lacking privilege)";
	case EINVAL:
		return "invalid argument or misuse (e.g. joining a detached green thread)";
	case EDEADLK:
		return "would deadlock (joining oneself, nested hub, or every green thread waiting)";
	case ECANCELED:
		return "the green thread was cancelled";
	case ETIMEDOUT:
		return "deadline passed";
	case EBUSY:
		return "busy (the hub is running, or a signal greenhub reserves is the application's)";
	case ESRCH:
		return "no such green thread (it was joined, or detached and finished)";
	case EBADF:
		return "bad file descriptor, or closed while waited on";
	case ENOMEM:
		return "out of memory";
	case ESHUTDOWN:
		return "the hub's run has ended (a post after it)";
	case EALREADY:
		return "already done (a future set twice)";
	default:
		break;
	}
	desc = strerrordesc_np(err);
	return desc ? desc : "unknown error";
}
