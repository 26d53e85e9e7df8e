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
 * hub to two carriers. R is GH_BATON_REGION on a RUN word, set while the owner is inside a
 * marked blocking region (mode none only; the sysmon reads it); on a HANDOFF word it is
 * GH_BATON_KERNEL: trace mode's kernel side made the handoff while the carrier slept in a
 * system call, so that carrier's return must be gated before another may take the hub
 * (bpf/taker_gate.bpf.h).
 */
#ifndef GREENHUB_SLOT_H
#define GREENHUB_SLOT_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define GH_SLOT_ABI_VERSION 5

/* Most hubs one loader serves at once, over all processes: the size of the slot map. */
#define GH_MAX_HUBS 1024

/* Each slot fills one page of the slot map, so that a process can map its own hub's slot and
 * nothing else (the kernel assist modes' runtimes do). */
#define GH_SLOT_SIZE 4096

/* Capacity of a hub's held ring (sched_ext mode, below): the most carriers of one hub
 * displaced at once. A power of two. */
#define GH_SLOT_HELD_MAX 256

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
#define GH_BATON_KERNEL GH_BATON_REGION /* on a HANDOFF word only */
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
 * the region (or kernel) flag dropped. Wraps after 2^28 changes, far more than can happen
 * between a read and the CAS that depends on it. */
static inline __u64 gh_baton_next(__u64 old, enum gh_baton_state state, __u32 tid)
{
	__u64 seq = (old >> GH_BATON_SEQ_SHIFT) + 1;

	return (seq << GH_BATON_SEQ_SHIFT) | ((__u64)state << GH_BATON_STATE_SHIFT) | tid;
}

/* Slot flags (gh_hub_slot.flags). */
#define GH_SLOT_F_ACTIVE (1U << 0) /* the slot belongs to a live hub */
/*
 * A reader of block records is attached (greenhub/records.h): the carriers of the hub publish
 * the names of the green threads they switch to, besides their ids (struct gh_carrier_green).
 * Set by `scx_greenhub --top` for every attached hub and kept in step by the kernel side at
 * each block (atomic or/and); read by the runtime at each switch.
 *
 * Why the running green thread is published per carrier, next to the word green_addr names
 * (greenhub/kside.h), and not in the slot: a carrier that blocked resumes the green thread on
 * its own stack without passing any switch point (trace mode's gate can give it the hub back
 * with no runtime code on the way), while other carriers ran other green threads meanwhile;
 * a slot field would then name the last of those. Next to green_addr it describes exactly the
 * thread the carrier executes, and the kernel side already reads that word when the carrier
 * sleeps. The id costs one plain store at each switch, on the cache line of the store of the
 * thread pointer itself; the 16-byte name, a copy that is not free on a path of about 20 ns,
 * is written only while this flag is set: off, the switch pays one load of the slot's flags
 * (on the line of runner_tid, which the switch point checks anyway) and a branch that always
 * goes the same way. Only the slot can carry the flag: the kernel side writes it without
 * knowing where the carriers' memory is.
 */
#define GH_SLOT_F_RECORDS (1U << 1)

/* Bytes of a green thread's name the slot publishes, NUL included: like TASK_COMM_LEN. */
#define GH_SLOT_NAME_LEN 16

/*
 * One hub's slot. In kernel-assist modes it is an entry of a BPF_F_MMAPABLE array map, one page
 * each, of which the runtime maps its own hub's page; in mode none it is plain memory in the
 * hub.
 *
 * Everything here is writable by the process that owns the hub: the kernel side trusts nothing
 * in it beyond what concerns that hub alone (its baton, for its own carriers). Who owns a slot,
 * and which threads carry it, the kernel side keeps in maps the runtime cannot write.
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
	/* The owning process's tgid, as getpid() gives it there. Written by the kernel side when
	 * it grants the slot; informational for the kernel side, which keeps the owner in a map of
	 * its own. */
	__u32 tgid;
	/* GH_SLOT_F_* bits: set by the kernel side when it grants the slot, cleared at release. */
	__u32 flags;
	/* A parked spare of this hub (its tid), or 0 when none is parked. Written by the runtime
	 * under the hub's carrier lock; read by the kernel side as a hint: trace mode skips waking
	 * when it is 0, sched_ext mode checks that the thread named is a registered carrier of the
	 * hub before it signals it. */
	__u32 spare_tid;

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

	/* The kernel side's answers to the runtime's requests (greenhub/request.h), written from
	 * the requesting thread's own context. claim_cookie: the cookie of the request that was
	 * granted the slot. reply_*: the last join or leave of a carrier of this hub, reply_seq
	 * bumped last; the runtime makes one such request at a time per hub. */
	__u64 claim_cookie;
	__u32 reply_tid;
	__s32 reply_err;
	__u32 reply_seq;
	__u32 reply_pad;

	/* Sched_ext mode only (greenhub/scx.h); unused in trace mode. All of it concerns this hub
	 * alone, which is why it may live in memory its process can write.
	 *
	 * spare_mode (enum gh_scx_spare_mode), grace_policy (enum gh_scx_grace) and grace_ns (0:
	 * the scheduler's default): how the hub wants spares held and sleeps handed off; written
	 * by the runtime after the claim, before its first carrier joins.
	 * gate_waiters: carriers waiting in the signal handler (GATE_HELD) for the owner to make
	 * them the runner; incremented and decremented by them. The owner that hands back reads it
	 * after setting runner_tid and, if non-zero, wakes them (a futex on runner_tid): a Dekker
	 * pair.
	 * The held ring: when a displaced carrier t returns while RUN(s), the scheduler keeps t in
	 * the hub's held DSQ, appends t's tid to held[] (it reserves the index with an atomic add
	 * on held_tail, then stores the tid) and only then increments return_pending. The owner,
	 * at a switch point that sees return_pending, takes held[held_head] (0 means "not stored
	 * yet": look again at the next switch point), zeroes it, advances held_head and moves the
	 * baton RUN(s) -> RUN(t). One producer side (the scheduler, on any CPU) and one consumer
	 * (the owner, whoever it is: only the baton holder pops). The scheduler refuses a handoff
	 * that would let more than GH_SLOT_HELD_MAX carriers of the hub be displaced, so the ring
	 * cannot overflow. Zeroed by the runtime after the claim. */
	__u32 spare_mode;
	__u32 grace_policy;
	__u32 grace_ns;
	__u32 gate_waiters;
	__u32 held_head;
	__u32 held_tail;
	__u32 held[GH_SLOT_HELD_MAX];

	/* Both modes. Written by the runtime as a carrier goes IDLE: the tid of the blocked
	 * carrier whose handoff it took as a spare (transition 2), if it ran no green thread
	 * since; 0 otherwise. Read by the kernel side when a returning carrier finds the hub
	 * IDLE: if that carrier is the one named, nothing ran between its handoff and its return,
	 * so waiting would have served the hub as well, and the adaptive grace policy counts the
	 * handoff as it counts a cancel (docs/trace-mode.md, docs/sched-ext.md). A hint about the
	 * hub's own sleeps, which is why its process may write it. Zeroed by the kernel side
	 * when it grants the slot. */
	__u32 idle_unused_tid;
	__u32 idle_pad;

	__u8 reserved[GH_SLOT_SIZE - 152 - 4 * GH_SLOT_HELD_MAX];
};

#ifndef __bpf__
_Static_assert(sizeof(struct gh_hub_slot) == GH_SLOT_SIZE, "a slot fills one page");
#endif

#endif /* GREENHUB_SLOT_H */
