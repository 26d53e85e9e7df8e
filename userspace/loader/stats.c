// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What --stats does alike for every mode: it maps the pinned control, slots and hubs maps
 * read-only (the loader that pinned them may be gone), the control map's version checked first
 * since another version's maps may be laid out, even named, otherwise; it prints a table of
 * the attached hubs whose first columns come from the hub slots every mode shares (struct
 * gh_hub_slot), and reads the log2 latency histograms both kernel sides keep. The mode prints
 * its own counters (its print_stats hook) and the table's last columns.
 *
 * --format openmetrics writes the same as metrics (openmetrics.h), from tables: the slots'
 * counters here, each mode's own in its struct loader_metrics.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"
#include "openmetrics.h"

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

/* ---------------------------------------------------------------------------------------- */
/* --format openmetrics                                                                       */

/* The hub slots' counters, which every mode shares; the runtime bumps most of them. */
#define S(field, name, help) LOADER_COUNTER(struct gh_hub_slot, field, name, help)
static const struct loader_metric slot_metrics[] = {
	S(nr_handoffs, "greenhub_hub_handoffs_total",
	  "Hand-offs of the hub (RUN -> HANDOFF), by the kernel side or the sysmon."),
	S(nr_takeovers, "greenhub_hub_takeovers_total",
	  "Handed-off hubs taken over by another carrier."),
	S(nr_cancels, "greenhub_hub_cancels_total",
	  "Hand-offs cancelled: the blocked call returned first."),
	S(nr_holds, "greenhub_hub_holds_total",
	  "Returning carriers that found another carrier running the hub and waited."),
	S(nr_handbacks, "greenhub_hub_handbacks_total",
	  "Hubs handed back to a returned carrier at a switch point."),
	S(nr_idle_returns, "greenhub_hub_idle_returns_total",
	  "Returning carriers that took an idle hub."),
};
#undef S

/* What both kernel sides count alike (struct gh_kside_control, struct gh_kside_hub, which their
 * control and hub values begin with); each mode lists its own counters after these. */
#define K(field, name, help) LOADER_COUNTER(struct gh_kside_control, field, name, help)
static const struct loader_metric kside_metrics[] = {
	LOADER_GAUGE(struct gh_kside_control, nr_displaced, "greenhub_displaced_carriers",
		     "Carriers handed off and not yet back through their return gate."),
	K(nr_handoffs, "greenhub_handoffs_total", "Hand-offs by the kernel side (RUN -> HANDOFF)."),
	K(nr_cancels, "greenhub_cancels_total",
	  "Hand-offs cancelled: the blocked call returned before a spare took the hub."),
	K(nr_takeovers, "greenhub_takeovers_total",
	  "Returning carriers that took over another blocked carrier's untaken hand-off."),
	K(nr_idle_returns, "greenhub_idle_returns_total", "Returning carriers that took an idle hub."),
	K(nr_gates, "greenhub_gates_total", "Return gates that stopped a returning carrier."),
	K(nr_spare_wakes, "greenhub_spare_wakes_total", "Parked spares woken for a hand-off."),
	K(nr_spare_misses, "greenhub_spare_misses_total", "Hand-offs that found no parked spare."),
	K(nr_loop_sleeps, "greenhub_loop_sleeps_total",
	  "The owner's sleeps in the runtime's own loop: chosen, never handed off."),
	K(nr_masked, "greenhub_masked_sleeps_total",
	  "The owner's sleeps with the gate signal blocked: not handed off."),
	K(nr_gate_unhandled, "greenhub_gate_unhandled_total",
	  "Sleeps not handed off: the gate signal was ignored or not the runtime's handler."),
	K(nr_refused, "greenhub_refused_handoffs_total",
	  "Hand-offs refused for another reason (see the mode's documentation)."),
	K(nr_gate_failures, "greenhub_gate_failures_total",
	  "Hand-offs refused because the return gate could not be armed."),
	K(nr_claims, "greenhub_slots_granted_total", "Hub slots granted to processes."),
	K(nr_bound, "greenhub_carriers_registered_total", "Carriers registered with their hub."),
	K(nr_rejected, "greenhub_requests_rejected_total", "Requests refused."),
	K(nr_exit_cleanups, "greenhub_exit_cleanups_total",
	  "Slots released by the kernel side when their process exited or exec'd."),
	K(nr_records, "greenhub_block_records_total",
	  "Block records written for a reader (scx_greenhub --top)."),
	K(nr_records_lost, "greenhub_block_records_lost_total",
	  "Block records lost to a full ring buffer."),
};
#undef K

