/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Trace mode's grace period (docs/trace-mode.md, "Short blocks and the grace period"): an
 * owner's sleep may start its hub's grace timer instead of a handoff. The timer hands the owner
 * off only if it still sleeps when the period is over; the owner's switch-in (or else its
 * return gate) settles the sleep first, so that a sleep shorter than the period ends on its own
 * carrier with no handoff at all. Needs BPF timers in tp_btf programs (5.15): the loader's
 * load of these programs is what proves a kernel has them.
 *
 * The protocol, and why at most one carrier ever runs the hub (I1)
 *   1. The owner t switches out asleep with the baton word w = RUN(t) (no region flag), and
 *      would be handed off (greenhub_trace.bpf.c's owner_sleeps() checked everything but the
 *      drain). Instead t is marked graced with w (its registration), the control's
 *      nr_grace_pending goes up, the sleep is published in the hub (w and when its period ends),
 *      and the hub's timer is made to fire by then: started for this sleep, or, where the
 *      loader chose to keep it per period, started unless it already is started to fire no
 *      later (start_grace()).
 *   2. The timer fires: if the hub's sleep still has the word w and its period is over, it
 *      adds to nr_displaced (the drain's Dekker pair, as a handoff from sched_switch does), and
 *      CASes w -> HANDOFF(t): the handoff, then a spare is woken. If the period is not over
 *      (the timer was started for an earlier sleep), it starts itself again for the rest.
 *   3. t is switched in (greenhub_sched_switch, next == t): it CASes w -> RUN(t) with a new
 *      sequence (the seal). If the seal succeeds, the timer's CAS from w can no longer
 *      succeed, and t runs on. If it fails, the word moved, and
 *      while t slept in RUN(t) outside a region only the timer moves it (the runtime's own
 *      moves of RUN(t) are made by t itself, the sysmon's only on a region, and a release of
 *      the slot only once every thread of the process has exited, t included): t was handed
 *      off, so it is marked displaced here (by the timer itself with the taker-armed and
 *      task-work gates), before it can leave the kernel, and its return goes through the gate
 *      like any other handoff's. With the task-work gate, the gate is armed again here, on
 *      the CPU t runs on, before t can leave the kernel (task_work.bpf.h).
 *   Both moves are CASes from the same word, so exactly one succeeds, however close the
 *   timer's expiry and the wake.
 *   4. The net: the seal must come before t runs any user code, and the switch-in alone does
 *      not promise that: a kernel may switch tasks without calling the sched_switch
 *      tracepoint. The 6.18.44 host's kernel never calls it when the task switched out is one
 *      of its init process's worker threads (ftrace's sched_switch event saw none of 14 such
 *      switch-outs that the threads' own counts showed), so when such a thread takes the CPU
 *      from a graced carrier's wake, the carrier's switch-in goes unseen: about one graced sleep
 *      in 23,000 under bench-short's workload (docs/trace-mode.md).
 *      So the return gate settles a graced carrier too, before the return to user mode: the
 *      sys_exit gate looks at every system-call exit while nr_grace_pending is above 0. A
 *      timer that fires in the window before that sees the unsealed word and hands off; the
 *      gate then finds t displaced and holds it, as after any handoff.
 *      The task-work gate is not armed at a graced sleep: an irq_work and a task work at every
 *      short sleep cost the hub more than the timer's start. The timer arms it instead, for a
 *      sleep that outlasted its period, and hands t off only once the kernel has added the
 *      work and t still sleeps in the call it slept in (its number and user stack and
 *      instruction pointers, noted at the sleep): read again around that look, so t has not
 *      left the kernel since, and its way out runs the gate (timer_gates_and_hands_off()). The
 *      gate seals the word the timer armed it against, whatever t returns from, so a CAS
 *      after t's return fails; the timer marks t before its CAS, so a gate whose seal fails
 *      finds the mark. A switch-in in another call (t ran user code after an unseen
 *      switch-in) finds the sleep over, and neither seals nor infers a handoff from the word,
 *      which t's own code may have moved; the timer, finding t in another call, lets the
 *      sleep be. A return that finds the sleep still graced seals the word whatever call it
 *      ends (a return's saved registers hold the call's result, not the -ENOSYS that tells a
 *      system call's entry, so its kind cannot be told for sure there).
 *
 * The adaptive policy (the default) grants a grace period while most of the hub's recent
 * sleeps would have ended on their own (waste above half): the sleeps that ended within their
 * grace period, the immediate handoffs that the owner's own return cancelled, and those whose
 * owner returned to find the hub idle with nothing run since (the slot's idle_unused_tid names
 * it), move the measure up; a sleep that outlasted its grace period moves it down
 * (grace_outcome()), and so does a graced sleep that held the hub's ready green threads up for
 * longer than a handoff takes (held_up()): without that, a hub that had learned to wait kept
 * waiting however many threads were ready, since every sleep then ends within its grace
 * period. Other immediate handoffs that a spare took tell nothing about whether the sleep
 * would have ended on its own (a read that only a spare can satisfy looks the same as a 40 us
 * nanosleep), so while the hub hands off at once, one sleep in GH_TRACE_GRACE_PROBE is granted
 * a grace period as a probe, if one of the hub's handoffs was cancelled or bought nothing
 * since the last probe. A hub whose sleeps all wait for its own green threads (never
 * cancelled) never pays a grace period; a hub of short sleeps starts waiting after a few
 * cancels or probes.
 *
 * Include from greenhub_trace.bpf.c only, after wake_spare() and before owner_sleeps(); it uses
 * the maps control (whose grace_policy and grace_ns the loader sets), slots, hubs, carriers,
 * gates and gate_backups, the knobs gate_task_work and gate_by_taker, and the file's
 * kernel_hand_off(), mark_displaced(), unmark_displaced() and timer_marks_sleeper().
 */
#ifndef GREENHUB_TRACE_GRACE_BPF_H
#define GREENHUB_TRACE_GRACE_BPF_H

#include "grace_timer.bpf.h"

#define CLOCK_MONOTONIC 1

/* Each hub's grace timer. armed: started and its callback not yet run; due_ns: when it was
 * started to fire (ktime ns). */
struct grace_timer {
	struct bpf_timer timer;
	__u32 hub;
	__u32 armed;
	__u64 due_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GH_MAX_HUBS);
	__type(key, __u32);
	__type(value, struct grace_timer);
} grace_timers SEC(".maps");

/* The grace period of hub's next sleep (0: hand it off at once), as the runtime chose it in
 * the slot or else as loaded. probe: the adaptive policy grants it only to learn. */
static __u32 hub_grace(struct gh_trace_control *c, struct gh_hub_slot *slot,
		       struct gh_trace_hub *hub, bool *probe)
{
	__u32 policy, g = slot_grace(slot, c->grace_policy, c->grace_ns, &policy);

	*probe = false;
	switch (policy) {
	case GH_SCX_GRACE_ALWAYS:
		return g;
	case GH_SCX_GRACE_ADAPTIVE:
		if (hub->waste > GH_SCX_WASTE_ONE / 2)
			return g;
		/* A probe only once a sleep ended on its own since the last: a hub whose sleeps
		 * all wait for its own green threads never pays one. */
		if (++hub->since_probe < GH_TRACE_GRACE_PROBE || !hub->cancels_seen)
			return 0;
		hub->since_probe = 0;
		hub->cancels_seen = 0;
		*probe = true;
		return g;
	default:
		return 0;
	}
}

/* What one sleep (or handoff) taught the adaptive measure. */
enum grace_lesson {
	GRACE_PAID, /* it ended on its own, or its handoff was cancelled or bought nothing */
	GRACE_COST, /* it outlasted its grace period, or, graced, it held ready threads up */
};

/* One more lesson for the adaptive measure (a racy read-modify-write on purpose: an estimate,
 * written by the hub's own carriers and timer). Waiting that paid moves it 1/8 of the way up,
 * waiting that cost 1/32 of the way down. On a busy machine a hiccup stretches a burst of
 * consecutive short sleeps, past the grace period or past what a handoff takes (held_up()),
 * and a symmetric step let each burst switch the hub to immediate handoffs until cancels
 * switched it back: in the 7.3.4 VM under TCG, a step of 1/8 for sleeps that held others up
 * sent 5 runs of 26 to handing off thousands of bench-short's 10 us sleeps (docs/trace-mode.md).
 * A hub whose sleeps turn long for good, or mostly hold others up, hands off at once again
 * after about 22 of them. */
static void grace_outcome(struct gh_trace_hub *hub, enum grace_lesson lesson)
{
	__u32 w = hub->waste;

	if (lesson == GRACE_PAID)
		w += (GH_SCX_WASTE_ONE - w) >> 3;
	else
		w -= w >> 5;
	hub->waste = w;
}

/* An immediate handoff that waiting would have served as well: the owner's own return
 * cancelled it, or found the hub idle with nothing run since. It teaches what a graced sleep
 * that ended on its own does, and allows the next probe (hub_grace()). */
static void handoff_bought_nothing(struct gh_trace_hub *hub)
{
	grace_outcome(hub, GRACE_PAID);
	hub->cancels_seen = 1;
}

/* A graced sleep of st's that ended on its own: did waiting hold up the hub's ready green
 * threads for longer than a handoff would have taken to run them? */
static __always_inline bool held_up(struct gh_trace_hub *hub, struct gh_trace_carrier *st)
{
	__u64 handoff = GH_TRACE_HELD_UP_WAKES * hub->wake_avg_ns;

	if (!st->grace_ready)
		return false;
	if (handoff < GH_TRACE_HELD_UP_MIN_NS)
		handoff = GH_TRACE_HELD_UP_MIN_NS;
	return bpf_ktime_get_ns() - st->grace_start_ns > handoff;
}

/* With the task-work gate: note the system call in which carrier p (current) starts a graced
 * sleep, as its entry saved it (step 4). */
static __always_inline void note_graced_call(struct task_struct *p, struct gh_trace_carrier *st)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);

	st->grace_nr = regs ? (long)regs->orig_ax : -1;
	st->grace_sp = regs ? regs->sp : 0;
	st->grace_ip = regs ? regs->ip : 0;
}

