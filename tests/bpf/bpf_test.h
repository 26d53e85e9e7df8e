/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Helpers for the trace-mode tests on the host kernel (tests/bpf/, `make test-bpf`).
 *
 * Each test binary is a cmocka group that needs root and a kernel that scx_greenhub can load
 * trace mode on. bt_require() checks that first and exits 77 (SKIP) with the reason as the last
 * line when it cannot run; in CI the machine meets every requirement, so the tests run.
 *
 * The tests use the public interfaces only: the greenhub API, the scx_greenhub command (run as
 * a child process) and its pinned maps, read through bpf(2) as `bpftool` or `--stats` would.
 * They own the machine's kernel side while they run: they stop a loaded one first, and leave
 * none behind.
 *
 * Green code, and every thread but cmocka's, checks with the unit tests' check_*() (they never
 * jump to cmocka's thread); the runners below assert on cmocka's thread that no check failed.
 */
#ifndef GREENHUB_BPF_TEST_H
#define GREENHUB_BPF_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <cmocka.h>

#include "greenhub.h"
#include "greenhub/trace.h"

#include "../unit/helpers.h"
#include "in_syscall.h"

#ifndef GH_BUILD_DIR
#error "build with -DGH_BUILD_DIR=<the build folder, absolute>"
#endif

#define BT_EXIT_SKIP 77

/* The loader and the stress checker: in the build folder, or, where GH_TEST_BIN names a folder
 * (the VM harness puts them in /bin), there. */
static inline const char *bt_program(const char *built, const char *name)
{
	static __thread char path[2][256];
	static __thread int turn;
	const char *dir = getenv("GH_TEST_BIN");
	char *p = path[turn++ & 1];

	if (dir && *dir)
		snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	else
		snprintf(p, sizeof(path[0]), "%s/%s", GH_BUILD_DIR, built);
	return p;
}

#define BT_LOADER bt_program("scx_greenhub", "scx_greenhub")
#define BT_STRESS bt_program("tests/stress", "stress")

static inline __attribute__((noreturn, format(printf, 1, 2))) void bt_skip(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(BT_EXIT_SKIP);
}

static inline uint64_t bt_now(void)
{
	return gh_now();
}

static inline void bt_sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline void bt_sleep_ms(unsigned ms)
{
	bt_sleep_us(ms * 1000);
}


/*
 * An exclusivity marker (I1): a stretch of green code that only one carrier of a hub may be
 * in. A carrier that finds another inside counts an overlap; a test that ran its green threads
 * through bt_marked_stretch() asserts that overlaps stayed 0.
 */
struct bt_marker {
	atomic_int in_green;  /* the carrier inside the stretch, 0 if none */
	atomic_long overlaps; /* a second carrier found inside it (I1 broken) */
};

static inline void bt_marked_stretch(struct bt_marker *m)
{
	int me = gettid(), none = 0;

	if (!atomic_compare_exchange_strong(&m->in_green, &none, me)) {
		atomic_fetch_add(&m->overlaps, 1);
		return;
	}
	for (volatile int i = 0; i < 2000; i++)
		;
	atomic_store(&m->in_green, 0);
}
/*
 * Start argv as a child with stdout and stderr into a pipe (*out_fd, close-on-exec), as uid
 * (if not -1), after setup() (if given) has run in the child. The child's pid, or -1.
 */
static inline pid_t bt_spawn(const char *const argv[], int uid, void (*setup)(void), int *out_fd)
{
	int pipefd[2];
	pid_t pid;

	*out_fd = -1;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		if (uid >= 0 && (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
				 setresuid(uid, uid, uid) < 0))
			_exit(126);
		if (setup)
			setup();
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	*out_fd = pipefd[0];
	return pid;
}

/*
 * Run argv as a child (as bt_spawn) with its output into out (NUL-terminated), for at most
 * timeout_ms; returns its exit status, 128 + signal if it was killed, or -1.
 */
static inline int bt_run_ex(int uid, void (*setup)(void), const char *const argv[], char *out,
			    size_t len, unsigned timeout_ms)
{
	int fd, status = -1;
	size_t used = 0;
	uint64_t deadline = bt_now() + (uint64_t)timeout_ms * 1000000u;
	pid_t pid = bt_spawn(argv, uid, setup, &fd);

	if (pid < 0)
		return -1;
	if (out && len)
		out[0] = '\0';
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - bt_now()) / 1000000;
		char sink[512];
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		if (out && used + 1 < len)
			n = read(fd, out + used, len - used - 1);
		else
			n = read(fd, sink, sizeof(sink));
		if (n <= 0)
			break;
		if (out && used + 1 < len) {
			used += (size_t)n;
			out[used] = '\0';
		}
	}
	close(fd);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static inline int bt_run_as(int uid, const char *const argv[], char *out, size_t len,
			    unsigned timeout_ms)
{
	return bt_run_ex(uid, NULL, argv, out, len, timeout_ms);
}

