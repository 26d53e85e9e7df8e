// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* gh_wait_fd: readiness, deadlines, bad input, several waiters, hangups, regular files. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <limits.h>

#include "helpers.h"

static int p[2];

static void open_pipe(void)
{
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static void close_pipe(void)
{
	close(p[0]);
	close(p[1]);
}

static void *write_later(void *arg)
{
	check_int_equal(gh_sleep_until(gh_now() + MS(5)), 0);
	check_int_equal(write(p[1], "x", 1), 1);
	return NULL;
}

static void *readiness_main(void *arg)
{
	gh_thread *w = gh_spawn(write_later, NULL);
	char c;

	check_int_equal(gh_wait_fd(p[0], GH_IN, GH_NEVER), GH_IN);
	check_int_equal(read(p[0], &c, 1), 1);
	/* An empty pipe is writable at once. */
	check_int_equal(gh_wait_fd(p[1], GH_OUT, GH_NEVER), GH_OUT);
	join_ok(w);
	return NULL;
}

static void test_poller_wait_fd_readiness(void **state)
{
	open_pipe();
	run_in_hub(readiness_main, NULL);
	close_pipe();
}

static void *timeout_main(void *arg)
{
	uint64_t deadline = gh_now() + MS(5);

	check_int_equal(gh_wait_fd(p[0], GH_IN, deadline), -ETIMEDOUT);
	check_true(gh_now() >= deadline);
	/* A past deadline still reports readiness that is already there... */
	check_int_equal(write(p[1], "x", 1), 1);
	check_int_equal(gh_wait_fd(p[0], GH_IN, 0), GH_IN);
	/* ...and times out at once when there is none. */
	check_int_equal(gh_wait_fd(p[1], GH_OUT, 0), GH_OUT);
	char c;
	check_int_equal(read(p[0], &c, 1), 1);
	check_int_equal(gh_wait_fd(p[0], GH_IN, 0), -ETIMEDOUT);
	return NULL;
}

static void test_poller_wait_fd_deadlines(void **state)
{
	open_pipe();
	run_in_hub(timeout_main, NULL);
	close_pipe();
}

static void *bad_input_main(void *arg)
{
	int closed = dup(0);

	close(closed);
	check_int_equal(gh_wait_fd(-1, GH_IN, GH_NEVER), -EBADF);
	check_int_equal(gh_wait_fd(closed, GH_IN, GH_NEVER), -EBADF);
	check_int_equal(gh_wait_fd(p[0], 0, GH_NEVER), -EINVAL);
	check_int_equal(gh_wait_fd(p[0], GH_IN | 0x100, GH_NEVER), -EINVAL);
	check_int_equal(gh_wait_fd(p[0], GH_ERR, GH_NEVER), -EINVAL);
	return NULL;
}

static void test_poller_wait_fd_bad_input(void **state)
{
	open_pipe();
	run_in_hub(bad_input_main, NULL);
	close_pipe();
}

static void *regular_file_main(void *arg)
{
	char path[] = "/tmp/greenhub-test-XXXXXX";
	int fd = mkstemp(path);

	check_true(fd >= 0);
	unlink(path);
	check_int_equal(gh_wait_fd(fd, GH_IN | GH_OUT, GH_NEVER), GH_IN | GH_OUT);
	close(fd);
	return NULL;
}

static void test_poller_regular_file_always_ready(void **state)
{
	run_in_hub(regular_file_main, NULL);
}

static void *hangup_main(void *arg)
{
	int r;

	close(p[1]);
	p[1] = -1;
	r = gh_wait_fd(p[0], GH_IN, GH_NEVER);
	check_true(r & GH_HUP);
	return NULL;
}

static void test_poller_hangup_reported(void **state)
{
	open_pipe();
	run_in_hub(hangup_main, NULL);
	close(p[0]);
}

static int read_order[3];
static int nread;

static void *read_one_byte(void *arg)
{
	char c;

	check_int_equal(gh_wait_fd(p[0], GH_IN, GH_NEVER), GH_IN);
	check_int_equal(read(p[0], &c, 1), 1);
	read_order[nread++] = (int)(intptr_t)arg;
	return NULL;
}

static void *fifo_main(void *arg)
{
	gh_thread *t[3];

	for (intptr_t i = 0; i < 3; i++)
		t[i] = gh_spawn(read_one_byte, (void *)i);
	gh_yield(); /* all three wait, in spawn order */
	for (int i = 0; i < 3; i++) {
		check_int_equal(write(p[1], "x", 1), 1);
		check_int_equal(gh_sleep_until(gh_now() + MS(2)), 0);
	}
	for (int i = 0; i < 3; i++)
		join_ok(t[i]);
	return NULL;
}

static void test_poller_waiters_woken_in_fifo_order(void **state)
{
	nread = 0;
	open_pipe();
	run_in_hub(fifo_main, NULL);
	close_pipe();
	assert_int_equal(nread, 3);
	assert_int_equal(read_order[0], 0);
	assert_int_equal(read_order[1], 1);
	assert_int_equal(read_order[2], 2);
}

static void *os_thread_writer(void *arg)
{
	usleep(10000);
	check_int_equal(write(p[1], "x", 1), 1);
	return NULL;
}

static int got_byte;

static void *reader(void *arg)
{
	check_int_equal(gh_wait_fd(p[0], GH_IN, GH_NEVER), GH_IN);
	got_byte = 1;
	return NULL;
}

static void *yielder(void *arg)
{
	while (!got_byte)
		gh_yield();
	return NULL;
}

static void *busy_poll_main(void *arg)
{
	gh_thread *r = gh_spawn(reader, NULL), *y = gh_spawn(yielder, NULL);
	pthread_t th;

	check_int_equal(pthread_create(&th, NULL, os_thread_writer, NULL), 0);
	join_ok(r);
	join_ok(y);
	pthread_join(th, NULL);
	return NULL;
}

static void test_poller_io_seen_while_others_yield(void **state)
{
	/* The yielder never lets the hub sleep; the poll between rounds must still see the
	 * byte written by another OS thread. */
	got_byte = 0;
	open_pipe();
	run_in_hub(busy_poll_main, NULL);
	close_pipe();
	assert_int_equal(got_byte, 1);
}

static void *high_fd_main(void *arg)
{
	gh_thread *r = gh_spawn(reader, NULL);
	int high;

	gh_yield(); /* reader waits on a low fd */
	/* Waiting on a much higher fd grows the fd table under the waiting reader. */
	high = dup2(p[1], 900);
	check_int_equal(high, 900);
	check_int_equal(gh_wait_fd(high, GH_OUT, GH_NEVER), GH_OUT);
	check_int_equal(write(high, "x", 1), 1);
	join_ok(r);
	close(high);
	return NULL;
}

static void test_poller_fd_table_growth_keeps_waiters(void **state)
{
	got_byte = 0;
	open_pipe();
	run_in_hub(high_fd_main, NULL);
	close_pipe();
	assert_int_equal(got_byte, 1);
}

static void *both_directions_main(void *arg)
{
	int r = gh_wait_fd(p[1], GH_IN | GH_OUT, GH_NEVER);

	check_true(r & GH_OUT);
	return NULL;
}

static void test_poller_wait_both_directions(void **state)
{
	open_pipe();
	run_in_hub(both_directions_main, NULL);
	close_pipe();
}

/* An fd number the process does not have is refused before the per-fd table grows to it
 * (10,000,000 cost 394 MB first; INT_MAX asked for 48 GiB). */
static void *huge_fd_main(void *arg)
{
	check_int_equal(gh_wait_fd(10000000, GH_IN, GH_NEVER), -EBADF);
	check_int_equal(gh_wait_fd(INT_MAX, GH_IN, GH_NEVER), -EBADF);
	check_int_equal(gh_wait_fd(-1, GH_IN, GH_NEVER), -EBADF);
	return NULL;
}

static void test_poller_huge_fd_rejected(void **state)
{
	run_in_hub(huge_fd_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poller_wait_fd_readiness),
		cmocka_unit_test(test_poller_wait_fd_deadlines),
		cmocka_unit_test(test_poller_wait_fd_bad_input),
		cmocka_unit_test(test_poller_regular_file_always_ready),
		cmocka_unit_test(test_poller_hangup_reported),
		cmocka_unit_test(test_poller_waiters_woken_in_fifo_order),
		cmocka_unit_test(test_poller_io_seen_while_others_yield),
		cmocka_unit_test(test_poller_fd_table_growth_keeps_waiters),
		cmocka_unit_test(test_poller_wait_both_directions),
		cmocka_unit_test(test_poller_huge_fd_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
