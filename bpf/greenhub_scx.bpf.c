// SPDX-License-Identifier: GPL-2.0-only
/*
 * greenhub's sched_ext scheduler: the kernel side of the baton protocol (docs/design.md, the
 * baton protocol and the three modes) for threads that set policy SCHED_EXT; every other thread
 * stays on the fair class (SCX_OPS_SWITCH_PARTIAL). docs/sched-ext.md has the measurements
 * behind the choices below.
 *
 * Glossary
 *   carrier    a thread that registered itself in the carriers task storage, from its own
 *              context, for a hub its process holds (a JOIN request: requests.bpf.h).
 *   owner      the carrier named by RUN(t) in its hub's baton word (slot.h).
 *   spare      a carrier waiting for a handoff: held (runnable in its hub's spare DSQ, after a
 *              sched_yield()) or parked (asleep on its futex, named in the slot's spare_tid).
 *   displaced  a carrier this file handed off: it slept while RUN, and its return must not run
 *              user code until it owns the hub again.
 *   held       a displaced carrier that woke while another carrier owns the hub: kept in its
 *              hub's held DSQ, undispatched, and on the hub's held ring (slot.h) until the owner
 *              hands the baton back to it (RUN(s) -> RUN(t)).
 *   gate       a task work armed on each handoff (bpf_task_work_schedule_resume): a callback
 *              that runs in the displaced carrier's own context on its next return to user
 *              mode, before any user code, whatever the carrier slept in (a system call or a
 *              page fault). While this scheduler runs it finds the carrier's return settled and
 *              does nothing; see "Ejection" for when it matters.
 *
 * The design
 *   greenhub_quiescent, on an owner t that goes to sleep (SCX_DEQ_SLEEP) while RUN(t): arm t's
 *   gate, CAS RUN(t) -> HANDOFF(t) (transition 1) and give the CPU t just left to a spare: a
 *   held spare is moved from the hub's spare DSQ to this CPU's local DSQ by greenhub_dispatch,
 *   which the kernel calls next in the same schedule() (quiescent records the hub in a per-CPU
 *   word); failing that a parked spare is signalled (GH_SCX_SIG_WAKE) and placed on this CPU
 *   when it wakes. Sleeps in any other state never hand off (I3): IDLE(t) is the runtime's own
 *   poll, a spare's baton is not RUN(spare).
 *   greenhub_enqueue, on a displaced carrier t becoming runnable (its call returned, or a fault
 *   was resolved): HANDOFF(t) -> RUN(t) (cancel, transition 3) or HANDOFF(u) -> RUN(t) (take a
 *   handoff another blocked carrier left); IDLE(s) -> RUN(t) (transition 5; the gate sends t
 *   GH_SCX_SIG_KICK so that s leaves its poll); RUN(s) -> t is held (transition 4). runner_tid
 *   is set whenever this file moves the baton to RUN(t), before t can run.
 *   The hand-back: the owner s pops t off the held ring and moves the baton RUN(s) -> RUN(t)
 *   at a switch point, then parks (yields or sleeps). greenhub_dispatch, with prev = s, sees
 *   RUN(t) with t in the held DSQ and moves t to this CPU's local DSQ; when the kernel skips
 *   ops.dispatch (the local DSQ is not empty), the hub's release timer, which s's park starts,
 *   does it a moment later. Nothing of t's is written after it is moved: t settles its own
 *   flags when it runs (greenhub_running), since it may run, block and be handed off again
 *   before a mover on another CPU could finish.
 *   Grace period (per hub; adaptive by default): the owner's sleep starts a per-hub timer
 *   instead, which hands it off only if it still sleeps when the timer fires; the owner's
 *   wake (greenhub_runnable) seals the baton with a CAS so that the timer's CAS fails. The
 *   adaptive policy waits only while most of the hub's recent handoffs were wasted
 *   (grace_outcome()). The code is in scx_grace.bpf.h.
 *   Other SCHED_EXT threads (and carriers between these events) share one vtime-ordered DSQ
 *   (the weighted vtime of scx_simple): ordinary owners are scheduled fairly.
 *   A heartbeat (a BPF timer, heartbeat_ns) keeps the watchdog happy: a held spare that has
 *   waited spare_beat_ns is let run once (it yields straight back); a held carrier that has
 *   waited hold_max_ns for its hand-back (an owner running that long without a switch point)
 *   is let go to its gate, which sends it GH_SCX_SIG_GATE_HELD: the runtime's handler then
 *   waits on a futex, which no watchdog watches. The heartbeat also releases a held carrier
 *   whose hand-back a race hid from greenhub_dispatch, and is where the test knob
 *   (gh_scx_control.test_eject) ejects the scheduler on purpose. The code is in
 *   scx_heartbeat.bpf.h.
 *
 * Ejection
 *   When the kernel ejects a scheduler (watchdog, scx_bpf_error, sysrq-S, or an unload that did
 *   not drain), it re-enqueues every runnable task in bypass mode and then moves all of them to
 *   the fair class, without asking this file: held carriers run. ops.exit comes tens of ms
 *   later. The gate is what keeps I1 then: it was armed when the carrier was handed off, so the
 *   carrier's first return to user mode runs it. It finds the carrier still displaced and
 *   resolves its return as trace mode's system-call gate does: takes a HANDOFF or IDLE baton
 *   itself, and otherwise signals the carrier, whose handler waits in user space for the
 *   hand-back (GATE_HELD if it is on the held ring, GATE if it must still queue itself). A
 *   handoff whose gate cannot be armed is not made. The one window left is the interval
 *   between arming (an irq_work that runs when the CPU the owner left re-enables interrupts,
 *   right after the context switch) and the earliest moment the carrier could run again
 *   elsewhere; an ejection would have to fall inside those few hundred ns.
 *
 * Alternatives rejected
 *   - Signalling a held carrier when the kernel releases it (from ops.running in bypass mode):
 *     bpf_send_signal_task() refuses whenever the interrupted task is a kernel thread or the
 *     idle task (nmi_uaccess_okay), which is exactly when a released carrier gets an idle CPU.
 *   - A sys_exit gate as in trace mode: it costs every system call of the machine and misses
 *     page faults; the task work costs one callback per handoff and covers every return.
 *   - Letting the owner learn whom to hand back to from the DSQ: user space cannot read a DSQ,
 *     and a held carrier runs no user code before it is released; hence the held ring.
 *   - scx_bpf_dsq_peek() + scx_bpf_dsq_move_to_local(): a check-then-act race (docs/design.md,
 *     kernel facts); every move from a hub DSQ goes through the DSQ iterator and
 *     scx_bpf_dsq_move().
 *
 * Memory ordering
 *   - Baton changes are CASes on the mapped slot (full barriers on x86-64 and arm64), like the
 *     runtime's seq_cst CASes; runner_tid is stored after the CAS that made t the owner and
 *     before t can run (it is queued here, or blocked).
 *   - Holding is a Dekker pair with the owner going idle (carrier.c idle()): this file
 *     increments return_pending, then reads the baton; the owner CASes RUN -> IDLE, then reads
 *     return_pending. Either this file sees IDLE and takes the hub for t, or the owner sees the
 *     pending return and takes the hub back to hand it over. The held ring entry is stored
 *     after the increment; the owner that sees the count before the entry looks again at its
 *     next switch point.
 *   - Drain: a handoff adds 1 to nr_displaced before it reads the loader's state; the loader
 *     stores DRAINING and then reads nr_displaced (both full barriers), as in trace mode.
 *   - Counters and histograms use atomic adds; a histogram's max is a racy store (statistics).
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "scx_compat.bpf.h"
#include "greenhub/scx.h"

char _license[] SEC("license") = "GPL";

/* DSQs: one shared vtime DSQ, and two per hub. User DSQ ids have bit 63 clear. */
#define FAIR_DSQ 0x10ULL
#define HUB_DSQ_BASE 0x100000ULL
#define SPARE_DSQ(h) (HUB_DSQ_BASE + 2ULL * (h))
#define HELD_DSQ(h) (HUB_DSQ_BASE + 2ULL * (h) + 1)

