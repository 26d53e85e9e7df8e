// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sched_ext mode, the runtime's side (docs/design.md, "The three modes"; the scheduler is
 * bpf/greenhub_scx.bpf.c, loaded and pinned by scx_greenhub; docs/sched-ext.md).
 *
 * What this file does
 *   probe          reads the pinned control map (read-only), checks its versions, that the
 *                  loader runs and that the scheduler has not exited, and that the reserved
 *                  signal is usable
 *   hub_attach     claims a slot and maps its page (kside.c), sets the hub's choices in it
 *                  (spare mode, grace period) and keeps a read-only view of the control map
 *   carrier_attach registers the calling carrier thread (a JOIN request from the thread itself:
 *                  kside.c), then switches it to SCHED_EXT; carrier_detach undoes both,
 *                  restoring the thread's own policy
 *   spare_parked   keeps the slot's spare_tid naming a spare parked on its futex
 *   spare_wait     how a spare waits: held (sched_yield(), which the scheduler turns into a
 *                  wait in the hub's spare DSQ) or parked (its futex word, which the signal
 *                  handler sets)
 *   held_next      the owner pops the hub's held ring (in the slot): whom to hand back to
 *   held_release   wakes a carrier waiting for that hand-back in the signal handler
 *   the handler    of GH_SCX_SIGNO: WAKE sets a parked spare's wake word; KICK writes the
 *                  hub's eventfd so that the idle carrier that lost the hub leaves its poll;
 *                  GATE and GATE_HELD (sent by the return gate only when the scheduler did not
 *                  settle a displaced carrier's return: it was ejected, or a hold lasted too
 *                  long) wait for the hand-back before the interrupted code runs on.
 *
 * The design
 *   As in trace mode, the library talks to the pins with raw bpf(2) calls and does not depend
 *   on libbpf; a machine without sched_ext simply fails the probe. Requests and what a process
 *   holds of the scheduler are kside.c's: the process can write its own slot page and nothing
 *   else of the scheduler's.
 *
 *   Spares: held by default; GREENHUB_SCX_SPARES=parked chooses futex parking (for
 *   comparison: docs/sched-ext.md has the numbers). A held spare whose sched_yield() keeps
 *   returning without a handoff or a wake (a scheduler that no longer holds it: ejected, or
 *   draining) falls back to its futex, rechecking every millisecond.
 *
 * Alternatives rejected
 *   - Sharing trace mode's pins and control map: the two kernel sides have different maps and
 *     counters; a separate pin folder lets a process use either and keeps each ABI small.
 *   - Waking a carrier that waits for its hand-back in the handler through a table of
 *     carriers: it waits on the slot's runner_tid word instead (a private futex on the mapped
 *     slot), which the owner wakes after making it the runner, only when someone waits.
 *
 * Memory ordering
 *   The slot is shared with the scheduler through a MAP_SHARED mapping; the baton changes only
 *   by the protocol's CASes (baton.c, and region.c's for a marked region), and this file only
 *   reads it (seq_cst). The held ring's consumer reads an entry with acquire order and frees it
 *   before it publishes the new head (release). A waiter in the handler increments
 *   gate_waiters and then reads runner_tid; the owner stores runner_tid (seq_cst, baton.c) and
 *   then reads gate_waiters: one of them sees the other.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "greenhub/scx.h"
#include "backend.h"
#include "internal.h"


/* A held spare whose sched_yield() returned this many times in a row with nothing to do is
 * not held by the scheduler: it parks on its futex instead. */
#define YIELD_SPINS 64

extern const struct gh__backend gh__backend_scx;

static void on_signal(int sig, siginfo_t *si, void *uc);

/* What a process holds while a hub is attached (kside.c): the tracing links, and the gates
 * map, whose task works would be cancelled with its last reference. Never the struct_ops link:
 * its descriptor could detach the scheduler. */
static const char *const held_pins[] = { "link_register", "link_exit", "link_exec", "gates" };

