/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the tests' private database servers (tests/mariadb_server.h, tests/postgres_server.h)
 * share: a temporary folder that holds the server's data and its log, a free loopback port, and
 * the server's process, started with its output appended to the log (a pipe nobody reads could
 * fill up and stall it), every signal unblocked, and optionally another user's ids (PostgreSQL
 * will not run as root).
 *
 * Plain libc only, so that any suite may include it.
 */
#ifndef GREENHUB_TESTS_SERVER_PROC_H
#define GREENHUB_TESTS_SERVER_PROC_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

/* Run as nobody where the server refuses root. */
#define SRV_NOBODY 65534

static inline void srv_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A loopback port nobody listens on now. 0 if none could be found. */
static inline unsigned srv_free_port(void)
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

/* Start argv with stdout and stderr appended to dir/log, every signal unblocked, as uid (its
 * group too) unless uid is -1. */
static inline pid_t srv_spawn(const char *dir, const char *const argv[], int uid)
{
	char log[128];
	pid_t pid;

	snprintf(log, sizeof(log), "%s/log", dir);
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
		if (uid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 ||
				 setuid((uid_t)uid) < 0)) {
			fprintf(stderr, "dropping to uid %d: %s\n", uid, strerror(errno));
			_exit(126);
		}
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Wait up to ms for pid to exit; its exit status, 128 + signal, or -1 (it still runs). */
static inline int srv_wait(pid_t pid, int ms)
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

/* Print the end of dir/log (why a server would not start). */
static inline void srv_print_log(const char *dir)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "tail -n 20 %s/log >&2", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log in %s)\n", dir);
}

/* Wait (up to 60 s) until the server just started as *pid, called name, accepts a client
 * (ready(arg) says whether it does): 0, or -1 after saying why with the end of its log (*pid is
 * -1 if it exited). */
static inline int srv_wait_ready(pid_t *pid, const char *dir, const char *name, unsigned port,
				 bool (*ready)(void *), void *arg)
{
	if (*pid < 0) {
		fprintf(stderr, "fork: %s\n", strerror(errno));
		return -1;
	}
	for (int i = 0; i < 600; i++) {
		if (ready(arg))
			return 0;
		if (srv_wait(*pid, 100) >= 0) {
			fprintf(stderr, "%s exited at start:\n", name);
			*pid = -1;
			srv_print_log(dir);
			return -1;
		}
	}
	fprintf(stderr, "%s did not accept connections on port %u\n", name, port);
	srv_print_log(dir);
	return -1;
}

/* Run argv (as uid unless -1) to its end, up to ms: 0, or -1 after printing its status. */
static inline int srv_run(const char *dir, const char *const argv[], int uid, int ms)
{
	pid_t pid = srv_spawn(dir, argv, uid);
	int rc = pid < 0 ? -1 : srv_wait(pid, ms);

	if (rc == 0)
		return 0;
	fprintf(stderr, "%s exited %d\n", argv[0], rc);
	if (pid > 0 && rc < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

/* Stop *pid with sig (SIGKILL: as if it crashed), reap it, and set *pid to -1. */
static inline void srv_kill(pid_t *pid, int sig)
{
	if (*pid <= 0)
		return;
	kill(*pid, sig);
	if (srv_wait(*pid, 60000) < 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = -1;
}

/* A new folder from the template in dir (len bytes), owned by uid unless -1: 0, or -1 after
 * saying why (dir is then ""). */
static inline int srv_mkdir(char *dir, size_t len, const char *template, int uid)
{
	snprintf(dir, len, "%s", template);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		dir[0] = '\0';
		return -1;
	}
	if (uid >= 0 && chown(dir, (uid_t)uid, (gid_t)uid) < 0) {
		fprintf(stderr, "chown %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Remove the folder (if any) and everything in it. */
static inline void srv_rmdir(char *dir)
{
	char cmd[128];

	if (!dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	dir[0] = '\0';
}

#endif /* GREENHUB_TESTS_SERVER_PROC_H */