#define SIGNAL_GROUP_EXIT 0x4
#define PF_EXITING 0x4
#define CLOCK_MONOTONIC 1

/* Load-time knobs, set by the loader through the skeleton's rodata. */
const volatile __u32 timeout_ms = 5000;       /* the watchdog timeout (ops.timeout_ms) */
const volatile __u64 slice_ns = 20000000;     /* SCX_SLICE_DFL */
const volatile __u64 heartbeat_ns = 250000000; /* the heartbeat's period */
const volatile __u64 hold_max_ns = 1250000000; /* longest hold of a carrier */
const volatile __u64 spare_beat_ns = 1000000000; /* a held spare looks around this often */
const volatile __u32 signo = GH_SCX_SIGNO;
/* The grace policy and period of hubs whose runtime did not choose them (gh_scx_hub). */
const volatile __u32 grace_policy = GH_SCX_GRACE_ADAPTIVE;
const volatile __u32 grace_ns = GH_SCX_GRACE_NS_DFL;

/* The fair DSQ's clock: the largest vtime seen running. Written by greenhub_running (a racy
 * max, harmless: it only bounds how far behind a waking task may be placed), read by
 * greenhub_enqueue. */
__u64 vtime_now;
/* CPUs that went on- or offline while loaded; bumped by the hotplug callbacks, read by tests. */
__u64 nr_hotplug;

/* ---------------------------------------------------------------------------------------- */
/* Maps (scx.h describes the shared ones)                                                     */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct gh_scx_control);
} control SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, GH_MAX_HUBS);
	__type(key, u32);
	__type(value, struct gh_hub_slot);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, GH_MAX_HUBS);
	__type(key, u32);
	__type(value, struct gh_scx_hub);
} hubs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct gh_scx_carrier);
} carriers SEC(".maps");

/* The return gate of each carrier (bpf/task_work.bpf.h). Read-only to user space: the
 * runtime holds it while a hub is attached, and no process may cancel a gate. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_RDONLY);
	__uint(max_entries, GH_SCX_MAX_CARRIERS);
	__type(key, u32);
	__type(value, struct gh_gate);
} gates SEC(".maps");

/* Global tgid -> the process that owns (or owned) a hub (greenhub/request.h): a process exit
 * looks here before it scans the slots. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4 * GH_MAX_HUBS);
	__type(key, u32);
	__type(value, struct gh_owner);
} owners SEC(".maps");

/* A hub's timer: its release timer (below) or its grace timer (scx_grace.bpf.h), each kind an
 * array of one per hub slot. */
struct hub_timer {
	struct bpf_timer timer;
	u32 hub;
	s32 cpu; /* release timer: the CPU the parking carrier was on */
	u32 inited;
	/* grace timer (scx_grace.bpf.h): started and its callback not yet run, and when it is
	 * to fire (ktime ns) */
	u32 armed;
	u64 due_ns;
};

struct hub_timer_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GH_MAX_HUBS);
	__type(key, u32);
	__type(value, struct hub_timer);
};

/* Each hub's release timer: started (to fire at once) when a carrier of the hub parks or
 * yields while the baton names a carrier that may still be held, it dispatches a handed-back
 * carrier that greenhub_dispatch did not (the kernel skips ops.dispatch while the CPU's local
 * DSQ has a task). cpu is where the parking carrier was: the CPU the hand-back frees. */
struct hub_timer_map release_timers SEC(".maps");

/* Per CPU, set by greenhub_quiescent for greenhub_dispatch, which the kernel calls next in the
 * same schedule(): the hub (index + 1) whose first held spare gets this CPU (a handoff), and
 * the hub whose held spares all get to look around once (its owner sleeps in the hub loop,
 * e.g. joining its spares at the end of a run: they must see the stop). */
struct cpu_ctx {
	u32 spare_hub;
	u32 wake_hub;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct cpu_ctx);
} cpu_ctxs SEC(".maps");

/* The parts of the protocol that trace mode (greenhub_trace.bpf.c) shares, over the common
 * parts (kside member) of this file's types and the maps above. */
#include "baton.bpf.h"
#include "requests.bpf.h"
#include "entry_frame.bpf.h"
#include "records.bpf.h"

static __always_inline struct gh_scx_control *ctl(void)
{
	u32 zero = 0;

	return bpf_map_lookup_elem(&control, &zero);
}

