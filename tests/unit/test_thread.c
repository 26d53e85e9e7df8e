// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Green threads: spawn, join, detach, cancel, names, yield, misuse. */
#include <fenv.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static void *return_arg(void *arg)
{
	return arg;
}

static void *spawn_join_main(void *arg)
{
	gh_thread *t = gh_spawn(return_arg, (void *)0x1234);

	check_ptr_equal(join_ok(t), (void *)0x1234);
	return NULL;
}

static void test_thread_spawn_join_returns_result(void **state)
{
	run_in_hub(spawn_join_main, NULL);
}

#define MANY 10000
static int many_done;

static void *yield_a_few(void *arg)
{
	for (int i = 0; i < 3; i++)
		check_int_equal(gh_yield(), 0);
	many_done++;
	return arg;
}

static void *many_main(void *arg)
{
	static gh_thread *threads[MANY];

	for (intptr_t i = 0; i < MANY; i++) {
		threads[i] = gh_spawn(yield_a_few, (void *)i);
		check_non_null(threads[i]);
	}
	for (intptr_t i = 0; i < MANY; i++)
		check_ptr_equal(join_ok(threads[i]), (void *)i);
	return NULL;
}

static void test_thread_thousands_of_threads(void **state)
{
	many_done = 0;
	run_in_hub(many_main, NULL);
	assert_int_equal(many_done, MANY);
}

static int detached_ran;

static void *detached_body(void *arg)
{
	check_int_equal(gh_sleep_until(gh_now() + MS(5)), 0);
	detached_ran++;
	return NULL;
}

static void *detach_main(void *arg)
{
	for (int i = 0; i < 10; i++)
		check_int_equal(gh_detach(gh_spawn(detached_body, NULL)), 0);
	return NULL; /* gh_hub_run must still wait for them */
}

static void test_thread_hub_run_waits_for_detached(void **state)
{
	detached_ran = 0;
	run_in_hub(detach_main, NULL);
	assert_int_equal(detached_ran, 10);
}

static void *misuse_main(void *arg)
{
	gh_thread *t = gh_spawn(return_arg, NULL);
	gh_thread *u = gh_spawn(return_arg, NULL);

	check_int_equal(gh_join(gh_self(), NULL), -EDEADLK);
	check_int_equal(gh_join(NULL, NULL), -EINVAL);
	check_int_equal(gh_detach(NULL), -EINVAL);
	check_int_equal(gh_cancel(NULL), -EINVAL);
	/* The main thread belongs to gh_hub_run. */
	check_int_equal(gh_detach(gh_self()), -EINVAL);
	check_int_equal(gh_detach(t), 0);
	check_int_equal(gh_detach(t), -EINVAL);
	check_int_equal(gh_join(t, NULL), -EINVAL);
	join_ok(u);
	return NULL;
}

static void test_thread_misuse_rejected(void **state)
{
	run_in_hub(misuse_main, NULL);
}

static gh_thread *joinee;

static void *second_joiner(void *arg)
{
	check_int_equal(gh_join(joinee, NULL), -EINVAL);
	return NULL;
}

static void *sleep_10ms(void *arg)
{
	gh_sleep_until(gh_now() + MS(10));
	return arg;
}

static void *double_join_main(void *arg)
{
	gh_thread *other;

	joinee = gh_spawn(sleep_10ms, (void *)7);
	other = gh_spawn(second_joiner, NULL);
	check_ptr_equal(join_ok(joinee), (void *)7);
	join_ok(other);
	return NULL;
}

static void test_thread_second_joiner_rejected(void **state)
{
	run_in_hub(double_join_main, NULL);
}

static void *detach_finished_main(void *arg)
{
	gh_thread *t = gh_spawn(return_arg, NULL);

	gh_yield(); /* t runs to completion */
	check_int_equal(gh_detach(t), 0);
	check_int_equal(gh_cancel(gh_spawn(sleep_10ms, NULL)) , 0);
	return NULL;
}

static void test_thread_detach_finished_frees_it(void **state)
{
	/* Leak-checked under ASan: detaching a finished thread frees it at once. */
	run_in_hub(detach_finished_main, NULL);
}

static void *sleep_forever(void *arg)
{
	return (void *)(intptr_t)gh_sleep_until(GH_NEVER - 1);
}

