/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Run events: what `scx_greenhub --record` (userspace/loader/record.c) hears from the
 * runtime's USDT probes (userspace/lib/probes.h) through its BPF programs
 * (bpf/greenhub_record.bpf.c), one per probe hit, in a ring buffer of that object's own. With
 * the block records (records.h), which carry the same clock, they make the timeline of
 * docs/observability.md: when each carrier ran which green thread, blocked in what, and which
 * carrier continued a hub it left.
 *
 * Shared by the BPF object and the loader only; the runtime's side of the ABI is the probes'
 * names and arguments. Compiles on both sides, like slot.h.
 */
#ifndef GREENHUB_RUNS_H
#define GREENHUB_RUNS_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* The ring buffer's size (a power of two, in bytes): at 72 bytes an event (its 8-byte header
 * included), about 116,000 events, which the recorder drains every GH_RUNS_DRAIN_MS. */
#define GH_RUNS_RING_BYTES (8U << 20)
#define GH_RUNS_DRAIN_MS 10

/* The bytes of a green thread's name a run event carries, NUL included (gh_thread_name()'s
 * whole buffer). */
#define GH_RUN_NAME_LEN 32

/* Which probe fired (gh_run_event.kind). */
enum gh_run_kind {
	GH_RUN_START = 1,     /* greenhub:run: arg is the green thread's id, name its name */
	GH_RUN_STOP = 2,      /* greenhub:stop: back to the hub loop */
	GH_RUN_HAND_BACK = 3, /* greenhub:hand_back: arg is the tid the hub went back to */
	GH_RUN_RESUME = 4,    /* greenhub:resume: arg is the green thread's id */
};

struct gh_run_event {
	__u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC, as the block records */
	__u64 arg;   /* by kind, above */
	__u32 tgid;  /* the carrier's process and thread, global ids */
	__u32 tid;
	__u32 hub;   /* the slot index the probe named */
	__u32 kind;  /* enum gh_run_kind */
	char name[GH_RUN_NAME_LEN]; /* GH_RUN_START only; empty otherwise */
};

#ifndef __bpf__
_Static_assert(sizeof(struct gh_run_event) == 64, "the run event's layout is ABI");
#endif

#endif /* GREENHUB_RUNS_H */