/* A slot was granted (requests.bpf.h): the scheduler's state of the hub starts over. A grace
 * timer the previous owner left started finds no sleep. */
static void hub_claimed(struct gh_kside_hub *k)
{
	struct gh_scx_hub *hub = container_of(k, struct gh_scx_hub, kside);

	hub->handoff_cpu = 0;
	hub->sleeper_tid = 0;
	hub->sleeper_pid = 0;
	hub->sleeper_cpu = 0;
	hub->waste = 0;
	hub->sleep_baton = 0;
	hub->nr_graced = 0;
	hub->nr_spare_runs = 0;
	hub->nr_long_holds = 0;
}

/* A request from a carrier marked displaced (requests.bpf.h): never settled here, since such a
 * carrier runs its own code only after its return settled the mark. */
static bool stale_mark_settled(struct task_struct *p, struct gh_kside_carrier *k)
{
	return false;
}

/* A carrier joined (requests.bpf.h): none of the scheduler's flags of an earlier registration
 * survive. A thread joins from the runtime's code, running: it is in no hub DSQ. */
static void carrier_joined(struct gh_kside_carrier *k)
{
	struct gh_scx_carrier *st = container_of(k, struct gh_scx_carrier, kside);

	st->held = 0;
	st->yielded = 0;
	st->spare_held = 0;
	st->kick = 0;
	st->woken = 0;
	st->wake_cpu = -1;
	st->since_ns = 0;
	st->woken_ns = 0;
}

/* The thread named tid, acquired (the caller releases it), with its registration in *sstp, if
 * it is a registered carrier of hub h, under the claim cookie, in owner's process; else NULL.
 * Checked every time because the slot's spare_tid may be stale (the runtime names the spare
 * under its own lock, which the kernel side does not take, the spare may have left since, and
 * its tid may have been reused) or wrong: the process writes it. */
static __always_inline struct task_struct *parked_spare(struct task_struct *owner, __u32 h,
							__u64 cookie, __u32 tid,
							struct gh_scx_carrier **sstp)
{
	struct gh_scx_carrier *sst;
	struct task_struct *s;

	if (!tid)
		return NULL;
	/* Looked up in the owner's pid namespace, the one the runtime's tids are in. */
	s = bpf_task_from_vpid((s32)tid);
	if (!s)
		return NULL;
	sst = bpf_task_storage_get(&carriers, s, 0, 0);
	if (s->tgid != owner->tgid || !sst || sst->kside.hub != h || sst->kside.cookie != cookie ||
	    sst->kside.tid != tid) {
		bpf_task_release(s);
		return NULL;
	}
	*sstp = sst;
	return s;
}


/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                              */

static __always_inline bool vtime_before(u64 a, u64 b)
{
	return (s64)(a - b) < 0;
}

static __always_inline struct gh_scx_carrier *carrier_storage(struct task_struct *p)
{
	return bpf_task_storage_get(&carriers, p, 0, 0);
}

/* The hub p's registration names, with its slot, if p's process still holds it (owned()). */
static struct gh_scx_hub *owned_hub(struct task_struct *p, struct gh_scx_carrier *st,
				    struct gh_hub_slot **slotp)
{
	struct gh_kside_hub *k;

	if (!owned(p, &st->kside, slotp, &k))
		return NULL;
	return container_of(k, struct gh_scx_hub, kside);
}

/* The registration of p if it is a carrier whose hub its process still holds. */
static struct gh_scx_carrier *owned_carrier(struct task_struct *p, struct gh_hub_slot **slotp,
					    struct gh_scx_hub **hubp)
{
	struct gh_scx_carrier *st = carrier_storage(p);

	if (!st)
		return NULL;
	*hubp = owned_hub(p, st, slotp);
	return *hubp ? st : NULL;
}

/* Whether carrier st owns its hub with the baton word b as it runs green code or the hub loop:
 * RUN(itself), and not displaced. Only such an owner's sleep may be handed off (I3). */
static bool owns_running(const struct gh_scx_carrier *st, u64 b)
{
	return gh_baton_state(b) == GH_BATON_RUN && gh_baton_tid(b) == st->kside.tid &&
	       !st->kside.displaced;
}

static bool exiting(struct task_struct *p)
{
	return (p->flags & PF_EXITING) || (BPF_CORE_READ(p, signal, flags) & SIGNAL_GROUP_EXIT);
}

/* t's return is settled: it may run (it owns the hub) or it waits in user space. */
static void settle_return(struct gh_scx_carrier *st, struct gh_scx_hub *hub)
{
	/* Test and clear: a late handoff that lost its CAS may undo the same flag (see
	 * hand_off()); only one of them takes the carrier off the gauge. */
	if (st->kside.displaced && __sync_fetch_and_and(&st->kside.displaced, 0))
		displaced_add(kside_ctl(), &hub->kside, -1);
}

static void set_runner(struct gh_hub_slot *slot, u32 tid)
{
	slot->runner_tid = tid;
}

static void fair_insert(struct task_struct *p, u64 enq_flags)
{
	u64 vtime = gh_task_scx(p)->dsq_vtime;

	/* A task that slept long gets at most one slice of credit. */
	if (vtime_before(vtime, vtime_now - slice_ns))
		vtime = vtime_now - slice_ns;
	gh_scx_dsq_insert_vtime(p, FAIR_DSQ, slice_ns, vtime, enq_flags);
}

/* ---------------------------------------------------------------------------------------- */
/* The return gate                                                                            */

static void send_self(struct task_struct *p, int code)
{
	bpf_send_signal_task(p, signo, PIDTYPE_PID, code);
}

/*
 * Runs in a displaced carrier's own context on its first return to user mode after its
 * handoff, before any user code. While this scheduler runs, greenhub_enqueue has settled the
 * return already (or greenhub_dispatch, after a hand-back): all that may be left is the kick
 * of an idle carrier. Otherwise the carrier got here without this scheduler deciding (an
 * ejection, or a long hold let go): resolve as trace mode's system-call gate does.
 */
