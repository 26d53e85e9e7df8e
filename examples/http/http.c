// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * http-server: a small HTTP/1.1 server, one green thread per connection.
 *
 *   GET /              200 "Hello, world!\n"
 *   GET /sleep?ms=N    sleeps N ms (0..60000) in its green thread, then 200 "slept N ms\n"
 *   other paths        404; methods other than GET and HEAD: 405
 *
 * Connections are kept alive (HTTP/1.1 by default, HTTP/1.0 when asked), pipelined requests
 * are answered in order with one write per batch, request bodies announced by Content-Length
 * are skipped, and a body sent with Transfer-Encoding (chunked) is refused (501). Reading and
 * parsing requests is examples/http_request.c, shared with examples/dbapi. The server around
 * the handler is the echo example's, examples/server.c: a pool of handlers bounded by
 * --max-conns, an acceptor, and a main green thread that waits for SIGINT/SIGTERM on a
 * signalfd and then shuts everything down.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "greenhub.h"
#include "http_request.h"
#include "server.h"

#define OUT_MAX 16384 /* responses are flushed when this fills up */
#define SLEEP_MAX_MS 60000

static void usage(FILE *f);
static void *handle(void *arg);

static struct server srv = {
	.name = "http-server",
	.usage = usage,
	.handle = handle,
	.addr = "127.0.0.1",
	.port = 8080,
	.max_conns = 10000,
	.idle_ns = MS(60000),
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: http-server [options]\n"
		"A small HTTP/1.1 server: one green thread per connection.\n"
		"  GET /              200 \"Hello, world!\"\n"
		"  GET /sleep?ms=N    green-sleeps N ms (0..%d), then answers\n"
		"\n"
		"  -a, --addr ADDR          IPv4 address to listen on (default 127.0.0.1)\n"
		"  -p, --port PORT          port to listen on, 0 for any free one (default 8080)\n"
		"  -c, --max-conns N        connections served at once; more wait (default 10000)\n"
		"  -i, --idle-timeout MS    close a keep-alive connection idle this long\n"
		"                           (default 60000, 0 for never)\n"
		"  -h, --help               show this help\n"
		"\n"
		"Prints \"listening on ADDR:PORT\" when ready. SIGINT or SIGTERM stops accepting,\n"
		"closes every connection and exits 0.\n",
		SLEEP_MAX_MS);
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                   */

/* Requests are read and parsed by examples/http_request.c: a method too long for it is not
 * one this server implements (501), a Connection header is a list of tokens, and
 * Transfer-Encoding is refused (501) once the other headers have been checked. */
static const struct http_rules rules = { .long_method = 501 };

/* A HEAD request: headers only. */
static bool is_head(const struct http_request *rq)
{
	return strcmp(rq->method, "HEAD") == 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Responses                                                                                  */

struct conn {
	int fd;
	struct http_in in;
	char out[OUT_MAX];
	size_t out_len;
};

static int flush(void *arg)
{
	struct conn *c = arg;
	ssize_t n;

	if (!c->out_len)
		return 0;
	n = gh_write(c->fd, c->out, c->out_len, gh_now() + MS(10000));
	c->out_len = 0;
	return n < 0 ? (int)n : 0;
}

/* Append a response to rq (NULL: to a request that could not be parsed, and the connection
 * closes after it); flushes first when it might not fit. */
static int respond(struct conn *c, int status, const struct http_request *rq, const char *body)
{
	bool keep_alive = rq && rq->keep_alive, head = rq && is_head(rq);
	size_t blen = strlen(body);
	const char *connection = http_connection(rq, keep_alive);
	int n, err;

	if (c->out_len > OUT_MAX / 2) {
		err = flush(c);
		if (err)
			return err;
	}
	n = snprintf(c->out + c->out_len, OUT_MAX - c->out_len,
		     "HTTP/1.1 %d %s\r\n"
		     "Date: %s\r\n"
		     "Content-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: %zu\r\n"
		     "%s"
		     "\r\n"
		     "%s",
		     status, http_reason(status), http_date(), blen, connection, head ? "" : body);
	if (n < 0 || (size_t)n >= OUT_MAX - c->out_len)
		return -EMSGSIZE;
	c->out_len += (size_t)n;
	return 0;
}

/* Answer one parsed request. 0, or a negative errno that ends the connection. */
static int route(struct conn *c, const struct http_request *rq)
{
	char body[64];
	long ms;
	char *stop;
	int err;

	if (!is_head(rq) && strcmp(rq->method, "GET") != 0)
		return respond(c, 405, rq, "method not allowed\n");
	if (strcmp(rq->target, "/") == 0)
		return respond(c, 200, rq, "Hello, world!\n");
	if (strncmp(rq->target, "/sleep?ms=", 10) == 0) {
		errno = 0;
		ms = strtol(rq->target + 10, &stop, 10);
		if (errno || stop == rq->target + 10 || *stop || ms < 0 || ms > SLEEP_MAX_MS)
			return respond(c, 400, rq, "ms must be 0..60000\n");
		/* Answer what is already queued first: a sleep should not delay earlier replies. */
		err = flush(c);
		if (err)
			return err;
		err = gh_sleep(MS(ms));
		if (err)
			return err;
		snprintf(body, sizeof(body), "slept %ld ms\n", ms);
		return respond(c, 200, rq, body);
	}
	return respond(c, 404, rq, "not found\n");
}

static void *handle(void *arg)
{
	struct conn *c = malloc(sizeof(*c));
	int fd = (int)(intptr_t)arg;

	if (!c) {
		gh_close(fd);
		return NULL;
	}
	c->fd = fd;
	c->in.len = c->out_len = 0;
	for (;;) {
		struct http_request rq;
		int status = http_read_request(&c->in, fd, srv.idle_ns, flush, c, &rules, &rq);

		if (status < 0)
			break; /* closed, idle, reset, or shut down */
		if (status) {
			respond(c, status, NULL,
				status == 431 ? "request head too large\n" : "bad request\n");
			break;
		}
		if (route(c, &rq) < 0 || !rq.keep_alive)
			break;
		if (rq.body_len && http_skip_body(&c->in, fd, rq.body_len, MS(10000)) < 0)
			break;
	}
	flush(c);
	gh_close(fd);
	free(c);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Accepting and shutting down (as in examples/echo)                                         */

int main(int argc, char **argv)
{
	return server_main(&srv, argc, argv);
}
