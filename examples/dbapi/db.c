// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * dbapi's database side. Every libmariadb call here is made bare from a green thread: with a
 * kernel side loaded, a call that blocks hands the hub to a spare carrier, and without one it
 * stalls its hub until it returns (which is why the timeouts below matter in every mode).
 *
 * A hub's pool: a semaphore of `size` units bounds the connections in use; idle connected
 * handles wait in a stack for reuse. When the server is down, connecting fails and the pool
 * backs off (10 ms doubling to 1 s): until the backoff has passed, requests that need a new
 * connection get NULL (the handler answers 503) without trying, so a dead server costs one
 * connect attempt per hub per backoff interval, not one per request.
 *
 * A server that hangs (stopped, or a network that drops packets) resets nothing: only the
 * client library's timeouts end the wait. Every connection is made with --db-timeout for
 * connecting, reading and writing; a /slow?ms=N query's reads may wait N ms more.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>
#include <mysqld_error.h>

#include "dbapi.h"

#include <ma_pvio.h> /* after mysql.h, which it needs */

/* --init's statements may be slow (10,000 rows inserted and committed) and run only once,
 * before anything is served: its reads wait longer than the requests' --db-timeout. */
#define INIT_READ_TIMEOUT_S 60
#define BACKOFF_MIN MS(10)
#define BACKOFF_MAX MS(1000)
/* How long a request waits for a pool connection before it gets 503. */
#define POOL_WAIT MS(5000)

struct db_pool {
	const struct db_config *db;
	gh_sem *slots;      /* one unit per connection that may be in use */
	MYSQL **idle;       /* connected handles nobody uses */
	unsigned n_idle, size;
	uint64_t backoff;   /* 0 while connecting works */
	uint64_t retry_at;  /* no new connection is tried before this */
	uint32_t rng;
};

/* ---------------------------------------------------------------------------------------- */
/* mysql://USER[:PASS]@HOST[:PORT]/DB                                                          */

/* Copy [from, to) into dst (cap bytes with the NUL): 0, or -1 if it does not fit. */
static int copy_part(char *dst, size_t cap, const char *from, const char *to)
{
	size_t n = (size_t)(to - from);

	if (n >= cap)
		return -1;
	memcpy(dst, from, n);
	dst[n] = '\0';
	return 0;
}