static int gate_cb(struct bpf_map *map, void *key, void *value)
{
	struct task_struct *p = bpf_get_current_task_btf();
	struct gh_scx_control *c = ctl();
	struct gh_scx_carrier *st = carrier_storage(p);
	struct gh_hub_slot *slot;
	struct gh_scx_hub *hub;
	u32 holder, kick;
	u64 b;

	if (!c || !st)
		return 0;
	kick = st->kick;
	st->kick = 0;
	hub = owned_hub(p, st, &slot);
	if (!hub) {
		if (st->kside.displaced) {
			st->kside.displaced = 0;
			displaced_add(&c->kside, NULL, -1);
		}
		return 0;
	}
	if (!st->kside.displaced) {
		if (kick) {
			counter_inc(&c->nr_kicks);
			send_self(p, GH_SCX_SIG_KICK);
		}
		return 0;
	}
	if (st->held) {
		/* On the held ring and counted in return_pending: wait for the owner. */
		st->held = 0;
		settle_return(st, hub);
		counter_inc(&c->kside.nr_gates);
		counter_inc(&hub->kside.nr_gates);
		send_self(p, GH_SCX_SIG_GATE_HELD);
		return 0;
	}
	settle_return(st, hub);
	b = slot->baton;
	holder = gh_baton_tid(b);
	switch (gh_baton_state(b)) {
	case GH_BATON_HANDOFF:
		if (!baton_cas(slot, b, GH_BATON_RUN, st->kside.tid))
			break;
		handoff_taken(&c->kside, slot, holder, st->kside.tid);
		return 0;
	case GH_BATON_IDLE:
		if (!baton_cas(slot, b, GH_BATON_RUN, st->kside.tid))
			break;
		set_runner(slot, st->kside.tid);
		__sync_fetch_and_add(&slot->nr_idle_returns, 1);
		counter_inc(&c->kside.nr_idle_returns);
		counter_inc(&c->nr_kicks);
		send_self(p, GH_SCX_SIG_KICK);
		return 0;
	case GH_BATON_RUN:
		if (holder == st->kside.tid)
			return 0;
		break;
	default:
		return 0; /* FREE: the hub stopped under us */
	}
	/* RUN(s), or a CAS lost to a concurrent change: the handler's re-acquire handles every
	 * state the baton can be in. */
	counter_inc(&c->kside.nr_gates);
	counter_inc(&hub->kside.nr_gates);
	send_self(p, GH_SCX_SIG_GATE);
	return 0;
}

/* Arm p's gate. False if it cannot be armed (then p must not be handed off). */
static bool arm_gate(struct task_struct *p)
{
	return gh_arm_gate(&gates, p, gate_cb);
}

/* ---------------------------------------------------------------------------------------- */
/* Transition 1: an owner sleeps                                                              */

/* Give the CPU the owner left to one of its hub's spares. */
static void give_cpu(struct task_struct *owner, struct gh_scx_carrier *st,
		     struct gh_hub_slot *slot, struct gh_scx_hub *hub, s32 cpu, u64 now)
{
	u32 h = st->kside.hub;
	struct gh_scx_control *c = ctl();
	struct gh_scx_carrier *sst;
	struct cpu_ctx *cc;
	struct task_struct *s;
	u32 zero = 0;

	if (scx_bpf_dsq_nr_queued(SPARE_DSQ(h)) > 0) {
		cc = bpf_map_lookup_elem(&cpu_ctxs, &zero);
		if (cc) {
			cc->spare_hub = h + 1;
			return;
		}
	}
	if (!c)
		return;
	s = parked_spare(owner, h, st->kside.cookie, slot->spare_tid, &sst);
	if (!s)
		goto miss;
	sst->woken = 1;
	sst->wake_cpu = cpu;
	sst->woken_ns = now;
	if (bpf_send_signal_task(s, signo, PIDTYPE_PID, GH_SCX_SIG_WAKE)) {
		sst->woken = 0;
		bpf_task_release(s);
		goto miss;
	}
	bpf_task_release(s);
	spare_woken(&c->kside, &hub->kside);
	return;
miss:
	spare_missed(&c->kside, &hub->kside);
}

/*
 * Hand p off (transition 1): arm its gate, mark it displaced, CAS RUN(p) -> HANDOFF(p) from the
 * word b it slept with. True if done. p is asleep: current (from greenhub_quiescent) or not
 * (from the grace timer). The displaced flag is set before the CAS so that a wake racing with a
 * late handoff sees it; a wake that wins settles the flag, and this undoes only what is left.
 */
static bool hand_off(struct task_struct *p, struct gh_scx_carrier *st, struct gh_hub_slot *slot,
		     struct gh_scx_hub *hub, u64 b)
{
	struct gh_scx_control *c = ctl();
	u64 now;

	if (!c)
		return false;
	/* The gate is a signal to the runtime's handler: with another disposition (ignored, or
	 * the application's own handler) it could not stop p's return. */
	if (!gate_handled(p, &st->kside, (int)signo)) {
		counter_inc(&c->kside.nr_gate_unhandled);
		carrier_block_why(&st->kside, GH_BLOCK_GATE_UNHANDLED);
		return false;
	}
	/* Announce, then look at the loader's state (the drain's Dekker pair). The held ring
	 * has room for every displaced carrier of the hub. */
	displaced_add(&c->kside, &hub->kside, 1);
	if (c->kside.state != GH_SCX_RUNNING || hub->kside.nr_displaced >= GH_SCX_HELD_MAX) {
		displaced_add(&c->kside, &hub->kside, -1);
		counter_inc(&c->kside.nr_refused);
		carrier_block_why(&st->kside, GH_BLOCK_REFUSED);
		return false;
	}
	if (!arm_gate(p)) {
		displaced_add(&c->kside, &hub->kside, -1);
		counter_inc(&c->kside.nr_gate_failures);
		carrier_block_why(&st->kside, GH_BLOCK_GATE_FAILED);
		return false;
	}
	counter_inc(&c->nr_gate_arms);
	st->held = 0;
	__sync_fetch_and_or(&st->kside.displaced, 1);
	if (!baton_cas(slot, b, GH_BATON_HANDOFF, st->kside.tid)) {
		/* The armed gate is harmless: it will find the return settled. */
		if (__sync_fetch_and_and(&st->kside.displaced, 0))
			displaced_add(&c->kside, &hub->kside, -1);
		carrier_block_why(&st->kside, GH_BLOCK_RACE);
		return false;
	}
	now = bpf_ktime_get_ns();
	slot->handoff_ns = now;
	__sync_fetch_and_add(&slot->nr_handoffs, 1);
	counter_inc(&c->kside.nr_handoffs);
	st->kside.handoff_ns = now;
	return true;
}