static void *cancel_sleeper_main(void *arg)
{
	gh_thread *t = gh_spawn(sleep_forever, NULL);

	check_int_equal(gh_sleep_until(gh_now() + MS(1)), 0);
	check_int_equal(gh_cancel(t), 0);
	check_int_equal((intptr_t)join_ok(t), -ECANCELED);
	return NULL;
}

static void test_thread_cancel_sleeping(void **state)
{
	run_in_hub(cancel_sleeper_main, NULL);
}

static void *wait_on_pipe(void *arg)
{
	int fd = *(int *)arg;

	return (void *)(intptr_t)gh_wait_fd(fd, GH_IN, GH_NEVER);
}

static void *cancel_waiter_main(void *arg)
{
	int p[2];
	gh_thread *t;

	check_int_equal(pipe(p), 0);
	t = gh_spawn(wait_on_pipe, &p[0]);
	gh_yield();
	gh_yield();
	check_int_equal(gh_cancel(t), 0);
	check_int_equal((intptr_t)join_ok(t), -ECANCELED);
	close(p[0]);
	close(p[1]);
	return NULL;
}

static void test_thread_cancel_waiting_on_fd(void **state)
{
	run_in_hub(cancel_waiter_main, NULL);
}

static void *cancelled_self(void *arg)
{
	check_int_equal(gh_cancelled(), 0);
	check_int_equal(gh_cancel(gh_self()), 0);
	check_int_equal(gh_cancelled(), 1);
	/* Sticky: every later wait is cut short at once. */
	check_int_equal(gh_sleep_until(gh_now() + MS(1000)), -ECANCELED);
	check_int_equal(gh_sleep_until(gh_now() + MS(1000)), -ECANCELED);
	check_int_equal(gh_wait_fd(0, GH_IN, GH_NEVER), -ECANCELED);
	check_int_equal(gh_yield(), -ECANCELED);
	return NULL;
}

static void test_thread_cancel_is_sticky(void **state)
{
	run_in_hub(cancelled_self, NULL);
}

static void *cancel_finished_main(void *arg)
{
	gh_thread *t = gh_spawn(return_arg, NULL);

	gh_yield();
	check_int_equal(gh_cancel(t), -EINVAL);
	join_ok(t);
	return NULL;
}

static void test_thread_cancel_finished_rejected(void **state)
{
	run_in_hub(cancel_finished_main, NULL);
}

static gh_thread *target;

static void *join_target(void *arg)
{
	return (void *)(intptr_t)gh_join(target, NULL);
}

static void *cancel_joiner_main(void *arg)
{
	gh_thread *joiner;

	target = gh_spawn(sleep_10ms, (void *)5);
	joiner = gh_spawn(join_target, NULL);
	gh_yield();
	check_int_equal(gh_cancel(joiner), 0);
	check_int_equal((intptr_t)join_ok(joiner), -ECANCELED);
	/* The cancelled join gave up its claim: target is still joinable. */
	check_ptr_equal(join_ok(target), (void *)5);
	return NULL;
}

static void test_thread_cancelled_join_leaves_target_joinable(void **state)
{
	run_in_hub(cancel_joiner_main, NULL);
}

static void *names_main(void *arg)
{
	gh_thread *t = gh_spawn(return_arg, NULL);
	gh_thread *u = gh_spawn(return_arg, NULL);

	check_string_equal(gh_thread_name(gh_self()), "main");
	check_string_equal(gh_thread_name(t), "");
	check_int_equal(gh_thread_set_name(t, "worker"), 0);
	check_string_equal(gh_thread_name(t), "worker");
	check_int_equal(gh_thread_set_name(t, "a-name-that-is-much-longer-than-thirty-one-bytes"),
			0);
	check_int_equal(strlen(gh_thread_name(t)), 31);
	check_int_equal(gh_thread_set_name(t, NULL), -EINVAL);
	check_null(gh_thread_name(NULL));
	check_true(gh_thread_id(t) != gh_thread_id(u));
	check_true(gh_thread_id(t) != 0);
	join_ok(t);
	join_ok(u);
	return NULL;
}

static void test_thread_names_and_ids(void **state)
{
	run_in_hub(names_main, NULL);
}

static char order[64];
static int order_len;

static void *record_letters(void *arg)
{
	for (int i = 0; i < 3; i++) {
		order[order_len++] = *(const char *)arg;
		gh_yield();
	}
	return NULL;
}

