/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trace mode: what the runtime, the loader (scx_greenhub) and bpf/greenhub_trace.bpf.c share,
 * besides the hub slots of greenhub/slot.h.
 *
 * This header compiles on both sides, like slot.h: BPF programs include it after vmlinux.h,
 * user space gets the types from <linux/types.h>. Change any layout here only together with
 * GH_TRACE_ABI_VERSION: the loader and the runtime refuse pinned maps of another version.
 *
 * The pinned objects
 * ------------------
 * The loader pins everything under GH_TRACE_PIN_DIR, so that the kernel side outlives it:
 *
 *   control      ARRAY[1] of struct gh_trace_control, BPF_F_MMAPABLE: versions, the loader's
 *                state, the gate it chose, global counters and the handoff-latency histogram
 *   slots        ARRAY[GH_MAX_HUBS] of struct gh_hub_slot (slot.h), BPF_F_MMAPABLE, one page
 *                each: the batons; a runtime maps its own hubs' pages
 *   hubs         ARRAY[GH_MAX_HUBS] of struct gh_trace_hub, BPF_F_MMAPABLE: who owns each
 *                slot, and the kernel side's per-hub counters. Written by the BPF side only
 *                (the loader maps it read-only for statistics; the runtime never opens it)
 *   carriers     TASK_STORAGE of struct gh_trace_carrier: the registration of each carrier,
 *                created and written by the BPF side only
 *   wake_rings   ARRAY_OF_MAPS[GH_MAX_HUBS] of BPF ring buffers: each hub's runtime puts a
 *                ring of its own at its slot's index, and its parked spares wait on it
 *   owners       HASH global tgid -> 1, so that a process exit finds its slots
 *   gates, gate_backups   the task-work return gate of each carrier (the task-work gates
 *                only)
 *   grace_timers ARRAY[GH_MAX_HUBS] of each hub's grace timer (BPF timers; pinned, since a
 *                map's last user reference cancels its timers)
 *   blocks       BPF ring buffer of block records (greenhub/records.h), written only while a
 *                reader (scx_greenhub --top) is attached
 *   link_register, link_switch, link_sys_exit, link_exit, link_exec, link_free
 *                the links of the programs; the loader's exit does not detach them
 *   prog_arm_gate   the program a taker runs before it takes a handoff (taker-armed gate
 *                only, struct gh_trace_arm)
 *
 * Only root may open them (the pins are mode 0600).
 *
 * Requests (invariant I5)
 * -----------------------
 * The kernel side acts only on threads that registered themselves, from their own context
 * (greenhub/request.h): a runtime thread claims a slot, or joins a claimed slot as a carrier,
 * and the registration is kept in maps that user space cannot write: whatever a process writes
 * into its slot page, it cannot make the kernel side act on a thread of another process.
 */
#ifndef GREENHUB_TRACE_H
#define GREENHUB_TRACE_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "greenhub/kside.h"
#include "greenhub/request.h"
#include "greenhub/scx.h"
#include "greenhub/slot.h"

#define GH_TRACE_ABI_VERSION 12
#define GH_TRACE_MAGIC 0x47485452u /* "GHTR" */

/* When scx_greenhub refuses to load because the kernel cannot run any mode, it says why in this
 * file (one line; removed by its next successful load), so that the runtime, which then finds
 * nothing pinned, can tell its users why it runs without kernel assist. */
#define GH_LOADER_STATE_DIR "/run/greenhub"
#define GH_LOADER_REFUSED GH_LOADER_STATE_DIR "/refused"
/* The longest line the loader writes there, newline and NUL included. */
#define GH_LOADER_REFUSED_MAX 1024

#define GH_TRACE_PIN_ROOT "/sys/fs/bpf"
#define GH_TRACE_PIN_DIR GH_TRACE_PIN_ROOT "/greenhub"

