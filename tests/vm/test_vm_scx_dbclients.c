/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Real C client libraries that block, in sched_ext mode: libmariadb and libpq, unmodified, from
 * green threads of one hub, against private servers the test starts on 127.0.0.1
 * (tests/mariadb_server.h, tests/postgres_server.h; the boot carries both servers). For each:
 * four green threads each make a query that sleeps 200 ms in the server, bare, beside a ticker
 * green thread. The queries must overlap (all four in the server at once, which a hub whose
 * carrier sleeps in the first would not allow), each must return its row, the ticker must tick
 * meanwhile, and no two carriers may run the hub's green code at once: every stretch of green
 * code between switch points holds an exclusivity marker (not the queries themselves, which
 * sleep on their carriers while spares run the hub).
 */
#include "../mariadb_server.h"
#include "../postgres_server.h"
#include "scx_test.h"

#define QUERIES 4

static struct mdb_server mdb = { .pid = -1 };
static struct pg_server pg = { .pid = -1 };
static struct scx_marker marker;

static const struct db_client clients[] = { MDB_CLIENT(&mdb), PG_CLIENT(&pg) };

struct query {
	const struct db_client *c;
	void *db;
	uint64_t id;
	bool ok;
	char error[160];
};

static struct {
	struct query q[QUERIES];
	int in_flight, most_in_flight; /* green code only */
	atomic_bool stop;
	unsigned long ticks;
	uint64_t query_ns; /* from the first query's start to the last one's end */
} run;

static void *query_main(void *arg)
{
	struct query *q = arg;

	scx_enter(&marker, q->id);
	run.in_flight++;
	if (run.in_flight > run.most_in_flight)
		run.most_in_flight = run.in_flight;
	scx_leave(&marker, q->id);
	q->ok = q->c->run(q->db, q->error, sizeof(q->error)); /* bare: it sleeps in the kernel */
	scx_enter(&marker, q->id);
	run.in_flight--;
	scx_leave(&marker, q->id);
	return NULL;
}

static void *ticker(void *arg)
{
	while (!atomic_load(&run.stop)) {
		scx_spin(&marker, 100, scx_now() + 100000); /* 100 us of green code */
		run.ticks++;
		gh_sleep(1000000);
	}
	return NULL;
}

static void *main_green(void *arg)
{
	const struct db_client *c = arg;
	gh_thread *tick, *t[QUERIES];
	unsigned long t0;

	for (int i = 0; i < QUERIES; i++) {
		run.q[i] = (struct query){ .c = c, .db = c->connect(c->server), .id = 1 + (uint64_t)i };
		VM_CHECK(run.q[i].db != NULL, "%s: connection %d failed", c->library, i);
	}
	tick = gh_spawn(ticker, NULL);
	VM_CHECK(tick != NULL, "gh_spawn: %s", strerror(errno));
	t0 = run.ticks;
	run.query_ns = scx_now();
	for (int i = 0; i < QUERIES; i++) {
		t[i] = gh_spawn(query_main, &run.q[i]);
		VM_CHECK(t[i] != NULL, "gh_spawn: %s", strerror(errno));
	}
	for (int i = 0; i < QUERIES; i++)
		gh_join(t[i], NULL);
	run.query_ns = scx_now() - run.query_ns;
	run.ticks -= t0;
	atomic_store(&run.stop, true);
	gh_join(tick, NULL);
	for (int i = 0; i < QUERIES; i++)
		c->close(run.q[i].db);
	return NULL;
}

static void check_client(const struct db_client *c)
{
	struct gh_hub_stats st;
	gh_hub *hub = gh_hub_create(NULL);
	int err;

	VM_CHECK(hub != NULL, "gh_hub_create: %s", strerror(errno));
	memset(&run, 0, sizeof(run));
	err = gh_hub_run(hub, main_green, (void *)c, NULL);
	VM_CHECK(err == 0, "%s: gh_hub_run: %s (%s)", c->library, gh_strerror(err),
		 gh_hub_mode_reason(hub));
	VM_CHECK(gh_hub_mode(hub) == GH_MODE_SCHED_EXT, "%s: the hub ran in mode %s: %s", c->library,
		 gh_mode_name(gh_hub_mode(hub)), gh_hub_mode_reason(hub));
	scx_hub_stats(hub, &st);
	printf("%s: %d x %s in %.1f ms, at most %d in the server at once, %lu ticks meanwhile; "
	       "handoffs %llu, holds %llu\n", c->library, QUERIES, c->query,
	       (double)run.query_ns / 1e6, run.most_in_flight, run.ticks,
	       (unsigned long long)st.handoffs, (unsigned long long)st.holds);
	for (int i = 0; i < QUERIES; i++)
		VM_CHECK(run.q[i].ok, "%s: query %d: %s", c->library, i,
			 run.q[i].error[0] ? run.q[i].error : "wrong row");
	VM_CHECK(run.most_in_flight == QUERIES, "%s: at most %d of %d queries in flight at once",
		 c->library, run.most_in_flight, QUERIES);
	VM_CHECK(st.handoffs >= QUERIES, "%s: %llu handoffs for %d blocking queries", c->library,
		 (unsigned long long)st.handoffs, QUERIES);
	/* Only handoffs let it tick; how often depends on the guest's speed, not judged. */
	VM_CHECK(run.ticks >= 2, "%s: the ticker ran %lu times while the queries blocked",
		 c->library, run.ticks);
	VM_CHECK(atomic_load(&marker.violations) == 0, "%s: %u exclusivity violations", c->library,
		 atomic_load(&marker.violations));
	gh_hub_destroy(hub);
}

int main(void)
{
	char bin[96];

	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	vm_test_require(mdb_available(), "no MariaDB server in the boot (%s)", MDB_MARIADBD);
	vm_test_require(pg_available(bin, sizeof(bin)), "no PostgreSQL server in the boot (%s)",
			PG_BIN_GLOB);
	setvbuf(stdout, NULL, _IOLBF, 0);
	VM_CHECK(vm_scx_wait_state("disabled", 0) == 0, "a scheduler is already loaded");
	VM_CHECK(mysql_library_init(0, NULL, NULL) == 0, "libmariadb does not initialise");
	atexit(mysql_library_end);
	if (mdb_start(&mdb) || pg_start(&pg)) {
		mdb_remove(&mdb);
		pg_remove(&pg);
		vm_test_fail("a database server did not start");
	}
	scx_load();
	for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++)
		check_client(&clients[i]);
	scx_unload();
	mdb_remove(&mdb);
	pg_remove(&pg);
	printf("PASS\n");
	return VM_EXIT_PASS;
}
