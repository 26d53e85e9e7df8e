// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* examples/http end to end: keep-alive, pipelining, /sleep alongside other requests, error
 * statuses, HTTP/1.0, HEAD, graceful shutdown, --help. */
#include "e2e.h"

static const char *const port0[] = { "--port", "0", NULL };

struct response {
	int status;
	char head[2048];
	char body[256];
	long content_length;
	bool close;
};

/* Read one response: the head up to the blank line, then Content-Length bytes of body
 * (none for a HEAD request). */
static void read_response(int fd, struct response *r, bool head_only)
{
	size_t len = 0;
	const char *cl;

	memset(r, 0, sizeof(*r));
	while (len < 4 || memcmp(r->head + len - 4, "\r\n\r\n", 4) != 0) {
		assert_true(len < sizeof(r->head) - 1);
		recv_exact(fd, r->head + len, 1);
		len++;
	}
	r->head[len] = '\0';
	assert_int_equal(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1);
	cl = strstr(r->head, "\r\nContent-Length: ");
	assert_non_null(cl);
	r->content_length = strtol(cl + 18, NULL, 10);
	assert_true(r->content_length >= 0 && r->content_length < (long)sizeof(r->body));
	assert_non_null(strstr(r->head, "\r\nDate: "));
	r->close = strstr(r->head, "\r\nConnection: close\r\n") != NULL;
	if (!head_only)
		recv_exact(fd, r->body, (size_t)r->content_length);
}

static void get(int fd, const char *target, struct response *r)
{
	char req[512];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", target);
	send_str(fd, req);
	read_response(fd, r, false);
}

static void test_e2e_http_help(void **state)
{
	static const char *const help[] = { "-h", NULL };
	char out[4096];
	int status = run_capture("http-server", help, out, sizeof(out));

	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_non_null(strstr(out, "usage: http-server"));
	assert_non_null(strstr(out, "/sleep?ms="));
}

static void test_e2e_http_keep_alive_and_pipelining(void **state)
{
	struct server s;
	struct response r;
	int fd;

	server_start(&s, "http-server", port0);
	fd = connect_to(s.port);
	for (int i = 0; i < 3; i++) {
		get(fd, "/", &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.body, "Hello, world!\n");
		assert_false(r.close);
	}
	/* Three requests in one write: three answers, in order. */
	send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /sleep?ms=1 HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
	read_response(fd, &r, false);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "Hello, world!\n");
	read_response(fd, &r, false);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "slept 1 ms\n");
	read_response(fd, &r, false);
	assert_int_equal(r.status, 404);
	/* Connection: close is honoured. */
	send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	read_response(fd, &r, false);
	assert_int_equal(r.status, 200);
	assert_true(r.close);
	assert_true(recv_eof(fd));
	close(fd);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
}

static void test_e2e_http_sleep_does_not_block_others(void **state)
{
	struct server s;
	struct response r;
	int slow, fast;

	server_start(&s, "http-server", port0);
	slow = connect_to(s.port);
	fast = connect_to(s.port);
	send_str(slow, "GET /sleep?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n");
	/* While the first handler sleeps, the other connection is answered. */
	for (int i = 0; i < 20; i++) {
		get(fast, "/", &r);
		assert_int_equal(r.status, 200);
	}
	assert_false(readable_within(slow, 0));
	read_response(slow, &r, false);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "slept 1000 ms\n");
	close(slow);
	close(fast);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
}

static void test_e2e_http_errors_and_versions(void **state)
{
	struct server s;
	struct response r;
	int fd;

	server_start(&s, "http-server", port0);
	fd = connect_to(s.port);
	get(fd, "/sleep?ms=abc", &r);
	assert_int_equal(r.status, 400);
	get(fd, "/sleep?ms=999999", &r);
	assert_int_equal(r.status, 400);
	/* A method other than GET: 405, its body skipped, and the connection goes on. */
	send_str(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
	read_response(fd, &r, false);
	assert_int_equal(r.status, 405);
	assert_false(r.close);
	/* HEAD: the head only. */
	send_str(fd, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
	read_response(fd, &r, true);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.content_length, 14);
	get(fd, "/", &r);
	assert_string_equal(r.body, "Hello, world!\n");
	/* Garbage: 400 and the connection is closed. */
	send_str(fd, "NONSENSE\r\n\r\n");
	read_response(fd, &r, false);
	assert_int_equal(r.status, 400);
	assert_true(r.close);
	assert_true(recv_eof(fd));
	close(fd);

	/* HTTP/1.0 closes unless asked to keep alive. */
	fd = connect_to(s.port);
	send_str(fd, "GET / HTTP/1.0\r\n\r\n");
	read_response(fd, &r, false);
	assert_int_equal(r.status, 200);
	assert_true(r.close);
	assert_true(recv_eof(fd));
	close(fd);
	fd = connect_to(s.port);
	send_str(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	read_response(fd, &r, false);
	assert_non_null(strstr(r.head, "Connection: keep-alive"));
	send_str(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	read_response(fd, &r, false);
	assert_int_equal(r.status, 200);
	close(fd);

	/* A chunked body is refused. */
	fd = connect_to(s.port);
	send_str(fd, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	read_response(fd, &r, false);
	assert_int_equal(r.status, 501);
	close(fd);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
}

static void test_e2e_http_sigint_during_sleep(void **state)
{
	struct server s;
	int fd;

	server_start(&s, "http-server", port0);
	fd = connect_to(s.port);
	send_str(fd, "GET /sleep?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_false(readable_within(fd, 50));
	/* The sleeping handler is cancelled: the server exits at once, closing the connection. */
	assert_int_equal(server_stop(&s, SIGINT), 0);
	assert_true(recv_eof(fd));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e2e_http_help),
		cmocka_unit_test(test_e2e_http_keep_alive_and_pipelining),
		cmocka_unit_test(test_e2e_http_sleep_does_not_block_others),
		cmocka_unit_test(test_e2e_http_errors_and_versions),
		cmocka_unit_test(test_e2e_http_sigint_during_sleep),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
