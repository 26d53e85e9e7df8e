// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Memory for what the hub loop and switch points allocate for themselves: the timer heap and
 * the thread descriptors (a spawn of a posted function happens there). Mapped from the kernel,
 * not taken from malloc().
 *
 * Why not malloc: those paths must never hand the hub off (internal.h, gh__no_handoff_begin),
 * so they must never wait on a lock that green code may hold across a handed-off call. The
 * allocator's lock is one: green code handed off inside malloc() (in its mmap or brk) keeps it
 * until it gets the hub back, from the very carrier that would wait for the lock. A mapping
 * waits at most on the kernel's own locks, which no carrier keeps across the return gate.
 *
 * The pages are touched here, inside the no-handoff stretch: sched_ext mode hands off a page
 * fault of green code, and a first touch later, in the middle of a heap's sift or a
 * descriptor's set-up, would hand the hub off there.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

size_t gh__page_round(size_t bytes)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return (bytes + page - 1) / page * page;
}

void *gh__hub_mem_map(size_t bytes)
{
	struct gh__carrier *c = gh__carrier_self();
	struct gh_thread *t = gh__no_handoff_begin(c);
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int err = errno;

	if (p != MAP_FAILED)
		memset(p, 0, bytes); /* the first touch, here */
	gh__no_handoff_end(c, t);
	errno = err;
	return p == MAP_FAILED ? NULL : p;
}

/* A new mapping, the contents copied, the old one unmapped: not mremap(), which the thread
 * sanitizer does not follow (it took the moved pages for the ones another thread had at the
 * same address before). */
void *gh__hub_mem_grow(void *p, size_t old_bytes, size_t bytes)
{
	void *q = gh__hub_mem_map(bytes);

	if (!q)
		return NULL;
	memcpy(q, p, old_bytes);
	gh__hub_mem_unmap(p, old_bytes);
	return q;
}

void gh__hub_mem_unmap(void *p, size_t bytes)
{
	struct gh__carrier *c;
	struct gh_thread *t;

	if (!p)
		return;
	c = gh__carrier_self();
	t = gh__no_handoff_begin(c);
	if (munmap(p, bytes) < 0)
		gh__panic("munmap(hub memory, %zu bytes): %s", bytes, gh_strerror(errno));
	gh__no_handoff_end(c, t);
}
