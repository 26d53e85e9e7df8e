// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The baton protocol, the runtime's side (docs/design.md, the baton protocol): every step that
 * changes a hub's baton word, each by name. sched.c runs the hub while its carrier holds the
 * baton; spare.c keeps the carriers that wait to take it.
 *
 * Glossary
 *   carrier    an OS thread that may run the hub. The owner holds the baton; spares are
 *              parked; a blocked carrier sits in a call that may block; a displaced carrier
 *              lost the baton while blocked and still holds, on its stack, the green thread
 *              that made the call.
 *   baton      the right to run the hub's green code: the word slot->baton, RUN(t), IDLE(t),
 *              HANDOFF(t) or FREE, changed only by compare-and-swap.
 *   runner     slot->runner_tid, the carrier last made the runner. Checked at every switch
 *              point (gh__check_runner): the exclusivity checker of invariant I1.
 *   wait, park a green thread waits (gh__wait, sched.c) until it is woken; a carrier with
 *              nothing to run parks, as a spare (spare.c), until a handoff needs it.
 *
 * The design
 *   Only the owner touches the hub's green-thread state, so none of it needs locks; the baton
 *   CAS is the lock. The transitions, where each is made here, and by whom:
 *
 *   1. block          RUN(t), t blocks -> HANDOFF(t); a spare is woken. The kernel side, or in
 *                     mode none the sysmon for a marked region: gh__baton_hand_off.
 *   2. takeover       HANDOFF(t) -> RUN(s); t is displaced. A woken or parking spare:
 *                     gh__baton_take_over; a returning carrier: take_over_on_return. Where
 *                     the kernel side gates t's return only once a taker asks (trace mode's
 *                     taker-armed gate), both ask first (take_gated).
 *   3. cancel         HANDOFF(t), t returns -> RUN(t); the spare finds nothing. t itself:
 *                     cancel_handoff, from gh__carrier_reacquire.
 *   4. hold, hand back  RUN(s), t returns: t queues on hub->returned, bumps return_pending and
 *                     waits (hold_for_hand_back); s, at its next switch point, RUN(s) -> RUN(t),
 *                     wakes t and parks (gh__baton_hand_back). If s blocks first and nobody
 *                     takes its handoff, t does (transition 2): it looks at the baton again
 *                     every millisecond while it waits.
 *   5. idle return    IDLE(s), t returns -> RUN(t). t itself (take_idle_hub) kicks s out of its
 *                     poll, and s's own IDLE(s) -> RUN(s) (gh__baton_leave_idle) then fails.
 *   6. no spare       no spare parked: the baton stays HANDOFF(t); the sysmon starts a spare, up
 *                     to opts.max_spares (sysmon.c), and a carrier about to park takes a HANDOFF
 *                     it finds (gh__baton_take_over, from spare.c).
 *
 *   Around them: the first carrier of a run starts as RUN(itself) (gh__baton_first_owner); an
 *   owner with nothing to run sleeps in its poll as IDLE (gh__baton_go_idle), a chosen sleep
 *   that is no block; the last owner frees the baton (gh__baton_free). In mode none,
 *   gh_blocking_begin() and gh_blocking_end() (region.c) set and clear the region flag on RUN(t)
 *   that the sysmon looks for.
 *
 * Alternatives rejected
 *   - A mutex around the hub: a carrier blocked while holding it could never be replaced.
 *   - Locks on the owner's paths (the returned queue, remote completions): under kernel
 *     assist an owner that sleeps on a contended lock is handed off like any other sleep, and
 *     if it then held a lock its successor needs to hand back, nobody could hand back. The
 *     owner's paths (the hub loop, switch points, hand-backs) are therefore lock-free, and
 *     carrier_lock (spare.c) is never held while waiting for the baton.
 *   - Waking the returning carrier with a signal in mode none: the return path runs in the
 *     carrier's own code (gh_blocking_end) and can simply wait on its futex word.
 *
 * Memory ordering
 *   - Every baton CAS made here, whether it gives the hub up (RUN -> IDLE, RUN -> RUN(other),
 *     RUN -> HANDOFF, RUN -> FREE) or takes it (HANDOFF -> RUN, IDLE -> RUN), is sequentially
 *     consistent, and so a release and an acquire: all hub state written by one owner
 *     happens-before anything the next owner reads. These paths are not hot enough for weaker
 *     orders to matter. The region flag's CASes (region.c) are on the hot path and use the
 *     weakest that do: release to set it (the sysmon may hand the hub off from then on),
 *     acquire to clear it when nobody moved the baton.
 *   - The returned-carrier handshake is a Dekker pair: the returner pushes itself, bumps
 *     return_pending and then reads the baton, all seq_cst; the owner going idle CASes
 *     RUN -> IDLE (seq_cst) and then reads return_pending, with gh__return_pending's relaxed
 *     load. At least one must see the other: either the returner finds IDLE and takes it, or
 *     the owner finds the pending return and hands back instead of sleeping. A returner is never
 *     left waiting on an idle hub (I4). The owner's side relies on its load not being performed
 *     before its CAS: a locked CAS is a full barrier on x86-64; the C11 model alone promises it
 *     only for a seq_cst load.
 *   - Parking: a spare publishes itself on hub->parked under carrier_lock, then re-reads the
 *     baton; the sysmon sets HANDOFF and then takes carrier_lock to pop a spare. Either the
 *     sysmon finds the spare or the spare finds the HANDOFF.
 */
