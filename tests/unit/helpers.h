/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Shared helpers for the cmocka unit tests. */
#ifndef GREENHUB_TEST_HELPERS_H
#define GREENHUB_TEST_HELPERS_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "greenhub.h"

#define MS(n) ((uint64_t)(n) * 1000000u)

/* Which sanitizer the test is built with (gcc says it one way, clang another). */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif

/*
 * Checks for code that runs away from cmocka's thread.
 *
 * A cmocka assertion that fails jumps back into the test, on the OS thread cmocka runs it on.
 * Green code must never do that: once a handoff moved its hub to a spare carrier it runs on
 * another OS thread, whose stack the jump cannot return to, and even on cmocka's own thread the
 * jump would leave the hub running with nobody to finish it. Nor may the threads a test starts.
 *
 * So green code and other threads check with the check_*() macros below, the cmocka assertions'
 * twins. A failed check records "<what> at file:line" (the first one in full, later ones only
 * counted) and yields false, for code that must stop early to return at once; it never jumps.
 * The test then asserts on its own thread, once its hubs have returned and its threads are
 * joined, that no check failed: hub_run() and run_in_hub() do so, other tests call
 * assert_checks().
 */
static struct {
	atomic_uint failed;
	char first[1024];
} test_checks;

static inline __attribute__((format(printf, 4, 5))) bool
check_that(bool ok, const char *file, int line, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (ok)
		return true;
	if (atomic_fetch_add(&test_checks.failed, 1) == 0) {
		va_start(ap, fmt);
		vsnprintf(test_checks.first, sizeof(test_checks.first), fmt, ap);
		va_end(ap);
		used = strlen(test_checks.first);
		snprintf(test_checks.first + used, sizeof(test_checks.first) - used, " at %s:%d",
			 file, line);
	}
	return false;
}

/* Integers compare as cmocka's do: both converted to its largest unsigned type. */
static inline bool check_int_at(uintmax_t a, uintmax_t b, bool equal, const char *what,
				const char *file, int line)
{
	return check_that((a == b) == equal, file, line, "%s (%jd and %jd)", what, (intmax_t)a,
			  (intmax_t)b);
}

static inline bool check_string_at(const char *a, const char *b, const char *what,
				   const char *file, int line)
{
	return check_that(a && b && !strcmp(a, b), file, line, "%s (\"%s\", \"%s\")", what,
			  a ? a : "(null)", b ? b : "(null)");
}

#define check_true(c) check_that(!!(c), __FILE__, __LINE__, "%s", #c)
#define check_false(c) check_that(!(c), __FILE__, __LINE__, "!(%s)", #c)
#define check_non_null(p) check_that((p) != NULL, __FILE__, __LINE__, "%s != NULL", #p)
#define check_null(p) check_that((p) == NULL, __FILE__, __LINE__, "%s == NULL", #p)
#define check_ptr_equal(a, b)                                                              \
	check_that((const void *)(a) == (const void *)(b), __FILE__, __LINE__, "%s == %s", #a, #b)
#define check_int_equal(a, b)                                                              \
	check_int_at((uintmax_t)(a), (uintmax_t)(b), true, #a " == " #b, __FILE__, __LINE__)
#define check_int_not_equal(a, b)                                                          \
	check_int_at((uintmax_t)(a), (uintmax_t)(b), false, #a " != " #b, __FILE__, __LINE__)
#define check_string_equal(a, b) check_string_at(a, b, #a " == " #b, __FILE__, __LINE__)
#define check_memory_equal(a, b, n)                                                        \
	check_that(!memcmp(a, b, n), __FILE__, __LINE__, "%s == %s (%zu bytes)", #a, #b,     \
		   (size_t)(n))
/* cond, or the message: for what a cmocka test would say with fail_msg(). */
#define check_msg(cond, ...) check_that(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* On cmocka's thread, with every hub returned and every thread joined: fail the test if a check
 * failed meanwhile (and start counting afresh). */
static inline void assert_checks(void)
{
	unsigned n = atomic_exchange(&test_checks.failed, 0);

	if (n > 1)
		fail_msg("check failed: %s (and %u more)", test_checks.first, n - 1);
	if (n)
		fail_msg("check failed: %s", test_checks.first);
}

/* Where no cmocka runs (a forked child): print the first failed check to stderr; how many. */
static inline unsigned report_checks(void)
{
	unsigned n = atomic_load(&test_checks.failed);

	if (n)
		fprintf(stderr, "check failed: %s (%u in all)\n", test_checks.first, n);
	return n;
}

/* gh_hub_run on cmocka's thread, then assert_checks(): gh_hub_run's result. */
static inline int hub_run(gh_hub *hub, gh_fn fn, void *arg, void **result)
{
	int err = gh_hub_run(hub, fn, arg, result);

	assert_checks();
	return err;
}

/* Run fn(arg) as the main green thread of a fresh default hub; return its result. */
static inline void *run_in_hub(gh_fn fn, void *arg)
{
	gh_hub *hub = gh_hub_create(NULL);
	void *result = NULL;

	assert_non_null(hub);
	assert_int_equal(hub_run(hub, fn, arg, &result), 0);
	assert_int_equal(gh_hub_destroy(hub), 0);
	return result;
}

/* From green code: join t and return its result; a failed join is a failed check (at the
 * caller's line) and gives NULL. */
#define join_ok(t) join_ok_at(t, __FILE__, __LINE__)

static inline void *join_ok_at(gh_thread *t, const char *file, int line)
{
	void *result = NULL;
	int err;

	if (!check_that(t != NULL, file, line, "a thread to join"))
		return NULL;
	err = gh_join(t, &result);
	check_that(err == 0, file, line, "gh_join: %s", gh_strerror(err));
	return result;
}

/*
 * Run main_fn as the main green thread of a hub with opts (NULL: defaults) in a forked child,
 * for tests of what must kill a process. The child's stderr is captured into out
 * (NUL-terminated, cap bytes at most) and its wait status returned. The child restores the
 * default SIGSEGV and SIGABRT actions, which cmocka catches, so it dies of them like any
 * program.
 */
static inline int run_hub_in_child(gh_fn main_fn, const struct gh_hub_opts *opts, char *out,
				   size_t cap)
{
	int err_pipe[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(err_pipe), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(err_pipe[1], STDERR_FILENO);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		gh_hub_run(gh_hub_create(opts), main_fn, NULL, NULL);
		_exit(report_checks() ? 1 : 0);
	}
	close(err_pipe[1]);
	while ((n = read(err_pipe[0], out + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(err_pipe[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

#endif
