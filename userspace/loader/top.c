// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * scx_greenhub --top: what blocks, from the block records of whichever kernel side is loaded
 * (include/greenhub/records.h, docs/observability.md).
 *
 * It attaches as records_reader.c says: one reader at a time, with a heartbeat.
 *
 * Records are aggregated per process and hub, and per green thread (process, gh_thread_id):
 * blocks, total blocked time, p99 (nearest rank over the window's durations), the most
 * frequent call, and, for the green threads, the most frequent reason a block was not handed
 * off. --top --once prints one report after --duration seconds; --top redraws every
 * --interval seconds, each report over the blocks of the interval before it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "greenhub/records.h"
#include "loader.h"

#define NSEC_PER_MSEC 1000000.0
/* Rows of each table. */
#define TOP_ROWS 20

/* ---------------------------------------------------------------------------------------- */
/* Names                                                                                      */

/* What a record's call is: the system call's name (or its number), or "fault". */
static void call_name(int kind, int nr, char *buf, size_t len)
{
	if (kind == GH_BLOCK_FAULT)
		snprintf(buf, len, "fault");
	else if (loader_syscall_name(nr))
		snprintf(buf, len, "%s", loader_syscall_name(nr));
	else
		snprintf(buf, len, "syscall %d", nr);
}


/* ---------------------------------------------------------------------------------------- */
/* Aggregates                                                                                 */

/* Calls are counted by a key: the syscall number, or -1 for a fault. */
#define CALL_FAULT -1
#define MAX_CALLS 8

struct call_count {
	int call;
	uint64_t n;
};

/* One row: a process's hub, or a green thread. */
struct row {
	uint32_t tgid;
	uint32_t hub;      /* hub rows */
	uint64_t green_id; /* green thread rows */
	char name[GH_SLOT_NAME_LEN];
	uint64_t blocks, handed_off, total_ns, latency_ns, latencies;
	uint64_t *durations;
	size_t nr_durations, cap_durations;
	struct call_count calls[MAX_CALLS];
	uint64_t reasons[GH_BLOCK_NR_REASONS];
};

struct table {
	struct row *rows;
	size_t n, cap;
};

struct top {
	struct table hubs, threads;
	/* When this reader attached: the ring may still hold records an earlier reader left
	 * undrained, of blocks that began before. */
	uint64_t since_ns;
	uint64_t records;
	bool oom; /* a record could not be counted for want of memory */
};

static struct row *table_find(struct table *t, uint32_t tgid, uint32_t hub, uint64_t green_id)
{
	struct row *r;

	for (size_t i = 0; i < t->n; i++) {
		r = &t->rows[i];
		if (r->tgid == tgid && r->hub == hub && r->green_id == green_id)
			return r;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct row *rows = realloc(t->rows, cap * sizeof(*rows));

		if (!rows)
			return NULL;
		t->rows = rows;
		t->cap = cap;
	}
	r = &t->rows[t->n++];
	memset(r, 0, sizeof(*r));
	r->tgid = tgid;
	r->hub = hub;
	r->green_id = green_id;
	return r;
}

static void table_clear(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->rows[i].durations);
	t->n = 0;
}

