/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sched_ext mode's grace period (docs/sched-ext.md, "Short blocks and the grace period"): an
 * owner's sleep may be left to the hub's grace timer instead of handed off at once; the timer
 * hands the owner off only if it still sleeps when the grace period is over, and the owner's
 * wake seals the baton with a CAS so that a late timer's CAS fails. The adaptive policy (the
 * default) waits only while most of the hub's recent handoffs were wasted.
 *
 * The grace-period and heartbeat code are headers, included by greenhub_scx.bpf.c at the
 * point where what they use is defined, rather than objects linked with `bpftool gen object`: their timer callbacks are set up by greenhub_init and run the
 * scheduler's own static helpers (hand_off(), carrier_storage(), the baton moves) on pointers
 * the verifier must keep tracking (map values, tasks acquired with bpf_task_from_pid()).
 * Across objects those helpers would have to become global functions, which the verifier checks
 * on their own from their BTF signatures alone, so such pointers could not be passed to them;
 * and the struct_ops map, the global maps and the rodata knobs would need extern declarations
 * in every object. One translation unit keeps the verifier's view as it was.
 *
 * Include from greenhub_scx.bpf.c only, after hand_off() and before owner_sleeps(); it uses the
 * maps slots and hubs, the hub timer types (struct hub_timer, struct hub_timer_map), the knobs
 * grace_policy and grace_ns, and the scheduler's helpers.
 */
#ifndef GREENHUB_SCX_GRACE_BPF_H
#define GREENHUB_SCX_GRACE_BPF_H

#include "grace_timer.bpf.h"

/* Each hub's grace timer: it hands the sleeping owner off once the grace period is over,
 * unless the sleep ended meanwhile. Initialised by greenhub_init, whose program the
 * callback then belongs to: the kernel lets ops.init, not ops.quiescent, move tasks between
 * DSQs. */
struct hub_timer_map hub_timers SEC(".maps");

/* The grace period of hub's next sleep (0: hand it off at once), as the runtime chose it in
 * the slot (at most a second) or else as loaded. */
static u32 hub_grace(struct gh_hub_slot *slot, struct gh_scx_hub *hub)
{
	u32 policy, g = slot_grace(slot, grace_policy, grace_ns, &policy);

	switch (policy) {
	case GH_SCX_GRACE_ALWAYS:
		return g;
	case GH_SCX_GRACE_ADAPTIVE:
		return hub->waste > GH_SCX_WASTE_ONE / 2 ? g : 0;
	default:
		return 0;
	}
}

/*
 * The adaptive grace policy's measure: one more outcome of an owner's sleep. Wasted: the
 * owner's own return cancelled its handoff (no spare took the hub in time: the handoff cost
 * two context switches and bought nothing), the return found the hub idle with nothing run
 * since the handoff (the spare that took it went idle at once), or the sleep ended within its
 * grace period (it would have been). Paid: the return found that another carrier had taken
 * the hub, and used it.
 *   Judged by outcome, not by how long sleeps last, because a sleep's length can depend on
 * the handoff itself: a read that waits for what another green thread of the hub writes
 * lasts until a spare runs that thread, so it is never cancelled, whether it was handed
 * off at once or after a grace period; the measure then stays low and handoffs stay
 * immediate. Sleeps shorter than a handoff are cancelled (or graced) and keep it high.
 *   A racy read-modify-write on purpose: an estimate, written by the hub's own carriers.
 */
static void grace_outcome(struct gh_scx_hub *hub, bool wasted)
{
	u32 w = hub->waste;

	if (wasted)
		w += (GH_SCX_WASTE_ONE - w) >> 3;
	else
		w -= w >> 3;
	hub->waste = w;
}

/* From the grace timer: the CPU the owner left goes to a held spare (a parked one cannot be
 * signalled from here: the interrupted task may be the idle task). */
