// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What the two kernel-assisted backends (backend_trace.c, backend_scx.c) share besides their
 * requests (kside.c): publishing a granted slot and saving its counters, naming a parked spare,
 * and the mode's signal (its handler, and keeping it open on carriers).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "internal.h"

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

void gh__slot_publish(struct gh_hub *hub, struct gh_hub_slot *s, __u32 idx)
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
	hub->slot_index = idx;
}

void gh__slot_save(struct gh_hub *hub, const struct gh_hub_slot *s)
{
	counters_copy(&hub->slot_mem, s);
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
