// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A real C client library that blocks: libmariadb against a MariaDB server this test starts on
 * 127.0.0.1 (Debian's mariadb-server: mariadb-install-db into a temporary data folder, then
 * mariadbd as root with --skip-grant-tables). Unmodified client calls from green threads, in
 * trace mode:
 *   - `SELECT SLEEP(0.2)` hands off, a ticker green thread keeps ticking, and the query
 *     returns its row;
 *   - four such queries from four green threads of one hub overlap instead of running one
 *     after another (each blocked client is handed off in turn).
 */
#include <arpa/inet.h>
#include <mysql.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "bpf_test.h"

#define MARIADBD "/usr/sbin/mariadbd"
#define INSTALL_DB "/usr/bin/mariadb-install-db"
#define QUERY_MS 200
#define PARALLEL 4

static char datadir[] = "/tmp/gh-bpf-mariadb-XXXXXX";
static pid_t server = -1;
static int server_out = -1;
static unsigned port;

static unsigned free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		return 0;
	close(fd);
	return ntohs(sin.sin_port);
}

static MYSQL *connect_db(void)
{
	MYSQL *db = mysql_init(NULL);
	unsigned timeout = 5;

	if (!db)
		return NULL;
	mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	if (!mysql_real_connect(db, "127.0.0.1", "root", "", NULL, port, NULL, 0)) {
		mysql_close(db);
		return NULL;
	}
	return db;
}

static int start_server(void **state)
{
	char out[8192], dd[128], p[32], sock[160], pid[160];
	int rc;

	if (!mkdtemp(datadir))
		return -1;
	snprintf(dd, sizeof(dd), "--datadir=%s/data", datadir);
	rc = bt_run_as(-1, (const char *const[]){ INSTALL_DB, "--no-defaults", dd, "--user=root",
						  "--auth-root-authentication-method=normal",
						  "--skip-test-db", NULL },
		       out, sizeof(out), 120000);
	if (rc != 0) {
		fprintf(stderr, "mariadb-install-db exited %d:\n%s\n", rc, out);
		return -1;
	}
	port = free_port();
	snprintf(p, sizeof(p), "--port=%u", port);
	snprintf(sock, sizeof(sock), "--socket=%s/sock", datadir);
	snprintf(pid, sizeof(pid), "--pid-file=%s/pid", datadir);
	server = bt_spawn((const char *const[]){ MARIADBD, "--no-defaults", dd, "--user=root", p,
						 "--bind-address=127.0.0.1", sock, pid,
						 "--skip-grant-tables", "--skip-log-bin",
						 "--innodb-buffer-pool-size=16M", NULL },
			  -1, NULL, &server_out);
	if (server < 0)
		return -1;
	for (int i = 0; i < 300; i++) {
		MYSQL *db = connect_db();

		if (db) {
			mysql_close(db);
			return 0;
		}
		bt_sleep_ms(100);
	}
	fprintf(stderr, "mariadbd did not accept connections on port %u\n", port);
	return -1;
}

static int stop_server(void **state)
{
	char cmd[256];

	if (server > 0) {
		kill(server, SIGTERM);
		bt_wait(server);
		close(server_out);
	}
	if (strcmp(datadir, "/tmp/gh-bpf-mariadb-XXXXXX")) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", datadir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", datadir);
	}
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

	if (server < 0) {
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
	if (access(MARIADBD, X_OK) < 0 || access(INSTALL_DB, X_OK) < 0)
		bt_skip("no MariaDB server here (%s; Debian package mariadb-server)", MARIADBD);
	if (mysql_library_init(0, NULL, NULL))
		bt_skip("libmariadb does not initialise");
	return cmocka_run_group_tests(tests, start_server, stop_server);
}
