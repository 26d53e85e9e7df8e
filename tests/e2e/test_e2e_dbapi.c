// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * examples/dbapi end to end, in mode none (GREENHUB_MODE=none), against a private mariadbd
 * (tests/mariadb_server.h): --init and every endpoint checked against the database, the
 * command line's errors, bad requests, pipelining, SIGTERM draining a request in flight, and
 * a database killed (SIGKILL) and restarted under load: 503s, no hang, no crash, and /db
 * answering again once the server is back, and a database that hangs (SIGSTOP, then SIGCONT)
 * under load: 503s within --db-timeout, no request left unanswered, and /db answering again
 * once it goes on. tests/bpf/test_bpf_dbapi.c runs the endpoint
 * checks with trace mode loaded.
 */
#include "e2e.h"
#include "../mariadb_server.h"
#include "dbapi_client.h"

static struct mdb_server mdb = { .pid = -1 };
static MYSQL *db;
static char db_url[128];

/* Start dbapi on a free port with the given extra arguments (NULL-terminated, at most 8). */
static void dbapi_start(struct server *s, const char *const extra[])
{
	const char *args[16] = { "--listen", "127.0.0.1:0", "--db", db_url };
	size_t n = 4;

	for (size_t i = 0; extra && extra[i] && n < 15; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	server_start(s, "dbapi", args);
}

/* The test's own connection to the database dbapi --init made (connecting on first use). */
static MYSQL *world_db(void)
{
	if (!db)
		db = mdb_connect(&mdb, DBAPI_DB);
	assert_non_null(db);
	return db;
}

static int setup(void **state)
{
	return dbapi_mdb_start(&mdb, db_url, sizeof(db_url));
}

static int teardown(void **state)
{
	if (db)
		mysql_close(db);
	mdb_remove(&mdb);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */

static void expect_usage_error(const char *const args[], const char *names)
{
	char out[4096];
	int status = run_capture("dbapi", args, out, sizeof(out));

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
	if (!strstr(out, names))
		fail_msg("expected a message naming %s, got: %s", names, out);
}

static void test_e2e_dbapi_command_line(void **state)
{
	static const char *const help[] = { "--help", NULL };
	char out[4096];
	int status = run_capture("dbapi", help, out, sizeof(out));

	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_non_null(strstr(out, "usage: dbapi"));
	assert_non_null(strstr(out, "--yield-every"));
	assert_non_null(strstr(out, "--db-timeout"));
	expect_usage_error((const char *const[]){ "--listen", "127.0.0.1:0", NULL }, "--db");
	expect_usage_error((const char *const[]){ "--db", "http://x/y", NULL }, "mysql://");
	expect_usage_error((const char *const[]){ "--db", "mysql://root@h:99999/d", NULL }, "port");
	expect_usage_error((const char *const[]){ "--db", db_url, "--hubs", "0", NULL }, "--hubs");
	expect_usage_error((const char *const[]){ "--db", db_url, "--pool", "x", NULL }, "--pool");
	expect_usage_error((const char *const[]){ "--db", db_url, "--db-timeout", "0", NULL },
			   "--db-timeout");
	expect_usage_error((const char *const[]){ "--db", db_url, "--listen", "nowhere", NULL },
			   "--listen");
	expect_usage_error((const char *const[]){ "--db", db_url, "--bogus", NULL }, "--bogus");
	expect_usage_error((const char *const[]){ "--db", db_url, "extra", NULL }, "extra");
}

/* --init made world: 10000 rows, randomNumber 1..10000. */
static void check_world(void)
{
	MYSQL_RES *res;
	MYSQL_ROW row;

	assert_int_equal(mysql_query(world_db(), "SELECT COUNT(*), MIN(id), MAX(id), MIN(randomNumber), "
					 "MAX(randomNumber) FROM world"),
			 0);
	res = mysql_store_result(world_db());
	assert_non_null(res);
	row = mysql_fetch_row(res);
	assert_non_null(row);
	assert_string_equal(row[0], "10000");
	assert_string_equal(row[1], "1");
	assert_string_equal(row[2], "10000");
	assert_true(atoi(row[3]) >= 1 && atoi(row[4]) <= 10000);
	mysql_free_result(res);
}

static void test_e2e_dbapi_init_and_endpoints(void **state)
{
	static const char *const init[] = { "--init", "--hubs", "2", NULL };
	struct server s;

	dbapi_start(&s, init);
	check_world();
	dbapi_check_endpoints(s.port, world_db());
	assert_int_equal(server_stop(&s, SIGTERM), 0);
	/* A second --init leaves the table as it is. */
	dbapi_start(&s, init);
	check_world();
	assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* Send raw, expect status, and whether the server closes the connection. */
static void expect_status(int port, const char *raw, int status, bool closes)
{
	struct dbapi_response r;
	int fd = connect_to(port);

	send_str(fd, raw);
	assert_int_equal(dbapi_read_response(fd, &r), 0);
	if (r.status != status)
		fail_msg("%.40s...: status %d, expected %d", raw, r.status, status);
	assert_true(r.content_length > 0);
	assert_int_equal(r.close, closes);
	if (closes)
		assert_true(recv_eof(fd));
	dbapi_response_free(&r);
	close(fd);
}

static void test_e2e_dbapi_bad_requests(void **state)
{
	struct server s;
	char *big;

	dbapi_start(&s, NULL);
	expect_status(s.port, "NONSENSE\r\n\r\n", 400, true);
	expect_status(s.port, "GET json HTTP/1.1\r\n\r\n", 400, true);
	expect_status(s.port, "GET /db%zz HTTP/1.1\r\n\r\n", 400, true);
	expect_status(s.port, "GET /db HTTP/9\r\n\r\n", 400, true);
	expect_status(s.port, "GET /db HTTP/1.1\r\nno colon here\r\n\r\n", 400, true);
	expect_status(s.port, "GET /nowhere HTTP/1.1\r\n\r\n", 404, false);
	expect_status(s.port, "POST /db HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 405, false);
	expect_status(s.port, "DELETE /json HTTP/1.1\r\n\r\n", 405, false);
	/* A head over 8 KiB. */
	big = malloc(10000);
	assert_non_null(big);
	snprintf(big, 10000, "GET /json HTTP/1.1\r\nX-Big: %09000d\r\n\r\n", 0);
	expect_status(s.port, big, 431, true);
	free(big);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
}

static void test_e2e_dbapi_pipelining(void **state)
{
	struct dbapi_response r;
	struct server s;
	int fd;

	dbapi_start(&s, NULL);
	fd = connect_to(s.port);
	send_str(fd, "GET /json HTTP/1.1\r\n\r\nGET /db HTTP/1.1\r\n\r\n"
		     "GET /queries?n=3 HTTP/1.1\r\n\r\nGET /json HTTP/1.1\r\nConnection: close\r\n\r\n");
	assert_int_equal(dbapi_read_response(fd, &r), 0);
	assert_string_equal(r.body, "{\"message\":\"Hello, World!\"}");
	dbapi_response_free(&r);
	assert_int_equal(dbapi_read_response(fd, &r), 0);
	assert_int_equal(dbapi_check_rows(world_db(), r.body), 1);
	dbapi_response_free(&r);
	assert_int_equal(dbapi_read_response(fd, &r), 0);
	assert_int_equal(dbapi_check_rows(world_db(), r.body), 3);
	dbapi_response_free(&r);
	assert_int_equal(dbapi_read_response(fd, &r), 0);
	assert_true(r.close);
	dbapi_response_free(&r);
	assert_true(recv_eof(fd));
	close(fd);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* SIGTERM while a query runs: its answer still comes (Connection: close) and dbapi exits 0;
 * an idle keep-alive connection is closed. */
static void test_e2e_dbapi_sigterm_drains(void **state)
{
	struct dbapi_response r;
	struct server s;
	int busy, idle, status;

	dbapi_start(&s, (const char *const[]){ "--hubs", "2", NULL });
	idle = connect_to(s.port);
	dbapi_get(idle, "/json", &r);
	dbapi_response_free(&r);
	busy = connect_to(s.port);
	send_str(busy, "GET /slow?ms=700 HTTP/1.1\r\n\r\n");
	srv_sleep_ms(200);
	assert_int_equal(kill(s.pid, SIGTERM), 0);
	assert_int_equal(dbapi_read_response(busy, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"slept_ms\":700}");
	assert_true(r.close);
	dbapi_response_free(&r);
	assert_true(recv_eof(busy));
	assert_true(recv_eof(idle));
	status = wait_exit(s.pid, IO_TIMEOUT_MS);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(s.out_fd);
	close(busy);
	close(idle);
}

static void test_e2e_dbapi_database_restart(void **state)
{
	struct server s;

	dbapi_start(&s, (const char *const[]){ "--hubs", "2", "--pool", "4", NULL });
	dbapi_check_restart(&mdb, s.port, s.pid);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
	/* The test's own connection died with the server. */
	if (db)
		mysql_close(db);
	db = NULL;
}

/* In mode none a query waiting on the stopped server stalls its whole hub: every request
 * there waits for --db-timeout, not just the one on the database. A /slow query longer than
 * --db-timeout still answers: its reads wait that much longer. */
static void test_e2e_dbapi_database_hangs(void **state)
{
	struct dbapi_response r;
	struct server s;
	int fd;

	dbapi_start(&s, (const char *const[]){ "--hubs", "2", "--pool", "4", "--db-timeout", "1",
					       NULL });
	fd = connect_to(s.port);
	dbapi_get(fd, "/slow?ms=1500", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"slept_ms\":1500}");
	dbapi_response_free(&r);
	close(fd);
	dbapi_check_hang(&mdb, s.port, s.pid, 1);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e2e_dbapi_command_line),
		cmocka_unit_test(test_e2e_dbapi_init_and_endpoints),
		cmocka_unit_test(test_e2e_dbapi_bad_requests),
		cmocka_unit_test(test_e2e_dbapi_pipelining),
		cmocka_unit_test(test_e2e_dbapi_sigterm_drains),
		cmocka_unit_test(test_e2e_dbapi_database_restart),
		cmocka_unit_test(test_e2e_dbapi_database_hangs),
	};

	if (!mdb_available()) {
		printf("no MariaDB server here (%s; Debian package mariadb-server)\n", MDB_MARIADBD);
		return 77;
	}
	if (mysql_library_init(0, NULL, NULL)) {
		printf("libmariadb does not initialise\n");
		return 77;
	}
	/* dbapi runs without kernel assist here, whatever the machine has loaded. */
	if (setenv("GREENHUB_MODE", "none", 1)) {
		perror("setenv");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
