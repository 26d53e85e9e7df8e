/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading a timeline that `scx_greenhub --record` wrote (docs/observability.md), in C: the VM
 * has no python3 for tests/bpf/check_timeline.py. Header-only, like scx_test.h.
 *
 * The file's layout is the loader's (userspace/loader/record_json.c): one JSON object,
 * {"displayTimeUnit":"ns","traceEvents":[ ... ]}, one event a line. tl_structure() checks that
 * the whole text is one balanced object of that shape (a structural scan, strings skipped);
 * tl_events() then reads each event line's fields by key. What the test expects of the events
 * is the test's; tl_i1() is the timeline's own exclusivity rule: a carrier executes its hub's
 * green code during its runs less the handed-off blocks within them, and no two carriers of a
 * hub may ever do so at once (I1).
 */
#ifndef GREENHUB_SCX_TIMELINE_H
#define GREENHUB_SCX_TIMELINE_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TL_PREFIX "{\"displayTimeUnit\":\"ns\",\"traceEvents\":["
#define TL_NAME_LEN 64

/* One event of the file, as far as the tests read it. */
struct tl_event {
	char ph;                /* 'X' a slice, 's' / 'f' a flow's ends, 'M' metadata */
	char cat[16];           /* "run", "block", "handoff" */
	char name[TL_NAME_LEN]; /* a run: "NAME #ID"; a block: the call's name */
	char green_name[TL_NAME_LEN];
	uint64_t pid, tid, id, green_id, hub;
	uint64_t ts, dur; /* ns */
	bool handed_off;
};

/* The whole file, NUL-terminated; NULL (errno set) if it cannot be read. */
static inline char *tl_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *p = realloc(text, cap = (cap ? cap * 2 : 1 << 16));

			if (!p) {
				free(text);
				fclose(f);
				return NULL;
			}
			text = p;
		}
		size_t got = fread(text + n, 1, cap - n - 1, f);

		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(text);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	text[n] = '\0';
	*len = n;
	return text;
}

/*
 * Is text one JSON object of the timeline's shape? NULL if so, else what is wrong. Brackets and
 * braces must balance outside strings (escapes honoured), the outermost object must close only
 * at the very end, and the text must begin with TL_PREFIX and end with "]}".
 */
static inline const char *tl_structure(const char *text, size_t len)
{
	char stack[32];
	int depth = 0;
	bool in_string = false, escaped = false;
	size_t end = len;

	while (end > 0 && strchr(" \t\r\n", text[end - 1]))
		end--;
	if (strncmp(text, TL_PREFIX, strlen(TL_PREFIX)) != 0)
		return "does not begin with {\"displayTimeUnit\":\"ns\",\"traceEvents\":[";
	if (end < 2 || text[end - 2] != ']' || text[end - 1] != '}')
		return "does not end with ]}";
	for (size_t i = 0; i < end; i++) {
		char c = text[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			else if ((unsigned char)c < 0x20)
				return "a control character within a string";
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (depth == (int)sizeof(stack))
				return "nested too deep";
			stack[depth++] = c;
		} else if (c == '}' || c == ']') {
			if (depth == 0 || stack[depth - 1] != (c == '}' ? '{' : '['))
				return "a bracket or brace that closes nothing open";
			if (--depth == 0 && i != end - 1)
				return "text after the outermost object";
		}
	}
	if (in_string)
		return "a string never closed";
	if (depth != 0)
		return "brackets or braces left open";
	return NULL;
}

/* The position just after "key": in line, or NULL. */
static inline const char *tl_key(const char *line, const char *key)
{
	char pat[40];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	return p ? p + strlen(pat) : NULL;
}

/* A string field into buf (the tests' names hold no escapes; an escape is copied as is). */
static inline void tl_string(const char *line, const char *key, char *buf, size_t len)
{
	const char *p = tl_key(line, key);
	size_t n = 0;

	buf[0] = '\0';
	if (!p || *p++ != '"')
		return;
	while (*p && *p != '"' && n + 1 < len) {
		if (*p == '\\' && p[1])
			buf[n++] = *p++;
		buf[n++] = *p++;
	}
	buf[n] = '\0';
}

/* An integer field; with us, microseconds with three decimals, as ns. */
static inline uint64_t tl_number(const char *line, const char *key, bool us)
{
	const char *p = tl_key(line, key);
	uint64_t v = 0, frac = 0;
	int digits = 0;

	if (!p)
		return 0;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	if (!us)
		return v;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (digits++ < 3)
				frac = frac * 10 + (uint64_t)(*p - '0');
	for (; digits < 3; digits++)
		frac *= 10;
	return v * 1000 + frac;
}

