// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Events: set wakes all, stays set until cleared, deadlines, cancellation, misuse. */
#include "helpers.h"

static gh_event *ev;
static int woken;

static void *wait_event(void *arg)
{
	int err = gh_event_wait(ev, *(uint64_t *)arg);

	if (err == 0)
		woken++;
	return (void *)(intptr_t)err;
}

static void *set_wakes_all_main(void *arg)
{
	static uint64_t never = GH_NEVER;
	gh_thread *t[100];

	ev = gh_event_create();
	if (!check_non_null(ev))
		return NULL;
	woken = 0;
	check_int_equal(gh_event_is_set(ev), 0);
	for (int i = 0; i < 100; i++)
		t[i] = gh_spawn(wait_event, &never);
	check_int_equal(gh_yield(), 0);
	check_int_equal(woken, 0);
	check_int_equal(gh_event_destroy(ev), -EBUSY);
	check_int_equal(gh_event_set(ev), 0);
	for (int i = 0; i < 100; i++)
		check_int_equal((intptr_t)join_ok(t[i]), 0);
	check_int_equal(woken, 100);
	/* Set stays set: a wait returns at once, even with a past deadline. */
	check_int_equal(gh_event_is_set(ev), 1);
	check_int_equal(gh_event_wait(ev, 0), 0);
	check_int_equal(gh_event_set(ev), 0);
	/* Cleared: waits wait again. */
	check_int_equal(gh_event_clear(ev), 0);
	check_int_equal(gh_event_is_set(ev), 0);
	check_int_equal(gh_event_wait(ev, 0), -ETIMEDOUT);
	check_int_equal(gh_event_wait(ev, gh_now() + MS(2)), -ETIMEDOUT);
	check_int_equal(gh_event_destroy(ev), 0);
	return NULL;
}

static void test_event_set_wakes_all_and_stays_set(void **state)
{
	run_in_hub(set_wakes_all_main, NULL);
}

static void *cancel_main(void *arg)
{
	static uint64_t never = GH_NEVER;
	gh_thread *a, *b;

	ev = gh_event_create();
	if (!check_non_null(ev))
		return NULL;
	woken = 0;
	a = gh_spawn(wait_event, &never);
	b = gh_spawn(wait_event, &never);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_cancel(a), 0);
	check_int_equal((intptr_t)join_ok(a), -ECANCELED);
	check_int_equal(gh_event_set(ev), 0);
	check_int_equal((intptr_t)join_ok(b), 0);
	check_int_equal(woken, 1);
	/* A cancelled thread is told so even by a set event. */
	check_int_equal(gh_cancel(gh_self()), 0);
	check_int_equal(gh_event_wait(ev, GH_NEVER), -ECANCELED);
	check_int_equal(gh_event_destroy(ev), 0);
	return NULL;
}

static void test_event_cancel_waiter(void **state)
{
	run_in_hub(cancel_main, NULL);
}

static void *wait_forever_main(void *arg)
{
	int err;

	ev = gh_event_create();
	if (!check_non_null(ev))
		return NULL;
	err = gh_event_wait(ev, GH_NEVER);
	check_int_equal(gh_event_destroy(ev), 0);
	return (void *)(intptr_t)err;
}

static void test_event_nobody_to_set_it_is_a_deadlock(void **state)
{
	gh_hub *hub = gh_hub_create(NULL);
	void *result = NULL;

	/* Nothing can ever set the event: the hub breaks the deadlock instead of hanging. */
	assert_non_null(hub);
	assert_int_equal(hub_run(hub, wait_forever_main, NULL, &result), -EDEADLK);
	assert_int_equal((intptr_t)result, -ECANCELED);
	assert_int_equal(gh_hub_destroy(hub), 0);
}

static void *misuse_main(void *arg)
{
	check_int_equal(gh_event_wait(NULL, GH_NEVER), -EINVAL);
	check_int_equal(gh_event_set(NULL), -EINVAL);
	check_int_equal(gh_event_clear(NULL), -EINVAL);
	check_int_equal(gh_event_is_set(NULL), -EINVAL);
	check_int_equal(gh_event_destroy(NULL), -EINVAL);
	return NULL;
}

static void test_event_misuse_rejected(void **state)
{
	gh_event *e = gh_event_create();

	run_in_hub(misuse_main, NULL);
	assert_non_null(e);
	assert_int_equal(gh_event_wait(e, GH_NEVER), -EPERM);
	assert_int_equal(gh_event_set(e), -EPERM);
	assert_int_equal(gh_event_clear(e), -EPERM);
	assert_int_equal(gh_event_is_set(e), 0);
	assert_int_equal(gh_event_destroy(e), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_set_wakes_all_and_stays_set),
		cmocka_unit_test(test_event_cancel_waiter),
		cmocka_unit_test(test_event_nobody_to_set_it_is_a_deadlock),
		cmocka_unit_test(test_event_misuse_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
