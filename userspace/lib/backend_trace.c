// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Trace mode, the runtime's side (DESIGN.md section 5; the kernel side is
 * bpf/greenhub_trace.bpf.c, loaded and pinned by scx_greenhub).
 *
 * What this file does
 *   probe         finds the pinned control map, checks its versions and that the loader is
 *                 running, and that the gate signal is usable on the calling thread
 *   hub_attach    maps the pinned slot and hub arrays (once per loaded kernel side), claims a
 *                 free slot for the hub (a CAS of its tgid from 0), and points hub->slot at it
 *   carrier_attach registers the calling carrier thread in the carriers task storage through
 *                 a pidfd of the thread, after making sure the gate signal is unblocked on it
 *   spare_parked  keeps gh_trace_hub.spare_tid naming a parked spare, the one the kernel side
 *                 signals on a handoff
 *   the handler   of GH_TRACE_SIGNO: WAKE sets a parked spare's wake word; GATE re-acquires
 *                 the hub (gh__carrier_reacquire, async-signal-safe) before the interrupted
 *                 code runs on; KICK kicks the idle carrier that lost the hub out of its poll
 *                 (gh__carrier_kick). Signals not sent by the kernel are ignored.
 *
 * The design
 *   The library talks to the pinned maps with raw bpf(2) calls (get a pinned object, update
 *   and delete an element, read a map's id): it needs four commands, and so does not depend on
 *   libbpf, and a machine without BPF simply fails the probe. The maps of one loaded kernel
 *   side are a "connection", shared by every hub of the process attached to it and recognised
 *   by the control map's id: if the loader is stopped and started again, hubs already running
 *   keep their mapping of the old maps (where, with no programs attached, they run as in mode
 *   none) and new hubs attach to the new ones.
 *
 * Alternatives rejected
 *   - Registering carriers by tid in a hash map: the kernel side would look the tid up on
 *     every system call of the machine. Task storage costs a pointer load for other threads.
 *   - The spare waiting on a ring buffer fd: a parked spare would need a second way to be
 *     woken besides its futex word, and carrier.c's park would depend on the mode.
 *
 * Memory ordering
 *   The slot and hub entries are shared with the BPF programs through MAP_SHARED mappings;
 *   every baton access is the protocol's seq_cst CAS (carrier.c). A claim publishes a slot
 *   by storing GH_SLOT_F_ACTIVE with release order after its fields are reset; the BPF side
 *   only acts on slots whose flag it sees. spare_tid is a relaxed store: the kernel side
 *   re-checks whatever it reads (see trace.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "greenhub/trace.h"
#include "internal.h"


/* One loaded kernel side, as mapped by this process. */
struct conn {
	unsigned refs;  /* hubs attached, under conn_lock */
	__u32 ctl_id;   /* the control map's id: identifies the loaded kernel side */
	int ctl_fd, slots_fd, hubs_fd, carriers_fd;
	const struct gh_trace_control *ctl;
	struct gh_hub_slot *slots;
	struct gh_trace_hub *hubs;
	int signo;
};

/* The hub's backend_data. */
struct trace_hub {
	struct conn *conn;
	__u32 idx;
};

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
/* The connection new hubs attach to: the one the last successful probe found. */
static struct conn *current_conn;
static bool handler_installed;

/* ---------------------------------------------------------------------------------------- */
/* bpf(2)                                                                                     */


/* ---------------------------------------------------------------------------------------- */
/* Connections                                                                                */

static void conn_free(struct conn *c)
{
	if (c->ctl)
		munmap((void *)c->ctl, gh__bpf_map_bytes(sizeof(*c->ctl), 1));
	if (c->slots)
		munmap(c->slots, gh__bpf_map_bytes(sizeof(*c->slots), GH_MAX_HUBS));
	if (c->hubs)
		munmap(c->hubs, gh__bpf_map_bytes(sizeof(*c->hubs), GH_MAX_HUBS));
	if (c->ctl_fd >= 0)
		close(c->ctl_fd);
	if (c->slots_fd >= 0)
		close(c->slots_fd);
	if (c->hubs_fd >= 0)
		close(c->hubs_fd);
	if (c->carriers_fd >= 0)
		close(c->carriers_fd);
	free(c);
}

/* Open the pinned objects; NULL with a reason. ctl_fd is already open. */
static struct conn *conn_open(int ctl_fd, __u32 id, char *why, size_t len)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(ctl_fd);
		snprintf(why, len, "out of memory");
		return NULL;
	}
	c->ctl_fd = ctl_fd;
	c->ctl_id = id;
	c->slots_fd = gh__bpf_obj_get(GH_TRACE_PIN_DIR "/slots");
	c->hubs_fd = gh__bpf_obj_get(GH_TRACE_PIN_DIR "/hubs");
	c->carriers_fd = gh__bpf_obj_get(GH_TRACE_PIN_DIR "/carriers");
	if (c->slots_fd < 0 || c->hubs_fd < 0 || c->carriers_fd < 0) {
		snprintf(why, len, "scx_greenhub's pins are incomplete (%s)", strerror(errno));
		goto fail;
	}
	c->ctl = gh__bpf_map_values(ctl_fd, sizeof(*c->ctl), 1, PROT_READ);
	c->slots = gh__bpf_map_values(c->slots_fd, sizeof(*c->slots), GH_MAX_HUBS,
			      PROT_READ | PROT_WRITE);
	c->hubs = gh__bpf_map_values(c->hubs_fd, sizeof(*c->hubs), GH_MAX_HUBS, PROT_READ | PROT_WRITE);
	if (!c->ctl || !c->slots || !c->hubs) {
		snprintf(why, len, "mapping scx_greenhub's maps failed (%s)", strerror(errno));
		goto fail;
	}
	c->signo = (int)c->ctl->signo;
	return c;
fail:
	conn_free(c);
	return NULL;
}

