/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the echo and http examples share: a TCP server with one green thread per connection.
 *
 * The main green thread waits for SIGINT or SIGTERM on a signalfd; an acceptor green thread
 * accepts connections and starts the example's handler for each through a green pool, whose
 * size is the connection limit (while it is full the acceptor waits, and new connections wait
 * in the kernel's backlog). On a signal the main thread cancels the acceptor, then every
 * handler, waits for them to finish and exits 0.
 */
#ifndef GREENHUB_EXAMPLES_SERVER_H
#define GREENHUB_EXAMPLES_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MS(n) ((uint64_t)(n) * 1000000u)

struct server {
	const char *name;        /* the program's name, in its messages */
	void (*usage)(FILE *f);  /* --help */
	/* A connection's green thread: its argument is the fd (intptr_t), which it closes. */
	void *(*handle)(void *arg);
	void (*stopped)(void);   /* optional: once every handler has finished */
	/* The example's defaults, then the command line's -a, -p, -c and -i. */
	const char *addr;
	int port;
	size_t max_conns;
	uint64_t idle_ns;        /* 0: connections may stay idle forever */
};

/* Parse the command line, serve until SIGINT or SIGTERM: main()'s exit status. */
int server_main(struct server *s, int argc, char **argv);

#endif /* GREENHUB_EXAMPLES_SERVER_H */
