// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * dbapi's connections: one green thread each, reading requests, answering them in order
 * (pipelined ones too, with one write per batch) and keeping the connection alive.
 *
 *   GET /json           {"message":"Hello, World!"}
 *   GET /db             one random world row
 *   GET /queries?n=N    N random rows (N clamped to 1..500; not a number: 1)
 *   GET /slow?ms=N      SELECT SLEEP(N/1000) (N clamped to 0..10000)
 *
 * Faults: a malformed request line or target 400, unknown path 404, a method other than GET
 * 405, a head over 8 KiB 431 (each closes the connection but 404 and 405), the database down
 * 503 (the connection stays open), any other database error 500.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dbapi.h"
#include "http_request.h"

#define OUT_FLUSH 16384   /* answers are written once this much has gathered */
#define IO_TIMEOUT MS(10000)
#define IDLE_TIMEOUT MS(60000)

struct buf {
	char *p;
	size_t len, cap;
};

struct conn {
	struct hub_ctx *hc;
	int fd;
	struct conn *prev, *next;  /* in hc->conns */
	unsigned since_yield;      /* requests answered since this thread last yielded */
	struct buf out, body;
	struct http_in in;
};

/* ---------------------------------------------------------------------------------------- */
/* Buffers                                                                                    */

static int buf_reserve(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_printf(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		size_t room = b->cap - b->len;
		va_list ap;
		int n;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return 0;
		}
		if (buf_reserve(b, (size_t)n + 1))
			return -ENOMEM;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Connections                                                                                */

struct conn *conn_new(struct hub_ctx *hc, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		fprintf(stderr, "dbapi: calloc(conn): %s\n", strerror(errno));
		gh_close(fd);
		return NULL;
	}
	c->hc = hc;
	c->fd = fd;
	c->next = hc->conns;
	if (hc->conns)
		hc->conns->prev = c;
	hc->conns = c;
	return c;
}

static void conn_free(struct conn *c)
{
	struct hub_ctx *hc = c->hc;

	if (c->prev)
		c->prev->next = c->next;
	else
		hc->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	gh_close(c->fd);
	free(c->out.p);
	free(c->body.p);
	free(c);
}

void conn_drop(struct conn *c)
{
	conn_free(c);
}

void conns_stop_reading(struct hub_ctx *hc)
{
	for (struct conn *c = hc->conns; c; c = c->next)
		if (shutdown(c->fd, SHUT_RD) < 0 && errno != ENOTCONN)
			fprintf(stderr, "dbapi: shutdown(SHUT_RD): %s\n", strerror(errno));
}

/* ---------------------------------------------------------------------------------------- */
/* Parsing                                                                                    */

/* Requests are read and parsed by examples/http_request.c, more strictly than examples/http
 * does: a method must be upper case and at most 15 bytes (else 400), a target a path of
 * printable characters with valid %XX escapes, and a header line must have a ':'. Connection
 * is matched by the start of its value, and Transfer-Encoding is refused (501) at once. */
static const struct http_rules rules = {
	.long_method = 400,
	.strict = true,
	.connection_prefix = true,
	.refuse_te_at_once = true,
};

/* The query parameter name's value in target as a number: def if absent or not a number
 * (as TechEmpower's tests expect), else clamped to lo..hi. */
static long param(const char *target, const char *name, long def, long lo, long hi)
{
	const char *q = strchr(target, '?');
	size_t n = strlen(name);

	while (q) {
		q++;
		if (strncmp(q, name, n) == 0 && q[n] == '=') {
			char *stop;
			long v;

			errno = 0;
			v = strtol(q + n + 1, &stop, 10);
			if (errno == ERANGE)
				return v < 0 ? lo : hi;
			if (stop == q + n + 1 || (*stop && *stop != '&'))
				return def;
			return v < lo ? lo : v > hi ? hi : v;
		}
		q = strchr(q, '&');
	}
	return def;
}

/* ---------------------------------------------------------------------------------------- */
/* Responses                                                                                  */

static int flush(void *arg)
{
	struct conn *c = arg;
	ssize_t n;

	if (!c->out.len)
		return 0;
	n = gh_write(c->fd, c->out.p, c->out.len, gh_now() + IO_TIMEOUT);
	c->out.len = 0;
	return n < 0 ? (int)n : 0;
}

/* Queue a response with body (JSON) to rq (NULL: to a request that could not be parsed). */
static int respond(struct conn *c, const struct http_request *rq, int status, const char *body,
		   size_t blen)
{
	bool keep_alive = rq && rq->keep_alive && !atomic_load(&stopping);
	const char *connection = http_connection(rq, keep_alive);
	int err = buf_printf(&c->out,
			     "HTTP/1.1 %d %s\r\n"
			     "Server: greenhub-dbapi\r\n"
			     "Date: %s\r\n"
			     "Content-Type: application/json\r\n"
			     "Content-Length: %zu\r\n"
			     "%s%s"
			     "\r\n",
			     status, http_reason(status), http_date(), blen, connection,
			     status == 405 ? "Allow: GET\r\n" : "");

	if (!err)
		err = buf_reserve(&c->out, blen);
	if (err)
		return err;
	memcpy(c->out.p + c->out.len, body, blen);
	c->out.len += blen;
	return c->out.len >= OUT_FLUSH ? flush(c) : 0;
}

