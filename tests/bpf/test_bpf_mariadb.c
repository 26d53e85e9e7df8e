// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A real C client library that blocks: libmariadb against a MariaDB server this test starts on
 * 127.0.0.1 (Debian's mariadb-server: mariadb-install-db into a temporary data folder, then
 * mariadbd as root with --skip-grant-tables). Unmodified client calls from green threads, in
 * trace mode (the server: tests/mariadb_server.h):
 *   - `SELECT SLEEP(0.2)` hands off, a ticker green thread keeps ticking, and the query
 *     returns its row;
 *   - four such queries from four green threads of one hub overlap instead of running one
 *     after another (each blocked client is handed off in turn).
 */
#include "bpf_test.h"
#include "../mariadb_server.h"

#define QUERY_MS 200
#define PARALLEL 4

static struct mdb_server server = { .pid = -1 };

static MYSQL *connect_db(void)
{
	return mdb_connect(&server, NULL);
}

static int start_server(void **state)
{
	return mdb_start(&server);
}

static int stop_server(void **state)
{
	mdb_remove(&server);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */

struct query {
	MYSQL *db;
	bool ok;
	char error[128];
};

/* Queries in flight now, and the most at once (green code only: no atomics needed). */
static int in_flight, most_in_flight;

/* The query, through the unmodified client library. */
static void *run_query(void *arg)
{
	struct query *q = arg;
	MYSQL_RES *res;
	MYSQL_ROW row;
	int err;

	if (++in_flight > most_in_flight)
		most_in_flight = in_flight;
	err = mysql_query(q->db, "SELECT SLEEP(0.2)");
	in_flight--;
	if (err) {
		snprintf(q->error, sizeof(q->error), "%s", mysql_error(q->db));
		return NULL;
	}
	res = mysql_store_result(q->db);
	if (!res) {
		snprintf(q->error, sizeof(q->error), "%s", mysql_error(q->db));
		return NULL;
	}
	row = mysql_fetch_row(res);
	q->ok = row && row[0] && !strcmp(row[0], "0");
	mysql_free_result(res);
	return NULL;
}

struct run {
	struct bt_maps maps;
	struct bt_ticker ticker;
	struct query q[PARALLEL];
	long ticks_during;
	uint64_t elapsed_ns;
	int parallel;
};

static void *db_main(void *arg)
{
	struct run *r = arg;
	gh_thread *ticker, *t[PARALLEL];
	uint64_t start;
	long t0;

	r->ticker.period_ns = 1000000;
	ticker = gh_spawn(bt_tick, &r->ticker);
	for (int i = 0; i < r->parallel; i++) {
		r->q[i].db = connect_db(); /* may block too: that is fine */
		if (!check_non_null(r->q[i].db))
			goto out;
	}
	if (!check_true(bt_green_wait_spares(&r->maps, 1)))
		goto out;
	t0 = atomic_load(&r->ticker.ticks);
	start = gh_now();
	if (r->parallel == 1) {
		run_query(&r->q[0]);
	} else {
		for (int i = 0; i < r->parallel; i++)
			t[i] = gh_spawn(run_query, &r->q[i]);
		for (int i = 0; i < r->parallel; i++)
			gh_join(t[i], NULL);
	}
	r->elapsed_ns = gh_now() - start;
	r->ticks_during = atomic_load(&r->ticker.ticks) - t0;
out:
	for (int i = 0; i < r->parallel && r->q[i].db; i++)
		mysql_close(r->q[i].db);
	atomic_store(&r->ticker.stop, true);
	gh_join(ticker, NULL);
	return NULL;
}

static void run_case(int parallel)
{
	struct run *r = calloc(1, sizeof(*r));
	struct gh_hub_stats st;

	if (server.pid < 0) {
		free(r);
		skip();
		return;
	}
	assert_non_null(r);
	r->parallel = parallel;
	in_flight = most_in_flight = 0;
	bt_loader_up();
	assert_int_equal(bt_maps_open(&r->maps), 0);
	st = bt_run_trace(db_main, r);
	print_message("    %d x SELECT SLEEP(0.2): %.1f ms, %ld ticks meanwhile; handoffs %llu, "
		      "takeovers %llu, holds %llu, idle returns %llu\n",
		      parallel, (double)r->elapsed_ns / 1e6, r->ticks_during,
		      (unsigned long long)st.handoffs, (unsigned long long)st.takeovers,
		      (unsigned long long)st.holds, (unsigned long long)st.idle_returns);
	for (int i = 0; i < parallel; i++)
		if (!r->q[i].ok)
			fail_msg("query %d: %s", i, r->q[i].error[0] ? r->q[i].error : "wrong row");
	assert_true(st.handoffs >= (unsigned)parallel);
	/* The ticker ran while the queries blocked: only handoffs let it (how often depends on
	 * the machine's speed, not judged). */
	assert_true(r->ticks_during >= 2);
	if (parallel > 1) {
		/* They overlapped: all were in the server at once, which a hub whose owner
		 * blocks in the first one would not allow (one after another they would also
		 * take parallel * 200 ms, a measure of the machine's speed that is not judged). */
		print_message("    at most %d queries in flight at once\n", most_in_flight);
		assert_int_equal(most_in_flight, parallel);
	}
	bt_maps_close(&r->maps);
	bt_loader_down();
	free(r);
}

static void test_bpf_mariadb_query_hands_off(void **state)
{
	run_case(1);
}

static void test_bpf_mariadb_queries_overlap(void **state)
{
	run_case(PARALLEL);
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
