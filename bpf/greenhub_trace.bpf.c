// SPDX-License-Identifier: GPL-2.0-only
/*
 * greenhub trace mode: the kernel side of the baton protocol on kernels without sched_ext
 * (docs/design.md, docs/trace-mode.md).
 *
 * Glossary
 *   owner      the carrier named by RUN(t) in a hub's baton word (slot.h).
 *   spare      a carrier parked in the runtime, waiting for a handoff on its hub's wake ring.
 *   displaced  a carrier that this file handed off (gh_kside_carrier.displaced): it is blocked
 *              in a system call and must pass the return gate before it runs user code again.
 *   gate       what happens on a displaced carrier's way back to user mode: the call's result
 *              is fixed; the carrier either takes the hub back here (a cancel, or another
 *              blocked carrier's handoff), or is sent GH_TRACE_SIGNO, whose handler
 *              (userspace/lib/backend_trace.c) takes the hub or waits for the hand-back before
 *              the interrupted code runs on.
 *   request    a runtime thread asking, from its own context, for a slot or a registration
 *              (greenhub/trace.h): the only way anything gets registered (I5).
 *
 * The design
 *   greenhub_register (tp_btf/task_rename) serves requests: a thread renames itself to its own
 *   name with prctl(PR_SET_NAME, name, GH_TRACE_REQ_MAGIC, &request); the program finds the
 *   magic in the thread's own system-call registers, reads the request from the thread's
 *   memory, and grants a slot to the thread's process or records the thread as a carrier of a
 *   slot its process holds. Registrations (carriers) and ownership (hubs) live in maps that
 *   user space cannot write, so a process can only ever make the kernel act on its own threads.
 *
 *   greenhub_sched_switch (tp_btf/sched_switch), on an owner that goes to sleep (!preempt and
 *   prev_state != 0) inside a system call made from a green thread (not from the hub loop's
 *   own brief waits; see gh_kside_carrier.green_addr): CAS RUN(t) -> HANDOFF(t) (transition 1),
 *   mark t displaced, and write a wakeup into the hub's ring buffer, on which the hub's parked
 *   spares wait. The same program feeds the latency histogram when a woken spare is switched
 *   in.
 *
 *   The return gate, on a displaced carrier t on its way back to user mode: a task work the
 *   handoff arms on t (resume_gate; bpf/task_work.bpf.h says why a signal from sys_exit is
 *   slower to prove); or the same task work armed by the carrier that takes the handoff,
 *   through greenhub_arm_gate (taker_gate.bpf.h); or else greenhub_sys_exit (tp_btf/sys_exit).
 *   The loader decides which by loading: a kernel whose verifier refuses the task-work kfunc
 *   in a tp_btf program (6.18.x) gets the taker-armed gate, one that lacks the kfunc (before
 *   6.18) the sys_exit gate. All run return_gate(): HANDOFF(t) -> RUN(t) (cancel, transition
 *   3) or HANDOFF(u) -> RUN(t) (take a handoff another blocked carrier left; not with the
 *   taker-armed gate), no signal; any other state, GH_TRACE_SIGNO to t itself, whose handler
 *   does transitions 2, 4 and 5 the runtime's way (gh__carrier_reacquire). runner_tid is set
 *   whenever this file moves the baton to RUN(t).
 *
 *   greenhub_process_exit (tp_btf/sched_process_exit) and greenhub_process_exec
 *   (tp_btf/sched_process_exec), from requests.bpf.h,
 *   leave nothing behind (I6): a dying carrier's baton moves on and its process's slots are
 *   released when the process exits or replaces its image.
 *
 *   Only sleeps inside a system call hand off: a page fault has no exit tracepoint, so nothing
 *   could hold its return. The test reads the task's user-entry frame (task_pt_regs), which
 *   costs nothing on the paths of other threads. With FRED, the frame's event type says
 *   "syscall". With IDT entry, the exception and interrupt entry code stores -1 in orig_ax
 *   ("no syscall to restart"), so orig_ax >= 0 is a system call's frame; and entry_SYSCALL_64
 *   also leaves ax at -ENOSYS until the call returns, cx equal to ip and r11 equal to flags
 *   (SYSCALL saved RIP in RCX and RFLAGS in R11; a fault frame's flags carry RF as well), which
 *   are checked too. tests/bpf/test_bpf_uffd makes the closest fault it can (a load right after
 *   a SYSCALL that returned -ENOSYS) and checks that it is not handed off. Kernel-mode faults
 *   inside a system call (copy_to_user on a userfaultfd page) do hand off: the call's return
 *   goes through the gate.
 *
 *   The gate's signal, and why the gate waits for it: bpf_send_signal_thread() signals the
 *   current thread. Since "bpf: Send signals asynchronously if !preemptible" (2025, in the
 *   stable series) it does so from a tracepoint only through an irq_work, which the CPU takes
 *   as soon as interrupts are enabled, and they are, at sys_exit: but "as soon" is not "before
 *   the return to user mode", and under qemu TCG it was after it. So the gate spins, with
 *   interrupts on, until the signal is pending on the thread (wait_signal_pending()): then the
 *   return path is bound to deliver it before any user code. A kernel that sends at once ends
 *   the spin at its first look. nr_gate_late counts a spin that gave up (never seen).
 *
 *   Spares wait on a ring buffer of their hub (wake_rings): a wakeup costs one record and an
 *   irq_work, like a signal (bench/handoff measures both), needs no kfunc (6.13's
 *   bpf_send_signal_task, 6.12's bpf_task_from_vpid) and sends nothing to any thread but the
 *   current one. A ring is created by the hub's own runtime and put at its slot's index.
 *
 * Alternatives rejected
 *   - Registration by the runtime writing the task storage through a pidfd: a thread's pidfd
 *     needs Linux 6.9, and a process could register any thread of the machine, with any field
 *     values (a privilege-dropped process made the gate kill an unrelated root process).
 *   - Waking a spare with bpf_send_signal_task(): 6.13 and later only, and a signal to a tid
 *     that user space names.
 *   - sys_enter + sys_exit tracking of "in a syscall": exact, but sys_enter costs every system
 *     call of the machine (bench/watch-cost measures it); the entry frame says the same for
 *     free.
 *   - A hash map of carrier tids: a lookup on every system call of the machine. Task storage is
 *     one pointer load for threads that have none.
 *   - Sending the gate signal when the returning carrier is woken rather than at its exit:
 *     a pending signal can interrupt a call that has not finished, and the caller sees EINTR.
 *   - bpf_loop() for the scans: Linux 5.17. bpf_for_each_map_elem() (5.13) bounds them as well.
 *
 * Memory ordering
 *   - Every baton change is a CAS on the mapped slot (a full barrier on the architectures
 *     supported), like the runtime's seq_cst CASes; runner_tid is written after the CAS that
 *     made t the owner and before t can run green code (t is blocked, or is current here).
 *   - Drain (the loader stopping): the handoff path adds 1 to nr_displaced with an atomic add
 *     and only then reads state; the loader stores DRAINING and then reads nr_displaced. One of
 *     the two sees the other, so a loader that reads 0 after DRAINING has no handoff in flight.
 *   - A slot is granted by a CAS of hubs[i].owner_tgid from 0, and its slot page is published
 *     (flags, claim_cookie) after; a release clears the page first and owner_tgid last.
 *   - Counters and histograms are updated with atomic adds; the histogram's max is a racy
 *     store (two handoffs finishing at once may lose the larger max: statistics only).
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "greenhub/trace.h"
#include "entry_frame.bpf.h"
#include "task_work.bpf.h"

#if !defined(__TARGET_ARCH_x86)
#error "greenhub_trace.bpf.c reads x86-64 entry frames; other architectures need their own test"
#endif

char LICENSE[] SEC("license") = "GPL";

#define ENOSYS 38
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516
#define NR_RT_SIGRETURN 15 /* x86-64 */
#define NR_PPOLL 271       /* x86-64 */
#define PF_KTHREAD 0x00200000
#define SIGNAL_GROUP_EXIT 0x4

