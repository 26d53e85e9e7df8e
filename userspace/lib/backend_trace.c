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


/* The hub's backend_data. */
struct trace_hub {
	struct gh__pins *conn;
	__u32 idx;
};

static struct gh__conns conns = {
	.dir = GH_TRACE_PIN_DIR,
	.ctl_size = sizeof(struct gh_trace_control),
	.hub_size = sizeof(struct gh_trace_hub),
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static const struct gh_trace_control *conn_ctl(const struct gh__pins *c)
{
	return c->ctl;
}

static struct gh_trace_hub *conn_hub(const struct gh__pins *c, __u32 idx)
{
	return (struct gh_trace_hub *)c->hubs + idx;
}

/* The gate signal, written once by the loader before it runs. */
static int conn_signo(const struct gh__pins *c)
{
	return (int)conn_ctl(c)->signo;
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

/* ---------------------------------------------------------------------------------------- */
/* The backend                                                                                */

static int trace_probe(char *why, size_t len)
{
	const struct gh_trace_control *ctl;
	struct gh__pins *c;
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
	pthread_mutex_lock(&conns.lock);
	c = gh__pins_connect(&conns, fd, id, why, len);
	if (!c) {
		pthread_mutex_unlock(&conns.lock);
		return -ENOENT;
	}
	ctl = conn_ctl(c);
	err = -EOPNOTSUPP;
	if (ctl->mode != GH_MODE_TRACE)
		snprintf(why, len, "scx_greenhub runs another mode (%s)",
			 gh_mode_name((enum gh_mode)ctl->mode));
	else if (__atomic_load_n(&ctl->state, __ATOMIC_ACQUIRE) == GH_TRACE_LOADING)
		snprintf(why, len, "scx_greenhub is still loading");
	else if (__atomic_load_n(&ctl->state, __ATOMIC_ACQUIRE) != GH_TRACE_RUNNING)
		snprintf(why, len, "scx_greenhub is stopping");
	else if (gh__signal_blocked(conn_signo(c)))
		snprintf(why, len, "the gate signal %d is blocked on this thread", conn_signo(c));
	else
		err = gh__signal_install(conn_signo(c), on_signal, why, len);
	if (!err)
		err = gh__pidfd_check(why, len);
	pthread_mutex_unlock(&conns.lock);
	return err;
}

static int trace_hub_attach(struct gh_hub *hub)
{
	struct trace_hub *th = calloc(1, sizeof(*th));
	struct gh__pins *c;
	int i;

	if (!th)
		return -ENOMEM;
	i = gh__pins_claim(&conns, &c);
	if (i < 0) {
		free(th);
		return i;
	}
	/* The slot is ours: reset it, then publish it. */
	memset(conn_hub(c, (__u32)i), 0, sizeof(struct gh_trace_hub));
	gh__slot_publish(hub, &c->slots[i]);
	th->conn = c;
	th->idx = (__u32)i;
	hub->backend_data = th;
	{
		size_t used = strlen(hub->mode_reason);

		snprintf(hub->mode_reason + used, sizeof(hub->mode_reason) - used,
			 "trace mode: scx_greenhub (pid %u) watches the hub (slot %d)",
			 conn_ctl(c)->loader_pid, i);
	}
	return 0;
}

static void trace_hub_detach(struct gh_hub *hub)
{
	struct trace_hub *th = hub->backend_data;
	struct gh_trace_hub *h;

	if (!th)
		return;
	h = conn_hub(th->conn, th->idx);
	gh__slot_release(hub, &th->conn->slots[th->idx], &h->spare_tid, &h->owner_tgid);
	gh__pins_put(&conns, th->conn);
	hub->backend_data = NULL;
	free(th);
}

static int trace_carrier_attach(struct gh_hub *hub, struct gh__carrier *c)
{
	struct trace_hub *th = hub->backend_data;
	struct gh_trace_carrier reg;
	int err;

	err = gh__carrier_gate_open(c, conn_signo(th->conn));
	if (err)
		return err;
	memset(&reg, 0, sizeof(reg));
	reg.hub = th->idx;
	reg.tid = (__u32)c->tid;
	reg.tgid = (__u32)getpid();
	reg.abi = GH_TRACE_ABI_VERSION;
	reg.green_addr = (__u64)(unsigned long)&c->green;
	/* The kernel side checks and binds the registration at the thread's first sleep. */
	return gh__carrier_register(th->conn, c->tid, &reg);
}

static void trace_carrier_detach(struct gh_hub *hub, struct gh__carrier *c)
{
	struct trace_hub *th = hub->backend_data;

	if (th)
		gh__carrier_unregister(th->conn, c->tid);
}

/* Under hub->carrier_lock: name a parked spare for the kernel side to signal. */
static void trace_spare_parked(struct gh_hub *hub, struct gh__carrier *c, bool parked)
{
	struct trace_hub *th = hub->backend_data;

	gh__spare_name(hub, c, parked, &conn_hub(th->conn, th->idx)->spare_tid);
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
