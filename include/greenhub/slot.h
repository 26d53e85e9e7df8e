/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The hub slot: the memory a hub shares with the kernel side.
 *
 * This header is the ABI between libgreenhub and the BPF programs in bpf/. It compiles on both
 * sides: BPF programs include it after vmlinux.h (which defines the __u32/__u64 types), user
 * space gets them from <linux/types.h>. Change the layout only together with
 * GH_SLOT_ABI_VERSION; the loader refuses pinned maps of another version.
 *
 * The baton word
 * --------------
 * The right to run a hub's green code is the baton. It lives in one 64-bit word, changed only
 * by compare-and-swap, by the runtime and by BPF alike:
 *
 *    63                       36 35 34  32 31                      0
 *   +---------------------------+--+------+-------------------------+
 *   |     sequence (28 bits)    |R | state|     carrier tid         |
 *   +---------------------------+--+------+-------------------------+
 *
 * Every change bumps the sequence, so a CAS that read the word before an intervening change
 * (even one that came back to the same state and tid) fails: the ABA problem cannot hand one
 * hub to two carriers. R is GH_BATON_REGION, set while the owner is inside a marked blocking
 * region (mode none only; the sysmon reads it).
 */
#ifndef GREENHUB_SLOT_H
#define GREENHUB_SLOT_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define GH_SLOT_ABI_VERSION 1

/* Most hubs one loader serves at once, over all processes: the size of the slot map. */
#define GH_MAX_HUBS 1024

/*
 * Baton states. For each: what the tid field names, and what a sleep of that carrier means.
 */
enum gh_baton_state {
	/* No carrier runs the hub: it is starting or stopped. The tid field is 0. */
	GH_BATON_FREE = 0,
	/* Carrier tid runs the hub's green code. If tid sleeps in the kernel, that is a block:
	 * the kernel side (or the sysmon, for a marked region) hands the hub off. */
	GH_BATON_RUN = 1,
	/* Carrier tid waits in the runtime's own poll with nothing ready. Its sleep is a chosen
	 * one and never hands off. A carrier whose blocking call returns may take the hub. */
	GH_BATON_IDLE = 2,
	/* Carrier tid blocked outside the runtime; the baton is free for a spare to take. tid is
	 * still the blocked carrier so that its return can cancel the handoff. */
	GH_BATON_HANDOFF = 3,
};

#define GH_BATON_TID_MASK 0xffffffffULL
#define GH_BATON_STATE_SHIFT 32
#define GH_BATON_STATE_MASK 0x7ULL
#define GH_BATON_REGION (1ULL << 35)
#define GH_BATON_SEQ_SHIFT 36

static inline __u32 gh_baton_tid(__u64 baton)
{
	return (__u32)(baton & GH_BATON_TID_MASK);
}

static inline enum gh_baton_state gh_baton_state(__u64 baton)
{
	return (enum gh_baton_state)((baton >> GH_BATON_STATE_SHIFT) & GH_BATON_STATE_MASK);
}

static inline int gh_baton_in_region(__u64 baton)
{
	return (baton & GH_BATON_REGION) != 0;
}

/* The word that follows old when the baton moves to (state, tid): the sequence is bumped and
 * the region flag dropped. Wraps after 2^28 changes, far more than can happen between a read
 * and the CAS that depends on it. */
static inline __u64 gh_baton_next(__u64 old, enum gh_baton_state state, __u32 tid)
{
	__u64 seq = (old >> GH_BATON_SEQ_SHIFT) + 1;

	return (seq << GH_BATON_SEQ_SHIFT) | ((__u64)state << GH_BATON_STATE_SHIFT) | tid;
}

/* Slot flags (gh_hub_slot.flags). */
#define GH_SLOT_F_ACTIVE (1U << 0) /* the slot belongs to a live hub */

/*
 * One hub's slot. In kernel-assist modes it is an entry of a BPF_F_MMAPABLE array map that the
 * runtime maps into its address space; in mode none it is plain memory in the hub.
 *
 * Every field names who writes it, who reads it and who resets it.
 */
struct gh_hub_slot {
	/* The baton word above. Written by CAS only: by the owner carrier, spares, the sysmon and
	 * the kernel side. Read by all of them. Reset to FREE by the runtime when the hub stops. */
	__u64 baton;
	/* The carrier that was last made the hub's runner, the one allowed to execute green code.
	 * Written by whoever moves the baton to RUN(t) for t (the taker itself, the owner that
	 * hands back, or the kernel side for a returning carrier); every carrier checks at each
	 * switch point that it is still the runner. The exclusivity checker (invariant I1). */
	__u32 runner_tid;
	/* The carrier that most recently lost the baton while blocked (transition 2), for
	 * statistics and tracing. Written by the carrier that takes over; never reset. */
	__u32 displaced_tid;
	/* Carriers whose blocking call returned while another carrier owns the hub (transition 4)
	 * and that wait to be handed the baton back. Incremented by each such carrier (or by the
	 * kernel side on its behalf) after it queued itself; decremented by the owner for each
	 * one it hands back to. The owner checks it at every switch point. */
	__u32 return_pending;
	/* The tgid of the process that registered the hub. Written by the runtime when it claims
	 * the slot; the kernel side acts on a carrier only if its tgid matches (invariant I5). */
	__u32 tgid;
	/* GH_SLOT_F_* bits. Written by the runtime (claim and release), read by the kernel. */
	__u32 flags;
	__u32 pad;

	/* Counters. Each is bumped only by the party named, never reset while the hub lives. */
	__u64 nr_handoffs;     /* RUN -> HANDOFF, by the kernel side or the sysmon */
	__u64 nr_takeovers;    /* HANDOFF(t) -> RUN(s), by the runtime */
	__u64 nr_cancels;      /* HANDOFF(t) -> RUN(t), the blocked call returned first */
	__u64 nr_holds;        /* a returning carrier found another owner and waited */
	__u64 nr_handbacks;    /* RUN(s) -> RUN(t) at a switch point, by the runtime */
	__u64 nr_idle_returns; /* IDLE(s) -> RUN(t) for a returning carrier */
	/* Monotonic ns of the last RUN -> HANDOFF, for handoff latency. Written by whoever moved
	 * the baton to HANDOFF; read by the carrier that ends the handoff. */
	__u64 handoff_ns;
	/* Sum over handoffs of the ns from the handoff until a carrier ran the hub again. Written
	 * by the carrier that ends the handoff (takeover or cancel). */
	__u64 stalled_ns;
};

#endif /* GREENHUB_SLOT_H */
