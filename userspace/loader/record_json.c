// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The timeline of a recording (record.h) as Chrome trace-event JSON, which ui.perfetto.dev
 * opens: one track per carrier, in one group per process; slices for each green thread's runs
 * and, within them, for each block; a flow from each handed-off block to the run that
 * continued the hub on another carrier. docs/observability.md describes each element.
 *
 * A process's events count from when its probes were attached (rec_process): before, its
 * blocks would lie in runs nothing showed the end of.
 *
 * How runs are made (one sweep over every event in time order, per carrier):
 *   - greenhub:run on carrier c ends c's current run, if any, and begins one of the green
 *     thread it names; greenhub:stop ends c's current run.
 *   - A block of green thread g on c lies within a run of g on c: if c's events do not show
 *     one (it began before the recording, or an event was lost), one begins at the block.
 *     A block in the hub loop (green id 0, "loop sleep") lies outside every run.
 *   - A handed-off block of g on c: other carriers run the hub meanwhile. c executes no green
 *     code from the block's start until it has the hub back, which is the later of the block's
 *     end (c runs again) and the hand-back: greenhub:hand_back naming c (the owner gave the hub
 *     back, transition 4) or greenhub:resume on c (c took it back in runtime code, trace mode's
 *     gate). If that comes after the block's end (trace mode: c waits in the gate), c's run
 *     ends with the block and a run of g begins on c again when it has the hub back: g goes on
 *     there without any switch point, which no probe marks. If nothing names c before its next
 *     own event, the kernel side gave c the hub at its return, in trace mode's gate (taking
 *     a handoff that was still untaken: c's own, or that of the carrier that ran the hub
 *     meanwhile and blocked in turn), where no probe is: c goes on at the block's end if no
 *     other carrier runs the hub then, else when the one that does is handed off.
 *   - A run still open when another carrier of its hub begins one ends there: its carrier was
 *     handed off in a block whose record never came, or went on too early by the rule above
 *     (every switch point checks that its carrier is the hub's one runner, I1). These are
 *     counted, and the loader reports them.
 *   - So the time a carrier executes green code is its runs less their handed-off blocks, and
 *     no two carriers of one hub ever show it at once (I1), which tests/bpf/check_timeline.py
 *     checks of a recording.
 * The handoff flow of a handed-off block goes from within the block to the first run, on
 * another carrier of the same hub, that begins after the block's start and before c had the
 * hub back. A block handed off with no such run (the hub was idle, or the handoff cancelled)
 * has no flow.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "record.h"

/* What happens at an instant of the sweep, in the order taken at one instant: ends before
 * beginnings, a run before the block that lies within it. */
enum point_kind { P_BLOCK_END, P_STOP, P_CONTINUE, P_START, P_BLOCK_BEGIN };

struct point {
	uint64_t ts;
	uint32_t kind;
	uint32_t idx; /* into runs or blocks */
};

/* A carrier's state during the sweep. */
struct carrier {
	uint32_t tgid, tid, hub;
	bool open;            /* a run is open ... */
	uint64_t open_ts;     /* ... since */
	uint64_t open_id;     /* ... of this green thread */
	uint64_t cover_until; /* a block within the open run ends then: the run may not end before */
	uint64_t last_ts;     /* c's last event */
	bool displaced;       /* the run of displaced_id goes on when c has the hub back */
	uint64_t displaced_id;
	bool waiting;         /* ... when the carrier that runs it now is handed off */
	uint32_t displaced_block;
	struct hub_state *hs; /* c's hub */
};

/* A hub during the sweep: which of its carriers executes its green code now (0: none). */
struct hub_state {
	uint32_t tgid, hub;
	uint32_t busy;
	unsigned nr_waiting; /* carriers waiting for it (carrier.waiting) */
};

/* An element of the file, sorted by time before it is written. */
enum out_kind { O_RUN, O_BLOCK, O_FLOW_START, O_FLOW_END };

struct out {
	uint64_t ts, dur;
	uint32_t kind, tgid, tid, hub;
	uint64_t id;    /* O_RUN: the green thread; flows: the flow's id */
	uint32_t block; /* O_BLOCK: its index */
};

/* A carrier's own probe event, or one naming it (a hand-back), for finding by carrier. */
struct mark {
	uint32_t tgid, tid;
	uint64_t ts;
	uint32_t kind; /* enum gh_run_kind */
};

struct timeline {
	struct recording *rec;
	struct carrier *carriers;
	size_t nr_carriers;
	struct mark *own;   /* each carrier's run, stop and resume events, by carrier and time */
	size_t nr_own;
	struct mark *backs; /* each carrier's resumes and the hand-backs naming it, likewise */
	size_t nr_backs;
	struct hub_state *hubs;
	size_t nr_hubs;
	uint64_t *end;    /* per block: its end (below) */
	uint64_t *resume; /* per block: when its carrier had the hub back, as probes tell */
	uint64_t *cont;   /* per handed-off block: when its carrier's run went on (the sweep's) */
	struct out *out;
	size_t nr_out, cap_out;
	uint64_t flows;
	uint64_t cut; /* runs ended where another carrier's run of their hub began */
};

/* ---------------------------------------------------------------------------------------- */
/* Sorting and finding                                                                        */

static int cmp_run_ts(const void *a, const void *b)
{
	const struct rec_run *x = a, *y = b;

	return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

static int cmp_block_start(const void *a, const void *b)
{
	const struct gh_block_record *x = a, *y = b;

	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

static int cmp_point(const void *a, const void *b)
{
	const struct point *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_out(const void *a, const void *b)
{
	const struct out *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	/* Longer first at one instant: an enclosing slice before the ones within it. */
	if (x->dur != y->dur)
		return x->dur > y->dur ? -1 : 1;
	return x->kind < y->kind ? -1 : x->kind > y->kind;
}

static int cmp_carrier(const void *a, const void *b)
{
	const struct carrier *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static uint64_t block_end(const struct gh_block_record *b)
{
	return b->start_ns + b->duration_ns;
}

static int cmp_mark(const void *a, const void *b)
{
	const struct mark *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* The first of marks (sorted) of carrier tgid/tid at or after ts, or NULL. */
static const struct mark *mark_from(const struct mark *m, size_t n, uint32_t tgid, uint32_t tid,
				    uint64_t ts)
{
	struct mark key = { .tgid = tgid, .tid = tid, .ts = ts };
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_mark(&m[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && m[lo].tgid == tgid && m[lo].tid == tid ? &m[lo] : NULL;
}

static struct carrier *carrier_find(struct timeline *t, uint32_t tgid, uint32_t tid)
{
	struct carrier key = { .tgid = tgid, .tid = tid };

	return bsearch(&key, t->carriers, t->nr_carriers, sizeof(key), cmp_carrier);
}

/* Every carrier that shows in the recording, sorted, each with the hub it first names. */
static int carriers_collect(struct timeline *t)
{
	struct recording *rec = t->rec;
	size_t n = 0, cap = rec->nr_runs + rec->nr_blocks;
	struct carrier *c = calloc(cap ? cap : 1, sizeof(*c));

	if (!c)
		return ENOMEM;
	for (size_t i = 0; i < rec->nr_blocks; i++)
		c[n++] = (struct carrier){ .tgid = rec->blocks[i].tgid, .tid = rec->blocks[i].tid,
					   .hub = rec->blocks[i].hub, .open_ts = rec->blocks[i].start_ns };
	for (size_t i = 0; i < rec->nr_runs; i++) {
		const struct rec_run *r = &rec->runs[i];

		/* A hand-back names the hub of the carrier it goes to, from another's event. */
		if (r->kind != GH_RUN_HAND_BACK)
			c[n++] = (struct carrier){ .tgid = r->tgid, .tid = r->tid, .hub = r->hub,
						   .open_ts = r->ts_ns };
	}
	/* Sorted by carrier, the earliest first (open_ts holds the time until the sweep). */
	qsort(c, n, sizeof(*c), cmp_carrier);
	t->nr_carriers = 0;
	for (size_t i = 0; i < n; i++) {
		struct carrier *last = t->nr_carriers ? &c[t->nr_carriers - 1] : NULL;

		if (last && last->tgid == c[i].tgid && last->tid == c[i].tid) {
			if (c[i].open_ts < last->open_ts) {
				last->open_ts = c[i].open_ts;
				last->hub = c[i].hub;
			}
			continue;
		}
		c[t->nr_carriers++] = c[i];
	}
	for (size_t i = 0; i < t->nr_carriers; i++)
		c[i].open_ts = 0;
	t->carriers = c;
	/* Their hubs: carriers are sorted by process, and few. */
	t->hubs = calloc(t->nr_carriers ? t->nr_carriers : 1, sizeof(*t->hubs));
	if (!t->hubs)
		return ENOMEM;
	for (size_t i = 0; i < t->nr_carriers; i++) {
		size_t h;

		for (h = 0; h < t->nr_hubs; h++)
			if (t->hubs[h].tgid == c[i].tgid && t->hubs[h].hub == c[i].hub)
				break;
		if (h == t->nr_hubs)
			t->hubs[t->nr_hubs++] = (struct hub_state){ .tgid = c[i].tgid,
								    .hub = c[i].hub };
		c[i].hs = &t->hubs[h];
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* When a displaced carrier had its hub back                                                  */

static int marks_collect(struct timeline *t)
{
	const struct recording *rec = t->rec;

	t->own = malloc((rec->nr_runs ? rec->nr_runs : 1) * sizeof(*t->own));
	t->backs = malloc((rec->nr_runs ? rec->nr_runs : 1) * sizeof(*t->backs));
	if (!t->own || !t->backs)
		return ENOMEM;
	for (size_t i = 0; i < rec->nr_runs; i++) {
		const struct rec_run *r = &rec->runs[i];
		struct mark m = { .tgid = r->tgid, .tid = r->tid, .ts = r->ts_ns, .kind = r->kind };

		if (r->kind == GH_RUN_HAND_BACK) {
			m.tid = (uint32_t)r->arg;
			t->backs[t->nr_backs++] = m;
			continue;
		}
		t->own[t->nr_own++] = m;
		if (r->kind == GH_RUN_RESUME)
			t->backs[t->nr_backs++] = m;
	}
	qsort(t->own, t->nr_own, sizeof(*t->own), cmp_mark);
	qsort(t->backs, t->nr_backs, sizeof(*t->backs), cmp_mark);
	return 0;
}

/* The first own run or stop event of carrier tgid/tid after ts; UINT64_MAX if none. */
static uint64_t next_switch(const struct timeline *t, uint32_t tgid, uint32_t tid, uint64_t ts)
{
	const struct mark *m = mark_from(t->own, t->nr_own, tgid, tid, ts + 1);

	for (; m && m < t->own + t->nr_own && m->tgid == tgid && m->tid == tid; m++)
		if (m->kind == GH_RUN_START || m->kind == GH_RUN_STOP)
			return m->ts;
	return UINT64_MAX;
}

/*
 * For each block: its end, the record's, unless the carrier's own probes show it running
 * earlier (a carrier that fires a probe is not asleep: the kernel side then ended the record at
 * a later switch-in than the wake-up, which does happen, rarely). For each handed-off block:
 * when its carrier had the hub back: the first hand-back naming it, or resume on it, at or
 * after the block's start and before its own next run or stop after the block's end (a later
 * one belongs to a later block), unless another handoff of it comes first; the later of that
 * and the block's end; the block's end if there is none.
 */
static int resumes_find(struct timeline *t)
{
	struct recording *rec = t->rec;
	size_t n = rec->nr_blocks ? rec->nr_blocks : 1;

	t->end = calloc(n, sizeof(*t->end));
	t->resume = calloc(n, sizeof(*t->resume));
	if (!t->end || !t->resume)
		return ENOMEM;
	for (size_t i = 0; i < rec->nr_blocks; i++) {
		struct gh_block_record *b = &rec->blocks[i];
		const struct mark *m = mark_from(t->own, t->nr_own, b->tgid, b->tid, b->start_ns + 1);
		uint64_t end = block_end(b), back = 0;

		if (m && m->ts < end) {
			end = m->ts;
			b->duration_ns = end - b->start_ns;
		}
		t->end[i] = end;
		t->resume[i] = end;
		if (!b->handed_off)
			continue;
		m = mark_from(t->backs, t->nr_backs, b->tgid, b->tid, b->start_ns);
		if (m && m->ts < next_switch(t, b->tgid, b->tid, end))
			back = m->ts;
		/* A later handoff of the carrier ends the search too: what comes after it is that
		 * block's. (A block that is not handed off may come first: the carrier's sleep
		 * in the wait for the hand-back, once the owner has already made it the owner.) */
		for (size_t k = i + 1; back && k < rec->nr_blocks; k++) {
			const struct gh_block_record *nb = &rec->blocks[k];

			if (nb->start_ns > back)
				break;
			if (nb->tgid == b->tgid && nb->tid == b->tid && nb->handed_off)
				back = 0;
		}
		if (back > end)
			t->resume[i] = back;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The sweep                                                                                  */

static int emit(struct timeline *t, struct out o)
{
	if (t->nr_out == t->cap_out) {
		size_t cap = t->cap_out ? t->cap_out * 2 : 4096;
		struct out *p = realloc(t->out, cap * sizeof(*p));

		if (!p)
			return ENOMEM;
		t->out = p;
		t->cap_out = cap;
	}
	t->out[t->nr_out++] = o;
	return 0;
}

static int run_begin(struct timeline *t, struct carrier *c, uint64_t ts, uint64_t id,
		     uint32_t hub);

/* c no longer executes its hub's green code from ts on. If c was handed off, a carrier that
 * waits for the hub (its return was told by no probe) goes on with it then. */
static int hub_free(struct timeline *t, struct carrier *c, uint64_t ts, bool handed_off)
{
	struct hub_state *hs = c->hs;

	if (hs->busy != c->tid)
		return 0;
	hs->busy = 0;
	if (!handed_off || !hs->nr_waiting)
		return 0;
	for (size_t i = 0; i < t->nr_carriers; i++) {
		struct carrier *w = &t->carriers[i];

		if (w->hs == hs && w->waiting) {
			t->cont[w->displaced_block] = ts;
			return run_begin(t, w, ts, w->displaced_id, hs->hub);
		}
	}
	return 0;
}

/* Close c's open run at ts (or later, at the end of a block within it). */
static int run_close(struct timeline *t, struct carrier *c, uint64_t *ts)
{
	if (!c->open)
		return 0;
	if (*ts < c->cover_until)
		*ts = c->cover_until;
	c->open = false;
	return emit(t, (struct out){ .kind = O_RUN, .tgid = c->tgid, .tid = c->tid, .hub = c->hub,
				     .ts = c->open_ts, .dur = *ts - c->open_ts,
				     .id = c->open_id });
}

/* End c's open run: c goes back to its hub loop, or asleep. */
static int run_end(struct timeline *t, struct carrier *c, uint64_t ts)
{
	bool open = c->open;
	int err = run_close(t, c, &ts);

	return err || !open ? err : hub_free(t, c, ts, false);
}

/* c runs green thread id from ts on, ending its run before (c keeps the hub). */
static int run_begin(struct timeline *t, struct carrier *c, uint64_t ts, uint64_t id,
		     uint32_t hub)
{
	int err = run_close(t, c, &ts);

	if (ts < c->cover_until)
		ts = c->cover_until;
	c->open = true;
	c->open_ts = ts;
	c->open_id = id;
	c->hub = hub;
	c->displaced = false;
	if (c->waiting) {
		c->waiting = false;
		c->hs->nr_waiting--;
	}
	/* Another carrier's run of the hub still open: its block's record never came (or its
	 * return was placed too early). It cannot have run on: every switch point checks that
	 * its carrier is the hub's one runner (I1). */
	if (!err && c->hs->busy && c->hs->busy != c->tid) {
		struct carrier *o = carrier_find(t, c->tgid, c->hs->busy);
		uint64_t at = ts;

		if (o && o->open) {
			t->cut++;
			o->cover_until = 0;
			err = run_close(t, o, &at);
		}
	}
	c->hs->busy = c->tid;
	return err;
}

/* The flows, once every run is out: each handed-off block's goes to the first run of its hub
 * on another carrier that begins at or after the block's start and before its own carrier's
 * run went on. */
static int flows(struct timeline *t)
{
	const struct recording *rec = t->rec;
	size_t nr_out = t->nr_out;
	int err = 0;

	qsort(t->out, nr_out, sizeof(*t->out), cmp_out);
	for (size_t i = 0; i < rec->nr_blocks && !err; i++) {
		const struct gh_block_record *b = &rec->blocks[i];
		size_t lo = 0, hi = nr_out;

		if (!b->handed_off)
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (t->out[mid].ts < b->start_ns)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t j = lo; j < nr_out && t->out[j].ts < t->cont[i]; j++) {
			const struct out r = t->out[j];
			uint64_t at;

			if (r.kind != O_RUN || r.tgid != b->tgid || r.hub != b->hub ||
			    r.tid == b->tid)
				continue;
			/* Within the block, not on its edge, where the run around it may begin. */
			at = b->start_ns + (b->duration_ns / 2 < 1000 ? b->duration_ns / 2 : 1000);
			t->flows++;
			err = emit(t, (struct out){ .kind = O_FLOW_START, .tgid = b->tgid,
						    .tid = b->tid, .ts = at, .id = t->flows });
			if (!err)
				err = emit(t, (struct out){ .kind = O_FLOW_END, .tgid = r.tgid,
							    .tid = r.tid, .ts = r.ts,
							    .id = t->flows });
			break;
		}
	}
	return err;
}

static int take_point(struct timeline *t, const struct point *p)
{
	const struct recording *rec = t->rec;
	const struct gh_block_record *b = NULL;
	const struct rec_run *r = NULL;
	struct carrier *c;
	int err = 0;

	if (p->kind == P_START || p->kind == P_STOP) {
		r = &rec->runs[p->idx];
		c = carrier_find(t, r->tgid, r->tid);
	} else {
		b = &rec->blocks[p->idx];
		c = carrier_find(t, b->tgid, b->tid);
	}
	if (!c)
		return 0;
	c->last_ts = p->ts;
	switch (p->kind) {
	case P_START:
		return run_begin(t, c, p->ts, r->arg, r->hub);
	case P_STOP:
		return run_end(t, c, p->ts);
	case P_BLOCK_BEGIN:
		if (!b->green_id) {
			/* In the hub loop: no green code runs on c. */
			err = run_end(t, c, p->ts);
		} else if (!c->open || c->open_id != b->green_id) {
			err = run_begin(t, c, p->ts, b->green_id, b->hub);
		}
		if (c->cover_until < block_end(b))
			c->cover_until = block_end(b);
		if (!err)
			err = emit(t, (struct out){ .kind = O_BLOCK, .tgid = b->tgid,
						    .tid = b->tid, .hub = b->hub, .ts = p->ts,
						    .dur = b->duration_ns, .block = p->idx });
		/* Handed off: others may run the hub from now on. */
		if (!err && b->handed_off)
			err = hub_free(t, c, p->ts, true);
		return err;
	case P_BLOCK_END:
		t->cont[p->idx] = p->ts;
		if (!b->handed_off || !c->open || c->open_id != b->green_id)
			return 0;
		/* c executes none of the hub's green code until it has the hub back: when a
		 * probe says (P_CONTINUE), else at once if no other carrier runs the hub, else
		 * when the one that does is handed off (the kernel side gave c the hub at its
		 * return, which no probe marks). */
		if (t->resume[p->idx] == p->ts &&
		    (!c->hs->busy || c->hs->busy == c->tid)) {
			c->hs->busy = c->tid;
			return 0;
		}
		err = run_end(t, c, p->ts);
		c->displaced = true;
		c->displaced_id = b->green_id;
		c->displaced_block = p->idx;
		if (t->resume[p->idx] == p->ts) {
			c->waiting = true;
			c->hs->nr_waiting++;
		}
		return err;
	case P_CONTINUE:
		if (c->displaced && !c->open) {
			t->cont[p->idx] = p->ts;
			return run_begin(t, c, p->ts, c->displaced_id, b->hub);
		}
		return 0;
	}
	return 0;
}

static int sweep(struct timeline *t)
{
	const struct recording *rec = t->rec;
	size_t n = 0, cap = rec->nr_runs + 3 * rec->nr_blocks;
	struct point *pts = malloc((cap ? cap : 1) * sizeof(*pts));
	int err = 0;

	if (!pts)
		return ENOMEM;
	for (size_t i = 0; i < rec->nr_runs; i++) {
		if (rec->runs[i].kind == GH_RUN_START)
			pts[n++] = (struct point){ rec->runs[i].ts_ns, P_START, (uint32_t)i };
		else if (rec->runs[i].kind == GH_RUN_STOP)
			pts[n++] = (struct point){ rec->runs[i].ts_ns, P_STOP, (uint32_t)i };
	}
	for (size_t i = 0; i < rec->nr_blocks; i++) {
		const struct gh_block_record *b = &rec->blocks[i];

		pts[n++] = (struct point){ b->start_ns, P_BLOCK_BEGIN, (uint32_t)i };
		pts[n++] = (struct point){ block_end(b), P_BLOCK_END, (uint32_t)i };
		if (b->handed_off && t->resume[i] > block_end(b))
			pts[n++] = (struct point){ t->resume[i], P_CONTINUE, (uint32_t)i };
	}
	qsort(pts, n, sizeof(*pts), cmp_point);
	for (size_t i = 0; i < n && !err; i++)
		err = take_point(t, &pts[i]);
	/* Carriers still waiting for their hub then do not get it within the recording. */
	for (size_t i = 0; i < t->nr_hubs; i++)
		t->hubs[i].nr_waiting = 0;
	for (size_t i = 0; i < t->nr_carriers; i++)
		t->carriers[i].waiting = false;
	/* The recording's end ends the run of each hub's owner then. Any other carrier with a
	 * run still open was asleep by then, in a block whose record had not come yet: its run
	 * ends at its last event, the latest it is known to have run. */
	for (size_t i = 0; i < t->nr_carriers && !err; i++) {
		struct carrier *c = &t->carriers[i];
		const struct rec_owner *o = rec->owners && c->hub < GH_MAX_HUBS ?
						    &rec->owners[c->hub] : NULL;

		err = run_end(t, c, !o || (o->tgid == c->tgid && o->tid == c->tid) ?
					    rec->end_ns : c->last_ts);
	}
	free(pts);
	return err;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing                                                                                    */

/* A JSON string of s (at most len bytes). */
static void put_string(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len && s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x", ch); /* bytes, not UTF-8: each its own code point */
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Microseconds since the recording's start, with three decimals (ns). */
static void put_us(FILE *f, const char *key, uint64_t ns)
{
	fprintf(f, ",\"%s\":%" PRIu64 ".%03" PRIu64, key, ns / 1000, ns % 1000);
}

static void call_name(const struct gh_block_record *b, char *buf, size_t len)
{
	if (b->kind == GH_BLOCK_FAULT)
		snprintf(buf, len, "page fault");
	else if (loader_syscall_name(b->syscall))
		snprintf(buf, len, "%s", loader_syscall_name(b->syscall));
	else
		snprintf(buf, len, "syscall %d", b->syscall);
}

/* The name a green thread's runs show: its name, else the one its blocks give. */
static const char *green_name(const struct timeline *t, uint32_t tgid, uint64_t id,
			      const struct gh_block_record *b)
{
	const char *n = rec_name_find(t->rec, tgid, id);

	if (n && n[0])
		return n;
	if (b && b->green_name[0])
		return b->green_name;
	return "green";
}

static void put_event(const struct timeline *t, FILE *f, const struct out *o)
{
	const struct recording *rec = t->rec;
	const struct gh_block_record *b;
	char name[GH_RUN_NAME_LEN + 32], call[32];

	switch (o->kind) {
	case O_RUN:
		snprintf(name, sizeof(name), "%s #%" PRIu64, green_name(t, o->tgid, o->id, NULL),
			 o->id);
		fputs("{\"ph\":\"X\",\"cat\":\"run\",\"name\":", f);
		put_string(f, name, sizeof(name));
		fprintf(f, ",\"pid\":%u,\"tid\":%u", o->tgid, o->tid);
		put_us(f, "ts", o->ts - rec->since_ns);
		put_us(f, "dur", o->dur);
		fprintf(f, ",\"args\":{\"green_id\":%" PRIu64 ",\"hub\":%u}}", o->id, o->hub);
		break;
	case O_BLOCK:
		b = &rec->blocks[o->block];
		call_name(b, call, sizeof(call));
		fputs("{\"ph\":\"X\",\"cat\":\"block\",\"name\":", f);
		put_string(f, call, sizeof(call));
		fprintf(f, ",\"pid\":%u,\"tid\":%u", o->tgid, o->tid);
		put_us(f, "ts", o->ts - rec->since_ns);
		put_us(f, "dur", o->dur);
		fprintf(f, ",\"args\":{\"green_id\":%" PRIu64 ",\"green_name\":",
			(uint64_t)b->green_id);
		put_string(f, b->green_id ? green_name(t, b->tgid, b->green_id, b) : "",
			   GH_RUN_NAME_LEN);
		fprintf(f, ",\"syscall\":%d,\"handed_off\":%s,\"reason\":",
			b->kind == GH_BLOCK_FAULT ? -1 : b->syscall,
			b->handed_off ? "true" : "false");
		put_string(f, b->handed_off ? "handed off" : loader_block_reason(b->reason), 32);
		fputs("}}", f);
		break;
	case O_FLOW_START:
	case O_FLOW_END:
		fprintf(f, "{\"ph\":\"%s\",%s\"cat\":\"handoff\",\"name\":\"handoff\","
			   "\"id\":%" PRIu64 ",\"pid\":%u,\"tid\":%u",
			o->kind == O_FLOW_START ? "s" : "f",
			o->kind == O_FLOW_END ? "\"bp\":\"e\"," : "", o->id, o->tgid, o->tid);
		put_us(f, "ts", o->ts - rec->since_ns);
		fputc('}', f);
		break;
	}
}

static const char *process_comm(const struct recording *rec, uint32_t tgid)
{
	for (size_t i = 0; i < rec->nr_procs; i++)
		if (rec->procs[i].tgid == tgid && rec->procs[i].comm[0])
			return rec->procs[i].comm;
	return "?";
}

static void put_metadata(const struct timeline *t, FILE *f, bool *first)
{
	char name[64];

	for (size_t i = 0; i < t->nr_carriers; i++) {
		const struct carrier *c = &t->carriers[i];

		if (!i || t->carriers[i - 1].tgid != c->tgid) {
			snprintf(name, sizeof(name), "%s (%u)", process_comm(t->rec, c->tgid),
				 c->tgid);
			fprintf(f, "%s\n{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%u,"
				   "\"args\":{\"name\":", *first ? "" : ",", c->tgid);
			put_string(f, name, sizeof(name));
			fputs("}}", f);
			*first = false;
		}
		snprintf(name, sizeof(name), "carrier %u hub %u", c->tid, c->hub);
		fprintf(f, ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%u,\"tid\":%u,"
			   "\"args\":{\"name\":\"%s\"}}", c->tgid, c->tid, name);
	}
}

static int cmp_process(const void *a, const void *b)
{
	const struct rec_process *x = a, *y = b;

	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

/* Is an event of tgid at ts one of the timeline's (rec_process)? procs sorted by tgid. */
static bool recorded(const struct recording *rec, uint32_t tgid, uint64_t ts)
{
	struct rec_process key = { .tgid = tgid };
	const struct rec_process *p =
		bsearch(&key, rec->procs, rec->nr_procs, sizeof(key), cmp_process);

	return p && ts >= p->since_ns;
}

/* Leave out the events of processes whose probes were not attached yet. */
static void keep_recorded(struct recording *rec)
{
	size_t n = 0;

	qsort(rec->procs, rec->nr_procs, sizeof(*rec->procs), cmp_process);
	for (size_t i = 0; i < rec->nr_runs; i++)
		if (recorded(rec, rec->runs[i].tgid, rec->runs[i].ts_ns))
			rec->runs[n++] = rec->runs[i];
	rec->nr_runs = n;
	n = 0;
	for (size_t i = 0; i < rec->nr_blocks; i++)
		if (recorded(rec, rec->blocks[i].tgid, rec->blocks[i].start_ns))
			rec->blocks[n++] = rec->blocks[i];
	rec->nr_blocks = n;
}

int rec_write_json(struct recording *rec, FILE *f, size_t *handoffs, size_t *cut)
{
	struct timeline t = { .rec = rec };
	bool first = true;
	int err;

	keep_recorded(rec);
	qsort(rec->runs, rec->nr_runs, sizeof(*rec->runs), cmp_run_ts);
	qsort(rec->blocks, rec->nr_blocks, sizeof(*rec->blocks), cmp_block_start);
	/* Nothing lies past the end: a block in progress then ends with the recording. */
	for (size_t i = 0; i < rec->nr_blocks; i++)
		if (block_end(&rec->blocks[i]) > rec->end_ns)
			rec->blocks[i].duration_ns = rec->end_ns > rec->blocks[i].start_ns ?
				rec->end_ns - rec->blocks[i].start_ns : 0;
	if (rec->nr_runs && rec->runs[rec->nr_runs - 1].ts_ns > rec->end_ns)
		rec->end_ns = rec->runs[rec->nr_runs - 1].ts_ns;
	err = carriers_collect(&t);
	if (!err)
		err = marks_collect(&t);
	if (!err)
		err = resumes_find(&t);
	if (!err) {
		t.cont = calloc(rec->nr_blocks ? rec->nr_blocks : 1, sizeof(*t.cont));
		err = t.cont ? sweep(&t) : ENOMEM;
	}
	if (!err)
		err = flows(&t);
	if (!err) {
		qsort(t.out, t.nr_out, sizeof(*t.out), cmp_out);
		fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", f);
		put_metadata(&t, f, &first);
		for (size_t i = 0; i < t.nr_out; i++) {
			fputs(first ? "\n" : ",\n", f);
			first = false;
			put_event(&t, f, &t.out[i]);
		}
		fputs("\n]}\n", f);
		if (ferror(f))
			err = EIO;
	}
	*handoffs = t.flows;
	*cut = t.cut;
	free(t.carriers);
	free(t.hubs);
	free(t.cont);
	free(t.own);
	free(t.backs);
	free(t.end);
	free(t.resume);
	free(t.out);
	return err;
}