/* The gate signal; set by the loader through the skeleton's rodata. */
const volatile int gate_signo = GH_TRACE_SIGNO;
/* 1: the return gate is a task work armed at each handoff (the loader found that this kernel
 * accepts it), and the loader leaves greenhub_sys_exit unattached; 0: greenhub_sys_exit is
 * the gate. */
const volatile __u32 gate_task_work = 0;
/* 1: the return gate is the same task work, armed by the carrier that takes a handoff
 * (taker_gate.bpf.h), and the loader leaves greenhub_sys_exit unattached. */
const volatile __u32 gate_by_taker = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gh_trace_control);
} control SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, GH_MAX_HUBS);
	__type(key, __u32);
	__type(value, struct gh_hub_slot);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, GH_MAX_HUBS);
	__type(key, __u32);
	__type(value, struct gh_trace_hub);
} hubs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct gh_trace_carrier);
} carriers SEC(".maps");

/* The template of each hub's wake ring: one page, far more than the few wakeups that wait for
 * a spare to drain them. */
struct wake_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, GH_MAX_HUBS);
	__type(key, __u32);
	__array(values, struct wake_ring);
} wake_rings SEC(".maps");

/* The return gate of each carrier when it is a task work (bpf/task_work.bpf.h). Read-only to
 * user space: the runtimes hold these maps (a map's task works are cancelled when its last
 * user reference goes), and none may delete another's gate through its descriptor. */
