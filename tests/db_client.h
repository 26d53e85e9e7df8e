/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A real C client library as the tests drive it, against a private server of its own: connect,
 * run a query that sleeps 200 ms in the server, close. tests/mariadb_server.h (MDB_CLIENT) and
 * tests/postgres_server.h (PG_CLIENT) each give one; the trace-mode cases (tests/bpf/
 * db_clients.h) and the sched_ext ones (tests/vm/test_vm_scx_dbclients.c) run them alike.
 */
#ifndef GREENHUB_TESTS_DB_CLIENT_H
#define GREENHUB_TESTS_DB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct db_client {
	const char *library, *query; /* for reports */
	void *server;                /* the server's struct, passed to connect */
	/* A connection (it may block too: that is fine), or NULL. */
	void *(*connect)(void *server);
	/* The query: true if it returned the row it should, else false with the client's error
	 * (if any) in error. */
	bool (*run)(void *db, char *error, size_t len);
	void (*close)(void *db);
};

#endif /* GREENHUB_TESTS_DB_CLIENT_H */
