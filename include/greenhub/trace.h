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
 *                state, global counters and the handoff-latency histogram
 *   slots        ARRAY[GH_MAX_HUBS] of struct gh_hub_slot (slot.h), BPF_F_MMAPABLE: the batons
 *   hubs         ARRAY[GH_MAX_HUBS] of struct gh_trace_hub, BPF_F_MMAPABLE: per-hub trace state
 *                (which spare to wake) and the kernel side's per-hub counters
 *   carriers     TASK_STORAGE of struct gh_trace_carrier: the registration of each carrier
 *   owners       HASH global tgid -> hubs owned, so that a process exit finds its slots
 *   link_switch, link_sys_exit, link_exit, link_exec
 *                the links of the four programs; the loader's exit does not detach them
 *
 * Only root may open them (the pins are mode 0600). A process that can open them can also
 * write every slot of the mapped arrays: the kernel side checks on every action that the thread
 * it acts on is registered for that hub and belongs to the process owning it (invariant I5),
 * but processes sharing access to the pins trust each other with their slots' contents.
 */
#ifndef GREENHUB_TRACE_H
#define GREENHUB_TRACE_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "greenhub/slot.h"

#define GH_TRACE_ABI_VERSION 2
#define GH_TRACE_MAGIC 0x47485452u /* "GHTR" */

#define GH_TRACE_PIN_ROOT "/sys/fs/bpf"
#define GH_TRACE_PIN_DIR GH_TRACE_PIN_ROOT "/greenhub"

/*
 * The real-time signal the runtime reserves in trace mode (kernel numbering: SIGRTMIN is 32,
 * glibc's SIGRTMIN() is 34 because glibc keeps two for itself; 62 is glibc's SIGRTMAX - 2).
 * The kernel side sends it to carriers only, thread-directed, with one of the codes below in
 * si_value and si_code SI_KERNEL; the runtime's handler ignores it from anyone else. Every carrier
 * keeps it unblocked: a carrier that blocked it would slip through the return gate, so the
 * kernel side never hands off a carrier that has it blocked.
 */
#define GH_TRACE_SIGNO 62

enum gh_trace_sigcode {
	/* To a parked spare: a handoff is waiting for you (transition 2). The handler sets the
	 * spare's wake word; the spare's futex wait then returns. */
	GH_TRACE_SIG_WAKE = 1,
	/* To a displaced carrier whose call returned while another carrier runs the hub
	 * (transition 4): the handler waits for the hand-back before the interrupted code (the
	 * C library around the system call) runs on. */
	GH_TRACE_SIG_GATE = 2,
	/* To a displaced carrier that the kernel side just gave an idle hub (transition 5): the
	 * handler kicks the idle carrier, whose tid is the value's bits above GH_TRACE_SIG_SHIFT,
	 * out of its poll the runtime's way, so that it sees it lost the hub and parks. */
	GH_TRACE_SIG_KICK = 3,
};

/* si_value: the code in the low bits, a tid (KICK) above them. */
#define GH_TRACE_SIG_SHIFT 8
#define GH_TRACE_SIG_CODE_MASK 0xffULL

/* The loader's state (gh_trace_control.state). */
enum gh_trace_state {
	/* Maps pinned, programs being attached. The runtime does not attach hubs yet. */
	GH_TRACE_LOADING = 0,
	/* Handoffs on. */
	GH_TRACE_RUNNING = 1,
	/* Unloading: no new handoffs; the loader waits until no carrier is displaced (none needs
	 * the return gate any more) before it detaches the programs. The runtime does not attach
	 * new hubs; running hubs go on as in mode none. */
	GH_TRACE_DRAINING = 2,
};

/* Handoff-latency histogram: bucket i counts latencies in [2^(i-1), 2^i) microseconds, bucket
 * 0 those under 1 us, the last one everything longer. */
#define GH_TRACE_HIST_BUCKETS 24

