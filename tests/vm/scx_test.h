/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Helpers shared by the sched_ext-mode VM tests (tests/vm/test_vm_scx_*.c): running the loader
 * (scx_greenhub, in the VM's /bin), reading its pinned control map, an exclusivity marker, and
 * the sched_attr plumbing glibc 2.36 lacks. Header-only, like vm_test.h; every function is
 * static so each test takes what it uses.
 */
#ifndef GREENHUB_SCX_TEST_H
#define GREENHUB_SCX_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "greenhub.h"
#include "greenhub/scx.h"
#include "vm_test.h"

#define SCX_LOADER "scx_greenhub"

static inline uint64_t scx_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void scx_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Start argv with stdout and stderr into the file out (NULL: inherited); the child's pid. */
static inline pid_t scx_spawn(char *const argv[], const char *out)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (out) {
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
				close(fd);
			}
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Run argv to completion; its exit status, or -1 if it did not exit normally. */
static inline int scx_run(char *const argv[], const char *out)
{
	int status;
	pid_t pid = scx_spawn(argv, out);

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Print a file (the loader's output) with a prefix. */
static inline void scx_cat(const char *path, const char *prefix)
{
	char line[512];
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f))
		printf("%s%s", prefix, line);
	if (f)
		fclose(f);
}

/* Does the file contain needle? */
static inline bool scx_file_has(const char *path, const char *needle)
{
	char buf[8192];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static bool scx_loaded;

/* Nothing is pinned at dir (GH_SCX_PIN_DIR, GH_TRACE_PIN_DIR) after what after says; FAIL
 * otherwise. */
static inline void scx_check_no_pins(const char *dir, const char *after)
{
	struct stat st;

	VM_CHECK(stat(dir, &st) < 0 && errno == ENOENT, "%s left %s behind", after, dir);
}

/* A test that fails with the scheduler loaded unloads it on its way out, so that the tests
 * after it start from a disabled sched_ext. */
static inline void scx_unload_at_exit(void)
{
	char *const argv[] = { SCX_LOADER, "--stop", NULL };

	if (scx_loaded) {
		scx_loaded = false;
		(void)scx_run(argv, "/tmp/scx_stop.log");
		(void)vm_scx_wait_state("disabled", 5000);
	}
}

/* A kernel side is (about to be) loaded: a test that fails from here on stops it on its way
 * out. scx_unload clears scx_loaded; a test that stops it otherwise clears it itself. */
static inline void scx_stop_at_exit(void)
{
	static bool registered;

	if (!registered) {
		registered = true;
		atexit(scx_unload_at_exit);
	}
	scx_loaded = true;
}

/* Load the scheduler detached, with option (NULL: none) after -m sched_ext -d, and wait until
 * it is enabled (FAIL otherwise). */
static inline void scx_load_with(const char *option)
{
	char *const argv[] = { SCX_LOADER, "-m", "sched_ext", "-d", (char *)option, NULL };
	char buf[64];
	int rc;

	scx_stop_at_exit();
	rc = scx_run(argv, "/tmp/scx_load.log");

	if (rc != 0) {
		scx_cat("/tmp/scx_load.log", "  loader| ");
		vm_test_fail("scx_greenhub -m sched_ext -d %s exited with %d", option ? option : "",
			     rc);
	}
	VM_CHECK(vm_scx_wait_state("enabled", 5000) == 0, "state '%s' after loading",
		 vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf)));
}

static inline void scx_load(void)
{
	scx_load_with(NULL);
}

/* Unload (scx_greenhub --stop) and wait until sched_ext is disabled. */
static inline void scx_unload(void)
{
	char *const argv[] = { SCX_LOADER, "--stop", NULL };
	char buf[64];
	int rc;

	scx_loaded = false;
	rc = scx_run(argv, "/tmp/scx_stop.log");

	if (rc != 0) {
		scx_cat("/tmp/scx_stop.log", "  loader| ");
		vm_test_fail("scx_greenhub --stop exited with %d", rc);
	}
	VM_CHECK(vm_scx_wait_state("disabled", 5000) == 0, "state '%s' after --stop",
		 vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf)));
}

/* The pinned control map, mapped read-write; NULL if nothing is pinned. */
static inline struct gh_scx_control *scx_control(void)
{
	union bpf_attr attr;
	void *p;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.pathname = (__u64)(unsigned long)(GH_SCX_PIN_DIR "/control");
	fd = (int)syscall(SYS_bpf, BPF_OBJ_GET, &attr, sizeof(attr));
	if (fd < 0)
		return NULL;
	p = mmap(NULL, (sizeof(struct gh_scx_control) + 4095) & ~4095ul, PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static inline void scx_control_put(struct gh_scx_control *c)
{
	if (c)
		munmap(c, (sizeof(*c) + 4095) & ~4095ul);
}

/* The pinned control map once a loader started in the background has it RUNNING; NULL if that
 * takes over 5 s. */
static inline struct gh_scx_control *scx_control_running(void)
{
	struct gh_scx_control *ctl = NULL;

	for (int i = 0; i < 500 && !ctl; i++) {
		scx_sleep_ms(10);
		ctl = scx_control();
		if (ctl && __atomic_load_n(&ctl->kside.state, __ATOMIC_ACQUIRE) != GH_SCX_RUNNING) {
			scx_control_put(ctl);
			ctl = NULL;
		}
	}
	return ctl;
}

/* The policy of thread tid (sched_getscheduler on a tid is the thread's own). */
static inline int scx_policy(pid_t tid)
{
	return sched_getscheduler(tid);
}

/*
 * An exclusivity marker for one hub: green code holds it (set by exchange, checked inside,
 * cleared by exchange). Two carriers running green code of the hub at once would find each
 * other's id. Every violation is counted.
 */
struct scx_marker {
	atomic_uint_fast64_t owner;
	atomic_uint violations;
};

static inline void scx_enter(struct scx_marker *m, uint64_t id)
{
	uint64_t old = atomic_exchange(&m->owner, id);

	if (old) {
		atomic_fetch_add(&m->violations, 1);
		fprintf(stderr, "exclusivity: %llu entered while %llu was in green code\n",
			(unsigned long long)id, (unsigned long long)old);
	}
}

static inline void scx_leave(struct scx_marker *m, uint64_t id)
{
	uint64_t old = atomic_exchange(&m->owner, 0);

	if (old != id) {
		atomic_fetch_add(&m->violations, 1);
		fprintf(stderr, "exclusivity: %llu left, but %llu held the marker\n",
			(unsigned long long)id, (unsigned long long)old);
	}
}

/* Spin in green code, holding the marker, until deadline (absolute ns); checks it throughout. */
static inline void scx_spin(struct scx_marker *m, uint64_t id, uint64_t deadline)
{
	scx_enter(m, id);
	while (scx_now() < deadline) {
		if (atomic_load_explicit(&m->owner, memory_order_relaxed) != id) {
			atomic_fetch_add(&m->violations, 1);
			fprintf(stderr, "exclusivity: the marker changed under %llu\n",
				(unsigned long long)id);
			break;
		}
	}
	scx_leave(m, id);
}

static inline void scx_hub_stats(gh_hub *hub, struct gh_hub_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sz = sizeof(*st);
	gh_hub_stats(hub, st);
}

#endif /* GREENHUB_SCX_TEST_H */
