// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Timers, seen through gh_sleep_until: deadline order, FIFO ties, never early, cancellation. */
#include <stdbool.h>

#include "helpers.h"

#define SLEEPERS 2000

struct sleeper {
	uint64_t deadline;
	uint64_t armed_at; /* gh_now() just before it went to sleep */
	int index;
};

static struct sleeper sleepers[SLEEPERS];
static int woke[SLEEPERS];
static int nwoke;
static uint64_t head_start;

static void *sleep_and_record(void *arg)
{
	struct sleeper *s = arg;

	s->armed_at = gh_now();
	check_int_equal(gh_sleep_until(s->deadline), 0);
	/* Never early. */
	check_true(gh_now() >= s->deadline);
	woke[nwoke++] = s->index;
	return NULL;
}

static void *order_main(void *arg)
{
	static gh_thread *t[SLEEPERS];
	uint64_t base;
	unsigned seed = 12345;

	for (int i = 0; i < SLEEPERS; i++)
		t[i] = gh_spawn(sleep_and_record, &sleepers[i]);
	/* The sleepers run only once main waits, so their deadlines can be set now. */
	base = gh_now() + head_start;
	for (int i = 0; i < SLEEPERS; i++) {
		seed = seed * 1103515245u + 12345u;
		/* 50 distinct deadlines, so many ties that must fire in spawn (arming) order. */
		sleepers[i].deadline = base + (uint64_t)((seed >> 16) % 50) * 100000u;
		sleepers[i].index = i;
	}
	for (int i = 0; i < SLEEPERS; i++)
		join_ok(t[i]);
	return NULL;
}

/* Did every sleeper arm its timer before the first deadline? Only then does the order in which
 * they woke say anything about the timer heap. */
static bool all_armed_in_time(void)
{
	uint64_t first = UINT64_MAX, last_armed = 0;

	for (int i = 0; i < SLEEPERS; i++) {
		if (sleepers[i].deadline < first)
			first = sleepers[i].deadline;
		if (sleepers[i].armed_at > last_armed)
			last_armed = sleepers[i].armed_at;
	}
	return last_armed < first;
}

static void test_timer_fire_in_deadline_order(void **state)
{
	/* The head start only has to outlast the arming, however slow the machine (a sanitizer
	 * build, a loaded CI host): a run where it did not is inconclusive and is repeated with a
	 * longer one, instead of being judged. */
	for (head_start = MS(50);; head_start *= 2) {
		nwoke = 0;
		run_in_hub(order_main, NULL);
		assert_int_equal(nwoke, SLEEPERS);
		if (all_armed_in_time())
			break;
		print_message("    arming outlasted a %llu ms head start; again with twice that\n",
			      (unsigned long long)(head_start / MS(1)));
		assert_true(head_start < MS(60000));
	}
	for (int i = 1; i < SLEEPERS; i++) {
		struct sleeper *a = &sleepers[woke[i - 1]], *b = &sleepers[woke[i]];

		assert_true(a->deadline <= b->deadline);
		if (a->deadline == b->deadline)
			assert_true(a->index < b->index);
	}
}

static void *past_deadline_main(void *arg)
{
	check_int_equal(gh_sleep_until(0), 0);
	check_int_equal(gh_sleep_until(gh_now() - 1), 0);
	return NULL;
}

static void test_timer_past_deadline_returns_at_once(void **state)
{
	run_in_hub(past_deadline_main, NULL);
}

static void *sleep_long(void *arg)
{
	return (void *)(intptr_t)gh_sleep_until(gh_now() + MS(60000));
}

static void *cancel_main(void *arg)
{
	gh_thread *t[50];
	uint64_t start = gh_now();

	for (int i = 0; i < 50; i++)
		t[i] = gh_spawn(sleep_long, NULL);
	gh_yield();
	/* Cancel out of order: the heap removes from the middle. */
	for (int i = 0; i < 50; i += 2)
		check_int_equal(gh_cancel(t[i]), 0);
	for (int i = 1; i < 50; i += 2)
		check_int_equal(gh_cancel(t[i]), 0);
	for (int i = 0; i < 50; i++)
		check_int_equal((intptr_t)join_ok(t[i]), -ECANCELED);
	/* They did not sleep their minute (a wide bound: this checks the cancellation
	 * happened, not how fast). */
	check_true(gh_now() - start < MS(30000));
	return NULL;
}

static void test_timer_cancelled_sleepers_wake(void **state)
{
	run_in_hub(cancel_main, NULL);
}

static int ticks;

static void *ticker(void *arg)
{
	uint64_t next = gh_now();

	for (int i = 0; i < 20; i++) {
		next += MS(1);
		check_int_equal(gh_sleep_until(next), 0);
		ticks++;
	}
	return NULL;
}

static void *spinner(void *arg)
{
	while (ticks < 20)
		gh_yield();
	return NULL;
}

static void *busy_hub_main(void *arg)
{
	gh_thread *s = gh_spawn(spinner, NULL);
	gh_thread *t = gh_spawn(ticker, NULL);

	join_ok(t);
	join_ok(s);
	return NULL;
}

static void test_timer_fires_while_others_yield(void **state)
{
	/* A thread that only yields never lets the hub sleep; timers must fire anyway. */
	ticks = 0;
	run_in_hub(busy_hub_main, NULL);
	assert_int_equal(ticks, 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_fire_in_deadline_order),
		cmocka_unit_test(test_timer_past_deadline_returns_at_once),
		cmocka_unit_test(test_timer_cancelled_sleepers_wake),
		cmocka_unit_test(test_timer_fires_while_others_yield),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
