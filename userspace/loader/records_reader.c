// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attaching to the block records (include/greenhub/records.h), for every reader of them:
 * --top (top.c) and --record (record.c).
 *
 * The reader attaches through the control map: it writes records_since_ns, then
 * records_until_ns, a heartbeat it renews at each drain of the ring buffer; the kernel side
 * records only while the heartbeat is live, so a reader that is killed stops the records
 * GH_RECORDS_HEARTBEAT_NS later, and one that exits (SIGINT and SIGTERM included: they are
 * blocked and taken synchronously, loader_sleep()) clears it at once. It also sets the records
 * flag of every attached hub's slot, so that the runtimes publish their green threads' names
 * from now on rather than from each hub's first recorded block.
 *
 * One reader at a time: a second one would split the records with the first. A live
 * heartbeat not ours makes the reader refuse (EXIT_RUNNING).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "greenhub/records.h"
#include "loader.h"

/* An fd of m's pin name: else an exit status (message printed), as --stats says it. */
static int pinned(const struct loader_mode *m, const char *name, int *fd)
{
	int err;

	*fd = loader_pinned_fd(m->pins, name);
	if (*fd >= 0)
		return 0;
	err = errno;
	if (err == ENOENT) {
		loader_err("not running: nothing is pinned at %s/%s", m->pins->dir, name);
		return EXIT_NOT_RUNNING;
	}
	if (err == EACCES || err == EPERM) {
		loader_err("permission denied opening %s/%s: run as root", m->pins->dir, name);
		return EXIT_NOPERM;
	}
	loader_err("opening %s/%s: %s", m->pins->dir, name, strerror(err));
	return EXIT_FAIL;
}

static int map_pinned(const struct loader_mode *m, const char *name, size_t size, unsigned n,
		      void **p)
{
	int fd, status = pinned(m, name, &fd);

	if (status)
		return status;
	*p = loader_map_fd(fd, size, n, true);
	if (!*p) {
		loader_err("mapping %s/%s: %s", m->pins->dir, name, strerror(errno));
		return EXIT_FAIL;
	}
	return 0;
}

/* The records flag on every attached hub's slot (slot.h), or off. The kernel side keeps it
 * in step from each block on; this spares the first block of each hub an unnamed record. */
static void flag_slots(struct records_reader *r, bool on)
{
	for (unsigned i = 0; i < GH_MAX_HUBS; i++) {
		__u32 *flags = &r->slots[i].flags;

		if (!(__atomic_load_n(flags, __ATOMIC_RELAXED) & GH_SLOT_F_ACTIVE))
			continue;
		if (on)
			__atomic_fetch_or(flags, GH_SLOT_F_RECORDS, __ATOMIC_RELAXED);
		else
			__atomic_fetch_and(flags, ~GH_SLOT_F_RECORDS, __ATOMIC_RELAXED);
	}
}

void records_reader_beat(struct records_reader *r)
{
	__atomic_store_n(&r->ctl->records_until_ns, loader_now() + GH_RECORDS_HEARTBEAT_NS,
			 __ATOMIC_RELEASE);
	flag_slots(r, true); /* hubs attached since */
}

void records_reader_close(struct records_reader *r)
{
	if (r->ctl) {
		__atomic_store_n(&r->ctl->records_until_ns, 0, __ATOMIC_RELEASE);
		if (r->slots)
			flag_slots(r, false);
	}
	ring_buffer__free(r->ring);
	if (r->slots)
		loader_unmap_values(r->slots, sizeof(struct gh_hub_slot), GH_MAX_HUBS);
	if (r->ctl)
		loader_unmap_values(r->ctl, r->m->control_size, 1);
	memset(r, 0, sizeof(*r));
}

/* Another reader's heartbeat is live. */
static bool other_reader(const struct gh_kside_control *c)
{
	__u64 until = __atomic_load_n(&c->records_until_ns, __ATOMIC_ACQUIRE);

	return until && until > loader_now();
}

int records_reader_open(struct records_reader *r, const struct loader_mode *m,
			int (*take)(void *ctx, void *data, size_t size), void *ctx)
{
	int fd, status, err;

	memset(r, 0, sizeof(*r));
	r->m = m;
	status = map_pinned(m, "control", m->control_size, 1, (void **)&r->ctl);
	if (status)
		return status;
	if (!loader_control_ours(m, r->ctl)) {
		loader_err_foreign(m, r->ctl, "");
		loader_unmap_values(r->ctl, m->control_size, 1);
		r->ctl = NULL;
		return EXIT_INCOMPATIBLE;
	}
	if (other_reader(r->ctl)) {
		loader_err("another reader of block records (scx_greenhub --top or --record) is "
			   "attached");
		loader_unmap_values(r->ctl, m->control_size, 1);
		r->ctl = NULL;
		return EXIT_RUNNING;
	}
	status = map_pinned(m, "slots", sizeof(struct gh_hub_slot), GH_MAX_HUBS,
			    (void **)&r->slots);
	if (!status)
		status = pinned(m, GH_RECORDS_PIN, &fd);
	if (status) {
		records_reader_close(r);
		return status;
	}
	r->ring = ring_buffer__new(fd, take, ctx, NULL);
	err = errno;
	close(fd);
	if (!r->ring) {
		loader_err("ring_buffer__new(%s/%s): %s", m->pins->dir, GH_RECORDS_PIN,
			   strerror(err));
		records_reader_close(r);
		return EXIT_FAIL;
	}
	/* The since first: a block noted before it, under an earlier reader, is dropped. */
	r->since_ns = loader_now();
	__atomic_store_n(&r->ctl->records_since_ns, r->since_ns, __ATOMIC_RELEASE);
	records_reader_beat(r);
	return 0;
}

int records_reader_drain(struct records_reader *r)
{
	int n = ring_buffer__consume(r->ring);

	if (n < 0) {
		loader_err("ring_buffer__consume: %s", strerror(-n));
		return EXIT_FAIL;
	}
	return 0;
}
