/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the dbapi tests share (tests/e2e/test_e2e_dbapi.c in mode none, and
 * tests/bpf/test_bpf_dbapi.c with trace mode loaded): an HTTP client on e2e.h's blocking
 * sockets, and the check of every endpoint's answer against the database, read directly with
 * libmariadb, the database's restart under load, and the database hanging (SIGSTOP) under
 * load. Include after e2e.h and
 * tests/mariadb_server.h.
 */
#ifndef GREENHUB_E2E_DBAPI_CLIENT_H
#define GREENHUB_E2E_DBAPI_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>

#define DBAPI_DB "hello_world"
#define DBAPI_RESTART_CLIENTS 4

struct dbapi_response {
	int status;
	bool close;
	char head[2048];
	char *body;        /* NUL-terminated, malloc'd */
	long content_length;
};

/* Start a private mariadbd into *m (tests/mariadb_server.h) and write the URL dbapi --db takes
 * for its database DBAPI_DB into url: a cmocka group setup's 0, or -1 if it did not start. */
static inline int dbapi_mdb_start(struct mdb_server *m, char *url, size_t len)
{
	if (mdb_start(m))
		return -1;
	snprintf(url, len, "mysql://root@127.0.0.1:%u/%s", m->port, DBAPI_DB);
	return 0;
}

static inline void dbapi_response_free(struct dbapi_response *r)
{
	free(r->body);
	r->body = NULL;
}

/* Read one response into r: 0, or -1 if the connection ended or timed out first (no cmocka
 * assertion, so client threads may call it). */
