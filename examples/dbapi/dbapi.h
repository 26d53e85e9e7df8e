/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * dbapi: an HTTP/1.1 server over libmariadb, N hubs, one green thread per connection, whose
 * green threads call the client library bare (docs/dbapi.md).
 *
 *   main.c   the command line, the hubs (one pthread and one SO_REUSEPORT listener each),
 *            SIGTERM and the drain
 *   db.c     the database: mysql:// URLs, --init, a connection pool per hub with backoff
 *   http.c   a connection's green thread: requests, routes, responses (reading and parsing
 *            requests is examples/http_request.c, shared with examples/http)
 */
#ifndef GREENHUB_EXAMPLES_DBAPI_H
#define GREENHUB_EXAMPLES_DBAPI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mysql.h>

#include "greenhub.h"

#define MS(n) ((uint64_t)(n) * 1000000u)

#define WORLD_ROWS 10000
#define QUERIES_MAX 500
#define SLOW_MAX_MS 10000
/* --db-timeout: a hung server answers 503 within a few seconds; a healthy one answers a
 * query in well under a millisecond here. */
#define DB_TIMEOUT_DEFAULT_S 2
#define DB_TIMEOUT_MAX_S 3600

/* What to connect to: mysql://USER[:PASS]@HOST[:PORT]/DB, split up, and how long to wait. */
struct db_config {
	char user[64];
	char pass[128];
	char host[256];
	char name[64];
	unsigned port;
	unsigned timeout_s;   /* --db-timeout: connecting, and each read or write */
};

struct config {
	char addr[64];        /* IPv4 address to listen on */
	unsigned port;        /* 0: any free one, the same for every hub */
	unsigned hubs;
	unsigned pool;        /* database connections per hub */
	unsigned max_conns;   /* client connections per hub */
	unsigned yield_every; /* requests a connection answers between gh_yield()s; 0: never */
	bool init;
	struct db_config db;
};

extern struct config cfg;

/* Set by the main thread on SIGINT or SIGTERM, before it tells the hubs: answers from then on
 * carry Connection: close, even on a hub whose main green thread has not run yet (a bare
 * query holding it, in mode none). */
extern atomic_bool stopping;

struct conn;
struct db_pool;

/* One hub: its thread, listener, database pool and the connections it serves. Everything
 * here but `thread`, `hub` and `ready` is touched only by the hub's own green threads. */
struct hub_ctx {
	unsigned index;
	pthread_t thread;
	gh_hub *hub;
	gh_future *ready;     /* set by the hub: its mode (> 0), or NULL if it could not start */
	int listen_fd;
	struct db_pool *db;
	gh_pool *handlers;
	struct conn *conns;   /* live connections, to shut their reading side on a drain */
	int result;           /* 0, or 1 if the hub failed */
};

/* ---- db.c ---- */

/* Parse a mysql:// URL into *db. 0, or -1 with the problem written to err. */
int db_parse_url(const char *url, struct db_config *db, char *err, size_t errlen);

/* Create the database and the world table with WORLD_ROWS rows if missing (from a plain
 * thread, before the hubs run). 0, or -1 with a message on stderr. */
int db_init(const struct db_config *db);

/* A hub's pool of at most size connections (hub-local). NULL with a message on stderr. */
struct db_pool *db_pool_create(const struct db_config *db, unsigned size);
void db_pool_destroy(struct db_pool *p);

/*
 * A connection for the calling green thread, or NULL if there is none to be had now: the
 * server is down (connect failed, or failed recently and the backoff has not passed) or the
 * pool stayed full too long. *why says which.
 */
MYSQL *db_acquire(struct db_pool *p, const char **why);

/* Give it back; failed says the last call on it failed (maybe the connection broke). */
void db_release(struct db_pool *p, MYSQL *m, bool failed);

/* A random id 1..WORLD_ROWS from the hub's own generator. */
int db_random_id(struct db_pool *p);

/* The world row id's randomNumber into *number: 0, or -1 (mysql_error(m) says why). */
int db_world_row(MYSQL *m, int id, int *number);

/* SELECT SLEEP(ms / 1000) on m, a connection of p, whose reads may wait ms longer than
 * --db-timeout for it: 0, or -1 (mysql_error(m) says why). */
int db_sleep(struct db_pool *p, MYSQL *m, unsigned ms);

/* Is m's last error a lost or refused connection (503), rather than a bad query (500)? */
bool db_error_is_unavailable(MYSQL *m);

/* ---- http.c ---- */

/* A connection's green thread (gh_pool_spawn): arg is a struct conn from conn_new. */
void *conn_serve(void *arg);

/* A connection of hub hc on fd (registered in hc->conns), or NULL (fd is then closed). */
struct conn *conn_new(struct hub_ctx *hc, int fd);

/* Close and free a connection whose green thread could not be started. */
void conn_drop(struct conn *c);

/* Shut the reading side of every connection of hc: each answers what it has read, then its
 * next read sees end of file and it closes. */
void conns_stop_reading(struct hub_ctx *hc);

#endif /* GREENHUB_EXAMPLES_DBAPI_H */
