/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every kernel side (trace mode, trace.h; sched_ext mode, scx.h) keeps alike: the head of
 * its control map, the common part of its per-hub state and of a carrier's registration. Each
 * mode's struct embeds these as its first member, named kside, so that the code both kernel
 * sides share (bpf/baton.bpf.h, bpf/requests.bpf.h), the loader (userspace/loader/control.c)
 * and the runtime (userspace/lib/kside.c) work on any mode's maps through one type, and the
 * two modes cannot drift apart on what the baton protocol means by a counter.
 *
 * It compiles on both sides, like slot.h. The layouts here are part of each mode's ABI: change
 * them only together with GH_TRACE_ABI_VERSION and GH_SCX_ABI_VERSION.
 */
#ifndef GREENHUB_KSIDE_H
#define GREENHUB_KSIDE_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "greenhub/records.h"

/* The loader's state word (gh_kside_control.state) takes the same values in every mode; a mode
 * may add its own after these (sched_ext mode's EXITED). */
enum gh_kside_state {
	/* Maps pinned, programs being attached. The runtime does not attach hubs yet. */
	GH_KSIDE_LOADING = 0,
	/* Handoffs on. */
	GH_KSIDE_RUNNING = 1,
	/* Unloading: no new handoffs; the loader waits until no carrier is displaced. */
	GH_KSIDE_DRAINING = 2,
};

/* Handoff-latency histogram: bucket i counts latencies in [2^(i-1), 2^i) microseconds, bucket
 * 0 those under 1 us, the last one everything longer. */
#define GH_KSIDE_HIST_BUCKETS 24

struct gh_kside_hist {
	__u64 bucket[GH_KSIDE_HIST_BUCKETS];
	__u64 count;
	__u64 sum_ns;
	__u64 max_ns;
};

/*
 * How every mode's control map begins.
 *
 * magic, the versions, mode, signo, loader_pid, kside_id, loaded_ns and features: written once
 * by the loader before it sets state to RUNNING; read by the runtime (to refuse an incompatible
 * or stopping kernel side) and by `scx_greenhub --stats`. A loader meeting a pinned control map
 * reads these before it knows whose version it is, so they stay first and in this order.
 * state: written by the loader (LOADING -> RUNNING -> DRAINING) through its mapping; read by
 * the kernel side on every handoff and by the runtime.
 * Counters: bumped by the kernel side only, never reset while it is loaded; read by the loader
 * and, nr_claims and nr_rejected, by the runtime waiting for the answer to its request.
 */
struct gh_kside_control {
	__u32 magic;      /* GH_TRACE_MAGIC, GH_SCX_MAGIC */
	__u32 slot_abi;   /* GH_SLOT_ABI_VERSION */
	__u32 abi;        /* the mode's own: GH_TRACE_ABI_VERSION, GH_SCX_ABI_VERSION */
	__u32 state;      /* enum gh_kside_state (or the mode's own additions) */
	__u32 mode;       /* enum gh_mode of greenhub.h */
	__u32 signo;      /* the mode's gate signal */
	__u32 loader_pid;
	/* The id of this map, which requests name (greenhub/request.h): a request meant for
	 * another kernel side (one that older processes still hold, or the other mode's) is
	 * left unanswered. */
	__u32 kside_id;
	__u64 loaded_ns; /* CLOCK_REALTIME ns when the loader pinned the objects */
	__u64 features;  /* GH_TRACE_F_* the loader found */

	/* Carriers handed off that have not passed their return yet. The handoff path adds 1
	 * *before* it reads state and takes it back if it then does not hand off; the loader sets
	 * DRAINING and then reads this: a Dekker pair (both sides use full barriers), so once the
	 * loader reads 0 after setting DRAINING, no carrier needs the kernel side and none will.
	 * Signed: a transient -1 is impossible, but a gauge must not wrap. */
	__s64 nr_displaced;

