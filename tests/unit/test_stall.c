// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The stall detector, in mode none: a green thread that spins, or blocks in an unmarked call,
 * is reported once, named, with a backtrace; nothing is reported (or installed) while the
 * detector is off, nor for a hub that keeps switching; malformed GREENHUB_STALL_MS values
 * leave it off with one message each; the options are checked; a report says why it has no
 * backtrace when the signal is the application's or the carrier blocks it.
 *
 * The hook runs on the sysmon's thread: it only records what it was given, and the test
 * asserts on its own thread once the hub has returned. Nothing is judged by time beyond what
 * the detector guarantees (a reported stall lasted at least the threshold).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "helpers.h"

/* ---------------------------------------------------------------------------------------- */
/* A hook that records the reports                                                            */

struct report {
	unsigned calls;
	const void *hub;
	uint64_t thread_id;
	char name[64];
	bool have_name;
	uint64_t stalled_ns;
	int nframes;
	bool first_frame_set;
	int carrier_tid;
	char why[256];
};

/* The hook's record: the number of calls and the first report. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct report seen;

/* A copy, for the test's assertions: a failed one jumps, and must not leave seen_lock held. */
static struct report seen_copy(void)
{
	struct report r;

	pthread_mutex_lock(&seen_lock);
	r = seen;
	pthread_mutex_unlock(&seen_lock);
	return r;
}

static void record_hook(const struct gh_stall_info *info, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&seen_lock);
	if (seen.calls++ == 0) {
		seen.hub = info->hub;
		seen.thread_id = info->thread_id;
		seen.have_name = info->thread_name != NULL;
		snprintf(seen.name, sizeof(seen.name), "%s",
			 info->thread_name ? info->thread_name : "");
		seen.stalled_ns = info->stalled_ns;
		seen.nframes = info->nframes;
		seen.first_frame_set = info->nframes > 0 && info->frames[0] != NULL;
		seen.carrier_tid = info->carrier_tid;
		snprintf(seen.why, sizeof(seen.why), "%s", info->why ? info->why : "");
	}
	pthread_mutex_unlock(&seen_lock);
}

static int setup(void **state)
{
	(void)state;
	pthread_mutex_lock(&seen_lock);
	memset(&seen, 0, sizeof(seen));
	pthread_mutex_unlock(&seen_lock);
	unsetenv("GREENHUB_STALL_MS");
	gh_set_stall_hook(record_hook, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	gh_set_stall_hook(NULL, NULL);
	unsetenv("GREENHUB_STALL_MS");
	return 0;
}

/* No report, or fail saying what the first one was. */
static void assert_no_report(void)
{
	struct report r = seen_copy();

	if (r.calls)
		fail_msg("%u report(s), the first: thread \"%s\" (id %ju) stalled %ju ns, why \"%s\"",
			 r.calls, r.name, (uintmax_t)r.thread_id, (uintmax_t)r.stalled_ns, r.why);
}

/* ---------------------------------------------------------------------------------------- */
/* Green code                                                                                 */

/* What the main green thread runs: a thread named name doing fn, joined. */
struct job {
	const char *name;
	gh_fn fn;
	uint64_t ms;           /* how long fn keeps at it */
	int fd;                /* for the unmarked read */
	_Atomic uint64_t id;   /* the thread's gh_thread_id, for the test's thread */
	int sig;               /* for the spinner that blocks a signal: which, or 0 */
};

/* Spin without a switch point for job->ms. gh_now() keeps the loop from being optimized out
 * and, under TSan, is an intercepted call at which a deferred signal is delivered. */
static void *spin(void *arg)
{
	struct job *j = arg;
	uint64_t end = gh_now() + MS(j->ms);
	sigset_t set, old;

	if (j->sig) {
		sigemptyset(&set);
		sigaddset(&set, j->sig);
		check_int_equal(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
	}
	while (gh_now() < end)
		;
	if (j->sig) {
		/* The withdrawn request's signal is delivered here and must do nothing. */
		check_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
	}
	return NULL;
}

/* Yield, alone or among others, for job->ms: a switch point every few microseconds. */
static void *yield_loop(void *arg)
{
	struct job *j = arg;
	uint64_t end = gh_now() + MS(j->ms);

	while (gh_now() < end)
		check_int_equal(gh_yield(), 0);
	return NULL;
}

/* A bare read(2) on a blocking pipe: an unmarked blocking call, which stalls mode none. */
static void *unmarked_read(void *arg)
{
	struct job *j = arg;
	char c = 0;

	check_int_equal(read(j->fd, &c, 1), 1);
	check_int_equal(c, 'x');
	return NULL;
}

/* A bare nanosleep(2) for job->ms: an unmarked blocking call. The stall detector's signal
 * interrupts it once (nanosleep is never restarted): it goes on with the time left. */
static void *unmarked_sleep(void *arg)
{
	struct job *j = arg;
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)MS(j->ms) };
	int r;

	while ((r = nanosleep(&ts, &ts)) < 0 && errno == EINTR)
		;
	check_int_equal(r, 0);
	return NULL;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	gh_thread *t = gh_spawn(j->fn, j);

	if (!check_non_null(t))
		return NULL;
	check_int_equal(gh_thread_set_name(t, j->name), 0);
	atomic_store(&j->id, gh_thread_id(t));
	join_ok(t);
	return NULL;
}

