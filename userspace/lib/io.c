// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Green I/O: read, write, send, receive, accept and connect that suspend only the calling
 * green thread.
 *
 * Every call tries its system call first and waits in gh_wait_fd() only when the kernel answers
 * EAGAIN. A connection handler whose peer keeps it busy therefore never touches the poller,
 * and the poller's lazy disarm keeps an fd registered between waits, so the common case is one
 * system call per operation. Waiting for readiness before every call was rejected: it costs a
 * poll on every call that would have succeeded at once.
 *
 * SIGPIPE. A write to a socket or pipe whose reader has gone raises SIGPIPE, which kills the
 * process by default. Socket writes use send/sendmsg with MSG_NOSIGNAL; writes to anything
 * else (pipes) block SIGPIPE around the write(2) and consume the signal it raised, if any.
 * A write first tries send() and falls back on ENOTSOCK, so a pipe write pays one failed
 * system call more; changing the process's SIGPIPE disposition behind the user's back was
 * rejected, and so was a per-fd type cache, which a plain close(2) and fd reuse would make
 * stale.
 *
 * Nothing here holds state across a switch point except the caller's own arguments, so a green
 * thread may resume on another carrier in the middle of any call.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* iovec arrays up to this many entries are copied on the stack by gh_writev. */
#define WRITEV_STACK_IOVS 16

/* 0 if the caller is a green thread that may wait, else -EPERM or -ECANCELED. */
static int may_wait(void)
{
	struct gh_thread *self = gh__thread_self();

	if (!self)
		return -EPERM;
	if (self->cancelled)
		return -ECANCELED;
	return 0;
}

/* Wait until fd is ready for events (or reports an error, which the retried call will name),
 * unless the deadline has already passed. */
static int wait_ready(int fd, unsigned events, uint64_t deadline)
{
	int r;

	if (deadline != GH_NEVER && deadline <= gh_now())
		return -ETIMEDOUT;
	r = gh_wait_fd(fd, events, deadline);
	return r < 0 ? r : 0;
}

/*
 * After a non-blocking try that failed with errno err: 0 to try again (err is EINTR, or EAGAIN
 * and fd is ready now), or what the call returns (-err, or why the wait for readiness failed).
 */
static int retry_after(int err, int fd, unsigned events, uint64_t deadline)
{
	if (err == EINTR)
		return 0;
	if (err != EAGAIN)
		return -err;
	return wait_ready(fd, events, deadline);
}

/* The arguments of one call, as its try function (below) takes them. */
struct io_args {
	void *buf;
	size_t len;
	int flags;
	const struct iovec *iov;
	int iovcnt;
	struct sockaddr *addr;
	socklen_t *addrlen;
};

/* One non-blocking try of a call on fd: its result, or -errno. */
typedef ssize_t (*io_try_fn)(int fd, const struct io_args *a);

/* Try a call on fd until it succeeds or fails for another reason than readiness. */
static ssize_t io_retry(int fd, unsigned events, uint64_t deadline, io_try_fn try_once,
			const struct io_args *a)
{
	for (;;) {
		ssize_t n = try_once(fd, a);
		int err;

		if (n >= 0)
			return n;
		err = retry_after((int)-n, fd, events, deadline);
		if (err)
			return err;
	}
}

/* A system call's result as the try functions return it. */
static ssize_t result_or_errno(ssize_t n)
{
	return n < 0 ? -errno : n;
}

/* The prologue and the retries of a call from a green thread: may_wait()'s refusal, -EINVAL for
 * arguments found invalid, or the call's result. */
static ssize_t io_call(int fd, unsigned events, uint64_t deadline, bool invalid,
		       io_try_fn try_once, const struct io_args *a)
{
	int err = may_wait();

	if (err)
		return err;
	if (invalid)
		return -EINVAL;
	return io_retry(fd, events, deadline, try_once, a);
}