#include "backend.h"
#include "internal.h"
#include "switch_point.h"

static bool baton_cas(struct gh_hub *hub, __u64 old, __u64 new)
{
	return __atomic_compare_exchange_n(&hub->slot->baton, &old, new, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

static void set_runner(struct gh_hub *hub, pid_t tid)
{
	__atomic_store_n(&hub->slot->runner_tid, (__u32)tid, __ATOMIC_SEQ_CST);
}

/* The slot's counters are statistics (gh_hub_stats): relaxed. */
static void counter_add(__u64 *counter, __u64 n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

void gh__runner_violated(struct gh_hub *hub, struct gh__carrier *c)
{
	__u32 runner = __atomic_load_n(&hub->slot->runner_tid, __ATOMIC_RELAXED);

	gh__panic("exclusivity violated: carrier %d runs green thread '%s' (id %llu) of hub %p, "
		  "but carrier %u is the hub's runner (baton %#llx)",
		  (int)c->tid, c->green ? c->green->name : "?",
		  c->green ? (unsigned long long)c->green->id : 0ull, (void *)hub, runner,
		  (unsigned long long)gh__baton_load(hub));
}

/* Account for a handoff that just ended (takeover or cancel). */
static void handoff_ended(struct gh_hub *hub)
{
	__u64 since = __atomic_load_n(&hub->slot->handoff_ns, __ATOMIC_RELAXED);
	uint64_t now = gh_now();

	if (since && now > since)
		counter_add(&hub->slot->stalled_ns, now - since);
}

/* Account for a takeover, whoever made it: the carrier that blocked is displaced. */
static void takeover_counted(struct gh_hub *hub, __u32 displaced)
{
	counter_add(&hub->slot->nr_takeovers, 1);
	__atomic_store_n(&hub->slot->displaced_tid, displaced, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------------------------------- */
/* The run's first and last steps                                                             */

void gh__baton_first_owner(struct gh_hub *hub, struct gh__carrier *c)
{
	hub->slot->baton = gh_baton_next(hub->slot->baton, GH_BATON_RUN, (__u32)c->tid);
	hub->slot->runner_tid = (__u32)c->tid;
}

void gh__baton_free(struct gh_hub *hub, struct gh__carrier *last)
{
	__u64 b;

	/* RUN(last) -> FREE: the hub has nothing to run any more, and a kernel side that sees
	 * last's thread end (a spare's, right after this) must find no baton of it to hand on.
	 * A retry, not one CAS: trace mode's return gate may seal RUN(last) with a new sequence
	 * on any return of last's to user mode, an interrupt's included. */
	if (!last)
		return;
	do {
		b = gh__baton_load(hub);
		if (!gh__baton_is(b, GH_BATON_RUN, last->tid))
			return;
	} while (!baton_cas(hub, b, gh_baton_next(b, GH_BATON_FREE, 0)));
}

void gh__baton_clear(struct gh_hub *hub)
{
	hub->slot->baton = gh_baton_next(hub->slot->baton, GH_BATON_FREE, 0);
	hub->slot->runner_tid = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Transition 1, block (mode none), and transition 2, takeover                                */

/* Transition 3, cancel: c took its own HANDOFF(c) back (the CAS is the caller's). */
static void cancel_handoff(struct gh_hub *hub)
{
	handoff_ended(hub);
	counter_add(&hub->slot->nr_cancels, 1);
}

/* Transition 3 made by the owner in its own code, for a stale handoff: with trace mode's
 * taker-armed gate the kernel side takes back a handoff that nobody took at the owner's
 * switch-in, which a kernel need not report (bpf/taker_gate.bpf.h). Then the owner c runs on
 * with HANDOFF(c), which no taker takes while c runs, and takes it back at its next move of the
 * baton (going idle, a hand-back, a marked region's start), here. */
void gh__baton_reclaim(struct gh_hub *hub, struct gh__carrier *c, __u64 b)
{
	if (baton_cas(hub, b, gh_baton_next(b, GH_BATON_RUN, (__u32)c->tid)))
		cancel_handoff(hub);
}

bool gh__baton_hand_off(struct gh_hub *hub, __u64 b, uint64_t now)
{
	if (!baton_cas(hub, b, gh_baton_next(b, GH_BATON_HANDOFF, gh_baton_tid(b))))
		return false;
	__atomic_store_n(&hub->slot->handoff_ns, now, __ATOMIC_RELAXED);
	counter_add(&hub->slot->nr_handoffs, 1);
	return true;
}

/* May c take b, another carrier's HANDOFF, now? Not before the kernel side has gated that
 * carrier's return, where it asks to be told (the taker-armed gate, struct gh__backend). */
static bool take_gated(struct gh_hub *hub, struct gh__carrier *c, __u64 b)
{
	if (!hub->backend->take_gate || gh_baton_tid(b) == (__u32)c->tid)
		return true;
	return hub->backend->take_gate(hub, b) == 0;
}

bool gh__baton_take_over(struct gh_hub *hub, struct gh__carrier *c, __u64 b)
{
	if (!take_gated(hub, c, b) ||
	    !baton_cas(hub, b, gh_baton_next(b, GH_BATON_RUN, (__u32)c->tid)))
		return false;
	set_runner(hub, c->tid);
	handoff_ended(hub);
	takeover_counted(hub, gh_baton_tid(b));
	hub->handoff_taker = c->tid;
	hub->handoff_from = (pid_t)gh_baton_tid(b);
	hub->handoff_switches = gh__switches_read(hub);
	return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Carriers that wait for a hand-back (transition 4)                                          */

static void returned_push(struct gh_hub *hub, struct gh__carrier *c)
{
	struct gh__carrier *head = atomic_load(&hub->returned);

	do {
		c->returned_next = head;
	} while (!atomic_compare_exchange_weak(&hub->returned, &head, c));
}

/* Baton holder only: move the lock-free stack, oldest first, onto the FIFO. */
static void returned_collect(struct gh_hub *hub)
{
	struct gh__carrier *c = atomic_exchange(&hub->returned, NULL), *rev = NULL;

	while (c) {
		struct gh__carrier *next = c->returned_next;

		c->returned_next = rev;
		rev = c;
		c = next;
	}
	while (rev) {
		struct gh__carrier *next = rev->returned_next;

		rev->returned_next = NULL;
		if (hub->returned_fifo_tail)
			hub->returned_fifo_tail->returned_next = rev;
		else
			hub->returned_fifo = rev;
		hub->returned_fifo_tail = rev;
		rev = next;
	}
}

/* Baton holder only: take c off the returned queue (c took the baton itself). */
static void returned_remove(struct gh_hub *hub, struct gh__carrier *c)
{
	struct gh__carrier **p, *prev = NULL;

	returned_collect(hub);
	for (p = &hub->returned_fifo; *p; prev = *p, p = &(*p)->returned_next) {
		if (*p != c)
			continue;
		*p = c->returned_next;
		if (hub->returned_fifo_tail == c)
			hub->returned_fifo_tail = prev;
		c->returned_next = NULL;
		__atomic_fetch_sub(&hub->slot->return_pending, 1, __ATOMIC_SEQ_CST);
		return;
	}
	gh__panic("carrier %d took the baton but is not on the returned queue", (int)c->tid);
}

/* Transition 4, the returner's half: queue c for the hand-back, count it pending. */
static void hold_for_hand_back(struct gh_hub *hub, struct gh__carrier *c)
{
	atomic_store(&c->wake_word, 0);
	returned_push(hub, c);
	__atomic_fetch_add(&hub->slot->return_pending, 1, __ATOMIC_SEQ_CST);
	counter_add(&hub->slot->nr_holds, 1);
}

/*
 * Transition 4, the owner's half. False if there is nobody to hand back to yet (return_pending
 * is bumped just after the push, so a count may be seen before its carrier is visible; the
 * next switch point looks again).
 */
bool gh__baton_hand_back(struct gh_hub *hub, struct gh__carrier *c)
{
	struct gh__carrier *r;
	pid_t tid;
	__u64 b;

	returned_collect(hub);
	r = hub->returned_fifo;
	if (r) {
		hub->returned_fifo = r->returned_next;
		if (!hub->returned_fifo)
			hub->returned_fifo_tail = NULL;
		r->returned_next = NULL;
		tid = r->tid;
	} else if (!hub->backend->held_next || !(tid = hub->backend->held_next(hub))) {
		return false;
	}
	__atomic_fetch_sub(&hub->slot->return_pending, 1, __ATOMIC_SEQ_CST);

	/* RUN(c) changes only while c sleeps, and comes back as RUN(c) (see gh__baton_go_idle):
	 * retry. The receiver is made the runner just before each CAS that may name it: it can
	 * see RUN(tid) and go on at once (a returned carrier re-reads the baton before it
	 * sleeps), and its first check must find itself. c runs no green code in between. */
	do {
		set_runner(hub, tid);
		b = gh__baton_load(hub);
		if (gh__baton_stale(hub, c, b)) {
			gh__baton_reclaim(hub, c, b);
			b = gh__baton_load(hub);
		}
		if (!gh__baton_is(b, GH_BATON_RUN, c->tid))
			gh__panic("hand-back by carrier %d found baton %#llx", (int)c->tid,
				  (unsigned long long)b);
	} while (!baton_cas(hub, b, gh_baton_next(b, GH_BATON_RUN, (__u32)tid)));
	GH__PROBE_HAND_BACK(hub->slot_index, tid);
	counter_add(&hub->slot->nr_handbacks, 1);
	if (r)
		gh__carrier_wake(r);
	else
		hub->backend->held_release(hub, tid);
	return true;
}

/* ---------------------------------------------------------------------------------------- */
/* A blocked carrier's return (transitions 2 to 5)                                            */

/* Transition 2 by a returning carrier: it took the HANDOFF(holder) of another blocked one. */
static void take_over_on_return(struct gh_hub *hub, pid_t holder)
{
	handoff_ended(hub);
	takeover_counted(hub, (__u32)holder);
}

/* Transition 5, idle return: the idle carrier's own CAS will fail once it leaves its poll;
 * make it leave now. */
static void take_idle_hub(struct gh_hub *hub, pid_t idle)
{
	counter_add(&hub->slot->nr_idle_returns, 1);
	gh__carrier_kick(idle);
}

/* c has the hub again and goes on with its green thread: the recorder's resume probe. */
static void resumed(struct gh_hub *hub, struct gh__carrier *c)
{
	GH__PROBE_RESUME(hub->slot_index, c->green ? c->green->id : 0);
	(void)hub;
	(void)c;
}

/* How often a carrier that waits for a hand-back looks at the baton by itself. */
#define RETURN_RECHECK_NS (1000u * 1000u)

void gh__carrier_reacquire(struct gh_hub *hub, struct gh__carrier *c)
{
	bool queued = false;

	for (;;) {
		__u64 b = gh__baton_load(hub);
		enum gh_baton_state st = gh_baton_state(b);
		pid_t holder = (pid_t)gh_baton_tid(b);

		if (st == GH_BATON_RUN && holder == c->tid) {
			/* Handed back (transition 4); the owner made us the runner. */
			if (gh_baton_in_region(b))
				gh__panic("carrier %d re-acquiring inside its own region", (int)c->tid);
			resumed(hub, c);
			return;
		}
		if (st == GH_BATON_HANDOFF || st == GH_BATON_IDLE) {
			if ((st == GH_BATON_HANDOFF && !take_gated(hub, c, b)) ||
			    !baton_cas(hub, b, gh_baton_next(b, GH_BATON_RUN, (__u32)c->tid)))
				continue;
			set_runner(hub, c->tid);
			if (st == GH_BATON_HANDOFF && holder == c->tid)
				cancel_handoff(hub);
			else if (st == GH_BATON_HANDOFF)
				take_over_on_return(hub, holder);
			else
				take_idle_hub(hub, holder);
			if (queued)
				returned_remove(hub, c);
			resumed(hub, c);
			return;
		}
		if (st != GH_BATON_RUN)
			gh__panic("carrier %d returned to a hub with baton %#llx", (int)c->tid,
				  (unsigned long long)b);
		/* Transition 4: RUN(other). Queue, then look at the baton once more before
		 * sleeping (the Dekker pair with an owner going idle). */
		if (!queued) {
			hold_for_hand_back(hub, c);
			queued = true;
			continue;
		}
		/* Not for ever: the owner may block before its next switch point, and then
		 * nobody may take its handoff (every spare blocked too, or none allowed). It
		 * may even block on what this carrier holds (a lock of green code's, the
		 * allocator's taken across a handed-off call). Then the hub is free, and is
		 * ours: look again every RETURN_RECHECK_NS. */
		(void)gh__carrier_sleep_for(c, RETURN_RECHECK_NS);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* The owner's idle poll (transition 5, the idle carrier's half)                              */

__u64 gh__baton_go_idle(struct gh_hub *hub, struct gh__carrier *c)
{
	__u64 b, idle_word;

	/* RUN(c) changes only while c sleeps, and then comes back as RUN(c) before c runs on
	 * (sched_ext mode hands off a page fault and cancels the handoff at its return, with a
	 * new sequence): so CAS, and retry. */
	do {
		b = gh__baton_load(hub);
		if (gh__baton_stale(hub, c, b)) {
			gh__baton_reclaim(hub, c, b);
			b = gh__baton_load(hub);
		}
		if (!gh__baton_is(b, GH_BATON_RUN, c->tid))
			gh__panic("carrier %d going idle without the baton (%#llx)", (int)c->tid,
				  (unsigned long long)b);
		idle_word = gh_baton_next(b, GH_BATON_IDLE, (__u32)c->tid);
	} while (!baton_cas(hub, b, idle_word));
	return idle_word;
}

bool gh__baton_leave_idle(struct gh_hub *hub, struct gh__carrier *c, __u64 idle_word)
{
	return baton_cas(hub, idle_word, gh_baton_next(idle_word, GH_BATON_RUN, (__u32)c->tid));
}
