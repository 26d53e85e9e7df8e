// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Green I/O: pipes, TCP, UDP and Unix sockets, deadlines, close, resets, cancellation. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "helpers.h"

#define PAST(ns) (gh_now() - (ns))

static bool pipe_ok(int p[2])
{
	return check_int_equal(gh_pipe(p), 0);
}

static void close_ok(int fd)
{
	check_int_equal(gh_close(fd), 0);
}

/* A listening TCP socket on 127.0.0.1 with a kernel-chosen port, written to *addr; -1 after a
 * failed check. */
static int tcp_listener(struct sockaddr_in *addr, int backlog)
{
	socklen_t len = sizeof(*addr);
	int one = 1;
	int fd = gh_socket(AF_INET, SOCK_STREAM, 0);

	if (!check_true(fd >= 0))
		return -1;
	if (!check_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0))
		goto fail;
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!check_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0) ||
	    !check_int_equal(listen(fd, backlog), 0) ||
	    !check_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0))
		goto fail;
	return fd;
fail:
	gh_close(fd);
	return -1;
}

/* A socket connected to addr; -1 after a failed check. */
static int tcp_connect(const struct sockaddr_in *addr)
{
	int fd = gh_socket(AF_INET, SOCK_STREAM, 0);
	int err;

	if (!check_true(fd >= 0))
		return -1;
	err = gh_connect(fd, (const struct sockaddr *)addr, sizeof(*addr), GH_NEVER);
	if (!check_int_equal(err, 0)) {
		gh_close(fd);
		return -1;
	}
	return fd;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 8) * 7);
}

/* ---------------------------------------------------------------------------------------- */

static void *read_some(void *arg)
{
	int fd = *(int *)arg;
	char buf[16] = { 0 };
	ssize_t n = gh_read(fd, buf, sizeof(buf) - 1, GH_NEVER);

	check_int_equal(n, 5);
	check_string_equal(buf, "hello");
	return NULL;
}

static void *pipe_main(void *arg)
{
	int p[2];
	gh_thread *reader;

	if (!pipe_ok(p))
		return NULL;
	reader = gh_spawn(read_some, &p[0]);
	check_int_equal(gh_yield(), 0); /* the reader now waits on the empty pipe */
	check_int_equal(gh_write(p[1], "hello", 5, GH_NEVER), 5);
	join_ok(reader);
	close_ok(p[1]);
	/* End of file. */
	{
		char c;

		check_int_equal(gh_read(p[0], &c, 1, GH_NEVER), 0);
	}
	close_ok(p[0]);
	return NULL;
}

static void test_io_pipe_read_waits_for_writer(void **state)
{
	run_in_hub(pipe_main, NULL);
}

#define BIG (1024 * 1024)

struct big_read {
	int fd;
	size_t got;
};