/*
 * The real-time signal the runtime reserves in trace mode (kernel numbering: SIGRTMIN is 32,
 * glibc's SIGRTMIN() is 34 because glibc keeps two for itself; 62 is glibc's SIGRTMAX - 2).
 * The kernel side sends it to one thread only: a carrier it handed off, from that carrier's own
 * context, as the carrier returns from its system call while another carrier runs the hub
 * (si_code SI_KERNEL, which kill(2) and sigqueue(3) cannot forge). Its handler waits for the
 * hand-back (transition 4), or takes an idle hub and kicks its idle carrier (transition 5),
 * before the interrupted code runs on. Every carrier keeps it unblocked: a carrier that blocked
 * it would slip through the return gate, so the kernel side never hands off a carrier that has
 * it blocked.
 */
#define GH_TRACE_SIGNO 62

/* The loader's state (gh_trace_control.kside.state). */
enum gh_trace_state {
	/* Maps pinned, programs being attached. The runtime does not attach hubs yet. */
	GH_TRACE_LOADING = GH_KSIDE_LOADING,
	/* Handoffs on. */
	GH_TRACE_RUNNING = GH_KSIDE_RUNNING,
	/* Unloading: no new handoffs; the loader waits until no carrier is displaced (none needs
	 * the return gate any more) before it detaches the programs. The runtime does not attach
	 * new hubs; running hubs go on as in mode none. */
	GH_TRACE_DRAINING = GH_KSIDE_DRAINING,
};

/* Feature bits the loader found (gh_kside_control.features), for reports. */
#define GH_TRACE_F_BTF (1ULL << 0)
#define GH_TRACE_F_TASK_STORAGE (1ULL << 1)
#define GH_TRACE_F_RINGBUF (1ULL << 2)
#define GH_TRACE_F_SCHED_EXT (1ULL << 4) /* the kernel has sched_ext (not used by trace mode) */
#define GH_TRACE_F_FRED (1ULL << 5)      /* the CPU and kernel use FRED entry frames */
/* The kernel's BTF has the task-work kfunc (6.18); whether the return gate can use it is
 * decided by loading (gh_trace_control.gate). */
#define GH_TRACE_F_TASK_WORK (1ULL << 6)

/* The return gate the loaded programs use (gh_trace_control.gate). */
enum gh_trace_gate {
	/* A task work armed at each handoff runs the gate in the carrier's own context on its
	 * way back to user mode (bpf/task_work.bpf.h); nothing runs at other threads' system
	 * call exits. Needs the kfunc, and a verifier that lets a tp_btf program call it. */
	GH_TRACE_GATE_TASK_WORK = 1,
	/* A sys_exit tracepoint program runs the gate at the carrier's system-call exit. */
	GH_TRACE_GATE_SYS_EXIT = 2,
	/* The same task work, armed by the carrier that takes the handoff: it runs
	 * prog_arm_gate (a syscall program, which may call the kfunc where a tp_btf program may
	 * not: 6.18.x) before its CAS, and the displaced carrier's switch-in takes back a
	 * handoff that nobody took (bpf/taker_gate.bpf.h). Nothing runs at other threads'
	 * system call exits. */
	GH_TRACE_GATE_TAKER = 3,
};

/* How the loaded programs keep a hub's grace timer (gh_trace_control.grace_timer;
 * bpf/trace_grace.bpf.h). 0: not recorded (pinned by a loader that kept it per period). */
enum gh_trace_grace_timer {
	/* Started at most once per grace period: a sleep that finds it started to fire before
	 * its own period ends leaves it be, and it serves whatever sleep the hub has when it
	 * fires, starting itself again for the rest. Where a start from the context-switch
	 * program costs an interrupt (the kernel defers it). */
	GH_TRACE_TIMER_PER_PERIOD = 1,
	/* Started at every graced sleep, to fire when that sleep's period ends: it stays a grace
	 * period ahead of the CPU's clock, and fires only for a sleep that outlasts its period.
	 * Where a start there arms the timer at once. */
	GH_TRACE_TIMER_PER_SLEEP = 2,
};

