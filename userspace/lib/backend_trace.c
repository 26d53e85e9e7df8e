// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Trace mode, the runtime's side (docs/trace-mode.md; the kernel side is
 * bpf/greenhub_trace.bpf.c, loaded and pinned by scx_greenhub).
 *
 * What this file does
 *   probe          reads the pinned control map (read-only), checks its versions and that the
 *                  loader is running, and that the gate signal is usable on the calling thread
 *   hub_attach     asks the kernel side for a free slot (a CLAIM request), maps that slot's
 *                  page and nothing else, and puts a wake ring of its own at the slot's index
 *   carrier_attach makes sure the gate signal is unblocked on the calling carrier, and asks
 *                  the kernel side to register it (a JOIN request, from the carrier's thread)
 *   spare_parked   keeps the slot's spare_tid naming a parked spare (the kernel side writes a
 *                  wakeup only when one is parked)
 *   spare_wait     a parked spare waits in ppoll on the hub's wake ring
 *   the handler    of GH_TRACE_SIGNO, sent by the kernel side to a carrier it handed off, on its
 *                  return while the hub is not simply its own again: re-acquire the hub
 *                  (gh__carrier_reacquire, async-signal-safe) before the interrupted code runs
 *                  on. Signals not sent by the kernel are ignored.
 *
 * The design
 *   Requests are made by the thread they concern, from its own context, so that the kernel side
 *   never has to trust what user space wrote (I5): prctl(PR_SET_NAME) to the thread's own name,
 *   with GH_TRACE_REQ_MAGIC and the request in the otherwise unused arguments; the kernel side's
 *   rename tracepoint program answers in the slot page before prctl returns. The library talks
 *   to the pins with raw bpf(2) calls and keeps no descriptor of them: the slot map and the
 *   ring map are opened for an attach and closed after it, and what remains is the mapping of
 *   the hub's own slot page (not inherited by fork()) and its own ring. Hubs attached to a
 *   kernel side that was since unloaded keep their pages, where, with no programs attached,
 *   they run as in mode none.
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
 *   The slot page is shared with the BPF programs through a MAP_SHARED mapping; every baton
 *   access is the protocol's seq_cst CAS (carrier.c). The kernel side answers a request before
 *   the request's system call returns, so reading the answer after it needs no ordering beyond
 *   program order. spare_tid is a relaxed store: the kernel side only reads it as a hint.
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
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "greenhub/trace.h"
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

/*
 * What this process holds of one loaded kernel side, while a hub of it is attached: its links
 * and the task-work gates' maps. Pins are only names: removing them (an operator's cleanup
 * script, `rm -rf /sys/fs/bpf/greenhub`) would otherwise drop the last reference to the links,
 * detach the programs, and let a displaced carrier return ungated. Holding them is harmless:
 * the kernel lets nobody detach or replace a tracepoint link through a descriptor, and the gate
 * maps are read-only to user space. After `scx_greenhub --stop` the programs therefore stay
 * attached (handoffs off) until the last process that attached a hub to them ends or detaches.
 */
struct trace_hold {
	struct trace_hold *next;
	__u32 ctl_id;
	unsigned refs;
	int nfds;
	int fds[8];
};

static struct trace_hold *holds; /* under info_lock */

static const char *const held_pins[] = { "link_register", "link_switch", "link_sys_exit",
					 "link_exit", "link_exec", "link_free", "gates",
					 "gate_backups" };

/* Under info_lock: a reference to the hold of kernel side ctl_id, made if needed. */
static struct trace_hold *hold_get(__u32 ctl_id, char *why, size_t len)
{
	struct trace_hold *h;

	for (h = holds; h; h = h->next)
		if (h->ctl_id == ctl_id) {
			h->refs++;
			return h;
		}
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	h->ctl_id = ctl_id;
	for (size_t i = 0; i < sizeof(held_pins) / sizeof(held_pins[0]); i++) {
		char path[128];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", GH_TRACE_PIN_DIR, held_pins[i]);
		fd = gh__bpf_obj_get(path);
		if (fd >= 0) {
			h->fds[h->nfds++] = fd;
		} else if (errno != ENOENT || strcmp(held_pins[i], "link_sys_exit")) {
			/* Only the gate the loader did not choose may be missing. */
			snprintf(why, len, "opening %s failed (%s)", path, strerror(errno));
			while (h->nfds)
				close(h->fds[--h->nfds]);
			free(h);
			return NULL;
		}
	}
	h->refs = 1;
	h->next = holds;
	holds = h;
	return h;
}