static inline int dbapi_read_response(int fd, struct dbapi_response *r)
{
	size_t len = 0;
	const char *cl;

	memset(r, 0, sizeof(*r));
	while (len < 4 || memcmp(r->head + len - 4, "\r\n\r\n", 4) != 0) {
		if (len == sizeof(r->head) - 1 || recv(fd, r->head + len, 1, 0) != 1)
			return -1;
		len++;
	}
	r->head[len] = '\0';
	if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
		return -1;
	cl = strstr(r->head, "\r\nContent-Length: ");
	if (!cl)
		return -1;
	r->content_length = strtol(cl + 18, NULL, 10);
	r->close = strstr(r->head, "\r\nConnection: close\r\n") != NULL;
	r->body = calloc(1, (size_t)r->content_length + 1);
	if (!r->body)
		return -1;
	for (size_t got = 0; got < (size_t)r->content_length;) {
		ssize_t n = recv(fd, r->body + got, (size_t)r->content_length - got, 0);

		if (n <= 0) {
			dbapi_response_free(r);
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* Send GET target on fd and read the answer: 0, or -1 (no assertion). */
static inline int dbapi_try_get(int fd, const char *target, struct dbapi_response *r)
{
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", target);

	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	return dbapi_read_response(fd, r);
}

static inline void dbapi_get(int fd, const char *target, struct dbapi_response *r)
{
	if (dbapi_try_get(fd, target, r))
		fail_msg("GET %s: no complete answer", target);
}

/* The randomNumber of world row id, read directly; -1 if there is none. */
static inline long dbapi_db_number(MYSQL *db, long id)
{
	char q[96];
	MYSQL_RES *res;
	MYSQL_ROW row;
	long n = -1;

	snprintf(q, sizeof(q), "SELECT randomNumber FROM world WHERE id = %ld", id);
	assert_int_equal(mysql_query(db, q), 0);
	res = mysql_store_result(db);
	assert_non_null(res);
	row = mysql_fetch_row(res);
	if (row && row[0])
		n = strtol(row[0], NULL, 10);
	mysql_free_result(res);
	return n;
}

/* Check every {"id":N,"randomNumber":M} in json against the database; how many there were. */
static inline int dbapi_check_rows(MYSQL *db, const char *json)
{
	const char *p = json;
	int rows = 0;
	long id, number;
	int used;

	while ((p = strstr(p, "{\"id\":")) != NULL) {
		assert_int_equal(sscanf(p, "{\"id\":%ld,\"randomNumber\":%ld}%n", &id, &number, &used),
				 2);
		assert_true(id >= 1 && id <= 10000);
		if (dbapi_db_number(db, id) != number)
			fail_msg("row %ld: the server said randomNumber %ld, the database has %ld", id,
				 number, dbapi_db_number(db, id));
		p += used;
		rows++;
	}
	return rows;
}

/* GET target, expect 200 with an array of want rows, each as the database has it. */
static inline void dbapi_check_queries(int fd, MYSQL *db, const char *target, int want)
{
	struct dbapi_response r;

	dbapi_get(fd, target, &r);
	assert_int_equal(r.status, 200);
	assert_true(r.body[0] == '[' && r.body[r.content_length - 1] == ']');
	if (dbapi_check_rows(db, r.body) != want)
		fail_msg("GET %s: %d rows, expected %d", target, dbapi_check_rows(db, r.body), want);
	dbapi_response_free(&r);
}

/* Every endpoint's answer on one keep-alive connection, checked against the database. */
static inline void dbapi_check_endpoints(int port, MYSQL *db)
{
	struct dbapi_response r;
	int fd = connect_to(port);

	dbapi_get(fd, "/json", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"message\":\"Hello, World!\"}");
	assert_non_null(strstr(r.head, "\r\nContent-Type: application/json\r\n"));
	assert_false(r.close);
	dbapi_response_free(&r);
	for (int i = 0; i < 20; i++) {
		dbapi_get(fd, "/db", &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body[0], '{');
		assert_int_equal(dbapi_check_rows(db, r.body), 1);
		dbapi_response_free(&r);
	}
	dbapi_check_queries(fd, db, "/queries?n=0", 1);
	dbapi_check_queries(fd, db, "/queries?n=1", 1);
	dbapi_check_queries(fd, db, "/queries?n=20", 20);
	dbapi_check_queries(fd, db, "/queries?n=1000", 500);
	dbapi_check_queries(fd, db, "/queries?n=abc", 1);
	dbapi_check_queries(fd, db, "/queries", 1);
	dbapi_get(fd, "/slow?ms=50", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"slept_ms\":50}");
	dbapi_response_free(&r);
	dbapi_get(fd, "/slow?ms=-3", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"slept_ms\":0}");
	dbapi_response_free(&r);
	close(fd);
}

/* ---------------------------------------------------------------------------------------- */
/* The database killed and restarted under load                                               */

struct dbapi_load {
	int port;
	atomic_bool stop;
	atomic_long ok, unavailable, other, broken;
};

/* A client: /db in a loop on a keep-alive connection, reconnecting when it closes. A request
 * without a complete answer within e2e.h's timeout counts as broken. */
static inline void *dbapi_client(void *arg)
{
	struct dbapi_load *l = arg;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)l->port) };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
	int fd = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (!atomic_load(&l->stop)) {
		struct dbapi_response r;

		if (fd < 0) {
			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
				atomic_fetch_add(&l->broken, 1);
				close(fd);
				fd = -1;
				srv_sleep_ms(10);
				continue;
			}
		}
		if (dbapi_try_get(fd, "/db", &r)) {
			atomic_fetch_add(&l->broken, 1);
			close(fd);
			fd = -1;
			continue;
		}
		if (r.status == 200)
			atomic_fetch_add(&l->ok, 1);
		else if (r.status == 503)
			atomic_fetch_add(&l->unavailable, 1);
		else
			atomic_fetch_add(&l->other, 1);
		if (r.close) {
			close(fd);
			fd = -1;
		}
		dbapi_response_free(&r);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Wait up to ms for counter to pass from; true if it did. */
static inline bool dbapi_grows_within(atomic_long *counter, long from, int ms)
{
	for (int waited = 0; waited < ms; waited += 10) {
		if (atomic_load(counter) > from)
			return true;
		srv_sleep_ms(10);
	}
	return false;
}

/* Start DBAPI_RESTART_CLIENTS client threads on l and wait until /db has succeeded 50 times. */
static inline void dbapi_load_start(struct dbapi_load *l, pthread_t *t)
{
	for (int i = 0; i < DBAPI_RESTART_CLIENTS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, dbapi_client, l), 0);
	assert_true(dbapi_grows_within(&l->ok, 50, 5000));
}

