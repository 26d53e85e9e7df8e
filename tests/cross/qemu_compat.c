// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Linked into the aarch64 unit tests run under qemu-user: stand-ins for what Debian 12's
 * qemu-user (7.2) gets wrong compared with a real aarch64 kernel, so that a failure of the
 * aarch64 suite means the aarch64 build is wrong, not the emulator. Each stand-in is the
 * behaviour the real system has; none of them is used on a real machine.
 *
 *  - epoll_pwait2 (Linux 5.11) is not emulated (qemu-user has it from 8.0): it is tried first
 *    and on ENOSYS done with epoll_pwait, the timeout rounded up to whole milliseconds so that
 *    a wait never ends early.
 *  - The guest's two highest real-time signals cannot be sent (qemu keeps them for itself) but
 *    glibc still reports SIGRTMAX = 64: SIGRTMAX is reported as the highest signal that works.
 *  - posix_spawn's child shares the parent's memory (CLONE_VM | CLONE_VFORK) to hand back an
 *    exec failure; qemu runs that clone as a fork, so the failure is lost and the spawn
 *    "succeeds". The stand-ins check first that the program exists and may be executed, and
 *    fail as glibc would.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
		 const struct timespec *timeout, const sigset_t *sigmask);
int __libc_current_sigrtmax(void);

int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
		 const struct timespec *timeout, const sigset_t *sigmask)
{
	static int missing;
	int64_t ms;
	long r;

	if (!missing) {
		r = syscall(SYS_epoll_pwait2, epfd, events, maxevents, timeout, sigmask,
			    (size_t)(_NSIG / 8));
		if (r >= 0 || errno != ENOSYS)
			return (int)r;
		missing = 1;
	}
	if (!timeout) {
		ms = -1;
	} else {
		ms = (int64_t)timeout->tv_sec * 1000 + (timeout->tv_nsec + 999999) / 1000000;
		if (ms > INT32_MAX)
			ms = INT32_MAX;
	}
	return epoll_pwait(epfd, events, maxevents, (int)ms, sigmask);
}

/* glibc's SIGRTMAX macro calls this. qemu 7.2 refuses guest signals 63 and 64. */
int __libc_current_sigrtmax(void)
{
	return _NSIG - 1 - 2;
}

/* 0 if path names a file this process may execute, else the errno execve would give. */
static int exec_error(const char *path)
{
	return access(path, X_OK) == 0 ? 0 : errno;
}

/* What execvp would fail with for file, searching PATH as posix_spawnp does; 0 if it would
 * find something to execute. */
static int search_error(const char *file)
{
	const char *path = getenv("PATH");
	int err = ENOENT;

	if (strchr(file, '/'))
		return exec_error(file);
	if (!path)
		path = "/bin:/usr/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t dir_len = end ? (size_t)(end - path) : strlen(path);
		char full[4096];
		int e;

		if (dir_len + 1 + strlen(file) + 1 <= sizeof(full)) {
			memcpy(full, dir_len ? path : ".", dir_len ? dir_len : 1);
			full[dir_len ? dir_len : 1] = '\0';
			strcat(full, "/");
			strcat(full, file);
			e = exec_error(full);
			if (!e)
				return 0;
			if (e == EACCES)
				err = EACCES;
		}
		path += dir_len;
		if (*path == ':')
			path++;
	}
	return err;
}

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
		     const posix_spawnattr_t *, char *const[], char *const[]);

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	spawn_fn *real = (spawn_fn *)dlsym(RTLD_NEXT, "posix_spawn");
	int err = exec_error(path);

	return err ? err : real(pid, path, fa, attr, argv, envp);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	spawn_fn *real = (spawn_fn *)dlsym(RTLD_NEXT, "posix_spawnp");
	int err = search_error(file);

	return err ? err : real(pid, file, fa, attr, argv, envp);
}