/* Under info_lock. */
static void hold_put(struct trace_hold *h)
{
	struct trace_hold **p;

	if (--h->refs)
		return;
	for (p = &holds; *p != h; p = &(*p)->next)
		;
	*p = h->next;
	while (h->nfds)
		close(h->fds[--h->nfds]);
	free(h);
}

/* The hub's backend_data. */
struct trace_hub {
	struct trace_hold *hold;
	__u32 idx;
	__u32 ctl_id;             /* the id of the control map of the kernel side attached to */
	__u64 cookie;
	int signo;
	struct gh_hub_slot *slot; /* this hub's page of the slot map, read-write */
	int ring_fd;
	__u64 *ring_consumer;           /* the ring's consumer position, read-write */
	const __u64 *ring_producer;     /* its producer position, read-only */
	pthread_mutex_t request_lock;   /* one JOIN or LEAVE at a time: one reply in the slot */
};

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                   */

/* Ask the kernel side, from the calling thread. 0 once asked (the answer, if any, is in the
 * slot page), or -errno. */
static void on_signal(int sig, siginfo_t *si, void *uc);

static int request(__u32 op, __u32 idx, __u64 cookie, __u64 green_addr)
{
	struct gh_trace_request rq = {
		.magic = GH_TRACE_REQ_MAGIC,
		.abi = GH_TRACE_ABI_VERSION,
		.op = op,
		.hub = idx,
		.cookie = cookie,
		.green_addr = green_addr,
		.gate_handler = (__u64)(uintptr_t)on_signal,
	};
	char name[17] = "";

	/* The rename is to the thread's own name: the request rides along, the name stays. */
	if (prctl(PR_GET_NAME, name) < 0)
		return -errno;
	if (syscall(SYS_prctl, PR_SET_NAME, name, GH_TRACE_REQ_MAGIC, &rq, 0) < 0)
		return -errno;
	return 0;
}

/*
 * How many times a request nobody answered is made again. The kernel skips a tracing program
 * that is already running on the same CPU (its recursion guard; `scx_greenhub --stats` counts
 * such misses), and where tracepoints run preemptible (7.x) a task preempted inside the request
 * program makes every request on that CPU go unanswered until it runs again, which on a loaded
 * machine takes a while. The pauses double from 100 us: 15 tries wait about 3 s in all before
 * the kernel side is taken for gone.
 */
#define REQUEST_TRIES 15

/* Give the CPU to whoever holds the request program before asking again. */
static void request_pause(int attempt)
{
	long ns = 100000L << (attempt < 14 ? attempt - 1 : 13);
	struct timespec ts = { .tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L };

	nanosleep(&ts, NULL);
}

/* Is the kernel side this hub attached to still the one pinned? A request to one that was
 * unloaded (or replaced by another load) can never be answered. */
static bool still_loaded(const struct trace_hub *th)
{
	int fd = gh__bpf_obj_get(PIN("control"));
	__u32 id = 0;

	if (fd < 0)
		return false;
	if (gh__bpf_map_id(fd, &id))
		id = 0;
	close(fd);
	return id == th->ctl_id;
}

/* A JOIN or LEAVE of the calling thread: the kernel side's answer, or -ENOENT if it gave none
 * (its programs are gone: the loader was stopped). tries: how often to ask while the kernel
 * side is still loaded. */
static int ask(struct trace_hub *th, __u32 op, __u64 green_addr, int tries)
{
	int err = -ENOENT;

	for (int attempt = 0; attempt < tries && err == -ENOENT; attempt++) {
		__u32 seq;

		if (attempt) {
			if (!still_loaded(th))
				break;
			request_pause(attempt);
		}
		/* One request of this hub at a time: its answer is the slot's one reply. */
		pthread_mutex_lock(&th->request_lock);
		seq = __atomic_load_n(&th->slot->reply_seq, __ATOMIC_ACQUIRE);
		err = request(op, th->idx, th->cookie, green_addr);
		if (!err) {
			if (__atomic_load_n(&th->slot->reply_seq, __ATOMIC_ACQUIRE) == seq ||
			    th->slot->reply_tid != (__u32)gettid())
				err = -ENOENT;
			else
				err = th->slot->reply_err;
		}
		pthread_mutex_unlock(&th->request_lock);
	}
	return err;
}