struct gate_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_RDONLY);
	__uint(max_entries, GH_TRACE_MAX_CARRIERS);
	__type(key, __u32);
	__type(value, struct gh_gate);
};

struct gate_map gates SEC(".maps");
/* The second arming of each carrier's gate, from the CPU it returns on (gh_arm_gate_here()). */
struct gate_map gate_backups SEC(".maps");

/* Global tgid -> the process that owns (or owned) a hub (greenhub/request.h): a process exit
 * looks here before it scans the slots. Written by the BPF side only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4 * GH_MAX_HUBS);
	__type(key, __u32);
	__type(value, struct gh_owner);
} owners SEC(".maps");

/* The rounds of the gate's wait for its signal (wait_signal_pending()): each entry is one
 * round of SPIN_ROUND looks. */
#define SPIN_ROUNDS 256
#define SPIN_ROUND 64

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SPIN_ROUNDS);
	__type(key, __u32);
	__type(value, __u32);
} spin_rounds SEC(".maps");

/* The parts of the protocol that the scheduler (greenhub_scx.bpf.c) shares, over the common
 * parts (kside member) of this file's types and the maps above. */
#include "baton.bpf.h"
#include "requests.bpf.h"
#include "records.bpf.h"

static __always_inline struct gh_trace_control *ctl(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&control, &zero);
}

/* The hub p's registration names, with its slot, if p's process still holds it (owned()). */
static struct gh_trace_hub *owned_hub(struct task_struct *p, struct gh_trace_carrier *st,
				      struct gh_hub_slot **slotp)
{
	struct gh_kside_hub *k;

	if (!owned(p, &st->kside, slotp, &k))
		return NULL;
	return container_of(k, struct gh_trace_hub, kside);
}

/* A slot was granted (requests.bpf.h): trace mode's own counters start over. */
static void hub_claimed(struct gh_kside_hub *k)
{
	struct gh_trace_hub *hub = container_of(k, struct gh_trace_hub, kside);

	hub->woken_ns = 0;
	hub->nr_fault_sleeps = 0;
	hub->nr_masked = 0;
	/* No sleep: a grace timer still started for the previous holder finds none. */
	hub->sleeper_tid = 0;
	hub->sleep_baton = 0;
	hub->sleep_due_ns = 0;
	hub->waste = 0;
	hub->since_probe = 0;
	hub->cancels_seen = 0;
	hub->nr_graced = 0;
	hub->nr_late_handoffs = 0;
	hub->wake_avg_ns = 0;
}

static void grace_timer_setup(__u32 h);

/* A carrier joined (requests.bpf.h): no grace period pending; its hub's grace timer set up. */
static void carrier_joined(struct gh_kside_carrier *k)
{
	struct gh_trace_carrier *st = container_of(k, struct gh_trace_carrier, kside);

	st->graced = 0;
	grace_timer_setup(k->hub);
}

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                              */

/* A signal that will be delivered at p's return to user mode (other than by us). */
static bool signal_due(struct task_struct *p)
{
	__u64 pending = p->pending.signal.sig[0] |
			BPF_CORE_READ(p, signal, shared_pending.signal.sig[0]);

	return (pending & ~p->blocked.sig[0]) != 0;
}

/* Wake the hub's parked spares: one record into the hub's ring, whose reader is woken at once
 * (through an irq_work, never under the scheduler's locks). */
static void wake_spare(struct gh_trace_control *c, __u32 idx, struct gh_hub_slot *slot,
		       struct gh_trace_hub *hub, __u64 now)
{
	void *ring;

	/* The runtime's hint that a spare is parked: without one nobody reads the ring, and a
	 * spare about to park sees the HANDOFF itself (transition 6). */
	if (!slot->spare_tid)
		goto miss;
	ring = bpf_map_lookup_elem(&wake_rings, &idx);
	if (!ring || bpf_ringbuf_output(ring, &now, sizeof(now), BPF_RB_FORCE_WAKEUP))
		goto miss;
	if (__sync_val_compare_and_swap(&hub->woken_ns, 0, now) == 0)
		__sync_fetch_and_add(&c->nr_woken_pending, 1);
	spare_woken(&c->kside, &hub->kside);
	return;
miss:
	/* Besides a spare that parks, the runtime's sysmon may take the HANDOFF (transition 6). */
	spare_missed(&c->kside, &hub->kside);
}

/* ---------------------------------------------------------------------------------------- */
/* Transition 1: an owner blocks                                                              */

/* The displaced mark and the gauges move together. A handoff adds 1 to the gauges before its
 * CAS (the drain's Dekker pair, below); marking its carrier pairs with that add, so a mark that
 * was already there gives it back; only a mark taken off takes 1 off. Exchanges, since with
 * the taker-armed gate a grace timer on another CPU may mark a carrier while the carrier's own
 * context takes a stale mark off (taker_gate.bpf.h). */
