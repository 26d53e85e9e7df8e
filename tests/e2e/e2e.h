/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Helpers for the end-to-end tests: start an example server as a child process, find its
 * port from its "listening on ADDR:PORT" line, talk to it over loopback with plain blocking
 * sockets (every call bounded by a timeout, so a broken server fails a test instead of hanging
 * it), and stop it with a signal.
 */
#ifndef GREENHUB_E2E_H
#define GREENHUB_E2E_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef EXAMPLES_DIR
#error "build with -DEXAMPLES_DIR=<folder of the example binaries>"
#endif

#define IO_TIMEOUT_MS 5000

struct server {
	pid_t pid;
	int port;
	int out_fd; /* its standard output */
	char line[256]; /* its "listening on" line */
};

/* Start EXAMPLES_DIR/name with args (NULL-terminated, without argv[0]) and wait for its
 * "listening on" line (the first line it prints). */
static inline void server_start(struct server *s, const char *name, const char *const args[])
{
	char path[512], line[256];
	const char *argv[16];
	size_t len = 0, n = 0;
	int out[2];

	snprintf(path, sizeof(path), "%s/%s", EXAMPLES_DIR, name);
	argv[n++] = path;
	while (args && args[n - 1] && n < 15) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	assert_int_equal(pipe(out), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		execv(path, (char *const *)argv);
		fprintf(stderr, "execv %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(out[1]);
	s->out_fd = out[0];
	/* Read the first line, bounded in time. */
	while (len < sizeof(line) - 1) {
		struct pollfd p = { .fd = s->out_fd, .events = POLLIN };
		ssize_t r;

		assert_int_equal(poll(&p, 1, IO_TIMEOUT_MS), 1);
		r = read(s->out_fd, line + len, 1);
		assert_int_equal(r, 1);
		if (line[len++] == '\n')
			break;
	}
	line[len] = '\0';
	snprintf(s->line, sizeof(s->line), "%s", line);
	/* "listening on ..." may follow the program's name (dbapi's "dbapi: listening on"). */
	assert_non_null(strstr(line, "listening on 127.0.0.1:"));
	assert_true(sscanf(strstr(line, "listening on 127.0.0.1:"), "listening on 127.0.0.1:%d",
			   &s->port) == 1);
	assert_true(s->port > 0);
}

/* Wait up to ms for pid to exit; its wait status, or -1 if it did not. */
static inline int wait_exit(pid_t pid, int ms)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p;
	int status = -1;

	assert_true(pidfd >= 0);
	p.fd = pidfd;
	p.events = POLLIN;
	if (poll(&p, 1, ms) == 1)
		assert_int_equal(waitpid(pid, &status, 0), pid);
	close(pidfd);
	return status;
}

/* Send sig and return the exit status; kills and fails if it does not exit in time. */
static inline int server_stop(struct server *s, int sig)
{
	int status;

	assert_int_equal(kill(s->pid, sig), 0);
	status = wait_exit(s->pid, IO_TIMEOUT_MS);
	if (status == -1) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		fail_msg("server did not exit within %d ms of signal %d", IO_TIMEOUT_MS, sig);
	}
	close(s->out_fd);
	return status;
}

/* A blocking TCP connection to 127.0.0.1:port whose reads and writes time out. */
static inline int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static inline void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail_msg("send: %s", n < 0 ? strerror(errno) : "sent nothing");
		p += n;
		len -= (size_t)n;
	}
}

static inline void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* Receive exactly len bytes (failing on end of file or timeout). */
static inline void recv_exact(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail_msg("recv: %s", n < 0 ? strerror(errno) : "end of file");
		p += n;
		len -= (size_t)n;
	}
}

/* True if the peer closed: the next recv returns end of file within the I/O timeout. */
static inline bool recv_eof(int fd)
{
	char c;
	ssize_t n;

	do
		n = recv(fd, &c, 1, 0);
	while (n < 0 && errno == EINTR);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* True if fd has something to read (or end of file) within ms. */
static inline bool readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* Run a program to completion; its exit status and its standard output in out. */
static inline int run_capture(const char *name, const char *const args[], char *out, size_t cap)
{
	struct server s = { 0 };
	char path[512];
	const char *argv[16];
	size_t n = 0, len = 0;
	int p[2], status;

	snprintf(path, sizeof(path), "%s/%s", EXAMPLES_DIR, name);
	argv[n++] = path;
	while (args[n - 1] && n < 15) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	assert_int_equal(pipe(p), 0);
	s.pid = fork();
	assert_true(s.pid >= 0);
	if (s.pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		close(p[1]);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t r;

		assert_true(readable_within(p[0], IO_TIMEOUT_MS));
		r = read(p[0], out + len, cap - 1 - len);
		assert_true(r >= 0);
		if (r == 0 || (len += (size_t)r) == cap - 1)
			break;
	}
	out[len] = '\0';
	close(p[0]);
	status = wait_exit(s.pid, IO_TIMEOUT_MS);
	assert_int_not_equal(status, -1);
	return status;
}

#endif
