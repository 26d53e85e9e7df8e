// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* fork() from green code: the child cannot touch the parent's hubs, and may run its own. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* What the child checks, as bits of its exit status (0: all as it should be). */
enum {
	BAD_YIELD = 1,      /* gh_yield() on the parent's hub did not say -EPERM */
	BAD_SELF = 2,       /* gh_self() named a thread */
	BAD_REGION = 4,     /* a marked call in the child failed or touched the parent's hub */
	BAD_NEW_HUB = 8,    /* a hub of the child's own did not run */
	BAD_MASK = 16,      /* the child's signal mask is not the application's */
	BAD_SLEEP = 32,     /* gh_sleep_until() on the parent's hub did not say -EPERM */
};

static int child_ticks;

static void *child_ticker(void *arg)
{
	for (int i = 0; i < 5; i++) {
		if (gh_sleep_until(gh_now() + MS(1)))
			return NULL;
		child_ticks++;
	}
	return NULL;
}

static void *child_hub_main(void *arg)
{
	return gh_join(gh_spawn(child_ticker, NULL), NULL) == 0 ? NULL : (void *)1;
}

/* The child's life after fork() from a green thread. */
static int child_checks(void)
{
	sigset_t mask;
	int bad = 0;
	gh_hub *hub;
	void *r = (void *)1;

	if (gh_yield() != -EPERM)
		bad |= BAD_YIELD;
	if (gh_sleep_until(gh_now() + MS(1)) != -EPERM)
		bad |= BAD_SLEEP;
	errno = 0;
	if (gh_self() || errno != EPERM)
		bad |= BAD_SELF;
	/* A marked blocking call is plain C here: it must run, and write nothing. */
	if (GH_BLOCKING(usleep(1000)) != 0)
		bad |= BAD_REGION;
	/* The application's mask (SIGUSR2 only), not the carrier's (which blocks the kick). */
	if (pthread_sigmask(SIG_BLOCK, NULL, &mask) || !sigismember(&mask, SIGUSR2) ||
	    sigismember(&mask, SIGRTMAX - 1))
		bad |= BAD_MASK;
	hub = gh_hub_create(NULL);
	if (!hub || gh_hub_run(hub, child_hub_main, NULL, &r) || r || child_ticks != 5)
		bad |= BAD_NEW_HUB;
	return bad;
}

static int parent_ticks;

static void *parent_ticker(void *arg)
{
	while (!*(volatile int *)arg) {
		gh_sleep_until(gh_now() + MS(1));
		parent_ticks++;
	}
	return NULL;
}

static void *fork_main(void *arg)
{
	int stop = 0, status, before;
	gh_thread *tick = gh_spawn(parent_ticker, &stop);
	pid_t pid;

	gh_sleep_until(gh_now() + MS(5));
	pid = fork();
	if (pid == 0)
		_exit(child_checks());
	if (check_true(pid > 0)) {
		/* The parent's hub goes on after the fork: its ticker ticks again. */
		before = parent_ticks;
		while (parent_ticks == before)
			gh_sleep_until(gh_now() + MS(2));
		while (waitpid(pid, &status, WNOHANG) == 0)
			gh_sleep_until(gh_now() + MS(2));
		check_true(WIFEXITED(status));
		check_msg(!WEXITSTATUS(status), "the child found problems: %#x",
			  WEXITSTATUS(status));
	}
	stop = 1;
	join_ok(tick);
	return NULL;
}

static void test_fork_child_has_no_hub_but_may_run_its_own(void **state)
{
	sigset_t usr2, old;

	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &usr2, &old), 0);
	run_in_hub(fork_main, NULL);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

/* A green thread that forks and, in the child, returns from its function: a clear abort. */
static void *return_in_child(void *arg)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		signal(SIGABRT, SIG_DFL);
		return NULL; /* in the child: nothing to return to */
	}
	waitpid(pid, &status, 0);
	return (void *)(intptr_t)status;
}

static void *return_main(void *arg)
{
	gh_thread *t = gh_spawn(return_in_child, NULL);
	void *status;

	gh_thread_set_name(t, "forker");
	check_int_equal(gh_join(t, &status), 0);
	return status;
}

static void test_fork_child_returning_from_green_thread_aborts(void **state)
{
	int err_pipe[2], status;
	char out[1024];
	ssize_t n;
	size_t got = 0;
	void *r;
	int saved = dup(STDERR_FILENO);

	/* The child's stderr, where its abort message goes. */
	assert_int_equal(pipe(err_pipe), 0);
	dup2(err_pipe[1], STDERR_FILENO);
	close(err_pipe[1]);
	r = run_in_hub(return_main, NULL);
	dup2(saved, STDERR_FILENO);
	close(saved);
	while ((n = read(err_pipe[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(err_pipe[0]);
	status = (int)(intptr_t)r;
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	if (!strstr(out, "'forker'") || !strstr(out, "fork()"))
		fail_msg("no clear message: %s", out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_child_has_no_hub_but_may_run_its_own),
		cmocka_unit_test(test_fork_child_returning_from_green_thread_aborts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