/* Carrier p's saved user registers if their call number is the one its graced sleep was noted
 * in, else NULL. */
static __always_inline struct pt_regs *graced_call_regs(struct task_struct *p,
							struct gh_trace_carrier *st)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);

	return regs && st->grace_nr >= 0 && (long)regs->orig_ax == st->grace_nr ? regs : NULL;
}

/* Is carrier p (any task) in the call its graced sleep was noted in, or in one made from the
 * same place with the same stack? Either is a green thread's call, whose return the gate
 * serves. A kernel stay cannot change the saved registers before its exit to user mode. */
static __always_inline bool in_graced_call(struct task_struct *p, struct gh_trace_carrier *st)
{
	struct pt_regs *regs = graced_call_regs(p, st);

	return regs && regs->sp == st->grace_sp && regs->ip == st->grace_ip;
}

/* Is carrier p (current), on its way back to user mode, returning from the call its graced
 * sleep was noted in? Only its number is left to tell: the call's result has replaced the
 * entry's -ENOSYS in the saved registers by then, and a handler frame set up just before may
 * have moved the stack and instruction pointers. An interrupt's or fault's number may match by
 * chance; the answer only sorts the sleep's outcome, not whether the word is sealed. */
static __always_inline bool returns_from_graced_call(struct task_struct *p,
						     struct gh_trace_carrier *st)
{
	return graced_call_regs(p, st) != NULL;
}