static void mark_displaced(struct gh_trace_control *c, struct gh_trace_hub *hub,
			   struct gh_trace_carrier *st)
{
	if (__sync_lock_test_and_set(&st->kside.displaced, 1))
		displaced_add(&c->kside, hub ? &hub->kside : NULL, -1);
}

static bool unmark_displaced(struct gh_trace_control *c, struct gh_trace_hub *hub,
			     struct gh_trace_carrier *st)
{
	if (!__sync_lock_test_and_set(&st->kside.displaced, 0))
		return false;
	displaced_add(&c->kside, hub ? &hub->kside : NULL, -1);
	return true;
}

/* Transition 1 by the kernel side: RUN(tid) word b -> HANDOFF(tid), flagged GH_BATON_KERNEL
 * (its carrier sleeps in a system call, and its return must be gated: taker_gate.bpf.h). */
static bool kernel_hand_off(struct gh_hub_slot *slot, __u64 b, __u32 tid)
{
	__u64 next = gh_baton_next(b, GH_BATON_HANDOFF, tid) | GH_BATON_KERNEL;

	return __sync_val_compare_and_swap(&slot->baton, b, next) == b;
}

/* A request from st's own thread while st is marked displaced (requests.bpf.h): with the
 * taker-armed gate the mark can be stale (taker_gate.bpf.h), and is settled; with the other
 * gates a marked carrier runs its own code only after its gate took the mark off. */
static bool stale_mark_settled(struct task_struct *p, struct gh_kside_carrier *k)
{
	struct gh_trace_carrier *st = container_of(k, struct gh_trace_carrier, kside);
	struct gh_trace_control *c = ctl();
	struct gh_hub_slot *slot;

	if (!gate_by_taker || !c)
		return false;
	unmark_displaced(c, owned_hub(p, st, &slot), st);
	return true;
}

/* Why carrier p (registration st), asleep, may not be handed off; GH_BLOCK_HANDED_OFF (0) if it
 * may. It must sleep inside a system call (*nr, its number), not rt_sigreturn, whose exit must
 * never be signalled, made from a green thread, with the gate signal deliverable to the
 * runtime's handler. The one rule for a handoff (owner_sleeps()) and for a taker of one
 * (taker_gate.bpf.h). */
static __always_inline int not_gateable(struct task_struct *p, struct gh_trace_carrier *st,
					long *nr)
{
	if (!in_syscall(p, nr))
		return GH_BLOCK_FAULT_SLEEP;
	if (*nr == NR_RT_SIGRETURN)
		return GH_BLOCK_SIGRETURN;
	if (!in_green_thread(&st->kside))
		return GH_BLOCK_LOOP_SLEEP;
	if (gate_masked(p, gate_signo))
		return GH_BLOCK_MASKED;
	if (!gate_handled(p, &st->kside, gate_signo))
		return GH_BLOCK_GATE_UNHANDLED;
	return GH_BLOCK_HANDED_OFF;
}

static int resume_gate(struct bpf_map *map, void *key, void *value);
/* The taker-armed gate's grace timer marks the sleeper it handed off (taker_gate.bpf.h). */
static void timer_marks_sleeper(struct gh_trace_control *c, struct gh_trace_hub *hub, __u32 tid,
				__u64 now);
/* The task-work gate's grace timer: the sleeper's gate in place, then the handoff (same file). */
struct grace_timer;
static __always_inline void timer_gates_and_hands_off(struct gh_trace_control *c,
						      struct grace_timer *gt, __u32 h,
						      struct gh_hub_slot *slot,
						      struct gh_trace_hub *hub, __u64 b);

/* Short blocks: whether and when an owner's sleep is handed off (trace_grace.bpf.h). */
#include "trace_grace.bpf.h"

/* The taker-armed gate: its program, and the switch-in that takes back an untaken handoff. */
#include "taker_gate.bpf.h"

