// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Semaphores: counting, bounded, FIFO handoff, deadlines, cancellation, misuse. */
#include <limits.h>

#include "helpers.h"

static gh_sem *sem;
static int active, most_active;
static int order[64], order_len;

static void *use_unit(void *arg)
{
	check_int_equal(gh_sem_acquire(sem, GH_NEVER), 0);
	order[order_len++] = (int)(intptr_t)arg;
	active++;
	if (active > most_active)
		most_active = active;
	check_int_equal(gh_sleep_until(gh_now() + MS(1)), 0);
	active--;
	check_int_equal(gh_sem_release(sem), 0);
	return NULL;
}

static void *counting_main(void *arg)
{
	gh_thread *t[40];

	sem = gh_sem_create(3, 0);
	if (!check_non_null(sem))
		return NULL;
	active = most_active = order_len = 0;
	for (intptr_t i = 0; i < 40; i++)
		t[i] = gh_spawn(use_unit, (void *)i);
	for (int i = 0; i < 40; i++)
		join_ok(t[i]);
	/* Never more than three at once, and all three units were used. */
	check_int_equal(most_active, 3);
	/* Served in arrival order. */
	for (int i = 0; i < 40; i++)
		check_int_equal(order[i], i);
	check_int_equal(gh_sem_value(sem), 3);
	/* An unbounded semaphore counts up past its start. */
	check_int_equal(gh_sem_release(sem), 0);
	check_int_equal(gh_sem_value(sem), 4);
	check_int_equal(gh_sem_destroy(sem), 0);
	return NULL;
}

static void test_sem_counting_limits_concurrency(void **state)
{
	run_in_hub(counting_main, NULL);
}

static void *waiter(void *arg)
{
	return (void *)(intptr_t)gh_sem_acquire(sem, *(uint64_t *)arg);
}

static void *bounded_main(void *arg)
{
	gh_thread *w;

	sem = gh_sem_create(1, 2);
	if (!check_non_null(sem))
		return NULL;
	check_int_equal(gh_sem_release(sem), 0);
	/* A release beyond the bound is refused: it had no matching acquire. */
	check_int_equal(gh_sem_release(sem), -EOVERFLOW);
	check_int_equal(gh_sem_value(sem), 2);
	check_int_equal(gh_sem_tryacquire(sem), 0);
	check_int_equal(gh_sem_tryacquire(sem), 0);
	check_int_equal(gh_sem_tryacquire(sem), -EAGAIN);
	/* A release with a waiter hands the unit over: the value stays 0 and a trylock fails. */
	w = gh_spawn(waiter, &(uint64_t){ GH_NEVER });
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_sem_release(sem), 0);
	check_int_equal(gh_sem_value(sem), 0);
	check_int_equal(gh_sem_tryacquire(sem), -EAGAIN);
	check_int_equal((intptr_t)join_ok(w), 0);
	check_int_equal(gh_sem_release(sem), 0);
	check_int_equal(gh_sem_release(sem), 0);
	check_int_equal(gh_sem_release(sem), -EOVERFLOW);
	check_int_equal(gh_sem_destroy(sem), 0);
	return NULL;
}

static void test_sem_bounded_refuses_extra_release(void **state)
{
	run_in_hub(bounded_main, NULL);
}

static void *deadline_cancel_main(void *arg)
{
	gh_thread *w, *next;

	sem = gh_sem_create(0, 1);
	if (!check_non_null(sem))
		return NULL;
	check_int_equal(gh_sem_acquire(sem, gh_now() - 1), -ETIMEDOUT);
	check_int_equal(gh_sem_acquire(sem, 0), -ETIMEDOUT);
	check_int_equal(gh_sem_acquire(sem, gh_now() + MS(2)), -ETIMEDOUT);
	w = gh_spawn(waiter, &(uint64_t){ GH_NEVER });
	next = gh_spawn(waiter, &(uint64_t){ GH_NEVER });
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_sem_destroy(sem), -EBUSY);
	check_int_equal(gh_cancel(w), 0);
	check_int_equal((intptr_t)join_ok(w), -ECANCELED);
	/* The cancelled waiter left the queue: the unit goes to the next one. */
	check_int_equal(gh_sem_release(sem), 0);
	check_int_equal((intptr_t)join_ok(next), 0);
	check_int_equal(gh_sem_value(sem), 0);
	/* A free unit is taken whatever the deadline. */
	check_int_equal(gh_sem_release(sem), 0);
	check_int_equal(gh_sem_acquire(sem, 0), 0);
	check_int_equal(gh_sem_destroy(sem), 0);
	return NULL;
}

static void test_sem_deadline_and_cancel(void **state)
{
	run_in_hub(deadline_cancel_main, NULL);
}

static void *misuse_main(void *arg)
{
	check_int_equal(gh_sem_acquire(NULL, GH_NEVER), -EINVAL);
	check_int_equal(gh_sem_tryacquire(NULL), -EINVAL);
	check_int_equal(gh_sem_release(NULL), -EINVAL);
	check_int_equal(gh_sem_value(NULL), -EINVAL);
	check_int_equal(gh_sem_destroy(NULL), -EINVAL);
	sem = gh_sem_create(1, 0);
	check_int_equal(gh_cancel(gh_self()), 0);
	check_int_equal(gh_sem_acquire(sem, GH_NEVER), -ECANCELED);
	check_int_equal(gh_sem_value(sem), 1);
	check_int_equal(gh_sem_destroy(sem), 0);
	return NULL;
}

static void test_sem_misuse_rejected(void **state)
{
	errno = 0;
	assert_null(gh_sem_create(3, 2));
	assert_int_equal(errno, EINVAL);
	assert_null(gh_sem_create(0, (unsigned)INT_MAX + 1));
	assert_null(gh_sem_create((unsigned)INT_MAX + 1, 0));
	run_in_hub(misuse_main, NULL);
}

static void test_sem_outside_hub(void **state)
{
	gh_sem *s = gh_sem_create(1, 0);

	assert_non_null(s);
	assert_int_equal(gh_sem_acquire(s, GH_NEVER), -EPERM);
	assert_int_equal(gh_sem_tryacquire(s), -EPERM);
	assert_int_equal(gh_sem_release(s), -EPERM);
	assert_int_equal(gh_sem_value(s), 1);
	assert_int_equal(gh_sem_destroy(s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sem_counting_limits_concurrency),
		cmocka_unit_test(test_sem_bounded_refuses_extra_release),
		cmocka_unit_test(test_sem_deadline_and_cancel),
		cmocka_unit_test(test_sem_misuse_rejected),
		cmocka_unit_test(test_sem_outside_hub),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
