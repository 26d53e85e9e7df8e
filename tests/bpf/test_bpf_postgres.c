// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A real C client library that blocks: libpq against a PostgreSQL server this test starts on
 * 127.0.0.1 (Debian's postgresql: initdb into a temporary data folder, then postgres, both as
 * nobody; tests/postgres_server.h). Unmodified client calls from green threads, in trace mode
 * (the cases: tests/bpf/db_clients.h):
 *   - `SELECT 42 FROM pg_sleep(0.2)` hands off (libpq waits for the answer in poll), a ticker
 *     green thread keeps ticking, and the query returns its row;
 *   - four such queries from four green threads of one hub overlap instead of running one
 *     after another.
 */
#include "db_clients.h"
#include "../postgres_server.h"

static struct pg_server server = { .pid = -1 };

static const struct db_client postgres = PG_CLIENT(&server);

static int start_server(void **state)
{
	return pg_start(&server);
}

static int stop_server(void **state)
{
	pg_remove(&server);
	return 0;
}

static void test_bpf_postgres_query_hands_off(void **state)
{
	db_run_case(&postgres, 1);
}

static void test_bpf_postgres_queries_overlap(void **state)
{
	db_run_case(&postgres, DB_PARALLEL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_postgres_query_hands_off),
		cmocka_unit_test(test_bpf_postgres_queries_overlap),
	};
	char bin[96];

	bt_require();
	if (!pg_available(bin, sizeof(bin)))
		bt_skip("no PostgreSQL server here (%s; Debian package postgresql)", PG_BIN_GLOB);
	return cmocka_run_group_tests(tests, start_server, stop_server);
}