static void owner_sleeps(struct task_struct *p)
{
	struct gh_trace_carrier *st = bpf_task_storage_get(&carriers, p, 0, 0);
	struct gh_trace_control *c;
	struct gh_kside_block *note;
	struct gh_hub_slot *slot;
	struct gh_trace_hub *hub;
	__u64 b, now;
	long nr;
	int why;

	if (!st)
		return;
	hub = owned_hub(p, st, &slot);
	if (!hub)
		return;
	b = slot->baton;
	/* IDLE, a parked spare, a displaced carrier: chosen sleeps never hand off (I3). */
	if (gh_baton_state(b) != GH_BATON_RUN || gh_baton_tid(b) != st->kside.tid)
		return;
	c = ctl();
	if (!c)
		return;
	/* Still marked from a handoff that the runtime took back in user mode, its switch-in
	 * unreported (taker_gate.bpf.h): settled before the mark is needed again. */
	if (gate_by_taker && st->kside.displaced)
		unmark_displaced(c, hub, st);
	/* A block: noted for its record if a reader is attached (records.bpf.h; observes only). */
	note = block_note(&c->kside, slot, &st->kside);
	why = not_gateable(p, st, &nr);
	if (note && why != GH_BLOCK_FAULT_SLEEP) {
		note->kind = GH_BLOCK_SYSCALL;
		note->syscall = (__s32)nr;
	}
	switch (why) {
	case GH_BLOCK_FAULT_SLEEP:
		counter_inc(&c->nr_fault_sleeps);
		counter_inc(&hub->nr_fault_sleeps);
		break;
	case GH_BLOCK_LOOP_SLEEP:
		counter_inc(&c->kside.nr_loop_sleeps);
		break;
	case GH_BLOCK_MASKED:
		counter_inc(&c->kside.nr_masked);
		counter_inc(&hub->nr_masked);
		break;
	case GH_BLOCK_GATE_UNHANDLED:
		counter_inc(&c->kside.nr_gate_unhandled);
		break;
	}
	if (why != GH_BLOCK_HANDED_OFF) {
		block_why(note, why);
		return;
	}
	/* A grace period instead of a handoff now; not for a marked region, which the runtime's
	 * sysmon may also hand off (trace_grace.bpf.h relies on the timer being the only mover
	 * of the word p sleeps with). Not while draining: the timer would refuse anyway. A
	 * graced sleep arms no gate here: the timer arms it if it hands p off, and p's
	 * switch-in does if it finds that it did (trace_grace.bpf.h, steps 3 and 4). */
	if (!gh_baton_in_region(b) && c->kside.state == GH_TRACE_RUNNING) {
		bool probe;
		__u32 grace = hub_grace(c, slot, hub, &probe);

		if (grace && start_grace(p, st, hub, b, grace)) {
			if (probe)
				counter_inc(&c->nr_probes);
			/* Unless the grace timer hands it off (the record then says so). */
			block_why(note, GH_BLOCK_GRACE);
			return;
		}
	}
	/* The gate is armed before the handoff: it must be in place by the time p can return.
	 * If the handoff then does not happen, it finds p not displaced and does nothing. */
	if (gate_task_work && !gh_arm_gate(&gates, p, resume_gate)) {
		counter_inc(&c->kside.nr_gate_failures);
		block_why(note, GH_BLOCK_GATE_FAILED);
		return;
	}
	/* Announce, then look at the loader's state (the drain's Dekker pair). */
	displaced_add(&c->kside, &hub->kside, 1);
	if (c->kside.state != GH_TRACE_RUNNING) {
		displaced_add(&c->kside, &hub->kside, -1);
		counter_inc(&c->kside.nr_refused);
		block_why(note, GH_BLOCK_REFUSED);
		return;
	}
	if (!kernel_hand_off(slot, b, st->kside.tid)) {
		displaced_add(&c->kside, &hub->kside, -1);
		block_why(note, GH_BLOCK_RACE);
		return;
	}
	now = bpf_ktime_get_ns();
	slot->handoff_ns = now;
	__sync_fetch_and_add(&slot->nr_handoffs, 1);
	counter_inc(&c->kside.nr_handoffs);
	mark_displaced(c, hub, st);
	st->kside.handoff_ns = now;
	wake_spare(c, st->kside.hub, slot, hub, now);
}

/* A carrier runs again while a reader of block records is attached: the record of the block
 * it was noted in, if any (records.bpf.h). */
static void carrier_runs(struct gh_trace_control *c, struct task_struct *p)
{
	struct gh_trace_carrier *st = bpf_task_storage_get(&carriers, p, 0, 0);
	struct gh_trace_hub *hub;
	__u32 idx;

	if (!st || !st->kside.block.start_ns)
		return;
	idx = st->kside.hub;
	hub = bpf_map_lookup_elem(&hubs, &idx);
	block_end(&c->kside, p, &st->kside, hub ? &hub->kside : NULL, GH_RECORD_MODE_TRACE);
}

/* A carrier switched in while its hub's spares were woken: if it is one of those spares (it
 * sleeps in the ppoll of its wait, userspace/lib/backend_trace.c), the kernel's view of the
 * handoff latency. */