static void give_cpu_late(u32 h, struct gh_hub_slot *slot, struct gh_scx_hub *hub, s32 cpu)
{
	struct gh_scx_control *c = ctl();
	struct gh_scx_carrier *sst;
	struct task_struct *p;

	if (!c)
		return;
	bpf_for_each(scx_dsq, p, SPARE_DSQ(h), 0) {
		if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			continue;
		/* Before the move: p may run on cpu as soon as it is there. */
		sst = carrier_storage(p);
		if (sst) {
			sst->spare_held = 0;
			sst->woken = 1;
			sst->woken_ns = slot->handoff_ns;
		}
		if (!gh_scx_dsq_move(GH_SCX_DSQ_ITER, p, SCX_DSQ_LOCAL_ON | cpu, 0)) {
			if (sst)
				sst->woken = 0;
			continue;
		}
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		counter_inc(&c->nr_spare_runs);
		counter_inc(&hub->nr_spare_runs);
		return;
	}
	spare_missed(&c->kside, &hub->kside);
}

/* Start (or move) hub h's grace timer to fire at due (ktime ns); false if it could not be. */
static bool arm_grace_timer(struct hub_timer *ht, u32 h, u64 due)
{
	ht->hub = h;
	return grace_timer_arm(&ht->timer, &ht->armed, &ht->due_ns, due);
}

/* Make hub h's grace timer fire by due (grace_timer_by()), armed as read. */
static bool grace_timer_by_hub(struct hub_timer *ht, u32 h, u32 armed, u64 due)
{
	ht->hub = h;
	return grace_timer_by(&ht->timer, &ht->armed, &ht->due_ns, armed, due);
}

/*
 * The hub's grace timer fired: hand the sleeping owner off if its grace period is over, or
 * start the timer again for what is left of it (grace_timer.bpf.h; see start_grace() for
 * why a start costs so much here).
 */
static int grace_fn(void *map, int *key, struct hub_timer *ht)
{
	struct gh_scx_control *c = ctl();
	struct gh_scx_carrier *st;
	struct gh_hub_slot *slot;
	struct gh_scx_hub *hub;
	struct task_struct *t;
	u32 h = ht->hub;
	u64 b, now, due;

	/* Cleared before the sleep is read: the other half of start_grace()'s pairing. */
	__sync_lock_test_and_set(&ht->armed, 0);
	slot = bpf_map_lookup_elem(&slots, &h);
	hub = bpf_map_lookup_elem(&hubs, &h);
	if (!c || !slot || !hub || !hub->sleeper_tid)
		return 0;
	/* The owner's wake seals the word with a CAS (greenhub_runnable), so an unchanged word
	 * means it still sleeps, and the CAS in hand_off() cannot succeed once it woke. */
	b = slot->baton;
	if (b != hub->sleep_baton)
		return 0;
	now = bpf_ktime_get_ns();
	due = hub->sleep_ns + hub->sleep_grace;
	if ((s64)(due - now) > 0) {
		/* From a timer callback the kernel starts the timer at once (no deferral). */
		arm_grace_timer(ht, h, due);
		return 0;
	}
	t = bpf_task_from_pid((s32)hub->sleeper_pid);
	if (!t)
		return 0;
	st = carrier_storage(t);
	if (st && st->kside.hub == h && st->kside.cookie == hub->kside.cookie &&
	    st->kside.tid == hub->sleeper_tid && !st->kside.displaced &&
	    hand_off(t, st, slot, hub, b)) {
		counter_inc(&c->nr_late_handoffs);
		hub->handoff_cpu = hub->sleeper_cpu;
		give_cpu_late(h, slot, hub, (s32)hub->sleeper_cpu);
	}
	bpf_task_release(t);
	return 0;
}

/*
 * Start the grace period of owner p's sleep; false if the timer is not available.
 *
 * The sleep is published first, then armed is read (grace_timer.bpf.h's pairing). Starting it
 * here is the slow way on kernels 7.0 and later: ops.quiescent runs with
 * interrupts off, where bpf_timer_start() only queues the start for an irq_work. So
 * greenhub_presleep starts it earlier, on the way into schedule(), where the start is direct.
 */
