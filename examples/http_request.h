/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the http and dbapi examples share of HTTP/1.1: reading a request head of at most
 * HTTP_IN_MAX bytes in a green thread, parsing its request line and headers (the keep-alive
 * decision, Content-Length, Transfer-Encoding), skipping a request body, and the pieces of a
 * response head (reason phrase, Date, Connection). Each example writes its own responses.
 *
 * Where the two examples accept different requests, struct http_rules says which way to go.
 */
#ifndef GREENHUB_EXAMPLES_HTTP_REQUEST_H
#define GREENHUB_EXAMPLES_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_IN_MAX 8192 /* a request's line and headers must fit */

/* A connection's unread input: the start of the next request, maybe more. */
struct http_in {
	size_t len;
	char buf[HTTP_IN_MAX];
};

struct http_request {
	char method[16];
	char target[1024];
	int minor;          /* HTTP/1.<minor> */
	bool keep_alive;
	long long body_len; /* Content-Length, 0 if none */
};

/* How strictly a request is parsed, and the statuses it is refused with. */
struct http_rules {
	int long_method;        /* the status for a method of 16 bytes or more (a target of 1024
				   or more is 414) */
	bool strict;            /* 400 also for a method not all in upper case, a target that is
				   not a path of printable characters with valid %XX escapes, and a
				   header line without ':' */
	bool connection_prefix; /* Connection asks for close (keep-alive) if its value starts with
				   "close" ("keep-alive"); else if "close" ("keep-alive") is one of
				   its comma-separated tokens */
	bool refuse_te_at_once; /* Transfer-Encoding refuses the request (501) where it stands;
				   else once every header has been checked, so a later bad one is
				   400 */
};

/*
 * The next request from in, reading more from fd while its head is incomplete: before each
 * read, flush(arg) sends what has been answered (a negative errno from it ends the
 * connection), and the read waits until idle_ns from then (0: forever). The head is taken
 * out of in (its body, if any, is left).
 *
 * 0 with *rq filled in; a status to refuse the request with before closing the connection
 * (400, 414, 501, rules->long_method, or 431 when the head does not fit in HTTP_IN_MAX bytes);
 * or a negative errno when the connection ends (closed, idle, reset, cancelled, or flush
 * failed), with nothing to answer.
 */
int http_read_request(struct http_in *in, int fd, uint64_t idle_ns, int (*flush)(void *arg),
		      void *arg, const struct http_rules *rules, struct http_request *rq);

/* Read and throw away n bytes of request body from in, then fd (each read waiting at most
 * timeout_ns). 0, or a negative errno. */
int http_skip_body(struct http_in *in, int fd, long long n, uint64_t timeout_ns);

/* The reason phrase for status ("Error" for one it does not know). */
const char *http_reason(int status);

/* The Date header's value for now, formatted at most once a second per thread. */
const char *http_date(void);

/* The Connection header line (with its CRLF) of a response to rq: close unless keep_alive
 * (rq may then be NULL), keep-alive to HTTP/1.0, else none (HTTP/1.1's default). */
const char *http_connection(const struct http_request *rq, bool keep_alive);

#endif /* GREENHUB_EXAMPLES_HTTP_REQUEST_H */
