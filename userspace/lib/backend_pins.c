// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What the two kernel-assisted backends (backend_trace.c, backend_scx.c) share: the connection
 * to one loaded kernel side (its pinned maps, opened and mapped once per process and counted
 * by the hubs attached to it), claiming, publishing and releasing a hub slot, and registering
 * carrier threads by pidfd. The layout of the control and hub maps differs between the modes;
 * the slot array and its protocol do not.
 *
 * Memory ordering
 *   A claim is a CAS of the slot's tgid from 0; the slot is published by storing
 *   GH_SLOT_F_ACTIVE (seq_cst) after its fields are reset, and released in the opposite order,
 *   tgid last, so that the kernel side only acts on slots whose fields are the owner's.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

void gh__pins_free(const struct gh__conns *cs, struct gh__pins *p)
{
	if (p->ctl)
		munmap((void *)p->ctl, gh__bpf_map_bytes(cs->ctl_size, 1));
	if (p->slots)
		munmap(p->slots, gh__bpf_map_bytes(sizeof(*p->slots), GH_MAX_HUBS));
	if (p->hubs)
		munmap(p->hubs, gh__bpf_map_bytes(cs->hub_size, GH_MAX_HUBS));
	if (p->ctl_fd >= 0)
		close(p->ctl_fd);
	if (p->slots_fd >= 0)
		close(p->slots_fd);
	if (p->hubs_fd >= 0)
		close(p->hubs_fd);
	if (p->carriers_fd >= 0)
		close(p->carriers_fd);
	if (p->gates_fd >= 0)
		close(p->gates_fd);
	free(p);
}

static int pin_get(const struct gh__conns *cs, const char *name)
{
	char path[128];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", cs->dir, name) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return gh__bpf_obj_get(path);
}

/* Open the pinned objects; NULL with a reason. ctl_fd is already open, and taken. */
static struct gh__pins *pins_open(const struct gh__conns *cs, int ctl_fd, __u32 id, char *why,
				  size_t len)
{
	struct gh__pins *p = calloc(1, sizeof(*p));

	if (!p) {
		close(ctl_fd);
		snprintf(why, len, "out of memory");
		return NULL;
	}
	p->ctl_fd = ctl_fd;
	p->ctl_id = id;
	p->slots_fd = pin_get(cs, "slots");
	p->hubs_fd = pin_get(cs, "hubs");
	p->carriers_fd = pin_get(cs, "carriers");
	p->gates_fd = cs->gates ? pin_get(cs, "gates") : -1;
	if (p->slots_fd < 0 || p->hubs_fd < 0 || p->carriers_fd < 0 ||
	    (cs->gates && p->gates_fd < 0)) {
		snprintf(why, len, "scx_greenhub's pinned maps are incomplete (%s)",
			 strerror(errno));
		goto fail;
	}
	p->ctl = gh__bpf_map_values(ctl_fd, cs->ctl_size, 1, PROT_READ);
	p->slots = gh__bpf_map_values(p->slots_fd, sizeof(*p->slots), GH_MAX_HUBS,
				      PROT_READ | PROT_WRITE);
	p->hubs = gh__bpf_map_values(p->hubs_fd, cs->hub_size, GH_MAX_HUBS, PROT_READ | PROT_WRITE);
	if (!p->ctl || !p->slots || !p->hubs) {
		snprintf(why, len, "mapping scx_greenhub's maps failed (%s)", strerror(errno));
		goto fail;
	}
	return p;
fail:
	gh__pins_free(cs, p);
	return NULL;
}

struct gh__pins *gh__pins_connect(struct gh__conns *cs, int ctl_fd, __u32 id, char *why,
				  size_t len)
{
	struct gh__pins *p = cs->current;

	if (p && p->ctl_id == id) {
		close(ctl_fd);
		return p;
	}
	p = pins_open(cs, ctl_fd, id, why, len);
	if (!p)
		return NULL;
	/* Hubs still attached to the old kernel side keep its connection until they detach. */
	if (cs->current && !cs->current->refs)
		gh__pins_free(cs, cs->current);
	cs->current = p;
	return p;
}

int gh__pins_claim(struct gh__conns *cs, struct gh__pins **pins)
{
	__u32 tgid = (__u32)getpid();
	struct gh__pins *p;
	unsigned i;

	pthread_mutex_lock(&cs->lock);
	p = cs->current;
	if (!p) {
		pthread_mutex_unlock(&cs->lock);
		return -ENOENT;
	}
	for (i = 0; i < GH_MAX_HUBS; i++) {
		struct gh_hub_slot *s = &p->slots[i];
		__u32 zero = 0;

		/* Another process's slot, or one whose release has not finished. */
		if (__atomic_load_n(&s->flags, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&s->tgid, __ATOMIC_RELAXED))
			continue;
		if (__atomic_compare_exchange_n(&s->tgid, &zero, tgid, false, __ATOMIC_SEQ_CST,
						__ATOMIC_RELAXED))
			break;
	}
	if (i == GH_MAX_HUBS) {
		pthread_mutex_unlock(&cs->lock);
		return -EBUSY;
	}
	p->refs++;
	pthread_mutex_unlock(&cs->lock);
	*pins = p;
	return (int)i;
}

