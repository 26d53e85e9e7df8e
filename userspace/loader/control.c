// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What every mode's control map shares, and so what one copy of the loader handles for all of
 * them: filling one at a load, the checks of a pinned one, and the drain before an unload.
 *
 * A kernel side outlives its loader, so a later scx_greenhub meets its control map pinned:
 * before a load, for --stop and for --stats (stats.c). It checks the magic and the ABI
 * versions first (another version's maps may be laid out, even named, otherwise) and reads
 * who loaded it, from the fields every mode's control map begins with (struct
 * gh_kside_control).
 *
 * Both kernel sides stop alike (docs/loader.md, "Stopping safely"): a carrier they handed off
 * is blocked in a system call and must meet its return gate before it runs user code again, so
 * nothing is unpinned while one is displaced. The loader turns handoffs off through the state
 * word, then waits for the displaced gauge to reach 0. The mode says where those words are
 * (struct loader_drain) and how its messages name its kernel side.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loader.h"

#define NSEC_PER_SEC 1000000000ull

/* ---------------------------------------------------------------------------------------- */
/* A pinned control map                                                                       */

void loader_control_init(void *ctl, const struct loader_mode *m, __u32 signo,
			 uint64_t features)
{
	struct gh_kside_control *c = ctl;
	struct timespec rt;

	clock_gettime(CLOCK_REALTIME, &rt);
	c->magic = m->magic;
	c->slot_abi = GH_SLOT_ABI_VERSION;
	c->abi = m->abi;
	c->mode = m->mode;
	c->signo = signo;
	c->loader_pid = (__u32)getpid();
	c->loaded_ns = (__u64)rt.tv_sec * NSEC_PER_SEC + (__u64)rt.tv_nsec;
	c->features = features;
}

bool loader_control_ours(const struct loader_mode *m, const struct gh_kside_control *c)
{
	return c->magic == m->magic && c->slot_abi == GH_SLOT_ABI_VERSION && c->abi == m->abi;
}

void loader_err_foreign(const struct loader_mode *m, const struct gh_kside_control *c,
			const char *advice)
{
	char versions[96] = "";

	if (m->abi_name)
		snprintf(versions, sizeof(versions), " (slot ABI %u, %s %u; this loader: %u, %u)",
			 c->slot_abi, m->abi_name, c->abi, GH_SLOT_ABI_VERSION, m->abi);
	loader_err("%s holds objects of another greenhub version%s%s", m->pins->dir, versions,
		   advice);
}

/* m's control map, mapped read-only; NULL with *status 0 if nothing of m is pinned, else with
 * an exit status (message printed). */
static struct gh_kside_control *pinned_control(const struct loader_mode *m, int *status)
{
	struct gh_kside_control *c;
	int fd;

	*status = 0;
	if (access(m->pins->dir, F_OK) < 0)
		return NULL;
	fd = loader_pinned_fd(m->pins, "control");
	if (fd < 0 && errno == ENAMETOOLONG) {
		loader_err("%s: %s", m->pins->dir, strerror(errno));
		*status = EXIT_FAIL;
		return NULL;
	}
	if (fd < 0) {
		loader_err("%s holds objects of an interrupted load: remove them with "
			   "`scx_greenhub --stop`", m->pins->dir);
		*status = EXIT_RUNNING;
		return NULL;
	}
	c = loader_map_fd(fd, m->control_size, 1, false);
	if (!c) {
		loader_err("%s/control: cannot read it: %s", m->pins->dir, strerror(errno));
		*status = EXIT_FAIL;
	}
	return c;
}

int loader_check_pins(const struct loader_mode *m)
{
	struct gh_kside_control *c;
	int status;

	c = pinned_control(m, &status);
	if (!c)
		return status;
	if (!loader_control_ours(m, c)) {
		loader_err_foreign(m, c, ": stop them with that version's scx_greenhub, or `scx_greenhub "
				  "--stop --force`");
		status = EXIT_INCOMPATIBLE;
	} else {
		m->say_running(c);
		status = EXIT_RUNNING;
	}
	loader_unmap_values(c, m->control_size, 1);
	return status;
}

void loader_err_running(const char *mode, __u32 pid, bool stopping)
{
	loader_err("already running: %s mode, loaded by pid %u%s; see `scx_greenhub --stats`, "
		   "unload with `scx_greenhub --stop`",
		   mode, pid, stopping ? " (stopping)" : "");
}

