/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A private MariaDB server for tests (tests/bpf, tests/e2e): Debian's mariadb-server's
 * mariadb-install-db into a temporary data folder, then mariadbd on a free loopback port with
 * --skip-grant-tables (root, no password). It can be killed and started again on the same
 * port and data folder, to test clients through a server restart. Its output goes to a log
 * file in the folder (tests/server_proc.h).
 *
 * Plain libc and libmariadb only, so that any suite may include it.
 */
#ifndef GREENHUB_TESTS_MARIADB_SERVER_H
#define GREENHUB_TESTS_MARIADB_SERVER_H

#include <mysql.h>

#include "db_client.h"
#include "server_proc.h"

#define MDB_MARIADBD "/usr/sbin/mariadbd"
#define MDB_INSTALL_DB "/usr/bin/mariadb-install-db"

struct mdb_server {
	char dir[64];   /* the temporary folder: data/, sock, pid, log */
	unsigned port;
	pid_t pid;      /* the running mariadbd, or -1 */
};

/* Is a MariaDB server installed here? */
static inline bool mdb_available(void)
{
	return access(MDB_MARIADBD, X_OK) == 0 && access(MDB_INSTALL_DB, X_OK) == 0;
}

/* A connection as root to the server (to db if not NULL), or NULL. */
static inline MYSQL *mdb_connect(const struct mdb_server *m, const char *db)
{
	MYSQL *c = mysql_init(NULL);
	unsigned timeout = 5;

	if (!c)
		return NULL;
	mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(c, MYSQL_OPT_READ_TIMEOUT, &timeout);
	if (!mysql_real_connect(c, "127.0.0.1", "root", "", db, m->port, NULL, 0)) {
		mysql_close(c);
		return NULL;
	}
	return c;
}

/* The test query that sleeps 200 ms in the server. */
#define MDB_SLEEP_QUERY "SELECT SLEEP(0.2)"

/* Run MDB_SLEEP_QUERY on db (a MYSQL *): true if it returned its row, else false (the
 * client's error, if any, in error). */
static inline bool mdb_sleep_query(void *db, char *error, size_t len)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	bool ok;

	if (mysql_query(db, MDB_SLEEP_QUERY) || !(res = mysql_store_result(db))) {
		snprintf(error, len, "%s", mysql_error(db));
		return false;
	}
	row = mysql_fetch_row(res);
	ok = row && row[0] && !strcmp(row[0], "0");
	mysql_free_result(res);
	return ok;
}

static inline void *mdb_client_connect(void *m)
{
	return mdb_connect(m, NULL);
}

static inline void mdb_client_close(void *db)
{
	mysql_close(db);
}

/* libmariadb against server m, as a struct db_client. */
#define MDB_CLIENT(m)                                                                    \
	{ "libmariadb", MDB_SLEEP_QUERY, (m), mdb_client_connect, mdb_sleep_query,        \
	  mdb_client_close }

static inline bool mdb_accepts(void *arg)
{
	MYSQL *c = mdb_connect(arg, NULL);
	bool ok = c != NULL;

	if (ok)
		mysql_close(c);
	return ok;
}

/* Start mariadbd on m's port and data folder and wait (up to 60 s) until it accepts a
 * client. 0, or -1 after saying why. */
static inline int mdb_run(struct mdb_server *m)
{
	char dd[128], port[32], sock[128], pid[128];

	snprintf(dd, sizeof(dd), "--datadir=%s/data", m->dir);
	snprintf(port, sizeof(port), "--port=%u", m->port);
	snprintf(sock, sizeof(sock), "--socket=%s/sock", m->dir);
	snprintf(pid, sizeof(pid), "--pid-file=%s/pid", m->dir);
	m->pid = srv_spawn(m->dir, (const char *const[]){ MDB_MARIADBD, "--no-defaults", dd,
						     "--user=root", port, "--bind-address=127.0.0.1",
						     sock, pid, "--skip-grant-tables",
						     "--skip-log-bin", "--innodb-buffer-pool-size=16M",
						     NULL }, -1);
	return srv_wait_ready(&m->pid, m->dir, "mariadbd", m->port, mdb_accepts, m);
}

/* Stop mariadbd with sig (SIGKILL: as if it crashed) and reap it. */
static inline void mdb_kill(struct mdb_server *m, int sig)
{
	srv_kill(&m->pid, sig);
}

/* A new data folder, and the server running on a free port. 0, or -1 after saying why
 * (mdb_remove cleans up either way). */
static inline int mdb_start(struct mdb_server *m)
{
	char dd[128];

	m->pid = -1;
	if (srv_mkdir(m->dir, sizeof(m->dir), "/tmp/gh-mariadb-XXXXXX", -1))
		return -1;
	snprintf(dd, sizeof(dd), "--datadir=%s/data", m->dir);
	if (srv_run(m->dir, (const char *const[]){ MDB_INSTALL_DB, "--no-defaults", dd,
						   "--user=root",
						   "--auth-root-authentication-method=normal",
						   "--skip-test-db", NULL },
		    -1, 120000)) {
		srv_print_log(m->dir);
		return -1;
	}
	m->port = srv_free_port();
	return m->port ? mdb_run(m) : -1;
}

/* Stop the server (if it runs) and remove its folder. */
static inline void mdb_remove(struct mdb_server *m)
{
	mdb_kill(m, SIGTERM);
	srv_rmdir(m->dir);
}

#endif /* GREENHUB_TESTS_MARIADB_SERVER_H */
