// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Green pools: the size limit, waiting spawners in FIFO order, waitall, cancel, misuse. */
#include "helpers.h"

static gh_pool *pool;
static int running_now, most_running, finished;
static int start_order[256], started;

static void *pool_job(void *arg)
{
	start_order[started++] = (int)(intptr_t)arg;
	running_now++;
	if (running_now > most_running)
		most_running = running_now;
	check_true((size_t)running_now <= gh_pool_running(pool));
	check_int_equal(gh_sleep_until(gh_now() + MS(1)), 0);
	running_now--;
	finished++;
	return NULL;
}

static int spawner_order[8], spawners_done;

static void reset_counters(void)
{
	running_now = most_running = finished = started = spawners_done = 0;
}

static void *limit_main(void *arg)
{
	reset_counters();
	pool = gh_pool_create(4);
	if (!check_non_null(pool))
		return NULL;
	check_int_equal(gh_pool_available(pool), 4);
	check_int_equal(gh_pool_waitall(pool, GH_NEVER), 0); /* nothing runs */
	for (intptr_t i = 0; i < 100; i++)
		check_int_equal(gh_pool_spawn(pool, pool_job, (void *)i, GH_NEVER), 0);
	check_int_equal(gh_pool_waitall(pool, GH_NEVER), 0);
	check_int_equal(finished, 100);
	check_int_equal(most_running, 4);
	check_int_equal(gh_pool_running(pool), 0);
	check_int_equal(gh_pool_available(pool), 4);
	for (int i = 0; i < 100; i++)
		check_int_equal(start_order[i], i);
	check_int_equal(gh_pool_destroy(pool), 0);
	return NULL;
}

static void test_pool_never_exceeds_size(void **state)
{
	run_in_hub(limit_main, NULL);
}

static void *spawner(void *arg)
{
	int err = gh_pool_spawn(pool, pool_job, arg, GH_NEVER);

	spawner_order[spawners_done++] = (int)(intptr_t)arg;
	return (void *)(intptr_t)err;
}

static void *fifo_spawners_main(void *arg)
{
	gh_thread *s[8];

	reset_counters();
	pool = gh_pool_create(1);
	if (!check_non_null(pool))
		return NULL;
	check_int_equal(gh_pool_spawn(pool, pool_job, (void *)(intptr_t)100, GH_NEVER), 0);
	check_int_equal(gh_pool_available(pool), 0);
	for (intptr_t i = 0; i < 8; i++)
		s[i] = gh_spawn(spawner, (void *)i);
	check_int_equal(gh_yield(), 0);
	/* Full, and spawners wait: a late spawn cannot jump the queue, and gives up. */
	check_int_equal(gh_pool_spawn(pool, pool_job, NULL, 0), -ETIMEDOUT);
	check_int_equal(gh_pool_spawn(pool, pool_job, NULL, gh_now() + MS(1)), -ETIMEDOUT);
	check_int_equal(gh_pool_destroy(pool), -EBUSY);
	for (int i = 0; i < 8; i++)
		check_int_equal((intptr_t)join_ok(s[i]), 0);
	check_int_equal(gh_pool_waitall(pool, GH_NEVER), 0);
	check_int_equal(finished, 9);
	for (int i = 0; i < 8; i++) {
		check_int_equal(spawner_order[i], i);
		check_int_equal(start_order[i + 1], i);
	}
	check_int_equal(gh_pool_destroy(pool), 0);
	return NULL;
}

static void test_pool_spawners_wait_in_fifo_order(void **state)
{
	run_in_hub(fifo_spawners_main, NULL);
}

static void *sleep_forever(void *arg)
{
	int err = gh_sleep_until(GH_NEVER - 1);

	check_int_equal(err, -ECANCELED);
	finished++;
	return NULL;
}

static void *waitall_in_pool(void *arg)
{
	check_int_equal(gh_pool_waitall(pool, GH_NEVER), -EDEADLK);
	finished++;
	return NULL;
}

