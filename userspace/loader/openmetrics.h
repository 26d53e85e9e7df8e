/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small writer of metrics in text form, for `scx_greenhub --stats --format openmetrics`.
 *
 * What it writes is read alike by the Prometheus text format (version 0.0.4: what `promtool
 * check metrics` and node_exporter's textfile collector parse) and, but for one point, by
 * OpenMetrics 1.0 text: every family gets # TYPE, a # UNIT where it has one, and # HELP, and the
 * exposition ends with "# EOF". The text format reads # UNIT and # EOF as comments. The one
 * point: a counter's family is named as its sample, with "_total" (# TYPE x_total counter),
 * since the text format (and promtool) match a family to its samples by the whole name; strict
 * OpenMetrics names the family without the suffix. docs/loader.md says so too.
 *
 * The caller writes a family header, then that family's samples, family after family, then the
 * end. Errors are sticky: om_end() reports whether anything failed to be written.
 */
#ifndef GREENHUB_LOADER_OPENMETRICS_H
#define GREENHUB_LOADER_OPENMETRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum om_type {
	OM_COUNTER,
	OM_GAUGE,
	OM_HISTOGRAM,
};

struct om_label {
	const char *name;
	const char *value; /* escaped by the writer */
};

struct om_writer {
	FILE *f;
	int err; /* the first errno of a failed write, 0 if none */
};

void om_begin(struct om_writer *w, FILE *f);
/* # TYPE, # UNIT if unit is not NULL, and # HELP of the family name (a counter's name ends in
 * _total). */
void om_family(struct om_writer *w, const char *name, enum om_type type, const char *unit,
	       const char *help);
/* A sample name{labels} value. */
void om_sample_u64(struct om_writer *w, const char *name, const struct om_label *labels,
		   size_t nr_labels, uint64_t value);
void om_sample_s64(struct om_writer *w, const char *name, const struct om_label *labels,
		   size_t nr_labels, int64_t value);
void om_sample_f64(struct om_writer *w, const char *name, const struct om_label *labels,
		   size_t nr_labels, double value);
/*
 * The samples of one histogram of family name: name_bucket{labels,le="bound[i]"} cumulative
 * for each of the nr bounds (in increasing order), then le="+Inf" with count, name_count (the
 * same count) and name_sum. counts[i] is what fell under bound[i] and above bound[i - 1];
 * count includes what fell above the last bound.
 */
void om_histogram(struct om_writer *w, const char *name, const struct om_label *labels,
		  size_t nr_labels, const double *bound, const uint64_t *counts, size_t nr,
		  uint64_t count, double sum);
/* "# EOF", then flush: 0, or the errno of the first write that failed. */
int om_end(struct om_writer *w);

/* value with \, " and newline escaped, as a label value is written, into buf (cut to fit len).
 * Returns buf. */
char *om_escape_label(const char *value, char *buf, size_t len);

#endif /* GREENHUB_LOADER_OPENMETRICS_H */
