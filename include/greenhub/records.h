/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Block records: one per block of a hub's owner carrier, from either kernel side, for
 * `scx_greenhub --top` (docs/observability.md).
 *
 * A block is a sleep of the carrier that holds RUN(t) in its hub's baton: exactly the sleeps
 * the kernel side considers for a handoff (docs/design.md, transition 1), whether it then
 * hands the hub off or not (and why not). The kernel side notes the start when the carrier
 * goes to sleep, in the carrier's registration (gh_kside_carrier.block), and writes the record
 * when the carrier runs again, where both ends are known: into the ring buffer pinned as
 * `blocks` (GH_RECORDS_PIN) in the mode's folder.
 *
 * Only while a reader is attached: the reader (scx_greenhub --top) writes records_since_ns
 * and, as a heartbeat, records_until_ns into the control map (gh_kside_control); the kernel
 * side records while bpf_ktime_get_ns() < records_until_ns, so a reader that is killed stops
 * the records GH_RECORDS_HEARTBEAT_NS after its last heartbeat. With no reader, the kernel
 * side reads one word of the control map per block and reserves nothing.
 *
 * Recording only observes: it never changes whether or how a sleep is handed off (I1).
 *
 * This header compiles on both sides, like slot.h. The record is part of both modes' ABIs
 * (GH_TRACE_ABI_VERSION, GH_SCX_ABI_VERSION).
 */
#ifndef GREENHUB_RECORDS_H
#define GREENHUB_RECORDS_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "greenhub/slot.h"

/* The ring buffer's pin name, in the mode's pin folder, and its size (a power of two, in
 * bytes): at 80 bytes a record (its 8-byte header included), 1 MiB holds about 13,000
 * records; the reader drains it every GH_RECORDS_DRAIN_MS. */
#define GH_RECORDS_PIN "blocks"
#define GH_RECORDS_RING_BYTES (1U << 20)
#define GH_RECORDS_DRAIN_MS 100

/* How long a reader's heartbeat keeps the records on: it renews it several times as often. */
#define GH_RECORDS_HEARTBEAT_NS 2000000000ULL

/* Which kernel side wrote a record (gh_block_record.mode): enum gh_mode's values, which BPF
 * code cannot include. */
#define GH_RECORD_MODE_TRACE 2
#define GH_RECORD_MODE_SCHED_EXT 3

/* What the carrier slept in. */
enum gh_block_kind {
	GH_BLOCK_SYSCALL = 1, /* a system call: gh_block_record.syscall is its number (x86-64) */
	GH_BLOCK_FAULT = 2,   /* not in a system call: a page fault taken from user mode */
};

/* Why a block was not handed off (gh_block_record.reason; GH_BLOCK_HANDED_OFF when it was).
 * Each matches a counter of the control map (gh_kside_control, the mode's own). */
enum gh_block_reason {
	GH_BLOCK_HANDED_OFF = 0,
	GH_BLOCK_LOOP_SLEEP = 1,     /* in the hub loop, not in green code (nr_loop_sleeps) */
	GH_BLOCK_MASKED = 2,         /* the gate signal was blocked (nr_masked) */
	GH_BLOCK_GATE_UNHANDLED = 3, /* the gate signal was not the runtime's (nr_gate_unhandled) */
	GH_BLOCK_GATE_FAILED = 4,    /* the return gate could not be armed (nr_gate_failures) */
	GH_BLOCK_REFUSED = 5,        /* draining, or the mode's limits (nr_refused) */
	GH_BLOCK_FAULT_SLEEP = 6,    /* trace mode: a fault sleep (nr_fault_sleeps) */
	GH_BLOCK_SIGRETURN = 7,      /* trace mode: inside rt_sigreturn, never gated */
	GH_BLOCK_RACE = 8,           /* the baton changed under the handoff's CAS */
	GH_BLOCK_GRACE = 9,          /* it ended within the grace period */
	GH_BLOCK_NR_REASONS
};

/*
 * One record. Times are CLOCK_MONOTONIC ns (bpf_ktime_get_ns()). tgid and tid are global (the
 * loader's pid namespace). green_id 0 and an empty name: unknown (the runtime had not yet seen
 * the records flag, or the sleep was in the hub loop).
 */
struct gh_block_record {
	__u64 start_ns;    /* the carrier went to sleep */
	__u64 duration_ns; /* until it ran again */
	/* From the handoff to a spare running the hub, when the kernel side measured it for this
	 * handoff (its latency histogram's sample); 0 if not. */
	__u64 spare_latency_ns;
	__u64 green_id; /* gh_thread_id() of the green thread that blocked */
	__u32 tgid;
	__u32 tid;  /* the carrier */
	__u32 hub;  /* slot index */
	__s32 syscall; /* the system call number (x86-64), -1 for a fault */
	__u8 kind;       /* enum gh_block_kind */
	__u8 handed_off; /* 1 if the hub was handed off during the block */
	__u8 reason;     /* enum gh_block_reason */
	__u8 mode;       /* GH_RECORD_MODE_*: which kernel side wrote it */
	__u32 pad;
	char green_name[GH_SLOT_NAME_LEN];
};

/*
 * What a carrier publishes of the green thread it executes, for the records: the 32 bytes at
 * its registration's green_addr (greenhub/kside.h), in the carrier's own memory. Written by
 * the carrier only, at each switch to a green thread (userspace/lib/sched.c); read by the
 * kernel side with bpf_probe_read_user() from the carrier's own context as it goes to sleep,
 * so plain stores suffice. Whatever a process writes here lands only in records of its own
 * hubs.
 */
struct gh_carrier_green {
	/* The green thread's address, non-zero exactly while the carrier runs one: the word the
	 * kernel side reads to tell a green thread's sleep from the hub loop's. */
	__u64 thread;
	__u64 id;      /* its gh_thread_id(): stored at every switch */
	/* The id whose name name holds: stored with the name, only while the hub's slot has
	 * GH_SLOT_F_RECORDS. A name is used only if name_id == id, so that a name left from
	 * before the flag was set is never taken for the thread of now. */
	__u64 name_id;
	char name[GH_SLOT_NAME_LEN]; /* NUL-padded */
};

/* What the kernel side keeps of a block between its start and its end, in the carrier's
 * registration (gh_kside_carrier.block). Written by the kernel side only. */
struct gh_kside_block {
	__u64 start_ns; /* 0: no block pending */
	__u64 green_id;
	__s32 syscall;
	__u8 kind;
	__u8 reason;
	__u16 pad;
	char green_name[GH_SLOT_NAME_LEN];
};

#ifndef __bpf__
_Static_assert(sizeof(struct gh_block_record) == 72, "the record's layout is ABI");
_Static_assert(sizeof(struct gh_carrier_green) == 40, "the published thread's layout is ABI");
_Static_assert(sizeof(struct gh_kside_block) == 40, "the pending block's layout is ABI");
#endif

#endif /* GREENHUB_RECORDS_H */