/*
 * The events of a file tl_structure() accepted, one a line (text is cut into lines in place);
 * *nr of them, or NULL with *nr 0 if out of memory. Lines that are no event (the first and the
 * last) are skipped.
 */
static inline struct tl_event *tl_events(char *text, size_t *nr)
{
	struct tl_event *ev = NULL;
	size_t cap = 0;
	char *line = text, *next;

	*nr = 0;
	for (; line && *line; line = next) {
		struct tl_event *e;
		char ph[4];

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "{\"ph\":", 6) != 0)
			continue;
		if (*nr == cap) {
			struct tl_event *p = realloc(ev, (cap = cap ? cap * 2 : 4096) * sizeof(*ev));

			if (!p) {
				free(ev);
				*nr = 0;
				return NULL;
			}
			ev = p;
		}
		e = &ev[(*nr)++];
		memset(e, 0, sizeof(*e));
		tl_string(line, "ph", ph, sizeof(ph));
		e->ph = ph[0];
		tl_string(line, "cat", e->cat, sizeof(e->cat));
		tl_string(line, "name", e->name, sizeof(e->name));
		tl_string(line, "green_name", e->green_name, sizeof(e->green_name));
		e->pid = tl_number(line, "pid", false);
		e->tid = tl_number(line, "tid", false);
		e->id = tl_number(line, "id", false);
		e->green_id = tl_number(line, "green_id", false);
		e->hub = tl_number(line, "hub", false);
		e->ts = tl_number(line, "ts", true);
		e->dur = tl_number(line, "dur", true);
		e->handed_off = strstr(line, "\"handed_off\":true") != NULL;
	}
	return ev;
}

/* A flow pair with one "s" and one "f" of the same id on two different tids: how many. */
static inline size_t tl_handoff_pairs(const struct tl_event *ev, size_t nr, uint64_t pid)
{
	size_t pairs = 0;

	for (size_t i = 0; i < nr; i++) {
		if (ev[i].ph != 's' || ev[i].pid != pid || strcmp(ev[i].cat, "handoff"))
			continue;
		for (size_t j = 0; j < nr; j++)
			if (ev[j].ph == 'f' && ev[j].id == ev[i].id && ev[j].pid == pid &&
			    !strcmp(ev[j].cat, "handoff")) {
				pairs += ev[j].tid != ev[i].tid;
				break;
			}
	}
	return pairs;
}

struct tl_step {
	uint64_t at;
	int delta; /* +1: a carrier begins executing the hub's green code, -1: it stops */
};

static inline int tl_step_cmp(const void *a, const void *b)
{
	const struct tl_step *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->delta - y->delta; /* at one instant, ends before beginnings */
}

/*
 * I1 as the timeline shows it, for hub slot hub of process pid: each run adds a carrier
 * executing its green code, each handed-off block within a run takes it away while it lasts.
 * Returns the largest number of carriers executing at once (1 is right; more is a violation),
 * with the instant of the first violation in *at; -1 if out of memory.
 */
static inline int tl_i1(const struct tl_event *ev, size_t nr, uint64_t pid, uint64_t hub,
			uint64_t *at)
{
	struct tl_step *st = malloc((2 * nr + 1) * sizeof(*st));
	size_t n = 0;
	int now = 0, most = 0;
	if (!st)
		return -1;
	for (size_t i = 0; i < nr; i++) {
		const struct tl_event *e = &ev[i];
		bool run = !strcmp(e->cat, "run"), block = !strcmp(e->cat, "block");

		if (e->ph != 'X' || e->pid != pid)
			continue;
		if (run && e->hub == hub) {
			st[n++] = (struct tl_step){ e->ts, +1 };
			st[n++] = (struct tl_step){ e->ts + e->dur, -1 };
		} else if (block && e->handed_off && e->green_id) {
			/* A block lies within its carrier's run; that run's hub is the block's. */
			bool ours = false;

			for (size_t j = 0; j < nr && !ours; j++)
				ours = ev[j].ph == 'X' && ev[j].pid == pid && ev[j].tid == e->tid &&
				       ev[j].hub == hub && !strcmp(ev[j].cat, "run") &&
				       ev[j].ts <= e->ts && e->ts + e->dur <= ev[j].ts + ev[j].dur;
			if (ours) {
				st[n++] = (struct tl_step){ e->ts, -1 };
				st[n++] = (struct tl_step){ e->ts + e->dur, +1 };
			}
		}
	}
	qsort(st, n, sizeof(*st), tl_step_cmp);
	for (size_t i = 0; i < n; i++) {
		now += st[i].delta;
		if (now > most) {
			if (now > 1 && most <= 1)
				*at = st[i].at;
			most = now;
		}
	}
	free(st);
	return most;
}

#endif /* GREENHUB_SCX_TIMELINE_H */
