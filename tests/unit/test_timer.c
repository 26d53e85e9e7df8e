// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Timers, seen through gh_sleep_until and gh_sleep: deadline order, FIFO ties, never early,
 * cancellation. */
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

/* FIFO among equal deadlines, on its own: sleepers armed one after another on the very same
 * deadline wake in the order they armed, whatever the heap's shape. */
#define TIED 300

static int tied_woke[TIED];
static int tied_nwoke;

static void *sleep_tied(void *arg)
{
	static uint64_t tied_deadline;
	int index = (int)(intptr_t)arg;

	if (index == 0)
		tied_deadline = gh_now() + MS(100);
	check_int_equal(gh_sleep_until(tied_deadline), 0);
	tied_woke[tied_nwoke++] = index;
	return NULL;
}

static void *tied_main(void *arg)
{
	static gh_thread *t[TIED];

	/* Spawned in order, run (and so armed) in order. */
	for (int i = 0; i < TIED; i++)
		t[i] = gh_spawn(sleep_tied, (void *)(intptr_t)i);
	for (int i = 0; i < TIED; i++)
		join_ok(t[i]);
	return NULL;
}

static void test_timer_equal_deadlines_fire_fifo(void **state)
{
	tied_nwoke = 0;
	run_in_hub(tied_main, NULL);
	assert_int_equal(tied_nwoke, TIED);
	for (int i = 0; i < TIED; i++)
		assert_int_equal(tied_woke[i], i);
}

/*
 * Cancelling from the middle of the heap must leave the rest in order: sleepers on distinct
 * and tied deadlines, every third one cancelled while they all wait; the others still wake in
 * (deadline, arming) order and the cancelled ones with -ECANCELED.
 */
#define MIDDLE 120

static uint64_t middle_deadline[MIDDLE];
static int middle_woke[MIDDLE];
static int middle_nwoke;

static void *sleep_middle(void *arg)
{
	int index = (int)(intptr_t)arg;
	int err = gh_sleep_until(middle_deadline[index]);

	if (err == 0)
		middle_woke[middle_nwoke++] = index;
	return (void *)(intptr_t)err;
}

static bool middle_cancelled(int i)
{
	return i % 3 == 1;
}

static void *middle_main(void *arg)
{
	static gh_thread *t[MIDDLE];
	uint64_t base = gh_now() + MS(100);

	for (int i = 0; i < MIDDLE; i++) {
		/* Reversed and tied in fours, so that arming order is not deadline order. */
		middle_deadline[i] = base + (uint64_t)((MIDDLE - i) / 4) * 100000u;
		t[i] = gh_spawn(sleep_middle, (void *)(intptr_t)i);
	}
	gh_yield(); /* every sleeper arms */
	for (int i = 0; i < MIDDLE; i++)
		if (middle_cancelled(i))
			check_int_equal(gh_cancel(t[i]), 0);
	for (int i = 0; i < MIDDLE; i++)
		check_int_equal((intptr_t)join_ok(t[i]), middle_cancelled(i) ? -ECANCELED : 0);
	return NULL;
}

static void test_timer_cancel_in_the_middle_keeps_order(void **state)
{
	middle_nwoke = 0;
	run_in_hub(middle_main, NULL);
	assert_int_equal(middle_nwoke, MIDDLE - MIDDLE / 3);
	for (int i = 1; i < middle_nwoke; i++) {
		int a = middle_woke[i - 1], b = middle_woke[i];

		assert_true(middle_deadline[a] <= middle_deadline[b]);
		if (middle_deadline[a] == middle_deadline[b])
			assert_true(a < b);
	}
}

/*
 * Fairness under a busy run queue: a thread whose timer falls due while others keep yielding
 * runs within one round of them, not after two. Each busy thread counts its runs that began
 * once the deadline had passed (it reads the clock as it starts each run); when the sleeper
 * wakes, no busy thread may have begun two such runs. The clock decides only which runs
 * count, never the verdict: a busy thread that saw the deadline pass has run before the hub
 * next looked at its timers (which read the clock later), so on a hub that fires due timers
 * once per round and runs the woken threads first in the next one, each saw it at most once.
 */
#define BUSY 8
#define FAIR_TRIALS 10

static uint64_t fair_deadline;
static bool fair_woke;
static int runs_after_due[BUSY];
static int runs_seen_by_sleeper[BUSY];

static void *busy_yielder(void *arg)
{
	int index = (int)(intptr_t)arg;

	while (!fair_woke) {
		if (gh_now() >= fair_deadline)
			runs_after_due[index]++;
		gh_yield();
	}
	return NULL;
}

static void *fair_sleeper(void *arg)
{
	check_int_equal(gh_sleep_until(fair_deadline), 0);
	memcpy(runs_seen_by_sleeper, runs_after_due, sizeof(runs_seen_by_sleeper));
	fair_woke = true;
	return NULL;
}