static void conn_put(struct conn *c)
{
	if (--c->refs == 0 && c != current_conn)
		conn_free(c);
}

/* ---------------------------------------------------------------------------------------- */
/* The signal handler                                                                         */

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	struct gh__carrier *c;
	uint64_t value;

	/* Only the kernel side sends SI_KERNEL with a value; kill(2) and sigqueue(3) cannot. */
	if (si->si_code != SI_KERNEL)
		goto out;
	c = gh__carrier_self();
	if (!c)
		goto out;
	value = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
	switch (value & GH_TRACE_SIG_CODE_MASK) {
	case GH_TRACE_SIG_WAKE:
		/* The futex wait of park() is restarted (SA_RESTART) and returns at once. */
		atomic_store(&c->wake_word, 1);
		break;
	case GH_TRACE_SIG_GATE:
		gh__carrier_reacquire(c->hub, c);
		break;
	case GH_TRACE_SIG_KICK:
		gh__carrier_kick((pid_t)(value >> GH_TRACE_SIG_SHIFT));
		break;
	}
out:
	errno = saved_errno;
}

/* Under conn_lock. */
static int install_handler(int signo, char *why, size_t len)
{
	struct sigaction sa, old;

	if (sigaction(signo, NULL, &old) < 0) {
		snprintf(why, len, "signal %d cannot be used (%s)", signo, strerror(errno));
		return -EINVAL;
	}
	if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_signal)
		return 0;
	if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler != SIG_DFL &&
	    old.sa_handler != SIG_IGN) {
		snprintf(why, len, "the gate signal %d has another handler", signo);
		return -EBUSY;
	}
	if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction) {
		snprintf(why, len, "the gate signal %d has another handler", signo);
		return -EBUSY;
	}
	if (handler_installed)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	/* SA_ONSTACK: the gate may interrupt a green thread deep in its stack. SA_RESTART: the
	 * runtime's own waits that a wake interrupts simply go on. */
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(signo, &sa, NULL) < 0) {
		snprintf(why, len, "installing the handler of signal %d failed (%s)", signo,
			 strerror(errno));
		return -errno;
	}
	handler_installed = true;
	return 0;
}

static bool signal_blocked(int signo)
{
	sigset_t cur;

	return pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, signo) == 1;
}

/* ---------------------------------------------------------------------------------------- */
/* The backend                                                                                */

