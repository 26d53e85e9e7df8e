// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/1.1 requests for the http and dbapi examples: see http_request.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "greenhub.h"
#include "http_request.h"

/* ---------------------------------------------------------------------------------------- */
/* Parsing                                                                                    */

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

/* Does the Connection header's value v (up to end) ask for token, by rules? */
static bool connection_is(const struct http_rules *rules, const char *v, const char *end,
			  const char *token)
{
	if (rules->connection_prefix)
		return strncasecmp(v, token, strlen(token)) == 0;
	return has_token(v, end, token);
}

/* Is the target an origin-form path with a query, made of printable characters? */
static bool target_ok(const char *t)
{
	if (t[0] != '/')
		return false;
	for (; *t; t++) {
		if (!isgraph((unsigned char)*t))
			return false;
		if (*t == '%' && (!isxdigit((unsigned char)t[1]) || !isxdigit((unsigned char)t[2])))
			return false;
	}
	return true;
}

static int parse_request_line(const char *line, const char *eol, const struct http_rules *rules,
			      struct http_request *rq)
{
	const char *sp1 = memchr(line, ' ', (size_t)(eol - line));
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;

	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1)
		return 400;
	if ((size_t)(sp1 - line) >= sizeof(rq->method))
		return rules->long_method;
	if ((size_t)(sp2 - sp1 - 1) >= sizeof(rq->target))
		return 414;
	memcpy(rq->method, line, (size_t)(sp1 - line));
	memcpy(rq->target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	if (eol - sp2 - 1 != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || !isdigit(sp2[8]))
		return 400;
	if (rules->strict) {
		for (const char *m = rq->method; *m; m++)
			if (!isupper((unsigned char)*m))
				return 400;
		if (!target_ok(rq->target))
			return 400;
	}
	rq->minor = sp2[8] - '0';
	rq->keep_alive = rq->minor >= 1;
	return 0;
}

/* Parse the head buf[0..len) (ending with CRLFCRLF). 0, or the status to refuse it with. */
static int parse_head(const char *buf, size_t len, const struct http_rules *rules,
		      struct http_request *rq)
{
	const char *end = buf + len, *line, *eol = memmem(buf, len, "\r\n", 2);
	bool transfer_encoding = false;
	int status;

	memset(rq, 0, sizeof(*rq));
	status = parse_request_line(buf, eol, rules, rq);
	if (status)
		return status;
	for (line = eol + 2; line < end; line = eol + 2) {
		const char *v;
		size_t n;

		eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		n = (size_t)(eol - line);
		if (n == 0)
			break; /* the blank line ending the head */
		if (rules->strict && !memchr(line, ':', n))
			return 400;
		if ((v = header_value(line, n, "Connection"))) {
			if (connection_is(rules, v, eol, "close"))
				rq->keep_alive = false;
			else if (connection_is(rules, v, eol, "keep-alive"))
				rq->keep_alive = true;
		} else if ((v = header_value(line, n, "Content-Length"))) {
			char *stop;

			errno = 0;
			rq->body_len = strtoll(v, &stop, 10);
			if (errno || stop == v || rq->body_len < 0)
				return 400;
		} else if (header_value(line, n, "Transfer-Encoding")) {
			/* A body in chunks (or another coding): refused. */
			if (rules->refuse_te_at_once)
				return 501;
			transfer_encoding = true;
		}
	}
	return transfer_encoding ? 501 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading                                                                                    */

int http_read_request(struct http_in *in, int fd, uint64_t idle_ns, int (*flush)(void *arg),
		      void *arg, const struct http_rules *rules, struct http_request *rq)
{
	char *end;
	size_t head_len;
	int status;

	while (!(end = in->len ? memmem(in->buf, in->len, "\r\n\r\n", 4) : NULL)) {
		ssize_t n;
		int err;

		/* Everything complete is answered: send it before waiting for more. */
		err = flush(arg);
		if (err < 0)
			return err;
		if (in->len == HTTP_IN_MAX)
			return 431;
		n = gh_read(fd, in->buf + in->len, HTTP_IN_MAX - in->len,
			    idle_ns ? gh_now() + idle_ns : GH_NEVER);
		if (n <= 0)
			return n < 0 ? (int)n : -ECONNRESET; /* closed, idle, reset, or shut down */
		in->len += (size_t)n;
	}
	head_len = (size_t)(end + 4 - in->buf);
	status = parse_head(in->buf, head_len, rules, rq);
	memmove(in->buf, in->buf + head_len, in->len - head_len);
	in->len -= head_len;
	return status;
}

int http_skip_body(struct http_in *in, int fd, long long n, uint64_t timeout_ns)
{
	long long have = (long long)in->len < n ? (long long)in->len : n;

	memmove(in->buf, in->buf + have, in->len - (size_t)have);
	in->len -= (size_t)have;
	n -= have;
	while (n > 0) {
		ssize_t got = gh_read(fd, in->buf, n < HTTP_IN_MAX ? (size_t)n : HTTP_IN_MAX,
				      gh_now() + timeout_ns);

		if (got <= 0)
			return got < 0 ? (int)got : -ECONNRESET;
		n -= got;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Responses                                                                                  */

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

const char *http_date(void)
{
	static __thread char date[64];
	static __thread time_t at = -1;
	time_t now = time(NULL);
	struct tm tm;

	if (now != at && gmtime_r(&now, &tm)) {
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		at = now;
	}
	return date;
}

const char *http_connection(const struct http_request *rq, bool keep_alive)
{
	return !keep_alive ? "Connection: close\r\n"
	       : rq->minor == 0 ? "Connection: keep-alive\r\n"
				: "";
}