static struct gh__kside kside = {
	.dir = GH_SCX_PIN_DIR,
	.hold = held_pins,
	.nr_hold = sizeof(held_pins) / sizeof(held_pins[0]),
	.ctl_size = sizeof(struct gh_scx_control),
	.gate_handler = on_signal,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

/* The loader's pid, as the probe read it, for the hub's mode reason. */
static _Atomic __u32 loader_pid;

/* The hub's backend_data. */
struct scx_hub {
	struct gh__kside_hub kh;
	const struct gh_scx_control *ctl; /* read-only */
};

/* The policy and nice value of the calling carrier thread before it became SCHED_EXT. */
static __thread struct {
	bool saved;
	int policy;
	int nice;
} own_sched;

/* ---------------------------------------------------------------------------------------- */
/* sched_setattr(2), futexes                                                                  */


/* struct sched_attr of sched_setattr(2); glibc 2.36 has neither the type nor the wrapper. */
struct sched_attr_v1 {
	__u32 size;
	__u32 sched_policy;
	__u64 sched_flags;
	__s32 sched_nice;
	__u32 sched_priority;
	__u64 sched_runtime;
	__u64 sched_deadline;
	__u64 sched_period;
};

static int set_policy(int policy, int nice)
{
	struct sched_attr_v1 attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.sched_policy = (__u32)policy;
	attr.sched_nice = nice;
	return syscall(SYS_sched_setattr, 0, &attr, 0) < 0 ? -errno : 0;
}

static void futex_wait_private(__u32 *word, __u32 val, const struct timespec *rel)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0);
}

