// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Subprocesses: output, input, exit status, signals, deadlines, cancellation, misuse. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* Read fd to end of file into buf (NUL-terminated); returns the length. */
static size_t read_to_eof(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while ((n = gh_read(fd, buf + len, cap - 1 - len, GH_NEVER)) > 0)
		len += (size_t)n;
	check_int_equal(n, 0);
	buf[len] = '\0';
	return len;
}

static gh_proc *start(char *const argv[], unsigned flags)
{
	gh_proc *p = gh_proc_create(argv, NULL, flags);

	check_non_null(p);
	check_true(gh_proc_pid(p) > 0);
	return p;
}

static int wait_status(gh_proc *p)
{
	int status = -1;

	check_int_equal(gh_proc_wait(p, &status, GH_NEVER), 0);
	return status;
}

static int ticks;

static void *ticker(void *arg)
{
	for (;;) {
		if (gh_sleep_until(gh_now() + MS(1)) < 0)
			return NULL;
		ticks++;
	}
}

static void *output_main(void *arg)
{
	char *argv[] = { "sh", "-c", "sleep 0.05; echo hello; echo oops >&2; exit 3", NULL };
	char out[64], err[64];
	gh_thread *tick;
	gh_proc *p;
	int status;

	ticks = 0;
	tick = gh_spawn(ticker, NULL);
	p = start(argv, GH_PROC_STDOUT | GH_PROC_STDERR);
	check_int_equal(gh_proc_stdin(p), -EBADF);
	read_to_eof(gh_proc_stdout(p), out, sizeof(out));
	read_to_eof(gh_proc_stderr(p), err, sizeof(err));
	check_string_equal(out, "hello\n");
	check_string_equal(err, "oops\n");
	status = wait_status(p);
	check_true(WIFEXITED(status));
	check_int_equal(WEXITSTATUS(status), 3);
	/* Waiting again gives the same status at once. */
	check_int_equal(gh_proc_wait(p, &status, 0), 0);
	check_int_equal(WEXITSTATUS(status), 3);
	/* The hub kept running while the child ran. */
	check_true(ticks > 0);
	check_int_equal(gh_cancel(tick), 0);
	join_ok(tick);
	check_int_equal(gh_proc_destroy(p), 0);
	return NULL;
}

static void test_proc_output_and_exit_status(void **state)
{
	run_in_hub(output_main, NULL);
}

static void *input_main(void *arg)
{
	char *argv[] = { "tr", "a-z", "A-Z", NULL };
	char *merge_argv[] = { "sh", "-c", "echo out; echo err >&2", NULL };
	char out[64];
	gh_proc *p;

	p = start(argv, GH_PROC_STDIN | GH_PROC_STDOUT);
	check_int_equal(gh_write(gh_proc_stdin(p), "green threads\n", 14, GH_NEVER), 14);
	/* Closing its input gives the child end of file. */
	check_int_equal(gh_proc_close_pipe(p, GH_PROC_STDIN), 0);
	check_int_equal(gh_proc_close_pipe(p, GH_PROC_STDIN), -EBADF);
	check_int_equal(gh_proc_stdin(p), -EBADF);
	read_to_eof(gh_proc_stdout(p), out, sizeof(out));
	check_string_equal(out, "GREEN THREADS\n");
	check_int_equal(wait_status(p), 0);
	check_int_equal(gh_proc_destroy(p), 0);

	p = start(merge_argv, GH_PROC_STDOUT | GH_PROC_MERGE_STDERR);
	read_to_eof(gh_proc_stdout(p), out, sizeof(out));
	check_string_equal(out, "out\nerr\n");
	check_int_equal(wait_status(p), 0);
	check_int_equal(gh_proc_destroy(p), 0);
	return NULL;
}

static void test_proc_stdin_pipe_and_merged_stderr(void **state)
{
	run_in_hub(input_main, NULL);
}

static void *kill_main(void *arg)
{
	char *argv[] = { "sleep", "100", NULL };
	gh_proc *p = start(argv, 0);
	int status;

	check_int_equal(gh_proc_wait(p, &status, 0), -ETIMEDOUT);
	check_int_equal(gh_proc_wait(p, &status, gh_now() + MS(5)), -ETIMEDOUT);
	/* A child not yet waited for cannot be destroyed: it would be left a zombie. */
	check_int_equal(gh_proc_destroy(p), -EBUSY);
	check_int_equal(gh_proc_kill(p, SIGTERM), 0);
	status = wait_status(p);
	check_true(WIFSIGNALED(status));
	check_int_equal(WTERMSIG(status), SIGTERM);
	check_int_equal(gh_proc_kill(p, SIGTERM), -ESRCH);
	check_int_equal(gh_proc_destroy(p), 0);
	return NULL;
}

static void test_proc_deadline_and_kill(void **state)
{
	run_in_hub(kill_main, NULL);
}

static gh_proc *cancel_proc;

static void *wait_for_proc(void *arg)
{
	return (void *)(intptr_t)gh_proc_wait(cancel_proc, NULL, GH_NEVER);
}