#define K(field, name, help) LOADER_COUNTER(struct gh_kside_hub, field, name, help)
static const struct loader_metric kside_hub_metrics[] = {
	LOADER_GAUGE(struct gh_kside_hub, nr_displaced, "greenhub_hub_displaced_carriers",
		     "The hub's carriers handed off and not yet back."),
	K(nr_gates, "greenhub_hub_gates_total", "The hub's return gates that stopped a carrier."),
	K(nr_spare_wakes, "greenhub_hub_spare_wakes_total", "The hub's parked spares woken."),
	K(nr_spare_misses, "greenhub_hub_spare_misses_total",
	  "The hub's hand-offs that found no parked spare."),
};
#undef K

#define LATENCY_HELP "Latency from an owner carrier's block to a spare running the hub."

/* An attached hub and its labels: mode, hub (the slot's index), pid (its owner's tgid). */
struct metric_hub {
	unsigned index;
	char hub[12];
	char pid[12];
	struct om_label labels[3];
};

static uint64_t load_u64(const void *base, size_t offset)
{
	return __atomic_load_n((const __u64 *)((const char *)base + offset), __ATOMIC_RELAXED);
}

static int64_t load_s64(const void *base, size_t offset)
{
	return __atomic_load_n((const __s64 *)((const char *)base + offset), __ATOMIC_RELAXED);
}

/* The attached hubs, in slot order, with their labels; how many. */
static unsigned find_hubs(const struct loader_mode *m, const struct loader_view *v,
			  struct metric_hub *hubs)
{
	const struct gh_hub_slot *slots = v->slots;
	unsigned n = 0;

	for (unsigned i = 0; i < GH_MAX_HUBS; i++) {
		struct metric_hub *h = &hubs[n];

		if (!(__atomic_load_n(&slots[i].flags, __ATOMIC_RELAXED) & GH_SLOT_F_ACTIVE))
			continue;
		h->index = i;
		snprintf(h->hub, sizeof(h->hub), "%u", i);
		snprintf(h->pid, sizeof(h->pid), "%u", slots[i].tgid);
		h->labels[0] = (struct om_label){ "mode", m->name };
		h->labels[1] = (struct om_label){ "hub", h->hub };
		h->labels[2] = (struct om_label){ "pid", h->pid };
		n++;
	}
	return n;
}

static void put_metric_family(struct om_writer *w, const struct loader_metric *mt)
{
	om_family(w, mt->name, mt->gauge ? OM_GAUGE : OM_COUNTER, NULL, mt->help);
}

static void put_metric_sample(struct om_writer *w, const struct loader_metric *mt, const void *base,
			      const struct om_label *labels, size_t nr_labels)
{
	if (mt->gauge)
		om_sample_s64(w, mt->name, labels, nr_labels, load_s64(base, mt->offset));
	else
		om_sample_u64(w, mt->name, labels, nr_labels, load_u64(base, mt->offset));
}

/* One family per metric of table, a sample for each hub: values of stride bytes from base. */
static void put_control_metrics(struct om_writer *w, const struct loader_metric *table,
				size_t nr, const void *ctl, const struct om_label *mode)
{
	for (size_t i = 0; i < nr; i++) {
		put_metric_family(w, &table[i]);
		put_metric_sample(w, &table[i], ctl, mode, 1);
	}
}

static void put_hub_metrics(struct om_writer *w, const struct loader_metric *table, size_t nr,
			    const void *base, size_t stride, const struct metric_hub *hubs,
			    unsigned nr_hubs)
{
	for (size_t i = 0; i < nr; i++) {
		put_metric_family(w, &table[i]);
		for (unsigned h = 0; h < nr_hubs; h++)
			put_metric_sample(w, &table[i],
					  (const char *)base + (size_t)hubs[h].index * stride,
					  hubs[h].labels, ARRAY_SIZE(hubs[h].labels));
	}
}

/*
 * The samples of a log2 latency histogram: the bounds 2^i us of every bucket but the last (which
 * has none, so it is only in +Inf), in seconds. The count is the buckets' sum rather than the
 * histogram's own count, which the kernel side bumps apart from the bucket: so +Inf and _count
 * agree with the buckets even in a histogram read while it grows.
 */