static int respond_error(struct conn *c, const struct http_request *rq, int status,
			 const char *what)
{
	char body[160];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", what);

	return respond(c, rq, status, body, (size_t)n);
}

/* ---------------------------------------------------------------------------------------- */
/* Routes                                                                                     */

/* A status for a database failure on m: 503 if the server is unreachable, else 500. */
static int db_failure(struct conn *c, const struct http_request *rq, MYSQL *m)
{
	bool down = db_error_is_unavailable(m);

	if (!down)
		fprintf(stderr, "dbapi: query failed: %s\n", mysql_error(m));
	db_release(c->hc->db, m, true);
	return respond_error(c, rq, down ? 503 : 500,
			     down ? "database unavailable" : "database error");
}

/* n random rows as JSON into c->body: an object for /db (array false), else an array. */
static int rows(struct conn *c, const struct http_request *rq, long n, bool array)
{
	const char *why = NULL;
	MYSQL *m = db_acquire(c->hc->db, &why);
	int err = 0;

	if (!m)
		return respond_error(c, rq, 503, why);
	c->body.len = 0;
	if (array)
		err = buf_printf(&c->body, "[");
	for (long i = 0; i < n && !err; i++) {
		int id = db_random_id(c->hc->db), number;

		/* Bare: with a kernel side, a query that blocks hands the hub to a spare. */
		if (db_world_row(m, id, &number))
			return db_failure(c, rq, m);
		err = buf_printf(&c->body, "%s{\"id\":%d,\"randomNumber\":%d}", i ? "," : "", id,
				 number);
	}
	if (array && !err)
		err = buf_printf(&c->body, "]");
	db_release(c->hc->db, m, false);
	if (err)
		return respond_error(c, rq, 500, "out of memory");
	return respond(c, rq, 200, c->body.p, c->body.len);
}

static int slow(struct conn *c, const struct http_request *rq, long ms)
{
	const char *why = NULL;
	char body[64];
	MYSQL *m;
	int n, err;

	/* Answers queued before this one should not wait for the query. */
	err = flush(c);
	if (err)
		return err;
	m = db_acquire(c->hc->db, &why);
	if (!m)
		return respond_error(c, rq, 503, why);
	if (db_sleep(c->hc->db, m, (unsigned)ms))
		return db_failure(c, rq, m);
	db_release(c->hc->db, m, false);
	n = snprintf(body, sizeof(body), "{\"slept_ms\":%ld}", ms);
	return respond(c, rq, 200, body, (size_t)n);
}

/* The path of target without its query, compared with want. */
static bool path_is(const char *target, const char *want)
{
	size_t n = strlen(want);

	return strncmp(target, want, n) == 0 && (target[n] == '\0' || target[n] == '?');
}

/* Answer one parsed request. 0, or a negative errno that ends the connection. */
static int route(struct conn *c, const struct http_request *rq)
{
	static const char hello[] = "{\"message\":\"Hello, World!\"}";
	const char *t = rq->target;
	bool known = path_is(t, "/json") || path_is(t, "/db") || path_is(t, "/queries") ||
		     path_is(t, "/slow");

	if (!known)
		return respond_error(c, rq, 404, "not found");
	if (strcmp(rq->method, "GET") != 0)
		return respond_error(c, rq, 405, "method not allowed");
	if (path_is(t, "/json"))
		return respond(c, rq, 200, hello, sizeof(hello) - 1);
	if (path_is(t, "/db"))
		return rows(c, rq, 1, false);
	if (path_is(t, "/queries"))
		return rows(c, rq, param(t, "n", 1, 1, QUERIES_MAX), true);
	return slow(c, rq, param(t, "ms", 0, 0, SLOW_MAX_MS));
}

/* ---------------------------------------------------------------------------------------- */
/* The connection's loop                                                                      */

/*
 * The fairness rule (docs/dbapi.md): a connection whose next request is always already there
 * and whose queries return without the hub switching would otherwise answer request after
 * request and never reach a switch point; every yield_every requests it lets the hub's other
 * ready green threads run first.
 */
static void maybe_yield(struct conn *c)
{
	if (!cfg.yield_every || ++c->since_yield < cfg.yield_every)
		return;
	c->since_yield = 0;
	(void)gh_yield(); /* fails only when cancelled, which the next read reports */
}

void *conn_serve(void *arg)
{
	struct conn *c = arg;

	for (;;) {
		struct http_request rq;
		int status = http_read_request(&c->in, c->fd, IDLE_TIMEOUT, flush, c, &rules, &rq);

		if (status < 0)
			break; /* closed, idle, reset, or draining */
		if (status) {
			respond_error(c, NULL, status,
				      status == 431 ? "request head too large" : "bad request");
			break;
		}
		if (route(c, &rq) < 0 || !rq.keep_alive || atomic_load(&stopping))
			break;
		if (rq.body_len && http_skip_body(&c->in, c->fd, rq.body_len, IO_TIMEOUT) < 0)
			break;
		maybe_yield(c);
	}
	flush(c);
	conn_free(c);
	return NULL;
}