/* Why that way (gh_trace_control.grace_timer_why). */
enum gh_trace_grace_timer_why {
	GH_TRACE_TIMER_ASKED = 1,    /* scx_greenhub --grace-timer */
	GH_TRACE_TIMER_AT_ONCE = 2,  /* the loader's probe: a start there arms it at once */
	GH_TRACE_TIMER_DEFERRED = 3, /* the probe: such a start does not arm it at once */
	GH_TRACE_TIMER_UNPROBED = 4, /* the probe could not be run */
};

#ifndef __bpf__
/* The gate's name, as the loader's log, --stats and the runtime's mode reason say it. */
static inline const char *gh_trace_gate_name(__u32 gate)
{
	switch (gate) {
	case GH_TRACE_GATE_TASK_WORK:
		return "task work";
	case GH_TRACE_GATE_TAKER:
		return "task work armed by the taker";
	case GH_TRACE_GATE_SYS_EXIT:
		return "sys_exit";
	}
	return "unknown";
}
#endif

/* The pin of the taker-armed gate's program, and its argument (the context of a
 * BPF_PROG_TEST_RUN, from the thread that is about to take): the baton word HANDOFF(t) it read
 * and will CAS from. The program's return value: 0 when t's return is gated (or needs no gate:
 * t is the caller, or t is gone), and the taker may CAS; -ESTALE if the slot's word is no longer
 * that one; -EPERM if the caller is no carrier of a hub its process holds; -ETIMEDOUT if the
 * kernel did not add t's task work in time; another -errno if the gate could not be armed. */
#define GH_TRACE_PIN_ARM_GATE "prog_arm_gate"
struct gh_trace_arm {
	__u64 baton;
};

/* Most carriers with a return gate at once, over all processes (the gates map, the task-work
 * gates only). */
#define GH_TRACE_MAX_CARRIERS 16384

/*
 * Short blocks (docs/trace-mode.md, "Short blocks and the grace period"). The policies are
 * sched_ext mode's enum gh_scx_grace (greenhub/scx.h), with the same words on the loader's
 * command line; the slot's grace_policy and grace_ns, when the runtime sets them, override the
 * loader's defaults per hub.
 *
 * The grace period when the loader names none: 1 ms. Much longer than sched_ext mode's: trace
 * mode's handoff and hand-back cost a ring wakeup, the gate's signal and two futex wakes, and
 * on a machine whose CPUs are all busy a sleep that ends on its own (a 10 us nanosleep, a
 * query to a database on the same machine) often lasts well beyond 100 us, waiting for a CPU:
 * with 100 us such hubs handed off sleeps that a spare could not serve any sooner (bench-db's
 * /db in trace mode at half of mode none's rate; bench-short at 0.84x of mode none, against
 * 0.97-0.99x with 1 ms). The adaptive policy keeps reads that only a spare can end immediate,
 * whatever the length; the price is a call that truly blocks on a hub whose sleeps mostly end
 * on their own: handed off up to 1 ms late.
 */
#define GH_TRACE_GRACE_NS_DFL 1000000u
/* The adaptive policy grants a sleep a grace period as a probe once in this many sleeps it
 * hands off at once, if one of them was cancelled meanwhile, to learn whether the hub's sleeps
 * end on their own. */
#define GH_TRACE_GRACE_PROBE 256u
/* A graced sleep that ended on its own counts against waiting if other green threads of the
 * hub were ready when it began and it lasted longer than a handoff would have taken to run
 * them: GH_TRACE_HELD_UP_WAKES times the hub's average wake of a spare, and at least
 * GH_TRACE_HELD_UP_MIN_NS (docs/trace-mode.md, "Short blocks and the grace period"). */
#define GH_TRACE_HELD_UP_WAKES 2u
#define GH_TRACE_HELD_UP_MIN_NS 50000u
/* A wake of a spare counts at most this many times the hub's average wake, so that one
 * outlier (a spare that waited for a CPU) cannot lift the average above the hub's sleeps for
 * good: a hub that waits its sleeps out makes no handoffs, so no wake brings it down again. */