static void futex_wake_private(__u32 *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* The scheduler is loaded, running and holding: it has not exited and is not draining. */
static bool scheduler_holds(const struct scx_hub *sh)
{
	return __atomic_load_n(&sh->ctl->kside.state, __ATOMIC_ACQUIRE) == GH_SCX_RUNNING &&
	       !__atomic_load_n(&sh->ctl->exit.kind, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------------------------------- */
/* The signal handler                                                                         */

/*
 * GATE_HELD: the calling carrier is on the held ring and counted in return_pending; the owner
 * will make it the runner. Wait for that on the slot's runner word (async-signal-safe: atomics
 * and futex only).
 */
static void wait_handback(struct gh_hub *hub, struct gh__carrier *c)
{
	struct scx_hub *sh = hub->backend_data;
	__u32 *runner = &hub->slot->runner_tid;
	__u32 seen;

	if (!sh)
		return;
	__atomic_fetch_add(&hub->slot->gate_waiters, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		__u64 b = __atomic_load_n(&hub->slot->baton, __ATOMIC_SEQ_CST);

		seen = __atomic_load_n(runner, __ATOMIC_SEQ_CST);
		if (seen == (__u32)c->tid || gh_baton_state(b) == GH_BATON_FREE)
			break;
		futex_wait_private(runner, seen, NULL);
	}
	__atomic_fetch_sub(&hub->slot->gate_waiters, 1, __ATOMIC_SEQ_CST);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	struct gh__carrier *c;

	/* Only the kernel side sends SI_KERNEL with a value; kill(2) and sigqueue(3) cannot. */
	if (si->si_code != SI_KERNEL)
		goto out;
	c = gh__carrier_self();
	if (!c || c->hub->backend != &gh__backend_scx)
		goto out;
	switch (si->si_value.sival_int) {
	case GH_SCX_SIG_WAKE:
		/* The futex wait of spare_wait() returns (SA_RESTART restarts it, and it finds the
		 * word changed). */
		atomic_store(&c->wake_word, 1);
		break;
	case GH_SCX_SIG_GATE:
		gh__carrier_reacquire(c->hub, c);
		break;
	case GH_SCX_SIG_GATE_HELD:
		wait_handback(c->hub, c);
		break;
	case GH_SCX_SIG_KICK:
		gh__poller_kick(c->hub);
		break;
	}
out:
	errno = saved_errno;
}

/* ---------------------------------------------------------------------------------------- */
/* The backend                                                                                */

static int scx_probe(char *why, size_t len)
{
	const struct gh_scx_control *ctl;
	int err;

	if (access("/sys/kernel/sched_ext", F_OK) < 0) {
		snprintf(why, len, "this kernel has no sched_ext (CONFIG_SCHED_CLASS_EXT)");
		return -EOPNOTSUPP;
	}
	ctl = gh__kside_control(&kside, &err, why, len);
	if (!ctl)
		return err;
	err = -EOPNOTSUPP;
	/* The version before anything else: another version's maps may be laid out otherwise. */
	if (ctl->kside.magic != GH_SCX_MAGIC || ctl->kside.slot_abi != GH_SLOT_ABI_VERSION ||
	    ctl->kside.abi != GH_SCX_ABI_VERSION)
		snprintf(why, len,
			 "scx_greenhub is of another version (slot ABI %u, sched_ext ABI "
			 "%u; this library: %u, %u)",
			 ctl->kside.slot_abi, ctl->kside.abi, GH_SLOT_ABI_VERSION,
			 GH_SCX_ABI_VERSION);
	else if (ctl->kside.mode != GH_MODE_SCHED_EXT)
		snprintf(why, len, "scx_greenhub runs another mode (%s)",
			 gh_mode_name((enum gh_mode)ctl->kside.mode));
	else if (__atomic_load_n(&ctl->exit.kind, __ATOMIC_ACQUIRE))
		snprintf(why, len, "the greenhub scheduler has exited (%.60s%s%.60s)",
			 ctl->exit.reason, ctl->exit.msg[0] ? ": " : "", ctl->exit.msg);
	else if (__atomic_load_n(&ctl->kside.state, __ATOMIC_ACQUIRE) == GH_SCX_LOADING)
		snprintf(why, len, "scx_greenhub is still loading");
	else if (__atomic_load_n(&ctl->kside.state, __ATOMIC_ACQUIRE) != GH_SCX_RUNNING)
		snprintf(why, len, "scx_greenhub is stopping");
	else if (gh__signal_blocked(GH_SCX_SIGNO))
		snprintf(why, len, "signal %d, which sched_ext mode reserves, is blocked on the "
				   "thread running the hub", GH_SCX_SIGNO);
	else
		err = gh__signal_install(GH_SCX_SIGNO, on_signal, why, len);
	if (!err)
		atomic_store(&loader_pid, ctl->kside.loader_pid);
	gh__kside_control_unmap(&kside, ctl);
	return err;
}

/*
 * The per-process settings of sched_ext mode (docs/sched-ext.md), each unset or empty for the
 * default: GREENHUB_SCX_SPARES (held, parked), GREENHUB_SCX_GRACE (adaptive, always, never:
 * when a sleep is handed off) and GREENHUB_SCX_GRACE_NS (the grace period; unset: the
 * loader's). Written into gh_scx_hub as the scheduler reads it.
 */
struct scx_env {
	__u32 spare_mode;
	__u32 grace_policy;
	__u32 grace_ns;
};

static const char *env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int scx_env_read(struct scx_env *e, char *why, size_t len)
{
	const char *v;
	int policy;

	memset(e, 0, sizeof(*e));
	e->spare_mode = GH_SCX_SPARES_HELD;
	v = env_set("GREENHUB_SCX_SPARES");
	if (v && !strcmp(v, "parked")) {
		e->spare_mode = GH_SCX_SPARES_PARKED;
	} else if (v && strcmp(v, "held")) {
		snprintf(why, len, "GREENHUB_SCX_SPARES='%s' is not held or parked", v);
		return -EINVAL;
	}
	v = env_set("GREENHUB_SCX_GRACE");
	if (v) {
		policy = gh_scx_grace_parse(v);
		if (policy < 0) {
			snprintf(why, len, "GREENHUB_SCX_GRACE='%s' is not adaptive, always or never",
				 v);
			return -EINVAL;
		}
		e->grace_policy = (__u32)policy;
	}
	v = env_set("GREENHUB_SCX_GRACE_NS");
	if (v) {
		e->grace_ns = gh_scx_grace_ns_parse(v);
		if (!e->grace_ns) {
			snprintf(why, len, "GREENHUB_SCX_GRACE_NS='%s' is not a number of ns from 1 "
					   "to 1000000000", v);
			return -EINVAL;
		}
	}
	return 0;
}

static int scx_check_env(char *why, size_t len)
{
	struct scx_env e;

	return scx_env_read(&e, why, len);
}

static int scx_hub_attach(struct gh_hub *hub, char *why, size_t len)
{
	struct gh_hub_slot *slot;
	struct scx_hub *sh;
	struct scx_env env;
	size_t used;
	int err;

	/* Checked before any backend was tried (scx_check_env); read again, unchanged. */
	if (scx_env_read(&env, why, len))
		return -EINVAL;
	sh = calloc(1, sizeof(*sh));
	if (!sh) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	sh->ctl = gh__kside_control(&kside, &err, why, len);
	if (!sh->ctl) {
		free(sh);
		return err;
	}
	/* A child of fork() must not see the scheduler's state as its own. */
	madvise((void *)sh->ctl, gh__bpf_map_bytes(sizeof(*sh->ctl), 1), MADV_DONTFORK);
	err = gh__kside_attach(&kside, &sh->kh, why, len);
	if (err) {
		gh__kside_control_unmap(&kside, sh->ctl);
		free(sh);
		return err;
	}
	/* Granted: the hub's part of the slot, before any carrier joins (slot.h). */
	slot = sh->kh.slot;
	slot->spare_mode = env.spare_mode;
	slot->grace_policy = env.grace_policy;
	slot->grace_ns = env.grace_ns;
	slot->gate_waiters = 0;
	slot->held_head = 0;
	slot->held_tail = 0;
	memset(slot->held, 0, sizeof(slot->held));
	gh__slot_publish(hub, slot, sh->kh.idx);
	hub->backend_data = sh;
	used = strlen(hub->mode_reason);
	snprintf(hub->mode_reason + used, sizeof(hub->mode_reason) - used,
		 "sched_ext mode: scx_greenhub (pid %u) schedules the hub's carriers (slot %u, "
		 "spares %s, grace %s)",
		 atomic_load(&loader_pid), sh->kh.idx,
		 env.spare_mode == GH_SCX_SPARES_HELD ? "held" : "parked",
		 env.grace_policy == GH_SCX_GRACE_ADAPTIVE ? "adaptive"
		 : env.grace_policy == GH_SCX_GRACE_ALWAYS ? "always"
		 : env.grace_policy == GH_SCX_GRACE_NEVER  ? "never"
							   : "as the loader's");
	return 0;
}

static void scx_hub_detach(struct gh_hub *hub)
{
	struct scx_hub *sh = hub->backend_data;

	if (!sh)
		return;
	gh__slot_save(hub, sh->kh.slot);
	__atomic_store_n(&sh->kh.slot->spare_tid, 0, __ATOMIC_RELAXED);
	gh__kside_detach(&sh->kh);
	gh__kside_control_unmap(&kside, sh->ctl);
	hub->backend_data = NULL;
	free(sh);
}

/* In a child of fork(): hub is the parent's. Its slot page and control view are not mapped
 * here (MADV_DONTFORK); drop the hold. */
static void scx_fork_child(struct gh_hub *hub)
{
	struct scx_hub *sh = hub->backend_data;

	gh__kside_fork_child(&kside, sh ? &sh->kh : NULL);
}

static int scx_carrier_attach(struct gh_hub *hub, struct gh__carrier *c)
{
	struct scx_hub *sh = hub->backend_data;
	int err, policy;

	err = gh__carrier_gate_open(c, GH_SCX_SIGNO);
	if (err)
		return err;
	err = gh__kside_join(&sh->kh, c);
	if (err)
		return err;
	/* Registered first, so that the scheduler knows the thread from its first decision. */
	policy = sched_getscheduler(0);
	own_sched.policy = policy < 0 ? SCHED_OTHER : policy;
	errno = 0;
	own_sched.nice = getpriority(PRIO_PROCESS, 0);
	if (errno)
		own_sched.nice = 0;
	own_sched.saved = true;
	err = set_policy(GH_SCX_POLICY, own_sched.nice);
	if (err) {
		own_sched.saved = false;
		gh__kside_leave(&sh->kh);
	}
	return err;
}

static void scx_carrier_detach(struct gh_hub *hub, struct gh__carrier *c)
{
	struct scx_hub *sh = hub->backend_data;

	/* Back to the thread's own policy (the first carrier is the application's thread). A
	 * real-time policy is not restored here: sched_setattr needs its priority, and a carrier
	 * could not have been one (the runtime runs hubs on ordinary threads). */
	if (own_sched.saved) {
		(void)set_policy(own_sched.policy == SCHED_BATCH || own_sched.policy == SCHED_IDLE
					 ? own_sched.policy
					 : SCHED_OTHER,
				 own_sched.nice);
		own_sched.saved = false;
	}
	if (sh)
		gh__kside_leave(&sh->kh);
}

/* Under hub->carrier_lock: name a parked spare for the scheduler to signal. */
static void scx_spare_parked(struct gh_hub *hub, struct gh__carrier *c, bool parked)
{
	gh__spare_name(hub, c, parked, &hub->slot->spare_tid);
}

static bool handoff_waits(struct gh_hub *hub)
{
	return gh_baton_state(__atomic_load_n(&hub->slot->baton, __ATOMIC_SEQ_CST)) ==
	       GH_BATON_HANDOFF;
}

static void scx_spare_wait(struct gh_hub *hub, struct gh__carrier *c)
{
	struct scx_hub *sh = hub->backend_data;
	struct timespec ms = { 0, 1000000 };
	unsigned spins = 0;

	while (!atomic_load(&c->wake_word) && !handoff_waits(hub)) {
		if (hub->slot->spare_mode == GH_SCX_SPARES_HELD && scheduler_holds(sh) &&
		    spins < YIELD_SPINS) {
			/* The scheduler keeps us in the hub's spare DSQ until a handoff gives us
			 * the CPU its owner left (or its heartbeat lets us look once). */
			sched_yield();
			spins++;
			continue;
		}
		/* Parked, or a scheduler that does not hold us: the futex, woken by the signal
		 * handler (WAKE) or the runtime; a bounded wait while the scheduler runs, in case
		 * it holds us again. */
		gh__futex_wait(&c->wake_word, 0, scheduler_holds(sh) ? &ms : NULL);
		spins = 0;
	}
	atomic_store(&c->wake_word, 0);
}

static pid_t scx_held_next(struct gh_hub *hub)
{
	struct gh_hub_slot *s = hub->slot;
	__u32 head, tid;

	if (!hub->backend_data)
		return 0;
	head = __atomic_load_n(&s->held_head, __ATOMIC_RELAXED);
	if (head == __atomic_load_n(&s->held_tail, __ATOMIC_ACQUIRE))
		return 0;
	tid = __atomic_load_n(&s->held[head & (GH_SLOT_HELD_MAX - 1)], __ATOMIC_ACQUIRE);
	if (!tid)
		return 0; /* reserved, not stored yet */
	__atomic_store_n(&s->held[head & (GH_SLOT_HELD_MAX - 1)], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->held_head, head + 1, __ATOMIC_RELEASE);
	return (pid_t)tid;
}

static void scx_held_release(struct gh_hub *hub, pid_t tid)
{
	/* The scheduler dispatches tid when this carrier parks; one that waits in the signal
	 * handler instead (ejection, long hold) needs a futex wake. */
	if (hub->backend_data && __atomic_load_n(&hub->slot->gate_waiters, __ATOMIC_SEQ_CST))
		futex_wake_private(&hub->slot->runner_tid);
}

const struct gh__backend gh__backend_scx = {
	.mode = GH_MODE_SCHED_EXT,
	.check_env = scx_check_env,
	.probe = scx_probe,
	.hub_attach = scx_hub_attach,
	.hub_detach = scx_hub_detach,
	.carrier_attach = scx_carrier_attach,
	.carrier_detach = scx_carrier_detach,
	.spare_parked = scx_spare_parked,
	.spare_wait = scx_spare_wait,
	.held_next = scx_held_next,
	.held_release = scx_held_release,
	.fork_child = scx_fork_child,
};