int db_parse_url(const char *url, struct db_config *db, char *err, size_t errlen)
{
	const char *p, *at, *slash, *colon;
	char *end;
	unsigned long port;

	memset(db, 0, sizeof(*db));
	db->port = 3306;
	if (strncmp(url, "mysql://", 8) != 0) {
		snprintf(err, errlen, "--db must start with mysql://: %s", url);
		return -1;
	}
	p = url + 8;
	at = strrchr(p, '@');
	slash = at ? strchr(at, '/') : NULL;
	if (!at || !slash || at == p || slash == at + 1 || !slash[1]) {
		snprintf(err, errlen, "--db must be mysql://USER[:PASS]@HOST[:PORT]/DB: %s", url);
		return -1;
	}
	colon = memchr(p, ':', (size_t)(at - p));
	if (copy_part(db->user, sizeof(db->user), p, colon ? colon : at) ||
	    (colon && copy_part(db->pass, sizeof(db->pass), colon + 1, at)) ||
	    copy_part(db->name, sizeof(db->name), slash + 1, slash + strlen(slash))) {
		snprintf(err, errlen, "--db: user, password or database name too long");
		return -1;
	}
	colon = memchr(at + 1, ':', (size_t)(slash - at - 1));
	if (copy_part(db->host, sizeof(db->host), at + 1, colon ? colon : slash) || !db->host[0]) {
		snprintf(err, errlen, "--db: bad host in %s", url);
		return -1;
	}
	if (colon) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || end != slash || end == colon + 1 || port == 0 || port > 65535) {
			snprintf(err, errlen, "--db: bad port in %s", url);
			return -1;
		}
		db->port = (unsigned)port;
	}
	if (strspn(db->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
	    strlen(db->name)) {
		snprintf(err, errlen, "--db: database name may hold only letters, digits and _");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Connecting                                                                                 */

/* A connected handle (to the database itself unless with_db is false) whose reads time out
 * after read_s seconds, connecting and writes after db->timeout_s, or NULL with the reason in
 * error. */
static MYSQL *connect_db(const struct db_config *db, bool with_db, unsigned read_s, char *error,
			 size_t errlen)
{
	unsigned connect_s = db->timeout_s, write_s = db->timeout_s;
	MYSQL *m = mysql_init(NULL);

	if (!m) {
		snprintf(error, errlen, "mysql_init: out of memory");
		return NULL;
	}
	if (mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s) ||
	    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &read_s) ||
	    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &write_s)) {
		snprintf(error, errlen, "mysql_options: %s", mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	if (!mysql_real_connect(m, db->host, db->user, db->pass, with_db ? db->name : NULL,
				db->port, NULL, 0)) {
		snprintf(error, errlen, "mysql_real_connect: %s", mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

/* ---------------------------------------------------------------------------------------- */
/* --init                                                                                     */

static int run(MYSQL *m, const char *q)
{
	if (mysql_real_query(m, q, strlen(q))) {
		fprintf(stderr, "dbapi: --init: %.60s...: %s\n", q, mysql_error(m));
		return -1;
	}
	return 0;
}

/* The rows world holds, or -1. */
static long count_world(MYSQL *m)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	long n = -1;

	if (run(m, "SELECT COUNT(*) FROM world"))
		return -1;
	res = mysql_store_result(m);
	if (!res) {
		fprintf(stderr, "dbapi: --init: mysql_store_result: %s\n", mysql_error(m));
		return -1;
	}
	row = mysql_fetch_row(res);
	if (row && row[0])
		n = strtol(row[0], NULL, 10);
	mysql_free_result(res);
	return n;
}

/* Insert rows 1..WORLD_ROWS, 1000 per statement, in one transaction. */
static int fill_world(MYSQL *m)
{
	size_t cap = 32 * 1000 + 64;
	char *q = malloc(cap);
	int err = 0;

	if (!q) {
		fprintf(stderr, "dbapi: --init: malloc: %s\n", strerror(errno));
		return -1;
	}
	if (run(m, "START TRANSACTION")) {
		free(q);
		return -1;
	}
	for (int first = 1; first <= WORLD_ROWS && !err; first += 1000) {
		size_t len = (size_t)snprintf(q, cap, "INSERT INTO world (id, randomNumber) VALUES ");

		for (int id = first; id < first + 1000 && id <= WORLD_ROWS; id++)
			len += (size_t)snprintf(q + len, cap - len, "%s(%d,%d)",
						id == first ? "" : ",", id, 1 + rand() % WORLD_ROWS);
		err = run(m, q);
	}
	free(q);
	return err ? -1 : run(m, "COMMIT");
}

int db_init(const struct db_config *db)
{
	char q[160], error[256];
	MYSQL *m = connect_db(db, false, INIT_READ_TIMEOUT_S, error, sizeof(error));
	long rows;
	int err;

	if (!m) {
		fprintf(stderr, "dbapi: --init: %s\n", error);
		return -1;
	}
	snprintf(q, sizeof(q), "CREATE DATABASE IF NOT EXISTS `%s`", db->name);
	err = run(m, q);
	if (!err && mysql_select_db(m, db->name)) {
		fprintf(stderr, "dbapi: --init: mysql_select_db: %s\n", mysql_error(m));
		err = -1;
	}
	if (!err)
		err = run(m, "CREATE TABLE IF NOT EXISTS world (id INT NOT NULL PRIMARY KEY, "
			     "randomNumber INT NOT NULL) ENGINE=InnoDB");
	rows = err ? -1 : count_world(m);
	if (rows == 0)
		err = fill_world(m);
	else if (rows < 0)
		err = -1;
	if (!err)
		fprintf(stderr, "dbapi: --init: %s.world has %ld rows\n", db->name,
			rows ? rows : (long)WORLD_ROWS);
	mysql_close(m);
	return err;
}

/* ---------------------------------------------------------------------------------------- */
/* The pool                                                                                   */

struct db_pool *db_pool_create(const struct db_config *db, unsigned size)
{
	struct db_pool *p = calloc(1, sizeof(*p));

	if (!p || !(p->idle = calloc(size, sizeof(*p->idle)))) {
		fprintf(stderr, "dbapi: db_pool_create: %s\n", strerror(errno));
		free(p);
		return NULL;
	}
	p->slots = gh_sem_create(size, size);
	if (!p->slots) {
		fprintf(stderr, "dbapi: gh_sem_create: %s\n", strerror(errno));
		free(p->idle);
		free(p);
		return NULL;
	}
	p->db = db;
	p->size = size;
	p->rng = (uint32_t)gh_now() | 1;
	return p;
}

/* Close every idle connection: after one broke, the others most likely did too (a server
 * restart), and finding that out one failed request at a time would answer 503 needlessly. */
static void close_idle(struct db_pool *p)
{
	while (p->n_idle)
		mysql_close(p->idle[--p->n_idle]);
}

void db_pool_destroy(struct db_pool *p)
{
	int err;

	if (!p)
		return;
	close_idle(p);
	err = gh_sem_destroy(p->slots);
	if (err)
		fprintf(stderr, "dbapi: gh_sem_destroy: %s\n", gh_strerror(err));
	free(p->idle);
	free(p);
}

/* A new connection, unless the server failed recently; keeps the backoff. */
static MYSQL *connect_with_backoff(struct db_pool *p, const char **why)
{
	char error[256];
	uint64_t now = gh_now();
	MYSQL *m;

	if (now < p->retry_at) {
		*why = "database unavailable (reconnecting)";
		return NULL;
	}
	m = connect_db(p->db, true, p->db->timeout_s, error, sizeof(error));
	if (m) {
		if (p->backoff)
			fprintf(stderr, "dbapi: database reachable again\n");
		p->backoff = 0;
		return m;
	}
	if (!p->backoff)
		fprintf(stderr, "dbapi: %s; retrying with backoff\n", error);
	p->backoff = p->backoff ? p->backoff * 2 : BACKOFF_MIN;
	if (p->backoff > BACKOFF_MAX)
		p->backoff = BACKOFF_MAX;
	p->retry_at = gh_now() + p->backoff;
	*why = "database unavailable";
	return NULL;
}

MYSQL *db_acquire(struct db_pool *p, const char **why)
{
	int err = gh_sem_acquire(p->slots, gh_now() + POOL_WAIT);
	MYSQL *m;

	if (err) {
		*why = err == -ETIMEDOUT ? "database pool busy" : "shutting down";
		return NULL;
	}
	if (p->n_idle)
		return p->idle[--p->n_idle];
	m = connect_with_backoff(p, why);
	if (!m)
		gh_sem_release(p->slots);
	return m;
}

void db_release(struct db_pool *p, MYSQL *m, bool failed)
{
	int err;

	if (failed && db_error_is_unavailable(m)) {
		mysql_close(m);
		close_idle(p);
	} else {
		p->idle[p->n_idle++] = m;
	}
	err = gh_sem_release(p->slots);
	if (err)
		fprintf(stderr, "dbapi: gh_sem_release: %s\n", gh_strerror(err));
}

int db_random_id(struct db_pool *p)
{
	/* xorshift32: cheap, and each hub has its own, so no lock is needed. */
	p->rng ^= p->rng << 13;
	p->rng ^= p->rng >> 17;
	p->rng ^= p->rng << 5;
	return 1 + (int)(p->rng % WORLD_ROWS);
}

bool db_error_is_unavailable(MYSQL *m)
{
	unsigned e = mysql_errno(m);

	/* Client-side errors (2000..2999: lost, gone, refused, timed out) and the server
	 * saying it is going away. */
	return (e >= CR_MIN_ERROR && e <= CR_MAX_ERROR) || e == ER_SERVER_SHUTDOWN ||
	       e == ER_CONNECTION_KILLED || e == ER_QUERY_INTERRUPTED;
}

/* ---------------------------------------------------------------------------------------- */
/* Queries                                                                                    */

/* Run q and return its first row's first two columns as integers (b may be NULL). */
static int query_ints(MYSQL *m, const char *q, size_t len, long *a, long *b)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	int err = -1;

	if (mysql_real_query(m, q, len))
		return -1;
	res = mysql_store_result(m);
	if (!res)
		return -1;
	row = mysql_fetch_row(res);
	if (row && row[0] && (!b || (mysql_num_fields(res) >= 2 && row[1]))) {
		*a = strtol(row[0], NULL, 10);
		if (b)
			*b = strtol(row[1], NULL, 10);
		err = 0;
	}
	mysql_free_result(res);
	return err;
}

int db_world_row(MYSQL *m, int id, int *number)
{
	char q[96];
	int len = snprintf(q, sizeof(q), "SELECT id, randomNumber FROM world WHERE id = %d", id);
	long got_id, n;

	if (query_ints(m, q, (size_t)len, &got_id, &n) || got_id != id)
		return -1;
	*number = (int)n;
	return 0;
}

/*
 * The read timeout of connected handle m, in ms. MYSQL_OPT_READ_TIMEOUT is read only when
 * connecting (mysql_options on a connected handle changes nothing); what the client library
 * waits for each read is the timeout of the handle's I/O layer (MARIADB_PVIO, declared in
 * ma_pvio.h, which libmariadb-dev installs), in ms. test_e2e_dbapi's /slow longer than
 * --db-timeout would fail if that stopped being so.
 */
static void set_read_timeout_ms(MYSQL *m, unsigned ms)
{
	if (m->net.pvio)
		m->net.pvio->timeout[PVIO_READ_TIMEOUT] = (int)ms;
}

int db_sleep(struct db_pool *p, MYSQL *m, unsigned ms)
{
	char q[64];
	int len = snprintf(q, sizeof(q), "SELECT SLEEP(%u.%03u)", ms / 1000, ms % 1000);
	long r;
	int err;

	/* The server answers after ms: a hung one is noticed --db-timeout after that. */
	set_read_timeout_ms(m, p->db->timeout_s * 1000 + ms);
	err = query_ints(m, q, (size_t)len, &r, NULL);
	set_read_timeout_ms(m, p->db->timeout_s * 1000);
	return err;
}