/* Run scx_greenhub with the arguments given as root; its exit status. */
#define bt_loader(out, len, ...)                                                            \
	bt_run_as(-1, (const char *const[]){ BT_LOADER, __VA_ARGS__, NULL }, out, len, 60000)

/* GH_TEST_GATE: the return gate the tests load (--gate), instead of the one the loader would
 * choose, so that the suite can run with each gate this kernel takes. */
static inline const char *bt_gate(void)
{
	const char *g = getenv("GH_TEST_GATE");

	return g && *g ? g : NULL;
}

/* scx_greenhub --detach --mode trace, --gate GH_TEST_GATE if that is set (else --mode trace
 * once more), then the options given (at least one; NULL for none): its exit status, its
 * output in out. */
#define bt_loader_trace(out, len, ...)                                                      \
	bt_run_as(-1,                                                                       \
		  (const char *const[]){ BT_LOADER, "--detach", "--mode", "trace",              \
					 bt_gate() ? "--gate" : "--mode",                       \
					 bt_gate() ? bt_gate() : "trace", __VA_ARGS__, NULL },  \
		  out, len, 60000)

/* Is the kernel side pinned and running (state RUNNING)? */
static inline bool bt_loaded(void)
{
	int fd = bpf_obj_get(GH_TRACE_PIN_DIR "/control");
	struct gh_trace_control *ctl;
	bool running;

	if (fd < 0)
		return false;
	ctl = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (ctl == MAP_FAILED)
		return false;
	running = __atomic_load_n(&ctl->kside.state, __ATOMIC_ACQUIRE) == GH_TRACE_RUNNING;
	munmap(ctl, (size_t)sysconf(_SC_PAGESIZE));
	return running;
}

/* Start scx_greenhub in the foreground (extra arguments allowed) and wait (up to 10 s) until
 * it runs; its pid, its output in *out_fd. */
#define bt_loader_foreground(out_fd, ...)                                                    \
	bt_loader_wait_up(bt_spawn((const char *const[]){ BT_LOADER, __VA_ARGS__, NULL }, -1,  \
				   NULL, out_fd))

static inline pid_t bt_loader_wait_up(pid_t pid)
{
	for (int i = 0; pid > 0 && i < 10000; i++) {
		if (bt_loaded())
			return pid;
		bt_sleep_ms(1);
	}
	fail_msg("scx_greenhub did not come up");
	return -1;
}

/* Wait for a child; its exit status, or 128 + signal. */
static inline int bt_wait(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---------------------------------------------------------------------------------------- */
/* The pinned maps                                                                            */

struct bt_maps {
	int fds[3];
	struct gh_trace_control *ctl;
	struct gh_hub_slot *slots;
	struct gh_trace_hub *hubs;
};

static inline size_t bt_map_bytes(size_t value_size, unsigned entries)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (((value_size + 7) & ~(size_t)7) * entries + page - 1) & ~(page - 1);
}