/* Start (or move) hub h's grace timer to fire at due (ktime ns); false if it could not be. */
static bool arm_grace_timer(struct grace_timer *gt, __u32 h, __u64 due)
{
	gt->hub = h;
	return grace_timer_arm(&gt->timer, &gt->armed, &gt->due_ns, due);
}

/*
 * The grace period of hub h's sleep with the word b is over (step 2): hand its owner off, if
 * the word is still b. The owner is the word's own tid, never read apart from it. sleeper: with
 * the task-work gate, the owner's registration once its gate is in place (NULL: the owner is
 * gone), marked displaced before the CAS (step 4).
 */
static __always_inline void grace_hand_off(struct gh_trace_control *c, __u32 h,
					   struct gh_hub_slot *slot, struct gh_trace_hub *hub,
					   __u64 b, struct gh_trace_carrier *sleeper)
{
	__u64 now;

	/* Announce, then look at the loader's state (the drain's Dekker pair). The count is the
	 * sleeper's from here: its mark (by the switch-in with the sys_exit gate, by the timer
	 * with the others) takes it over if the CAS below succeeds. */
	displaced_add(&c->kside, &hub->kside, 1);
	if (c->kside.state != GH_TRACE_RUNNING) {
		displaced_add(&c->kside, &hub->kside, -1);
		return;
	}
	if (sleeper)
		mark_displaced(c, hub, sleeper);
	if (!kernel_hand_off(slot, b, gh_baton_tid(b))) {
		/* The sleeper's gate may have taken the mark off already, and the count with it. */
		if (sleeper)
			unmark_displaced(c, hub, sleeper);
		else
			displaced_add(&c->kside, &hub->kside, -1);
		return;
	}
	now = bpf_ktime_get_ns();
	slot->handoff_ns = now;
	if (gate_by_taker)
		timer_marks_sleeper(c, hub, gh_baton_tid(b), now);
	else if (sleeper)
		sleeper->kside.handoff_ns = now; /* its block record says handed off */
	else if (gate_task_work)
		displaced_add(&c->kside, &hub->kside, -1); /* gone: no mark will take the count */
	__sync_fetch_and_add(&slot->nr_handoffs, 1);
	counter_inc(&c->kside.nr_handoffs);
	counter_inc(&c->nr_late_handoffs);
	__sync_fetch_and_add(&hub->nr_late_handoffs, 1);
	grace_outcome(hub, GRACE_COST);
	wake_spare(c, h, slot, hub, now);
}