static void *read_all_pattern(void *arg)
{
	struct big_read *r = arg;
	static unsigned char buf[7919]; /* an odd size, so reads straddle the writer's chunks */

	for (;;) {
		ssize_t n = gh_read(r->fd, buf, sizeof(buf), GH_NEVER);

		if (!check_true(n >= 0) || n == 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			check_int_equal(buf[i], pattern(r->got + (size_t)i));
		r->got += (size_t)n;
	}
	return NULL;
}

static void *full_pipe_main(void *arg)
{
	unsigned char *data = malloc(BIG);
	struct big_read r = { 0 };
	gh_thread *reader;
	int p[2];

	if (!check_non_null(data))
		return NULL;
	for (size_t i = 0; i < BIG; i++)
		data[i] = pattern(i);
	if (!pipe_ok(p)) {
		free(data);
		return NULL;
	}
	/* The smallest pipe buffer: the writer must wait for room many times. */
	check_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
	r.fd = p[0];
	reader = gh_spawn(read_all_pattern, &r);
	check_int_equal(gh_write(p[1], data, BIG, GH_NEVER), BIG);
	close_ok(p[1]);
	join_ok(reader);
	check_int_equal(r.got, BIG);
	close_ok(p[0]);
	free(data);
	return NULL;
}

static void test_io_full_pipe_writer_waits_for_room(void **state)
{
	run_in_hub(full_pipe_main, NULL);
}

static void *full_pipe_deadline_main(void *arg)
{
	static char chunk[65536];
	int p[2];
	ssize_t n;

	if (!pipe_ok(p))
		return NULL;
	/* Fill the pipe without waiting, then a write that cannot finish times out. */
	while ((n = write(p[1], chunk, sizeof(chunk))) > 0)
		;
	check_int_equal(errno, EAGAIN);
	check_int_equal(gh_write(p[1], chunk, sizeof(chunk), gh_now() + MS(5)), -ETIMEDOUT);
	check_int_equal(gh_write(p[1], chunk, sizeof(chunk), PAST(1)), -ETIMEDOUT);
	check_int_equal(gh_write(p[1], chunk, sizeof(chunk), 0), -ETIMEDOUT);
	close_ok(p[0]);
	close_ok(p[1]);
	return NULL;
}

static void test_io_full_pipe_write_deadline(void **state)
{
	run_in_hub(full_pipe_deadline_main, NULL);
}

static void *deadline_main(void *arg)
{
	int p[2];
	char c = 0;

	if (!pipe_ok(p))
		return NULL;
	check_int_equal(gh_read(p[0], &c, 1, PAST(MS(1))), -ETIMEDOUT);
	check_int_equal(gh_read(p[0], &c, 1, 0), -ETIMEDOUT);
	check_int_equal(gh_read(p[0], &c, 1, gh_now() + MS(2)), -ETIMEDOUT);
	/* Data that is already there is read whatever the deadline. */
	check_int_equal(gh_write(p[1], "x", 1, PAST(MS(1))), 1);
	check_int_equal(gh_read(p[0], &c, 1, PAST(MS(1))), 1);
	check_int_equal(c, 'x');
	close_ok(p[0]);
	close_ok(p[1]);
	return NULL;
}

static void test_io_read_deadline_in_past(void **state)
{
	run_in_hub(deadline_main, NULL);
}

/* ---------------------------------------------------------------------------------------- */

struct echo_conn {
	int fd;
};

static void *echo_handler(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;

	while ((n = gh_recv(fd, buf, sizeof(buf), 0, GH_NEVER)) > 0)
		check_int_equal(gh_send(fd, buf, (size_t)n, 0, GH_NEVER), n);
	check_int_equal(n, 0);
	close_ok(fd);
	return NULL;
}

static void *acceptor(void *arg)
{
	int lfd = *(int *)arg;
	int count = 0;

	for (;;) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		int c = gh_accept(lfd, (struct sockaddr *)&peer, &len, GH_NEVER);

		if (c == -EBADF)
			break; /* the listener was closed with gh_close */
		if (!check_true(c >= 0))
			break;
		check_int_equal(len, sizeof(peer));
		check_int_equal(ntohl(peer.sin_addr.s_addr), INADDR_LOOPBACK);
		/* Accepted sockets are green-ready. */
		check_true(fcntl(c, F_GETFL) & O_NONBLOCK);
		check_true(fcntl(c, F_GETFD) & FD_CLOEXEC);
		check_int_equal(gh_detach(gh_spawn(echo_handler, (void *)(intptr_t)c)), 0);
		count++;
	}
	return (void *)(intptr_t)count;
}

#define CLIENTS 200
static struct sockaddr_in echo_addr;

static void *echo_client(void *arg)
{
	intptr_t id = (intptr_t)arg;
	int fd = tcp_connect(&echo_addr);

	if (fd < 0)
		return NULL;
	for (int round = 0; round < 5; round++) {
		char out[64], in[64];
		int len = snprintf(out, sizeof(out), "client %ld round %d", (long)id, round);
		ssize_t got = 0;

		check_int_equal(gh_write(fd, out, (size_t)len, GH_NEVER), len);
		while (got < len) {
			ssize_t n = gh_read(fd, in + got, sizeof(in) - (size_t)got, GH_NEVER);

			if (!check_true(n > 0)) {
				gh_close(fd); /* its echo handler waits for the end */
				return NULL;
			}
			got += n;
		}
		check_memory_equal(in, out, (size_t)len);
	}
	close_ok(fd);
	return NULL;
}