/* The grace period: whether and when an owner's sleep is handed off (scx_grace.bpf.h). */
#include "scx_grace.bpf.h"

static void owner_sleeps(struct task_struct *p, struct gh_scx_carrier *st,
			 struct gh_hub_slot *slot, struct gh_scx_hub *hub, u64 b)
{
	struct gh_scx_control *c = ctl();
	s32 cpu = bpf_get_smp_processor_id();
	struct gh_kside_block *note;
	u32 grace;

	if (!c)
		return;
	/* A block: noted for its record if a reader is attached (records.bpf.h; observes only). */
	note = block_note(&c->kside, slot, &st->kside);
	block_in(note, p);
	if (!in_green_thread(&st->kside)) {
		struct cpu_ctx *cc;
		u32 zero = 0;

		counter_inc(&c->kside.nr_loop_sleeps);
		block_why(note, GH_BLOCK_LOOP_SLEEP);
		cc = bpf_map_lookup_elem(&cpu_ctxs, &zero);
		if (cc && scx_bpf_dsq_nr_queued(SPARE_DSQ(st->kside.hub)) > 0)
			cc->wake_hub = st->kside.hub + 1;
		return;
	}
	if (gate_masked(p, signo)) {
		counter_inc(&c->kside.nr_masked);
		block_why(note, GH_BLOCK_MASKED);
		return;
	}
	grace = hub_grace(slot, hub);
	if (grace && start_grace(p, st, hub, b, cpu, grace)) {
		/* Unless the grace timer hands it off (the record then says so). */
		block_why(note, GH_BLOCK_GRACE);
		return;
	}
	if (!hand_off(p, st, slot, hub, b))
		return;
	hub->handoff_cpu = cpu;
	give_cpu(p, st, slot, hub, cpu, slot->handoff_ns);
}

/* ---------------------------------------------------------------------------------------- */
/* Transitions 3-5: a displaced carrier becomes runnable                                      */

/* Put p on its hub's held ring: the owner hands the baton back to it (slot.h). */
static void ring_push(struct gh_hub_slot *slot, u32 tid)
{
	u32 idx = __sync_fetch_and_add(&slot->held_tail, 1);

	slot->held[idx & (GH_SLOT_HELD_MAX - 1)] = tid;
}

/* p's return while another carrier may own the hub; true if p may run now. */
static bool displaced_may_run(struct task_struct *p, struct gh_scx_carrier *st,
			      struct gh_hub_slot *slot, struct gh_scx_hub *hub)
{
	struct gh_scx_control *c = ctl();
	u32 holder;
	u64 b;

