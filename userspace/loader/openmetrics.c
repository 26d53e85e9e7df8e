// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The metrics writer of openmetrics.h: families, samples with escaped label values, histograms
 * and the terminator, on a stdio stream whose first failed write is kept.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "openmetrics.h"

/* Remember the errno of the first write that failed (a negative return of fprintf family). */
static void check_write(struct om_writer *w, int rc)
{
	if (rc < 0 && !w->err)
		w->err = errno ? errno : EIO;
}

static void put(struct om_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct om_writer *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	check_write(w, vfprintf(w->f, fmt, ap));
	va_end(ap);
}

void om_begin(struct om_writer *w, FILE *f)
{
	w->f = f;
	w->err = 0;
}

char *om_escape_label(const char *value, char *buf, size_t len)
{
	size_t used = 0;

	for (const char *c = value; *c && used + 3 <= len; c++) {
		if (*c == '\\' || *c == '"') {
			buf[used++] = '\\';
			buf[used++] = *c;
		} else if (*c == '\n') {
			buf[used++] = '\\';
			buf[used++] = 'n';
		} else {
			buf[used++] = *c;
		}
	}
	if (len)
		buf[used < len ? used : len - 1] = '\0';
	return buf;
}

/* HELP text escapes only \ and newline: the text format takes no other escape there. */
static void put_help(struct om_writer *w, const char *help)
{
	for (const char *c = help; *c; c++) {
		if (*c == '\\')
			put(w, "\\\\");
		else if (*c == '\n')
			put(w, "\\n");
		else
			check_write(w, fputc(*c, w->f) == EOF ? -1 : 0);
	}
}

void om_family(struct om_writer *w, const char *name, enum om_type type, const char *unit,
	       const char *help)
{
	static const char *const types[] = { [OM_COUNTER] = "counter", [OM_GAUGE] = "gauge",
					     [OM_HISTOGRAM] = "histogram" };

	/* OpenMetrics' order; the text format takes any. */
	put(w, "# TYPE %s %s\n", name, types[type]);
	if (unit)
		put(w, "# UNIT %s %s\n", name, unit);
	put(w, "# HELP %s ", name);
	put_help(w, help);
	put(w, "\n");
}

/* name, then {labels} if there are any (extra, if not NULL, as one more), then a space. */
static void put_series(struct om_writer *w, const char *name, const char *suffix,
		       const struct om_label *labels, size_t nr, const struct om_label *extra)
{
	char value[256];

	put(w, "%s%s", name, suffix);
	if (!nr && !extra) {
		put(w, " ");
		return;
	}
	put(w, "{");
	for (size_t i = 0; i < nr; i++)
		put(w, "%s%s=\"%s\"", i ? "," : "", labels[i].name,
		    om_escape_label(labels[i].value, value, sizeof(value)));
	if (extra)
		put(w, "%s%s=\"%s\"", nr ? "," : "", extra->name,
		    om_escape_label(extra->value, value, sizeof(value)));
	put(w, "} ");
}

/* The shortest %g form of v that reads back as v ("1e-06", "0.000128"), or +Inf, -Inf, NaN. */
static const char *format_double(double v, char *buf, size_t len)
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

void om_sample_u64(struct om_writer *w, const char *name, const struct om_label *labels,
		   size_t nr_labels, uint64_t value)
{
	put_series(w, name, "", labels, nr_labels, NULL);
	put(w, "%" PRIu64 "\n", value);
}

void om_sample_s64(struct om_writer *w, const char *name, const struct om_label *labels,
		   size_t nr_labels, int64_t value)
{
	put_series(w, name, "", labels, nr_labels, NULL);
	put(w, "%" PRId64 "\n", value);
}

void om_sample_f64(struct om_writer *w, const char *name, const struct om_label *labels,
		   size_t nr_labels, double value)
{
	char buf[32];

	put_series(w, name, "", labels, nr_labels, NULL);
	put(w, "%s\n", format_double(value, buf, sizeof(buf)));
}

void om_histogram(struct om_writer *w, const char *name, const struct om_label *labels,
		  size_t nr_labels, const double *bound, const uint64_t *counts, size_t nr,
		  uint64_t count, double sum)
{
	struct om_label le = { .name = "le" };
	uint64_t below = 0;
	char buf[32];

	for (size_t i = 0; i < nr; i++) {
		below += counts[i];
		le.value = format_double(bound[i], buf, sizeof(buf));
		put_series(w, name, "_bucket", labels, nr_labels, &le);
		put(w, "%" PRIu64 "\n", below);
	}
	le.value = "+Inf";
	put_series(w, name, "_bucket", labels, nr_labels, &le);
	put(w, "%" PRIu64 "\n", count);
	put_series(w, name, "_count", labels, nr_labels, NULL);
	put(w, "%" PRIu64 "\n", count);
	put_series(w, name, "_sum", labels, nr_labels, NULL);
	put(w, "%s\n", format_double(sum, buf, sizeof(buf)));
}

int om_end(struct om_writer *w)
{
	put(w, "# EOF\n");
	check_write(w, fflush(w->f) == EOF ? -1 : 0);
	return w->err;
}
