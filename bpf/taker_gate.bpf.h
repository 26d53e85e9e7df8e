/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Trace mode's taker-armed return gate (gate_by_taker, GH_TRACE_GATE_TAKER): the task work of
 * bpf/task_work.bpf.h, armed not by the handoff but by the carrier that takes it. Included by
 * greenhub_trace.bpf.c after trace_grace.bpf.h (resume_gate() is declared before it). The
 * task-work gate's grace timer arms a sleeper's gate the same way before its handoff, and
 * shares the reading of the work's state (timer_gates_and_hands_off(), at the end).
 *
 * Why
 *   A 6.18.x kernel has the task-work kfunc but lets only a sleepable program call it: its
 *   verifier refuses the call from the context-switch program ("sleepable callback in a program
 *   that is not sleepable") and accepts it from a syscall program. Without it the gate would be
 *   greenhub_sys_exit, a program on every system call of the machine: on a 6.18.44 host,
 *   getppid() took 236 ns with it attached against 136 ns without, in every process
 *   (bench/watch-cost). The price: an arming at every takeover (a workload that hands off at
 *   every sleep ran at 0.79x of its rate with the sys_exit gate: bench-short's busy rows;
 *   docs/trace-mode.md, "The gates compared").
 *
 * The protocol (transition numbers as in docs/design.md)
 *   1. A handoff (owner_sleeps(), or the grace timer) moves RUN(t) -> HANDOFF(t) and wakes a
 *      spare, as with the other gates, but arms nothing. The word carries GH_BATON_KERNEL
 *      (greenhub/slot.h), so a taker knows from the word it takes that t's return needs a
 *      gate; the runtime's own handoffs (the sysmon's, of a marked region) do not.
 *   2. A carrier that would take HANDOFF(t) for itself, a spare or a returning carrier in its
 *      signal handler, first runs greenhub_arm_gate with the word it read and takes only if the
 *      program returns 0. For a handoff of the kernel side's the program arms t's task work,
 *      waits until the kernel has added it to t (the work's state has left PENDING and
 *      SCHEDULING), and then requires t to be asleep (not TASK_RUNNING, so inside the kernel:
 *      user mode always runs TASK_RUNNING) in a system call made from a green thread, with the
 *      gate signal deliverable to the runtime's handler: what owner_sleeps() requires of a
 *      handoff. t's return to user mode then runs the gate (resume_gate), before any user
 *      code, and the handler finds t in green code. Any other handoff (the runtime's own, of a
 *      marked region) needs no gate: its carrier's own code takes the hub back (region.c).
 *   3. t switched in, its call about to end: the context-switch program takes HANDOFF(t) of the
 *      kernel side's back if nobody took it (a cancel, transition 3) before t runs. If the
 *      word is another, a taker made it after step 2: t's task work is in place.
 *   The displaced mark and the gauges (the drain's) are accounting here: the gate and step 3
 *   go by the word.
 *   The return gate itself (return_gate()) never takes another carrier's handoff here: it
 *   cannot arm that carrier's gate. It signals, and the handler takes it through step 2.
 *
 * Switch-ins the kernel does not report
 *   A kernel may switch tasks without calling the sched_switch tracepoint (trace_grace.bpf.h,
 *   step 4: the 6.18.44 host leaves out switches away from its init process's worker threads).
 *   Then step 3 does not happen, and t comes back to user mode with its handoff still up (a
 *   stale handoff), or, after a graced sleep, with its grace timer still able to hand it off
 *   while it runs. Neither costs exclusivity: step 2 never lets a taker take while t runs
 *   (TASK_RUNNING), and a taker that finds t asleep in a green thread's call has armed the
 *   gate of t's way back. The runtime takes a stale handoff of its own back at its next move
 *   of the baton (gh__baton_reclaim), and t's next reported switch-in or sleep takes its
 *   displaced mark off (displaced_returns(), owner_sleeps()).
 *
 * Memory ordering
 *   The task work's addition (cmpxchg on t's work list, an atomic set of TIF_NOTIFY_RESUME)
 *   happens before its state becomes SCHEDULED (cmpxchg), which the program reads before it
 *   reads t's state: if that said asleep, t's wakeup, and so its way out, which reads its
 *   flags, come after the flag was set. The taker's CAS is seq_cst. On t's side the switch-in
 *   reads the baton after the taker's CAS could have been made, and t's way out reads its
 *   flags after the switch-in: if step 3 saw the taker's word, t's exit sees the work. If step
 *   3 (or t's gate) took the handoff back first, the taker's CAS fails (the sequence moved).
 *
 * Alternatives rejected
 *   - Arming from a BPF timer or workqueue callback started by the handoff: nothing bounds when
 *     it runs, and t may return first, ungated.
 *   - Taking the hub inside the program: the runtime's takeover does more than the CAS
 *     (runner, counters, the takeover record), and an interrupted half is worse than a retry.
 *   - Knowing the work is in place from t's TIF flags or work list: other subsystems queue
 *     task works too; the work's own state is the only sure sign.
 */
#ifndef GREENHUB_TAKER_GATE_BPF_H
#define GREENHUB_TAKER_GATE_BPF_H

#define EPERM 1
#define ESTALE 116
#define ETIMEDOUT 110
#define ENOMEM 12
#define EOPNOTSUPP 95
#define EAGAIN 11

/* 6.12 and later: the task of a tid in the caller's pid namespace (the baton's tids are the
 * process's own). Weak, like every kfunc here: only this mode's program calls them. */
struct task_struct *bpf_task_from_vpid___gh(s32 vpid) __ksym __weak;
struct task_struct *bpf_task_from_pid___gh(s32 pid) __ksym __weak;
void bpf_task_release___gh(struct task_struct *p) __ksym __weak;

/* The kernel's context of a struct bpf_task_work (kernel/bpf/helpers.c, 6.18), read through
 * CO-RE: a kernel that lacks or renamed it fails the program's load, and the loader then uses
 * the sys_exit gate. */
enum bpf_task_work_state___gh {
	BPF_TW_PENDING___gh = 1,
	BPF_TW_SCHEDULING___gh = 2,
	BPF_TW_SCHEDULED___gh = 3,
};

struct bpf_task_work_ctx___gh {
	enum bpf_task_work_state___gh state;
} __attribute__((preserve_access_index));

/* How long greenhub_arm_gate waits for the kernel to add the task work. It is added from an
 * irq_work that the kfunc raises on the program's own CPU, taken as soon as interrupts allow,
 * which they do in a syscall program: far less than this. */
#define TAKER_ARM_WAIT_NS (10 * 1000 * 1000ULL)

struct arm_wait {
	struct bpf_task_work_ctx___gh *tw;
	__u64 until;
	int state;
};

/* Is a task work in this state still on its way to its task (PENDING, SCHEDULING), not yet
 * added by the kernel? */
static __always_inline bool gate_work_adding(int state)
{
	return state == bpf_core_enum_value(enum bpf_task_work_state___gh, BPF_TW_PENDING___gh) ||
	       state == bpf_core_enum_value(enum bpf_task_work_state___gh, BPF_TW_SCHEDULING___gh);
}

/* The kernel's context of the gate in map gates under key (a carrier's global tid), or NULL. */
static struct bpf_task_work_ctx___gh *gate_work(__u32 key)
{
	struct bpf_task_work_ctx___gh *tw = NULL;
	struct gh_gate *g = bpf_map_lookup_elem(&gates, &key);

	if (!g || bpf_probe_read_kernel(&tw, sizeof(tw), &g->tw))
		return NULL;
	return tw;
}

static long arm_wait_round(__u64 i, struct arm_wait *w)
{
	struct bpf_task_work_ctx___gh *tw = w->tw; /* CO-RE reads tw's field, not w's */

	w->state = BPF_CORE_READ(tw, state);
	if (!gate_work_adding(w->state))
		return 1;
	return bpf_ktime_get_ns() > w->until;
}

/* Arm t's gate and wait until the kernel has added its task work (step 2): 0, or -errno. */
static int arm_and_wait(struct gh_trace_control *c, struct task_struct *t)
{
	struct arm_wait w = {};

	/* -EBUSY (a work armed earlier in the same call, still pending) will do as well. */
	if (!gh_arm_gate(&gates, t, resume_gate))
		return -ENOMEM;
	counter_inc(&c->nr_taker_arms);
	w.tw = gate_work(t->pid);
	if (!w.tw)
		return -ENOMEM;
	w.until = bpf_ktime_get_ns() + TAKER_ARM_WAIT_NS;
	bpf_loop(1 << 20, arm_wait_round, &w, 0);
	/* SCHEDULED or RUNNING: in place. STANDBY: the kernel would not add it (t is exiting)
	 * or it already ran (t passed its gate, which found t's state as it was then: a taker's
	 * CAS from a word that t's return took back fails). FREED: t's entry went with t. */
	if (gate_work_adding(w.state)) {
		counter_inc(&c->nr_taker_arms_late);
		return -ETIMEDOUT;
	}
	return 0;
}

/* May a taker take t's handoff, once t's gate is in place (step 2)? Only while t sleeps where
 * owner_sleeps() would hand it off (not_gateable()). */
static bool taker_may_take(struct task_struct *t, struct gh_trace_carrier *tst)
{
	long nr;

	return t->__state != 0 /* TASK_RUNNING */ && not_gateable(t, tst, &nr) == GH_BLOCK_HANDED_OFF;
}

/*
 * Step 2, from the thread about to take arm->baton, HANDOFF(t). Acts only on the caller's own
 * hub (its registration, held by its process) and on t only as a thread of the caller's own
 * process: a runtime holding this program's descriptor can arm no other process's gates.
 */
SEC("syscall")
int greenhub_arm_gate(struct gh_trace_arm *arm)
{
	struct task_struct *p = bpf_get_current_task_btf(), *t;
	struct gh_trace_control *c = ctl();
	struct gh_trace_carrier *st, *tst;
	struct gh_hub_slot *slot;
	__u64 b = arm->baton;
	__u32 holder;
	int err = 0;

	if (!gate_by_taker || !c)
		return -EOPNOTSUPP;
	st = bpf_task_storage_get(&carriers, p, 0, 0);
	if (!st || !owned_hub(p, st, &slot))
		return -EPERM;
	if (slot->baton != b || gh_baton_state(b) != GH_BATON_HANDOFF)
		return -ESTALE;
	holder = gh_baton_tid(b);
	/* Its own handoff, taken back from user mode; or the runtime's own (a marked region's,
	 * whose carrier takes the hub back in its own code): nothing to gate. */
	if (holder == st->kside.tid || !(b & GH_BATON_KERNEL))
		return 0;
	t = bpf_task_from_vpid___gh(holder);
	if (!t)
		return 0; /* gone: it will not return */
	/* Another process's thread took the tid: the holder is gone as well. */
	if (t->tgid != p->tgid)
		goto out;
	tst = bpf_task_storage_get(&carriers, t, 0, 0);
	if (!tst)
		goto out; /* no carrier any more */
	err = arm_and_wait(c, t);
	if (!err && !taker_may_take(t, tst)) {
		counter_inc(&c->nr_taker_waits);
		err = -EAGAIN;
	}
out:
	bpf_task_release___gh(t);
	return err;
}

/* Step 3: next is switched in: take back its handoff of the kernel side's if nobody took it.
 * A mark without such a handoff, on a carrier that holds its hub, is stale (its handoff was
 * taken back in user mode, gh__baton_reclaim): take it off. */
static void displaced_returns(struct gh_trace_control *c, struct task_struct *next)
{
	struct gh_trace_carrier *st = bpf_task_storage_get(&carriers, next, 0, 0);
	struct gh_hub_slot *slot;
	struct gh_trace_hub *hub;
	__u32 tid;
	__u64 b;

	/* Only a marked carrier: the handoffs of the kernel side mark theirs, the grace timer's
	 * a moment after its CAS (a switch-in in between leaves a stale handoff, see above). The
	 * context switch of every other thread pays one storage lookup. */
	if (!st || !st->kside.displaced)
		return;
	hub = owned_hub(next, st, &slot);
	if (!hub) {
		/* The slot was released (its process is dying): nothing to gate. */
		unmark_displaced(c, NULL, st);
		return;
	}
	tid = st->kside.tid;
	b = slot->baton;
	if (gh_baton_state(b) == GH_BATON_HANDOFF && gh_baton_tid(b) == tid &&
	    (b & GH_BATON_KERNEL)) {
		if (!baton_cas(slot, b, GH_BATON_RUN, tid))
			return; /* taken: its taker armed the gate */
		unmark_displaced(c, hub, st);
		handoff_taken(&c->kside, slot, tid, tid);
		counter_inc(&c->nr_switch_cancels);
		handoff_bought_nothing(hub);
		return;
	}
	if (gh_baton_tid(b) == tid && gh_baton_state(b) != GH_BATON_FREE)
		unmark_displaced(c, hub, st);
}

/* The task-work gate's grace timer looks again at a sleeper after GATE_ADDING_RETRY_NS once it
 * armed the gate (the kernel was still adding it, or the sleeper woke meanwhile), and after
 * SLEEPER_AWAKE_RETRY_NS if the sleeper was awake in the call it slept in before anything was
 * armed, or the gate could not be armed (a woken sleeper's switch-in seals the word, and the
 * next look finds it moved). */
#define GATE_ADDING_RETRY_NS (20 * 1000ULL)
#define SLEEPER_AWAKE_RETRY_NS (1000 * 1000ULL)

static __always_inline bool gate_work_scheduled(struct bpf_task_work_ctx___gh *tw)
{
	return tw && BPF_CORE_READ(tw, state) ==
		     bpf_core_enum_value(enum bpf_task_work_state___gh, BPF_TW_SCHEDULED___gh);
}

/* Is sleeper t still asleep in its graced call? */
static __always_inline bool asleep_in_graced_call(struct task_struct *t,
						  struct gh_trace_carrier *st)
{
	return t->__state != 0 /* TASK_RUNNING */ && in_graced_call(t, st);
}

/*
 * The task-work gate's grace timer, once hub's sleep with the word b outlasted its period
 * (trace_grace.bpf.h, steps 2 and 4): hand the sleeper t off only with its gate in place, and
 * only while t sleeps in its graced call; else look again a little later, or not at all once t
 * is in another call. In order:
 *   1. t is asleep in that call (else nothing is armed);
 *   2. the gate is armed, with b noted for it (timer_gate_baton), and the kernel has added its
 *      task work: the state reads SCHEDULED, so t's next exit to user mode runs it;
 *   3. t is still asleep in that call; 4. the work still reads SCHEDULED.
 * 2-4 bracket a kernel stay of t's: the work was added before 3 and not run by 4, so t did not
 * leave the kernel in between, and the stay seen in 3 (a green thread's call) ends with the
 * gate. Then t is marked displaced and the CAS is made (grace_hand_off()). If t leaves the
 * kernel first, its gate seals b (resume_gate), and the CAS fails; if the CAS comes first, the
 * gate finds t marked. No wait here: a timer callback must not spin, and the kernel adds the
 * work from an irq_work raised on this CPU, which need not run before the callback returns.
 */
static __always_inline void timer_gates_and_hands_off(struct gh_trace_control *c,
						      struct grace_timer *gt, __u32 h,
						      struct gh_hub_slot *slot,
						      struct gh_trace_hub *hub, __u64 b)
{
	struct task_struct *t = bpf_task_from_pid___gh(hub->sleeper_pid);
	__u64 retry = SLEEPER_AWAKE_RETRY_NS;
	struct bpf_task_work_ctx___gh *tw;
	struct gh_trace_carrier *st;

	/* The pid is b's sleeper's, or a later sleeper's whose word has replaced b (start_grace()
	 * publishes the word last): then the CAS below fails. So no task, or a task that is not
	 * b's carrier, means that b's sleeper exited, and will not return. */
	if (!t) {
		grace_hand_off(c, h, slot, hub, b, NULL);
		return;
	}
	st = bpf_task_storage_get(&carriers, t, 0, 0);
	if (!st || st->kside.tid != gh_baton_tid(b)) {
		bpf_task_release___gh(t);
		grace_hand_off(c, h, slot, hub, b, NULL);
		return;
	}
	/* t left the call it slept in (its switch-in went unreported): the sleep is over, and its
	 * next reported switch-in or return settles it. Another graced sleep starts the timer. */
	if (!in_graced_call(t, st)) {
		counter_inc(&c->nr_graced_over);
		bpf_task_release___gh(t);
		return;
	}
	if (t->__state == 0 /* TASK_RUNNING: woken, its switch-in seals b */)
		goto later;
	/* A full barrier (xchg) between noting b and the reads below. */
	__sync_lock_test_and_set(&st->timer_gate_baton, b);
	/* -EBUSY (armed at an earlier look, or by an earlier handoff in this call) will do. */
	if (!gh_arm_gate(&gates, t, resume_gate)) {
		counter_inc(&c->kside.nr_gate_failures);
		goto later;
	}
	counter_inc(&c->nr_timer_gate_arms);
	retry = GATE_ADDING_RETRY_NS;
	tw = gate_work(t->pid);
	if (!gate_work_scheduled(tw) || !asleep_in_graced_call(t, st) || !gate_work_scheduled(tw))
		goto later;
	grace_hand_off(c, h, slot, hub, b, st);
	bpf_task_release___gh(t);
	return;
later:
	counter_inc(&c->nr_timer_gate_waits);
	bpf_task_release___gh(t);
	arm_grace_timer(gt, h, bpf_ktime_get_ns() + retry);
}

/* The grace timer of hub handed its sleeper tid off (trace_grace.bpf.h, step 2): mark it
 * displaced, through its global pid (hub->sleeper_pid, published with sleeper_tid). The
 * switch-in cannot infer it, as it does with the other gates: after a switch-in that the
 * kernel did not report, the sleeper's own moves of the word look the same. The mark is
 * accounting (and the block record's) only: the gate and step 3 go by the word. */
static void timer_marks_sleeper(struct gh_trace_control *c, struct gh_trace_hub *hub, __u32 tid,
				__u64 now)
{
	struct task_struct *t = bpf_task_from_pid___gh(hub->sleeper_pid);
	struct gh_trace_carrier *st = NULL;

	if (t) {
		st = bpf_task_storage_get(&carriers, t, 0, 0);
		if (st && st->kside.tid == tid) {
			mark_displaced(c, hub, st);
			st->kside.handoff_ns = now; /* its block record says handed off */
		} else {
			st = NULL;
		}
		bpf_task_release___gh(t);
	}
	/* Gone, or the hub's sleep was already another's: give the handoff's add back. */
	if (!st)
		displaced_add(&c->kside, &hub->kside, -1);
}

#endif /* GREENHUB_TAKER_GATE_BPF_H */