	if (!c)
		return true;
	/* Announce before reading the baton: the Dekker pair with an owner going idle. */
	__sync_fetch_and_add(&slot->return_pending, 1);
	for (int i = 0; i < 8; i++) {
		b = slot->baton;
		holder = gh_baton_tid(b);
		switch (gh_baton_state(b)) {
		case GH_BATON_HANDOFF:
			if (!baton_cas(slot, b, GH_BATON_RUN, st->kside.tid))
				continue;
			__sync_fetch_and_add(&slot->return_pending, -1);
			handoff_taken(&c->kside, slot, holder, st->kside.tid);
			grace_outcome(hub, holder == st->kside.tid);
			settle_return(st, hub);
			return true;
		case GH_BATON_IDLE:
			if (!baton_cas(slot, b, GH_BATON_RUN, st->kside.tid))
				continue;
			__sync_fetch_and_add(&slot->return_pending, -1);
			set_runner(slot, st->kside.tid);
			__sync_fetch_and_add(&slot->nr_idle_returns, 1);
			counter_inc(&c->kside.nr_idle_returns);
			/* The idle carrier sleeps in its poll: the gate kicks it out. */
			st->kick = 1;
			/* Wasted if the spare that took this carrier's handoff ran nothing and
			 * went idle, and nothing ran since (greenhub/slot.h): no other carrier
			 * came back to the hub the handoff freed. */
			grace_outcome(hub, slot->idle_unused_tid == st->kside.tid);
			settle_return(st, hub);
			return true;
		case GH_BATON_RUN:
			if (holder == st->kside.tid) {
				/* Handed back (or a late handoff lost): seal the word, so that no
				 * handoff decided on the old one can succeed. */
				if (!baton_cas(slot, b, GH_BATON_RUN, st->kside.tid))
					continue;
				__sync_fetch_and_add(&slot->return_pending, -1);
				grace_outcome(hub, false);
				settle_return(st, hub);
				return true;
			}
			/* Transition 4: hold. */
			grace_outcome(hub, false);
			ring_push(slot, st->kside.tid);
			st->held = 1;
			st->since_ns = bpf_ktime_get_ns();
			__sync_fetch_and_add(&slot->nr_holds, 1);
			counter_inc(&c->nr_holds);
			return false;
		default:
			/* FREE: the hub stopped; nothing to hold. */
			__sync_fetch_and_add(&slot->return_pending, -1);
			settle_return(st, hub);
			return true;
		}
	}
	/* The baton kept changing under us: let p go to its gate, which settles the return in
	 * p's own context (and queues it in user space if it must wait). */
	__sync_fetch_and_add(&slot->return_pending, -1);
	return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Moves out of the hub DSQs (always through the iterator: docs/design.md, kernel facts)    */

/* From greenhub_dispatch: the first held spare of hub h gets this CPU. */
static bool run_spare(u32 h)
{
	struct gh_scx_control *c = ctl();
	struct gh_scx_carrier *sst;
	struct task_struct *p;
	struct gh_hub_slot *slot = bpf_map_lookup_elem(&slots, &h);
	struct gh_scx_hub *hub = bpf_map_lookup_elem(&hubs, &h);

	if (!c || !slot || !hub)
		return false;
	bpf_for_each(scx_dsq, p, SPARE_DSQ(h), 0) {
		sst = carrier_storage(p);
		if (sst) {
			sst->spare_held = 0;
			sst->woken = 1;
			sst->woken_ns = slot->handoff_ns;
		}
		if (!gh_scx_dsq_move(GH_SCX_DSQ_ITER, p, SCX_DSQ_LOCAL, 0)) {
			if (sst)
				sst->woken = 0;
			continue;
		}
		counter_inc(&c->nr_spare_runs);
		counter_inc(&hub->nr_spare_runs);
		return true;
	}
	/* Every spare left the DSQ meanwhile: the baton stays HANDOFF (transition 6). */
	spare_missed(&c->kside, &hub->kside);
	return false;
}

/* From greenhub_dispatch: every held spare of hub h runs here once (they yield back). */
static bool wake_spares(u32 h)
{
	struct gh_scx_carrier *sst;
	struct task_struct *p;
	bool moved = false;

	bpf_for_each(scx_dsq, p, SPARE_DSQ(h), 0) {
		sst = carrier_storage(p);
		if (sst)
			sst->spare_held = 0;
		if (gh_scx_dsq_move(GH_SCX_DSQ_ITER, p, SCX_DSQ_LOCAL, 0))
			moved = true;
	}
	return moved;
}

/*
 * From greenhub_dispatch with prev a carrier of hub h: if the owner handed the baton back to
 * a held carrier (RUN(t) with t in the held DSQ), dispatch t here.
 */
static bool release_handed_back(struct task_struct *prev)
{
	struct gh_scx_carrier *st, *pst;
	struct gh_hub_slot *slot;
	struct gh_scx_hub *hub;
	struct task_struct *p;
	u64 b;
	u32 h, tid;

	st = owned_carrier(prev, &slot, &hub);
	if (!st)
		return false;
	h = st->kside.hub;
	b = slot->baton;
	tid = gh_baton_tid(b);
	if (gh_baton_state(b) != GH_BATON_RUN || tid == st->kside.tid ||
	    scx_bpf_dsq_nr_queued(HELD_DSQ(h)) <= 0)
		return false;
	bpf_for_each(scx_dsq, p, HELD_DSQ(h), 0) {
		pst = carrier_storage(p);
		if (!pst || pst->kside.tid != tid)
			continue;
		/* held is cleared by t itself (held_runs()), not here. */
		if (!gh_scx_dsq_move(GH_SCX_DSQ_ITER, p, SCX_DSQ_LOCAL, 0))
			return false;
		counter_inc(&ctl()->nr_releases);
		return true;
	}
	return false;
}

/* The release timer of hub h: dispatch the carrier the baton names if it is still held. */
static int release_fn(void *map, int *key, struct hub_timer *rt)
{
	struct gh_scx_control *c = ctl();
	struct gh_scx_carrier *pst;
	struct gh_hub_slot *slot;
	struct task_struct *p;
	u32 h = rt->hub, tid;
	s32 cpu;
	u64 b;

	slot = bpf_map_lookup_elem(&slots, &h);
	if (!c || !slot || scx_bpf_dsq_nr_queued(HELD_DSQ(h)) <= 0)
		return 0;
	b = slot->baton;
	tid = gh_baton_tid(b);
	if (gh_baton_state(b) != GH_BATON_RUN)
		return 0;
	bpf_for_each(scx_dsq, p, HELD_DSQ(h), 0) {
		pst = carrier_storage(p);
		if (!pst || pst->kside.tid != tid)
			continue;
		/* The CPU the hand-back freed if t may run there, else t's own. */
		cpu = rt->cpu;
		if (cpu < 0 || !bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			cpu = scx_bpf_task_cpu(p);
		if (gh_scx_dsq_move(GH_SCX_DSQ_ITER, p, SCX_DSQ_LOCAL_ON | cpu, 0)) {
			scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
			counter_inc(&c->nr_releases);
			counter_inc(&c->nr_timer_releases);
		}
		break;
	}
	return 0;
}

/*
 * A carrier of hub h parks or yields (current, on this CPU) while the baton names another:
 * if that one may be held, have the release timer look at once. greenhub_dispatch usually
 * dispatches it first (release_handed_back), but the kernel does not call ops.dispatch while
 * this CPU's local DSQ has a task, and on sched_yield() it calls it before the yielder's
 * ops.enqueue (docs/design.md, kernel facts); the heartbeat would be the next chance, up to
 * heartbeat_ns late.
 */
static void release_soon(u32 h, u64 b, u32 self)
{
	struct hub_timer *rt;

	if (gh_baton_state(b) != GH_BATON_RUN || gh_baton_tid(b) == self ||
	    scx_bpf_dsq_nr_queued(HELD_DSQ(h)) <= 0)
		return;
	rt = bpf_map_lookup_elem(&release_timers, &h);
	if (!rt || !rt->inited)
		return;
	rt->hub = h;
	rt->cpu = bpf_get_smp_processor_id();
	bpf_timer_start(&rt->timer, 0, 0);
}

/* Current, a held carrier, runs: released after a hand-back (settle now, in its own context:
 * a releaser on another CPU that settled after the move could undo a later handoff's flags),
 * or let go without one (still held: its gate sends it GATE_HELD). */
static void held_runs(struct task_struct *p, struct gh_scx_carrier *st)
{
	struct gh_hub_slot *slot;
	struct gh_scx_hub *hub;
	u64 b;

	hub = owned_hub(p, st, &slot);
	if (!hub)
		return;
	b = slot->baton;
	if (gh_baton_state(b) == GH_BATON_RUN && gh_baton_tid(b) == st->kside.tid) {
		st->held = 0;
		settle_return(st, hub);
	}
}

/* The heartbeat, for the watchdog and for hand-backs nothing else dispatched. */
#include "scx_heartbeat.bpf.h"

/* ---------------------------------------------------------------------------------------- */
/* I6: exits and execs                                                                        */

/* A registered carrier thread leaves: settle its gauges and, if it held the hub while its
 * process lives on, offer the hub to a spare. */
static void carrier_leaves(struct task_struct *p, struct gh_kside_carrier *k)
{
	struct gh_scx_carrier *st = container_of(k, struct gh_scx_carrier, kside);
	struct gh_scx_control *c = ctl();
	struct gh_hub_slot *slot;
	struct gh_scx_hub *hub;
	u32 key = p->pid;

	bpf_map_delete_elem(&gates, &key);
	if (!c)
		return;
	hub = owned_hub(p, st, &slot);
	if (!hub) {
		displaced_leaves(&c->kside, NULL, &st->kside);
		return;
	}
	settle_return(st, hub);
	if (slot->spare_tid == st->kside.tid)
		slot->spare_tid = 0;
	if (BPF_CORE_READ(p, signal, flags) & SIGNAL_GROUP_EXIT)
		return; /* the whole process goes: its slots are released below */
	if (hand_on(slot, st->kside.tid))
		counter_inc(&c->kside.nr_handoffs);
}

/* ---------------------------------------------------------------------------------------- */
/* The scheduler's callbacks                                                                  */

s32 GH_SCX_OP(greenhub_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	struct gh_scx_carrier *st = carrier_storage(p);
	bool is_idle = false;
	s32 cpu;

	if (st) {
		/* A displaced carrier may be held: claim no idle CPU for it. */
		if (st->kside.displaced)
			return prev_cpu;
		/* A parked spare woken for a handoff goes where the owner was. */
		if (st->woken && st->wake_cpu >= 0 &&
		    bpf_cpumask_test_cpu(st->wake_cpu, p->cpus_ptr))
			return st->wake_cpu;
	}
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle && !st)
		gh_scx_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, 0);
	return cpu;
}

