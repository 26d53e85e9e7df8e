// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A kernel side as the runtime reaches it, the same way in trace mode (backend_trace.c) and
 * sched_ext mode (backend_scx.c): requests (greenhub/request.h) that claim and release a hub's
 * slot and register and unregister carriers, the mapping of the hub's own slot page, and what
 * a process holds of the kernel side while a hub is attached.
 *
 * The design (invariant I5)
 *   A request is made by the thread it concerns, from its own context, so that the kernel side
 *   never has to trust what user space wrote: prctl(PR_SET_NAME) to the thread's own name, with
 *   GH_REQ_MAGIC and the request in arguments PR_SET_NAME ignores; the kernel side's program
 *   on the rename tracepoint answers in the slot page before prctl returns. The kernel side
 *   keeps who holds a slot and which threads carry it in maps that user space cannot write.
 *
 *   Nothing kept here lets a process write a kernel side's maps: the slot map and the control
 *   map are opened for a claim and closed after it. What remains is the hub's own slot page
 *   (not inherited by fork()), and the hold below. A process that drops its privileges keeps
 *   nothing that reaches another process's hub.
 *
 * Holding
 *   Pins are only names: removing them (an operator's cleanup script, `rm -rf` of the pin
 *   folder) would otherwise drop the last reference to the links, detach the programs, and let
 *   a displaced carrier return ungated or its gate's map be freed. So while a hub is attached,
 *   the process holds the mode's tracing links (which no descriptor can detach or replace) and
 *   gate maps (opened read-only). After `scx_greenhub --stop` the tracing programs therefore
 *   stay attached, handoffs off, until the last process that attached a hub to them ends or
 *   detaches it. A sched_ext mode's struct_ops link is never held: its descriptor could detach
 *   the scheduler of every process.
 *
 * Unanswered requests
 *   The kernel skips a tracing program that is already running on the same CPU (its recursion
 *   guard; `scx_greenhub --stats` counts such misses), and where tracepoints run preemptible
 *   (7.x) a task preempted inside the request program makes every request on that CPU go
 *   unanswered until it runs again, which on a loaded machine takes a while. A request nobody
 *   answered is made again, after pauses that double from 100 us, while the kernel side asked
 *   is still the one pinned: REQUEST_TRIES = 15 tries wait about 3 s in all before the kernel
 *   side is taken for gone.
 *
 * Memory ordering
 *   The kernel side answers a request before the request's system call returns, so reading the
 *   answer after it needs no ordering beyond program order; the acquire loads of reply_seq and
 *   claim_cookie only keep the compiler from caching them across the call.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "greenhub/kside.h"
#include "greenhub/trace.h"
#include "backend.h"
#include "internal.h"

#define REQUEST_TRIES 15

/* What this process holds of one loaded kernel side: one per control map id, counted by the
 * hubs attached to it. */
struct gh__kside_hold {
	struct gh__kside_hold *next;
	__u32 ctl_id;
	unsigned refs;
	int nfds;
	int fds[GH__KSIDE_HOLD_MAX];
};

static int pin_get(const struct gh__kside *ks, const char *name, __u32 file_flags)
{
	union bpf_attr attr;
	char path[128];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", ks->dir, name) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.pathname = (__u64)(unsigned long)path;
	attr.file_flags = file_flags;
	return gh__bpf_sys(BPF_OBJ_GET, &attr);
}

/* ---------------------------------------------------------------------------------------- */
/* Holds                                                                                      */

/* Under ks->lock: a reference to the hold of kernel side ctl_id, made if needed. A link must be
 * opened read-write (the kernel refuses anything else for links); every map read-only. */
static struct gh__kside_hold *hold_get(struct gh__kside *ks, __u32 ctl_id, char *why, size_t len)
{
	struct gh__kside_hold *h;