/* Map the pinned control, slots and hubs read-only; 0 or -errno. */
static inline int bt_maps_open(struct bt_maps *m)
{
	static const char *const names[] = { GH_TRACE_PIN_DIR "/control", GH_TRACE_PIN_DIR "/slots",
					      GH_TRACE_PIN_DIR "/hubs" };
	static const size_t sizes[] = { sizeof(struct gh_trace_control), sizeof(struct gh_hub_slot),
					sizeof(struct gh_trace_hub) };
	static const unsigned entries[] = { 1, GH_MAX_HUBS, GH_MAX_HUBS };
	void *p[3];

	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 3; i++) {
		m->fds[i] = bpf_obj_get(names[i]);
		if (m->fds[i] < 0)
			return -errno;
		p[i] = mmap(NULL, bt_map_bytes(sizes[i], entries[i]), PROT_READ, MAP_SHARED,
			    m->fds[i], 0);
		if (p[i] == MAP_FAILED)
			return -errno;
	}
	m->ctl = p[0];
	m->slots = p[1];
	m->hubs = p[2];
	return 0;
}

static inline void bt_maps_close(struct bt_maps *m)
{
	munmap(m->ctl, bt_map_bytes(sizeof(*m->ctl), 1));
	munmap(m->slots, bt_map_bytes(sizeof(*m->slots), GH_MAX_HUBS));
	munmap(m->hubs, bt_map_bytes(sizeof(*m->hubs), GH_MAX_HUBS));
	for (int i = 0; i < 3; i++)
		close(m->fds[i]);
}

/* The active slots owned by this process: their indexes into idx, the count returned. */
static inline unsigned bt_my_slots(const struct bt_maps *m, unsigned *idx, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < GH_MAX_HUBS && n < max; i++)
		if ((__atomic_load_n(&m->slots[i].flags, __ATOMIC_ACQUIRE) & GH_SLOT_F_ACTIVE) &&
		    m->slots[i].tgid == (__u32)getpid())
			idx[n++] = i;
	return n;
}

/* Do want hubs of this process have a parked spare the kernel side may wake? No system call:
 * green threads may ask (an unmarked sleep there would be a block, and hand off). */
static inline bool bt_spares_ready(const struct bt_maps *m, unsigned want)
{
	unsigned idx[GH_MAX_HUBS], n = bt_my_slots(m, idx, GH_MAX_HUBS), ready = 0;

	for (unsigned i = 0; i < n; i++)
		ready += __atomic_load_n(&m->slots[idx[i]].spare_tid, __ATOMIC_RELAXED) != 0;
	return n >= want && ready >= want;
}

/* From a green thread: wait (up to 60 s, in green sleeps: a loaded machine or an emulated one
 * may take long to start many spares) for bt_spares_ready(). */
static inline bool bt_green_wait_spares(const struct bt_maps *m, unsigned want)
{
	for (int tries = 0; tries < 60000; tries++) {
		if (bt_spares_ready(m, want))
			return true;
		gh_sleep_until(gh_now() + 1000000);
	}
	return false;
}

/* ---------------------------------------------------------------------------------------- */
/* The loader                                                                                 */

/*
 * Stop whatever kernel side is loaded; then load trace mode detached. A kernel side that cannot
 * stop because a carrier is still displaced (exit 8) was left so by an earlier test (a call it
 * never ended, or a displaced count that leaked): fail, naming that, after removing the pins
 * with --force, so that this is the one test that reports it rather than the first of a cascade.
 */
