/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A private PostgreSQL server for tests: Debian's postgresql's initdb into a temporary data
 * folder (trust authentication, user "gh"), then postgres on a free loopback port, both run as
 * nobody (PostgreSQL will not run as root), with fsync off. Its output goes to a log file in the
 * folder (tests/server_proc.h).
 *
 * Plain libc and libpq only, so that any suite may include it.
 */
#ifndef GREENHUB_TESTS_POSTGRES_SERVER_H
#define GREENHUB_TESTS_POSTGRES_SERVER_H

#include <glob.h>
#include <libpq-fe.h>

#include "db_client.h"
#include "server_proc.h"

#define PG_BIN_GLOB "/usr/lib/postgresql/*/bin"

struct pg_server {
	char dir[64];   /* the temporary folder: data/, the socket, log */
	char bin[96];   /* the server's binaries */
	unsigned port;
	pid_t pid;      /* the running postgres, or -1 */
};

/* Is a PostgreSQL server installed here? Its newest major version's binaries into bin. */
static inline bool pg_available(char *bin, size_t len)
{
	glob_t g;
	bool found = false;

	if (glob(PG_BIN_GLOB, 0, NULL, &g) != 0)
		return false;
	/* glob sorts; "15" after "13", and Debian has one at a time anyway */
	for (size_t i = g.gl_pathc; i-- > 0 && !found;) {
		char initdb[128], postgres[128];

		snprintf(initdb, sizeof(initdb), "%s/initdb", g.gl_pathv[i]);
		snprintf(postgres, sizeof(postgres), "%s/postgres", g.gl_pathv[i]);
		if (access(initdb, X_OK) == 0 && access(postgres, X_OK) == 0) {
			snprintf(bin, len, "%s", g.gl_pathv[i]);
			found = true;
		}
	}
	globfree(&g);
	return found;
}

/* A connection as "gh" to database postgres, or NULL (the error on stderr if loud). */
static inline PGconn *pg_connect(const struct pg_server *p, bool loud)
{
	char info[160];
	PGconn *c;

	snprintf(info, sizeof(info), "host=127.0.0.1 port=%u user=gh dbname=postgres "
		 "connect_timeout=5", p->port);
	c = PQconnectdb(info);
	if (c && PQstatus(c) == CONNECTION_OK)
		return c;
	if (loud)
		fprintf(stderr, "connecting to postgres: %s", c ? PQerrorMessage(c) : "no memory\n");
	PQfinish(c);
	return NULL;
}

/* The test query that sleeps 200 ms in the server (libpq waits for its answer in poll). */
#define PG_SLEEP_QUERY "SELECT 42 FROM pg_sleep(0.2)"

/* Run PG_SLEEP_QUERY on db (a PGconn *): true if it returned its row, else false (the client's
 * error, if any, in error). */
static inline bool pg_sleep_query(void *db, char *error, size_t len)
{
	PGresult *res = PQexec(db, PG_SLEEP_QUERY);
	bool ok = false;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		snprintf(error, len, "%s", PQerrorMessage(db));
	else
		ok = PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "42");
	PQclear(res);
	return ok;
}

static inline void *pg_client_connect(void *p)
{
	return pg_connect(p, true);
}

static inline void pg_client_close(void *db)
{
	PQfinish(db);
}

/* libpq against server p, as a struct db_client. */
#define PG_CLIENT(p)                                                                     \
	{ "libpq", PG_SLEEP_QUERY, (p), pg_client_connect, pg_sleep_query, pg_client_close }

static inline bool pg_accepts(void *arg)
{
	PGconn *c = pg_connect(arg, false);
	bool ok = c != NULL;

	PQfinish(c);
	return ok;
}

/* Start postgres on p's port and data folder and wait (up to 60 s) until it accepts a client.
 * 0, or -1 after saying why. */
static inline int pg_run(struct pg_server *p)
{
	char postgres[128], data[128], port[16];

	snprintf(postgres, sizeof(postgres), "%s/postgres", p->bin);
	snprintf(data, sizeof(data), "%s/data", p->dir);
	snprintf(port, sizeof(port), "%u", p->port);
	p->pid = srv_spawn(p->dir, (const char *const[]){ postgres, "-D", data, "-p", port,
							  "-k", p->dir, "-c",
							  "listen_addresses=127.0.0.1", "-c",
							  "fsync=off", "-c", "max_connections=20",
							  "-c", "shared_buffers=16MB", NULL },
			   SRV_NOBODY);
	return srv_wait_ready(&p->pid, p->dir, "postgres", p->port, pg_accepts, p);
}

/* A new data folder, and the server running on a free port. 0, or -1 after saying why
 * (pg_remove cleans up either way). */
static inline int pg_start(struct pg_server *p)
{
	char initdb[128], data[128];

	p->pid = -1;
	if (!pg_available(p->bin, sizeof(p->bin))) {
		fprintf(stderr, "no PostgreSQL server in %s\n", PG_BIN_GLOB);
		return -1;
	}
	if (srv_mkdir(p->dir, sizeof(p->dir), "/tmp/gh-postgres-XXXXXX", SRV_NOBODY))
		return -1;
	snprintf(initdb, sizeof(initdb), "%s/initdb", p->bin);
	snprintf(data, sizeof(data), "%s/data", p->dir);
	if (srv_run(p->dir, (const char *const[]){ initdb, "-D", data, "-U", "gh", "-A", "trust",
						   "-E", "UTF8", "--locale=C", "--no-sync", NULL },
		    SRV_NOBODY, 120000)) {
		srv_print_log(p->dir);
		return -1;
	}
	p->port = srv_free_port();
	return p->port ? pg_run(p) : -1;
}

/* Stop the server (if it runs: SIGINT, its fast shutdown) and remove its folder. */
static inline void pg_remove(struct pg_server *p)
{
	srv_kill(&p->pid, SIGINT);
	srv_rmdir(p->dir);
}

#endif /* GREENHUB_TESTS_POSTGRES_SERVER_H */