#define GH_TRACE_WAKE_OUTLIER 4u

/*
 * The one entry of the control map: the head and counters every mode has (kside.h), then trace
 * mode's own. gate and gate_why are written once by the loader before it sets state to RUNNING.
 * Counters: bumped by the BPF programs only, never reset while the kernel side is loaded; read
 * by the loader. kside.handoff_latency runs from an owner's block (its switch-out) to the
 * signalled spare's switch-in; kside.nr_spare_wakes counts wakeups written to a hub's ring.
 */
struct gh_trace_control {
	struct gh_kside_control kside;
	__u32 gate; /* enum gh_trace_gate */
	__u16 grace_timer;     /* enum gh_trace_grace_timer, written once by the loader */
	__u16 grace_timer_why; /* enum gh_trace_grace_timer_why */
	/* Why this gate: "" when the preferred one loaded, else what refused it (the verifier's
	 * decisive line, or the missing kfunc). NUL-terminated. */
	char gate_why[192];

	/* Hubs whose spares were woken and none of them has run since: while it is 0 the
	 * context-switch program does not look at the incoming task at all. */
	__s64 nr_woken_pending;

	__u64 nr_fault_sleeps;  /* an owner slept outside a system call: not handed off */
	__u64 nr_deferred;      /* gates deferred to a restarted system call's exit */
	__u64 nr_gate_blocked;  /* the sys_exit gate found the signal blocked (must stay 0) */
	/* Gate signals not seen pending before the carrier's return went on (must stay 0): the
	 * gate waits for a signal the kernel queues through an irq_work (see the BPF file). */
	__u64 nr_gate_late;
	/* Gate signals that were not pending yet right after they were sent (queued through an
	 * irq_work): the gate's wait is what kept those carriers from running on. */
	__u64 nr_gate_waited;

	/* The grace defaults of hubs whose runtime chose none (enum gh_scx_grace, ns), written
	 * once by the loader, like gate. */
	__u32 grace_policy;
	__u32 grace_ns;
	/* Owner sleeps that started a grace period and are not over: while it is 0 the
	 * context-switch program does not look at the incoming task for one. */
	__s64 nr_grace_pending;
	__u64 nr_graced;        /* sleeps that ended within their grace period: no handoff */
	__u64 nr_late_handoffs; /* handoffs the grace timer made: the sleep outlasted it */
	__u64 nr_probes;        /* graced sleeps the adaptive policy granted as probes */
	/* Graced sleeps that the return gate settled because the context-switch program never
	 * saw the carrier switched in (trace_grace.bpf.h, step 4). */
	__u64 nr_graced_at_return;
	/* Graced sleeps whose grace timer would not start: their period ended at once, and they
	 * were handed off as if the timer had fired (trace_grace.bpf.h). */
	__u64 nr_grace_start_failures;
	/* Handoffs whose sleeper returned to find the hub idle with no green thread run since:
	 * the adaptive policy counts them as sleeps that would have ended on their own. */
	__u64 nr_unused_handoffs;
	/* Sleeps that ended within their grace period but held up ready green threads for longer
	 * than a handoff takes: the adaptive policy counts them against waiting. */
	__u64 nr_graced_held_up;
	/* The taker-armed gate (GH_TRACE_GATE_TAKER): gates armed by a taker before it took a
	 * handoff; of them, those whose task work the kernel did not add within the program's
	 * wait (the taker did not take, and looks again 1 ms later: 0-3 in a 30 s stress run in the
	 * 7.3.4 TCG VM, none seen on a 6.18 host); and handoffs that the displaced carrier's
	 * switch-in took back because nobody had taken them. */
	__u64 nr_taker_arms;
	__u64 nr_taker_arms_late;
	/* Arms after which the displaced carrier was running, or not asleep where it could be
	 * handed off (its switch-in went unreported): not taken yet; the taker looks again. */
	__u64 nr_taker_waits;
	__u64 nr_switch_cancels;
	/* The task-work gate (GH_TRACE_GATE_TASK_WORK): gates the grace timer armed on a sleeper
	 * that outlasted its grace period, before its handoff (trace_grace.bpf.h, step 4); of
	 * them, those not in place yet (the kernel had not added the task work) or whose sleeper
	 * was no longer asleep where it could be handed off: the timer looked again a little
	 * later. */
	__u64 nr_timer_gate_arms;
	__u64 nr_timer_gate_waits;
	/* The task-work gate: graced sleeps found over, their carrier in another call than the
	 * one it slept in (its switch-in went unreported), by the grace timer or by the carrier's
	 * next switch-in or return (each may count the same sleep once). */
	__u64 nr_graced_over;
};