/* Run job j in a fresh hub in mode none with stall_ns (0: the environment decides). */
static gh_hub *run_job(struct job *j, uint64_t stall_ns)
{
	struct gh_hub_opts o;
	gh_hub *hub;

	gh_hub_opts_init(&o);
	o.mode = GH_MODE_NONE;
	o.stall_ns = stall_ns;
	hub = gh_hub_create(&o);
	assert_non_null(hub);
	assert_int_equal(hub_run(hub, job_main, j, NULL), 0);
	assert_int_equal(gh_hub_mode(hub), GH_MODE_NONE);
	return hub;
}

/* ---------------------------------------------------------------------------------------- */
/* Off                                                                                        */

static bool stall_handler_installed(void)
{
	struct sigaction cur;

	assert_int_equal(sigaction(GH_STALL_SIGNAL, NULL, &cur), 0);
	return (cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL;
}

/* First in the group: no hub with the detector on has run in this process yet. */
static void test_stall_off_by_default(void **state)
{
	struct job j = { .name = "spinner", .fn = spin, .ms = 300 };

	(void)state;
	assert_int_equal(gh_hub_destroy(run_job(&j, 0)), 0);
	assert_no_report();
	assert_false(stall_handler_installed());
}

static void test_stall_opts_off_overrides_environment(void **state)
{
	struct job j = { .name = "spinner", .fn = spin, .ms = 200 };

	(void)state;
	assert_int_equal(setenv("GREENHUB_STALL_MS", "50", 1), 0);
	assert_int_equal(gh_hub_destroy(run_job(&j, GH_STALL_OFF)), 0);
	assert_no_report();
}

/* ---------------------------------------------------------------------------------------- */
/* Stalls reported                                                                            */

static void assert_one_report(gh_hub *hub, struct job *j, bool with_backtrace)
{
	struct report r = seen_copy();

	assert_int_equal(r.calls, 1);
	assert_ptr_equal(r.hub, hub);
	if (!r.have_name)
		fail_msg("a report without the thread's name: %s", r.why);
	assert_string_equal(r.name, j->name);
	assert_int_equal(r.thread_id, atomic_load(&j->id));
	assert_true(r.stalled_ns >= MS(50));
	assert_true(r.carrier_tid > 0);
	if (with_backtrace) {
		assert_string_equal(r.why, "");
		assert_true(r.nframes >= 1);
		assert_true(r.first_frame_set);
	}
}

static void test_stall_spinner_reported_once_from_environment(void **state)
{
	struct job j = { .name = "spinner", .fn = spin, .ms = 300 };
	gh_hub *hub;

	(void)state;
	assert_int_equal(setenv("GREENHUB_STALL_MS", "50", 1), 0);
	hub = run_job(&j, 0);
	assert_one_report(hub, &j, true);
	assert_int_equal(gh_hub_destroy(hub), 0);
}

static void test_stall_spinner_reported_once_from_opts(void **state)
{
	struct job j = { .name = "spinner", .fn = spin, .ms = 300 };
	gh_hub *hub;

	(void)state;
	hub = run_job(&j, MS(50));
	assert_one_report(hub, &j, true);
	assert_int_equal(gh_hub_destroy(hub), 0);
}

struct late_writer {
	int fd;
	uint64_t ms;
};

/* A plain thread: write a byte to the pipe after a while. */
static void *write_later(void *arg)
{
	struct late_writer *w = arg;
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)MS(w->ms) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	check_int_equal(write(w->fd, "x", 1), 1);
	return NULL;
}