static __u64 new_cookie(void)
{
	__u64 c = 0;

	/* Unique per claim; unpredictable only as a courtesy (the kernel side also checks the
	 * process). */
	if (getrandom(&c, sizeof(c), GRND_NONBLOCK) != sizeof(c))
		c = gh_now() ^ ((__u64)getpid() << 32) ^ (__u64)(uintptr_t)&c;
	return c ? c : 1;
}

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
	err = gh__bpf_map_update(outer, &th->idx, &th->ring_fd, BPF_ANY);
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

/* Nothing is pinned: say so, and why, if the loader left word that it refused this kernel. */
static void not_running(char *why, size_t len)
{
	char refused[512] = "";
	FILE *f = fopen(GH_LOADER_REFUSED, "re");

	if (f) {
		if (!fgets(refused, sizeof(refused), f))
			refused[0] = '\0';
		fclose(f);
		refused[strcspn(refused, "\n")] = '\0';
	}
	if (refused[0])
		snprintf(why, len, "scx_greenhub is not running: it refused this kernel (%s)",
			 refused);
	else
		snprintf(why, len, "scx_greenhub is not running");
}

static int trace_probe(char *why, size_t len)
{
	const struct gh_trace_control *ctl;
	int fd, err;

	/* A read-only descriptor would be simpler, but a BPF map cannot be mapped through one
	 * (the kernel wants a shared mapping, which it makes private for a read-only file). The
	 * descriptor is closed at once; the mapping is read-only. */
	fd = gh__bpf_obj_get(PIN("control"));
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			not_running(why, len);
		else if (err == -EACCES || err == -EPERM)
			snprintf(why, len, "no permission to open %s (root only)",
				 GH_TRACE_PIN_DIR);
		else if (err == -ENOSYS)
			snprintf(why, len, "this kernel has no BPF");
		else
			snprintf(why, len, "opening %s failed (%s)", PIN("control"), strerror(-err));
		return err;
	}
	ctl = gh__bpf_map_values(fd, sizeof(*ctl), 1, PROT_READ);
	close(fd);
	if (!ctl) {
		err = -errno;
		snprintf(why, len, "mapping scx_greenhub's control map failed (%s)",
			 strerror(-err));
		return err;
	}
	err = -EOPNOTSUPP;
	/* The version before anything else: another version's maps may be laid out otherwise. */
	if (ctl->magic != GH_TRACE_MAGIC || ctl->slot_abi != GH_SLOT_ABI_VERSION ||
	    ctl->trace_abi != GH_TRACE_ABI_VERSION)
		snprintf(why, len, "scx_greenhub is another version (ABI %u/%u, not %u/%u)",
			 ctl->slot_abi, ctl->trace_abi, GH_SLOT_ABI_VERSION, GH_TRACE_ABI_VERSION);
	else if (ctl->mode != GH_MODE_TRACE)
		snprintf(why, len, "scx_greenhub runs another mode (%s)",
			 gh_mode_name((enum gh_mode)ctl->mode));
	else if (__atomic_load_n(&ctl->state, __ATOMIC_ACQUIRE) == GH_TRACE_LOADING)
		snprintf(why, len, "scx_greenhub is still loading");
	else if (__atomic_load_n(&ctl->state, __ATOMIC_ACQUIRE) != GH_TRACE_RUNNING)
		snprintf(why, len, "scx_greenhub is stopping");
	else if (gh__signal_blocked((int)ctl->signo))
		snprintf(why, len, "the gate signal %u is blocked on this thread", ctl->signo);
	else
		err = gh__signal_install((int)ctl->signo, on_signal, why, len);
	if (!err) {
		pthread_mutex_lock(&info_lock);
		info.signo = (int)ctl->signo;
		info.loader_pid = ctl->loader_pid;
		info.gate = ctl->gate;
		memcpy(info.gate_why, ctl->gate_why, sizeof(info.gate_why));
		info.gate_why[sizeof(info.gate_why) - 1] = '\0';
		pthread_mutex_unlock(&info_lock);
	}
	munmap((void *)ctl, gh__bpf_map_bytes(sizeof(*ctl), 1));
	return err;
}

