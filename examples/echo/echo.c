// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * echo-server: a TCP echo server with one green thread per connection.
 *
 * The main green thread waits for SIGINT or SIGTERM on a signalfd; an acceptor green thread
 * accepts connections and starts a handler for each through a green pool, whose size is the
 * connection limit (while it is full the acceptor waits, and new connections wait in the
 * kernel's backlog). On a signal the main thread cancels the acceptor, then every handler,
 * waits for them to finish and exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "greenhub.h"

#define MS(n) ((uint64_t)(n) * 1000000u)

struct config {
	const char *addr;
	int port;
	size_t max_conns;
	uint64_t idle_ns; /* 0: connections may stay idle forever */
};

static struct config cfg = { .addr = "127.0.0.1", .port = 7007, .max_conns = 10000 };
static gh_pool *handlers;
static int listen_fd = -1;
static unsigned long served;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: echo-server [options]\n"
		"A TCP echo server: one green thread per connection.\n"
		"\n"
		"  -a, --addr ADDR          IPv4 address to listen on (default 127.0.0.1)\n"
		"  -p, --port PORT          port to listen on, 0 for any free one (default 7007)\n"
		"  -c, --max-conns N        connections served at once; more wait (default 10000)\n"
		"  -i, --idle-timeout MS    close a connection idle this long (default: never)\n"
		"  -h, --help               show this help\n"
		"\n"
		"Prints \"listening on ADDR:PORT\" when ready. SIGINT or SIGTERM stops accepting,\n"
		"closes every connection and exits 0.\n");
}

static uint64_t idle_deadline(void)
{
	return cfg.idle_ns ? gh_now() + cfg.idle_ns : GH_NEVER;
}

static void *handle(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[16384];

	for (;;) {
		ssize_t n = gh_read(fd, buf, sizeof(buf), idle_deadline());

		if (n <= 0)
			break; /* end of file, idle timeout, reset, or shutdown (-ECANCELED) */
		if (gh_write(fd, buf, (size_t)n, idle_deadline()) < 0)
			break;
	}
	gh_close(fd);
	served++;
	return NULL;
}

static void *acceptor(void *arg)
{
	const int one = 1;

	for (;;) {
		int fd = gh_accept(listen_fd, NULL, NULL, GH_NEVER);
		int err;

		if (fd == -ECANCELED)
			break;
		if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
			/* Out of fds or memory: let connections finish, then try again. */
			fprintf(stderr, "echo-server: accept: %s\n", gh_strerror(fd));
			if (gh_sleep_until(gh_now() + MS(100)) < 0)
				break;
			continue;
		}
		if (fd == -ECONNABORTED || fd == -EPROTO || fd == -EPERM)
			continue; /* that connection is gone; the listener is fine */
		if (fd < 0) {
			fprintf(stderr, "echo-server: accept: %s; shutting down\n",
				gh_strerror(fd));
			raise(SIGTERM); /* blocked: it goes to the main thread's signalfd */
			break;
		}
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			fprintf(stderr, "echo-server: setsockopt(TCP_NODELAY): %s\n",
				strerror(errno));
		err = gh_pool_spawn(handlers, handle, (void *)(intptr_t)fd, GH_NEVER);
		if (err) {
			gh_close(fd);
			if (err == -ECANCELED)
				break;
			fprintf(stderr, "echo-server: gh_pool_spawn: %s\n", gh_strerror(err));
		}
	}
	return NULL;
}

