/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sched_ext mode's heartbeat: a BPF timer (heartbeat_ns) that keeps the watchdog from ejecting
 * the scheduler over tasks it holds on purpose. A held spare that has waited spare_beat_ns is
 * let run once (it yields straight back); a held carrier that has waited hold_max_ns for its
 * hand-back (an owner running that long without a switch point) is let go to its gate, whose
 * signal makes the runtime wait on a futex, which no watchdog watches. The beat also releases a
 * held carrier whose hand-back a race hid from greenhub_dispatch, and is where the test knob
 * (gh_scx_control.test_eject) ejects the scheduler on purpose.
 *
 * The grace-period and heartbeat code are headers, included
 * by greenhub_scx.bpf.c at the point where what they use is defined, rather than objects linked
 * with `bpftool gen object`: their timer callbacks are set up by greenhub_init and run the
 * scheduler's own static helpers (hand_off(), carrier_storage(), the baton moves) on pointers
 * the verifier must keep tracking (map values, tasks acquired with bpf_task_from_pid()).
 * Across objects those helpers would have to become global functions, which the verifier checks
 * on their own from their BTF signatures alone, so such pointers could not be passed to them;
 * and the struct_ops map, the global maps and the rodata knobs would need extern declarations
 * in every object. One translation unit keeps the verifier's view as it was.
 *
 * Include from greenhub_scx.bpf.c only, after held_runs(); greenhub_init starts the timer.
 */
#ifndef GREENHUB_SCX_HEARTBEAT_BPF_H
#define GREENHUB_SCX_HEARTBEAT_BPF_H

struct heartbeat {
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct heartbeat);
} heartbeat SEC(".maps");

struct beat {
	u64 now;
	bool draining;
};

/* Let held spares that waited long run once (or all of them while draining). */
static void beat_spares(u32 h, struct gh_scx_control *c, struct beat *bt)
{
	struct gh_scx_carrier *sst;
	struct task_struct *p;
	s32 cpu;

	bpf_for_each(scx_dsq, p, SPARE_DSQ(h), 0) {
		sst = carrier_storage(p);
		if (!bt->draining && sst && bt->now - sst->since_ns < spare_beat_ns)
			continue;
		cpu = scx_bpf_task_cpu(p);
		if (sst)
			sst->spare_held = 0;
		if (!gh_scx_dsq_move(GH_SCX_DSQ_ITER, p, SCX_DSQ_LOCAL_ON | cpu, 0))
			continue;
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		counter_inc(&c->nr_heartbeats);
	}
}

/* Release held carriers whose hand-back happened; let go those held too long. */
static void beat_held(u32 h, struct gh_scx_control *c, struct gh_hub_slot *slot,
		      struct gh_scx_hub *hub, struct beat *bt)
{
	struct gh_scx_carrier *pst;
	struct task_struct *p;
	bool back, late;
	s32 cpu;
	u64 b;

	bpf_for_each(scx_dsq, p, HELD_DSQ(h), 0) {
		pst = carrier_storage(p);
		if (!pst)
			continue;
		b = slot->baton;
		back = gh_baton_state(b) == GH_BATON_RUN && gh_baton_tid(b) == pst->kside.tid;
		late = bt->now - pst->since_ns >= hold_max_ns || exiting(p);
		if (!back && !late)
			continue;
		cpu = scx_bpf_task_cpu(p);
		/* Nothing of p's is written after the move: p may run (and be handed off
		 * again) at once; held_runs() and the gate settle it in its own context. */
		if (!gh_scx_dsq_move(GH_SCX_DSQ_ITER, p, SCX_DSQ_LOCAL_ON | cpu, 0))
			continue;
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		if (back) {
			counter_inc(&c->nr_releases);
		} else {
			/* Still held and displaced: its gate sends it GATE_HELD. */
			counter_inc(&c->nr_long_holds);
			counter_inc(&hub->nr_long_holds);
		}
	}
}

/* One hub's beat. Most hubs hold nobody: two DSQ counts and nothing else, since the beat runs
 * in a timer's softirq on whatever CPU it fires and delays what that CPU was about to run. */
static long beat_hub(u32 i, struct beat *bt)
{
	struct gh_scx_control *c;
	struct gh_hub_slot *slot;
	struct gh_scx_hub *hub;
	bool spares = scx_bpf_dsq_nr_queued(SPARE_DSQ(i)) > 0;
	bool held = scx_bpf_dsq_nr_queued(HELD_DSQ(i)) > 0;

	if (!spares && !held)
		return 0;
	c = ctl();
	slot = bpf_map_lookup_elem(&slots, &i);
	hub = bpf_map_lookup_elem(&hubs, &i);
	if (!c || !slot || !hub)
		return 1;
	if (spares)
		beat_spares(i, c, bt);
	if (held)
		beat_held(i, c, slot, hub, bt);
	return 0;
}

static int heartbeat_fn(void *map, int *key, struct heartbeat *hb)
{
	struct gh_scx_control *c = ctl();
	struct beat bt = {};

	if (!c)
		return 0;
	if (c->test_eject) {
		c->test_eject = 0;
		gh_scx_error("ejected on request (test knob %s/control test_eject)",
			     GH_SCX_PIN_DIR);
	}
	bt.now = bpf_ktime_get_ns();
	bt.draining = c->kside.state != GH_SCX_RUNNING;
	bpf_loop(GH_MAX_HUBS, beat_hub, &bt, 0);
	bpf_timer_start(&hb->timer, heartbeat_ns, 0);
	return 0;
}

#endif /* GREENHUB_SCX_HEARTBEAT_BPF_H */