/*
 * The hub's grace timer fired (step 2): hand the sleeping owner off if its grace period is
 * over, or start the timer again for what is left of it (grace_timer.bpf.h).
 */
static int grace_fn(void *map, __u32 *key, struct grace_timer *gt)
{
	struct gh_trace_control *c = ctl();
	struct gh_hub_slot *slot;
	struct gh_trace_hub *hub;
	__u32 h = gt->hub;
	__u64 b, now, due;

	/* Cleared before the sleep is read: the other half of start_grace()'s pairing. */
	__sync_lock_test_and_set(&gt->armed, 0);
	slot = bpf_map_lookup_elem(&slots, &h);
	hub = bpf_map_lookup_elem(&hubs, &h);
	if (!c || !slot || !hub || !hub->sleeper_tid)
		return 0;
	/* The owner's switch-in seals the word (step 3): an unchanged word means it still
	 * sleeps, and once it changed the handoff's CAS cannot succeed. Read with a full barrier
	 * (a locked add of 0) before the sleep's due time and sleeper: start_grace() publishes it
	 * last. */
	b = __sync_fetch_and_add(&hub->sleep_baton, 0);
	if (slot->baton != b)
		return 0;
	now = bpf_ktime_get_ns();
	due = hub->sleep_due_ns;
	if ((__s64)(due - now) > 0) {
		arm_grace_timer(gt, h, due);
		return 0;
	}
	if (gate_task_work)
		timer_gates_and_hands_off(c, gt, h, slot, hub, b);
	else
		grace_hand_off(c, h, slot, hub, b, NULL);
	return 0;
}

/* A carrier joined hub h: make sure the hub's timer is set up. Done here, in the request's
 * program (process context), rather than at the first sleep: setting a timer up allocates,
 * which the scheduler's context should not. -EBUSY: it already was. */
static void grace_timer_setup(__u32 h)
{
	struct grace_timer *gt = bpf_map_lookup_elem(&grace_timers, &h);

	if (!gt)
		return;
	gt->hub = h;
	if (bpf_timer_init(&gt->timer, &grace_timers, CLOCK_MONOTONIC) == 0)
		bpf_timer_set_callback(&gt->timer, grace_fn);
}

