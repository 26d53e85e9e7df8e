// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A real C client library that blocks: libmariadb against a MariaDB server this test starts on
 * 127.0.0.1 (Debian's mariadb-server: mariadb-install-db into a temporary data folder, then
 * mariadbd as root with --skip-grant-tables; tests/mariadb_server.h). Unmodified client calls
 * from green threads, in trace mode (the cases: tests/bpf/db_clients.h):
 *   - `SELECT SLEEP(0.2)` hands off, a ticker green thread keeps ticking, and the query
 *     returns its row;
 *   - four such queries from four green threads of one hub overlap instead of running one
 *     after another (each blocked client is handed off in turn).
 */
#include "db_clients.h"
#include "../mariadb_server.h"

static struct mdb_server server = { .pid = -1 };

static const struct db_client mariadb = MDB_CLIENT(&server);

static int start_server(void **state)
{
	return mdb_start(&server);
}

static int stop_server(void **state)
{
	mdb_remove(&server);
	return 0;
}

static void test_bpf_mariadb_query_hands_off(void **state)
{
	db_run_case(&mariadb, 1);
}

static void test_bpf_mariadb_queries_overlap(void **state)
{
	db_run_case(&mariadb, DB_PARALLEL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_mariadb_query_hands_off),
		cmocka_unit_test(test_bpf_mariadb_queries_overlap),
	};

	bt_require();
	if (!mdb_available())
		bt_skip("no MariaDB server here (%s; Debian package mariadb-server)", MDB_MARIADBD);
	if (mysql_library_init(0, NULL, NULL))
		bt_skip("libmariadb does not initialise");
	return cmocka_run_group_tests(tests, start_server, stop_server);
}
