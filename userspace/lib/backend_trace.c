// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Trace mode, the runtime's side (docs/trace-mode.md; the kernel side is
 * bpf/greenhub_trace.bpf.c, loaded and pinned by scx_greenhub).
 *
 * What this file does
 *   probe          reads the pinned control map (read-only), checks its versions and that the
 *                  loader is running, and that the gate signal is usable on the calling thread
 *   hub_attach     claims a slot and maps its page (kside.c), and puts a wake ring of its own
 *                  at the slot's index
 *   carrier_attach makes sure the gate signal is unblocked on the calling carrier, and
 *                  registers it (a JOIN request, from the carrier's thread: kside.c)
 *   spare_parked   keeps the slot's spare_tid naming a parked spare (the kernel side writes a
 *                  wakeup only when one is parked)
 *   spare_wait     a parked spare waits in ppoll on the hub's wake ring
 *   take_gate      with the taker-armed gate, runs the kernel side's greenhub_arm_gate before
 *                  a carrier takes another's handoff (bpf/taker_gate.bpf.h)
 *   the handler    of GH_TRACE_SIGNO, sent by the kernel side to a carrier it handed off, on its
 *                  return while the hub is not simply its own again: re-acquire the hub
 *                  (gh__carrier_reacquire, async-signal-safe) before the interrupted code runs
 *                  on. Signals not sent by the kernel are ignored.
 *
 * The design
 *   Requests and what a process holds of the kernel side are kside.c's. Besides them a hub
 *   keeps its wake ring, a ring buffer map of its own that the kernel side writes through the
 *   pinned wake_rings map (not inherited by fork()). Hubs attached to a kernel side that was
 *   since unloaded keep their pages, where, with handoffs off, they run as in mode none.
 *
 * Alternatives rejected
 *   - Registering carriers through a pidfd and the carriers map: needs Linux 6.9 for a
 *     thread's pidfd, and lets a process register any thread with any fields.
 *   - Parked spares waiting on their futex word, woken by a signal from the kernel side
 *     (bpf_send_signal_task, 6.13): not on the kernels Debian ships, and a signal to a tid
 *     that user space names. The ring needs a second way in for the runtime's own wakeups, a
 *     kick signal the ppoll lets through (struct gh__carrier.wake_kick).
 *
 * Memory ordering
 *   The slot page is shared with the BPF programs through a MAP_SHARED mapping; the baton
 *   changes only by the protocol's CASes (baton.c, and region.c's for a marked region), and
 *   this file only reads it (seq_cst). spare_tid is a relaxed store: the kernel side only reads
 *   it as a hint.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "greenhub/trace.h"
#include "backend.h"
#include "internal.h"

#define PIN(name) GH_TRACE_PIN_DIR "/" name

/* The ring each hub puts at its slot's index: the size of bpf/greenhub_trace.bpf.c's template,
 * which the kernel requires of every ring in the map. */
#define WAKE_RING_BYTES 4096

/* What the probe read from the control map, for the hub attached next. */
struct trace_info {
	int signo;
	__u32 loader_pid;
	__u32 gate;
	char gate_why[sizeof(((struct gh_trace_control *)0)->gate_why)];
};

static pthread_mutex_t info_lock = PTHREAD_MUTEX_INITIALIZER;
static struct trace_info info;

static void on_signal(int sig, siginfo_t *si, void *uc);

/* What a process holds while a hub is attached (kside.c): the links, and the gate maps. */
static const char *const held_pins[] = { "link_register", "link_switch", "link_sys_exit",
					 "link_exit", "link_exec", "link_free", "gates",
					 "gate_backups" };

static struct gh__kside kside = {
	.dir = GH_TRACE_PIN_DIR,
	.hold = held_pins,
	.nr_hold = sizeof(held_pins) / sizeof(held_pins[0]),
	.optional = "link_sys_exit", /* only the gate the loader chose is attached */
	.ctl_size = sizeof(struct gh_trace_control),
	.gate_handler = on_signal,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

/* The hub's backend_data. */
struct trace_hub {
	struct gh__kside_hub kh;
	int signo;
	int ring_fd;
	__u64 *ring_consumer;           /* the ring's consumer position, read-write */
	const __u64 *ring_producer;     /* its producer position, read-only */
	int arm_fd;                     /* greenhub_arm_gate (taker-armed gate), else -1 */
};

/* ---------------------------------------------------------------------------------------- */
/* The signal handler                                                                         */

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	struct gh__carrier *c;