void GH_SCX_OP(greenhub_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct gh_scx_control *c = ctl();
	struct gh_scx_carrier *st;
	struct gh_hub_slot *slot;
	struct gh_scx_hub *hub;
	bool yielded;
	u64 b;
	u32 h;

	st = owned_carrier(p, &slot, &hub);
	if (!st || !c) {
		fair_insert(p, enq_flags);
		return;
	}
	h = st->kside.hub;
	yielded = st->yielded;
	st->yielded = 0;
	if (st->held) {
		/* Back from a dequeue (an affinity or priority change): keep holding unless the
		 * hand-back came meanwhile. */
		b = slot->baton;
		if (gh_baton_state(b) == GH_BATON_RUN && gh_baton_tid(b) == st->kside.tid) {
			st->held = 0;
			settle_return(st, hub);
			counter_inc(&c->nr_releases);
			fair_insert(p, enq_flags);
			return;
		}
		gh_scx_dsq_insert(p, HELD_DSQ(h), slice_ns, 0);
		return;
	}
	if (st->kside.displaced) {
		if (displaced_may_run(p, st, slot, hub)) {
			fair_insert(p, enq_flags);
			return;
		}
		gh_scx_dsq_insert(p, HELD_DSQ(h), slice_ns, 0);
		return;
	}
	if (st->woken && (enq_flags & GH_SCX_ENUM(scx_enq_flags, SCX_ENQ_WAKEUP))) {
		/* A parked spare woken for a handoff: on the CPU its owner left, at once. */
		gh_scx_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, enq_flags);
		return;
	}
	if (yielded || st->spare_held) {
		/* A spare yielding in its park: hold it unless a handoff waits for it. */
		b = slot->baton;
		release_soon(h, b, st->kside.tid);
		if (c->kside.state == GH_SCX_RUNNING && slot->spare_mode == GH_SCX_SPARES_HELD &&
		    gh_baton_state(b) != GH_BATON_HANDOFF && gh_baton_tid(b) != st->kside.tid) {
			if (!st->spare_held)
				st->since_ns = bpf_ktime_get_ns();
			st->spare_held = 1;
			gh_scx_dsq_insert(p, SPARE_DSQ(h), slice_ns, 0);
			return;
		}
		st->spare_held = 0;
	}
	fair_insert(p, enq_flags);
}

void GH_SCX_OP(greenhub_runnable, struct task_struct *p, u64 enq_flags)
{
	struct gh_scx_carrier *st;
	struct gh_hub_slot *slot;
	struct gh_scx_hub *hub;

	st = owned_carrier(p, &slot, &hub);
	if (st && !st->held)
		end_grace(st, slot, hub);
}

void GH_SCX_OP(greenhub_dispatch, s32 cpu, struct task_struct *prev)
{
	struct cpu_ctx *cc;
	u32 zero = 0, h;
	bool moved = false;

	cc = bpf_map_lookup_elem(&cpu_ctxs, &zero);
	if (cc && cc->spare_hub) {
		h = cc->spare_hub - 1;
		cc->spare_hub = 0;
		if (h < GH_MAX_HUBS)
			moved = run_spare(h);
	}
	if (cc && cc->wake_hub) {
		h = cc->wake_hub - 1;
		cc->wake_hub = 0;
		if (h < GH_MAX_HUBS && wake_spares(h))
			moved = true;
	}
	if (prev && release_handed_back(prev))
		moved = true;
	if (!moved)
		gh_scx_dsq_move_to_local(FAIR_DSQ);
}

/* A carrier with a noted block runs again: its record, while a reader of block records is
 * attached (records.bpf.h); a note left from an earlier reader is dropped. */
static void carrier_runs(struct task_struct *p, struct gh_scx_carrier *st)
{
	struct gh_scx_control *c = ctl();
	struct gh_scx_hub *hub;
	u32 h = st->kside.hub;

	if (!c || !c->kside.records_until_ns) {
		st->kside.block.start_ns = 0;
		return;
	}
	hub = bpf_map_lookup_elem(&hubs, &h);
	block_end(&c->kside, p, &st->kside, hub ? &hub->kside : NULL, GH_RECORD_MODE_SCHED_EXT);
}

void GH_SCX_OP(greenhub_running, struct task_struct *p)
{
	struct gh_scx_carrier *st = carrier_storage(p);
	struct gh_scx_control *c;
	struct gh_scx_hub *hub;
	u64 vtime = gh_task_scx(p)->dsq_vtime;
	u32 h;

	if (vtime_before(vtime_now, vtime))
		vtime_now = vtime;
	if (st && st->held)
		held_runs(p, st);
	if (st && st->kside.block.start_ns)
		carrier_runs(p, st);
	if (!st || !st->woken)
		return;
	/* A spare given a CPU for a handoff runs: the kernel's view of the handoff latency. */
	st->woken = 0;
	c = ctl();
	h = st->kside.hub;
	hub = bpf_map_lookup_elem(&hubs, &h);
	if (c && hub)
		spare_ran(&c->kside, &hub->kside, st->woken_ns, bpf_ktime_get_ns());
}

