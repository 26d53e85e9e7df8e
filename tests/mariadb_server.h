/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A private MariaDB server for tests (tests/bpf, tests/e2e): Debian's mariadb-server's
 * mariadb-install-db into a temporary data folder, then mariadbd on a free loopback port with
 * --skip-grant-tables (root, no password). It can be killed and started again on the same
 * port and data folder, to test clients through a server restart. Its output goes to a log
 * file in the folder (a pipe nobody reads could fill up and stall it).
 *
 * Plain libc and libmariadb only, so that any suite may include it.
 */
#ifndef GREENHUB_TESTS_MARIADB_SERVER_H
#define GREENHUB_TESTS_MARIADB_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static inline void mdb_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A loopback port nobody listens on now. 0 if none could be found. */
static inline unsigned mdb_free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned port = 0;

	if (fd < 0)
		return 0;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* Start argv with stdout and stderr appended to m's log, every signal unblocked. */
static inline pid_t mdb_spawn(const struct mdb_server *m, const char *const argv[])
{
	char log[128];
	pid_t pid;

	snprintf(log, sizeof(log), "%s/log", m->dir);
	pid = fork();
	if (pid == 0) {
		sigset_t none;
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Wait up to ms for pid to exit; its exit status, 128 + signal, or -1 (it still runs). */
static inline int mdb_wait(pid_t pid, int ms)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), status;
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	if (pidfd < 0 || poll(&p, 1, ms) != 1) {
		if (pidfd >= 0)
			close(pidfd);
		return -1;
	}
	close(pidfd);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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

/* Print the end of m's log (why it would not start). */
static inline void mdb_print_log(const struct mdb_server *m)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "tail -n 20 %s/log >&2", m->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log in %s)\n", m->dir);
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
	m->pid = mdb_spawn(m, (const char *const[]){ MDB_MARIADBD, "--no-defaults", dd,
						     "--user=root", port, "--bind-address=127.0.0.1",
						     sock, pid, "--skip-grant-tables",
						     "--skip-log-bin", "--innodb-buffer-pool-size=16M",
						     NULL });
	if (m->pid < 0) {
		fprintf(stderr, "fork: %s\n", strerror(errno));
		return -1;
	}
	for (int i = 0; i < 600; i++) {
		MYSQL *c = mdb_connect(m, NULL);

		if (c) {
			mysql_close(c);
			return 0;
		}
		if (mdb_wait(m->pid, 100) >= 0) {
			fprintf(stderr, "mariadbd exited at start:\n");
			m->pid = -1;
			mdb_print_log(m);
			return -1;
		}
	}
	fprintf(stderr, "mariadbd did not accept connections on port %u\n", m->port);
	mdb_print_log(m);
	return -1;
}

/* Stop mariadbd with sig (SIGKILL: as if it crashed) and reap it. */
static inline void mdb_kill(struct mdb_server *m, int sig)
{
	if (m->pid <= 0)
		return;
	kill(m->pid, sig);
	if (mdb_wait(m->pid, 60000) < 0) {
		kill(m->pid, SIGKILL);
		waitpid(m->pid, NULL, 0);
	}
	m->pid = -1;
}

/* A new data folder, and the server running on a free port. 0, or -1 after saying why
 * (mdb_remove cleans up either way). */
static inline int mdb_start(struct mdb_server *m)
{
	char dd[128];
	pid_t pid;
	int rc;

	snprintf(m->dir, sizeof(m->dir), "/tmp/gh-mariadb-XXXXXX");
	m->pid = -1;
	if (!mkdtemp(m->dir)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		m->dir[0] = '\0';
		return -1;
	}
	snprintf(dd, sizeof(dd), "--datadir=%s/data", m->dir);
	pid = mdb_spawn(m, (const char *const[]){ MDB_INSTALL_DB, "--no-defaults", dd,
						  "--user=root",
						  "--auth-root-authentication-method=normal",
						  "--skip-test-db", NULL });
	rc = pid < 0 ? -1 : mdb_wait(pid, 120000);
	if (rc != 0) {
		fprintf(stderr, "mariadb-install-db exited %d:\n", rc);
		if (pid > 0 && rc < 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		mdb_print_log(m);
		return -1;
	}
	m->port = mdb_free_port();
	return m->port ? mdb_run(m) : -1;
}

/* Stop the server (if it runs) and remove its folder. */
static inline void mdb_remove(struct mdb_server *m)
{
	char cmd[128];

	mdb_kill(m, SIGTERM);
	if (!m->dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", m->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", m->dir);
	m->dir[0] = '\0';
}

#endif /* GREENHUB_TESTS_MARIADB_SERVER_H */
