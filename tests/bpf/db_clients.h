/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Real C client libraries that block, against a private server of their own (the servers:
 * tests/mariadb_server.h, tests/postgres_server.h), driven the same way in trace mode: each
 * client's query sleeps 200 ms in the server, through the unmodified library, from green threads.
 *   - one query hands off, a ticker green thread keeps ticking, and the query returns its row;
 *   - four such queries from four green threads of one hub overlap instead of running one
 *     after another (each blocked client is handed off in turn).
 * test_bpf_mariadb (libmariadb) and test_bpf_postgres (libpq) each give a struct db_client
 * (tests/db_client.h).
 */
#ifndef GREENHUB_TESTS_DB_CLIENTS_H
#define GREENHUB_TESTS_DB_CLIENTS_H

#include "bpf_test.h"
#include "../db_client.h"

#define DB_PARALLEL 4

struct db_query {
	const struct db_client *client;
	void *db;
	bool ok;
	char error[160];
};

/* Queries in flight now, and the most at once (green code only: no atomics needed). */
static int db_in_flight, db_most_in_flight;

static void *db_run_query(void *arg)
{
	struct db_query *q = arg;

	if (++db_in_flight > db_most_in_flight)
		db_most_in_flight = db_in_flight;
	q->ok = q->client->run(q->db, q->error, sizeof(q->error));
	db_in_flight--;
	return NULL;
}

struct db_run {
	struct bt_maps maps;
	struct bt_ticker ticker;
	struct db_query q[DB_PARALLEL];
	long ticks_during;
	uint64_t elapsed_ns;
	int parallel;
};

static void *db_main(void *arg)
{
	struct db_run *r = arg;
	gh_thread *ticker, *t[DB_PARALLEL];
	uint64_t start;
	long t0;

	r->ticker.period_ns = 1000000;
	ticker = gh_spawn(bt_tick, &r->ticker);
	for (int i = 0; i < r->parallel; i++) {
		r->q[i].db = r->q[i].client->connect(r->q[i].client->server);
		if (!check_non_null(r->q[i].db))
			goto out;
	}
	if (!check_true(bt_green_wait_spares(&r->maps, 1)))
		goto out;
	t0 = atomic_load(&r->ticker.ticks);
	start = gh_now();
	if (r->parallel == 1) {
		db_run_query(&r->q[0]);
	} else {
		for (int i = 0; i < r->parallel; i++)
			t[i] = gh_spawn(db_run_query, &r->q[i]);
		for (int i = 0; i < r->parallel; i++)
			gh_join(t[i], NULL);
	}
	r->elapsed_ns = gh_now() - start;
	r->ticks_during = atomic_load(&r->ticker.ticks) - t0;
out:
	for (int i = 0; i < r->parallel && r->q[i].db; i++)
		r->q[i].client->close(r->q[i].db);
	atomic_store(&r->ticker.stop, true);
	gh_join(ticker, NULL);
	return NULL;
}

/* parallel queries of client's at once, from one hub in trace mode. */
static inline void db_run_case(const struct db_client *client, int parallel)
{
	struct db_run *r = calloc(1, sizeof(*r));
	struct gh_hub_stats st;

	assert_non_null(r);
	r->parallel = parallel;
	for (int i = 0; i < parallel; i++)
		r->q[i].client = client;
	db_in_flight = db_most_in_flight = 0;
	bt_loader_up();
	assert_int_equal(bt_maps_open(&r->maps), 0);
	st = bt_run_trace(db_main, r);
	print_message("    %d x %s: %.1f ms, %ld ticks meanwhile; handoffs %llu, takeovers %llu, "
		      "holds %llu, idle returns %llu\n",
		      parallel, client->query, (double)r->elapsed_ns / 1e6, r->ticks_during,
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
		print_message("    at most %d queries in flight at once\n", db_most_in_flight);
		assert_int_equal(db_most_in_flight, parallel);
	}
	bt_maps_close(&r->maps);
	bt_loader_down();
	free(r);
}

#endif /* GREENHUB_TESTS_DB_CLIENTS_H */