void GH_SCX_OP(greenhub_stopping, struct task_struct *p, bool runnable)
{
	struct sched_ext_entity___gh *scx = gh_task_scx(p);

	/* Charge the slice used, scaled by the inverse of the weight (scx_simple). */
	if (scx->weight)
		scx->dsq_vtime += (slice_ns - scx->slice) * 100 / scx->weight;
}

void GH_SCX_OP(greenhub_quiescent, struct task_struct *p, u64 deq_flags)
{
	struct gh_scx_carrier *st;
	struct gh_hub_slot *slot;
	struct gh_scx_hub *hub;
	u64 b;

	if (!(deq_flags & GH_SCX_ENUM(scx_deq_flags, SCX_DEQ_SLEEP)))
		return;
	st = owned_carrier(p, &slot, &hub);
	if (!st)
		return;
	b = slot->baton;
	/* IDLE, a parked spare, a displaced carrier: chosen sleeps never hand off (I3). */
	if (!owns_running(st, b)) {
		release_soon(st->kside.hub, b, st->kside.tid);
		return;
	}
	owner_sleeps(p, st, slot, hub, b);
}

bool GH_SCX_OP(greenhub_yield, struct task_struct *from, struct task_struct *to)
{
	struct gh_scx_carrier *st = carrier_storage(from);

	if (st)
		st->yielded = 1;
	/* With ops.yield defined the kernel leaves the slice alone: end it, so that the
	 * yielding task goes through ops.enqueue (SCX_OPS_ENQ_LAST makes it do so even when it
	 * is the CPU's last task). */
	gh_task_scx(from)->slice = 0;
	return false;
}

void GH_SCX_OP(greenhub_cpu_online, s32 cpu)
{
	__sync_fetch_and_add(&nr_hotplug, 1);
}

void GH_SCX_OP(greenhub_cpu_offline, s32 cpu)
{
	__sync_fetch_and_add(&nr_hotplug, 1);
}

s32 GH_SCX_OP_SLEEPABLE(greenhub_init)
{
	struct heartbeat *hb;
	u32 zero = 0, i;
	s32 err;

	/* Without the task-work kfunc every gate fails to arm and nothing is handed off; the
	 * loader refuses such kernels before it gets here (docs/sched-ext.md). */
	err = scx_bpf_create_dsq(FAIR_DSQ, -1);
	if (err) {
		gh_scx_error("cannot create the fair DSQ: %d", err);
		return err;
	}
	bpf_for(i, 0, GH_MAX_HUBS) {
		struct hub_timer *ht = bpf_map_lookup_elem(&hub_timers, &i);
		struct hub_timer *rt;

		err = scx_bpf_create_dsq(SPARE_DSQ(i), -1);
		if (!err)
			err = scx_bpf_create_dsq(HELD_DSQ(i), -1);
		if (err) {
			gh_scx_error("cannot create the DSQs of hub %u: %d", i, err);
			return err;
		}
		if (ht && !bpf_timer_init(&ht->timer, &hub_timers, CLOCK_MONOTONIC) &&
		    !bpf_timer_set_callback(&ht->timer, grace_fn))
			ht->inited = 1;
		rt = bpf_map_lookup_elem(&release_timers, &i);
		if (rt && !bpf_timer_init(&rt->timer, &release_timers, CLOCK_MONOTONIC) &&
		    !bpf_timer_set_callback(&rt->timer, release_fn))
			rt->inited = 1;
	}
	hb = bpf_map_lookup_elem(&heartbeat, &zero);
	if (!hb)
		return -2;
	err = bpf_timer_init(&hb->timer, &heartbeat, CLOCK_MONOTONIC);
	if (!err)
		err = bpf_timer_set_callback(&hb->timer, heartbeat_fn);
	if (!err)
		err = bpf_timer_start(&hb->timer, heartbeat_ns, 0);
	if (err)
		gh_scx_error("cannot start the heartbeat: %d", err);
	return err;
}

void GH_SCX_OP(greenhub_exit, struct scx_exit_info *ei)
{
	struct gh_scx_control *c = ctl();

	if (!c)
		return;
	bpf_probe_read_kernel_str(c->exit.reason, sizeof(c->exit.reason), ei->reason);
	bpf_probe_read_kernel_str(c->exit.msg, sizeof(c->exit.msg), ei->msg);
	c->exit.exit_code = ei->exit_code;
	c->exit.at_ns = bpf_ktime_get_ns();
	c->exit.kind = ei->kind;
	__sync_lock_test_and_set(&c->kside.state, GH_SCX_EXITED);
}

/* ---------------------------------------------------------------------------------------- */
/* Not scheduler callbacks, but part of the same object: requests (I5), exits and execs (I6)   */

SEC("tp_btf/task_rename")
int BPF_PROG(greenhub_request, struct task_struct *task, const char *comm)
{
	serve_request(task);
	return 0;
}

SEC(".struct_ops.link")
struct sched_ext_ops greenhub_ops = {
	.select_cpu = (void *)greenhub_select_cpu,
	.enqueue = (void *)greenhub_enqueue,
	.dispatch = (void *)greenhub_dispatch,
	.runnable = (void *)greenhub_runnable,
	.running = (void *)greenhub_running,
	.stopping = (void *)greenhub_stopping,
	.quiescent = (void *)greenhub_quiescent,
	.yield = (void *)greenhub_yield,
	.cpu_online = (void *)greenhub_cpu_online,
	.cpu_offline = (void *)greenhub_cpu_offline,
	.init = (void *)greenhub_init,
	.exit = (void *)greenhub_exit,
	.flags = SCX_OPS_SWITCH_PARTIAL | SCX_OPS_ENQ_LAST,
	.timeout_ms = 5000,
	.name = GH_SCX_OPS_NAME,
};