static void *tcp_main(void *arg)
{
	gh_thread *acc, *clients[CLIENTS];
	int lfd = tcp_listener(&echo_addr, 128);

	if (lfd < 0)
		return NULL;
	acc = gh_spawn(acceptor, &lfd);
	for (intptr_t i = 0; i < CLIENTS; i++)
		clients[i] = gh_spawn(echo_client, (void *)i);
	for (int i = 0; i < CLIENTS; i++)
		join_ok(clients[i]);
	/* Closing the listener wakes the acceptor out of gh_accept with -EBADF. */
	close_ok(lfd);
	check_int_equal((intptr_t)join_ok(acc), CLIENTS);
	return NULL;
}

static void test_io_tcp_many_concurrent_connections(void **state)
{
	run_in_hub(tcp_main, NULL);
}

static void *udp_receiver(void *arg)
{
	int fd = *(int *)arg;
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	char buf[64];
	ssize_t n;

	n = gh_recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len, GH_NEVER);
	check_int_equal(n, 4);
	check_memory_equal(buf, "ping", 4);
	check_int_equal(gh_sendto(fd, "pong", 4, 0, (struct sockaddr *)&from, len, GH_NEVER), 4);
	/* An empty datagram is a datagram. */
	check_int_equal(gh_recv(fd, buf, sizeof(buf), 0, GH_NEVER), 0);
	return NULL;
}

static void *udp_main(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int srv = gh_socket(AF_INET, SOCK_DGRAM, 0), cli = gh_socket(AF_INET, SOCK_DGRAM, 0);
	gh_thread *rx;
	char buf[64];

	if (!check_true(srv >= 0 && cli >= 0))
		return NULL;
	check_int_equal(bind(srv, (struct sockaddr *)&a, sizeof(a)), 0);
	check_int_equal(getsockname(srv, (struct sockaddr *)&a, &len), 0);
	rx = gh_spawn(udp_receiver, &srv);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_sendto(cli, "ping", 4, 0, (struct sockaddr *)&a, sizeof(a), GH_NEVER),
			4);
	check_int_equal(gh_recv(cli, buf, sizeof(buf), 0, GH_NEVER), 4);
	check_memory_equal(buf, "pong", 4);
	check_int_equal(connect(cli, (struct sockaddr *)&a, sizeof(a)), 0);
	check_int_equal(gh_send(cli, NULL, 0, 0, GH_NEVER), 0);
	join_ok(rx);
	/* Nothing more arrives. */
	check_int_equal(gh_recv(srv, buf, sizeof(buf), 0, gh_now() + MS(2)), -ETIMEDOUT);
	close_ok(srv);
	close_ok(cli);
	return NULL;
}

static void test_io_udp_datagrams(void **state)
{
	run_in_hub(udp_main, NULL);
}

#define IOVS 40 /* more than gh_writev copies on the stack */
#define IOV_LEN 30000

struct vec_read {
	int fd;
	size_t got;
};

static void *readv_all(void *arg)
{
	struct vec_read *r = arg;
	static unsigned char a[1000], b[3333];

	for (;;) {
		struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
		ssize_t n = gh_readv(r->fd, iov, 2, GH_NEVER);

		if (!check_true(n >= 0) || n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			unsigned char v = i < (ssize_t)sizeof(a) ? a[i] : b[i - (ssize_t)sizeof(a)];

			check_int_equal(v, pattern(r->got + (size_t)i));
		}
		r->got += (size_t)n;
	}
	return NULL;
}

