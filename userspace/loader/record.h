/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * scx_greenhub --record: what it collected (record.c) and how it writes the timeline
 * (record_json.c). docs/observability.md describes the file.
 */
#ifndef GREENHUB_LOADER_RECORD_H
#define GREENHUB_LOADER_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "greenhub/records.h"
#include "greenhub/runs.h"

/* A run event as kept: struct gh_run_event without its name (the names table has it). */
struct rec_run {
	uint64_t ts_ns;
	uint64_t arg;
	uint32_t tgid, tid, hub, kind;
};

/* The last name each green thread (process, gh_thread_id) was run under. */
struct rec_name {
	uint32_t tgid;
	uint64_t id; /* 0: an empty entry */
	char name[GH_RUN_NAME_LEN];
};

/* A process whose probes were attached: its events count from since_ns on, when the last of
 * them was; those of others, and earlier ones, are left out of the timeline (a block with no
 * runs around it could not be placed). */
struct rec_process {
	uint32_t tgid;
	uint64_t since_ns;
	char comm[32];
};

/* Who held a hub's baton as RUN when the recording ended: the one carrier of it that may have
 * been running green code then (0, 0: none). */
struct rec_owner {
	uint32_t tgid, tid;
};

struct recording {
	uint64_t since_ns, end_ns; /* CLOCK_MONOTONIC: the timeline's 0, and its end */
	struct rec_owner *owners;  /* GH_MAX_HUBS of them, by slot index; NULL if unknown */
	struct rec_run *runs;
	size_t nr_runs, cap_runs;
	struct gh_block_record *blocks;
	size_t nr_blocks, cap_blocks;
	struct rec_name *names; /* open addressing, cap_names a power of two */
	size_t nr_names, cap_names;
	struct rec_process *procs;
	size_t nr_procs, cap_procs;
	bool full; /* REC_MAX_EVENTS reached: the recording ended there */
	bool oom;  /* an event could not be kept for want of memory */
};

/* The most events (runs and blocks) a recording keeps: about 100 MB of memory, and a file
 * larger than a browser opens with ease. */
#define REC_MAX_EVENTS (3u << 20)

/* The name green thread id of process tgid last ran under, or NULL. */
const char *rec_name_find(const struct recording *rec, uint32_t tgid, uint64_t id);

/* Write rec as Chrome trace-event JSON to f: 0, or an errno. Sorts rec's arrays. Sets
 * *handoffs to the flows written, *cut to the runs ended where another carrier's run of their
 * hub began (record_json.c). */
int rec_write_json(struct recording *rec, FILE *f, size_t *handoffs, size_t *cut);

#endif /* GREENHUB_LOADER_RECORD_H */