int gh_fd_setup(int fd)
{
	int fl;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0)
		return -errno;
	if (!(fl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

int gh_socket(int domain, int type, int protocol)
{
	int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);

	return fd < 0 ? -errno : fd;
}

int gh_socketpair(int domain, int type, int protocol, int sv[2])
{
	if (!sv)
		return -EINVAL;
	if (socketpair(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol, sv) < 0)
		return -errno;
	return 0;
}

int gh_pipe(int fds[2])
{
	if (!fds)
		return -EINVAL;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	return 0;
}

int gh_close(int fd)
{
	struct gh_thread *self = gh__thread_self();

	if (fd < 0)
		return -EBADF;
	if (self)
		gh__poller_forget(self->hub, fd, -EBADF);
	/* Linux releases the fd even when close is interrupted; retrying could close a reused
	 * number. */
	if (close(fd) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Writes that never raise SIGPIPE                                                            */

/*
 * write(2) or writev(2) on something that is not a socket, with SIGPIPE blocked on this OS
 * thread for the duration. A SIGPIPE the write raised is then pending and is consumed, unless
 * the caller had SIGPIPE blocked already (then any pending one may be the caller's, and it is
 * left alone). Returns the count or -errno.
 */
static ssize_t write_blocking_sigpipe(int fd, const struct iovec *iov, int iovcnt)
{
	static const struct timespec zero;
	sigset_t pipe_set, old;
	ssize_t n;
	int err;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	err = pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	if (err)
		return -err;
	n = iovcnt == 1 ? write(fd, iov[0].iov_base, iov[0].iov_len) : writev(fd, iov, iovcnt);
	if (n < 0)
		n = -errno;
	if (n == -EPIPE && !sigismember(&old, SIGPIPE)) {
		/* Only this write can have made SIGPIPE pending: it was unblocked until now. */
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	err = pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		gh__panic("pthread_sigmask(SIG_SETMASK): %s", gh_strerror(err));
	return n;
}

/* One non-blocking attempt to write iov: the count, or -errno (-EAGAIN when full). */
static ssize_t write_once(int fd, const struct iovec *iov, int iovcnt)
{
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n;

	n = iovcnt == 1 ? send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT)
			: sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n >= 0)
		return n;
	if (errno != ENOTSOCK)
		return -errno;
	return write_blocking_sigpipe(fd, iov, iovcnt);
}

/* Drop n written bytes from the front of *iov / *iovcnt (which the caller owns). */
static void iov_advance(struct iovec **iov, int *iovcnt, size_t n)
{
	while (*iovcnt && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*iovcnt)--;
	}
	if (*iovcnt) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

static ssize_t try_write(int fd, const struct io_args *a)
{
	return write_once(fd, a->iov, a->iovcnt);
}

/* Write all of iov (a scratch copy the function advances), waiting as needed. */
static ssize_t write_all(int fd, struct iovec *iov, int iovcnt, size_t total, uint64_t deadline)
{
	while (iovcnt) {
		struct io_args a = { .iov = iov, .iovcnt = iovcnt };
		ssize_t n;

		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		n = io_retry(fd, GH_OUT, deadline, try_write, &a);
		if (n < 0)
			return n;
		iov_advance(&iov, &iovcnt, (size_t)n);
	}
	return (ssize_t)total;
}

ssize_t gh_write(int fd, const void *buf, size_t len, uint64_t deadline)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	int err = may_wait();

	if (err)
		return err;
	if (len > SSIZE_MAX)
		return -EINVAL;
	return write_all(fd, &iov, 1, len, deadline);
}

/* Check an iovec array for readv/writev: its total length, or -EINVAL. */
static ssize_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > (size_t)SSIZE_MAX - total)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	return (ssize_t)total;
}

/* The prologue of readv and writev: may_wait()'s refusal, or iov_total(). */
static ssize_t may_wait_iov(const struct iovec *iov, int iovcnt)
{
	int err = may_wait();

	if (err)
		return err;
	return iov_total(iov, iovcnt);
}