static void spare_runs(struct gh_trace_control *c, struct task_struct *p)
{
	struct gh_trace_carrier *st = bpf_task_storage_get(&carriers, p, 0, 0);
	struct gh_trace_hub *hub;
	__u64 since, now, lat, avg;
	__u32 idx;
	long nr;

	if (!st)
		return;
	idx = st->kside.hub;
	hub = bpf_map_lookup_elem(&hubs, &idx);
	if (!hub || !hub->woken_ns || !in_syscall(p, &nr) || nr != NR_PPOLL)
		return;
	since = __sync_lock_test_and_set(&hub->woken_ns, 0);
	if (!since)
		return;
	__sync_fetch_and_add(&c->nr_woken_pending, -1);
	now = bpf_ktime_get_ns();
	spare_ran(&c->kside, &hub->kside, since, now);
	/* The adaptive grace policy's measure of what a handoff takes (trace_grace.bpf.h): a
	 * moving average that falls 1/4 of the way to a quicker wake and rises 1/32 of the way to
	 * a slower one, so that it follows the usual wake rather than the outliers (a spare's
	 * first start, a CPU taken by something else). It starts from half the policy's floor,
	 * not from the first wake, which is often a spare's first start. A wake counts at most
	 * GH_TRACE_WAKE_OUTLIER times the average. Uncapped, one wake of a millisecond lifted an
	 * average of 25 us past the 55 us at which 100 us sleeps count as holding others up; a
	 * hub that then waited such sleeps out made no more handoffs, so no quicker wake came to
	 * bring it down (bench-short's busy row once ran at 1.0x of mode none, where it runs at
	 * 2.2x). A racy read-modify-write, as that policy's others are. */
	lat = now - since;
	avg = hub->wake_avg_ns;
	if (!avg)
		avg = GH_TRACE_HELD_UP_MIN_NS / 2;
	if (lat > GH_TRACE_WAKE_OUTLIER * avg)
		lat = GH_TRACE_WAKE_OUTLIER * avg;
	if (lat < avg)
		avg -= (avg - lat) >> 2;
	else
		avg += (lat - avg) >> 5;
	hub->wake_avg_ns = avg;
}

/* ---------------------------------------------------------------------------------------- */
/* Transitions 3-5: the return gate                                                           */

struct spin_ctx {
	__u64 bit;
	__u32 looks;
	bool seen;
	bool sent;
};

/* One round of the wait for the gate signal: SPIN_ROUND looks at the current thread's pending
 * signals, sending again if the last send was refused (the per-CPU irq_work was busy). 1 ends
 * the walk over spin_rounds. */
static long spin_round(struct bpf_map *map, __u32 *key, __u32 *value, struct spin_ctx *sc)
{
	struct task_struct *p = bpf_get_current_task_btf();

	for (int i = 0; i < SPIN_ROUND; i++) {
		if (p->pending.signal.sig[0] & sc->bit) {
			sc->seen = true;
			return 1;
		}
		sc->looks++;
		if (!sc->sent)
			sc->sent = bpf_send_signal_thread(gate_signo) == 0;
	}
	return 0;
}

/* Send the gate signal to the current thread and wait until it is pending (see the header):
 * false if it never was. */
static bool signal_self_and_wait(struct gh_trace_control *c)
{
	struct spin_ctx sc = { .bit = 1ULL << (gate_signo - 1) };

	sc.sent = bpf_send_signal_thread(gate_signo) == 0;
	bpf_for_each_map_elem(&spin_rounds, spin_round, &sc, 0);
	if (sc.looks)
		counter_inc(&c->nr_gate_waited);
	return sc.seen;
}

/*
 * The return gate, on displaced carrier p (current) on its way back to user mode, after its
 * system call's result is fixed. ret is that result; may_defer: a restart the kernel arranges
 * by itself can still be told from ret (at sys_exit, before signal delivery).
 */
