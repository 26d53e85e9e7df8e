// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The offload pool: results, other green threads keep running, concurrency, cancel, misuse. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "helpers.h"

static void *square(void *arg)
{
	intptr_t v = (intptr_t)arg;

	return (void *)(v * v);
}

static void *which_thread(void *arg)
{
	*(pthread_t *)arg = pthread_self();
	return NULL;
}

static void *result_main(void *arg)
{
	gh_offload_pool *pool = gh_offload_pool_create(2);
	pthread_t worker;
	void *r = NULL;

	if (!check_non_null(pool))
		return NULL;
	check_int_equal(gh_offload(pool, square, (void *)(intptr_t)12, &r), 0);
	check_ptr_equal(r, (void *)(intptr_t)144);
	check_int_equal(gh_offload(pool, square, (void *)(intptr_t)3, NULL), 0);
	/* It ran on another OS thread. */
	check_int_equal(gh_offload(pool, which_thread, &worker, NULL), 0);
	check_false(pthread_equal(worker, pthread_self()));
	/* The process-wide pool. */
	check_int_equal(gh_offload(NULL, square, (void *)(intptr_t)-5, &r), 0);
	check_ptr_equal(r, (void *)(intptr_t)25);
	check_int_equal(gh_offload_pool_destroy(pool), 0);
	return NULL;
}

static void test_offload_returns_result(void **state)
{
	run_in_hub(result_main, NULL);
}

/* A job that blocks in the kernel until a green thread of the same hub unblocks it: it can
 * only finish if the hub keeps running while the job blocks. */
static int block_pipe[2];

static void *blocking_read(void *arg)
{
	char c = 0;
	ssize_t n;

	do
		n = read(block_pipe[0], &c, 1); /* a plain blocking read, on a worker */
	while (n < 0 && errno == EINTR);
	return (void *)(intptr_t)(n == 1 ? c : -1);
}

static void *unblocker(void *arg)
{
	/* Runs only if the hub is not stuck behind the offloaded read. */
	check_int_equal(gh_sleep_until(gh_now() + MS(1)), 0);
	check_int_equal(write(block_pipe[1], "k", 1), 1);
	return NULL;
}

static gh_offload_pool *busy_pool;

static void *destroy_while_busy(void *arg)
{
	check_int_equal(gh_offload_pool_destroy(busy_pool), -EBUSY);
	return NULL;
}

static void *blocking_main(void *arg)
{
	gh_thread *u, *d;
	void *r = NULL;

	if (!check_int_equal(pipe(block_pipe), 0)) /* blocking on purpose */
		return NULL;
	busy_pool = gh_offload_pool_create(1);
	if (!check_non_null(busy_pool))
		return NULL;
	u = gh_spawn(unblocker, NULL);
	d = gh_spawn(destroy_while_busy, NULL);
	check_int_equal(gh_offload(busy_pool, blocking_read, NULL, &r), 0);
	check_ptr_equal(r, (void *)(intptr_t)'k');
	join_ok(u);
	join_ok(d);
	check_int_equal(gh_offload_pool_destroy(busy_pool), 0);
	close(block_pipe[0]);
	close(block_pipe[1]);
	return NULL;
}

static void test_offload_only_caller_waits(void **state)
{
	run_in_hub(blocking_main, NULL);
}

#define CALLERS 100
#define CALLS 50

static gh_offload_pool *shared_pool;
static atomic_int max_concurrent, concurrent;

static void *slow_square(void *arg)
{
	int now = atomic_fetch_add(&concurrent, 1) + 1;
	int seen = atomic_load(&max_concurrent);

	while (now > seen && !atomic_compare_exchange_weak(&max_concurrent, &seen, now))
		;
	usleep(10);
	atomic_fetch_sub(&concurrent, 1);
	return square(arg);
}

static void *caller(void *arg)
{
	intptr_t base = (intptr_t)arg * 1000;

	for (intptr_t i = 0; i < CALLS; i++) {
		void *r = NULL;

		check_int_equal(gh_offload(shared_pool, slow_square, (void *)(base + i), &r), 0);
		check_ptr_equal(r, (void *)((base + i) * (base + i)));
	}
	return NULL;
}

