/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sched_ext mode: what the runtime (userspace/lib/backend_scx.c), the loader
 * (userspace/loader/greenhub_scx.c) and the scheduler (bpf/greenhub_scx.bpf.c) share, besides
 * the hub slots of greenhub/slot.h. docs/sched-ext.md explains the design; this header is the
 * ABI.
 *
 * It compiles on both sides, like slot.h: BPF programs include it after vmlinux.h, user space
 * gets the types from <linux/types.h>. Change any layout here only together with
 * GH_SCX_ABI_VERSION: the loader and the runtime refuse pinned maps of another version.
 *
 * The pinned objects
 * ------------------
 * The loader pins everything under GH_SCX_PIN_DIR, so that the scheduler outlives it:
 *
 *   control   ARRAY[1] of struct gh_scx_control, BPF_F_MMAPABLE: versions, the loader's state,
 *             global counters, the handoff-latency histogram and the exit record
 *   slots     ARRAY[GH_MAX_HUBS] of struct gh_hub_slot (slot.h), BPF_F_MMAPABLE: the batons,
 *             and each hub's held ring
 *   hubs      ARRAY[GH_MAX_HUBS] of struct gh_scx_hub: the scheduler's own per-hub state
 *   carriers  TASK_STORAGE of struct gh_scx_carrier: the registration of each carrier
 *   gates     HASH global tid -> struct bpf_task_work: the return gate armed on each handoff
 *             (read-only to user space)
 *   owners, heartbeat, hub_timers, release_timers   the scheduler's own (process exits; its
 *             timers, the heartbeat's in bpf/scx_heartbeat.bpf.h and the grace timers in
 *             bpf/scx_grace.bpf.h), pinned so that their timers and task works outlive the
 *             loader
 *   blocks    BPF ring buffer of block records (greenhub/records.h), written only while a
 *             reader (scx_greenhub --top) is attached
 *   and link_ops (the struct_ops link: while it is pinned the scheduler stays attached),
 *   link_register (the request program), link_exit and link_exec (process exits and execs
 *   release their slots)
 *
 * Only root may open them (mode 0600). A process that uses the scheduler keeps no descriptor
 * that could write any of them: it claims a slot and registers its carriers by requests
 * (greenhub/request.h), maps its own slot's page and, read-only, the control map, and holds the
 * gates map (read-only) and the tracing links while a hub is attached, so that removing the
 * pins cannot take a displaced carrier's gate away. The scheduler acts on a thread only if the
 * thread registered itself, from its own context, for a hub its process holds (I5).
 */
#ifndef GREENHUB_SCX_H
#define GREENHUB_SCX_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "greenhub/kside.h"
#include "greenhub/request.h"
#include "greenhub/slot.h"

#define GH_SCX_ABI_VERSION 5
#define GH_SCX_MAGIC 0x47485358u /* "GHSX" */

#define GH_SCX_PIN_ROOT "/sys/fs/bpf"
#define GH_SCX_PIN_DIR GH_SCX_PIN_ROOT "/greenhub_scx"

/* The scheduler's name, as /sys/kernel/sched_ext/root/ops shows it. */
#define GH_SCX_OPS_NAME "greenhub"

/* The policy carriers run with (uapi SCHED_EXT). */
#define GH_SCX_POLICY 7

/*
 * The real-time signal the runtime reserves in sched_ext mode (kernel numbering; glibc's
 * SIGRTMAX - 3). Trace mode reserves 62 and the runtime itself 63 (GH__SIG_KICK), so a process
 * may run hubs in every mode at once. The scheduler sends it to carriers only, thread-directed,
 * with one of the codes below and si_code SI_KERNEL; the runtime ignores it from anyone else.
 * Carriers keep it unblocked; the scheduler never hands off a carrier that has it blocked.
 */
#define GH_SCX_SIGNO 61

enum gh_scx_sigcode {
	/* To a spare parked on its futex: a handoff is waiting for it (transition 2). */
	GH_SCX_SIG_WAKE = 1,
	/* From the return gate, to a displaced carrier that is about to run user code while
	 * another carrier owns the hub and that no one counted yet: the handler queues it for
	 * the hand-back (gh__carrier_reacquire) and waits. Seen only once the scheduler is gone
	 * (ejected) while the carrier was blocked. */
	GH_SCX_SIG_GATE = 2,
	/* The same for a carrier already counted in return_pending and on the held ring: the
	 * handler only waits until the owner makes it the runner. Seen when the kernel released
	 * a held carrier (ejection) or the scheduler let a long hold go (the watchdog). */
	GH_SCX_SIG_GATE_HELD = 3,
	/* To a displaced carrier that the scheduler just gave an idle hub (transition 5): the
	 * handler kicks the idle carrier out of its epoll wait, which then finds it lost the
	 * hub and parks. */
	GH_SCX_SIG_KICK = 4,
};