static void return_gate(struct task_struct *p, struct gh_trace_carrier *st, struct pt_regs *regs,
			long ret, bool may_defer)
{
	struct gh_trace_control *c = ctl();
	struct gh_hub_slot *slot = NULL;
	struct gh_trace_hub *hub = NULL;
	__u32 holder;
	__u64 b;

	if (!c)
		return;
	/* Never signal the exit of rt_sigreturn: the handler's own return would come back here.
	 * (Handoffs inside rt_sigreturn are refused, so this is only a guard.) */
	if (regs->orig_ax == NR_RT_SIGRETURN)
		return;
	/* A call the kernel will restart by itself (a stop signal, the freezer) returns to the
	 * SYSCALL instruction only; with a handler to run, it would report EINTR instead. Gate
	 * the restarted call's exit. If another handler is due, the call reports EINTR anyway. */
	if (may_defer && (ret == -ERESTARTNOHAND || ret == -ERESTART_RESTARTBLOCK) &&
	    !signal_due(p)) {
		counter_inc(&c->nr_deferred);
		return;
	}
	hub = owned_hub(p, st, &slot);
	unmark_displaced(c, hub, st);
	if (!hub)
		return; /* the hub was released (its process is dying): nothing to gate */
	/* Only meaningful at sys_exit. A task work may run just after a handler frame for some
	 * other signal was set up, with that handler's sa_mask in force: the gate's signal then
	 * waits for that handler's return, which restores the mask the handoff found unblocked,
	 * so it still comes before the interrupted code. */
	if (may_defer && gate_masked(p, gate_signo))
		counter_inc(&c->nr_gate_blocked);

	b = slot->baton;
	holder = gh_baton_tid(b);
	switch (gh_baton_state(b)) {
	case GH_BATON_HANDOFF:
		/* Another carrier's handoff: with the taker-armed gate only a taker that armed
		 * that carrier's gate may take it, which the handler does (taker_gate.bpf.h). */
		if (gate_by_taker && holder != st->kside.tid)
			break;
		if (!baton_cas(slot, b, GH_BATON_RUN, st->kside.tid))
			break;
		handoff_taken(&c->kside, slot, holder, st->kside.tid);
		/* A cancel: the sleep ended before any spare took the hub (trace_grace.bpf.h). */
		if (holder == st->kside.tid)
			handoff_bought_nothing(hub);
		return;
	case GH_BATON_RUN:
		if (holder == st->kside.tid)
			return; /* already handed back */
		break;
	case GH_BATON_IDLE:
		/* Transition 5: the handler takes the hub and kicks the idle carrier out of its
		 * poll, the runtime's way. */
		counter_inc(&c->kside.nr_idle_returns);
		/* The spare that took this carrier's handoff ran nothing and went idle, and
		 * nothing ran since: waiting would have served the hub as well, as after a
		 * cancel (trace_grace.bpf.h). */
		if (slot->idle_unused_tid == st->kside.tid) {
			counter_inc(&c->nr_unused_handoffs);
			handoff_bought_nothing(hub);
		}
		break;
	default:
		return; /* FREE: the hub stopped under us; nothing to hold */
	}
	/* RUN(s), IDLE(s), or a CAS lost to a concurrent change: the handler's re-acquire
	 * handles every state the baton can be in. */
	counter_inc(&c->kside.nr_gates);
	counter_inc(&hub->kside.nr_gates);
	if (!signal_self_and_wait(c))
		counter_inc(&c->nr_gate_late);
}

/* RUN(p) word b -> RUN(p) with a new sequence, if the word is still b: a handoff from b can no
 * longer succeed (trace_grace.bpf.h, step 3). */
static void seal_word(struct task_struct *p, struct gh_trace_carrier *st, __u64 b)
{
	struct gh_hub_slot *slot;

	if (owned_hub(p, st, &slot))
		baton_cas(slot, b, GH_BATON_RUN, st->kside.tid);
}

/*
 * The return gate as a task work (gate_task_work): armed at p's handoff, run in p's own context
 * on its way back to user mode, in process context. Task work runs either inside signal
 * delivery, before a pending signal is dequeued (a call interrupted by a stop signal then
 * reports EINTR if the gate's handler runs: docs/trace-mode.md, Limits), or after it, when a
 * restart the kernel arranged on its own is already set up and begins once the gate's handler
 * returns. Nothing is deferred here: re-arming from inside task-work processing could run again
 * before the restart is set up, over and over.
 */
static int resume_gate(struct bpf_map *map, void *key, void *value)
{
	struct task_struct *p = bpf_get_current_task_btf();
	struct gh_trace_carrier *st = bpf_task_storage_get(&carriers, p, 0, 0);
	struct pt_regs *regs;

	if (!st)
		return 0;
	/* The net for a graced sleep whose switch-in the program did not see (trace_grace.bpf.h,
	 * step 3): settled here, before any user code; a handoff the timer made then shows as
	 * displaced. */
	if (st->graced) {
		struct gh_trace_control *c = ctl();

		if (c)
			graced_runs(c, p, st, false);
	}
	/* Armed by the grace timer before a handoff from word b: seal b, whatever p returns
	 * from, so that a handoff from it cannot come after p's return; if it came first, the
	 * timer marked p before its CAS, and the mark is read below, after the seal's locked
	 * CAS (timer_gates_and_hands_off()). A word that is still b is p's own RUN(p), outside a
	 * region: the seal is what p's switch-in would have made of it. */
	if (gate_task_work) {
		__u64 b = __sync_lock_test_and_set(&st->timer_gate_baton, 0);

		if (b)
			seal_word(p, st, b);
	}
	/* With the taker-armed gate a taker armed this one: the baton word decides, marked or
	 * not (the timer that handed p off may mark it a moment later, taker_gate.bpf.h). */
	if (!st->kside.displaced && !gate_by_taker)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(p);
	if (!regs)
		return 0;
	return_gate(p, st, regs, (long)regs->ax, false);
	return 0;
}

/* next, switched in, is a displaced carrier: its return is near (gh_arm_gate_here()). */
static void displaced_runs(struct task_struct *next)
{
	struct gh_trace_carrier *st = bpf_task_storage_get(&carriers, next, 0, 0);

	if (st && st->kside.displaced)
		gh_arm_gate_here(&gate_backups, next, resume_gate);
}