/* Requests the kernel side has answered so far, granted or refused. */
static __u64 answers(const struct gh_trace_control *ctl)
{
	return __atomic_load_n(&ctl->nr_claims, __ATOMIC_ACQUIRE) +
	       __atomic_load_n(&ctl->nr_rejected, __ATOMIC_ACQUIRE);
}

/* Ask for a free slot: its index, with th->slot mapped, or -errno with a reason. */
static int claim(struct trace_hub *th, char *why, size_t len)
{
	size_t all = gh__bpf_map_bytes(sizeof(struct gh_hub_slot), GH_MAX_HUBS);
	const struct gh_trace_control *ctl = NULL;
	const struct gh_hub_slot *view = NULL;
	int fd, ctl_fd, err = -EBUSY;
	void *page;

	fd = gh__bpf_obj_get(PIN("slots"));
	ctl_fd = gh__bpf_obj_get(PIN("control"));
	if (fd < 0 || ctl_fd < 0) {
		err = -errno;
		snprintf(why, len, "opening scx_greenhub's pins failed (%s)", strerror(-err));
		goto out;
	}
	/* A read-only view of every slot, for finding a free one (only ours stays mapped), and of
	 * the control map, whose counters tell a refused request from one nobody answered. */
	view = mmap(NULL, all, PROT_READ, MAP_SHARED, fd, 0);
	ctl = gh__bpf_map_values(ctl_fd, sizeof(*ctl), 1, PROT_READ);
	if (view == MAP_FAILED || !ctl || (err = gh__bpf_map_id(ctl_fd, &th->ctl_id))) {
		err = err ? err : -errno;
		snprintf(why, len, "mapping scx_greenhub's maps failed (%s)", strerror(-err));
		if (view == MAP_FAILED)
			view = NULL;
		goto out;
	}
	err = -EBUSY;
	th->cookie = new_cookie();
	for (__u32 i = 0, tries = 0; i < GH_MAX_HUBS; i++) {
		__u64 before;

		if (__atomic_load_n(&view[i].flags, __ATOMIC_ACQUIRE) & GH_SLOT_F_ACTIVE)
			continue;
		before = answers(ctl);
		err = request(GH_TRACE_OP_CLAIM, i, th->cookie, 0);
		if (err) {
			snprintf(why, len, "asking the kernel side for a slot failed (%s)",
				 strerror(-err));
			goto out;
		}
		/* The answer is in the slot page before prctl returns. */
		if (__atomic_load_n(&view[i].claim_cookie, __ATOMIC_ACQUIRE) == th->cookie) {
			th->idx = i;
			break;
		}
		err = -EBUSY;
		if (answers(ctl) == before) {
			/* Nobody answered (another request would have moved the count). */
			if (++tries < REQUEST_TRIES && still_loaded(th)) {
				request_pause((int)tries);
				i--; /* the same slot again */
				continue;
			}
			err = -ENOENT;
			snprintf(why, len, "the kernel side did not answer (it may be stopping)");
			goto out;
		}
		/* Granted to another hub meanwhile: try the next slot. */
	}
	if (err == -EBUSY) {
		snprintf(why, len, "all %d hub slots of the kernel side are in use", GH_MAX_HUBS);
		goto out;
	}
	page = mmap(NULL, GH_SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    (off_t)th->idx * GH_SLOT_SIZE);
	if (page == MAP_FAILED) {
		err = -errno;
		snprintf(why, len, "mapping the hub's slot failed (%s)", strerror(-err));
		request(GH_TRACE_OP_RELEASE, th->idx, th->cookie, 0);
		goto out;
	}
	/* A child of fork() must never write its parent's baton. */
	madvise(page, GH_SLOT_SIZE, MADV_DONTFORK);
	th->slot = page;
out:
	if (view)
		munmap((void *)view, all);
	if (ctl)
		munmap((void *)ctl, gh__bpf_map_bytes(sizeof(*ctl), 1));
	if (fd >= 0)
		close(fd);
	if (ctl_fd >= 0)
		close(ctl_fd);
	return err;
}