/* The loader's state (gh_scx_control.kside.state). */
enum gh_scx_state {
	/* Maps pinned, scheduler being attached. The runtime does not attach hubs yet. */
	GH_SCX_LOADING = GH_KSIDE_LOADING,
	/* Handoffs on. */
	GH_SCX_RUNNING = GH_KSIDE_RUNNING,
	/* Unloading: no new handoffs, held spares are let go; the loader waits until no carrier
	 * is displaced before it detaches. Running hubs go on as in mode none. */
	GH_SCX_DRAINING = GH_KSIDE_DRAINING,
	/* The scheduler has exited (the exit record says why). Written by ops.exit. */
	GH_SCX_EXITED = 3,
};

/*
 * How spares wait (the slot's spare_mode, chosen by the runtime per hub). Both are always
 * served: on a handoff the scheduler takes a held spare if there is one, else signals a
 * parked one.
 */
enum gh_scx_spare_mode {
	/* Runnable in the hub's spare DSQ, never dispatched until a handoff moves it to the CPU
	 * the owner just left (in the same schedule() call). A heartbeat lets each one run
	 * briefly well within the watchdog's timeout. */
	GH_SCX_SPARES_HELD = 0,
	/* Asleep on a futex; the scheduler signals one (GH_SCX_SIG_WAKE) on a handoff. */
	GH_SCX_SPARES_PARKED = 1,
};

/*
 * When an owner's sleep is handed off (the slot's grace_policy, chosen by the runtime per hub;
 * docs/sched-ext.md, "Short blocks and the grace period").
 */
enum gh_scx_grace {
	/* The scheduler's default, which the loader sets (adaptive unless told otherwise). */
	GH_SCX_GRACE_DEFAULT = 0,
	/* Hand every sleep off at once. */
	GH_SCX_GRACE_NEVER = 1,
	/* Wait grace_ns before handing any sleep off. */
	GH_SCX_GRACE_ALWAYS = 2,
	/* Hand off at once while the hub's handoffs pay; wait grace_ns while most of them are
	 * wasted, i.e. the owner's sleep ends before a spare takes the hub (gh_scx_hub.waste). */
	GH_SCX_GRACE_ADAPTIVE = 3,
};

/* The grace period when neither the runtime nor the loader names one: about one tick of Go's
 * sysmon, which waits as long before it takes a P from a goroutine in a system call. */
#define GH_SCX_GRACE_NS_DFL 20000u

/* gh_scx_hub.waste: a moving average of the hub's wasted handoffs, out of GH_SCX_WASTE_ONE
 * (each outcome moves it 1/8 of the way); the adaptive policy waits while it is above half. */
#define GH_SCX_WASTE_ONE 1024u

/* Capacity of a hub's held ring (slot.h): the most carriers of one hub displaced at once. The
 * scheduler refuses a handoff that would exceed it (the owner's sleep then stalls the hub,
 * as in mode none). */
#define GH_SCX_HELD_MAX GH_SLOT_HELD_MAX

/* Most carriers registered at once, over all processes (the gates map). */
#define GH_SCX_MAX_CARRIERS 16384

/* Why the scheduler exited: written once by ops.exit, read by the loader and the runtime. */
struct gh_scx_exit {
	__u32 kind;      /* enum scx_exit_kind; 0 while the scheduler runs */
	__u32 pad;
	__s64 exit_code;
	__u64 at_ns;     /* CLOCK_MONOTONIC ns of ops.exit */
	char reason[128];
	char msg[256];
};

/*
 * The one entry of the control map: the head and counters every mode has (kside.h), then the
 * scheduler's own.
 *
 * kside.state: besides the loader's states, ops.exit writes EXITED.
 * timeout_ms and the grace defaults: written once by the loader before it sets state to
 * RUNNING; read by `scx_greenhub --stats`.
 * test_eject: written by a test (`scx_greenhub --test-eject`); the scheduler's heartbeat reads
 * it and ejects itself with scx_bpf_error(), to exercise the ejection path.
 * exit: written by ops.exit. Counters: bumped by the scheduler only, never reset while it is
 * loaded; read by the loader.
 * kside.handoff_latency runs from an owner's sleep (ops.quiescent) to a spare running on a CPU.
 */
struct gh_scx_control {
	struct gh_kside_control kside;
	__u32 timeout_ms; /* the watchdog timeout the scheduler was loaded with */
	__u32 test_eject;
	/* The defaults of hubs that choose none (enum gh_scx_grace, ns), as loaded: for
	 * --stats. The scheduler reads its own copy from its read-only data. */
	__u32 grace_policy;
	__u32 grace_ns;
	/* 1 if greenhub_presleep is attached: the grace timer's head start on the way into
	 * schedule() (docs/sched-ext.md, "Short blocks and the grace period"). */
	__u32 head_start;
	__u32 pad;