static int listen_on(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(sa);
	const int one = 1;
	int fd;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "echo-server: not an IPv4 address: %s\n", addr);
		return -EINVAL;
	}
	fd = gh_socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		fprintf(stderr, "echo-server: socket: %s\n", gh_strerror(fd));
		return fd;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		int err = -errno;

		fprintf(stderr, "echo-server: listening on %s:%d: %s\n", addr, port,
			strerror(-err));
		close(fd);
		return err;
	}
	printf("listening on %s:%d\n", addr, ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

static void *serve(void *arg)
{
	int sig_fd = *(int *)arg;
	struct signalfd_siginfo si;
	gh_thread *acc;
	gh_hub *hub;
	ssize_t n;
	int err;

	listen_fd = listen_on(cfg.addr, cfg.port);
	if (listen_fd < 0)
		return (void *)1;
	hub = gh_hub_current();
	fprintf(stderr, "echo-server: mode %s: %s\n", gh_mode_name(gh_hub_mode(hub)),
		gh_hub_mode_reason(hub));
	handlers = gh_pool_create(cfg.max_conns);
	if (!handlers) {
		fprintf(stderr, "echo-server: gh_pool_create: %s\n", strerror(errno));
		return (void *)1;
	}
	acc = gh_spawn(acceptor, NULL);
	if (!acc) {
		fprintf(stderr, "echo-server: gh_spawn: %s\n", strerror(errno));
		return (void *)1;
	}
	n = gh_read(sig_fd, &si, sizeof(si), GH_NEVER);
	if (n == (ssize_t)sizeof(si))
		fprintf(stderr, "echo-server: %s, shutting down\n", strsignal((int)si.ssi_signo));
	else
		fprintf(stderr, "echo-server: reading signalfd: %s\n",
			n < 0 ? gh_strerror((int)n) : "short read");
	/* Stop accepting first, so no handler starts after the others are cancelled. */
	err = gh_cancel(acc);
	if (err)
		fprintf(stderr, "echo-server: gh_cancel(acceptor): %s\n", gh_strerror(err));
	err = gh_join(acc, NULL);
	if (err)
		fprintf(stderr, "echo-server: gh_join(acceptor): %s\n", gh_strerror(err));
	gh_close(listen_fd);
	fprintf(stderr, "echo-server: closing %d connections\n", gh_pool_cancel(handlers));
	err = gh_pool_waitall(handlers, GH_NEVER);
	if (err)
		fprintf(stderr, "echo-server: gh_pool_waitall: %s\n", gh_strerror(err));
	err = gh_pool_destroy(handlers);
	if (err)
		fprintf(stderr, "echo-server: gh_pool_destroy: %s\n", gh_strerror(err));
	fprintf(stderr, "echo-server: served %lu connections\n", served);
	return NULL;
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "max-conns", required_argument, NULL, 'c' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "a:p:c:i:h", opts, NULL)) != -1) {
		char *end;
		unsigned long v = 0;

		if (c == 'p' || c == 'c' || c == 'i') {
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg) {
				fprintf(stderr, "echo-server: not a number: %s\n", optarg);
				return 2;
			}
		}
		switch (c) {
		case 'a':
			cfg.addr = optarg;
			break;
		case 'p':
			if (v > 65535) {
				fprintf(stderr, "echo-server: port out of range: %lu\n", v);
				return 2;
			}
			cfg.port = (int)v;
			break;
		case 'c':
			if (v == 0 || v > 1000000) {
				fprintf(stderr, "echo-server: --max-conns must be 1..1000000\n");
				return 2;
			}
			cfg.max_conns = v;
			break;
		case 'i':
			cfg.idle_ns = MS(v);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "echo-server: unexpected argument: %s\n", argv[optind]);
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	sigset_t stop;
	gh_hub *hub;
	void *result = NULL;
	int sig_fd, err;

	err = parse_args(argc, argv);
	if (err >= 0)
		return err;
	/* Block the stop signals in every thread (the runtime's threads inherit the mask) and
	 * read them from a signalfd in the hub instead. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	err = pthread_sigmask(SIG_BLOCK, &stop, NULL);
	if (err) {
		fprintf(stderr, "echo-server: pthread_sigmask: %s\n", strerror(err));
		return 1;
	}
	sig_fd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0) {
		fprintf(stderr, "echo-server: signalfd: %s\n", strerror(errno));
		return 1;
	}
	hub = gh_hub_create(NULL);
	if (!hub) {
		fprintf(stderr, "echo-server: gh_hub_create: %s\n", strerror(errno));
		return 1;
	}
	err = gh_hub_run(hub, serve, &sig_fd, &result);
	if (err) {
		fprintf(stderr, "echo-server: gh_hub_run: %s\n", gh_strerror(err));
		return 1;
	}
	err = gh_hub_destroy(hub);
	if (err)
		fprintf(stderr, "echo-server: gh_hub_destroy: %s\n", gh_strerror(err));
	close(sig_fd);
	return result ? 1 : 0;
}
