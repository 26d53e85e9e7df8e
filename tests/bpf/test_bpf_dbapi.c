// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * examples/dbapi with trace mode loaded (scx_greenhub --detach --mode trace), against a private
 * mariadbd (tests/mariadb_server.h). Its green threads call libmariadb bare:
 *   - every endpoint's answer, checked against the database as tests/e2e/test_e2e_dbapi.c
 *     does in mode none;
 *   - with one hub, a /slow query blocking in the client library does not hold up the other
 *     connections of its hub (in mode none it would stall the hub until it returns);
 *   - the database killed and restarted under load: 503s, no hang, /db answering again;
 *   - the database stopped (SIGSTOP) under load: 503s within --db-timeout while the carriers
 *     of the green threads waiting on it are blocked in the client library, every request
 *     answered, /db answering again after SIGCONT.
 */
#include "bpf_test.h"
#include "../e2e/e2e.h"
#include "../mariadb_server.h"
#include "../e2e/dbapi_client.h"

static struct mdb_server mdb = { .pid = -1 };
static char db_url[128];

static int setup(void **state)
{
	return dbapi_mdb_start(&mdb, db_url, sizeof(db_url));
}

static int teardown(void **state)
{
	mdb_remove(&mdb);
	return 0;
}

/* Start dbapi in trace mode with hubs hubs and --db-timeout db_timeout (--init) and check it
 * says so. */
static void start_trace(struct server *s, const char *hubs, const char *db_timeout)
{
	server_start(s, "dbapi",
		     (const char *const[]){ "--listen", "127.0.0.1:0", "--db", db_url, "--init",
					    "--hubs", hubs, "--pool", "8", "--db-timeout",
					    db_timeout, NULL });
	if (!strstr(s->line, "(mode trace)"))
		fail_msg("dbapi does not run in trace mode: %s", s->line);
}

static void test_bpf_dbapi_endpoints(void **state)
{
	struct server s;
	MYSQL *db;

	bt_loader_up();
	start_trace(&s, "2", "2");
	db = mdb_connect(&mdb, DBAPI_DB);
	assert_non_null(db);
	dbapi_check_endpoints(s.port, db);
	mysql_close(db);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
	bt_loader_down();
}

static void test_bpf_dbapi_slow_query_does_not_stall_hub(void **state)
{
	struct dbapi_response r;
	struct server s;
	uint64_t start, worst = 0;
	int slow, fast;

	bt_loader_up();
	start_trace(&s, "1", "2");
	slow = connect_to(s.port);
	fast = connect_to(s.port);
	send_str(slow, "GET /slow?ms=1000 HTTP/1.1\r\n\r\n");
	bt_sleep_ms(100);
	start = bt_now();
	for (int i = 0; i < 20; i++) {
		uint64_t t0 = bt_now();

		dbapi_get(fast, i % 2 ? "/json" : "/db", &r);
		assert_int_equal(r.status, 200);
		dbapi_response_free(&r);
		if (bt_now() - t0 > worst)
			worst = bt_now() - t0;
	}
	print_message("    20 requests beside SELECT SLEEP(1) on the same hub: %.1f ms, worst %.1f "
		      "ms\n", (double)(bt_now() - start) / 1e6, (double)worst / 1e6);
	/* The slow answer is not there yet: the others were served while its query blocked. */
	assert_false(readable_within(slow, 0));
	assert_true(worst < 500 * 1000000ull);
	assert_int_equal(dbapi_read_response(slow, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"slept_ms\":1000}");
	dbapi_response_free(&r);
	close(slow);
	close(fast);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
	bt_loader_down();
}

static void test_bpf_dbapi_database_restart(void **state)
{
	struct server s;

	bt_loader_up();
	start_trace(&s, "2", "2");
	dbapi_check_restart(&mdb, s.port, s.pid);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
	bt_loader_down();
}

static void test_bpf_dbapi_database_hangs(void **state)
{
	struct server s;

	bt_loader_up();
	start_trace(&s, "2", "1");
	dbapi_check_hang(&mdb, s.port, s.pid, 1);
	assert_int_equal(server_stop(&s, SIGTERM), 0);
	bt_loader_down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_dbapi_endpoints),
		cmocka_unit_test(test_bpf_dbapi_slow_query_does_not_stall_hub),
		cmocka_unit_test(test_bpf_dbapi_database_restart),
		cmocka_unit_test(test_bpf_dbapi_database_hangs),
	};

	bt_require();
	if (!mdb_available())
		bt_skip("no MariaDB server here (%s; Debian package mariadb-server)", MDB_MARIADBD);
	if (access(EXAMPLES_DIR "/dbapi", X_OK) < 0)
		bt_skip("%s/dbapi is not built", EXAMPLES_DIR);
	if (mysql_library_init(0, NULL, NULL))
		bt_skip("libmariadb does not initialise");
	if (setenv("GREENHUB_MODE", "trace", 1)) {
		perror("setenv");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