	for (h = ks->holds; h; h = h->next)
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
	for (unsigned i = 0; i < ks->nr_hold && h->nfds < GH__KSIDE_HOLD_MAX; i++) {
		const char *name = ks->hold[i];
		bool link = !strncmp(name, "link_", 5);
		int fd = pin_get(ks, name, link ? 0 : BPF_F_RDONLY);

		if (fd >= 0) {
			h->fds[h->nfds++] = fd;
			continue;
		}
		/* Only the pin a load may lack may be missing. */
		if (errno == ENOENT && ks->optional && !strcmp(name, ks->optional))
			continue;
		snprintf(why, len, "opening %s/%s failed (%s)", ks->dir, name, strerror(errno));
		while (h->nfds)
			close(h->fds[--h->nfds]);
		free(h);
		return NULL;
	}
	h->refs = 1;
	h->next = ks->holds;
	ks->holds = h;
	return h;
}

/* Under ks->lock. */
static void hold_put(struct gh__kside *ks, struct gh__kside_hold *h)
{
	struct gh__kside_hold **p;

	if (!h || --h->refs)
		return;
	for (p = &ks->holds; *p != h; p = &(*p)->next)
		;
	*p = h->next;
	while (h->nfds)
		close(h->fds[--h->nfds]);
	free(h);
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                   */

/* Ask the kernel side, from the calling thread. 0 once asked (the answer, if any, is in the
 * slot page), or -errno. */
static int request(const struct gh__kside_hub *kh, __u32 op, __u32 idx, __u64 green_addr,
		   __u64 ready_addr)
{
	struct gh_request rq = {
		.magic = GH_REQ_MAGIC,
		.abi = GH_REQ_ABI_VERSION,
		.op = op,
		.kside = kh->ctl_id,
		.hub = idx,
		.cookie = kh->cookie,
		.green_addr = green_addr,
		.ready_addr = ready_addr,
		.gate_handler = (__u64)(uintptr_t)kh->ks->gate_handler,
	};
	char name[17] = "";

	/* The rename is to the thread's own name: the request rides along, the name stays. */
	if (prctl(PR_GET_NAME, name) < 0)
		return -errno;
	if (syscall(SYS_prctl, PR_SET_NAME, name, GH_REQ_MAGIC, &rq, 0) < 0)
		return -errno;
	return 0;
}

/* Give the CPU to whoever holds the request program before asking again. */
static void request_pause(int attempt)
{
	long ns = 100000L << (attempt < 14 ? attempt - 1 : 13);
	struct timespec ts = { .tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L };

	nanosleep(&ts, NULL);
}

/* Is the kernel side this hub attached to still the one pinned? A request to one that was
 * unloaded (or replaced by another load) can never be answered. */
static bool still_loaded(const struct gh__kside_hub *kh)
{
	int fd = pin_get(kh->ks, "control", 0);
	__u32 id = 0;

	if (fd < 0)
		return false;
	if (gh__bpf_map_id(fd, &id))
		id = 0;
	close(fd);
	return id == kh->ctl_id;
}

/* A JOIN or LEAVE of the calling thread: the kernel side's answer, or -ENOENT if it gave none
 * (its programs are gone: the loader was stopped). */
static int ask(struct gh__kside_hub *kh, __u32 op, __u64 green_addr, __u64 ready_addr)
{
	int err = -ENOENT;

	for (int attempt = 0; attempt < REQUEST_TRIES && err == -ENOENT; attempt++) {
		__u32 seq;

		if (attempt) {
			if (!still_loaded(kh))
				break;
			request_pause(attempt);
		}
		/* One request of this hub at a time: its answer is the slot's one reply. */
		pthread_mutex_lock(&kh->request_lock);
		seq = __atomic_load_n(&kh->slot->reply_seq, __ATOMIC_ACQUIRE);
		err = request(kh, op, kh->idx, green_addr, ready_addr);
		if (!err) {
			if (__atomic_load_n(&kh->slot->reply_seq, __ATOMIC_ACQUIRE) == seq ||
			    kh->slot->reply_tid != (__u32)gettid())
				err = -ENOENT;
			else
				err = kh->slot->reply_err;
		}
		pthread_mutex_unlock(&kh->request_lock);
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

/* Requests the kernel side has answered so far, granted or refused. */
static __u64 answers(const struct gh_kside_control *ctl)
{
	return __atomic_load_n(&ctl->nr_claims, __ATOMIC_ACQUIRE) +
	       __atomic_load_n(&ctl->nr_rejected, __ATOMIC_ACQUIRE);
}

/* Ask for a free slot: 0 with kh->idx set and kh->slot mapped, or -errno with a reason. */
static int claim(struct gh__kside_hub *kh, char *why, size_t len)
{
	const struct gh__kside *ks = kh->ks;
	size_t all = gh__bpf_map_bytes(sizeof(struct gh_hub_slot), GH_MAX_HUBS);
	const struct gh_hub_slot *view = NULL;
	const void *ctl = NULL;
	int fd, ctl_fd, err = -EBUSY;
	void *page;

	fd = pin_get(ks, "slots", 0);
	ctl_fd = pin_get(ks, "control", 0);
	if (fd < 0 || ctl_fd < 0) {
		err = -errno;
		snprintf(why, len, "opening scx_greenhub's pins failed (%s)", strerror(-err));
		goto out;
	}
	/* A read-only view of every slot, for finding a free one (only ours stays mapped), and of
	 * the control map, whose counters tell a refused request from one nobody answered. A
	 * mapping made read-only cannot be made writable later (the kernel drops VM_MAYWRITE). */
	view = mmap(NULL, all, PROT_READ, MAP_SHARED, fd, 0);
	ctl = gh__bpf_map_values(ctl_fd, ks->ctl_size, 1, PROT_READ);
	if (view == MAP_FAILED || !ctl || (err = gh__bpf_map_id(ctl_fd, &kh->ctl_id))) {
		err = err ? err : -errno;
		snprintf(why, len, "mapping scx_greenhub's maps failed (%s)", strerror(-err));
		if (view == MAP_FAILED)
			view = NULL;
		goto out;
	}
	err = -EBUSY;
	kh->cookie = new_cookie();
	for (__u32 i = 0, tries = 0; i < GH_MAX_HUBS; i++) {
		__u64 before;

		if (__atomic_load_n(&view[i].flags, __ATOMIC_ACQUIRE) & GH_SLOT_F_ACTIVE)
			continue;
		before = answers(ctl);
		err = request(kh, GH_REQ_CLAIM, i, 0, 0);
		if (err) {
			snprintf(why, len, "asking the kernel side for a slot failed (%s)",
				 strerror(-err));
			goto out;
		}
		/* The answer is in the slot page before prctl returns. */
		if (__atomic_load_n(&view[i].claim_cookie, __ATOMIC_ACQUIRE) == kh->cookie) {
			kh->idx = i;
			break;
		}
		err = -EBUSY;
		if (answers(ctl) == before) {
			/* Nobody answered (another request would have moved the count). */
			if (++tries < REQUEST_TRIES && still_loaded(kh)) {
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
		    (off_t)kh->idx * GH_SLOT_SIZE);
	if (page == MAP_FAILED) {
		err = -errno;
		snprintf(why, len, "mapping the hub's slot failed (%s)", strerror(-err));
		request(kh, GH_REQ_RELEASE, kh->idx, 0, 0);
		goto out;
	}
	/* A child of fork() must never write its parent's baton. */
	madvise(page, GH_SLOT_SIZE, MADV_DONTFORK);
	kh->slot = page;
out:
	if (view)
		munmap((void *)view, all);
	if (ctl)
		munmap((void *)ctl, gh__bpf_map_bytes(ks->ctl_size, 1));
	if (fd >= 0)
		close(fd);
	if (ctl_fd >= 0)
		close(ctl_fd);
	return err;
}

/* Give the slot back, asking again while the kernel side skipped the request: a slot left
 * granted would stay in use until the process exits. */
static void release(struct gh__kside_hub *kh)
{
	for (int attempt = 0; attempt < REQUEST_TRIES; attempt++) {
		if (attempt) {
			if (!still_loaded(kh))
				return;
			request_pause(attempt);
		}
		if (request(kh, GH_REQ_RELEASE, kh->idx, 0, 0) ||
		    __atomic_load_n(&kh->slot->claim_cookie, __ATOMIC_ACQUIRE) != kh->cookie)
			return;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* The interface                                                                              */

/* Nothing is pinned: say so, and why, if the loader left word that it refused this kernel. */
static void not_running(char *why, size_t len)
{
	char refused[GH_LOADER_REFUSED_MAX] = "";
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

const void *gh__kside_control(const struct gh__kside *ks, int *err, char *why, size_t len)
{
	const void *ctl;
	int fd;

	/* A read-only descriptor would be simpler, but a BPF map cannot be mapped through one
	 * (the kernel wants a shared mapping, which it makes private for a read-only file). The
	 * descriptor is closed at once; the mapping is read-only. */
	fd = pin_get(ks, "control", 0);
	if (fd < 0) {
		*err = -errno;
		if (*err == -ENOENT)
			not_running(why, len);
		else if (*err == -EACCES || *err == -EPERM)
			snprintf(why, len, "no permission to open %s (root only)", ks->dir);
		else if (*err == -ENOSYS)
			snprintf(why, len, "this kernel has no BPF");
		else
			snprintf(why, len, "opening %s/control failed (%s)", ks->dir,
				 strerror(-*err));
		return NULL;
	}
	ctl = gh__bpf_map_values(fd, ks->ctl_size, 1, PROT_READ);
	*err = ctl ? 0 : -errno;
	close(fd);
	if (!ctl)
		snprintf(why, len, "mapping scx_greenhub's control map failed (%s)",
			 strerror(-*err));
	return ctl;
}

void gh__kside_control_unmap(const struct gh__kside *ks, const void *ctl)
{
	if (ctl)
		munmap((void *)ctl, gh__bpf_map_bytes(ks->ctl_size, 1));
}

int gh__kside_attach(struct gh__kside *ks, struct gh__kside_hub *kh, char *why, size_t len)
{
	int err;

	memset(kh, 0, sizeof(*kh));
	kh->ks = ks;
	pthread_mutex_init(&kh->request_lock, NULL);
	err = claim(kh, why, len);
	if (err)
		goto fail;
	pthread_mutex_lock(&ks->lock);
	kh->hold = hold_get(ks, kh->ctl_id, why, len);
	pthread_mutex_unlock(&ks->lock);
	if (!kh->hold) {
		err = -ENOENT;
		release(kh);
		munmap(kh->slot, GH_SLOT_SIZE);
		goto fail;
	}
	return 0;
fail:
	pthread_mutex_destroy(&kh->request_lock);
	kh->slot = NULL;
	return err;
}

void gh__kside_detach(struct gh__kside_hub *kh)
{
	struct gh__kside *ks = kh->ks;

	release(kh);
	munmap(kh->slot, GH_SLOT_SIZE);
	kh->slot = NULL;
	pthread_mutex_lock(&ks->lock);
	hold_put(ks, kh->hold);
	pthread_mutex_unlock(&ks->lock);
	kh->hold = NULL;
	pthread_mutex_destroy(&kh->request_lock);
}

_Static_assert(sizeof(((struct gh_hub *)0)->runq_len) == sizeof(__u64),
	       "the kernel side reads the count of ready threads as 64 bits");

int gh__kside_join(struct gh__kside_hub *kh, struct gh__carrier *c)
{
	int err = ask(kh, GH_REQ_JOIN, (__u64)(uintptr_t)&c->green,
		      (__u64)(uintptr_t)&c->hub->runq_len);

	/* No answer: the kernel side was unloaded since the hub attached. The carrier is then
	 * never handed off, which is what the hub gets anyway without programs. */
	return err == -ENOENT ? 0 : err;
}

void gh__kside_leave(struct gh__kside_hub *kh)
{
	/* Asked again while unanswered, as a join: a registration left behind (the kernel
	 * skipped the request) would make the kernel side hand on the hub when the thread ends. */
	(void)ask(kh, GH_REQ_LEAVE, 0, 0);
}

void gh__kside_fork_child(struct gh__kside *ks, struct gh__kside_hub *kh)
{
	static const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	/* The parent's other threads may have held the lock: the child has one thread. */
	ks->lock = fresh;
	if (kh) {
		hold_put(ks, kh->hold);
		kh->hold = NULL;
	}
}