struct gh_trace_hist {
	__u64 bucket[GH_TRACE_HIST_BUCKETS];
	__u64 count;
	__u64 sum_ns;
	__u64 max_ns;
};

/* Feature bits the loader found (gh_trace_control.features), for reports. */
#define GH_TRACE_F_BTF (1ULL << 0)
#define GH_TRACE_F_TASK_STORAGE (1ULL << 1)
#define GH_TRACE_F_SEND_SIGNAL_TASK (1ULL << 2)
#define GH_TRACE_F_TASK_FROM_VPID (1ULL << 3)
#define GH_TRACE_F_SCHED_EXT (1ULL << 4) /* the kernel has sched_ext (not used by trace mode) */
#define GH_TRACE_F_FRED (1ULL << 5)      /* the CPU and kernel use FRED entry frames */
/* The kernel has the task-work kfunc (6.18): the return gate is a task work armed at each
 * handoff, and no sys_exit program is attached (bpf/task_work.bpf.h says why). */
#define GH_TRACE_F_TASK_WORK (1ULL << 6)

/* Most carriers with a return gate at once, over all processes (the gates map, task-work gate
 * only). */
#define GH_TRACE_MAX_CARRIERS 16384

/*
 * The one entry of the control map.
 *
 * magic, the versions, mode, signo, loader_pid, loaded_ns and features: written once by the loader
 * before it sets state to RUNNING; read by the runtime (to refuse an incompatible or stopping
 * kernel side) and by `scx_greenhub --stats`.
 * state: written by the loader (LOADING -> RUNNING -> DRAINING) through its mapping of the
 * array; read by the BPF programs on every handoff and by the runtime when a hub attaches.
 * Counters: bumped by the BPF programs only, never reset while the kernel side is loaded; read
 * by the loader.
 */
struct gh_trace_control {
	__u32 magic;
	__u32 slot_abi;  /* GH_SLOT_ABI_VERSION */
	__u32 trace_abi; /* GH_TRACE_ABI_VERSION */
	__u32 state;     /* enum gh_trace_state */
	__u32 mode;      /* the kernel side loaded: enum gh_mode of greenhub.h (2: trace) */
	__u32 signo;     /* the gate signal, GH_TRACE_SIGNO */
	__u32 loader_pid;
	__u32 pad;
	__u64 loaded_ns; /* CLOCK_REALTIME ns when the loader pinned the objects */
	__u64 features;  /* GH_TRACE_F_* */

	/* Carriers handed off by the kernel side that have not passed the return gate yet. The
	 * handoff program adds 1 *before* it reads state and takes it back if it then does not
	 * hand off; the loader sets DRAINING and then reads this: a Dekker pair (both sides use
	 * full barriers), so once the loader reads 0 after setting DRAINING, no carrier needs the
	 * gate and none will. Signed: a transient -1 is impossible, but a gauge must not wrap. */
	__s64 nr_displaced;
	/* Spares signalled whose first run after the signal has not been seen yet: while it is
	 * 0 the context-switch program does not look at the incoming task at all. */
	__s64 nr_woken_pending;

	__u64 nr_handoffs;      /* RUN -> HANDOFF by the kernel side */
	__u64 nr_cancels;       /* HANDOFF(t) -> RUN(t) at t's syscall exit */
	__u64 nr_takeovers;     /* HANDOFF(u) -> RUN(t) at t's syscall exit (u another carrier) */
	__u64 nr_idle_returns;  /* IDLE(s) -> RUN(t) at t's syscall exit */
	__u64 nr_gates;         /* gate signals: t returned while RUN(s) */
	__u64 nr_wakes;         /* spares signalled */
	__u64 nr_wake_misses;   /* handoffs with no spare to signal (or the signal failed) */
	__u64 nr_fault_sleeps;  /* an owner slept outside a system call: not handed off */
	__u64 nr_loop_sleeps;   /* an owner slept in the hub loop, outside green threads: idem */
	__u64 nr_masked;        /* an owner slept with the gate signal blocked: not handed off */
	__u64 nr_refused;       /* handoffs refused because the loader is draining */
	__u64 nr_deferred;      /* gates deferred to a restarted system call's exit */
	__u64 nr_gate_blocked;  /* the sys_exit gate found the signal blocked (must stay 0) */
	__u64 nr_bound;         /* carriers whose registration the kernel side checked and took */
	__u64 nr_rejected;      /* registrations that did not match the registering thread */
	__u64 nr_exit_cleanups; /* hubs released because their process exited or exec'd */
	__u64 nr_gate_failures; /* handoffs not made because the gate could not be armed */
	/* Latency from an owner's block (its switch-out) to the signalled spare's switch-in. */
	struct gh_trace_hist wake_latency;
};