static void *fair_main(void *arg)
{
	gh_thread *sleeper, *busy[BUSY];

	fair_woke = false;
	memset(runs_after_due, 0, sizeof(runs_after_due));
	/* A deadline in the future when the sleeper arms it (it runs first), so that the timer,
	 * not a plain yield, wakes it; the busy threads then yield until it has. */
	fair_deadline = gh_now() + MS(2);
	sleeper = gh_spawn(fair_sleeper, NULL);
	for (int i = 0; i < BUSY; i++)
		busy[i] = gh_spawn(busy_yielder, (void *)(intptr_t)i);
	join_ok(sleeper);
	for (int i = 0; i < BUSY; i++)
		join_ok(busy[i]);
	return NULL;
}

static void test_timer_due_runs_within_one_round(void **state)
{
	/* Several trials: where in a round the deadline falls varies, and a hub that queued
	 * the woken thread behind a whole fresh round could pass one trial by luck. */
	for (int trial = 0; trial < FAIR_TRIALS; trial++) {
		run_in_hub(fair_main, NULL);
		for (int i = 0; i < BUSY; i++)
			assert_in_range(runs_seen_by_sleeper[i], 0, 1);
	}
}

/* gh_sleep: a duration from its own read of the clock. */

#define FOR_SLEEPERS 200

static void *sleep_for_and_check(void *arg)
{
	uint64_t ns = (uint64_t)(uintptr_t)arg, before = gh_now();

	check_int_equal(gh_sleep(ns), 0);
	/* Never early: the clock read inside gh_sleep came after before. */
	check_true(gh_now() - before >= ns);
	return NULL;
}

static void *sleep_for_main(void *arg)
{
	gh_thread *t[FOR_SLEEPERS];
	unsigned seed = 777;

	for (int i = 0; i < FOR_SLEEPERS; i++) {
		seed = seed * 1103515245u + 12345u;
		/* 1 ns .. 3 ms, some shorter than a round of the others */
		t[i] = gh_spawn(sleep_for_and_check,
				(void *)(uintptr_t)(1 + (seed >> 8) % 3000000u));
	}
	for (int i = 0; i < FOR_SLEEPERS; i++)
		join_ok(t[i]);
	return NULL;
}

static void test_timer_sleep_for_is_never_early(void **state)
{
	run_in_hub(sleep_for_main, NULL);
}

static bool other_ran;

static void *set_other_ran(void *arg)
{
	other_ran = true;
	return NULL;
}

static void *sleep_zero_main(void *arg)
{
	gh_thread *t = gh_spawn(set_other_ran, NULL);

	other_ran = false;
	/* A zero sleep is a yield: the ready thread runs before it returns. */
	check_int_equal(gh_sleep(0), 0);
	check_true(other_ran);
	join_ok(t);
	return NULL;
}

static void test_timer_sleep_zero_yields(void **state)
{
	run_in_hub(sleep_zero_main, NULL);
}

static bool endless_returned;

static void *sleep_endless(void *arg)
{
	int err = gh_sleep((uint64_t)(uintptr_t)arg);

	endless_returned = true;
	return (void *)(intptr_t)err;
}

static void *sleep_past_the_clock_main(void *arg)
{
	/* Durations that overflow the clock's end when added to now: a deadline that wrapped
	 * around would be in the past and end the sleep at once. */
	const uint64_t lengths[] = { UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - gh_now() + 1 };

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		gh_thread *t = gh_spawn(sleep_endless, (void *)(uintptr_t)lengths[i]);

		endless_returned = false;
		check_int_equal(gh_sleep(MS(5)), 0);
		check_true(!endless_returned);
		check_int_equal(gh_cancel(t), 0);
		check_int_equal((intptr_t)join_ok(t), -ECANCELED);
	}
	return NULL;
}

static void test_timer_sleep_past_the_clock_ends_only_when_cancelled(void **state)
{
	run_in_hub(sleep_past_the_clock_main, NULL);
}

static void *sleep_cancelled_main(void *arg)
{
	check_int_equal(gh_cancel(gh_self()), 0);
	check_int_equal(gh_sleep(MS(1)), -ECANCELED);
	check_int_equal(gh_sleep(0), -ECANCELED);
	return NULL;
}

static void test_timer_sleep_refuses_bad_callers(void **state)
{
	/* Not in a green thread. */
	assert_int_equal(gh_sleep(MS(1)), -EPERM);
	assert_int_equal(gh_sleep(0), -EPERM);
	/* A cancelled thread does not sleep. */
	run_in_hub(sleep_cancelled_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_fire_in_deadline_order),
		cmocka_unit_test(test_timer_past_deadline_returns_at_once),
		cmocka_unit_test(test_timer_cancelled_sleepers_wake),
		cmocka_unit_test(test_timer_fires_while_others_yield),
		cmocka_unit_test(test_timer_equal_deadlines_fire_fifo),
		cmocka_unit_test(test_timer_cancel_in_the_middle_keeps_order),
		cmocka_unit_test(test_timer_due_runs_within_one_round),
		cmocka_unit_test(test_timer_sleep_for_is_never_early),
		cmocka_unit_test(test_timer_sleep_zero_yields),
		cmocka_unit_test(test_timer_sleep_past_the_clock_ends_only_when_cancelled),
		cmocka_unit_test(test_timer_sleep_refuses_bad_callers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