static void put_latency(struct om_writer *w, const char *name, const struct om_label *labels,
			size_t nr_labels, const struct gh_kside_hist *h)
{
	double bound[GH_KSIDE_HIST_BUCKETS - 1];
	uint64_t counts[GH_KSIDE_HIST_BUCKETS - 1], count = 0;

	for (unsigned b = 0; b < GH_KSIDE_HIST_BUCKETS; b++) {
		uint64_t n = __atomic_load_n(&h->bucket[b], __ATOMIC_RELAXED);

		count += n;
		if (b < GH_KSIDE_HIST_BUCKETS - 1) {
			counts[b] = n;
			/* A division, not 1e-6 scaled: the double nearest 2^b / 10^6, which
			 * prints as its exact decimal. */
			bound[b] = (double)(1ull << b) / 1e6;
		}
	}
	om_histogram(w, name, labels, nr_labels, bound, counts, ARRAY_SIZE(bound), count,
		     (double)__atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED) / 1e9);
}

/* What describes the kernel side as a whole: its mode and state, when it was loaded, how many
 * hubs it serves. */
static void put_kernel_side(struct om_writer *w, const struct loader_mode *m,
			    const struct loader_view *v, unsigned nr_hubs)
{
	const struct gh_kside_control *ctl = v->ctl;
	const struct loader_metrics *mm = m->metrics;
	__u32 state = __atomic_load_n(&ctl->state, __ATOMIC_RELAXED);
	struct om_label labels[] = {
		{ "mode", m->name },
		{ "state", state < mm->nr_states ? mm->states[state] : "unknown" },
	};

	om_family(w, "greenhub_kernel_side_info", OM_GAUGE, NULL,
		  "The loaded kernel side: its mode and its loader's state (always 1).");
	om_sample_u64(w, "greenhub_kernel_side_info", labels, ARRAY_SIZE(labels), 1);
	om_family(w, "greenhub_loaded_timestamp_seconds", OM_GAUGE, "seconds",
		  "When the loader pinned the kernel side (Unix time); its counters start then.");
	om_sample_f64(w, "greenhub_loaded_timestamp_seconds", labels, 1,
		      (double)ctl->loaded_ns / 1e9);
	om_family(w, "greenhub_attached_hubs", OM_GAUGE, NULL,
		  "Hubs attached to the kernel side (slots granted and not released).");
	om_sample_u64(w, "greenhub_attached_hubs", labels, 1, nr_hubs);
}

int loader_print_metrics(const struct loader_mode *m, const struct loader_view *v)
{
	const struct loader_metrics *mm = m->metrics;
	const struct om_label mode = { "mode", m->name };
	struct metric_hub hubs[GH_MAX_HUBS];
	unsigned nr_hubs = find_hubs(m, v, hubs);
	struct om_writer w;

	om_begin(&w, stdout);
	put_kernel_side(&w, m, v, nr_hubs);
	put_control_metrics(&w, kside_metrics, ARRAY_SIZE(kside_metrics), v->ctl, &mode);
	put_control_metrics(&w, mm->control, mm->nr_control, v->ctl, &mode);
	om_family(&w, "greenhub_handoff_latency_seconds", OM_HISTOGRAM, "seconds", LATENCY_HELP);
	put_latency(&w, "greenhub_handoff_latency_seconds", &mode, 1,
		    &((const struct gh_kside_control *)v->ctl)->handoff_latency);

	put_hub_metrics(&w, slot_metrics, ARRAY_SIZE(slot_metrics), v->slots,
			sizeof(struct gh_hub_slot), hubs, nr_hubs);
	put_hub_metrics(&w, kside_hub_metrics, ARRAY_SIZE(kside_hub_metrics), v->hubs,
			m->hub_size, hubs, nr_hubs);
	put_hub_metrics(&w, mm->hub, mm->nr_hub, v->hubs, m->hub_size, hubs, nr_hubs);
	om_family(&w, "greenhub_hub_handoff_latency_seconds", OM_HISTOGRAM, "seconds",
		  LATENCY_HELP " Per hub.");
	for (unsigned h = 0; h < nr_hubs; h++)
		put_latency(&w, "greenhub_hub_handoff_latency_seconds", hubs[h].labels,
			    ARRAY_SIZE(hubs[h].labels),
			    &((const struct gh_kside_hub *)((const char *)v->hubs +
							     hubs[h].index * m->hub_size))
				     ->handoff_latency);
	return om_end(&w);
}