static void table_free(struct table *t)
{
	table_clear(t);
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

/* Count call in r's most frequent calls; a call beyond MAX_CALLS distinct ones is dropped (it
 * cannot be the most frequent of a row whose first MAX_CALLS are all ahead of it by then). */
static void count_call(struct row *r, int call)
{
	for (size_t i = 0; i < MAX_CALLS; i++) {
		if (r->calls[i].n && r->calls[i].call == call) {
			r->calls[i].n++;
			return;
		}
		if (!r->calls[i].n) {
			r->calls[i] = (struct call_count){ .call = call, .n = 1 };
			return;
		}
	}
}

static int row_add(struct row *r, const struct gh_block_record *rec)
{
	if (r->nr_durations == r->cap_durations) {
		size_t cap = r->cap_durations ? r->cap_durations * 2 : 16;
		uint64_t *d = realloc(r->durations, cap * sizeof(*d));

		if (!d)
			return -1;
		r->durations = d;
		r->cap_durations = cap;
	}
	r->durations[r->nr_durations++] = rec->duration_ns;
	r->blocks++;
	r->total_ns += rec->duration_ns;
	if (rec->handed_off)
		r->handed_off++;
	if (rec->spare_latency_ns) {
		r->latency_ns += rec->spare_latency_ns;
		r->latencies++;
	}
	count_call(r, rec->kind == GH_BLOCK_FAULT ? CALL_FAULT : rec->syscall);
	if (rec->reason < GH_BLOCK_NR_REASONS)
		r->reasons[rec->reason]++;
	if (!r->name[0] && rec->green_name[0])
		memcpy(r->name, rec->green_name, sizeof(r->name));
	r->name[sizeof(r->name) - 1] = '\0';
	return 0;
}

/* ring_buffer__new's callback: count one record. */
static int take_record(void *ctx, void *data, size_t size)
{
	const struct gh_block_record *rec = data;
	struct top *top = ctx;
	struct row *h, *t;

	if (size < sizeof(*rec) || rec->start_ns < top->since_ns)
		return 0;
	top->records++;
	h = table_find(&top->hubs, rec->tgid, rec->hub, 0);
	t = table_find(&top->threads, rec->tgid, UINT32_MAX, rec->green_id);
	if (!h || !t || row_add(h, rec) || row_add(t, rec))
		top->oom = true;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The report                                                                                 */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank 99th percentile of r's durations. */
static uint64_t row_p99(struct row *r)
{
	size_t rank;

	if (!r->nr_durations)
		return 0;
	qsort(r->durations, r->nr_durations, sizeof(*r->durations), cmp_u64);
	rank = (r->nr_durations * 99 + 99) / 100;
	return r->durations[rank - 1];
}

static void row_top_call(const struct row *r, char *buf, size_t len)
{
	const struct call_count *best = &r->calls[0];

	for (size_t i = 1; i < MAX_CALLS; i++)
		if (r->calls[i].n > best->n)
			best = &r->calls[i];
	call_name(best->call == CALL_FAULT ? GH_BLOCK_FAULT : GH_BLOCK_SYSCALL, best->call, buf,
		  len);
}

/* The most frequent reason r's blocks were not handed off, "-" if all were. */
static const char *row_top_reason(const struct row *r)
{
	unsigned best = GH_BLOCK_HANDED_OFF;

	for (unsigned i = 1; i < GH_BLOCK_NR_REASONS; i++)
		if (r->reasons[i] > (best ? r->reasons[best] : 0))
			best = i;
	return loader_block_reason(best);
}

static void spare_latency(const struct row *r, char *buf, size_t len)
{
	if (r->latencies)
		snprintf(buf, len, "%.1f", (double)r->latency_ns / (double)r->latencies / 1000.0);
	else
		snprintf(buf, len, "-");
}

static int cmp_total(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return x->total_ns < y->total_ns ? 1 : x->total_ns > y->total_ns ? -1 : 0;
}

static int cmp_process_hub(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->hub < y->hub ? -1 : x->hub > y->hub;
}

static void print_hubs(struct table *t)
{
	char call[32], lat[16];

	printf("%8s %5s %7s %7s %12s %10s %9s  %s\n", "pid", "hub", "blocks", "handed",
	       "blocked_ms", "p99_ms", "spare_us", "most frequent call");
	qsort(t->rows, t->n, sizeof(*t->rows), cmp_process_hub);
	for (size_t i = 0; i < t->n; i++) {
		struct row *r = &t->rows[i];

		row_top_call(r, call, sizeof(call));
		spare_latency(r, lat, sizeof(lat));
		printf("%8u %5u %7llu %7llu %12.3f %10.3f %9s  %s\n", r->tgid, r->hub,
		       (unsigned long long)r->blocks, (unsigned long long)r->handed_off,
		       (double)r->total_ns / NSEC_PER_MSEC, (double)row_p99(r) / NSEC_PER_MSEC, lat,
		       call);
	}
}

static void print_threads(struct table *t)
{
	char call[32], id[24];

	printf("%8s %8s %-15s %7s %7s %12s %10s  %-16s %s\n", "pid", "thread", "name", "blocks",
	       "handed", "blocked_ms", "p99_ms", "most frequent", "not handed off");
	qsort(t->rows, t->n, sizeof(*t->rows), cmp_total);
	for (size_t i = 0; i < t->n && i < TOP_ROWS; i++) {
		struct row *r = &t->rows[i];

		row_top_call(r, call, sizeof(call));
		if (r->green_id)
			snprintf(id, sizeof(id), "%llu", (unsigned long long)r->green_id);
		else
			snprintf(id, sizeof(id), "?");
		printf("%8u %8s %-15s %7llu %7llu %12.3f %10.3f  %-16s %s\n", r->tgid, id,
		       r->name[0] ? r->name : (r->green_id ? "-" : "(unknown)"),
		       (unsigned long long)r->blocks, (unsigned long long)r->handed_off,
		       (double)r->total_ns / NSEC_PER_MSEC, (double)row_p99(r) / NSEC_PER_MSEC, call,
		       row_top_reason(r));
	}
	if (t->n > TOP_ROWS)
		printf("(%zu more green threads)\n", t->n - TOP_ROWS);
}

static void print_report(const struct loader_mode *m, struct top *top, double seconds,
			 const struct gh_kside_control *c)
{
	printf("greenhub top: %s mode, %.1f s, %llu block(s), %llu record(s) lost in all%s\n",
	       m->name, seconds, (unsigned long long)top->records,
	       (unsigned long long)__atomic_load_n(&c->nr_records_lost, __ATOMIC_RELAXED),
	       top->oom ? " (out of memory: some not counted)" : "");
	printf("\nprocesses and hubs\n");
	if (top->hubs.n)
		print_hubs(&top->hubs);
	else
		printf("no block\n");
	printf("\ngreen threads, most blocked first\n");
	if (top->threads.n)
		print_threads(&top->threads);
	else
		printf("no block\n");
	fflush(stdout);
}

/* ---------------------------------------------------------------------------------------- */
/* Collecting                                                                                 */

/* Collect for seconds (or until a signal, or the pins go): 0, or an exit status. */
static int collect(struct records_reader *r, double seconds)
{
	uint64_t end = loader_now() + (uint64_t)(seconds * 1e9);
	int status;

	while (!loader_interrupted && loader_now() < end) {
		double left = (double)(end - loader_now()) / 1e9;

		loader_sleep(left < GH_RECORDS_DRAIN_MS / 1000.0 ? left
								 : GH_RECORDS_DRAIN_MS / 1000.0);
		if (!loader_control_pinned(r->m->pins))
			break;
		records_reader_beat(r);
		status = records_reader_drain(r);
		if (status)
			return status;
	}
	return records_reader_drain(r);
}

int loader_run_top(const struct loader_mode *m, const struct loader_opts *o)
{
	struct top top = { 0 };
	struct records_reader r;
	int status;

	status = records_reader_open(&r, m, take_record, &top);
	if (status)
		return status;
	top.since_ns = r.since_ns;
	do {
		uint64_t t0 = loader_now();

		status = collect(&r, o->once ? o->duration : o->interval);
		if (status)
			break;
		if (!o->once)
			printf("\033[H\033[2J");
		print_report(m, &top, (double)(loader_now() - t0) / 1e9, r.ctl);
		table_clear(&top.hubs);
		table_clear(&top.threads);
		top.records = 0;
		top.oom = false;
	} while (!o->once && !loader_interrupted && loader_control_pinned(m->pins));
	records_reader_close(&r);
	table_free(&top.hubs);
	table_free(&top.threads);
	return status;
}
