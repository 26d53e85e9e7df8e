// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* examples/echo end to end: echoes over loopback, the connection limit, idle timeout,
 * graceful shutdown on SIGTERM and SIGINT, --help. */
#include "e2e.h"

static const char *const port0[] = { "--port", "0", NULL };

static void echo_check(int fd, const char *msg)
{
	char buf[256];
	size_t len = strlen(msg);

	assert_true(len < sizeof(buf));
	send_all(fd, msg, len);
	recv_exact(fd, buf, len);
	assert_memory_equal(buf, msg, len);
}

static void test_e2e_echo_help(void **state)
{
	static const char *const help[] = { "--help", NULL };
	static const char *const bad[] = { "--no-such-option", NULL };
	static const char *const bad_port[] = { "--port", "70000", NULL };
	char out[4096];
	int status;

	status = run_capture("echo-server", help, out, sizeof(out));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_non_null(strstr(out, "usage: echo-server"));
	assert_non_null(strstr(out, "--max-conns"));
	status = run_capture("echo-server", bad, out, sizeof(out));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
	status = run_capture("echo-server", bad_port, out, sizeof(out));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
}

#define CONNS 64

static void test_e2e_echo_many_connections(void **state)
{
	static char big[1 << 20], back[1 << 16];
	struct server s;
	int fds[CONNS];

	server_start(&s, "echo-server", port0);
	for (int i = 0; i < CONNS; i++)
		fds[i] = connect_to(s.port);
	/* Every connection is served at once, each by its own green thread. */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < CONNS; i++) {
			char msg[64];

			snprintf(msg, sizeof(msg), "connection %d round %d\n", i, round);
			echo_check(fds[i], msg);
		}
	}
	/* A megabyte through one connection, a chunk at a time. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 3);
	for (size_t off = 0; off < sizeof(big); off += sizeof(back)) {
		send_all(fds[0], big + off, sizeof(back));
		recv_exact(fds[0], back, sizeof(back));
		assert_memory_equal(back, big + off, sizeof(back));
	}
	/* A client that leaves does not disturb the others. */
	close(fds[1]);
	echo_check(fds[2], "still here\n");
	for (int i = 0; i < CONNS; i++)
		if (i != 1)
			close(fds[i]);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
}

static void test_e2e_echo_connection_limit(void **state)
{
	static const char *const limit2[] = { "--port", "0", "--max-conns", "2", NULL };
	struct server s;
	int a, b, c;

	server_start(&s, "echo-server", limit2);
	a = connect_to(s.port);
	b = connect_to(s.port);
	echo_check(a, "a\n");
	echo_check(b, "b\n");
	/* A third connection is accepted by the kernel but not served while two are. */
	c = connect_to(s.port);
	send_str(c, "c\n");
	assert_false(readable_within(c, 200));
	/* When one of the two leaves, the waiting one is served. */
	close(a);
	assert_true(readable_within(c, IO_TIMEOUT_MS));
	{
		char buf[2];

		recv_exact(c, buf, 2);
		assert_memory_equal(buf, "c\n", 2);
	}
	echo_check(b, "b again\n");
	close(b);
	close(c);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
}

static void test_e2e_echo_idle_timeout(void **state)
{
	static const char *const idle[] = { "--port", "0", "--idle-timeout", "50", NULL };
	struct server s;
	int fd;

	server_start(&s, "echo-server", idle);
	fd = connect_to(s.port);
	echo_check(fd, "hello\n");
	/* Then silence: the server closes the connection. */
	assert_true(recv_eof(fd));
	close(fd);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
}

static void shutdown_with(int sig)
{
	struct server s;
	int fds[10];

	server_start(&s, "echo-server", port0);
	for (int i = 0; i < 10; i++) {
		fds[i] = connect_to(s.port);
		echo_check(fds[i], "before shutdown\n");
	}
	/* Open, idle connections do not keep the server from stopping, and are closed. */
	assert_int_equal(server_stop(&s, sig), 0);
	for (int i = 0; i < 10; i++) {
		assert_true(recv_eof(fds[i]));
		close(fds[i]);
	}
}

static void test_e2e_echo_sigterm_stops_gracefully(void **state)
{
	shutdown_with(SIGTERM);
}

static void test_e2e_echo_sigint_stops_gracefully(void **state)
{
	shutdown_with(SIGINT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e2e_echo_help),
		cmocka_unit_test(test_e2e_echo_many_connections),
		cmocka_unit_test(test_e2e_echo_connection_limit),
		cmocka_unit_test(test_e2e_echo_idle_timeout),
		cmocka_unit_test(test_e2e_echo_sigterm_stops_gracefully),
		cmocka_unit_test(test_e2e_echo_sigint_stops_gracefully),
	};

	/* A server that died must fail a send, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
