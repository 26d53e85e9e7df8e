// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * echo-server: a TCP echo server with one green thread per connection.
 *
 * Its server (the command line, the listening socket, the acceptor, the pool of handlers
 * bounded by --max-conns and the shutdown on SIGINT or SIGTERM) is examples/server.c, shared
 * with the http example; this file is the connection handler.
 */
#include <stdint.h>
#include <stdio.h>

#include "greenhub.h"
#include "server.h"

static void usage(FILE *f);
static void *handle(void *arg);
static void stopped(void);

static struct server srv = {
	.name = "echo-server",
	.usage = usage,
	.handle = handle,
	.stopped = stopped,
	.addr = "127.0.0.1",
	.port = 7007,
	.max_conns = 10000,
};
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
	return srv.idle_ns ? gh_now() + srv.idle_ns : GH_NEVER;
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

static void stopped(void)
{
	fprintf(stderr, "echo-server: served %lu connections\n", served);
}

int main(int argc, char **argv)
{
	return server_main(&srv, argc, argv);
}
