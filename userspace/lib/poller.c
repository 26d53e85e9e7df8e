// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The poller: one level-triggered epoll set per hub, and gh_wait_fd().
 *
 * Level-triggered, so readiness can never be lost: an fd that stays ready is reported again at
 * the next poll, whoever polls (this matters once a hub changes carriers mid-wait). Interest is
 * disarmed lazily: a bit stays registered after its waiter is woken, and is dropped only when
 * epoll reports it while nobody waits. A thread that waits on the same fd again and again
 * (every connection handler) pays for epoll_ctl once.
 *
 * Several green threads may wait on one fd. Each readiness report wakes the first waiter (FIFO)
 * for each direction reported; the others stay queued and are woken by later reports if the
 * first did not consume the readiness. Errors and hangups wake everyone.
 *
 * An fd a green thread has waited on must be closed with gh_close() (or forgotten with
 * gh__poller_forget()) so that a later fd with the same number is not mistaken for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define WAKE_TOKEN UINT64_MAX

int gh__poller_init(struct gh_hub *hub)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_TOKEN };
	int err;

	hub->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (hub->epfd < 0) {
		return -errno;
	}
	hub->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (hub->wake_fd < 0) {
		err = -errno;
		goto fail_epoll;
	}
	if (epoll_ctl(hub->epfd, EPOLL_CTL_ADD, hub->wake_fd, &ev) < 0) {
		err = -errno;
		goto fail_wake;
	}
	return 0;

fail_wake:
	close(hub->wake_fd);
fail_epoll:
	close(hub->epfd);
	return err;
}

void gh__poller_fini(struct gh_hub *hub)
{
	close(hub->wake_fd);
	close(hub->epfd);
	free(hub->fds);
	hub->fds = NULL;
	hub->nfds = 0;
}

/* Move the table to fds, n entries: the hub's entries copied, every waiter list's head re-seated
 * (its waiters point back at it). No call that could sleep: the move is whole once begun. */
static void fds_move(struct gh_hub *hub, struct gh__fd *fds, size_t n)
{
	for (size_t i = 0; i < hub->nfds; i++) {
		struct gh__waitq *q = &fds[i].waiters;

		fds[i].armed = hub->fds[i].armed;
		if (gh__waitq_empty(&hub->fds[i].waiters)) {
			gh__waitq_init(q);
		} else {
			q->waiters = hub->fds[i].waiters.waiters;
			q->waiters.next->prev = &q->waiters;
			q->waiters.prev->next = &q->waiters;
		}
	}
	for (size_t i = hub->nfds; i < n; i++) {
		fds[i].armed = 0;
		gh__waitq_init(&fds[i].waiters);
	}
	hub->fds = fds;
	hub->nfds = n;
}

/*
 * fd's entry, the table grown to reach it. An allocation may sleep, and with a kernel side the
 * hub's other green threads then run on a spare (no_handoff's comment in internal.h), growing
 * the table themselves: so nothing read before an allocation or a free is used after it, and
 * the new table takes the hub's entries as they are once it is there.
 */
static struct gh__fd *fd_state(struct gh_hub *hub, int fd)
{
	while ((size_t)fd >= hub->nfds) {
		size_t n = hub->nfds ? hub->nfds : 64;
		struct gh__carrier *c;
		struct gh__fd *fds, *old;
		struct gh_thread *t;

		while (n <= (size_t)fd)
			n *= 2;
		fds = gh__malloc(n * sizeof(*fds));
		if (!fds)
			return NULL;
		if (n <= hub->nfds) {
			gh__free(fds); /* grown meanwhile: look again */
			continue;
		}
		old = hub->fds;
		/* The move touches fresh memory: a page fault there must not hand off either
		 * (sched_ext mode hands off faults). */
		c = gh__carrier_self();
		t = gh__no_handoff_begin(c);
		fds_move(hub, fds, n);
		gh__no_handoff_end(c, t);
		gh__free(old);
	}
	return &hub->fds[fd];
}

static uint32_t to_epoll(unsigned events)
{
	return (events & GH_IN ? EPOLLIN : 0) | (events & GH_OUT ? EPOLLOUT : 0);
}

static unsigned from_epoll(uint32_t ev)
{
	return (ev & EPOLLIN ? GH_IN : 0) | (ev & EPOLLOUT ? GH_OUT : 0) |
	       (ev & EPOLLERR ? GH_ERR : 0) | (ev & (EPOLLHUP | EPOLLRDHUP) ? GH_HUP : 0);
}

/* epoll_ctl, which may sleep (the epoll's mutex, an allocation in the kernel), with no handoff:
 * f, the caller's entry, stays where it is. 0 or -errno. */
static int epoll_ctl_own(struct gh_hub *hub, int op, int fd, struct epoll_event *ev)
{
	struct gh__carrier *c = gh__carrier_self();
	struct gh_thread *t = gh__no_handoff_begin(c);
	int err = epoll_ctl(hub->epfd, op, fd, ev) < 0 ? -errno : 0;

	gh__no_handoff_end(c, t);
	return err;
}

/* Register mask for fd, tolerating a stale idea of whether it is in the set. */
static int arm(struct gh_hub *hub, int fd, struct gh__fd *f, uint32_t mask)
{
	struct epoll_event ev = { .events = mask, .data.u64 = (uint64_t)fd };
	int op = f->armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	int err;

	if (mask == f->armed)
		return 0;
	if (!mask)
		op = EPOLL_CTL_DEL;
	err = epoll_ctl_own(hub, op, fd, &ev);
	if (err) {
		if (op == EPOLL_CTL_MOD && err == -ENOENT)
			op = EPOLL_CTL_ADD;
		else if (op == EPOLL_CTL_ADD && err == -EEXIST)
			op = EPOLL_CTL_MOD;
		else if (op == EPOLL_CTL_DEL && (err == -ENOENT || err == -EBADF))
			op = -1;
		else
			return err;
		if (op >= 0 && (err = epoll_ctl_own(hub, op, fd, &ev)))
			return err;
	}
	f->armed = mask;
	return 0;
}

