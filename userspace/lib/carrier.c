// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Carriers and the baton protocol (DESIGN.md section 4).
 *
 * Glossary
 *   carrier    an OS thread that may run the hub. The owner holds the baton; spares are
 *              parked; a blocked carrier sits in a call that may block; a displaced carrier
 *              lost the baton while blocked and still holds, on its stack, the green thread
 *              that made the call.
 *   baton      the right to run the hub's green code: the word slot->baton, RUN(t), IDLE(t),
 *              HANDOFF(t) or FREE, changed only by compare-and-swap.
 *   runner     slot->runner_tid, the carrier last made the runner. Checked at every switch
 *              point (gh__check_runner): the exclusivity checker of invariant I1.
 *
 * The design
 *   Only the owner touches the hub's green-thread state, so none of it needs locks; the baton
 *   CAS is the lock. The transitions, and who performs them here:
 *
 *   1. RUN(t), t blocks          -> HANDOFF(t)   sysmon (mode none) or kernel; wakes a spare
 *   2. HANDOFF(t)                -> RUN(s)       a woken spare (takeover) or a returning
 *                                                carrier; t becomes displaced
 *   3. HANDOFF(t), t returns     -> RUN(t)       t itself (cancel): the spare finds nothing
 *   4. RUN(s), t returns         -> t queues on hub->returned, bumps return_pending and
 *                                   waits; s, at its next switch point, RUN(s) -> RUN(t),
 *                                   wakes t and parks (hand-back)
 *   5. IDLE(s), t returns        -> RUN(t)       t itself; it kicks s out of its poll, and
 *                                                s's own IDLE(s) -> RUN(s) then fails
 *   6. no spare parked           -> the baton stays HANDOFF(t); the sysmon starts a spare, up
 *                                   to opts.max_spares, and a carrier about to park takes a
 *                                   HANDOFF it finds
 *
 * Alternatives rejected
 *   - A mutex around the hub: a carrier blocked while holding it could never be replaced.
 *   - Locks on the owner's paths (the returned queue, remote completions): under kernel
 *     assist an owner that sleeps on a contended lock is handed off like any other sleep, and
 *     if it then held a lock its successor needs to hand back, nobody could hand back. The
 *     owner's paths are therefore lock-free; carrier_lock is taken only by carriers that do
 *     not hold the baton (parking) and by the sysmon.
 *   - Waking the returning carrier with a signal in mode none: the return path runs in the
 *     carrier's own code (gh_blocking_end) and can simply wait on its futex word.
 *
 * Memory ordering
 *   - Every baton CAS that gives the hub up (RUN -> IDLE, RUN -> RUN(other), and the region
 *     flag set by gh_blocking_begin) is a release; every CAS that takes the hub (HANDOFF ->
 *     RUN, IDLE -> RUN) is an acquire. So all hub state written by one owner happens-before
 *     anything the next owner reads. Sequentially consistent CAS is used throughout; these
 *     paths are not hot enough for weaker orders to matter.
 *   - The returned-carrier handshake is a Dekker pair: the returner pushes itself, bumps
 *     return_pending and then reads the baton; the owner going idle CASes RUN -> IDLE and then
 *     reads return_pending. Both sides use seq_cst, so at least one sees the other: either
 *     the returner finds IDLE and takes it, or the owner finds the pending return and hands
 *     back instead of sleeping. A returner is never left waiting on an idle hub (I4).
 *   - Parking: a spare publishes itself on hub->parked under carrier_lock, then re-reads the
 *     baton; the sysmon sets HANDOFF and then takes carrier_lock to pop a spare. Either the
 *     sysmon finds the spare or the spare finds the HANDOFF.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

static __thread struct gh__carrier *tls_carrier;

/*
 * The carrier of the calling OS thread. It must be re-read after every switch point: a green
 * thread may continue on another carrier, and a compiler that cached the TLS address across
 * the switch would read the old carrier's variable. An out-of-line function with an opaque
 * barrier cannot be folded or hoisted by the caller's optimizer.
 */
#if defined(__has_attribute)
#if __has_attribute(noipa)
__attribute__((noipa))
#endif
#endif
__attribute__((noinline)) struct gh__carrier *gh__carrier_self(void)
{
	__asm__ volatile("" ::: "memory");
	return tls_carrier;
}

void gh__carrier_set(struct gh__carrier *c)
{
	tls_carrier = c;
}