static void *round_robin_main(void *arg)
{
	gh_thread *t[3];

	t[0] = gh_spawn(record_letters, "a");
	t[1] = gh_spawn(record_letters, "b");
	t[2] = gh_spawn(record_letters, "c");
	for (int i = 0; i < 3; i++)
		join_ok(t[i]);
	return NULL;
}

static void test_thread_yield_is_round_robin(void **state)
{
	order_len = 0;
	run_in_hub(round_robin_main, NULL);
	order[order_len] = '\0';
	assert_string_equal(order, "abcabcabc");
}

static void *keep_rounding_mode(void *arg)
{
	int mode = (int)(intptr_t)arg;

	check_int_equal(fesetround(mode), 0);
	for (int i = 0; i < 5; i++) {
		gh_yield();
		/* Each green thread keeps its own floating-point control state. */
		check_int_equal(fegetround(), mode);
	}
	return NULL;
}

static void *fp_main(void *arg)
{
	gh_thread *a = gh_spawn(keep_rounding_mode, (void *)(intptr_t)FE_UPWARD);
	gh_thread *b = gh_spawn(keep_rounding_mode, (void *)(intptr_t)FE_TOWARDZERO);

	join_ok(a);
	join_ok(b);
	check_int_equal(fegetround(), FE_TONEAREST);
	return NULL;
}

static void test_thread_fp_control_is_per_thread(void **state)
{
	run_in_hub(fp_main, NULL);
}

static void *busy_registers(void *arg)
{
	/* Enough live values that the compiler keeps some in callee-saved registers across the
	 * yields; a switch that clobbered one changes the sums. */
	volatile uint64_t seed = (uint64_t)(uintptr_t)arg;
	uint64_t a = seed, b = seed * 3, c = seed * 5, d = seed * 7, e = seed * 11, f = seed * 13;
	double x = (double)seed, y = x * 0.5, z = x * 0.25;

	for (int i = 0; i < 100; i++) {
		gh_yield();
		a += b; b += c; c += d; d += e; e += f; f += a;
		x += y; y += z; z += 1.0;
	}
	return (void *)(uintptr_t)(a ^ b ^ c ^ d ^ e ^ f ^ (uint64_t)(x + y + z));
}

static uint64_t busy_registers_expected(uint64_t seed)
{
	uint64_t a = seed, b = seed * 3, c = seed * 5, d = seed * 7, e = seed * 11, f = seed * 13;
	double x = (double)seed, y = x * 0.5, z = x * 0.25;

	for (int i = 0; i < 100; i++) {
		a += b; b += c; c += d; d += e; e += f; f += a;
		x += y; y += z; z += 1.0;
	}
	return a ^ b ^ c ^ d ^ e ^ f ^ (uint64_t)(x + y + z);
}

static void *registers_main(void *arg)
{
	gh_thread *t[8];

	for (int i = 0; i < 8; i++)
		t[i] = gh_spawn(busy_registers, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < 8; i++)
		check_true((uint64_t)(uintptr_t)join_ok(t[i]) == busy_registers_expected(i + 1));
	return NULL;
}

static void test_thread_registers_survive_switches(void **state)
{
	run_in_hub(registers_main, NULL);
}

static void test_thread_calls_outside_hub_rejected(void **state)
{
	errno = 0;
	assert_null(gh_spawn(return_arg, NULL));
	assert_int_equal(errno, EPERM);
	assert_null(gh_self());
	assert_null(gh_hub_current());
	assert_int_equal(gh_yield(), -EPERM);
	assert_int_equal(gh_sleep_until(0), -EPERM);
	assert_int_equal(gh_wait_fd(0, GH_IN, 0), -EPERM);
	assert_int_equal(gh_join((gh_thread *)&errno, NULL), -EPERM);
	assert_int_equal(gh_cancelled(), -EPERM);
}

static void *spawn_null_main(void *arg)
{
	errno = 0;
	check_null(gh_spawn(NULL, NULL));
	check_int_equal(errno, EINVAL);
	return NULL;
}