/*
 * Step 1: start the grace period of owner p's sleep with the word b; false if the hub has no
 * timer (then the sleep is handed off at once). The sleep is published, then the timer is made
 * to fire by the end of its period, the way the loader chose (c->grace_timer, enum
 * gh_trace_grace_timer):
 *   - per sleep: started for this sleep's period. Whatever sleep it was started for before has
 *     ended (a hub has one owner, and it sleeps again), and the callback serves only the sleep
 *     the hub has when it fires, so moving it later leaves no sleep without a firing. The timer
 *     then never comes near while the hub's sleeps are short: on the 6.18 host (a PVM guest),
 *     a CPU whose next timer was a few hundred microseconds off lost about 20 us at many of
 *     its switches to idle, and the short blocks ran at 0.925x of mode none with a timer
 *     that fired once per period, 0.986x with one started at every sleep (docs/trace-mode.md).
 *   - per period: armed is read after the sleep is published (grace_timer.bpf.h's pairing):
 *     a timer started for an earlier sleep of the hub fires before this one's period ends,
 *     so this sleep needs no start of its own. For kernels that defer a start made here to an
 *     irq_work (7.x): one start per period, not per sleep.
 */
static bool start_grace(struct task_struct *p, struct gh_trace_carrier *st,
			struct gh_trace_hub *hub, __u64 b, __u32 grace)
{
	__u32 h = st->kside.hub, armed;
	struct grace_timer *gt = bpf_map_lookup_elem(&grace_timers, &h);
	struct gh_trace_control *c = ctl();
	struct gh_hub_slot *slot;
	__u64 due;

	if (!gt || !c)
		return false;
	/* Before the timer can fire, and before the sleeper can be switched in: the switch that
	 * sends it to sleep is still in progress. Counted pending once per carrier: one whose
	 * switch-in went unseen (step 4) may sleep again, with the same unsealed word, before its
	 * return settles it once; a second count would never be taken back, and the sys_exit
	 * program would look at every system call of the machine from then on. */
	if (!st->graced)
		__sync_fetch_and_add(&c->nr_grace_pending, 1);
	st->graced = 1;
	st->grace_baton = b;
	/* Are other green threads of the hub ready? The hub's run queue count (a count that
	 * cannot be read counts as none). */
	st->grace_ready = carrier_word(st->kside.ready_addr) != 0;
	st->grace_start_ns = bpf_ktime_get_ns();
	if (gate_task_work)
		note_graced_call(p, st);
	due = st->grace_start_ns + grace;
	/* The word last, after a full barrier: a timer that reads it (grace_fn()) then reads this
	 * sleep's sleeper and due time, or a later sleep's, whose word has replaced this one in
	 * the slot by then, so that a CAS from this word fails. Published the other way round,
	 * a timer could read a new owner's word with the last owner's pid, take the new owner
	 * for an exited thread and hand it off with no gate (taker_gate.bpf.h). */
	hub->sleeper_tid = st->kside.tid;
	hub->sleeper_pid = p->pid;
	hub->sleep_due_ns = due;
	__atomic_exchange_n(&hub->sleep_baton, b, __ATOMIC_SEQ_CST);
	gt->hub = h;
	if (c->grace_timer == GH_TRACE_TIMER_PER_SLEEP) {
		if (grace_timer_arm_from(&gt->timer, &gt->armed, &gt->due_ns, due,
					 st->grace_start_ns))
			return true;
	} else {
		/* A locked add of 0: the full barrier between publishing and reading. */
		armed = __sync_fetch_and_add(&gt->armed, 0);
		if (grace_timer_by(&gt->timer, &gt->armed, &gt->due_ns, armed, due))
			return true;
	}
	/* The timer did not start (one never set up; on 7.x a start from here allocates). Its
	 * callback may be running on another CPU all the same, and may have read this sleep
	 * already, so the sleep cannot be taken back: it stays graced and its period ends now,
	 * with the callback's own CAS. Whichever of the two makes it hands the owner off, and
	 * the owner's switch-in finds its seal failed (step 3). */
	counter_inc(&c->nr_grace_start_failures);
	slot = bpf_map_lookup_elem(&slots, &h);
	if (!slot)
		return true;
	/* With the task-work gate, p's gate is armed here, as for a handoff at once: p is still
	 * being switched out. If it cannot be, the sleep stays graced with no timer of its own,
	 * and is not handed off unless a callback that already read it arms the gate itself. */
	if (gate_task_work && !gh_arm_gate(&gates, p, resume_gate)) {
		counter_inc(&c->kside.nr_gate_failures);
		return true;
	}
	grace_hand_off(c, h, slot, hub, b, gate_task_work ? st : NULL);
	return true;
}