	__u64 nr_handoffs;       /* RUN -> HANDOFF by the kernel side */
	__u64 nr_cancels;        /* HANDOFF(t) -> RUN(t): t's call returned first */
	__u64 nr_takeovers;      /* HANDOFF(u) -> RUN(t) for a returning t (u another carrier) */
	__u64 nr_idle_returns;   /* IDLE(s) -> RUN(t) for a returning t */
	__u64 nr_gates;          /* gate signals: t returned while another carrier had the hub */
	__u64 nr_spare_wakes;    /* parked spares woken for a handoff */
	__u64 nr_spare_misses;   /* handoffs with no spare to take the hub */
	__u64 nr_loop_sleeps;    /* owner slept in the hub loop, not in green code: no handoff */
	__u64 nr_masked;         /* owner slept with the gate signal blocked: idem */
	__u64 nr_gate_unhandled; /* owner slept with the gate signal not the runtime's: idem */
	__u64 nr_gate_failures;  /* handoffs not made because the gate could not be armed */
	__u64 nr_refused;        /* handoffs refused (draining, or the mode's own limits) */
	__u64 nr_claims;         /* slots granted to a process */
	__u64 nr_bound;          /* carriers registered (joins granted) */
	__u64 nr_rejected;       /* requests refused (another process's slot, a bad request) */
	__u64 nr_exit_cleanups;  /* hubs released because their process exited or exec'd */
	/* Latency from an owner's sleep to the spare given the hub running. */
	struct gh_kside_hist handoff_latency;

	/* Block records (greenhub/records.h). records_since_ns and records_until_ns: written by
	 * a reader (scx_greenhub --top) through its mapping, the since first; 0 when none is
	 * attached. The kernel side records a block that starts while bpf_ktime_get_ns() <
	 * records_until_ns and after records_since_ns (so that a block noted under an earlier
	 * reader is never reported to a later one). Counters bumped by the kernel side: records
	 * written, and records lost to a full ring buffer. */
	__u64 records_since_ns;
	__u64 records_until_ns;
	__u64 nr_records;
	__u64 nr_records_lost;
};

/*
 * Every mode's per-hub state begins so: entry i of the hubs map, for the hub in slot i. Written
 * by the kernel side only.
 *
 * owner_tgid: the global tgid of the process holding the slot, 0 when free; owner_vtgid the
 * same in that process's pid namespace; cookie: the hub's claim cookie, which every
 * registration of the hub carries, so that a registration outliving its hub (the process
 * released the slot and claimed it again) is not taken for one of the new hub. Set by a CLAIM,
 * cleared by a RELEASE or the owner's exit or exec. The kernel acts on a carrier only if its
 * registration's hub is held by the carrier's own process under the registration's cookie (I5).
 * The rest is zeroed when the slot is granted.
 */
struct gh_kside_hub {
	__u32 owner_tgid;
	__u32 owner_vtgid;
	__u64 cookie;
	__s64 nr_displaced; /* gauge, as the control's */
	__u64 nr_gates;
	__u64 nr_spare_wakes;
	__u64 nr_spare_misses;
	struct gh_kside_hist handoff_latency;
	/* For block records: the last latency fed to handoff_latency, and the handoff it measured
	 * (its handoff_ns), so that a carrier's record can carry its own handoff's latency. */
	__u64 rec_latency_for_ns;
	__u64 rec_latency_ns;
};

/*
 * Every mode's carrier registration begins so: the task-local storage of the carrier's thread,
 * written by the kernel side only. A JOIN request from the thread itself creates it (hub, tid,
 * cookie, green_addr and gate_handler from the request; the rest zero), a LEAVE request deletes
 * it, and the kernel frees it when the thread exits.
 */
struct gh_kside_carrier {
	__u32 hub;    /* slot index */
	__u32 tid;    /* gettid() of the carrier, as the baton word names it */
	__u64 cookie; /* the hub's claim cookie at the join */
	/* The address, in the carrier's process, of a pointer that is non-NULL exactly while the
	 * carrier runs a green thread (struct gh__carrier.green). Only sleeps inside a green
	 * thread hand off, never the hub loop's own (a contended lock, munmap, a fault in the
	 * loop), so a carrier is never displaced where the runtime does not expect it, e.g. while
	 * it stops a finished hub. Read with bpf_probe_read_user() from the sleeping carrier. */
	__u64 green_addr;
	/* The runtime's handler of the gate signal, as the carrier joined: a carrier whose
	 * process has another disposition for the signal now (the application changed it) is
	 * never handed off, since its return could not be gated. */
	__u64 gate_handler;
	/* The address of the hub's count of ready green threads (gh_request.ready_addr), read
	 * with bpf_probe_read_user() from the sleeping carrier. */
	__u64 ready_addr;
	/* 1 from this carrier's handoff until its return is settled. */
	__u32 displaced;
	__u32 pad;
	__u64 handoff_ns; /* when this carrier was last handed off */
	/* The block in progress, noted while a reader of block records is attached. */
	struct gh_kside_block block;
};

#endif /* GREENHUB_KSIDE_H */