static void test_stall_unmarked_block_reported_once(void **state)
{
	struct job j = { .name = "reader", .fn = unmarked_read };
	struct late_writer w = { .ms = 300 };
	int fds[2];
	pthread_t writer;
	gh_hub *hub;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	j.fd = fds[0];
	w.fd = fds[1];
	assert_int_equal(pthread_create(&writer, NULL, write_later, &w), 0);
	hub = run_job(&j, MS(50));
	assert_int_equal(pthread_join(writer, NULL), 0);
	assert_checks();
#ifdef TEST_TSAN
	{
		/* TSan holds an asynchronous signal back while the thread is in read(), until
		 * the call returns: the report comes without the carrier's answer, saying so. */
		struct report r = seen_copy();

		assert_int_equal(r.calls, 1);
		assert_true(r.stalled_ns >= MS(50));
		assert_non_null(strstr(r.why, "did not take the signal"));
	}
#else
	assert_one_report(hub, &j, true);
#endif
	assert_int_equal(gh_hub_destroy(hub), 0);
	close(fds[0]);
	close(fds[1]);
}

static void test_stall_unmarked_sleep_reported_once(void **state)
{
	struct job j = { .name = "sleeper", .fn = unmarked_sleep, .ms = 300 };
	gh_hub *hub;

	(void)state;
	hub = run_job(&j, MS(50));
	assert_one_report(hub, &j, true);
	assert_int_equal(gh_hub_destroy(hub), 0);
}

static void test_stall_yield_loop_not_reported(void **state)
{
	struct job alone = { .name = "yielder", .fn = yield_loop, .ms = 600 };

	(void)state;
	/* Alone, each yield comes straight back to the same thread: still a switch point. The
	 * threshold is well above how long a loaded machine may leave a runnable carrier off
	 * the CPU, which the detector cannot tell from a stall. */
	assert_int_equal(gh_hub_destroy(run_job(&alone, MS(250))), 0);
	assert_no_report();
}

static void *two_yielders_main(void *arg)
{
	struct job *j = arg;
	gh_thread *a = gh_spawn(yield_loop, j), *b = gh_spawn(yield_loop, j);

	join_ok(a);
	join_ok(b);
	return NULL;
}

static void test_stall_yielders_not_reported(void **state)
{
	struct job j = { .ms = 600 };
	struct gh_hub_opts o;
	gh_hub *hub;

	(void)state;
	gh_hub_opts_init(&o);
	o.mode = GH_MODE_NONE;
	o.stall_ns = MS(250); /* as in test_stall_yield_loop_not_reported */
	hub = gh_hub_create(&o);
	assert_non_null(hub);
	assert_int_equal(hub_run(hub, two_yielders_main, &j, NULL), 0);
	assert_int_equal(gh_hub_destroy(hub), 0);
	assert_no_report();
}

/* ---------------------------------------------------------------------------------------- */
/* Reports without a backtrace                                                                */

static void app_handler(int sig)
{
	(void)sig;
}