static void *cancel_main(void *arg)
{
	char *argv[] = { "sleep", "100", NULL };
	gh_thread *w;

	cancel_proc = start(argv, 0);
	w = gh_spawn(wait_for_proc, NULL);
	check_int_equal(gh_sleep_until(gh_now() + MS(1)), 0);
	check_int_equal(gh_cancel(w), 0);
	check_int_equal((intptr_t)join_ok(w), -ECANCELED);
	check_int_equal(gh_proc_kill(cancel_proc, SIGKILL), 0);
	check_true(WIFSIGNALED(wait_status(cancel_proc)));
	check_int_equal(gh_proc_destroy(cancel_proc), 0);
	return NULL;
}

static void test_proc_cancel_waiter(void **state)
{
	run_in_hub(cancel_main, NULL);
}

static void *parallel_main(void *arg)
{
	gh_proc *p[10];

	/* Ten children at once, waited for in the reverse order of their start. */
	for (int i = 0; i < 10; i++) {
		char *argv[] = { "sleep", "0.02", NULL };

		p[i] = start(argv, 0);
	}
	for (int i = 9; i >= 0; i--) {
		check_int_equal(wait_status(p[i]), 0);
		check_int_equal(gh_proc_destroy(p[i]), 0);
	}
	return NULL;
}

static void test_proc_many_children(void **state)
{
	run_in_hub(parallel_main, NULL);
}

static void *misuse_main(void *arg)
{
	check_int_equal(gh_proc_wait(NULL, NULL, GH_NEVER), -EINVAL);
	return NULL;
}

static void test_proc_misuse_rejected(void **state)
{
	char *missing[] = { "/nonexistent/greenhub-test-program", NULL };
	char *empty[] = { NULL };
	char *ok[] = { "true", NULL };

	errno = 0;
	assert_null(gh_proc_create(missing, NULL, 0));
	assert_int_equal(errno, ENOENT);
	assert_null(gh_proc_create(empty, NULL, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(gh_proc_create(NULL, NULL, 0));
	assert_null(gh_proc_create(ok, NULL, 0x100));
	assert_null(gh_proc_create(ok, NULL, GH_PROC_STDERR | GH_PROC_MERGE_STDERR));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(gh_proc_destroy(NULL), -EINVAL);
	assert_int_equal(gh_proc_pid(NULL), -EINVAL);
	assert_int_equal(gh_proc_stdout(NULL), -EINVAL);
	assert_int_equal(gh_proc_kill(NULL, SIGTERM), -EINVAL);
	assert_int_equal(gh_proc_close_pipe(NULL, GH_PROC_STDIN), -EINVAL);
	run_in_hub(misuse_main, NULL);
}

static void *outside_then_inside(void *arg)
{
	gh_proc *p = arg;

	check_int_equal(wait_status(p), 0);
	check_int_equal(gh_proc_close_pipe(p, 0x40), -EINVAL);
	check_int_equal(gh_proc_destroy(p), 0);
	return NULL;
}

static void test_proc_create_outside_hub(void **state)
{
	char *argv[] = { "true", NULL };
	gh_proc *p = gh_proc_create(argv, NULL, 0);

	assert_non_null(p);
	/* Waiting needs a hub. */
	assert_int_equal(gh_proc_wait(p, NULL, GH_NEVER), -EPERM);
	run_in_hub(outside_then_inside, p);
}

/* A child started by green code that runs on a spare carrier gets the application's signal
 * mask, not what the runtime's threads block: here only SIGUSR2 (bit 12). */
static void *block_a_while(void *arg)
{
	GH_BLOCKING(usleep(300000));
	return NULL;
}

static void *mask_main(void *arg)
{
	/* grep itself: a shell would set its own mask. */
	char *argv[] = { "grep", "SigBlk", "/proc/self/status", NULL };
	pid_t first = gettid();
	char out[128];
	gh_thread *b;
	gh_proc *p;

	b = gh_spawn(block_a_while, NULL);
	/* The blocker's region outlives the sysmon's ticks: a spare runs the hub meanwhile, and
	 * runs this thread when its sleep ends. */
	check_int_equal(gh_sleep_until(gh_now() + MS(100)), 0);
	check_true(gettid() != first);
	p = start(argv, GH_PROC_STDOUT);
	read_to_eof(gh_proc_stdout(p), out, sizeof(out));
	check_int_equal(wait_status(p), 0);
	gh_proc_destroy(p);
	join_ok(b);
	check_msg(strstr(out, "SigBlk:\t0000000000000800"),
		  "the child's mask is not the application's: %s", out);
	return NULL;
}

static void test_proc_child_gets_application_mask(void **state)
{
	sigset_t usr2, old;

	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &usr2, &old), 0);
	run_in_hub(mask_main, NULL);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proc_output_and_exit_status),
		cmocka_unit_test(test_proc_stdin_pipe_and_merged_stderr),
		cmocka_unit_test(test_proc_deadline_and_kill),
		cmocka_unit_test(test_proc_cancel_waiter),
		cmocka_unit_test(test_proc_many_children),
		cmocka_unit_test(test_proc_misuse_rejected),
		cmocka_unit_test(test_proc_create_outside_hub),
		cmocka_unit_test(test_proc_child_gets_application_mask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