static int trace_probe(char *why, size_t len)
{
	const struct gh_trace_control *ctl;
	struct conn *c;
	__u32 id = 0;
	int fd, err;

	fd = gh__bpf_obj_get(GH_TRACE_PIN_DIR "/control");
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			snprintf(why, len, "scx_greenhub is not running");
		else if (err == -EACCES || err == -EPERM)
			snprintf(why, len, "no permission to open %s (root only)",
				 GH_TRACE_PIN_DIR);
		else if (err == -ENOSYS)
			snprintf(why, len, "this kernel has no BPF");
		else
			snprintf(why, len, "opening %s/control failed (%s)", GH_TRACE_PIN_DIR,
				 strerror(-err));
		return err;
	}
	err = gh__bpf_map_id(fd, &id);
	if (err) {
		snprintf(why, len, "reading scx_greenhub's control map failed (%s)",
			 strerror(-err));
		close(fd);
		return err;
	}
	/* The version before anything else: another version's maps may be laid out otherwise. */
	ctl = gh__bpf_map_values(fd, sizeof(*ctl), 1, PROT_READ);
	if (!ctl) {
		err = -errno;
		snprintf(why, len, "mapping scx_greenhub's control map failed (%s)",
			 strerror(-err));
		close(fd);
		return err;
	}
	err = 0;
	if (ctl->magic != GH_TRACE_MAGIC || ctl->slot_abi != GH_SLOT_ABI_VERSION ||
	    ctl->trace_abi != GH_TRACE_ABI_VERSION) {
		snprintf(why, len, "scx_greenhub is another version (ABI %u/%u, not %u/%u)",
			 ctl->slot_abi, ctl->trace_abi, GH_SLOT_ABI_VERSION, GH_TRACE_ABI_VERSION);
		err = -EOPNOTSUPP;
	}
	munmap((void *)ctl, gh__bpf_map_bytes(sizeof(*ctl), 1));
	if (err) {
		close(fd);
		return err;
	}
	pthread_mutex_lock(&conn_lock);
	c = current_conn;
	if (c && c->ctl_id == id) {
		close(fd);
	} else {
		c = conn_open(fd, id, why, len);
		if (!c) {
			pthread_mutex_unlock(&conn_lock);
			return -ENOENT;
		}
		if (current_conn && !current_conn->refs)
			conn_free(current_conn);
		current_conn = c;
	}
	ctl = c->ctl;
	err = -EOPNOTSUPP;
	if (ctl->mode != GH_MODE_TRACE)
		snprintf(why, len, "scx_greenhub runs another mode (%s)",
			 gh_mode_name((enum gh_mode)ctl->mode));
	else if (__atomic_load_n(&ctl->state, __ATOMIC_ACQUIRE) == GH_TRACE_LOADING)
		snprintf(why, len, "scx_greenhub is still loading");
	else if (__atomic_load_n(&ctl->state, __ATOMIC_ACQUIRE) != GH_TRACE_RUNNING)
		snprintf(why, len, "scx_greenhub is stopping");
	else if (signal_blocked(c->signo))
		snprintf(why, len, "the gate signal %d is blocked on this thread", c->signo);
	else
		err = install_handler(c->signo, why, len);
	if (!err) {
		/* Registration needs a pidfd of a thread (Linux 6.9). */
		fd = gh__bpf_pidfd_of_thread(gettid());
		if (fd < 0) {
			err = -errno;
			snprintf(why, len, "no pidfd of a thread (PIDFD_THREAD, Linux 6.9): %s",
				 strerror(errno));
		} else {
			close(fd);
		}
	}
	pthread_mutex_unlock(&conn_lock);
	return err;
}

/* The statistics of a slot (what gh_hub_stats reads). */
static void counters_copy(struct gh_hub_slot *to, const struct gh_hub_slot *from)
{
	to->displaced_tid = from->displaced_tid;
	to->nr_handoffs = __atomic_load_n(&from->nr_handoffs, __ATOMIC_RELAXED);
	to->nr_takeovers = __atomic_load_n(&from->nr_takeovers, __ATOMIC_RELAXED);
	to->nr_cancels = __atomic_load_n(&from->nr_cancels, __ATOMIC_RELAXED);
	to->nr_holds = __atomic_load_n(&from->nr_holds, __ATOMIC_RELAXED);
	to->nr_handbacks = __atomic_load_n(&from->nr_handbacks, __ATOMIC_RELAXED);
	to->nr_idle_returns = __atomic_load_n(&from->nr_idle_returns, __ATOMIC_RELAXED);
	to->stalled_ns = __atomic_load_n(&from->stalled_ns, __ATOMIC_RELAXED);
}

static int trace_hub_attach(struct gh_hub *hub)
{
	struct trace_hub *th = calloc(1, sizeof(*th));
	__u32 tgid = (__u32)getpid();
	struct conn *c;
	unsigned i;

	if (!th)
		return -ENOMEM;
	pthread_mutex_lock(&conn_lock);
	c = current_conn;
	if (!c) {
		pthread_mutex_unlock(&conn_lock);
		free(th);
		return -ENOENT;
	}
	for (i = 0; i < GH_MAX_HUBS; i++) {
		struct gh_hub_slot *s = &c->slots[i];
		__u32 zero = 0;

		if (__atomic_load_n(&s->flags, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&s->tgid, __ATOMIC_RELAXED))
			continue;
		if (__atomic_compare_exchange_n(&s->tgid, &zero, tgid, false, __ATOMIC_SEQ_CST,
						__ATOMIC_RELAXED))
			break;
	}
	if (i == GH_MAX_HUBS) {
		pthread_mutex_unlock(&conn_lock);
		free(th);
		return -EBUSY;
	}
	c->refs++;
	pthread_mutex_unlock(&conn_lock);

	/* The slot is ours: reset it, then publish it. */
	{
		struct gh_hub_slot *s = &c->slots[i];
		struct gh_trace_hub *h = &c->hubs[i];
		__u64 old = __atomic_load_n(&s->baton, __ATOMIC_RELAXED);

		memset(h, 0, sizeof(*h));
		s->baton = gh_baton_next(old, GH_BATON_FREE, 0);
		s->runner_tid = 0;
		s->return_pending = 0;
		s->handoff_ns = 0;
		/* gh_hub_stats counts since the hub was created: carry the counters over. */
		counters_copy(s, &hub->slot_mem);
		__atomic_store_n(&s->flags, GH_SLOT_F_ACTIVE, __ATOMIC_SEQ_CST);
		hub->slot = s;
	}
	th->conn = c;
	th->idx = i;
	hub->backend_data = th;
	{
		size_t used = strlen(hub->mode_reason);

		snprintf(hub->mode_reason + used, sizeof(hub->mode_reason) - used,
			 "trace mode: scx_greenhub (pid %u) watches the hub (slot %u)",
			 c->ctl->loader_pid, i);
	}
	return 0;
}

