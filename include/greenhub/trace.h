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
 *   gates, gate_backups   the task-work return gate of each carrier (task-work gate only)
 *   link_register, link_switch, link_sys_exit, link_exit, link_exec, link_free
 *                the links of the programs; the loader's exit does not detach them
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

#include "greenhub/request.h"
#include "greenhub/slot.h"

#define GH_TRACE_ABI_VERSION 3
#define GH_TRACE_MAGIC 0x47485452u /* "GHTR" */

/* When scx_greenhub refuses to load because the kernel cannot run any mode, it says why in this
 * file (one line; removed by its next successful load), so that the runtime, which then finds
 * nothing pinned, can tell its users why it runs without kernel assist. */
#define GH_LOADER_STATE_DIR "/run/greenhub"
#define GH_LOADER_REFUSED GH_LOADER_STATE_DIR "/refused"

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
};

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
	__u32 gate;      /* enum gh_trace_gate */
	/* The id of this map, which requests name (greenhub/request.h). */
	__u32 kside_id;
	/* Why this gate: "" when the preferred one loaded, else what refused it (the verifier's
	 * decisive line, or the missing kfunc). NUL-terminated. */
	char gate_why[192];

	/* Carriers handed off by the kernel side that have not passed the return gate yet. The
	 * handoff program adds 1 *before* it reads state and takes it back if it then does not
	 * hand off; the loader sets DRAINING and then reads this: a Dekker pair (both sides use
	 * full barriers), so once the loader reads 0 after setting DRAINING, no carrier needs the
	 * gate and none will. Signed: a transient -1 is impossible, but a gauge must not wrap. */
	__s64 nr_displaced;
	/* Hubs whose spares were woken and none of them has run since: while it is 0 the
	 * context-switch program does not look at the incoming task at all. */
	__s64 nr_woken_pending;

	__u64 nr_handoffs;      /* RUN -> HANDOFF by the kernel side */
	__u64 nr_cancels;       /* HANDOFF(t) -> RUN(t) at t's syscall exit */
	__u64 nr_takeovers;     /* HANDOFF(u) -> RUN(t) at t's syscall exit (u another carrier) */
	__u64 nr_idle_returns;  /* IDLE(s) -> RUN(t) at t's syscall exit */
	__u64 nr_gates;         /* gate signals: t returned while RUN(s) or IDLE(s) */
	__u64 nr_wakes;         /* wakeups written to a hub's ring */
	__u64 nr_wake_misses;   /* handoffs with no spare parked (or no ring to write to) */
	__u64 nr_fault_sleeps;  /* an owner slept outside a system call: not handed off */
	__u64 nr_loop_sleeps;   /* an owner slept in the hub loop, outside green threads: idem */
	__u64 nr_masked;        /* an owner slept with the gate signal blocked: not handed off */
	__u64 nr_refused;       /* handoffs refused because the loader is draining */
	__u64 nr_deferred;      /* gates deferred to a restarted system call's exit */
	__u64 nr_gate_blocked;  /* the sys_exit gate found the signal blocked (must stay 0) */
	__u64 nr_bound;         /* carriers registered (joins granted) */
	__u64 nr_rejected;      /* requests refused (another process's slot, a bad request) */
	__u64 nr_exit_cleanups; /* hubs released because their process exited or exec'd */
	__u64 nr_gate_failures; /* handoffs not made because the gate could not be armed */
	/* Gate signals not seen pending before the carrier's return went on (must stay 0): the
	 * gate waits for a signal the kernel queues through an irq_work (see the BPF file). */
	__u64 nr_gate_late;
	/* Gate signals that were not pending yet right after they were sent (queued through an
	 * irq_work): the gate's wait is what kept those carriers from running on. */
	__u64 nr_gate_waited;
	__u64 nr_claims;        /* slots granted */
	/* An owner slept while its process had another handler for the gate signal than the
	 * runtime's (the application changed it): not handed off. */
	__u64 nr_gate_unhandled;
	/* Latency from an owner's block (its switch-out) to the signalled spare's switch-in. */
	struct gh_trace_hist wake_latency;
};

/*
 * Per-hub trace state: entry i belongs to the hub in slot i. Written by the BPF side only.
 *
 * owner_tgid: the global tgid of the process holding the slot, 0 when free; owner_vtgid the
 * same in that process's pid namespace; cookie: the hub's claim cookie, which every
 * registration of the hub carries, so that a registration outliving its hub (the process
 * released the slot and claimed it again) is not taken for one of the new hub. Set by a CLAIM,
 * cleared by a RELEASE or the owner's exit or exec. The kernel acts on a carrier only if its
 * registration's hub is held by the carrier's own process under the registration's cookie (I5).
 * woken_ns: when a spare of the hub was last woken, until a spare runs (the latency
 * histogram). The counters are zeroed when the slot is granted.
 */
struct gh_trace_hub {
	__u32 owner_tgid;
	__u32 owner_vtgid;
	__u64 cookie;
	__s64 nr_displaced; /* gauge, as the control's */
	__u64 woken_ns;
	__u64 nr_wakes;
	__u64 nr_wake_misses;
	__u64 nr_gates;
	__u64 nr_fault_sleeps;
	__u64 nr_masked;
	struct gh_trace_hist wake_latency;
};

/*
 * A carrier's registration: the task-local storage of the carrier's thread, created by the BPF
 * side when the thread itself asks (GH_TRACE_OP_JOIN), deleted when it leaves, and freed by the
 * kernel when the thread exits. Written by the BPF side only.
 */
struct gh_trace_carrier {
	__u32 hub;  /* slot index */
	__u32 tid;  /* gettid() of the carrier, as the baton word names it */
	__u64 cookie; /* the hub's claim cookie at the join */
	/* The address, in the carrier's process, of a pointer that is non-NULL exactly while the
	 * carrier runs a green thread (struct gh__carrier.green). Only blocks inside a green
	 * thread hand off: the hub loop's own brief sleeps (a contended lock, munmap) do not, so
	 * a carrier is never displaced where the runtime does not expect it to be, e.g. while it
	 * stops a finished hub. Read by the BPF side with bpf_probe_read_user on the carrier
	 * itself. */
	__u64 green_addr;
	/* The runtime's handler of the gate signal, as the carrier joined: a carrier whose
	 * process has another disposition for the signal now (the application changed it) is
	 * never handed off, since its return could not be gated. */
	__u64 gate_handler;
	/* 1 from the kernel side's handoff of this carrier until its return gate. */
	__u32 displaced;
	__u32 pad;
	__u64 handoff_ns; /* when the kernel side last handed this carrier off */
};

#endif /* GREENHUB_TRACE_H */