static bool start_grace(struct task_struct *p, struct gh_scx_carrier *st, struct gh_scx_hub *hub,
			u64 b, s32 cpu, u32 grace)
{
	u32 h = st->kside.hub, armed;
	struct hub_timer *ht = bpf_map_lookup_elem(&hub_timers, &h);
	u64 now, since;

	if (!ht || !ht->inited)
		return false;
	hub->sleeper_pid = p->pid;
	hub->sleeper_cpu = cpu;
	hub->sleep_baton = b;
	/* The grace period counts from the entry into schedule() where the head start saw it,
	 * so that the timer it started finds the period over when it fires. */
	now = bpf_ktime_get_ns();
	since = st->presleep_ns;
	st->presleep_ns = 0;
	hub->sleep_ns = since && now - since < grace ? since : now;
	hub->sleep_grace = grace;
	hub->sleeper_tid = st->kside.tid;
	/* A locked add of 0: the full barrier between publishing and reading. */
	armed = __sync_fetch_and_add(&ht->armed, 0);
	if (grace_timer_by_hub(ht, h, armed, hub->sleep_ns + grace))
		return true;
	hub->sleeper_tid = 0;
	return false;
}

/*
 * On the way into schedule(): if current is an owner about to sleep with a grace period,
 * start its hub's grace timer now, where interrupts are on and the kernel starts it at once,
 * so that ops.quiescent finds it started (start_grace()). Only a head start: whether the
 * sleep is graced, and whether it is handed off, is still decided by ops.quiescent and by
 * the timer's callback, so a schedule() that does not sleep after all costs one early firing.
 */
SEC("fentry/schedule")
int BPF_PROG(greenhub_presleep)
{
	struct task_struct *p = bpf_get_current_task_btf();
	struct gh_scx_carrier *st;
	struct gh_hub_slot *slot;
	struct gh_scx_hub *hub;
	struct hub_timer *ht;
	u32 h, grace;

	if (!p->__state)
		return 0;
	st = owned_carrier(p, &slot, &hub);
	if (!st)
		return 0;
	if (!owns_running(st, slot->baton) || !in_green_thread(&st->kside))
		return 0;
	grace = hub_grace(slot, hub);
	h = st->kside.hub;
	ht = bpf_map_lookup_elem(&hub_timers, &h);
	if (!grace || !ht || !ht->inited)
		return 0;
	st->presleep_ns = bpf_ktime_get_ns();
	grace_timer_by_hub(ht, h, ht->armed, st->presleep_ns + grace);
	return 0;
}

/*
 * An owner wakes from a sleep whose grace period may still run: seal the baton with a CAS
 * (RUN(t) -> RUN(t), a new sequence), so that the grace timer's handoff, which CASes from the
 * word t slept with, fails. If the timer won, t is displaced now and its return is settled as
 * any other. Called from ops.runnable, which every enqueue calls: the kernel skips ops.enqueue
 * on some paths (a task waking with migration disabled, for one), and a wake that went unseen
 * would let the timer hand off a running owner.
 */
static void end_grace(struct gh_scx_carrier *st, struct gh_hub_slot *slot,
		      struct gh_scx_hub *hub)
{
	struct gh_scx_control *c = ctl();
	u64 b;

	if (hub->sleeper_tid != st->kside.tid)
		return;
	hub->sleeper_tid = 0;
	for (int i = 0; i < 4; i++) {
		b = slot->baton;
		if (gh_baton_state(b) != GH_BATON_RUN || gh_baton_tid(b) != st->kside.tid)
			return;
		if (baton_cas(slot, b, GH_BATON_RUN, st->kside.tid)) {
			if (c)
				counter_inc(&c->nr_graced);
			__sync_fetch_and_add(&hub->nr_graced, 1);
			grace_outcome(hub, true);
			return;
		}
	}
}

#endif /* GREENHUB_SCX_GRACE_BPF_H */
