/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the two kernel sides of the baton protocol, the sched_ext scheduler (greenhub_scx.bpf.c) and
 * trace mode (greenhub_trace.bpf.c), do the same way: the cleanup of a process's slots (I6),
 * the baton moves and counters whose meaning slot.h fixes for both, and the bookkeeping of a
 * spare given the hub. The runtime writes and reads the same slot fields (slot.h) under either
 * side, with one meaning, so these parts must not drift apart.
 *
 * Each side's control, hub and carrier types (scx.h, trace.h) begin with the common part of
 * greenhub/kside.h, member kside; the functions here take pointers to those common parts, so
 * that one copy serves both. An including file declares, before it includes this header, the
 * maps control (one value that begins with struct gh_kside_control), slots (struct
 * gh_hub_slot), hubs (values that begin with struct gh_kside_hub) and owners (global tgid ->
 * struct gh_owner).
 *
 * Requests, which register carriers and grant slots (I5), are requests.bpf.h's.
 */
#ifndef GREENHUB_BATON_BPF_H
#define GREENHUB_BATON_BPF_H

#include "greenhub/kside.h"

/* The control map's common head; each mode's own ctl() gives its whole struct. */
static __always_inline struct gh_kside_control *kside_ctl(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&control, &zero);
}

/* Counters are shared by every CPU that runs the programs: an atomic add, never a store. */
static __always_inline void counter_inc(__u64 *counter)
{
	__sync_fetch_and_add(counter, 1);
}