void gh__pins_put(struct gh__conns *cs, struct gh__pins *p)
{
	pthread_mutex_lock(&cs->lock);
	if (--p->refs == 0 && p != cs->current)
		gh__pins_free(cs, p);
	pthread_mutex_unlock(&cs->lock);
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

void gh__slot_publish(struct gh_hub *hub, struct gh_hub_slot *s)
{
	__u64 old = __atomic_load_n(&s->baton, __ATOMIC_RELAXED);

	s->baton = gh_baton_next(old, GH_BATON_FREE, 0);
	s->runner_tid = 0;
	s->return_pending = 0;
	s->handoff_ns = 0;
	/* gh_hub_stats counts since the hub was created: carry the counters over. */
	counters_copy(s, &hub->slot_mem);
	__atomic_store_n(&s->flags, GH_SLOT_F_ACTIVE, __ATOMIC_SEQ_CST);
	hub->slot = s;
}

void gh__slot_save(struct gh_hub *hub, const struct gh_hub_slot *s)
{
	counters_copy(&hub->slot_mem, s);
}

void gh__slot_release(struct gh_hub *hub, struct gh_hub_slot *s, __u32 *spare_tid,
		      __u32 *owner_tgid)
{
	gh__slot_save(hub, s);
	__atomic_store_n(spare_tid, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->flags, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->baton, gh_baton_next(s->baton, GH_BATON_FREE, 0), __ATOMIC_SEQ_CST);
	s->runner_tid = 0;
	/* After the flag: the kernel side binds owner_tgid only on an active slot. */
	__atomic_store_n(owner_tgid, 0, __ATOMIC_RELAXED);
	/* Last: the slot may now be claimed by anyone. */
	__atomic_store_n(&s->tgid, 0, __ATOMIC_SEQ_CST);
}

void gh__spare_name(struct gh_hub *hub, struct gh__carrier *c, bool parked, __u32 *spare)
{
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

bool gh__signal_blocked(int signo)
{
	sigset_t cur;

	return pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, signo) == 1;
}

int gh__signal_install(int signo, void (*fn)(int, siginfo_t *, void *), char *why, size_t len)
{
	struct sigaction sa, old;
	int err;

	if (sigaction(signo, NULL, &old) < 0) {
		err = -errno;
		snprintf(why, len, "signal %d cannot be used (%s)", signo, strerror(-err));
		return err;
	}
	if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == fn)
		return 0;
	if ((old.sa_flags & SA_SIGINFO) ? old.sa_sigaction != NULL
					: old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
		snprintf(why, len, "the gate signal %d has another handler in this process", signo);
		return -EBUSY;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fn;
	/* SA_ONSTACK: a gate may interrupt a green thread deep in its stack. SA_RESTART: the
	 * runtime's own waits that a wake interrupts simply go on. */
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(signo, &sa, NULL) < 0) {
		err = -errno;
		snprintf(why, len, "installing the handler of signal %d failed (%s)", signo,
			 strerror(-err));
		return err;
	}
	return 0;
}

int gh__pidfd_check(char *why, size_t len)
{
	int fd = gh__bpf_pidfd_of_thread(gettid());
	int err;

	if (fd < 0) {
		err = -errno;
		snprintf(why, len, "this kernel cannot open a pidfd of a thread (PIDFD_THREAD, "
				   "Linux 6.9): %s", strerror(-err));
		return err;
	}
	close(fd);
	return 0;
}

int gh__carrier_gate_open(struct gh__carrier *c, int signo)
{
	sigset_t gate;

	sigemptyset(&gate);
	sigaddset(&gate, signo);
	/* The runtime's spares start with the application's mask: if the gate signal could only
	 * have been blocked there by the application, which the hub's first carrier checks. A
	 * thread of the application that blocks it cannot carry a hub in this mode. */
	if (c->spare_thread)
		pthread_sigmask(SIG_UNBLOCK, &gate, NULL);
	else if (gh__signal_blocked(signo))
		return -EPERM;
	/* The waits that swap in a mask of their own (the idle poll, a spare's ppoll) keep it
	 * open too. */
	sigdelset(&c->poll_mask, signo);
	return 0;
}

int gh__carrier_register(const struct gh__pins *p, pid_t tid, const void *reg)
{
	int pidfd = gh__bpf_pidfd_of_thread(tid);
	int err;

	if (pidfd < 0)
		return -errno;
	err = gh__bpf_map_update(p->carriers_fd, &pidfd, reg, BPF_ANY);
	close(pidfd);
	return err;
}

void gh__carrier_unregister(const struct gh__pins *p, pid_t tid)
{
	int pidfd = gh__bpf_pidfd_of_thread(tid);

	if (pidfd < 0)
		return; /* the kernel side drops the registration when the thread exits */
	(void)gh__bpf_map_delete(p->carriers_fd, &pidfd);
	close(pidfd);
}
