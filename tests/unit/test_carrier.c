// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The baton protocol in mode none, one transition at a time (docs/design.md, the baton
 * protocol): a marked region that blocks is handed off, other green threads run on a spare
 * meanwhile, and the blocked carrier gets the hub back by cancelling the handoff, by a
 * hand-back at a switch point, or by taking an idle hub. Blocks are long (tens of ms) next to the sysmon's 20 us
 * tick, so what each test provokes does happen; assertions are on counts and order, never on
 * how long anything took.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
/* Only for the test that breaks the protocol on purpose. */
#include "internal.h"

static void block_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	assert_int_equal(GH_BLOCKING(nanosleep(&ts, NULL)), 0);
}

static struct gh_hub_stats stats_of_current(void)
{
	struct gh_hub_stats st = { .sz = sizeof(st) };

	assert_int_equal(gh_hub_stats(gh_hub_current(), &st), 0);
	return st;
}

static void assert_handoffs_balance(const struct gh_hub_stats *st)
{
	/* I2: every handoff ends in exactly one takeover or cancel. */
	assert_int_equal(st->handoffs, st->takeovers + st->cancels);
}

/* Transitions 1, 2 and 4: A blocks, B keeps running on a spare, A waits for the hand-back. */
static int ticks_while_blocked;
static int a_done;

static void *blocker(void *arg)
{
	block_ms((unsigned)(uintptr_t)arg);
	a_done = 1;
	return NULL;
}

static void *spinner(void *arg)
{
	/* Never sleeps: the spare that runs it is never idle, so A must be handed back. */
	while (!a_done) {
		ticks_while_blocked++;
		gh_yield();
	}
	return NULL;
}

static void *handback_main(void *arg)
{
	gh_thread *a = gh_spawn(blocker, (void *)(uintptr_t)100);
	gh_thread *b = gh_spawn(spinner, NULL);
	struct gh_hub_stats st;

	join_ok(a);
	join_ok(b);
	st = stats_of_current();
	assert_true(st.handoffs >= 1);
	assert_true(st.takeovers >= 1);
	assert_true(st.holds >= 1);
	assert_true(st.handbacks >= 1);
	assert_handoffs_balance(&st);
	return NULL;
}

static void test_carrier_block_hands_off_and_hands_back(void **state)
{
	ticks_while_blocked = 0;
	a_done = 0;
	run_in_hub(handback_main, NULL);
	/* B ran while A was blocked: without the handoff it could not have run at all. */
	assert_true(ticks_while_blocked > 0);
}

/* Transition 5: the hub is idle when A's call returns; A takes it straight back. The main
 * thread waits in join, so the spare finds nothing to do and sleeps in the poller. */
static void *idle_return_main(void *arg)
{
	gh_thread *a = gh_spawn(blocker, (void *)(uintptr_t)50);
	struct gh_hub_stats st;

	join_ok(a);
	st = stats_of_current();
	assert_true(st.takeovers >= 1);
	assert_true(st.idle_returns >= 1);
	assert_int_equal(st.holds, 0);
	assert_handoffs_balance(&st);
	return NULL;
}

static void test_carrier_return_to_idle_hub_takes_it(void **state)
{
	a_done = 0;
	run_in_hub(idle_return_main, NULL);
}

/*
 * Transition 3 and a nested handoff: with a single spare allowed, A blocks (the spare takes
 * over), then B blocks on the spare too. No carrier is left to take B's handoff, so the baton
 * stays HANDOFF (rule 6) until B's shorter call returns and cancels it. A returns later, while
 * the spare owns the hub again, and is handed back.
 */
static void *short_blocker(void *arg)
{
	gh_sleep_until(gh_now() + MS(5)); /* start once A is surely blocked */
	block_ms(20);
	return NULL;
}

static void *nested_main(void *arg)
{
	gh_thread *a = gh_spawn(blocker, (void *)(uintptr_t)200);
	gh_thread *b = gh_spawn(short_blocker, NULL);
	gh_thread *c = gh_spawn(spinner, NULL);
	struct gh_hub_stats st;

	join_ok(b);
	join_ok(a);
	join_ok(c);
	st = stats_of_current();
	assert_true(st.handoffs >= 2);
	assert_true(st.cancels >= 1);
	assert_true(st.handbacks >= 1);
	assert_int_equal(st.spares_started, 1);
	assert_handoffs_balance(&st);
	return NULL;
}

static void test_carrier_nested_handoff_without_spare_cancels(void **state)
{
	struct gh_hub_opts o;
	gh_hub *hub;

	gh_hub_opts_init(&o);
	o.max_spares = 1;
	hub = gh_hub_create(&o);
	a_done = 0;
	assert_int_equal(gh_hub_run(hub, nested_main, NULL, NULL), 0);
	gh_hub_destroy(hub);
}

/* I3: chosen sleeps (idle polls, green sleeps, parked spares) never hand off. */
static void *sleepy(void *arg)
{
	for (int i = 0; i < 20; i++)
		gh_sleep_until(gh_now() + MS(1));
	return NULL;
}

