// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What --stats does alike for every mode: it maps the pinned control, slots and hubs maps
 * read-only (the loader that pinned them may be gone), the control map's version checked first
 * since another version's maps may be laid out, even named, otherwise; it prints a table of
 * the attached hubs whose first columns come from the hub slots every mode shares (struct
 * gh_hub_slot), and reads the log2 latency histograms both kernel sides keep. The mode prints
 * its own counters (its print_stats hook) and the table's last columns.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"

/* Map the values of m's pin name into *p: 0, or an exit status (message printed). */
static int view_map(const struct loader_mode *m, const char *name, size_t size, unsigned n,
		    const void **p)
{
	int fd = loader_pinned_fd(m->pins, name), err = errno;

	if (fd < 0 && err == ENOENT) {
		loader_err("not running: nothing is pinned at %s/%s", m->pins->dir, name);
		return EXIT_NOT_RUNNING;
	}
	if (fd < 0 && (err == EACCES || err == EPERM)) {
		loader_err("permission denied opening %s/%s: run as root", m->pins->dir, name);
		return EXIT_NOPERM;
	}
	if (fd < 0) {
		loader_err("opening %s/%s: %s", m->pins->dir, name, strerror(err));
		return EXIT_FAIL;
	}
	*p = loader_map_fd(fd, size, n, false);
	if (!*p) {
		loader_err("mapping the pinned maps: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return 0;
}

int loader_view_open(const struct loader_mode *m, struct loader_view *v)
{
	int status;

	memset(v, 0, sizeof(*v));
	status = view_map(m, "control", m->control_size, 1, &v->ctl);
	if (!status && !loader_control_ours(m, v->ctl)) {
		loader_err_foreign(m, v->ctl, "");
		status = EXIT_INCOMPATIBLE;
	}
	if (!status)
		status = view_map(m, "slots", sizeof(struct gh_hub_slot), GH_MAX_HUBS, &v->slots);
	if (!status)
		status = view_map(m, "hubs", m->hub_size, GH_MAX_HUBS, &v->hubs);
	if (status)
		loader_view_close(m, v);
	return status;
}

void loader_view_close(const struct loader_mode *m, struct loader_view *v)
{
	if (v->ctl)
		loader_unmap_values(v->ctl, m->control_size, 1);
	if (v->slots)
		loader_unmap_values(v->slots, sizeof(struct gh_hub_slot), GH_MAX_HUBS);
	if (v->hubs)
		loader_unmap_values(v->hubs, m->hub_size, GH_MAX_HUBS);
	memset(v, 0, sizeof(*v));
}

void loader_print_hubs(const struct loader_view *v, void (*heads)(void),
		       void (*row)(const struct loader_view *v, unsigned hub))
{
	const struct gh_hub_slot *slots = v->slots;
	unsigned active = 0;

	for (unsigned i = 0; i < GH_MAX_HUBS; i++) {
		const struct gh_hub_slot *s = &slots[i];

		if (!(s->flags & GH_SLOT_F_ACTIVE))
			continue;
		if (!active++) {
			printf("%5s %8s %9s %9s %8s %8s %9s %6s", "hub", "pid", "handoffs",
			       "takeovers", "cancels", "holds", "handbacks", "idle");
			heads();
		}
		printf("%5u %8u %9llu %9llu %8llu %8llu %9llu %6llu", i, s->tgid,
		       (unsigned long long)s->nr_handoffs, (unsigned long long)s->nr_takeovers,
		       (unsigned long long)s->nr_cancels, (unsigned long long)s->nr_holds,
		       (unsigned long long)s->nr_handbacks, (unsigned long long)s->nr_idle_returns);
		row(v, i);
	}
	if (!active)
		printf("no hub attached\n");
}

uint64_t loader_hist_quantile(const __u64 *bucket, unsigned nr, double q)
{
	uint64_t total = 0, want, seen = 0;

	for (unsigned b = 0; b < nr; b++)
		total += bucket[b];
	if (!total)
		return 0;
	want = (uint64_t)ceil(q * (double)total);
	for (unsigned b = 0; b < nr; b++) {
		seen += bucket[b];
		if (seen >= want)
			return 1ull << b;
	}
	return 1ull << (nr - 1);
}