static void trace_hub_detach(struct gh_hub *hub)
{
	struct trace_hub *th = hub->backend_data;
	struct gh_hub_slot *s;
	struct gh_trace_hub *h;

	if (!th)
		return;
	s = &th->conn->slots[th->idx];
	h = &th->conn->hubs[th->idx];
	counters_copy(&hub->slot_mem, s);
	__atomic_store_n(&h->spare_tid, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->flags, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->baton, gh_baton_next(s->baton, GH_BATON_FREE, 0), __ATOMIC_SEQ_CST);
	s->runner_tid = 0;
	__atomic_store_n(&h->owner_tgid, 0, __ATOMIC_RELAXED);
	/* Last: the slot may now be claimed by anyone. */
	__atomic_store_n(&s->tgid, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&conn_lock);
	conn_put(th->conn);
	pthread_mutex_unlock(&conn_lock);
	hub->backend_data = NULL;
	free(th);
}

static int trace_carrier_attach(struct gh_hub *hub, struct gh__carrier *c)
{
	struct trace_hub *th = hub->backend_data;
	struct gh_trace_carrier reg;
	sigset_t gate;
	int pidfd, err;

	sigemptyset(&gate);
	sigaddset(&gate, th->conn->signo);
	/* The runtime's own spares start with every signal blocked: open the gate's. A thread
	 * of the application that blocks it cannot carry a hub in trace mode. */
	if (c->spare_thread)
		pthread_sigmask(SIG_UNBLOCK, &gate, NULL);
	else if (signal_blocked(th->conn->signo))
		return -EPERM;
	pidfd = gh__bpf_pidfd_of_thread(c->tid);
	if (pidfd < 0)
		return -errno;
	memset(&reg, 0, sizeof(reg));
	reg.hub = th->idx;
	reg.tid = (__u32)c->tid;
	reg.tgid = (__u32)getpid();
	reg.abi = GH_TRACE_ABI_VERSION;
	reg.green_addr = (__u64)(unsigned long)&c->green;
	err = gh__bpf_map_update(th->conn->carriers_fd, &pidfd, &reg, BPF_ANY);
	/* The kernel side checks and binds the registration at the thread's first sleep. */
	close(pidfd);
	return err;
}

static void trace_carrier_detach(struct gh_hub *hub, struct gh__carrier *c)
{
	struct trace_hub *th = hub->backend_data;
	int pidfd;

	if (!th)
		return;
	pidfd = gh__bpf_pidfd_of_thread(c->tid);
	if (pidfd < 0)
		return; /* the kernel side drops the registration when the thread exits */
	(void)gh__bpf_map_delete(th->conn->carriers_fd, &pidfd);
	close(pidfd);
}

/* Under hub->carrier_lock: name a parked spare for the kernel side to signal. */
static void trace_spare_parked(struct gh_hub *hub, struct gh__carrier *c, bool parked)
{
	struct trace_hub *th = hub->backend_data;
	__u32 *spare = &th->conn->hubs[th->idx].spare_tid;

	if (parked) {
		/* The most recently parked spare: the warmest one. */
		__atomic_store_n(spare, (__u32)c->tid, __ATOMIC_RELAXED);
	} else if (__atomic_load_n(spare, __ATOMIC_RELAXED) == (__u32)c->tid) {
		__u32 next = 0;

		if (!gh__list_empty(&hub->parked))
			next = (__u32)GH_CONTAINER_OF(hub->parked.prev, struct gh__carrier,
						      park_link)->tid;
		__atomic_store_n(spare, next, __ATOMIC_RELAXED);
	}
}

const struct gh__backend gh__backend_trace = {
	.mode = GH_MODE_TRACE,
	.probe = trace_probe,
	.hub_attach = trace_hub_attach,
	.hub_detach = trace_hub_detach,
	.carrier_attach = trace_carrier_attach,
	.carrier_detach = trace_carrier_detach,
	.spare_parked = trace_spare_parked,
};
