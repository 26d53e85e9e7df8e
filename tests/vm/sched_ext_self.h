/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Moving the calling thread to SCHED_EXT with sched_setattr(2), for the VM tests (vm_test.h
 * includes it) and bench/scx/scx_floor. The runtime has its own (userspace/lib/backend_scx.c):
 * nothing of the library is shared with programs outside it.
 */
#ifndef GREENHUB_TESTS_SCHED_EXT_SELF_H
#define GREENHUB_TESTS_SCHED_EXT_SELF_H

#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SCHED_EXT_POLICY 7 /* SCHED_EXT, which glibc 2.36 does not name */

/* struct sched_attr of sched_setattr(2); glibc 2.36 has neither the type nor the wrapper. */
struct vm_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
};

/* Move the calling thread to SCHED_EXT: 0, or the errno of sched_setattr. */
static inline int vm_set_sched_ext(void)
{
	struct vm_sched_attr attr = { .size = sizeof(attr), .sched_policy = SCHED_EXT_POLICY };

	return syscall(SYS_sched_setattr, 0, &attr, 0) ? errno : 0;
}

#endif /* GREENHUB_TESTS_SCHED_EXT_SELF_H */