static void test_stall_signal_of_the_application_no_backtrace(void **state)
{
	struct job j = { .name = "spinner", .fn = spin, .ms = 300 };
	struct sigaction sa, old;
	struct report r;
	gh_hub *hub;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = app_handler;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(GH_STALL_SIGNAL, &sa, &old), 0);
	hub = run_job(&j, MS(50));
	assert_int_equal(sigaction(GH_STALL_SIGNAL, &old, NULL), 0);
	r = seen_copy();
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.nframes, 0);
	assert_non_null(strstr(r.why, "application"));
	assert_true(r.stalled_ns >= MS(50));
	assert_int_equal(gh_hub_destroy(hub), 0);
}

static void test_stall_signal_blocked_no_backtrace(void **state)
{
	struct job j = { .name = "spinner", .fn = spin, .ms = 400, .sig = GH_STALL_SIGNAL };
	struct report r;
	gh_hub *hub;

	(void)state;
	hub = run_job(&j, MS(50));
	r = seen_copy();
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.nframes, 0);
	assert_non_null(strstr(r.why, "did not take the signal"));
	assert_int_equal(gh_hub_destroy(hub), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Settings                                                                                   */

/* Run a spinner with GREENHUB_STALL_MS=value; what the library wrote to stderr meanwhile. */
static void run_with_env_capturing_stderr(const char *value, char *out, size_t cap)
{
	struct job j = { .name = "spinner", .fn = spin, .ms = 100 };
	char path[] = "/tmp/gh_test_stall_XXXXXX";
	int fd = mkstemp(path), saved;
	ssize_t n;

	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(setenv("GREENHUB_STALL_MS", value, 1), 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	assert_int_equal(gh_hub_destroy(run_job(&j, 0)), 0);
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	n = pread(fd, out, cap - 1, 0);
	assert_true(n >= 0);
	out[n] = '\0';
	close(fd);
}

static unsigned occurrences(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_stall_bad_environment_values(void **state)
{
	static const char *const bad[] = { "", "abc", "-5", "99999999999999999999", "50ms",
					   " 50", "3600001" };
	char out[4096], expect[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(expect, sizeof(expect), "GREENHUB_STALL_MS='%s'", bad[i]);
		run_with_env_capturing_stderr(bad[i], out, sizeof(out));
		if (occurrences(out, expect) != 1 || occurrences(out, "greenhub:") != 1)
			fail_msg("for '%s' stderr said: %s", bad[i], out);
		/* Once per value: a second hub with the same setting says nothing more. */
		run_with_env_capturing_stderr(bad[i], out, sizeof(out));
		if (out[0])
			fail_msg("for '%s' a second time stderr said: %s", bad[i], out);
	}
	assert_no_report();
}

static void test_stall_opts_checked(void **state)
{
	static const uint64_t bad[] = { 1, GH_STALL_MIN_NS - 1, GH_STALL_MAX_NS + 1,
					GH_STALL_OFF - 1 };
	static const uint64_t good[] = { 0, GH_STALL_MIN_NS, GH_STALL_MAX_NS, GH_STALL_OFF };
	struct gh_hub_opts o;
	gh_hub *hub;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gh_hub_opts_init(&o);
		o.stall_ns = bad[i];
		errno = 0;
		assert_null(gh_hub_create(&o));
		assert_int_equal(errno, EINVAL);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		gh_hub_opts_init(&o);
		o.stall_ns = good[i];
		hub = gh_hub_create(&o);
		assert_non_null(hub);
		assert_int_equal(gh_hub_destroy(hub), 0);
	}
	/* A program built against a header without stall_ns: the environment decides. */
	gh_hub_opts_init(&o);
	o.sz = offsetof(struct gh_hub_opts, stall_ns);
	hub = gh_hub_create(&o);
	assert_non_null(hub);
	assert_int_equal(gh_hub_destroy(hub), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: it checks that nothing was installed, which is for the whole process. */
		cmocka_unit_test_setup_teardown(test_stall_off_by_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_bad_environment_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_opts_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_opts_off_overrides_environment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stall_spinner_reported_once_from_environment,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_spinner_reported_once_from_opts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stall_unmarked_block_reported_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stall_unmarked_sleep_reported_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stall_yield_loop_not_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_yielders_not_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_signal_of_the_application_no_backtrace,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_signal_blocked_no_backtrace, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