/* Step 3: graced carrier p is switched in (at_switch), or else is on its way back to user mode
 * (the return gate's program, the net: step 4). Always inline: the verifier refuses a call chain
 * of 8 frames, and as a function of its own (clang's choice once it grows) this one made the
 * context-switch program's deepest chain that long. */
static __always_inline void graced_runs(struct gh_trace_control *c, struct task_struct *p,
			struct gh_trace_carrier *st, bool at_switch)
{
	struct gh_hub_slot *slot;
	struct gh_trace_hub *hub;
	__u64 b = st->grace_baton;
	bool armed, over;

	/* With the task-work gate only the graced call's own switch-in, or its return, settles
	 * the sleep; anything else finds it over (step 4). */
	over = gate_task_work &&
	       !(at_switch ? in_graced_call(p, st) : returns_from_graced_call(p, st));
	if (!at_switch && !over)
		counter_inc(&c->nr_graced_at_return);
	st->graced = 0;
	__sync_fetch_and_add(&c->nr_grace_pending, -1);
	hub = owned_hub(p, st, &slot);
	if (!hub)
		return; /* the slot was released: nothing runs it any more */
	if (hub->sleeper_tid == st->kside.tid)
		hub->sleeper_tid = 0;
	/* A switch-in in another call leaves the word: p leaves the kernel through its gate, if
	 * the timer armed one, or else the timer finds p out of the call it slept in and hands
	 * nothing off. A return seals it all the same, if it is still the sleep's: p is about to
	 * run user code, and a timer that read the sleep earlier may be about to CAS from it
	 * (step 4); only the sleep's outcome goes uncounted. */
	if (over)
		counter_inc(&c->nr_graced_over);
	if (over && at_switch)
		return;
	if (baton_cas(slot, b, GH_BATON_RUN, st->kside.tid)) {
		if (over)
			return;
		counter_inc(&c->nr_graced);
		__sync_fetch_and_add(&hub->nr_graced, 1);
		if (held_up(hub, st)) {
			/* Waiting cost the hub's other green threads more than a handoff. */
			counter_inc(&c->nr_graced_held_up);
			grace_outcome(hub, GRACE_COST);
		} else {
			grace_outcome(hub, GRACE_PAID);
		}
		return;
	}
	/* The timer handed p off (see the header): displaced from its handoff on, and gated. The
	 * timers of the taker-armed and task-work gates mark p themselves: after a switch-in
	 * that the kernel did not report, p's own moves of the word would look like a handoff
	 * here. */
	if (gate_by_taker)
		return;
	if (!gate_task_work) {
		mark_displaced(c, hub, st);
		st->kside.handoff_ns = slot->handoff_ns;
		return; /* greenhub_sys_exit gates it */
	}
	/* On the return path the caller's gate runs next. */
	if (!at_switch)
		return;
	/* Either arming will do: each is on this CPU, before p can leave the kernel. */
	armed = gh_arm_gate(&gates, p, resume_gate);
	armed |= gh_arm_gate(&gate_backups, p, resume_gate);
	if (armed)
		return;
	/* No gate: p must not return while another carrier may run the hub. Take the handoff
	 * back if no spare took it yet (a cancel, as the gate would make it). */
	counter_inc(&c->kside.nr_gate_failures);
	b = slot->baton;
	if (gh_baton_state(b) == GH_BATON_HANDOFF && gh_baton_tid(b) == st->kside.tid &&
	    baton_cas(slot, b, GH_BATON_RUN, st->kside.tid)) {
		unmark_displaced(c, hub, st);
		handoff_taken(&c->kside, slot, st->kside.tid, st->kside.tid);
	}
}

/* next is being switched in: if its sleep started a grace period, settle it. */
static void grace_switch_in(struct gh_trace_control *c, struct task_struct *next)
{
	struct gh_trace_carrier *st;

	if (next->flags & PF_KTHREAD)
		return;
	st = bpf_task_storage_get(&carriers, next, 0, 0);
	if (st && st->graced)
		graced_runs(c, next, st, true);
}

#endif /* GREENHUB_TRACE_GRACE_BPF_H */