int gh_wait_fd(int fd, unsigned events, uint64_t deadline)
{
	struct gh_thread *self = gh__thread_self();
	struct gh_hub *hub;
	struct gh__fd *f;
	uint32_t want;
	int err;

	if (!self)
		return -EPERM;
	if (fd < 0)
		return -EBADF;
	if (!events || (events & ~(unsigned)(GH_IN | GH_OUT)))
		return -EINVAL;
	if (self->cancelled)
		return -ECANCELED;
	hub = self->hub;
	/* An fd the process does not have: said before the per-fd table grows to reach it (a
	 * huge number would make it grow by gigabytes first). */
	if ((size_t)fd >= hub->nfds && fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	f = fd_state(hub, fd);
	if (!f)
		return -ENOMEM;
	want = to_epoll(events);
	if ((f->armed & want) != want) {
		err = arm(hub, fd, f, f->armed | want);
		/* epoll refuses regular files and directories, which are always ready. */
		if (err == -EPERM)
			return (int)events;
		if (err)
			return err;
	}
	self->wait_events = events;
	hub->fd_waiters++;
	err = gh__wait(&f->waiters, deadline);
	hub->fd_waiters--;
	self->wait_events = 0;
	return err;
}

/* Wake the waiters that a report of ready (GH_* bits) on fd satisfies; disarm what nobody
 * wanted. */
static void dispatch(struct gh_hub *hub, int fd, unsigned ready)
{
	struct gh__fd *f;
	struct gh__list *n, *next;
	unsigned wanted = 0, woken = 0;

	if ((size_t)fd >= hub->nfds)
		return;
	f = &hub->fds[fd];
	for (n = f->waiters.waiters.next; n != &f->waiters.waiters; n = next) {
		struct gh_thread *t = GH_CONTAINER_OF(n, struct gh_thread, node);
		unsigned hit = t->wait_events & ready & ~woken;

		next = n->next;
		wanted |= t->wait_events;
		if (ready & (GH_ERR | GH_HUP))
			gh__wake(t, (int)((t->wait_events & ready) | (ready & (GH_ERR | GH_HUP))));
		else if (hit) {
			woken |= hit;
			gh__wake(t, (int)hit);
		}
	}
	if ((ready & ~wanted & (GH_IN | GH_OUT)) || ((ready & (GH_ERR | GH_HUP)) && !wanted)) {
		/* Lazy disarm; a failure only costs another spurious report, and the next
		 * waiter re-arms. */
		(void)arm(hub, fd, f, f->armed & to_epoll(wanted));
	}
}

static int timeout_of(uint64_t deadline, struct timespec *ts)
{
	uint64_t now, left;

	if (deadline == GH_NEVER)
		return -1;
	now = gh_now();
	left = deadline > now ? deadline - now : 0;
	ts->tv_sec = (time_t)(left / 1000000000u);
	ts->tv_nsec = (long)(left % 1000000000u);
	return 0;
}

int gh__poller_wait(struct gh_hub *hub, struct epoll_event *ev, uint64_t deadline,
		    const sigset_t *mask)
{
	struct timespec ts;
	int n;

	n = epoll_pwait2(hub->epfd, ev, GH__POLL_BATCH,
			 timeout_of(deadline, &ts) < 0 ? NULL : &ts, mask);
	if (n < 0 && errno == ENOSYS) {
		/* Kernels before 5.11: millisecond timeouts, rounded up so that a timer is
		 * never found undue when the wait ends. */
		int ms = -1;

		if (deadline != GH_NEVER) {
			uint64_t left = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
			uint64_t up = (left + 999999u) / 1000000u;

			ms = up > INT_MAX ? INT_MAX : (int)up;
		}
		n = epoll_pwait(hub->epfd, ev, GH__POLL_BATCH, ms, mask);
	}
	if (n < 0) {
		if (errno != EINTR)
			gh__panic("epoll_pwait2: %s", gh_strerror(errno));
		n = 0;
	}
	return n;
}

void gh__poller_dispatch(struct gh_hub *hub, const struct epoll_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 == WAKE_TOKEN)
			gh__drain_remote(hub);
		else
			dispatch(hub, (int)ev[i].data.u64, from_epoll(ev[i].events));
	}
	if (hub->timers.n)
		gh__timer_run(&hub->timers, gh_now());
}

void gh__poller_poll(struct gh_hub *hub, struct gh__carrier *c, uint64_t deadline)
{
	gh__poller_dispatch(hub, c->events, gh__poller_wait(hub, c->events, deadline, NULL));
}

void gh__poller_kick(struct gh_hub *hub)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is saturated, so the fd is readable anyway. */
	if (write(hub->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		gh__panic("write(eventfd): %s", gh_strerror(errno));
}

void gh__poller_forget(struct gh_hub *hub, int fd, int result)
{
	struct gh__fd *f;

	if (fd < 0 || (size_t)fd >= hub->nfds)
		return;
	f = &hub->fds[fd];
	gh__waitq_wake_all(&f->waiters, result);
	(void)arm(hub, fd, f, 0);
}