/*
 * Per-hub trace state: entry i belongs to the hub in slot i; the common part (kside.h), then
 * trace mode's own. Written by the BPF side only.
 *
 * woken_ns: when a spare of the hub was last woken, until a spare runs (the latency
 * histogram). The counters are zeroed when the slot is granted.
 */
struct gh_trace_hub {
	struct gh_kside_hub kside;
	__u64 woken_ns;
	__u64 nr_fault_sleeps;
	__u64 nr_masked;
	/* The sleep the grace timer waits on (sleeper_tid 0: none): the owner's tid, the baton
	 * word it slept with, and when its grace period ends (ktime ns). */
	__u32 sleeper_tid;
	__u32 sleeper_pid; /* its global pid: the taker-armed gate's timer marks it displaced */
	__u64 sleep_baton;
	__u64 sleep_due_ns;
	/* The adaptive policy's measure, out of GH_SCX_WASTE_ONE (trace_grace.bpf.h): a sleep
	 * that ended within its grace period with no other green thread held up, or a handoff
	 * that bought nothing, moves it up 1/8 of the way; a sleep that outlasted its grace
	 * period, or that held ready green threads up for longer than a handoff takes, moves it
	 * down 1/32. */
	__u32 waste;
	__u32 since_probe;  /* sleeps handed off at once since the last probe */
	__u32 cancels_seen; /* 1: a handoff was cancelled since the last probe */
	__u32 pad2;
	__u64 nr_graced;
	__u64 nr_late_handoffs;
	/* How long a woken spare of the hub usually takes to run: a moving average biased to the
	 * quicker wakes (greenhub_trace.bpf.c, spare_runs()). */
	__u64 wake_avg_ns;
};

/*
 * A carrier's registration: the task-local storage of the carrier's thread, created by the BPF
 * side when the thread itself asks (GH_REQ_JOIN), deleted when it leaves, and freed by the
 * kernel when the thread exits. Written by the BPF side only. Trace mode needs nothing beyond
 * the common registration (kside.h): kside.displaced runs from the handoff to the return gate.
 */
struct gh_trace_carrier {
	struct gh_kside_carrier kside;
	/* 1 from a sleep that started a grace period until the carrier is switched in again,
	 * which settles it: the baton word it slept with (grace_baton) is sealed, or the grace
	 * timer handed the carrier off. */
	__u32 graced;
	/* 1 if other green threads of the hub were ready when that sleep began. */
	__u32 grace_ready;
	__u64 grace_baton;
	__u64 grace_start_ns; /* when that sleep began (ktime ns) */
	/* With the task-work gate: the system call that sleep is in, as its entry saved it (the
	 * number, and the user stack and instruction pointers it was made with). A switch-in or
	 * a grace timer that finds the carrier in another call knows the sleep is over
	 * (trace_grace.bpf.h, step 4). */
	__s64 grace_nr;
	__u64 grace_sp;
	__u64 grace_ip;
	/* The baton word the grace timer armed this carrier's gate against, until the gate runs
	 * (0: none): the gate seals it, so that the timer's handoff from it cannot come after
	 * the carrier's return. */
	__u64 timer_gate_baton;
};

#endif /* GREENHUB_TRACE_H */