/* After the database came back (what says how): /db must succeed again within 10 s; then stop
 * the clients, and no request may have had another status or gone unanswered. */
static inline void dbapi_load_recovers(struct dbapi_load *l, pthread_t *t, const char *what)
{
	long ok_before = atomic_load(&l->ok);

	if (!dbapi_grows_within(&l->ok, ok_before + 20, 10000))
		fail_msg("/db did not succeed again within 10 s of %s", what);
	atomic_store(&l->stop, true);
	for (int i = 0; i < DBAPI_RESTART_CLIENTS; i++)
		pthread_join(t[i], NULL);
	print_message("    %s: %ld ok, %ld 503, %ld other, %ld broken\n", what,
		      atomic_load(&l->ok), atomic_load(&l->unavailable), atomic_load(&l->other),
		      atomic_load(&l->broken));
	assert_int_equal(atomic_load(&l->other), 0);
	assert_int_equal(atomic_load(&l->broken), 0);
}

/*
 * Under load from DBAPI_RESTART_CLIENTS client threads on dbapi (port, pid), kill the
 * database with SIGKILL: requests must get 503 (no hang, no other status, dbapi alive); start
 * it again on the same port and data folder: /db must succeed again within 10 s.
 */
static inline void dbapi_check_restart(struct mdb_server *m, int port, pid_t pid)
{
	struct dbapi_load l = { .port = port };
	pthread_t t[DBAPI_RESTART_CLIENTS];

	dbapi_load_start(&l, t);

	mdb_kill(m, SIGKILL);
	if (!dbapi_grows_within(&l.unavailable, 0, 5000))
		fail_msg("no 503 within 5 s of the database's death (ok %ld, other %ld, broken %ld)",
			 atomic_load(&l.ok), atomic_load(&l.other), atomic_load(&l.broken));
	srv_sleep_ms(500); /* let the backoff grow */
	assert_int_equal(kill(pid, 0), 0);

	assert_int_equal(mdb_run(m), 0);
	/* Back within the backoff's cap (1 s) plus reconnecting: 10 s is plenty. */
	dbapi_load_recovers(&l, t, "restart");
}

/*
 * Under load from DBAPI_RESTART_CLIENTS client threads on dbapi (port, pid, started with
 * --db-timeout timeout_s), stop the database with SIGSTOP: it accepts connections (the kernel
 * does) and answers nothing. Requests must get 503 within timeout_s plus a margin, every one
 * of them answered within e2e.h's 5 s (a request that is not counts as broken: a green thread
 * stuck on the server), no other status, dbapi alive; after SIGCONT, /db must succeed again
 * within 10 s.
 */
static inline void dbapi_check_hang(struct mdb_server *m, int port, pid_t pid, int timeout_s)
{
	struct dbapi_load l = { .port = port };
	pthread_t t[DBAPI_RESTART_CLIENTS];

	dbapi_load_start(&l, t);

	assert_int_equal(kill(m->pid, SIGSTOP), 0);
	if (!dbapi_grows_within(&l.unavailable, 0, timeout_s * 1000 + 2000)) {
		kill(m->pid, SIGCONT);
		fail_msg("no 503 within %d s of the database's stop (ok %ld, other %ld, broken %ld)",
			 timeout_s + 2, atomic_load(&l.ok), atomic_load(&l.other),
			 atomic_load(&l.broken));
	}
	/* Long enough for the pool to time out, reconnect into the stopped server and back off
	 * more than once: no request may stay unanswered meanwhile. */
	srv_sleep_ms(3000 + 2000 * (unsigned)timeout_s);
	assert_int_equal(kill(pid, 0), 0);

	assert_int_equal(kill(m->pid, SIGCONT), 0);
	dbapi_load_recovers(&l, t, "SIGCONT");
}

#endif /* GREENHUB_E2E_DBAPI_CLIENT_H */
