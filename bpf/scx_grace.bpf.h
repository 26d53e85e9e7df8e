/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sched_ext mode's grace period (docs/sched-ext.md, "Short blocks and the grace period"): an
 * owner's sleep may start a per-hub timer instead of a handoff; the timer hands the owner off
 * only if it still sleeps when the grace period is over, and the owner's wake seals the baton
 * with a CAS so that a late timer's CAS fails. The adaptive policy (the default) waits only
 * while most of the hub's recent handoffs were wasted.
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

/* Each hub's grace timer: it hands the sleeping owner off once the grace period is over,
 * unless the sleep (sleep_seq) ended meanwhile. Initialised by greenhub_init, whose program the
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
 * two context switches and bought nothing), or the sleep ended within its grace period (it
 * would have been). Paid: the return found that another carrier had taken the hub.
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

/* The grace period of a sleeping owner is over: hand it off if it still sleeps. */
static int grace_fn(void *map, int *key, struct hub_timer *ht)
{
	struct gh_scx_control *c = ctl();
	struct gh_scx_carrier *st;
	struct gh_hub_slot *slot;
	struct gh_scx_hub *hub;
	struct task_struct *t;
	u32 h = ht->hub;
	u64 b;

	slot = bpf_map_lookup_elem(&slots, &h);
	hub = bpf_map_lookup_elem(&hubs, &h);
	if (!c || !slot || !hub || ht->seq != hub->sleep_seq || !hub->sleeper_tid)
		return 0;
	/* The owner's wake seals the word with a CAS (greenhub_runnable), so an unchanged word
	 * means it still sleeps, and the CAS in hand_off() cannot succeed once it woke. */
	b = slot->baton;
	if (b != hub->sleep_baton)
		return 0;
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

/* Start the grace period of owner p's sleep; false if the timer is not available. */
static bool start_grace(struct task_struct *p, struct gh_scx_carrier *st, struct gh_scx_hub *hub,
			u64 b, s32 cpu, u32 grace)
{
	u32 h = st->kside.hub;
	struct hub_timer *ht = bpf_map_lookup_elem(&hub_timers, &h);

	if (!ht || !ht->inited)
		return false;
	hub->sleeper_tid = st->kside.tid;
	hub->sleeper_pid = p->pid;
	hub->sleeper_cpu = cpu;
	hub->sleep_baton = b;
	ht->hub = h;
	ht->seq = __sync_add_and_fetch(&hub->sleep_seq, 1);
	return bpf_timer_start(&ht->timer, grace, 0) == 0;
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
	__sync_fetch_and_add(&hub->sleep_seq, 1);
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