static int trace_hub_attach(struct gh_hub *hub, char *why, size_t len)
{
	struct trace_hub *th = calloc(1, sizeof(*th));
	size_t used;
	int err;

	if (!th)
		return -ENOMEM;
	th->ring_fd = -1;
	pthread_mutex_init(&th->request_lock, NULL);
	pthread_mutex_lock(&info_lock);
	th->signo = info.signo;
	pthread_mutex_unlock(&info_lock);
	err = claim(th, why, len);
	if (!err) {
		err = ring_open(th, why, len);
		if (!err) {
			pthread_mutex_lock(&info_lock);
			th->hold = hold_get(th->ctl_id, why, len);
			pthread_mutex_unlock(&info_lock);
			if (!th->hold) {
				err = -ENOENT;
				ring_close(th);
			}
		}
		if (err) {
			request(GH_TRACE_OP_RELEASE, th->idx, th->cookie, 0);
			munmap(th->slot, GH_SLOT_SIZE);
		}
	}
	if (err) {
		pthread_mutex_destroy(&th->request_lock);
		free(th);
		return err;
	}
	gh__slot_publish(hub, th->slot);
	hub->backend_data = th;
	used = strlen(hub->mode_reason);
	pthread_mutex_lock(&info_lock);
	snprintf(hub->mode_reason + used, sizeof(hub->mode_reason) - used,
		 "trace mode: scx_greenhub (pid %u) watches the hub (slot %u); return gate %s%s%s%s",
		 info.loader_pid, th->idx,
		 info.gate == GH_TRACE_GATE_TASK_WORK ? "task work" : "sys_exit",
		 info.gate_why[0] ? " (" : "", info.gate_why, info.gate_why[0] ? ")" : "");
	pthread_mutex_unlock(&info_lock);
	return 0;
}

static void trace_hub_detach(struct gh_hub *hub)
{
	struct trace_hub *th = hub->backend_data;

	if (!th)
		return;
	gh__slot_save(hub, th->slot);
	__atomic_store_n(&th->slot->spare_tid, 0, __ATOMIC_RELAXED);
	(void)request(GH_TRACE_OP_RELEASE, th->idx, th->cookie, 0);
	munmap(th->slot, GH_SLOT_SIZE);
	ring_close(th);
	pthread_mutex_lock(&info_lock);
	hold_put(th->hold);
	pthread_mutex_unlock(&info_lock);
	pthread_mutex_destroy(&th->request_lock);
	hub->backend_data = NULL;
	free(th);
}

/* In a child of fork(): hub is the parent's. Its slot and ring pages are not mapped here
 * (MADV_DONTFORK); close the descriptors the child inherited, and the hold once no hub of the
 * parent's is left. The parent's locks may have been held by its other threads: start over. */
static void trace_fork_child(struct gh_hub *hub)
{
	static const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	struct trace_hub *th = hub->backend_data;

	info_lock = fresh;
	if (!th)
		return;
	if (th->ring_fd >= 0)
		close(th->ring_fd);
	hold_put(th->hold);
}

static int trace_carrier_attach(struct gh_hub *hub, struct gh__carrier *c)
{
	struct trace_hub *th = hub->backend_data;
	int err;

	err = gh__carrier_gate_open(c, th->signo);
	if (err)
		return err;
	err = ask(th, GH_TRACE_OP_JOIN, (__u64)(uintptr_t)&c->green, REQUEST_TRIES);
	/* No answer: the kernel side was unloaded since the hub attached. The carrier is then
	 * never handed off, which is what the hub gets anyway without programs. */
	return err == -ENOENT ? 0 : err;
}

static void trace_carrier_detach(struct gh_hub *hub, struct gh__carrier *c)
{
	struct trace_hub *th = hub->backend_data;

	/* Asked again while unanswered, as a join: a registration left behind (the kernel
	 * skipped the request) would make the kernel side hand on the hub when the thread ends. */
	if (th)
		(void)ask(th, GH_TRACE_OP_LEAVE, 0, REQUEST_TRIES);
}

/* Under hub->carrier_lock: name a parked spare, so that the kernel side writes its wakeups. */
static void trace_spare_parked(struct gh_hub *hub, struct gh__carrier *c, bool parked)
{
	struct trace_hub *th = hub->backend_data;

	gh__spare_name(hub, c, parked, &th->slot->spare_tid);
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
	    gh_baton_state(__atomic_load_n(&th->slot->baton, __ATOMIC_SEQ_CST)) !=
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
};