	__u64 nr_holds;          /* a returning carrier kept in its hub's held DSQ */
	__u64 nr_releases;       /* a held carrier dispatched after its hand-back */
	__u64 nr_spare_runs;     /* a held spare moved to the CPU its owner left */
	__u64 nr_heartbeats;     /* held spares let run briefly for the watchdog */
	__u64 nr_long_holds;     /* held carriers let go to the userspace gate (watchdog) */
	__u64 nr_gate_arms;      /* return gates armed (one per handoff) */
	__u64 nr_kicks;          /* KICK sent for an idle return */
	__u64 nr_graced;         /* owner sleeps that ended within the grace period */
	__u64 nr_late_handoffs;  /* handoffs made when a sleep outlasted the grace period */
	__u64 nr_timer_releases; /* hand-backs dispatched by the release timer (of nr_releases) */
	struct gh_scx_exit exit;
};

/*
 * Per-hub scheduler state, entry i for the hub in slot i: the common part (kside.h), then the
 * scheduler's own. Written by the scheduler only (user space cannot write the map);
 * `scx_greenhub --stats` reads it.
 *
 * handoff_cpu: the CPU the owner left at the last handoff, where a signalled spare is sent.
 * Everything but the owner and cookie is reset when the slot is granted.
 */
struct gh_scx_hub {
	struct gh_kside_hub kside;
	__u32 handoff_cpu;
	/* The sleep the grace timer waits on (sleeper_tid 0: none): the owner's tid, its global
	 * tid, the CPU it left, its grace period in ns, the baton word it slept with and when it
	 * began. */
	__u32 sleeper_tid;
	__u32 sleeper_pid;
	__u32 sleeper_cpu;
	__u32 sleep_grace;
	/* The adaptive policy's measure (GH_SCX_WASTE_ONE is all): a handoff cancelled by the
	 * owner's own return, or a sleep that ended within the grace period, moves it up; a
	 * return that finds another carrier took the hub moves it down. */
	__u32 waste;
	__u64 sleep_baton;
	__u64 sleep_ns;
	__u64 nr_graced;       /* sleeps that ended within the grace period: no handoff */
	__u64 nr_spare_runs;
	__u64 nr_long_holds;
};

/*
 * A carrier's registration: the common part (kside.h), then the scheduler's own flags. The
 * registration is acted on only while the hub is still held by the thread's process under the
 * same cookie. kside.displaced is 1 from this carrier's handoff until its return is settled
 * (cancel, takeover, idle return, or dispatch after its hand-back).
 */
struct gh_scx_carrier {
	struct gh_kside_carrier kside;
	/* 1 while kept in the hub's held DSQ, waiting for the hand-back. */
	__u32 held;
	/* ops.yield saw this carrier yield; its next enqueue decides whether to hold it as a
	 * spare. */
	__u32 yielded;
	/* 1 while kept in the hub's spare DSQ. */
	__u32 spare_held;
	/* The return gate must send KICK (this carrier got an idle hub). */
	__u32 kick;
	/* A parked spare this scheduler signalled: place it on wake_cpu, time its wakeup. */
	__u32 woken;
	__s32 wake_cpu;
	__u64 since_ns;   /* when it was last held (as a carrier or as a spare) */
	__u64 woken_ns;   /* when the scheduler last gave this spare a CPU for a handoff */
	__u64 presleep_ns; /* when this owner last entered schedule() with a grace period */
};

#ifndef __bpf__
#include <stdlib.h>
#include <string.h>

/* GREENHUB_SCX_GRACE's and `scx_greenhub --grace`'s words for enum gh_scx_grace; -1 for any
 * other string. */
static inline int gh_scx_grace_parse(const char *s)
{
	if (!strcmp(s, "adaptive"))
		return GH_SCX_GRACE_ADAPTIVE;
	if (!strcmp(s, "always"))
		return GH_SCX_GRACE_ALWAYS;
	if (!strcmp(s, "never"))
		return GH_SCX_GRACE_NEVER;
	return -1;
}

/* A grace period in ns, as GREENHUB_SCX_GRACE_NS and `--grace-ns` take it: a decimal number
 * from 1 to 1000000000 (one second). 0 if s is not one. */
static inline __u32 gh_scx_grace_ns_parse(const char *s)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return 0;
	v = strtoul(s, &end, 10);
	return *end || v > 1000000000ul ? 0 : (__u32)v;
}
#endif

#endif /* GREENHUB_SCX_H */