static void test_thread_spawn_null_rejected(void **state)
{
	run_in_hub(spawn_null_main, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Handles outlive their threads                                                              */

static void *nothing(void *arg)
{
	return arg;
}

static void *stale_handles_main(void *arg)
{
	gh_thread *t = gh_spawn(nothing, (void *)7), *u, *v;
	void *result = NULL;

	check_int_equal(gh_join(t, &result), 0);
	check_ptr_equal(result, (void *)7);
	/* Joined: gone. Neither a second join nor a detach may free it again. */
	check_int_equal(gh_join(t, NULL), -ESRCH);
	check_int_equal(gh_detach(t), -ESRCH);
	check_int_equal(gh_cancel(t), -ESRCH);
	check_null(gh_thread_name(t));
	check_int_equal(errno, ESRCH);
	check_int_equal(gh_thread_set_name(t, "x"), -ESRCH);
	check_int_equal(gh_thread_id(t), 0);

	/* New threads reuse what t left; t's handle still names nothing, and theirs are
	 * their own. */
	u = gh_spawn(nothing, NULL);
	v = gh_spawn(nothing, NULL);
	check_non_null(u);
	check_non_null(v);
	check_true(u != t && v != t && u != v);
	check_int_equal(gh_join(t, NULL), -ESRCH);
	join_ok(u);
	join_ok(v);

	/* Finished, then detached (which frees it at once): gone as well. */
	t = gh_spawn(nothing, NULL);
	check_int_equal(gh_yield(), 0); /* t runs to its end */
	check_int_equal(gh_detach(t), 0);
	check_int_equal(gh_detach(t), -ESRCH);
	check_int_equal(gh_join(t, NULL), -ESRCH);
	return NULL;
}

static void test_thread_stale_handles_rejected(void **state)
{
	run_in_hub(stale_handles_main, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Ways out of a green thread that the runtime refuses loudly                                 */

static void *return_in_region(void *arg)
{
	check_int_equal(gh_blocking_begin(), 0);
	return NULL; /* the error path that skips gh_blocking_end() */
}

static void *region_main(void *arg)
{
	gh_thread *t = gh_spawn(return_in_region, NULL);

	gh_thread_set_name(t, "leaky");
	join_ok(t);
	return NULL;
}

static void test_thread_return_inside_region_aborts(void **state)
{
	char out[1024];
	int status = run_hub_in_child(region_main, NULL, out, sizeof(out));

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	if (!strstr(out, "'leaky'") || !strstr(out, "returned inside a blocking region"))
		fail_msg("no clear message: %s", out);
}

static void *pthread_exit_main(void *arg)
{
	gh_thread_set_name(gh_self(), "quitter");
	pthread_exit(NULL);
}

static void test_thread_pthread_exit_aborts(void **state)
{
	char out[4096];
	int status;

#if defined(TEST_ASAN) || defined(TEST_TSAN)
	/* Both sanitizers' own pthread_exit handling fails on a green stack before greenhub's
	 * check runs (ASan reports the unwound frames, TSan a failed CHECK). */
	skip();
#endif
	status = run_hub_in_child(pthread_exit_main, NULL, out, sizeof(out));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT ||
	    !strstr(out, "pthread_exit") || !strstr(out, "'quitter'"))
		fail_msg("status %#x, no clear message: %s", status, out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_spawn_join_returns_result),
		cmocka_unit_test(test_thread_thousands_of_threads),
		cmocka_unit_test(test_thread_hub_run_waits_for_detached),
		cmocka_unit_test(test_thread_misuse_rejected),
		cmocka_unit_test(test_thread_second_joiner_rejected),
		cmocka_unit_test(test_thread_detach_finished_frees_it),
		cmocka_unit_test(test_thread_cancel_sleeping),
		cmocka_unit_test(test_thread_cancel_waiting_on_fd),
		cmocka_unit_test(test_thread_cancel_is_sticky),
		cmocka_unit_test(test_thread_cancel_finished_rejected),
		cmocka_unit_test(test_thread_cancelled_join_leaves_target_joinable),
		cmocka_unit_test(test_thread_names_and_ids),
		cmocka_unit_test(test_thread_yield_is_round_robin),
		cmocka_unit_test(test_thread_fp_control_is_per_thread),
		cmocka_unit_test(test_thread_registers_survive_switches),
		cmocka_unit_test(test_thread_calls_outside_hub_rejected),
		cmocka_unit_test(test_thread_spawn_null_rejected),
		cmocka_unit_test(test_thread_stale_handles_rejected),
		cmocka_unit_test(test_thread_return_inside_region_aborts),
		cmocka_unit_test(test_thread_pthread_exit_aborts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