/* Sleep until *word becomes non-zero, then reset it. */
static void wait_woken(atomic_uint *word)
{
	while (!atomic_load(word)) {
		int err = gh__futex_wait(word, 0, NULL);

		if (err && err != -EAGAIN && err != -EINTR)
			gh__panic("futex(FUTEX_WAIT): %s", gh_strerror(err));
	}
	atomic_store(word, 0);
}

static void wake(struct gh__carrier *c)
{
	atomic_store(&c->wake_word, 1);
	gh__futex_wake(&c->wake_word, 1);
	/* A spare that waits on an fd (a backend's spare_wait) sees the word once kicked out. */
	if (atomic_load(&c->wake_kick))
		gh__carrier_kick(c->tid);
}

static __u64 baton_load(const struct gh_hub *hub)
{
	return __atomic_load_n(&hub->slot->baton, __ATOMIC_SEQ_CST);
}

static bool baton_cas(struct gh_hub *hub, __u64 old, __u64 new)
{
	return __atomic_compare_exchange_n(&hub->slot->baton, &old, new, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

static bool is(__u64 baton, enum gh_baton_state state, pid_t tid)
{
	return gh_baton_state(baton) == state && gh_baton_tid(baton) == (__u32)tid;
}

static void set_runner(struct gh_hub *hub, pid_t tid)
{
	__atomic_store_n(&hub->slot->runner_tid, (__u32)tid, __ATOMIC_SEQ_CST);
}

static void count(__u64 *counter, __u64 n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

void gh__runner_violated(struct gh_hub *hub, struct gh__carrier *c)
{
	__u32 runner = __atomic_load_n(&hub->slot->runner_tid, __ATOMIC_RELAXED);

	gh__panic("exclusivity violated: carrier %d runs green thread '%s' (id %llu) of hub %p, "
		  "but carrier %u is the hub's runner (baton %#llx)",
		  (int)c->tid, c->green ? c->green->name : "?",
		  c->green ? (unsigned long long)c->green->id : 0ull, (void *)hub, runner,
		  (unsigned long long)baton_load(hub));
}

/* Account for a handoff that just ended (takeover or cancel). */
static void handoff_ended(struct gh_hub *hub)
{
	__u64 since = __atomic_load_n(&hub->slot->handoff_ns, __ATOMIC_RELAXED);
	uint64_t now = gh_now();

	if (since && now > since)
		count(&hub->slot->stalled_ns, now - since);
}

/* ---------------------------------------------------------------------------------------- */
/* Carriers that wait for a hand-back (transition 4)                                          */

static void returned_push(struct gh_hub *hub, struct gh__carrier *c)
{
	struct gh__carrier *head = atomic_load(&hub->returned);

	do {
		c->returned_next = head;
	} while (!atomic_compare_exchange_weak(&hub->returned, &head, c));
}

/* Baton holder only: move the lock-free stack, oldest first, onto the FIFO. */
static void returned_collect(struct gh_hub *hub)
{
	struct gh__carrier *c = atomic_exchange(&hub->returned, NULL), *rev = NULL;

	while (c) {
		struct gh__carrier *next = c->returned_next;

		c->returned_next = rev;
		rev = c;
		c = next;
	}
	while (rev) {
		struct gh__carrier *next = rev->returned_next;

		rev->returned_next = NULL;
		if (hub->returned_fifo_tail)
			hub->returned_fifo_tail->returned_next = rev;
		else
			hub->returned_fifo = rev;
		hub->returned_fifo_tail = rev;
		rev = next;
	}
}

/* Baton holder only: take c off the returned queue (c took the baton itself). */
static void returned_remove(struct gh_hub *hub, struct gh__carrier *c)
{
	struct gh__carrier **p, *prev = NULL;

	returned_collect(hub);
	for (p = &hub->returned_fifo; *p; prev = *p, p = &(*p)->returned_next) {
		if (*p != c)
			continue;
		*p = c->returned_next;
		if (hub->returned_fifo_tail == c)
			hub->returned_fifo_tail = prev;
		c->returned_next = NULL;
		__atomic_fetch_sub(&hub->slot->return_pending, 1, __ATOMIC_SEQ_CST);
		return;
	}
	gh__panic("carrier %d took the baton but is not on the returned queue", (int)c->tid);
}

/*
 * Owner c, in the hub loop: hand the baton to the oldest carrier waiting for it. False if
 * there is none yet (return_pending is bumped just after the push, so a count may be seen
 * before its carrier is visible; the next switch point looks again).
 */
static bool hand_back(struct gh_hub *hub, struct gh__carrier *c)
{
	struct gh__carrier *r;
	pid_t tid;
	__u64 b;

	returned_collect(hub);
	r = hub->returned_fifo;
	if (r) {
		hub->returned_fifo = r->returned_next;
		if (!hub->returned_fifo)
			hub->returned_fifo_tail = NULL;
		r->returned_next = NULL;
		tid = r->tid;
	} else if (!hub->backend->held_next || !(tid = hub->backend->held_next(hub))) {
		return false;
	}
	__atomic_fetch_sub(&hub->slot->return_pending, 1, __ATOMIC_SEQ_CST);

	/* RUN(c) changes only while c sleeps, and comes back as RUN(c) (see idle()): retry.
	 * The receiver is made the runner just before each CAS that may name it: it can see
	 * RUN(tid) and go on at once (a returned carrier re-reads the baton before it sleeps),
	 * and its first check must find itself. c runs no green code in between. */
	do {
		set_runner(hub, tid);
		b = baton_load(hub);
		if (!is(b, GH_BATON_RUN, c->tid))
			gh__panic("hand-back by carrier %d found baton %#llx", (int)c->tid,
				  (unsigned long long)b);
	} while (!baton_cas(hub, b, gh_baton_next(b, GH_BATON_RUN, (__u32)tid)));
	count(&hub->slot->nr_handbacks, 1);
	if (r)
		wake(r);
	else
		hub->backend->held_release(hub, tid);
	return true;
}

void gh__carrier_reacquire(struct gh_hub *hub, struct gh__carrier *c)
{
	bool queued = false;

	for (;;) {
		__u64 b = baton_load(hub);
		enum gh_baton_state st = gh_baton_state(b);
		pid_t holder = (pid_t)gh_baton_tid(b);

		if (st == GH_BATON_RUN && holder == c->tid) {
			/* Handed back (transition 4); the owner made us the runner. */
			if (gh_baton_in_region(b))
				gh__panic("carrier %d re-acquiring inside its own region", (int)c->tid);
			return;
		}
		if (st == GH_BATON_HANDOFF || st == GH_BATON_IDLE) {
			if (!baton_cas(hub, b, gh_baton_next(b, GH_BATON_RUN, (__u32)c->tid)))
				continue;
			set_runner(hub, c->tid);
			if (st == GH_BATON_HANDOFF) {
				/* Transition 3 (our own handoff, cancelled), or a takeover of
				 * another blocked carrier's handoff. */
				handoff_ended(hub);
				if (holder == c->tid) {
					count(&hub->slot->nr_cancels, 1);
				} else {
					count(&hub->slot->nr_takeovers, 1);
					__atomic_store_n(&hub->slot->displaced_tid, (__u32)holder,
							 __ATOMIC_RELAXED);
				}
			} else {
				/* Transition 5: the idle carrier's own CAS will fail once it
				 * leaves its poll; make it leave now. */
				count(&hub->slot->nr_idle_returns, 1);
				gh__carrier_kick(holder);
			}
			if (queued)
				returned_remove(hub, c);
			return;
		}
		if (st != GH_BATON_RUN)
			gh__panic("carrier %d returned to a hub with baton %#llx", (int)c->tid,
				  (unsigned long long)b);
		/* Transition 4: RUN(other). Queue, then look at the baton once more before
		 * sleeping (the Dekker pair with an owner going idle). */
		if (!queued) {
			atomic_store(&c->wake_word, 0);
			returned_push(hub, c);
			__atomic_fetch_add(&hub->slot->return_pending, 1, __ATOMIC_SEQ_CST);
			count(&hub->slot->nr_holds, 1);
			queued = true;
			continue;
		}
		wait_woken(&c->wake_word);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Parking                                                                                    */

enum park_result { PARK_OWNER, PARK_STOP, PARK_RETIRE };

/* Take a HANDOFF(t) found in b: transition 2. */
static bool take_over(struct gh_hub *hub, struct gh__carrier *c, __u64 b)
{
	if (!baton_cas(hub, b, gh_baton_next(b, GH_BATON_RUN, (__u32)c->tid)))
		return false;
	set_runner(hub, c->tid);
	handoff_ended(hub);
	count(&hub->slot->nr_takeovers, 1);
	__atomic_store_n(&hub->slot->displaced_tid, gh_baton_tid(b), __ATOMIC_RELAXED);
	return true;
}

/* Both under carrier_lock. */
/* A new spare is counted as ready until it first parks, takes the hub, or exits. Only the
 * spare itself clears the flag, so it may test it without the lock. */
static void not_fresh_locked(struct gh_hub *hub, struct gh__carrier *c)
{
	if (c->fresh) {
		c->fresh = false;
		hub->nr_fresh--;
	}
}

static void not_fresh(struct gh_hub *hub, struct gh__carrier *c)
{
	if (c->fresh) {
		pthread_mutex_lock(&hub->carrier_lock);
		not_fresh_locked(hub, c);
		pthread_mutex_unlock(&hub->carrier_lock);
	}
}

static void mark_parked(struct gh_hub *hub, struct gh__carrier *c)
{
	not_fresh_locked(hub, c);
	c->parked = true;
	c->parked_since = gh_now();
	gh__list_push_back(&hub->parked, &c->park_link);
	hub->nr_parked++;
	if (hub->backend->spare_parked)
		hub->backend->spare_parked(hub, c, true);
}

static void unpark(struct gh_hub *hub, struct gh__carrier *c)
{
	if (c->parked) {
		gh__list_remove(&c->park_link);
		c->parked = false;
		hub->nr_parked--;
		if (hub->backend->spare_parked)
			hub->backend->spare_parked(hub, c, false);
	}
}

/* A stop or a retirement, read under carrier_lock (held by the caller). */
static bool leaving(struct gh_hub *hub, struct gh__carrier *c, enum park_result *why)
{
	if (c->retire) {
		*why = PARK_RETIRE;
		return true;
	}
	if (atomic_load(&hub->stopping)) {
		*why = PARK_STOP;
		return true;
	}
	return false;
}

static enum park_result park(struct gh_hub *hub, struct gh__carrier *c)
{
	enum park_result why;

	for (;;) {
		__u64 b;

		pthread_mutex_lock(&hub->carrier_lock);
		if (leaving(hub, c, &why)) {
			pthread_mutex_unlock(&hub->carrier_lock);
			return why;
		}
		pthread_mutex_unlock(&hub->carrier_lock);
		b = baton_load(hub);
		if (gh_baton_state(b) == GH_BATON_HANDOFF) {
			if (take_over(hub, c, b))
				return PARK_OWNER;
			continue;
		}
		pthread_mutex_lock(&hub->carrier_lock);
		if (leaving(hub, c, &why)) {
			pthread_mutex_unlock(&hub->carrier_lock);
			return why;
		}
		atomic_store(&c->wake_word, 0);
		mark_parked(hub, c);
		pthread_mutex_unlock(&hub->carrier_lock);

		if (gh_baton_state(baton_load(hub)) == GH_BATON_HANDOFF) {
			pthread_mutex_lock(&hub->carrier_lock);
			unpark(hub, c);
			pthread_mutex_unlock(&hub->carrier_lock);
			continue;
		}
		if (hub->backend->spare_wait)
			hub->backend->spare_wait(hub, c);
		else
			wait_woken(&c->wake_word);
		/* A waker in the runtime took us off the parked list; a kernel side that wakes
		 * spares itself (trace mode's signal handler) cannot take the lock, so leave the
		 * list here if still on it. Then look again: a handoff, a stop, a retirement, or
		 * nothing (the handoff was cancelled: park again). */
		pthread_mutex_lock(&hub->carrier_lock);
		unpark(hub, c);
		pthread_mutex_unlock(&hub->carrier_lock);
	}
}

unsigned gh__spares_ready(struct gh_hub *hub)
{
	unsigned n;

	pthread_mutex_lock(&hub->carrier_lock);
	n = hub->nr_parked + hub->nr_fresh;
	pthread_mutex_unlock(&hub->carrier_lock);
	return n;
}

bool gh__spare_wake(struct gh_hub *hub)
{
	struct gh__list *n;
	struct gh__carrier *c = NULL;

	pthread_mutex_lock(&hub->carrier_lock);
	n = hub->parked.next;
	if (n != &hub->parked) {
		c = GH_CONTAINER_OF(n, struct gh__carrier, park_link);
		unpark(hub, c);
	}
	pthread_mutex_unlock(&hub->carrier_lock);
	if (c)
		wake(c);
	return c != NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* The hub loop                                                                               */

enum run_result { RUN_LOST, RUN_DONE };

/* Nothing is ready and nothing outside the hub can make anything ready: every live green
 * thread waits on another. A thread held by a blocked carrier still counts as running. */
static bool deadlocked(struct gh_hub *hub)
{
	return hub->live && !hub->runq_len && hub->live == hub->nr_waiting && !hub->timers.n &&
	       !hub->fd_waiters &&
	       !atomic_load_explicit(&hub->remote_waiters, memory_order_relaxed);
}

/*
 * Break a deadlock by cancelling every waiting thread: their waits return -ECANCELED so they
 * can unwind, and gh_hub_run reports -EDEADLK. Uncancellable waits are remote completions
 * (none is pending, or this is no deadlock) or a gh_cond_wait re-locking its mutex: that one
 * cannot end if the mutex's owner finished without unlocking it, so if cancelling left nothing
 * ready, those waits end with -EDEADLK too (without the mutex), or the hub would spin here.
 */
static void cancel_all(struct gh_hub *hub)
{
	struct gh__list *n;

	hub->deadlocked = true;
	for (n = hub->threads.next; n != &hub->threads; n = n->next) {
		struct gh_thread *t = GH_CONTAINER_OF(n, struct gh_thread, all);

		t->cancelled = true;
		if (t->state == GH__WAITING && !t->uncancellable_wait)
			gh__wake(t, -ECANCELED);
	}
	if (hub->runq_len)
		return;
	for (n = hub->threads.next; n != &hub->threads; n = n->next) {
		struct gh_thread *t = GH_CONTAINER_OF(n, struct gh_thread, all);

		if (t->state == GH__WAITING)
			gh__wake(t, -EDEADLK);
	}
}

static void release_dying(struct gh_hub *hub)
{
	struct gh_thread *t = hub->dying;

	if (!t)
		return;
	hub->dying = NULL;
	if (t->detached)
		gh__thread_free(t);
}

/*
 * Nothing is ready: sleep in the poller as IDLE(c), so that the sleep is not taken for a
 * block and a returning carrier may take the hub. False if the baton was lost meanwhile.
 */
static bool idle(struct gh_hub *hub, struct gh__carrier *c)
{
	__u64 b, idle_word;
	uint64_t deadline;
	int n;

	/* Read while the hub is ours: once IDLE is published, a returning carrier may take the
	 * hub and rearrange the timer heap (or reallocate it) under this thread. */
	deadline = gh__timer_next(&hub->timers);
	/* RUN(c) changes only while c sleeps, and then comes back as RUN(c) before c runs on
	 * (sched_ext mode hands off a page fault and cancels the handoff at its return, with a
	 * new sequence): so CAS, and retry. */
	do {
		b = baton_load(hub);
		if (!is(b, GH_BATON_RUN, c->tid))
			gh__panic("carrier %d going idle without the baton (%#llx)", (int)c->tid,
				  (unsigned long long)b);
		idle_word = gh_baton_next(b, GH_BATON_IDLE, (__u32)c->tid);
	} while (!baton_cas(hub, b, idle_word));
	if (gh__return_pending(hub)) {
		/* The Dekker pair with a returning carrier: it may not have seen IDLE. Take the
		 * hub back (or learn the returner already did) and let the loop hand back. */
		return baton_cas(hub, idle_word, gh_baton_next(idle_word, GH_BATON_RUN,
							      (__u32)c->tid));
	}
	n = gh__poller_wait(hub, c->events, deadline, &c->poll_mask);
	/* Leaving the poll: events are only looked at once the hub is ours again. If a
	 * returning carrier took it, the level-triggered poller reports them again to the
	 * next poll. */
	if (!baton_cas(hub, idle_word, gh_baton_next(idle_word, GH_BATON_RUN, (__u32)c->tid)))
		return false;
	gh__check_runner(hub, c);
	gh__poller_dispatch(hub, c->events, n);
	return true;
}

static enum run_result run_hub(struct gh_hub *hub, struct gh__carrier *c)
{
	for (;;) {
		struct gh_thread *t;

		release_dying(hub);
		if (gh__return_pending(hub) && hand_back(hub, c))
			return RUN_LOST;
		if (!hub->live)
			return RUN_DONE;
		t = gh__runq_pop(hub);
		if (t) {
			hub->batch = (unsigned)hub->runq_len;
			t->state = GH__RUNNING;
			c->green = t;
			gh__check_runner(hub, c);
			gh__switch(&c->sched_ctx, &t->ctx, false);
			c->green = NULL;
			continue;
		}
		if (deadlocked(hub)) {
			cancel_all(hub);
			continue;
		}
		if (!idle(hub, c))
			return RUN_LOST;
	}
}

/* Every green thread has finished: free the baton and release every parked carrier. */
static void stop(struct gh_hub *hub, struct gh__carrier *last)
{
	struct gh__list *n;
	__u64 b = baton_load(hub);

	/* RUN(last) -> FREE: the hub has nothing to run any more, and a kernel side that sees
	 * last's thread end (a spare's, right after this) must find no baton of it to hand on. */
	if (last && is(b, GH_BATON_RUN, last->tid))
		(void)baton_cas(hub, b, gh_baton_next(b, GH_BATON_FREE, 0));
	pthread_mutex_lock(&hub->carrier_lock);
	atomic_store(&hub->stopping, true);
	while ((n = hub->parked.next) != &hub->parked) {
		struct gh__carrier *c = GH_CONTAINER_OF(n, struct gh__carrier, park_link);

		unpark(hub, c);
		wake(c);
	}
	/* A carrier may still sit in an idle poll it lost to a kernel side that could not kick
	 * it (or be about to enter one): a kick stays pending until its next poll, which it
	 * then leaves at once, to find the hub stopped. */
	for (n = hub->carriers.next; n != &hub->carriers; n = n->next)
		pthread_kill(GH_CONTAINER_OF(n, struct gh__carrier, link)->thread, GH__SIG_KICK);
	pthread_kill(hub->first_carrier, GH__SIG_KICK);
	pthread_mutex_unlock(&hub->carrier_lock);
}

int gh__carrier_loop(struct gh_hub *hub, struct gh__carrier *c)
{
	for (;;) {
		if (is(baton_load(hub), GH_BATON_RUN, c->tid)) {
			if (run_hub(hub, c) == RUN_DONE) {
				stop(hub, c);
				return 0;
			}
		}
		enum park_result why = park(hub, c);

		not_fresh(hub, c);
		switch (why) {
		case PARK_OWNER:
			/* Keep a spare ready for the next handoff (transition 6): the sysmon
			 * starts one if none is parked; wake it if it sleeps long. */
			if (atomic_load_explicit(&gh__sysmon_deep, memory_order_relaxed))
				gh__sysmon_kick();
			break;
		case PARK_STOP:
			return 0;
		case PARK_RETIRE:
			return 1;
		}
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Carrier threads                                                                            */

static void on_kick(int sig)
{
	(void)sig; /* interrupting epoll_pwait2 is all a kick is for */
}

static pthread_mutex_t kick_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Make on_kick the kick signal's handler, unless the application has a handler of its own
 * there (checked at every carrier's start: it may have installed one since). 0, or -EBUSY with
 * the reason in why, or another -errno.
 */
static int install_kick(char *why, size_t len)
{
	struct sigaction sa, old;
	int err = 0;

	pthread_mutex_lock(&kick_lock);
	if (sigaction(GH__SIG_KICK, NULL, &old) < 0) {
		err = -errno;
		snprintf(why, len, "sigaction(signal %d): %s", GH__SIG_KICK, gh_strerror(err));
		goto out;
	}
	if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == on_kick)
		goto out;
	if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
		/* The application uses the signal greenhub reserves. */
		err = -EBUSY;
		snprintf(why, len, "signal %d (SIGRTMAX-1), which greenhub reserves to wake a carrier "
				   "out of its poll, has a disposition of the application's",
			 GH__SIG_KICK);
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick;
	sigemptyset(&sa.sa_mask);
	if (sigaction(GH__SIG_KICK, &sa, NULL) < 0) {
		err = -errno;
		snprintf(why, len, "sigaction(signal %d): %s", GH__SIG_KICK, gh_strerror(err));
	}
out:
	pthread_mutex_unlock(&kick_lock);
	return err;
}

/*
 * A carrier thread must leave the runtime the way it came in: a thread that ends while it
 * carries a hub (pthread_exit() or a cancellation from green code) would leave the hub's green
 * threads with no carrier, and the process with a hub that cannot stop. The destructor of this
 * key, set while a thread is a carrier, aborts with a message instead.
 */
static pthread_key_t carrier_key;
static pthread_once_t carrier_key_once = PTHREAD_ONCE_INIT;
static int carrier_key_err;

static void carrier_thread_ended(void *value)
{
	struct gh__carrier *c = value;

	gh__panic("carrier %d ended (pthread_exit() or cancellation) while carrying hub %p%s%s%s: "
		  "green code must return from its function, never end the OS thread under it",
		  (int)c->tid, (void *)c->hub, c->green ? ", in green thread '" : "",
		  c->green ? c->green->name : "", c->green ? "'" : "");
}

static void carrier_key_create(void)
{
	carrier_key_err = -pthread_key_create(&carrier_key, carrier_thread_ended);
}

void gh__carrier_kick(pid_t tid)
{
	if (syscall(SYS_tgkill, getpid(), tid, GH__SIG_KICK) < 0 && errno != ESRCH)
		gh__panic("tgkill(%d, GH__SIG_KICK): %s", (int)tid, gh_strerror(errno));
}

/* Block the kick signal except in the idle poll. */
static int mask_kick(struct gh__carrier *c, char *why, size_t len)
{
	sigset_t kick;
	int err;

	err = install_kick(why, len);
	if (err)
		return err;
	sigemptyset(&kick);
	sigaddset(&kick, GH__SIG_KICK);
	err = pthread_sigmask(SIG_BLOCK, &kick, &c->saved_mask);
	if (err)
		return -err;
	c->poll_mask = c->saved_mask;
	sigdelset(&c->poll_mask, GH__SIG_KICK);
	return 0;
}

int gh__carrier_init(struct gh_hub *hub, struct gh__carrier *c, char *why, size_t len)
{
	int err;

	gh__ctx_init_native(&c->sched_ctx);
	c->hub = hub;
	c->tid = gettid();
	pthread_once(&carrier_key_once, carrier_key_create);
	if (carrier_key_err) {
		snprintf(why, len, "pthread_key_create: %s", gh_strerror(carrier_key_err));
		return carrier_key_err;
	}
	err = mask_kick(c, why, len);
	if (err)
		return err;
	err = gh__altstack_acquire(&c->altstack);
	if (err) {
		snprintf(why, len, "an alternate signal stack for the carrier: %s", gh_strerror(err));
		pthread_sigmask(SIG_SETMASK, &c->saved_mask, NULL);
		return err;
	}
	gh__carrier_set(c);
	pthread_setspecific(carrier_key, c);
	if (hub->backend->carrier_attach) {
		err = hub->backend->carrier_attach(hub, c);
		if (err) {
			snprintf(why, len, "registering the carrier with the kernel side: %s",
				 gh_strerror(err));
			pthread_setspecific(carrier_key, NULL);
			gh__carrier_set(NULL);
			gh__altstack_release(c->altstack);
			pthread_sigmask(SIG_SETMASK, &c->saved_mask, NULL);
			return err;
		}
	}
	return 0;
}

void gh__carrier_fini(struct gh__carrier *c)
{
	struct gh_hub *hub = c->hub;

	if (hub->backend->carrier_detach)
		hub->backend->carrier_detach(hub, c);
	pthread_setspecific(carrier_key, NULL);
	gh__carrier_set(NULL);
	gh__altstack_release(c->altstack);
	gh__ctx_destroy(&c->sched_ctx);
	pthread_sigmask(SIG_SETMASK, &c->saved_mask, NULL);
}

static void *spare_main(void *arg)
{
	struct gh__carrier *c = arg;
	struct gh_hub *hub = c->hub;
	char why[256];
	int err;

	/* Spares are started by the sysmon and would inherit its name. */
	pthread_setname_np(pthread_self(), "gh-carrier");
	err = gh__carrier_init(hub, c, why, sizeof(why));
	if (err)
		gh__panic("starting a spare carrier: %s", why);
	if (gh__carrier_loop(hub, c) == 1)
		atomic_fetch_add(&hub->spares_retired, 1);
	gh__carrier_fini(c);
	return NULL;
}

int gh__spare_start(struct gh_hub *hub)
{
	struct gh__carrier *c;
	sigset_t old;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->hub = hub;
	c->spare_thread = true;
	gh__list_init(&c->link);
	gh__list_init(&c->park_link);
	atomic_init(&c->wake_word, 0);

	/* On the carrier list before it runs, so that whoever stops or retires carriers
	 * always finds it; the lock is held until pthread_create has filled c->thread. */
	pthread_mutex_lock(&hub->carrier_lock);
	if (hub->nr_carriers >= hub->opts.max_spares || atomic_load(&hub->stopping)) {
		pthread_mutex_unlock(&hub->carrier_lock);
		free(c);
		return -EAGAIN;
	}
	/* Spares run green code: with the signal mask of the application's thread that runs the
	 * hub, like the first carrier, so that what green code starts (fork, posix_spawn,
	 * system) inherits the application's mask, and a signal the application lets in may be
	 * taken wherever its green code runs. */
	pthread_sigmask(SIG_SETMASK, &hub->app_mask, &old);
	err = -pthread_create(&c->thread, NULL, spare_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err) {
		gh__list_push_back(&hub->carriers, &c->link);
		hub->nr_carriers++;
		c->fresh = true;
		hub->nr_fresh++;
	}
	pthread_mutex_unlock(&hub->carrier_lock);
	if (err) {
		free(c);
		return err;
	}
	atomic_fetch_add(&hub->spares_started, 1);
	return 0;
}

static void join_and_free(struct gh__carrier *c)
{
	int err = pthread_join(c->thread, NULL);

	if (err)
		gh__panic("pthread_join(spare carrier): %s", gh_strerror(err));
	free(c);
}

/* Free the retired spares whose threads have exited, without waiting for the others. Under
 * carrier_lock: a retiring spare may still need it to see that it retired, which is why
 * nothing waits for one under it. */
static void reap_retired(struct gh_hub *hub)
{
	struct gh__list *n, *next;

	for (n = hub->retiring.next; n != &hub->retiring; n = next) {
		struct gh__carrier *c = GH_CONTAINER_OF(n, struct gh__carrier, link);
		int err = pthread_tryjoin_np(c->thread, NULL);

		next = n->next;
		if (err == EBUSY)
			continue;
		if (err)
			gh__panic("joining a retired spare carrier: %s", gh_strerror(err));
		gh__list_remove(&c->link);
		free(c);
	}
}

void gh__spares_retire_idle(struct gh_hub *hub, uint64_t now)
{
	struct gh__list *n, *next;

	pthread_mutex_lock(&hub->carrier_lock);
	reap_retired(hub);
	for (n = hub->parked.next; n != &hub->parked; n = next) {
		struct gh__carrier *c = GH_CONTAINER_OF(n, struct gh__carrier, park_link);

		next = n->next;
		if (hub->nr_parked <= hub->opts.min_spares)
			break;
		/* The thread that called gh_hub_run parks like any carrier once it hands the hub
		 * on, but it is the caller's thread: it never retires. */
		if (!c->spare_thread)
			continue;
		/* parked_since may be later than the sysmon's now. */
		if (now < c->parked_since || now - c->parked_since < hub->opts.spare_idle_ns)
			continue;
		unpark(hub, c);
		c->retire = true;
		gh__list_remove(&c->link);
		gh__list_push_back(&hub->retiring, &c->link);
		hub->nr_carriers--;
		wake(c);
	}
	pthread_mutex_unlock(&hub->carrier_lock);
}

void gh__carriers_stop(struct gh_hub *hub)
{
	struct gh__list *n;

	/* The sysmon no longer starts spares for this hub; wake any that parked after the
	 * stop broadcast and collect them all. */
	stop(hub, NULL);
	pthread_mutex_lock(&hub->carrier_lock);
	while ((n = gh__list_pop_front(&hub->carriers))) {
		hub->nr_carriers--;
		pthread_mutex_unlock(&hub->carrier_lock);
		join_and_free(GH_CONTAINER_OF(n, struct gh__carrier, link));
		pthread_mutex_lock(&hub->carrier_lock);
	}
	/* Spares retired earlier that had not exited by the sysmon's last look. */
	while ((n = gh__list_pop_front(&hub->retiring))) {
		pthread_mutex_unlock(&hub->carrier_lock);
		join_and_free(GH_CONTAINER_OF(n, struct gh__carrier, link));
		pthread_mutex_lock(&hub->carrier_lock);
	}
	pthread_mutex_unlock(&hub->carrier_lock);
}