static void *waitall_outside(void *arg)
{
	return (void *)(intptr_t)gh_pool_waitall(pool, GH_NEVER);
}

static void *cancel_main(void *arg)
{
	gh_thread *s;

	reset_counters();
	pool = gh_pool_create(3);
	if (!check_non_null(pool))
		return NULL;
	check_int_equal(gh_pool_spawn(pool, sleep_forever, NULL, GH_NEVER), 0);
	check_int_equal(gh_pool_spawn(pool, sleep_forever, NULL, GH_NEVER), 0);
	check_int_equal(gh_pool_spawn(pool, waitall_in_pool, NULL, GH_NEVER), 0);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_pool_running(pool), 2);
	check_int_equal(gh_pool_waitall(pool, 0), -ETIMEDOUT);
	check_int_equal(gh_pool_waitall(pool, gh_now() + MS(1)), -ETIMEDOUT);
	/* A spawner waiting on the full pool can be cancelled too. */
	check_int_equal(gh_pool_spawn(pool, sleep_forever, NULL, GH_NEVER), 0);
	s = gh_spawn(spawner, NULL);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_cancel(s), 0);
	check_int_equal((intptr_t)join_ok(s), -ECANCELED);
	/* So can a green thread waiting for the pool to empty. */
	s = gh_spawn(waitall_outside, NULL);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_cancel(s), 0);
	check_int_equal((intptr_t)join_ok(s), -ECANCELED);
	check_int_equal(gh_pool_cancel(pool), 3);
	check_int_equal(gh_pool_waitall(pool, GH_NEVER), 0);
	check_int_equal(finished, 4);
	check_int_equal(gh_pool_cancel(pool), 0);
	check_int_equal(gh_pool_destroy(pool), 0);
	return NULL;
}

static void test_pool_cancel_and_waitall(void **state)
{
	run_in_hub(cancel_main, NULL);
}

static void *misuse_main(void *arg)
{
	pool = gh_pool_create(2);
	if (!check_non_null(pool))
		return NULL;
	check_int_equal(gh_pool_spawn(NULL, pool_job, NULL, GH_NEVER), -EINVAL);
	check_int_equal(gh_pool_spawn(pool, NULL, NULL, GH_NEVER), -EINVAL);
	check_int_equal(gh_pool_waitall(NULL, GH_NEVER), -EINVAL);
	check_int_equal(gh_pool_cancel(NULL), -EINVAL);
	check_int_equal(gh_pool_destroy(NULL), -EINVAL);
	check_int_equal(gh_pool_available(NULL), 0);
	check_int_equal(gh_pool_running(NULL), 0);
	check_int_equal(gh_cancel(gh_self()), 0);
	/* A failed spawn never runs its function. */
	reset_counters();
	check_int_equal(gh_pool_spawn(pool, pool_job, NULL, GH_NEVER), -ECANCELED);
	check_int_equal(gh_pool_running(pool), 0);
	check_int_equal(gh_pool_waitall(pool, GH_NEVER), -ECANCELED);
	check_int_equal(gh_pool_destroy(pool), 0);
	return NULL;
}

static void test_pool_misuse_rejected(void **state)
{
	gh_pool *p;

	errno = 0;
	assert_null(gh_pool_create(0));
	assert_int_equal(errno, EINVAL);
	run_in_hub(misuse_main, NULL);
	assert_int_equal(started, 0);
	p = gh_pool_create(1);
	assert_non_null(p);
	assert_int_equal(gh_pool_spawn(p, pool_job, NULL, GH_NEVER), -EPERM);
	assert_int_equal(gh_pool_waitall(p, GH_NEVER), -EPERM);
	assert_int_equal(gh_pool_cancel(p), -EPERM);
	assert_int_equal(gh_pool_destroy(p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_never_exceeds_size),
		cmocka_unit_test(test_pool_spawners_wait_in_fifo_order),
		cmocka_unit_test(test_pool_cancel_and_waitall),
		cmocka_unit_test(test_pool_misuse_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