	/* Only the kernel side sends SI_KERNEL; kill(2) and sigqueue(3) cannot. It sends it only
	 * to a carrier it handed off, as that carrier's call returns inside a green thread. */
	if (si->si_code == SI_KERNEL && (c = gh__carrier_self()) && c->green)
		gh__carrier_reacquire(c->hub, c);
	errno = saved_errno;
}

/* ---------------------------------------------------------------------------------------- */
/* The wake ring                                                                              */

/* Forget every wakeup written so far: the spare looks at the baton itself. Several spares may
 * drain at once: the consumer position only moves forward. */
static void ring_drain(struct trace_hub *th)
{
	__u64 prod = __atomic_load_n(th->ring_producer, __ATOMIC_ACQUIRE);
	__u64 cons = __atomic_load_n(th->ring_consumer, __ATOMIC_RELAXED);

	while (cons < prod && !__atomic_compare_exchange_n(th->ring_consumer, &cons, prod, false,
							    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

static void ring_close(struct trace_hub *th)
{
	if (th->ring_consumer)
		munmap(th->ring_consumer, WAKE_RING_BYTES);
	if (th->ring_producer)
		munmap((void *)th->ring_producer, WAKE_RING_BYTES);
	if (th->ring_fd >= 0)
		close(th->ring_fd);
	th->ring_consumer = NULL;
	th->ring_producer = NULL;
	th->ring_fd = -1;
}

/* A ring of our own at index idx of the pinned wake_rings map. */
static int ring_open(struct trace_hub *th, char *why, size_t len)
{
	int outer, err;
	void *p;

	th->ring_fd = gh__bpf_ringbuf_create(WAKE_RING_BYTES);
	if (th->ring_fd < 0) {
		err = -errno;
		snprintf(why, len, "creating the hub's wake ring failed (%s)", strerror(-err));
		return err;
	}
	p = mmap(NULL, WAKE_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, th->ring_fd, 0);
	th->ring_consumer = p == MAP_FAILED ? NULL : p;
	p = mmap(NULL, WAKE_RING_BYTES, PROT_READ, MAP_SHARED, th->ring_fd, WAKE_RING_BYTES);
	th->ring_producer = p == MAP_FAILED ? NULL : p;
	if (!th->ring_consumer || !th->ring_producer) {
		err = -errno;
		snprintf(why, len, "mapping the hub's wake ring failed (%s)", strerror(-err));
		goto fail;
	}
	madvise(th->ring_consumer, WAKE_RING_BYTES, MADV_DONTFORK);
	madvise((void *)th->ring_producer, WAKE_RING_BYTES, MADV_DONTFORK);
	outer = gh__bpf_obj_get(PIN("wake_rings"));
	if (outer < 0) {
		err = -errno;
		snprintf(why, len, "opening %s failed (%s)", PIN("wake_rings"), strerror(-err));
		goto fail;
	}
	err = gh__bpf_map_update(outer, &th->kh.idx, &th->ring_fd, BPF_ANY);
	close(outer);
	if (err) {
		snprintf(why, len, "installing the hub's wake ring failed (%s)", strerror(-err));
		goto fail;
	}
	return 0;
fail:
	ring_close(th);
	return err;
}

/* ---------------------------------------------------------------------------------------- */
/* The backend                                                                                */

static int trace_probe(char *why, size_t len)
{
	const struct gh_trace_control *ctl;
	int err;

	ctl = gh__kside_control(&kside, &err, why, len);
	if (!ctl)
		return err;
	err = -EOPNOTSUPP;
	/* The version before anything else: another version's maps may be laid out otherwise. */
	if (ctl->kside.magic != GH_TRACE_MAGIC || ctl->kside.slot_abi != GH_SLOT_ABI_VERSION ||
	    ctl->kside.abi != GH_TRACE_ABI_VERSION)
		snprintf(why, len, "scx_greenhub is another version (ABI %u/%u, not %u/%u)",
			 ctl->kside.slot_abi, ctl->kside.abi, GH_SLOT_ABI_VERSION,
			 GH_TRACE_ABI_VERSION);
	else if (ctl->kside.mode != GH_MODE_TRACE)
		snprintf(why, len, "scx_greenhub runs another mode (%s)",
			 gh_mode_name((enum gh_mode)ctl->kside.mode));
	else if (__atomic_load_n(&ctl->kside.state, __ATOMIC_ACQUIRE) == GH_TRACE_LOADING)
		snprintf(why, len, "scx_greenhub is still loading");
	else if (__atomic_load_n(&ctl->kside.state, __ATOMIC_ACQUIRE) != GH_TRACE_RUNNING)
		snprintf(why, len, "scx_greenhub is stopping");
	else if (gh__signal_blocked((int)ctl->kside.signo))
		snprintf(why, len, "the gate signal %u is blocked on this thread",
			 ctl->kside.signo);
	else
		err = gh__signal_install((int)ctl->kside.signo, on_signal, why, len);
	if (!err) {
		pthread_mutex_lock(&info_lock);
		info.signo = (int)ctl->kside.signo;
		info.loader_pid = ctl->kside.loader_pid;
		info.gate = ctl->gate;
		memcpy(info.gate_why, ctl->gate_why, sizeof(info.gate_why));
		info.gate_why[sizeof(info.gate_why) - 1] = '\0';
		pthread_mutex_unlock(&info_lock);
	}
	gh__kside_control_unmap(&kside, ctl);
	return err;
}

static int trace_hub_attach(struct gh_hub *hub, char *why, size_t len)
{
	struct trace_hub *th = calloc(1, sizeof(*th));
	__u32 gate;
	size_t used;
	int err;

	if (!th) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	th->ring_fd = -1;
	th->arm_fd = -1;
	pthread_mutex_lock(&info_lock);
	th->signo = info.signo;
	gate = info.gate;
	pthread_mutex_unlock(&info_lock);
	/* The taker-armed gate's program: without it no handoff could ever be taken. */
	if (gate == GH_TRACE_GATE_TAKER) {
		th->arm_fd = gh__bpf_obj_get(PIN(GH_TRACE_PIN_ARM_GATE));
		if (th->arm_fd < 0) {
			err = -errno;
			snprintf(why, len, "opening %s failed (%s)", PIN(GH_TRACE_PIN_ARM_GATE),
				 strerror(-err));
			free(th);
			return err;
		}
	}
	err = gh__kside_attach(&kside, &th->kh, why, len);
	if (!err) {
		err = ring_open(th, why, len);
		if (err)
			gh__kside_detach(&th->kh);
	}
	if (err) {
		if (th->arm_fd >= 0)
			close(th->arm_fd);
		free(th);
		return err;
	}
	gh__slot_publish(hub, th->kh.slot, th->kh.idx);
	hub->backend_data = th;
	hub->stale_handoffs = th->arm_fd >= 0;
	used = strlen(hub->mode_reason);
	pthread_mutex_lock(&info_lock);
	snprintf(hub->mode_reason + used, sizeof(hub->mode_reason) - used,
		 "trace mode: scx_greenhub (pid %u) watches the hub (slot %u); return gate %s%s%s%s",
		 info.loader_pid, th->kh.idx, gh_trace_gate_name(info.gate),
		 info.gate_why[0] ? " (" : "", info.gate_why, info.gate_why[0] ? ")" : "");
	pthread_mutex_unlock(&info_lock);
	return 0;
}

static void trace_hub_detach(struct gh_hub *hub)
{
	struct trace_hub *th = hub->backend_data;

	if (!th)
		return;
	gh__slot_save(hub, th->kh.slot);
	__atomic_store_n(&th->kh.slot->spare_tid, 0, __ATOMIC_RELAXED);
	gh__kside_detach(&th->kh);
	ring_close(th);
	if (th->arm_fd >= 0)
		close(th->arm_fd);
	hub->backend_data = NULL;
	hub->stale_handoffs = false;
	free(th);
}

/* In a child of fork(): hub is the parent's. Its slot and ring pages are not mapped here
 * (MADV_DONTFORK); close the descriptors the child inherited. The parent's locks may have been
 * held by its other threads: start over. */
static void trace_fork_child(struct gh_hub *hub)
{
	static const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	struct trace_hub *th = hub->backend_data;

	info_lock = fresh;
	gh__kside_fork_child(&kside, th ? &th->kh : NULL);
	if (th && th->ring_fd >= 0)
		close(th->ring_fd);
	if (th && th->arm_fd >= 0)
		close(th->arm_fd);
}

static int trace_carrier_attach(struct gh_hub *hub, struct gh__carrier *c)
{
	struct trace_hub *th = hub->backend_data;
	int err;

	err = gh__carrier_gate_open(c, th->signo);
	if (err)
		return err;
	return gh__kside_join(&th->kh, c);
}

static void trace_carrier_detach(struct gh_hub *hub, struct gh__carrier *c)
{
	struct trace_hub *th = hub->backend_data;

	if (th)
		gh__kside_leave(&th->kh);
}

/* Under hub->carrier_lock: name a parked spare, so that the kernel side writes its wakeups. */
static void trace_spare_parked(struct gh_hub *hub, struct gh__carrier *c, bool parked)
{
	struct trace_hub *th = hub->backend_data;

	gh__spare_name(hub, c, parked, &th->kh.slot->spare_tid);
}

/* A parked spare waits on the hub's wake ring; the runtime's own wakes (the wake word) reach
 * it through a kick that ppoll lets through (wake_kick: a Dekker pair with the waker, which
 * stores the word and then reads wake_kick). */
static void trace_spare_wait(struct gh_hub *hub, struct gh__carrier *c)
{
	struct trace_hub *th = hub->backend_data;
	struct pollfd pfd = { .fd = th->ring_fd, .events = POLLIN };

	ring_drain(th);
	atomic_store(&c->wake_kick, 1);
	if (!atomic_load(&c->wake_word) &&
	    gh_baton_state(__atomic_load_n(&th->kh.slot->baton, __ATOMIC_SEQ_CST)) !=
		    GH_BATON_HANDOFF) {
		/* The raw system call: the kernel side knows a woken spare by it (NR_PPOLL).
		 * Its sigset size is the kernel's, 8 bytes. */
		if (syscall(SYS_ppoll, &pfd, 1, NULL, &c->poll_mask, 8) < 0 && errno != EINTR)
			gh__panic("ppoll(wake ring): %s", gh_strerror(errno));
	}
	atomic_store(&c->wake_kick, 0);
	ring_drain(th);
	atomic_store(&c->wake_word, 0);
}

/* How long a carrier that may not take a handoff yet waits before it looks again: the kernel
 * side could not arm the gate (its gate map full) or not in time, or the displaced carrier was
 * not asleep in a green thread's call (it runs with a stale handoff, bpf/taker_gate.bpf.h).
 * None of that may become a busy loop of system calls. */
#define TAKE_GATE_PAUSE_NS (1000 * 1000)

/* Before the calling carrier takes b, another carrier's HANDOFF: with the taker-armed gate,
 * have the kernel side arm that carrier's gate (bpf/taker_gate.bpf.h, step 2). */
static int trace_take_gate(struct gh_hub *hub, __u64 b)
{
	static const struct timespec pause = { 0, TAKE_GATE_PAUSE_NS };
	struct trace_hub *th = hub->backend_data;
	struct gh_trace_arm arm = { .baton = b };
	int err, ret;

	/* Only the kernel side's own handoffs flag their word: the runtime's (a marked region's)
	 * need no gate, nor a system call to learn it. */
	if (!th || th->arm_fd < 0 || !(b & GH_BATON_KERNEL))
		return 0;
	err = gh__bpf_prog_run(th->arm_fd, &arm, sizeof(arm), &ret);
	if (!err)
		err = ret;
	if (err && err != -ESTALE)
		(void)nanosleep(&pause, NULL);
	return err;
}

const struct gh__backend gh__backend_trace = {
	.mode = GH_MODE_TRACE,
	.probe = trace_probe,
	.hub_attach = trace_hub_attach,
	.hub_detach = trace_hub_detach,
	.carrier_attach = trace_carrier_attach,
	.carrier_detach = trace_carrier_detach,
	.spare_parked = trace_spare_parked,
	.spare_wait = trace_spare_wait,
	.fork_child = trace_fork_child,
	.take_gate = trace_take_gate,
};
