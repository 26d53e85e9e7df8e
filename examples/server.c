// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The server skeleton of the echo and http examples (server.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "greenhub.h"
#include "server.h"

static struct server *srv;
static gh_pool *handlers;
static int listen_fd = -1;

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
			fprintf(stderr, "%s: accept: %s\n", srv->name, gh_strerror(fd));
			if (gh_sleep(MS(100)) < 0)
				break;
			continue;
		}
		if (fd == -ECONNABORTED || fd == -EPROTO || fd == -EPERM)
			continue; /* that connection is gone; the listener is fine */
		if (fd < 0) {
			fprintf(stderr, "%s: accept: %s; shutting down\n", srv->name,
				gh_strerror(fd));
			raise(SIGTERM); /* blocked: it goes to the main thread's signalfd */
			break;
		}
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			fprintf(stderr, "%s: setsockopt(TCP_NODELAY): %s\n", srv->name,
				strerror(errno));
		err = gh_pool_spawn(handlers, srv->handle, (void *)(intptr_t)fd, GH_NEVER);
		if (err) {
			gh_close(fd);
			if (err == -ECANCELED)
				break;
			fprintf(stderr, "%s: gh_pool_spawn: %s\n", srv->name, gh_strerror(err));
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
		fprintf(stderr, "%s: not an IPv4 address: %s\n", srv->name, addr);
		return -EINVAL;
	}
	fd = gh_socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		fprintf(stderr, "%s: socket: %s\n", srv->name, gh_strerror(fd));
		return fd;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		int err = -errno;

		fprintf(stderr, "%s: listening on %s:%d: %s\n", srv->name, addr, port,
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

	listen_fd = listen_on(srv->addr, srv->port);
	if (listen_fd < 0)
		return (void *)1;
	hub = gh_hub_current();
	fprintf(stderr, "%s: mode %s: %s\n", srv->name, gh_mode_name(gh_hub_mode(hub)),
		gh_hub_mode_reason(hub));
	handlers = gh_pool_create(srv->max_conns);
	if (!handlers) {
		fprintf(stderr, "%s: gh_pool_create: %s\n", srv->name, strerror(errno));
		return (void *)1;
	}
	acc = gh_spawn(acceptor, NULL);
	if (!acc) {
		fprintf(stderr, "%s: gh_spawn: %s\n", srv->name, strerror(errno));
		return (void *)1;
	}
	n = gh_read(sig_fd, &si, sizeof(si), GH_NEVER);
	if (n == (ssize_t)sizeof(si))
		fprintf(stderr, "%s: %s, shutting down\n", srv->name, strsignal((int)si.ssi_signo));
	else
		fprintf(stderr, "%s: reading signalfd: %s\n", srv->name,
			n < 0 ? gh_strerror((int)n) : "short read");
	/* Stop accepting first, so no handler starts after the others are cancelled. */
	err = gh_cancel(acc);
	if (err)
		fprintf(stderr, "%s: gh_cancel(acceptor): %s\n", srv->name, gh_strerror(err));
	err = gh_join(acc, NULL);
	if (err)
		fprintf(stderr, "%s: gh_join(acceptor): %s\n", srv->name, gh_strerror(err));
	gh_close(listen_fd);
	fprintf(stderr, "%s: closing %d connections\n", srv->name, gh_pool_cancel(handlers));
	err = gh_pool_waitall(handlers, GH_NEVER);
	if (err)
		fprintf(stderr, "%s: gh_pool_waitall: %s\n", srv->name, gh_strerror(err));
	err = gh_pool_destroy(handlers);
	if (err)
		fprintf(stderr, "%s: gh_pool_destroy: %s\n", srv->name, gh_strerror(err));
	if (srv->stopped)
		srv->stopped();
	return NULL;
}

/* -1 to go on, else main()'s exit status. */
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
				fprintf(stderr, "%s: not a number: %s\n", srv->name, optarg);
				return 2;
			}
		}
		switch (c) {
		case 'a':
			srv->addr = optarg;
			break;
		case 'p':
			if (v > 65535) {
				fprintf(stderr, "%s: port out of range: %lu\n", srv->name, v);
				return 2;
			}
			srv->port = (int)v;
			break;
		case 'c':
			if (v == 0 || v > 1000000) {
				fprintf(stderr, "%s: --max-conns must be 1..1000000\n", srv->name);
				return 2;
			}
			srv->max_conns = v;
			break;
		case 'i':
			srv->idle_ns = MS(v);
			break;
		case 'h':
			srv->usage(stdout);
			return 0;
		default:
			srv->usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument: %s\n", srv->name, argv[optind]);
		return 2;
	}
	return -1;
}

int server_main(struct server *s, int argc, char **argv)
{
	sigset_t stop;
	gh_hub *hub;
	void *result = NULL;
	int sig_fd, err;

	srv = s;
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
		fprintf(stderr, "%s: pthread_sigmask: %s\n", srv->name, strerror(err));
		return 1;
	}
	sig_fd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0) {
		fprintf(stderr, "%s: signalfd: %s\n", srv->name, strerror(errno));
		return 1;
	}
	hub = gh_hub_create(NULL);
	if (!hub) {
		fprintf(stderr, "%s: gh_hub_create: %s\n", srv->name, strerror(errno));
		return 1;
	}
	err = gh_hub_run(hub, serve, &sig_fd, &result);
	if (err) {
		fprintf(stderr, "%s: gh_hub_run: %s\n", srv->name, gh_strerror(err));
		return 1;
	}
	err = gh_hub_destroy(hub);
	if (err)
		fprintf(stderr, "%s: gh_hub_destroy: %s\n", srv->name, gh_strerror(err));
	close(sig_fd);
	return result ? 1 : 0;
}