static void *unix_main(void *arg)
{
	static unsigned char data[IOVS * IOV_LEN];
	struct iovec iov[IOVS + 1];
	struct vec_read r = { 0 };
	gh_thread *reader;
	int sv[2];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = pattern(i);
	for (int i = 0; i < IOVS; i++) {
		iov[i].iov_base = data + (size_t)i * IOV_LEN;
		iov[i].iov_len = IOV_LEN;
	}
	iov[IOVS].iov_base = NULL; /* empty buffers are skipped */
	iov[IOVS].iov_len = 0;
	if (!check_int_equal(gh_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0))
		return NULL;
	r.fd = sv[1];
	reader = gh_spawn(readv_all, &r);
	/* 1.2 MB through a socket buffer far smaller: many partial writes. */
	check_int_equal(gh_writev(sv[0], iov, IOVS + 1, GH_NEVER), sizeof(data));
	/* iov is left as it was. */
	check_ptr_equal(iov[0].iov_base, data);
	check_int_equal(iov[0].iov_len, IOV_LEN);
	check_int_equal(shutdown(sv[0], SHUT_WR), 0);
	join_ok(reader);
	check_int_equal(r.got, sizeof(data));
	close_ok(sv[0]);
	close_ok(sv[1]);
	return NULL;
}

static void test_io_unix_stream_writev_readv(void **state)
{
	run_in_hub(unix_main, NULL);
}

/* ---------------------------------------------------------------------------------------- */

static void *wait_read(void *arg)
{
	char c;

	return (void *)(intptr_t)gh_read(*(int *)arg, &c, 1, GH_NEVER);
}

static void *close_wakes_main(void *arg)
{
	struct sockaddr_in a;
	gh_thread *r1, *r2, *acc;
	int p[2], lfd;

	if (!pipe_ok(p))
		return NULL;
	r1 = gh_spawn(wait_read, &p[0]);
	r2 = gh_spawn(wait_read, &p[0]);
	check_int_equal(gh_yield(), 0);
	/* Both readers wait on the pipe; closing it wakes them, not leaves them hanging. */
	close_ok(p[0]);
	check_int_equal((intptr_t)join_ok(r1), -EBADF);
	check_int_equal((intptr_t)join_ok(r2), -EBADF);
	close_ok(p[1]);

	lfd = tcp_listener(&a, 8);
	if (lfd < 0)
		return NULL;
	acc = gh_spawn(acceptor, &lfd);
	check_int_equal(gh_yield(), 0);
	close_ok(lfd);
	check_int_equal((intptr_t)join_ok(acc), 0);
	return NULL;
}

static void test_io_close_wakes_waiters_with_ebadf(void **state)
{
	run_in_hub(close_wakes_main, NULL);
}

static void *bad_fd_main(void *arg)
{
	struct iovec iov = { .iov_base = NULL, .iov_len = 0 };
	char c = 0;
	int p[2];

	check_int_equal(gh_read(-1, &c, 1, GH_NEVER), -EBADF);
	check_int_equal(gh_write(-1, &c, 1, GH_NEVER), -EBADF);
	check_int_equal(gh_recv(-1, &c, 1, 0, GH_NEVER), -EBADF);
	check_int_equal(gh_send(-1, &c, 1, 0, GH_NEVER), -EBADF);
	check_int_equal(gh_accept(-1, NULL, NULL, GH_NEVER), -EBADF);
	check_int_equal(gh_close(-1), -EBADF);
	check_int_equal(gh_fd_setup(-1), -EBADF);
	/* A closed fd. */
	if (!pipe_ok(p))
		return NULL;
	close_ok(p[0]);
	close_ok(p[1]);
	check_int_equal(gh_read(p[0], &c, 1, GH_NEVER), -EBADF);
	check_int_equal(gh_write(p[1], &c, 1, GH_NEVER), -EBADF);
	check_int_equal(gh_close(p[0]), -EBADF);
	/* Socket calls on something that is not a socket. */
	if (!pipe_ok(p))
		return NULL;
	check_int_equal(gh_accept(p[0], NULL, NULL, GH_NEVER), -ENOTSOCK);
	check_int_equal(gh_recv(p[0], &c, 1, 0, GH_NEVER), -ENOTSOCK);
	/* Writing into the read end of a pipe. */
	check_int_equal(gh_write(p[0], &c, 1, GH_NEVER), -EBADF);
	/* Bad arguments. */
	check_int_equal(gh_readv(p[0], &iov, -1, GH_NEVER), -EINVAL);
	check_int_equal(gh_writev(p[1], &iov, IOV_MAX + 1, GH_NEVER), -EINVAL);
	check_int_equal(gh_writev(p[1], NULL, 1, GH_NEVER), -EINVAL);
	check_int_equal(gh_write(p[1], &c, (size_t)SSIZE_MAX + 1, GH_NEVER), -EINVAL);
	check_int_equal(gh_recvfrom(p[0], &c, 1, 0, (struct sockaddr *)&iov, NULL, GH_NEVER),
			-EINVAL);
	check_int_equal(gh_pipe(NULL), -EINVAL);
	check_int_equal(gh_socketpair(AF_UNIX, SOCK_STREAM, 0, NULL), -EINVAL);
	check_int_equal(gh_socket(-1, SOCK_STREAM, 0), -EAFNOSUPPORT);
	/* Nothing to write is done at once. */
	check_int_equal(gh_write(p[1], NULL, 0, GH_NEVER), 0);
	check_int_equal(gh_writev(p[1], NULL, 0, GH_NEVER), 0);
	close_ok(p[0]);
	close_ok(p[1]);
	return NULL;
}