/* ---------------------------------------------------------------------------------------- */
/* I6: exits and execs                                                                        */

/* A registered carrier leaves: settle its gauges and, if it held the hub, let a spare have it. */
static void carrier_leaves(struct task_struct *p, struct gh_kside_carrier *k)
{
	struct gh_trace_carrier *st = container_of(k, struct gh_trace_carrier, kside);
	struct gh_trace_control *c = ctl();
	struct gh_hub_slot *slot;
	struct gh_trace_hub *hub;
	__u32 key = p->pid;

	/* A pending gate goes with the thread (and its tid may be reused). */
	bpf_map_delete_elem(&gates, &key);
	bpf_map_delete_elem(&gate_backups, &key);
	if (!c)
		return;
	/* A graced carrier is switched in before it can exit; only a backstop (greenhub_free,
	 * for a thread that never ran again) finds one. */
	if (st->graced) {
		st->graced = 0;
		__sync_fetch_and_add(&c->nr_grace_pending, -1);
	}
	hub = owned_hub(p, st, &slot);
	displaced_leaves(&c->kside, hub ? &hub->kside : NULL, &st->kside);
	if (!hub)
		return;
	/* A whole process going away releases its slots below; a lone carrier thread that ends
	 * while it owns the hub (pthread_exit from green code) hands the hub on. */
	if (BPF_CORE_READ(p, signal, flags) & SIGNAL_GROUP_EXIT)
		return;
	if (hand_on(slot, st->kside.tid))
		wake_spare(c, st->kside.hub, slot, hub, slot->handoff_ns);
}

/* ---------------------------------------------------------------------------------------- */
/* The programs                                                                               */

SEC("tp_btf/task_rename")
int BPF_PROG(greenhub_register, struct task_struct *task, const char *comm)
{
	serve_request(task);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(greenhub_sched_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	struct gh_trace_control *c;

	if (!preempt && prev_state && !(prev->flags & PF_KTHREAD))
		owner_sleeps(prev);
	c = ctl();
	/* An owner whose sleep started a grace period runs again: settle it before it can run
	 * any user code (trace_grace.bpf.h, step 3). */
	if (c && c->nr_grace_pending > 0)
		grace_switch_in(c, next);
	if (c && c->nr_woken_pending > 0)
		spare_runs(c, next);
	/* A noted block ends (only while a reader of block records is attached). */
	if (c && c->kside.records_until_ns)
		carrier_runs(c, next);
	/* A displaced carrier coming back: make sure its gate is in place on this CPU. */
	if (gate_task_work && c && c->kside.nr_displaced > 0)
		displaced_runs(next);
	/* A displaced carrier coming back with the taker-armed gate: take back its handoff if
	 * nobody took it (taker_gate.bpf.h, step 3). */
	if (gate_by_taker && c && c->kside.nr_displaced > 0)
		displaced_returns(c, next);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(greenhub_sys_exit, struct pt_regs *regs, long ret)
{
	struct gh_trace_control *c = ctl();
	struct gh_trace_carrier *st;
	struct task_struct *p;

	/* Every system call of the machine comes here: while no carrier is displaced and no
	 * sleep waits out a grace period, there is nothing to gate (each count goes up before a
	 * carrier is marked, and the handoff or the graced sleep happens-before that carrier's
	 * return). Not attached when the gate is a task work. */
	if (gate_task_work || !c || (c->kside.nr_displaced <= 0 && c->nr_grace_pending <= 0))
		return 0;
	p = bpf_get_current_task_btf();
	st = bpf_task_storage_get(&carriers, p, 0, 0);
	/* A graced carrier's switch-in settles its sleep; this is the net for one whose
	 * switch-in the program did not see (trace_grace.bpf.h, step 3). */
	if (st && st->graced)
		graced_runs(c, p, st, false);
	if (st && st->kside.displaced)
		return_gate(p, st, regs, ret, true);
	return 0;
}


/*
 * The backstop of greenhub_process_exit (I6). The kernel skips a tracing program that is already
 * running on the CPU (its recursion guard), and where tracepoints run preemptible (7.x) an exit
 * can come while another task sits preempted in greenhub_process_exit: then it does not run for
 * this one. This program runs when the task's memory is freed, from an RCU callback, with a
 * recursion guard of its own: a registration still there is settled now, and the free of the group
 * leader the process claimed with (the process is gone: the leader is reaped last) releases what
 * it held.
 */
SEC("tp_btf/sched_process_free")
int BPF_PROG(greenhub_free, struct task_struct *p)
{
	__u32 tgid = p->tgid;
	struct gh_owner *o;

	thread_leaves(p, false);
	o = bpf_map_lookup_elem(&owners, &tgid);
	if (o && p->pid == p->tgid && o->leader_start == p->start_time)
		release_process(tgid);
	return 0;
}