static void *many_main(void *arg)
{
	gh_thread *t[CALLERS];

	atomic_store(&max_concurrent, 0);
	atomic_store(&concurrent, 0);
	shared_pool = gh_offload_pool_create(4);
	if (!check_non_null(shared_pool))
		return NULL;
	for (intptr_t i = 0; i < CALLERS; i++)
		t[i] = gh_spawn(caller, (void *)i);
	for (int i = 0; i < CALLERS; i++)
		join_ok(t[i]);
	/* Bounded: never more jobs at once than workers. */
	check_true(atomic_load(&max_concurrent) <= 4);
	check_true(atomic_load(&max_concurrent) >= 1);
	check_int_equal(gh_offload_pool_destroy(shared_pool), 0);
	return NULL;
}

static void test_offload_many_callers_bounded_workers(void **state)
{
	run_in_hub(many_main, NULL);
}

static int ran;

static void *count_run(void *arg)
{
	ran++;
	return NULL;
}

static gh_thread *canceller_target;

static void *cancel_later(void *arg)
{
	check_int_equal(gh_sleep_until(gh_now() + MS(1)), 0);
	check_int_equal(gh_cancel(canceller_target), 0);
	check_int_equal(write(block_pipe[1], "c", 1), 1);
	return NULL;
}

static void *cancel_main(void *arg)
{
	gh_offload_pool *pool = gh_offload_pool_create(1);
	gh_thread *c;
	void *r = NULL;

	if (!check_non_null(pool))
		return NULL;
	if (!check_int_equal(pipe(block_pipe), 0))
		return NULL;
	/* Cancelled while its job runs: the call still waits for the job and reports it. */
	canceller_target = gh_self();
	c = gh_spawn(cancel_later, NULL);
	check_int_equal(gh_offload(pool, blocking_read, NULL, &r), 0);
	check_ptr_equal(r, (void *)(intptr_t)'c');
	/* The cancellation shows at the next wait... */
	check_int_equal(gh_cancelled(), 1);
	check_int_equal(gh_sleep_until(gh_now() + MS(100)), -ECANCELED);
	/* ... and a cancelled caller's function never runs. */
	ran = 0;
	check_int_equal(gh_offload(pool, count_run, NULL, NULL), -ECANCELED);
	check_int_equal(ran, 0);
	join_ok(c);
	check_int_equal(gh_offload_pool_destroy(pool), 0);
	close(block_pipe[0]);
	close(block_pipe[1]);
	return NULL;
}

static void test_offload_cancel_waits_for_running_job(void **state)
{
	run_in_hub(cancel_main, NULL);
}

static void *misuse_main(void *arg)
{
	check_int_equal(gh_offload(NULL, NULL, NULL, NULL), -EINVAL);
	return NULL;
}

static void test_offload_misuse_rejected(void **state)
{
	gh_offload_pool *pool;

	errno = 0;
	assert_null(gh_offload_pool_create(0));
	assert_int_equal(errno, EINVAL);
	assert_null(gh_offload_pool_create(1025));
	assert_int_equal(gh_offload_pool_destroy(NULL), -EINVAL);
	ran = 0;
	assert_int_equal(gh_offload(NULL, count_run, NULL, NULL), -EPERM);
	assert_int_equal(ran, 0);
	run_in_hub(misuse_main, NULL);
	/* A pool that never ran anything is destroyed cleanly. */
	pool = gh_offload_pool_create(8);
	assert_non_null(pool);
	assert_int_equal(gh_offload_pool_destroy(pool), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offload_returns_result),
		cmocka_unit_test(test_offload_only_caller_waits),
		cmocka_unit_test(test_offload_many_callers_bounded_workers),
		cmocka_unit_test(test_offload_cancel_waits_for_running_job),
		cmocka_unit_test(test_offload_misuse_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