ssize_t gh_writev(int fd, const struct iovec *iov, int iovcnt, uint64_t deadline)
{
	struct iovec stack_copy[WRITEV_STACK_IOVS], *copy = stack_copy;
	ssize_t total = may_wait_iov(iov, iovcnt), n;

	if (total < 0)
		return total;
	if (iovcnt > WRITEV_STACK_IOVS) {
		copy = malloc((size_t)iovcnt * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
	}
	if (iovcnt)
		memcpy(copy, iov, (size_t)iovcnt * sizeof(*copy));
	n = write_all(fd, copy, iovcnt, (size_t)total, deadline);
	if (copy != stack_copy)
		free(copy);
	return n;
}

ssize_t gh_send(int fd, const void *buf, size_t len, int flags, uint64_t deadline)
{
	return gh_sendto(fd, buf, len, flags, NULL, 0, deadline);
}

ssize_t gh_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
		  socklen_t addrlen, uint64_t deadline)
{
	const char *p = buf;
	size_t done = 0;
	int err = may_wait();

	if (err)
		return err;
	if (len > SSIZE_MAX)
		return -EINVAL;
	/* do-while: a zero-length datagram is still sent. A datagram goes out whole or not at
	 * all, so the loop continues only on a stream socket's partial send. */
	do {
		/* (p + 0 is avoided: buf may be NULL when len is 0.) */
		ssize_t n = sendto(fd, done ? p + done : p, len - done,
				   flags | MSG_NOSIGNAL | MSG_DONTWAIT, addr, addrlen);

		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		err = retry_after(errno, fd, GH_OUT, deadline);
		if (err)
			return err;
	} while (done < len);
	return (ssize_t)done;
}

/* ---------------------------------------------------------------------------------------- */
/* Reads                                                                                      */

static ssize_t try_read(int fd, const struct io_args *a)
{
	return result_or_errno(read(fd, a->buf, a->len));
}

ssize_t gh_read(int fd, void *buf, size_t len, uint64_t deadline)
{
	struct io_args a = { .buf = buf, .len = len };

	return io_call(fd, GH_IN, deadline, false, try_read, &a);
}

static ssize_t try_readv(int fd, const struct io_args *a)
{
	return result_or_errno(readv(fd, a->iov, a->iovcnt));
}

ssize_t gh_readv(int fd, const struct iovec *iov, int iovcnt, uint64_t deadline)
{
	struct io_args a = { .iov = iov, .iovcnt = iovcnt };
	ssize_t total = may_wait_iov(iov, iovcnt);

	if (total < 0)
		return total;
	return io_retry(fd, GH_IN, deadline, try_readv, &a);
}

ssize_t gh_recv(int fd, void *buf, size_t len, int flags, uint64_t deadline)
{
	return gh_recvfrom(fd, buf, len, flags, NULL, NULL, deadline);
}

static ssize_t try_recvfrom(int fd, const struct io_args *a)
{
	return result_or_errno(recvfrom(fd, a->buf, a->len, a->flags | MSG_DONTWAIT, a->addr,
					a->addrlen));
}

ssize_t gh_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
		    socklen_t *addrlen, uint64_t deadline)
{
	struct io_args a = {
		.buf = buf, .len = len, .flags = flags, .addr = addr, .addrlen = addrlen
	};

	return io_call(fd, GH_IN, deadline, addr && !addrlen, try_recvfrom, &a);
}

/* ---------------------------------------------------------------------------------------- */
/* Connections                                                                                */

static ssize_t try_accept(int fd, const struct io_args *a)
{
	return result_or_errno(accept4(fd, a->addr, a->addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

int gh_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, uint64_t deadline)
{
	struct io_args a = { .addr = addr, .addrlen = addrlen };

	return (int)io_call(fd, GH_IN, deadline, addr && !addrlen, try_accept, &a);
}

int gh_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, uint64_t deadline)
{
	int err = may_wait();

	if (err)
		return err;
	if (connect(fd, addr, addrlen) == 0)
		return 0;
	/* An interrupted non-blocking connect goes on in the background, like EINPROGRESS. */
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	for (;;) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		err = wait_ready(fd, GH_OUT, deadline);
		if (err)
			return err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			return -errno;
		if (soerr)
			return -soerr;
		/* No error yet: ask again to tell "connected" from a wakeup that came early. */
		if (connect(fd, addr, addrlen) == 0 || errno == EISCONN)
			return 0;
		if (errno != EALREADY && errno != EINPROGRESS && errno != EINTR)
			return -errno;
	}
}