static void test_io_invalid_and_closed_fds(void **state)
{
	run_in_hub(bad_fd_main, NULL);
}

static void *reset_main(void *arg)
{
	struct sockaddr_in a;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int lfd = tcp_listener(&a, 8), cli, srv;
	char buf[16];
	ssize_t n;

	if (lfd < 0)
		return NULL;
	cli = tcp_connect(&a);
	if (cli < 0)
		return NULL;
	srv = gh_accept(lfd, NULL, NULL, GH_NEVER);
	if (!check_true(srv >= 0))
		return NULL;
	/* Closing with a zero linger sends a reset instead of a FIN. */
	check_int_equal(setsockopt(srv, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close_ok(srv);
	check_int_equal(gh_read(cli, buf, sizeof(buf), GH_NEVER), -ECONNRESET);
	/* After the reset, writes fail cleanly: no SIGPIPE kills the test. */
	n = gh_write(cli, "x", 1, GH_NEVER);
	check_true(n == -EPIPE || n == -ECONNRESET);
	close_ok(cli);
	close_ok(lfd);
	return NULL;
}

static void test_io_peer_reset(void **state)
{
	run_in_hub(reset_main, NULL);
}

static void *sigpipe_main(void *arg)
{
	sigset_t pending;
	int p[2], sv[2];
	char buf[64] = { 0 };
	struct iovec iov[2] = { { buf, 10 }, { buf, 10 } };

	if (!pipe_ok(p))
		return NULL;
	close_ok(p[0]);
	check_int_equal(gh_write(p[1], buf, sizeof(buf), GH_NEVER), -EPIPE);
	check_int_equal(gh_writev(p[1], iov, 2, GH_NEVER), -EPIPE);
	close_ok(p[1]);
	if (!check_int_equal(gh_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0))
		return NULL;
	close_ok(sv[1]);
	check_int_equal(gh_write(sv[0], buf, sizeof(buf), GH_NEVER), -EPIPE);
	check_int_equal(gh_send(sv[0], buf, sizeof(buf), 0, GH_NEVER), -EPIPE);
	check_int_equal(gh_writev(sv[0], iov, 2, GH_NEVER), -EPIPE);
	close_ok(sv[0]);
	/* No SIGPIPE was left pending either. */
	check_int_equal(sigpending(&pending), 0);
	check_false(sigismember(&pending, SIGPIPE));
	return NULL;
}

static void test_io_broken_pipe_returns_epipe(void **state)
{
	/* The default disposition: a SIGPIPE that got through would kill the test. */
	assert_true(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
	run_in_hub(sigpipe_main, NULL);
}

static void *refused_main(void *arg)
{
	struct sockaddr_in a;
	int lfd = tcp_listener(&a, 1);
	int fd;

	if (lfd < 0)
		return NULL;
	/* Nobody listens on a port just released. */
	close_ok(lfd);
	fd = gh_socket(AF_INET, SOCK_STREAM, 0);
	if (!check_true(fd >= 0))
		return NULL;
	check_int_equal(gh_connect(fd, (struct sockaddr *)&a, sizeof(a), GH_NEVER),
			-ECONNREFUSED);
	close_ok(fd);
	return NULL;
}

static void test_io_connect_refused(void **state)
{
	run_in_hub(refused_main, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Cancellation of a green thread blocked in each call                                        */

static int cancel_fd;
static struct sockaddr_in cancel_addr;

static void *blocked_read(void *arg)
{
	char c;

	return (void *)(intptr_t)gh_read(cancel_fd, &c, 1, GH_NEVER);
}

static void *blocked_recv(void *arg)
{
	char c;

	return (void *)(intptr_t)gh_recvfrom(cancel_fd, &c, 1, 0, NULL, NULL, GH_NEVER);
}

static void *blocked_write(void *arg)
{
	static char chunk[1 << 20];

	return (void *)(intptr_t)gh_write(cancel_fd, chunk, sizeof(chunk), GH_NEVER);
}

static void *blocked_accept(void *arg)
{
	return (void *)(intptr_t)gh_accept(cancel_fd, NULL, NULL, GH_NEVER);
}

static void *blocked_connect(void *arg)
{
	return (void *)(intptr_t)gh_connect(cancel_fd, (struct sockaddr *)&cancel_addr,
					    sizeof(cancel_addr), GH_NEVER);
}

static void cancel_blocked(gh_fn fn)
{
	gh_thread *t = gh_spawn(fn, NULL);

	/* Let it reach its wait; whether it does or not, cancelling must end it. */
	check_int_equal(gh_sleep_until(gh_now() + MS(1)), 0);
	check_int_equal(gh_cancel(t), 0);
	check_int_equal((intptr_t)join_ok(t), -ECANCELED);
}

/* Connect to a listener whose accept queue is full until a connect stays in progress (the
 * kernel drops further SYNs). Returns the socket of that connect, or -1 if the kernel refused
 * or accepted every attempt instead (net.ipv4.tcp_abort_on_overflow, for one). */
static int stalled_connect(const struct sockaddr_in *a, int *done, int *ndone)
{
	*ndone = 0;
	for (int i = 0; i < 32; i++) {
		int fd = gh_socket(AF_INET, SOCK_STREAM, 0);
		int err;

		if (!check_true(fd >= 0))
			break;
		err = gh_connect(fd, (const struct sockaddr *)a, sizeof(*a), gh_now() + MS(50));
		if (err == -ETIMEDOUT)
			return fd;
		done[(*ndone)++] = fd;
		if (err)
			break;
	}
	return -1;
}

static void *cancel_io_main(void *arg)
{
	static char chunk[65536];
	struct sockaddr_in a;
	int p[2], sv[2], lfd;

	if (!pipe_ok(p))
		return NULL;
	cancel_fd = p[0];
	cancel_blocked(blocked_read);
	while (write(p[1], chunk, sizeof(chunk)) > 0)
		;
	cancel_fd = p[1];
	cancel_blocked(blocked_write);
	close_ok(p[0]);
	close_ok(p[1]);

	if (!check_int_equal(gh_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0))
		return NULL;
	cancel_fd = sv[0];
	cancel_blocked(blocked_recv);
	close_ok(sv[0]);
	close_ok(sv[1]);

	lfd = tcp_listener(&a, 0);
	if (lfd < 0)
		return NULL;
	cancel_fd = lfd;
	cancel_blocked(blocked_accept);
	close_ok(lfd);
	return NULL;
}

static void test_io_cancel_blocked_calls(void **state)
{
	run_in_hub(cancel_io_main, NULL);
}

static bool connect_stalls;

static void *cancel_connect_main(void *arg)
{
	int lfd, done[32], ndone, fd;

	/* Never accepting: the queue fills, and then a connect can neither finish nor fail. */
	lfd = tcp_listener(&cancel_addr, 0);
	if (lfd < 0)
		return NULL;
	fd = stalled_connect(&cancel_addr, done, &ndone);
	connect_stalls = fd >= 0;
	if (connect_stalls) {
		close_ok(fd);
		cancel_fd = gh_socket(AF_INET, SOCK_STREAM, 0);
		check_true(cancel_fd >= 0);
		cancel_blocked(blocked_connect);
		close_ok(cancel_fd);
	}
	for (int i = 0; i < ndone; i++)
		close_ok(done[i]);
	close_ok(lfd);
	return NULL;
}

static void test_io_cancel_blocked_connect(void **state)
{
	run_in_hub(cancel_connect_main, NULL);
	if (!connect_stalls)
		skip(); /* this kernel answers a full accept queue at once: nothing to cancel */
}

static void *cancelled_self_main(void *arg)
{
	int p[2];
	char c = 'y';

	if (!pipe_ok(p))
		return NULL;
	check_int_equal(write(p[1], &c, 1), 1);
	check_int_equal(gh_cancel(gh_self()), 0);
	/* Even with data ready, a cancelled thread hears that it should unwind. */
	check_int_equal(gh_read(p[0], &c, 1, GH_NEVER), -ECANCELED);
	check_int_equal(gh_write(p[1], &c, 1, GH_NEVER), -ECANCELED);
	check_int_equal(gh_accept(p[0], NULL, NULL, GH_NEVER), -ECANCELED);
	/* Closing is no wait and still works. */
	close_ok(p[0]);
	close_ok(p[1]);
	return NULL;
}

static void test_io_cancelled_thread_gets_ecanceled(void **state)
{
	run_in_hub(cancelled_self_main, NULL);
}

static void test_io_outside_hub(void **state)
{
	int p[2], flags;
	char c = 0;
	struct sockaddr_in a = { .sin_family = AF_INET };

	/* Setting fds up and closing them needs no hub... */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(gh_fd_setup(p[0]), 0);
	flags = fcntl(p[0], F_GETFL);
	assert_true(flags & O_NONBLOCK);
	assert_true(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(p[1], F_GETFL) & O_NONBLOCK);
	/* ... waiting does. */
	assert_int_equal(gh_read(p[0], &c, 1, GH_NEVER), -EPERM);
	assert_int_equal(gh_write(p[1], &c, 1, GH_NEVER), -EPERM);
	assert_int_equal(gh_readv(p[0], NULL, 0, GH_NEVER), -EPERM);
	assert_int_equal(gh_writev(p[1], NULL, 0, GH_NEVER), -EPERM);
	assert_int_equal(gh_recv(p[0], &c, 1, 0, GH_NEVER), -EPERM);
	assert_int_equal(gh_send(p[1], &c, 1, 0, GH_NEVER), -EPERM);
	assert_int_equal(gh_accept(p[0], NULL, NULL, GH_NEVER), -EPERM);
	assert_int_equal(gh_connect(p[0], (struct sockaddr *)&a, sizeof(a), GH_NEVER), -EPERM);
	assert_int_equal(gh_close(p[0]), 0);
	assert_int_equal(gh_close(p[1]), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_pipe_read_waits_for_writer),
		cmocka_unit_test(test_io_full_pipe_writer_waits_for_room),
		cmocka_unit_test(test_io_full_pipe_write_deadline),
		cmocka_unit_test(test_io_read_deadline_in_past),
		cmocka_unit_test(test_io_tcp_many_concurrent_connections),
		cmocka_unit_test(test_io_udp_datagrams),
		cmocka_unit_test(test_io_unix_stream_writev_readv),
		cmocka_unit_test(test_io_close_wakes_waiters_with_ebadf),
		cmocka_unit_test(test_io_invalid_and_closed_fds),
		cmocka_unit_test(test_io_peer_reset),
		cmocka_unit_test(test_io_broken_pipe_returns_epipe),
		cmocka_unit_test(test_io_connect_refused),
		cmocka_unit_test(test_io_cancel_blocked_calls),
		cmocka_unit_test(test_io_cancel_blocked_connect),
		cmocka_unit_test(test_io_cancelled_thread_gets_ecanceled),
		cmocka_unit_test(test_io_outside_hub),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