/* --stop on another version's pins: removed with --force (nothing of theirs can be drained
 * here), else refused. */
static int stop_foreign(const struct loader_mode *m, const struct gh_kside_control *c,
			const struct loader_opts *o)
{
	char advice[160];

	if (!o->force) {
		snprintf(advice, sizeof(advice), ": stop them with that version's scx_greenhub, "
						 "or use --stop --force%s", m->force_note);
		loader_err_foreign(m, c, advice);
		return EXIT_INCOMPATIBLE;
	}
	loader_unpin_all(m->pins);
	loader_info("removed the pins of another greenhub version (--force)");
	return 0;
}

void *loader_stop_begin(const struct loader_mode *m, const struct loader_opts *o, int *status)
{
	struct gh_kside_control *c;
	int fd = loader_pinned_fd(m->pins, "control");

	*status = 0;
	if (fd < 0) {
		/* Objects of an interrupted load: no runtime attached to them (it needs the
		 * control map), so nothing can be displaced. */
		loader_unpin_all(m->pins);
		loader_info("removed objects left by an interrupted load");
		return NULL;
	}
	c = loader_map_fd(fd, m->control_size, 1, true);
	if (!c) {
		loader_err("mapping %s/control: %s", m->pins->dir, strerror(errno));
		*status = EXIT_FAIL;
		return NULL;
	}
	*status = loader_control_ours(m, c) ? loader_stop_live(m->pins, c->loader_pid, o)
					     : stop_foreign(m, c, o);
	if (*status < 0) {
		*status = 0;
		return c; /* no loader to unload them: the caller drains */
	}
	loader_unmap_values(c, m->control_size, 1);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* The drain                                                                                  */

/* The kernel side has exited on its own: it hands nothing off and settles nothing any more. */
static bool exited(const struct loader_drain *d)
{
	return d->exited && __atomic_load_n(d->exited, __ATOMIC_ACQUIRE);
}

static void report_waiting(const struct loader_drain *d, long long n)
{
	const char *colon = "", *hubs = "";
	char who[128] = "";

	if (d->name_hubs) {
		d->name_hubs(d->hubs, who, sizeof(who));
		colon = ":";
		hubs = who[0] ? who : " (unknown hubs)";
	}
	loader_info("handoffs are off; waiting for %lld blocked carrier(s) to return%s%s", n,
		    colon, hubs);
}

/* 0 once no carrier is displaced, EXIT_BUSY if the wait ended first (message printed). */
static int drain(const struct loader_drain *d, const struct loader_opts *o)
{
	uint64_t start = loader_now(), next_report = start + NSEC_PER_SEC;
	int interrupted_at = loader_interrupted;

	/* The loader's half of the Dekker pair with the handoff path: store, then read, both
	 * seq_cst. An exited kernel side keeps the state its exit wrote. */
	if (!exited(d))
		__atomic_store_n(d->state, d->draining, __ATOMIC_SEQ_CST);
	for (;;) {
		__s64 n = __atomic_load_n(d->nr_displaced, __ATOMIC_SEQ_CST);
		uint64_t now = loader_now();

		if (n <= 0 || exited(d))
			return 0;
		if ((o->timeout >= 0 && now - start >= (uint64_t)(o->timeout * 1e9)) ||
		    loader_interrupted > interrupted_at) {
			loader_err("%lld carrier(s) are still blocked in calls %s", (long long)n,
				   d->busy);
			return EXIT_BUSY;
		}
		if (now >= next_report) {
			report_waiting(d, n);
			next_report = now + NSEC_PER_SEC;
		}
		loader_sleep(0.001);
	}
}

int loader_unload(const struct loader_pins *pins, const struct loader_drain *d,
		  const struct loader_opts *o, bool again)
{
	int status = drain(d, o);

	if (status && o->force && d->forced) {
		loader_info("removing the pins all the same (--force): %s", d->forced);
		loader_unpin_all(pins);
		return 0;
	}
	if (status) {
		loader_err("%srun `scx_greenhub --stop`%s once the blocked calls have returned%s",
			   d->left, again ? " again" : "",
			   d->forced ? ", or with --force to remove the pins now" : "");
		return status;
	}
	/* Unpinning the links drops their last reference: the programs (the scheduler) detach. */
	loader_unpin_all(pins);
	return 0;
}
