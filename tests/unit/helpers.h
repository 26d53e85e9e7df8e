/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Shared helpers for the cmocka unit tests. */
#ifndef GREENHUB_TEST_HELPERS_H
#define GREENHUB_TEST_HELPERS_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Run fn(arg) as the main green thread of a fresh default hub; return its result. */
static inline void *run_in_hub(gh_fn fn, void *arg)
{
	gh_hub *hub = gh_hub_create(NULL);
	void *result = NULL;

	assert_non_null(hub);
	assert_int_equal(gh_hub_run(hub, fn, arg, &result), 0);
	assert_int_equal(gh_hub_destroy(hub), 0);
	return result;
}

/* Join t and return its result, failing the test if the join fails. */
static inline void *join_ok(gh_thread *t)
{
	void *result = NULL;

	assert_non_null(t);
	assert_int_equal(gh_join(t, &result), 0);
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
		_exit(0);
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
