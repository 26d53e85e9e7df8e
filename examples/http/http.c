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
 * are skipped, and a body sent with Transfer-Encoding (chunked) is refused (501). The server
 * around the handler is the echo example's, examples/server.c: a pool of handlers bounded by
 * --max-conns, an acceptor, and a main green thread that waits for SIGINT/SIGTERM on a
 * signalfd and then shuts everything down.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "greenhub.h"
#include "server.h"

#define IN_MAX 8192   /* a request's line and headers must fit */
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

/* The Date header's value, formatted once per second. */
static char date_buf[64];
static time_t date_at = -1;

static const char *http_date(void)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != date_at && gmtime_r(&now, &tm)) {
		strftime(date_buf, sizeof(date_buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		date_at = now;
	}
	return date_buf;
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                   */

struct request {
	char method[16];
	char target[1024];
	int minor;           /* HTTP/1.<minor> */
	bool keep_alive;
	bool head;           /* a HEAD request: headers only */
	long long body_len;  /* Content-Length, 0 if none */
	bool transfer_encoding; /* a body in chunks (or another coding): refused */
};

/* A header's value if line (without CRLF, len bytes) is that header, else NULL. */
static const char *header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return NULL;
	line += n + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

/* Does the comma-separated header value (up to end) contain token, ignoring case? */
static bool has_token(const char *v, const char *end, const char *token)
{
	size_t n = strlen(token);

	while (v < end) {
		const char *comma = memchr(v, ',', (size_t)(end - v));
		const char *stop = comma ? comma : end;

		while (v < stop && (*v == ' ' || *v == '\t'))
			v++;
		if ((size_t)(stop - v) >= n && strncasecmp(v, token, n) == 0) {
			const char *rest = v + n;

			while (rest < stop && (*rest == ' ' || *rest == '\t'))
				rest++;
			if (rest == stop)
				return true;
		}
		v = stop + 1;
	}
	return false;
}

/* Parse the head buf[0..len) (ending with CRLFCRLF). 0, or the status to refuse it with. */
static int parse_head(const char *buf, size_t len, struct request *rq)
{
	const char *end = buf + len, *line = buf, *eol, *sp1, *sp2;

	memset(rq, 0, sizeof(*rq));
	eol = memmem(line, (size_t)(end - line), "\r\n", 2);
	sp1 = memchr(line, ' ', (size_t)(eol - line));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1)
		return 400;
	if ((size_t)(sp1 - line) >= sizeof(rq->method) ||
	    (size_t)(sp2 - sp1 - 1) >= sizeof(rq->target))
		return (size_t)(sp1 - line) >= sizeof(rq->method) ? 501 : 414;
	memcpy(rq->method, line, (size_t)(sp1 - line));
	memcpy(rq->target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	if (eol - sp2 - 1 != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || !isdigit(sp2[8]))
		return 400;
	rq->minor = sp2[8] - '0';
	rq->keep_alive = rq->minor >= 1;
	for (line = eol + 2; line < end; line = eol + 2) {
		const char *v;
		size_t n;

		eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		n = (size_t)(eol - line);
		if (n == 0)
			break; /* the blank line ending the head */
		if ((v = header_value(line, n, "Connection"))) {
			if (has_token(v, eol, "close"))
				rq->keep_alive = false;
			else if (has_token(v, eol, "keep-alive"))
				rq->keep_alive = true;
		} else if ((v = header_value(line, n, "Content-Length"))) {
			char *stop;

			errno = 0;
			rq->body_len = strtoll(v, &stop, 10);
			if (errno || stop == v || rq->body_len < 0)
				return 400;
		} else if ((v = header_value(line, n, "Transfer-Encoding"))) {
			rq->transfer_encoding = true;
		}
	}
	rq->head = strcmp(rq->method, "HEAD") == 0;
	return rq->transfer_encoding ? 501 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Responses                                                                                  */

struct conn {
	int fd;
	char in[IN_MAX];
	size_t in_len;
	char out[OUT_MAX];
	size_t out_len;
};

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	default: return "Error";
	}
}

static int flush(struct conn *c)
{
	ssize_t n;

	if (!c->out_len)
		return 0;
	n = gh_write(c->fd, c->out, c->out_len, gh_now() + MS(10000));
	c->out_len = 0;
	return n < 0 ? (int)n : 0;
}

/* Append a response to rq (NULL: to a request that could not be parsed, and the connection
 * closes after it); flushes first when it might not fit. */
static int respond(struct conn *c, int status, const struct request *rq, const char *body)
{
	bool keep_alive = rq && rq->keep_alive, head = rq && rq->head;
	size_t blen = strlen(body);
	const char *connection = !keep_alive	? "Connection: close\r\n"
				 : rq->minor == 0 ? "Connection: keep-alive\r\n"
						  : "";
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
		     status, reason(status), http_date(), blen, connection, head ? "" : body);
	if (n < 0 || (size_t)n >= OUT_MAX - c->out_len)
		return -EMSGSIZE;
	c->out_len += (size_t)n;
	return 0;
}

/* Answer one parsed request. 0, or a negative errno that ends the connection. */
static int route(struct conn *c, const struct request *rq)
{
	char body[64];
	long ms;
	char *stop;
	int err;

	if (!rq->head && strcmp(rq->method, "GET") != 0)
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
		err = gh_sleep_until(gh_now() + MS(ms));
		if (err)
			return err;
		snprintf(body, sizeof(body), "slept %ld ms\n", ms);
		return respond(c, 200, rq, body);
	}
	return respond(c, 404, rq, "not found\n");
}

/* Read and throw away n bytes of request body. */
static int skip_body(struct conn *c, long long n)
{
	long long have = (long long)c->in_len < n ? (long long)c->in_len : n;

	memmove(c->in, c->in + have, c->in_len - (size_t)have);
	c->in_len -= (size_t)have;
	n -= have;
	while (n > 0) {
		ssize_t got = gh_read(c->fd, c->in, n < IN_MAX ? (size_t)n : IN_MAX,
				      gh_now() + MS(10000));

		if (got <= 0)
			return got < 0 ? (int)got : -ECONNRESET;
		n -= got;
	}
	return 0;
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
	c->in_len = c->out_len = 0;
	for (;;) {
		char *end = c->in_len ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
		struct request rq;
		size_t head_len;
		int status;

		if (!end) {
			ssize_t n;

			/* Everything complete is answered: send it before waiting for more. */
			if (flush(c) < 0)
				break;
			if (c->in_len == IN_MAX) {
				respond(c, 431, NULL, "request head too large\n");
				break;
			}
			n = gh_read(fd, c->in + c->in_len, IN_MAX - c->in_len,
				    srv.idle_ns ? gh_now() + srv.idle_ns : GH_NEVER);
			if (n <= 0)
				break; /* closed, idle, reset, or shut down */
			c->in_len += (size_t)n;
			continue;
		}
		head_len = (size_t)(end + 4 - c->in);
		status = parse_head(c->in, head_len, &rq);
		memmove(c->in, c->in + head_len, c->in_len - head_len);
		c->in_len -= head_len;
		if (status) {
			respond(c, status, NULL, "bad request\n");
			break;
		}
		if (route(c, &rq) < 0 || !rq.keep_alive)
			break;
		if (rq.body_len && skip_body(c, rq.body_len) < 0)
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