static void *chosen_sleeps_main(void *arg)
{
	gh_thread *t[10];
	struct gh_hub_stats st;

	for (int i = 0; i < 10; i++)
		t[i] = gh_spawn(sleepy, NULL);
	for (int i = 0; i < 10; i++)
		join_ok(t[i]);
	st = stats_of_current();
	assert_int_equal(st.handoffs, 0);
	return NULL;
}

static void test_carrier_chosen_sleeps_never_hand_off(void **state)
{
	run_in_hub(chosen_sleeps_main, NULL);
}

/* Many green threads blocking at once need many carriers; all finish with their results. */
#define BLOCKERS 32

static void *block_and_return(void *arg)
{
	block_ms(20);
	return arg;
}

static void *many_blockers_main(void *arg)
{
	gh_thread *t[BLOCKERS];
	struct gh_hub_stats st;

	for (intptr_t i = 0; i < BLOCKERS; i++)
		t[i] = gh_spawn(block_and_return, (void *)i);
	for (intptr_t i = 0; i < BLOCKERS; i++)
		assert_ptr_equal(join_ok(t[i]), (void *)i);
	st = stats_of_current();
	assert_true(st.spares_started > 1);
	assert_handoffs_balance(&st);
	return NULL;
}

static void test_carrier_many_concurrent_blockers(void **state)
{
	run_in_hub(many_blockers_main, NULL);
}

/* A hub that stops while spares are parked collects them all (leak-checked under ASan). */
static void *spares_main(void *arg)
{
	block_ms(10);
	return NULL;
}

static void test_carrier_hub_reruns_with_spares(void **state)
{
	struct gh_hub_opts o;
	gh_hub *hub;

	gh_hub_opts_init(&o);
	o.min_spares = 3;
	hub = gh_hub_create(&o);
	for (int i = 0; i < 3; i++)
		assert_int_equal(gh_hub_run(hub, spares_main, NULL, NULL), 0);
	gh_hub_destroy(hub);
}

/* The runtime's own checker must fire when another carrier is made the runner behind the
 * running one's back. */
static void *steal_runner(void *arg)
{
	struct gh_hub *hub = gh_hub_current();

	__atomic_store_n(&hub->slot->runner_tid, 1u, __ATOMIC_SEQ_CST);
	gh_yield(); /* a switch point: must abort */
	return NULL;
}

static void test_carrier_checker_catches_a_second_runner(void **state)
{
	char out[1024];
	int status = run_hub_in_child(steal_runner, NULL, out, sizeof(out));

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(out, "exclusivity violated"));
	assert_non_null(strstr(out, "'main'"));
	assert_non_null(strstr(out, "carrier 1 is the hub's runner"));
}

/*
 * Idle spares retire, but the thread that called gh_hub_run never does, even while it is
 * parked because the hub moved on. A blocks on the first carrier (a spare takes the hub), B
 * blocks on that spare (a second spare takes it and idles). A returns and takes the idle hub;
 * once A is done the first carrier idles, and B's return takes the hub from it, so the first
 * carrier parks while main sleeps on elsewhere, long past spare_idle_ns.
 */
static void *retire_main(void *arg)
{
	gh_thread *a = gh_spawn(blocker, (void *)(uintptr_t)30);
	gh_thread *b = gh_spawn(blocker, (void *)(uintptr_t)100);
	struct gh_hub_stats st;

	join_ok(a);
	join_ok(b);
	assert_int_equal(gh_sleep_until(gh_now() + MS(500)), 0);
	st = stats_of_current();
	assert_true(st.spares_retired >= 1);
	assert_handoffs_balance(&st);
	return NULL;
}

static void test_carrier_idle_spares_retire_but_not_the_callers_thread(void **state)
{
	struct gh_hub_opts o;
	gh_hub *hub;

	gh_hub_opts_init(&o);
	o.min_spares = 0;
	o.spare_idle_ns = 1000;
	hub = gh_hub_create(&o);
	a_done = 0;
	assert_int_equal(gh_hub_run(hub, retire_main, NULL, NULL), 0);
	gh_hub_destroy(hub);
}

static void test_carrier_bad_spare_options_rejected(void **state)
{
	struct gh_hub_opts o;

	gh_hub_opts_init(&o);
	o.max_spares = 0;
	errno = 0;
	assert_null(gh_hub_create(&o));
	assert_int_equal(errno, EINVAL);
	gh_hub_opts_init(&o);
	o.min_spares = 5;
	o.max_spares = 4;
	assert_null(gh_hub_create(&o));
	gh_hub_opts_init(&o);
	o.sysmon_ns = 10;
	assert_null(gh_hub_create(&o));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_carrier_block_hands_off_and_hands_back),
		cmocka_unit_test(test_carrier_return_to_idle_hub_takes_it),
		cmocka_unit_test(test_carrier_nested_handoff_without_spare_cancels),
		cmocka_unit_test(test_carrier_chosen_sleeps_never_hand_off),
		cmocka_unit_test(test_carrier_many_concurrent_blockers),
		cmocka_unit_test(test_carrier_hub_reruns_with_spares),
		cmocka_unit_test(test_carrier_checker_catches_a_second_runner),
		cmocka_unit_test(test_carrier_idle_spares_retire_but_not_the_callers_thread),
		cmocka_unit_test(test_carrier_bad_spare_options_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
