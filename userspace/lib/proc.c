// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Subprocesses: start a child with pipes to its standard streams and wait for its exit
 * without blocking the hub.
 *
 * The child is started with posix_spawnp (vfork-like: cheap even from a large parent) and its
 * exit is watched through a pidfd, which becomes readable when the child has exited; the
 * waiting green thread sleeps in gh_wait_fd like any reader, and only then reaps the child
 * with waitpid(WNOHANG). SIGCHLD handlers were rejected: they are process-wide, would need a
 * self-pipe and would race with the program's own handler. Signals go through the pidfd too,
 * so a pid recycled after the reap can never be hit.
 *
 * The pidfd is opened right after the spawn; the pid cannot be recycled in between, since only
 * this code reaps it (unless the program sets SIGCHLD to SIG_IGN, which reaps children
 * automatically and is not supported).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

struct gh_proc {
	pid_t pid;
	int pidfd;
	int fds[3];    /* the parent's ends of stdin, stdout, stderr pipes; -1 for none */
	bool reaped;
	int status;    /* wait status, once reaped */
};

static int pidfd_open_(pid_t pid)
{
	long fd = syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : (int)fd;
}

static int pidfd_send_signal_(int pidfd, int sig)
{
	return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

static void close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	p[0] = p[1] = -1;
}

/*
 * posix_spawnp with the signal mask of the application's thread that runs the hub and default
 * dispositions for greenhub's reserved signals: a child must not inherit what a carrier blocks
 * for the runtime's sake (the kick signal), nor, started from a spare, anything else.
 */
static int spawn(pid_t *pid, char *const argv[], char *const envp[],
		 const posix_spawn_file_actions_t *fa)
{
	struct gh__carrier *c = gh__carrier_self();
	posix_spawnattr_t attr;
	sigset_t reserved;
	int err;

	err = posix_spawnattr_init(&attr);
	if (err)
		return err;
	sigemptyset(&reserved);
	sigaddset(&reserved, GH__SIG_KICK);
	err = posix_spawnattr_setsigdefault(&attr, &reserved);
	if (!err && c)
		err = posix_spawnattr_setsigmask(&attr, &c->hub->app_mask);
	if (!err)
		err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF |
					       (c ? POSIX_SPAWN_SETSIGMASK : 0));
	if (!err)
		err = posix_spawnp(pid, argv[0], fa, &attr, argv, envp ? envp : environ);
	posix_spawnattr_destroy(&attr);
	return err;
}

gh_proc *gh_proc_create(char *const argv[], char *const envp[], unsigned flags)
{
	/* pipes[i]: [0] read end, [1] write end; the child gets one end, the parent the other. */
	int pipes[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	static const unsigned want[3] = { GH_PROC_STDIN, GH_PROC_STDOUT, GH_PROC_STDERR };
	posix_spawn_file_actions_t fa;
	struct gh_proc *p;
	int err, i;

	if (!argv || !argv[0] ||
	    (flags & ~(unsigned)(GH_PROC_STDIN | GH_PROC_STDOUT | GH_PROC_STDERR |
				 GH_PROC_MERGE_STDERR)) ||
	    ((flags & GH_PROC_STDERR) && (flags & GH_PROC_MERGE_STDERR))) {
		errno = EINVAL;
		return NULL;
	}
	p = gh__calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pidfd = -1;
	err = posix_spawn_file_actions_init(&fa);
	if (err)
		goto fail_free;
	for (i = 0; i < 3; i++) {
		int child_end;

		if (!(flags & want[i]))
			continue;
		/* Close-on-exec: the child sees only the end it is given with dup2. */
		if (pipe2(pipes[i], O_CLOEXEC) < 0) {
			err = errno;
			goto fail_pipes;
		}
		child_end = pipes[i][i == 0 ? 0 : 1];
		err = posix_spawn_file_actions_adddup2(&fa, child_end, i);
		if (err)
			goto fail_pipes;
	}
	if (flags & GH_PROC_MERGE_STDERR) {
		err = posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
		if (err)
			goto fail_pipes;
	}
	err = spawn(&p->pid, argv, envp, &fa);
	if (err)
		goto fail_pipes;
	p->pidfd = pidfd_open_(p->pid);
	if (p->pidfd < 0) {
		err = -p->pidfd;
		/* No way to wait for it greenly: do not leave it running or a zombie. */
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto fail_pipes;
	}
	for (i = 0; i < 3; i++) {
		int parent_end = i == 0 ? 1 : 0;

		p->fds[i] = -1;
		if (!(flags & want[i]))
			continue;
		p->fds[i] = pipes[i][parent_end];
		close(pipes[i][1 - parent_end]);
		/* Already close-on-exec; the parent's end must also be non-blocking. */
		err = -gh_fd_setup(p->fds[i]);
		if (err)
			gh__panic("gh_fd_setup(pipe %d): %s", p->fds[i], gh_strerror(err));
	}
	posix_spawn_file_actions_destroy(&fa);
	return p;

fail_pipes:
	for (i = 0; i < 3; i++)
		close_pair(pipes[i]);
	posix_spawn_file_actions_destroy(&fa);
fail_free:
	free(p);
	errno = err;
	return NULL;
}

int gh_proc_destroy(gh_proc *p)
{
	if (!p)
		return -EINVAL;
	if (!p->reaped)
		return -EBUSY;
	for (int i = 0; i < 3; i++)
		if (p->fds[i] >= 0)
			gh_close(p->fds[i]);
	gh_close(p->pidfd);
	free(p);
	return 0;
}

pid_t gh_proc_pid(const gh_proc *p)
{
	return p ? p->pid : -EINVAL;
}

static int stream_fd(const gh_proc *p, int i)
{
	if (!p)
		return -EINVAL;
	return p->fds[i] >= 0 ? p->fds[i] : -EBADF;
}

int gh_proc_stdin(const gh_proc *p)
{
	return stream_fd(p, 0);
}

int gh_proc_stdout(const gh_proc *p)
{
	return stream_fd(p, 1);
}

int gh_proc_stderr(const gh_proc *p)
{
	return stream_fd(p, 2);
}

int gh_proc_close_pipe(gh_proc *p, unsigned which)
{
	int i, err;

	if (!p)
		return -EINVAL;
	switch (which) {
	case GH_PROC_STDIN:
		i = 0;
		break;
	case GH_PROC_STDOUT:
		i = 1;
		break;
	case GH_PROC_STDERR:
		i = 2;
		break;
	default:
		return -EINVAL;
	}
	if (p->fds[i] < 0)
		return -EBADF;
	err = gh_close(p->fds[i]);
	p->fds[i] = -1;
	return err;
}

int gh_proc_wait(gh_proc *p, int *status, uint64_t deadline)
{
	struct gh_thread *self;
	int err = gh__may_wait(&self, p);

	if (err)
		return err;
	while (!p->reaped) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);

		if (r == p->pid) {
			p->reaped = true;
			p->status = st;
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (deadline != GH_NEVER && deadline <= gh_now())
			return -ETIMEDOUT;
		err = gh_wait_fd(p->pidfd, GH_IN, deadline);
		if (err < 0)
			return err;
	}
	if (status)
		*status = p->status;
	return 0;
}

int gh_proc_kill(gh_proc *p, int sig)
{
	if (!p)
		return -EINVAL;
	if (p->reaped)
		return -ESRCH;
	return pidfd_send_signal_(p->pidfd, sig);
}