/*
 * Per-hub trace state: entry i belongs to the hub in slot i.
 *
 * spare_tid: the parked spare the kernel side signals on a handoff (its tid as the runtime
 * sees it). Written by the runtime under the hub's carrier_lock whenever a spare parks or
 * leaves the parked list; read by the handoff program. A stale value is harmless: the program
 * checks that the thread is a registered carrier of this hub, and a spare that wakes with
 * nothing to do parks again.
 * owner_tgid: the global tgid of the process owning the hub. Written by the BPF side when it
 * binds the hub's first carrier (it checks that the carrier's own-namespace tgid is the slot's
 * tgid); zeroed by the runtime when it claims or releases the slot and by the BPF side when the
 * owner exits. The kernel acts on a carrier only if its tgid equals this (I5).
 * The counters are bumped by the BPF side and zeroed by the runtime when it claims the slot.
 */
struct gh_trace_hub {
	__u32 spare_tid;
	__u32 owner_tgid;
	__s64 nr_displaced; /* gauge, as the control's */
	__u64 nr_wakes;
	__u64 nr_wake_misses;
	__u64 nr_gates;
	__u64 nr_fault_sleeps;
	__u64 nr_masked;
	struct gh_trace_hist wake_latency;
};

/* gh_trace_carrier.bound */
enum gh_trace_bound {
	GH_TRACE_UNBOUND = 0, /* registered by user space, not yet checked by the kernel side */
	GH_TRACE_BOUND = 1,   /* checked: the kernel side acts on it */
	GH_TRACE_REJECTED = 2 /* did not match the thread it is attached to: ignored */
};

/*
 * A carrier's registration: the task-local storage of the carrier's thread.
 *
 * The runtime creates it from the carrier's own thread (carrier_attach), through a pidfd of
 * that thread, with hub, tid, tgid and abi set and every other field zero, and deletes it when
 * the carrier detaches; the kernel frees it when the thread exits. The other fields are written
 * by the BPF side only.
 */
struct gh_trace_carrier {
	__u32 hub;  /* slot index */
	__u32 tid;  /* gettid() of the carrier, as the baton word names it */
	__u32 tgid; /* getpid(), as the slot's tgid */
	__u32 abi;  /* GH_TRACE_ABI_VERSION */
	/* The address, in the carrier's process, of a pointer that is non-NULL exactly while the
	 * carrier runs a green thread (struct gh__carrier.green). Only blocks inside a green
	 * thread hand off: the hub loop's own brief sleeps (a contended lock, munmap) do not, so
	 * a carrier is never displaced where the runtime does not expect it to be, e.g. while it
	 * stops a finished hub. Read by the BPF side with bpf_probe_read_user on the carrier
	 * itself. */
	__u64 green_addr;
	/* enum gh_trace_bound: the BPF side checks tid and tgid against the thread's own
	 * pid-namespace ids the first time it sees the thread sleep, and records the result. */
	__u32 bound;
	/* 1 from the kernel side's handoff of this carrier until its return gate. */
	__u32 displaced;
	__u64 handoff_ns; /* when the kernel side last handed this carrier off */
	__u64 woken_ns;   /* when the kernel side last signalled this spare; 0 once it ran */
};

#endif /* GREENHUB_TRACE_H */