static inline void bt_loader_up(void)
{
	char out[4096], forced[4096];
	int rc;

	if (bt_loader(out, sizeof(out), "--stop", "--timeout", "10") == 8) {
		rc = bt_loader(forced, sizeof(forced), "--stop", "--timeout", "0.1", "--force");
		fail_msg("before this test, a carrier was left displaced and the kernel side could "
			 "not stop:\n%s\n--stop --force exited %d:\n%s", out, rc, forced);
	}
	rc = bt_loader_trace(out, sizeof(out), NULL);
	if (rc != 0)
		fail_msg("scx_greenhub --detach exited %d:\n%s", rc, out);
}

static inline void bt_loader_down(void)
{
	char out[4096];
	int rc = bt_loader(out, sizeof(out), "--stop", "--timeout", "10");

	if (rc != 0 && rc != 7)
		fail_msg("scx_greenhub --stop exited %d:\n%s", rc, out);
}

/*
 * Root, BPF, BTF, and a kernel that can load trace mode: else exit 77 with the reason. Loads
 * and unloads once to find out (the loader's own checks say what is missing).
 */
static inline void bt_require(void)
{
	char out[4096];
	int rc;

	if (geteuid() != 0)
		bt_skip("needs root (loads BPF programs with scx_greenhub)");
	if (access(BT_LOADER, X_OK) < 0)
		bt_skip("%s is not built", BT_LOADER);
	(void)bt_loader(out, sizeof(out), "--stop", "--timeout", "10");
	rc = bt_loader_trace(out, sizeof(out), NULL);
	if (rc == 4 || rc == 3) {
		out[strcspn(out, "\n")] = '\0';
		bt_skip("this machine cannot run trace mode: %s", out);
	}
	if (rc != 0) {
		fprintf(stderr, "scx_greenhub --detach exited %d:\n%s\n", rc, out);
		exit(1);
	}
	rc = bt_loader(out, sizeof(out), "--stop");
	if (rc != 0) {
		fprintf(stderr, "scx_greenhub --stop exited %d:\n%s\n", rc, out);
		exit(1);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Trace-mode hubs, run from cmocka's thread                                                  */

/* A hub that asks for mode; NULL and errno as gh_hub_create. From any thread. */
static inline struct gh_hub *bt_hub_new(enum gh_mode mode)
{
	struct gh_hub_opts o;

	gh_hub_opts_init(&o);
	o.mode = mode;
	return gh_hub_create(&o);
}

static inline struct gh_hub *bt_hub_trace(void)
{
	struct gh_hub *hub = bt_hub_new(GH_MODE_TRACE);

	assert_non_null(hub);
	return hub;
}

static inline struct gh_hub_stats bt_stats(const struct gh_hub *hub)
{
	struct gh_hub_stats st = { .sz = sizeof(st) };

	assert_int_equal(gh_hub_stats(hub, &st), 0);
	return st;
}

/* From green code: the statistics of the calling thread's hub so far (a check records a
 * failure). */
static inline struct gh_hub_stats bt_green_stats(void)
{
	struct gh_hub_stats st = { .sz = sizeof(st) };

	check_int_equal(gh_hub_stats(gh_hub_current(), &st), 0);
	return st;
}

/* Run fn(arg) in a fresh trace-mode hub; assert that it ran in trace mode and that its checks
 * passed; its statistics. */
static inline struct gh_hub_stats bt_run_trace(gh_fn fn, void *arg)
{
	struct gh_hub *hub = bt_hub_trace();
	struct gh_hub_stats st;

	assert_int_equal(hub_run(hub, fn, arg, NULL), 0);
	assert_int_equal(gh_hub_mode(hub), GH_MODE_TRACE);
	st = bt_stats(hub);
	assert_int_equal(gh_hub_destroy(hub), 0);
	return st;
}

/* From green code: n named green threads of the calling hub, thread i running fn on
 * args + i * arg_size and named names[i], then joined (checks record a failed spawn or name; the
 * threads spawned before a failed spawn are still joined). */
#define BT_GREEN_NAMED_MAX 16
static inline void bt_green_named(gh_fn fn, void *args, size_t arg_size,
				  const char *const names[], int n)
{
	gh_thread *t[BT_GREEN_NAMED_MAX];
	int i;

	if (!check_true(n <= BT_GREEN_NAMED_MAX))
		return;
	for (i = 0; i < n; i++) {
		t[i] = gh_spawn(fn, (char *)args + (size_t)i * arg_size);
		if (!check_true(t[i] != NULL))
			break;
		check_int_equal(gh_thread_set_name(t[i], names[i]), 0);
	}
	while (i-- > 0)
		check_int_equal(gh_join(t[i], NULL), 0);
}

/* The same on an OS thread of its own, while cmocka's thread acts on the machine: started by
 * bt_hub_thread_start, its result and checks asserted by bt_hub_thread_join. */
struct bt_hub_thread {
	pthread_t thread;
	struct gh_hub *hub;
	gh_fn fn;
	void *arg;
	int result;
};

static inline void *bt_hub_thread_main(void *arg)
{
	struct bt_hub_thread *t = arg;

	t->result = gh_hub_run(t->hub, t->fn, t->arg, NULL);
	return NULL;
}

static inline void bt_hub_thread_start(struct bt_hub_thread *t, gh_fn fn, void *arg)
{
	t->hub = bt_hub_trace();
	t->fn = fn;
	t->arg = arg;
	assert_int_equal(pthread_create(&t->thread, NULL, bt_hub_thread_main, t), 0);
}

/* Join the hub's thread, then assert as bt_run_trace; the statistics. */
static inline struct gh_hub_stats bt_hub_thread_join(struct bt_hub_thread *t)
{
	struct gh_hub_stats st;

	assert_int_equal(pthread_join(t->thread, NULL), 0);
	assert_checks();
	assert_int_equal(t->result, 0);
	assert_int_equal(gh_hub_mode(t->hub), GH_MODE_TRACE);
	st = bt_stats(t->hub);
	assert_int_equal(gh_hub_destroy(t->hub), 0);
	return st;
}

/* ---------------------------------------------------------------------------------------- */
/* A call beside a ticker: a green thread that counts while the hub runs                      */

struct bt_ticker {
	atomic_long ticks;
	atomic_bool stop;
	uint64_t period_ns;
};

static inline void *bt_tick(void *arg)
{
	struct bt_ticker *t = arg;

	while (!atomic_load(&t->stop)) {
		atomic_fetch_add(&t->ticks, 1);
		gh_sleep_until(gh_now() + t->period_ns);
	}
	return NULL;
}

/*
 * bt_ticked_main, as a hub's main green thread, starts a ticker (bt_tick every millisecond, or
 * tick(t) instead), waits until a spare is parked for the kernel side to wake, then makes
 * call(t) and counts the ticks while it ran. A test's own state may follow t in a struct that
 * starts with it.
 */
struct bt_ticked {
	struct bt_maps maps;
	struct bt_ticker ticker;
	gh_fn tick;
	void (*call)(struct bt_ticked *t);
	long ticks_during;
	uint64_t elapsed_ns;
};

static inline void *bt_ticked_main(void *arg)
{
	struct bt_ticked *t = arg;
	gh_thread *ticker;
	uint64_t start;
	long t0;

	t->ticker.period_ns = 1000000;
	ticker = t->tick ? gh_spawn(t->tick, t) : gh_spawn(bt_tick, &t->ticker);
	if (!check_non_null(ticker))
		return NULL;
	if (check_true(bt_green_wait_spares(&t->maps, 1))) {
		t0 = atomic_load(&t->ticker.ticks);
		start = gh_now();
		t->call(t);
		t->elapsed_ns = gh_now() - start;
		t->ticks_during = atomic_load(&t->ticker.ticks) - t0;
	}
	atomic_store(&t->ticker.stop, true);
	gh_join(ticker, NULL);
	return NULL;
}

#endif /* GREENHUB_BPF_TEST_H */