static void hist_add(struct gh_kside_hist *h, __u64 ns)
{
	__u64 us = ns / 1000;
	__u32 b = 0;

	while (us && b < GH_KSIDE_HIST_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	__sync_fetch_and_add(&h->bucket[b], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum_ns, ns);
	if (ns > h->max_ns)
		h->max_ns = ns; /* racy on purpose: a statistic, not worth a CAS loop */
}

/* A pid's number in the namespace it was created in: what the thread itself gets from
 * gettid()/getpid(), and so what the runtime writes into registrations and baton words. pid is
 * a plain address (read with BPF_CORE_READ), so that the arithmetic below is on a scalar. */
static __u32 pid_nr_own(struct pid *pid)
{
	struct upid up = {};
	unsigned int level;

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	if (bpf_probe_read_kernel(&up, sizeof(up),
				  (void *)pid + bpf_core_field_offset(struct pid, numbers) +
					  level * bpf_core_type_size(struct upid)))
		return 0;
	return (__u32)up.nr;
}

/* Would signal signo be held back at p's return to user mode? The mask in force now, the one
 * a sigtimedwait restores (real_blocked, empty otherwise) and the one a ppoll/pselect/
 * epoll_pwait restores (saved_sigmask, when restore_sigmask is set). A carrier whose gate
 * signal would wait must never be handed off: its return could not be stopped.
 * p is a task the verifier knows the type of (a program's argument, current, or a task a kfunc
 * returned), so every field is a plain load, not a helper call: this runs at every sleep that
 * may hand off, and on a kernel whose every return pays for a mitigation a helper costs more
 * than the load it makes. */
static bool gate_masked(struct task_struct *p, int signo)
{
	__u64 bit = 1ULL << (signo - 1);
	__u64 blocked = p->blocked.sig[0] | p->real_blocked.sig[0];
	struct task_struct *task = p; /* BPF_CORE_READ_BITFIELD declares a p of its own */

	if (bpf_core_field_exists(task->restore_sigmask) &&
	    BPF_CORE_READ_BITFIELD(task, restore_sigmask))
		blocked |= task->saved_sigmask.sig[0];
	return (blocked & bit) != 0;
}

/* A word of current's process at addr, an address its carrier registered (green_addr,
 * ready_addr); an unset address, or a word that cannot be read without a fault, reads 0. */
static __u64 carrier_word(__u64 addr)
{
	__u64 w = 0;

	if (!addr || bpf_probe_read_user(&w, sizeof(w), (void *)addr))
		return 0;
	return w;
}

/* Does the sleeping carrier (current) run a green thread? See the carrier's green_addr: only
 * such sleeps hand off, so a carrier is never displaced where the runtime does not expect it.
 * A word that cannot be read counts as no. */
static bool in_green_thread(struct gh_kside_carrier *st)
{
	return carrier_word(st->green_addr) != 0;
}

/* A hub's grace policy and period (enum gh_scx_grace, ns, at most a second): as the runtime
 * chose them in its slot, else the loaded defaults. Both kernel sides' grace periods start
 * from it. */
static __always_inline __u32 slot_grace(const struct gh_hub_slot *slot, __u32 dfl_policy,
					__u32 dfl_ns, __u32 *policy)
{
	__u32 g = slot->grace_ns ? slot->grace_ns : dfl_ns;

	*policy = slot->grace_policy ? slot->grace_policy : dfl_policy;
	return g > 1000000000 ? 1000000000 : g;
}

/* The displaced gauges, the control's (which the loader's drain reads) and, where known, the
 * hub's. */
static void displaced_add(struct gh_kside_control *c, struct gh_kside_hub *hub, int n)
{
	if (c)
		__sync_fetch_and_add(&c->nr_displaced, n);
	if (hub)
		__sync_fetch_and_add(&hub->nr_displaced, n);
}

/* A registered carrier leaves (it exits or execs): its part in the displaced gauges goes, the
 * hub's too where its process still owns the hub (else hub is NULL). */
static void displaced_leaves(struct gh_kside_control *c, struct gh_kside_hub *hub,
			     struct gh_kside_carrier *k)
{
	if (k->displaced)
		displaced_add(c, hub, -1);
	k->displaced = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Baton moves                                                                                */

/* Move the baton from the word b, as read, to (state, tid). Fails if anyone changed the word
 * since: the sequence in it makes even a change that came back to the same state and tid
 * count (slot.h), so a decision taken on b is never applied to a newer baton. */
static __always_inline bool baton_cas(struct gh_hub_slot *slot, __u64 b,
				      enum gh_baton_state state, __u32 tid)
{
	return __sync_val_compare_and_swap(&slot->baton, b, gh_baton_next(b, state, tid)) == b;
}

/* A returning carrier tid has just moved HANDOFF(holder) -> RUN(tid): a cancel if it was its own
 * handoff, else a takeover of another blocked carrier's. runner_tid is stored here, after the
 * CAS and before tid can run user code, so that every switch point of the hub sees tid as the
 * one runner (I1). */
static void handoff_taken(struct gh_kside_control *c, struct gh_hub_slot *slot, __u32 holder,
			  __u32 tid)
{
	__u64 now;

	slot->runner_tid = tid;
	now = bpf_ktime_get_ns();
	if (slot->handoff_ns && now > slot->handoff_ns)
		__sync_fetch_and_add(&slot->stalled_ns, now - slot->handoff_ns);
	if (holder == tid) {
		__sync_fetch_and_add(&slot->nr_cancels, 1);
		counter_inc(&c->nr_cancels);
	} else {
		/* Another blocked carrier's handoff, still untaken: ours now. */
		__sync_fetch_and_add(&slot->nr_takeovers, 1);
		slot->displaced_tid = holder;
		counter_inc(&c->nr_takeovers);
	}
}

/* A carrier tid leaves for good while it may hold the hub: RUN(tid) or IDLE(tid) ->
 * HANDOFF(tid), so that a spare can take the hub (transition 6) instead of the hub waiting for
 * a carrier that will never switch again. True if the baton moved; handoff_ns is then set. */
static bool hand_on(struct gh_hub_slot *slot, __u32 tid)
{
	__u64 b = slot->baton;

	if ((gh_baton_state(b) != GH_BATON_RUN && gh_baton_state(b) != GH_BATON_IDLE) ||
	    gh_baton_tid(b) != tid || !baton_cas(slot, b, GH_BATON_HANDOFF, tid))
		return false;
	slot->handoff_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&slot->nr_handoffs, 1);
	return true;
}

/* ---------------------------------------------------------------------------------------- */
/* A spare given the hub                                                                      */

/* After a handoff, the spare that should take the hub was woken (trace mode: a record in the
 * hub's wake ring; sched_ext mode: a parked spare signalled). Counted on the control and the
 * hub alike, so that --stats can tell which hub's spares carry the handoffs. */
static void spare_woken(struct gh_kside_control *c, struct gh_kside_hub *hub)
{
	counter_inc(&c->nr_spare_wakes);
	counter_inc(&hub->nr_spare_wakes);
}

/* After a handoff, no spare could be given the hub. The baton stays HANDOFF: a spare that parks
 * takes it (transition 6), or the blocked call's return cancels it. */
static void spare_missed(struct gh_kside_control *c, struct gh_kside_hub *hub)
{
	counter_inc(&c->nr_spare_misses);
	counter_inc(&hub->nr_spare_misses);
}

/* A spare woken at since for a handoff runs now: the kernel's view of the handoff latency. A
 * clock that went backwards (since taken on another CPU) records nothing. */
static void spare_ran(struct gh_kside_control *c, struct gh_kside_hub *hub, __u64 since, __u64 now)
{
	if (!since || now < since)
		return;
	hist_add(&c->handoff_latency, now - since);
	hist_add(&hub->handoff_latency, now - since);
	/* For the block record of the handoff made at since (records.bpf.h). */
	hub->rec_latency_for_ns = since;
	hub->rec_latency_ns = now - since;
}

/* ---------------------------------------------------------------------------------------- */
/* I6: a process leaves no slot behind                                                        */

/* A slot and its hub back to FREE, the owner last (the caller clears hub->owner_tgid, with
 * whatever ordering it needs): the baton still moves through gh_baton_next(), and the bumped
 * sequence makes any CAS decided on the old word fail. */
static void slot_free(struct gh_hub_slot *slot, struct gh_kside_hub *hub)
{
	slot->baton = gh_baton_next(slot->baton, GH_BATON_FREE, 0);
	slot->runner_tid = 0;
	slot->return_pending = 0;
	slot->flags = 0;
	slot->tgid = 0;
	slot->spare_tid = 0;
	slot->claim_cookie = 0;
	hub->cookie = 0;
	hub->owner_vtgid = 0;
}

struct release_ctx {
	__u32 tgid;
	__u32 released;
};

/* Slot i back to FREE if the process rc->tgid owns it. A callback of
 * bpf_for_each_map_elem over the hubs map (Linux 5.13), which bounds the scan without bpf_loop
 * (5.17). */
static long release_one(struct bpf_map *map, __u32 *key, struct gh_kside_hub *hub,
			struct release_ctx *rc)
{
	__u32 i = *key;
	struct gh_hub_slot *slot;

	if (hub->owner_tgid != rc->tgid)
		return 0;
	slot = bpf_map_lookup_elem(&slots, &i);
	if (!slot)
		return 0;
	slot_free(slot, hub);
	hub->owner_tgid = 0;
	rc->released++;
	return 0;
}

/* Release every slot the process tgid owns. The owners map spares the scan of every slot for
 * the exits of processes that never bound a carrier: nearly all of them. */
static void release_process(__u32 tgid)
{
	struct release_ctx rc = { .tgid = tgid };
	struct gh_kside_control *c;

	if (!bpf_map_lookup_elem(&owners, &tgid))
		return;
	bpf_for_each_map_elem(&hubs, release_one, &rc, 0);
	bpf_map_delete_elem(&owners, &tgid);
	c = kside_ctl();
	if (c && rc.released)
		__sync_fetch_and_add(&c->nr_exit_cleanups, rc.released);
}

#endif /* GREENHUB_BATON_BPF_H */
