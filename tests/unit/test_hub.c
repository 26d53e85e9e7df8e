// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Hubs: options, running, reuse, nesting, deadlock detection, one hub per OS thread. */
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static void test_hub_opts_defaults(void **state)
{
	struct gh_hub_opts o;

	gh_hub_opts_init(&o);
	assert_int_equal(o.sz, sizeof(o));
	assert_int_equal(o.stack_size, 256 * 1024);
	assert_int_equal(o.mode, GH_MODE_AUTO);
}

static void expect_create_fails(const struct gh_hub_opts *o, int err)
{
	errno = 0;
	assert_null(gh_hub_create(o));
	assert_int_equal(errno, err);
}

static void test_hub_create_bad_opts_fail(void **state)
{
	struct gh_hub_opts o;
	struct {
		struct gh_hub_opts opts;
		char newer_field;
	} bigger;

	gh_hub_opts_init(&o);
	o.stack_size = GH_STACK_MIN - 1;
	expect_create_fails(&o, EINVAL);
	gh_hub_opts_init(&o);
	o.stack_size = GH_STACK_MAX + 1;
	expect_create_fails(&o, EINVAL);
	gh_hub_opts_init(&o);
	o.mode = (enum gh_mode)42;
	expect_create_fails(&o, EINVAL);
	gh_hub_opts_init(&o);
	o.sz = 0;
	expect_create_fails(&o, EINVAL);

	/* A struct larger than this library knows is refused without being read past what it
	 * knows: here sz claims far more than the object holds (ASan would see a read). */
	memset(&bigger, 0, sizeof(bigger));
	gh_hub_opts_init(&bigger.opts);
	bigger.opts.sz = sizeof(bigger);
	expect_create_fails(&bigger.opts, EINVAL);
	gh_hub_opts_init(&o);
	o.sz = 1 << 20;
	expect_create_fails(&o, EINVAL);

	/* NULL is no options object: nothing to fill. */
	gh_hub_opts_init(NULL);
}

static void test_hub_create_older_opts_accepted(void **state)
{
	struct gh_hub_opts o;
	gh_hub *hub;

	gh_hub_opts_init(&o);
	o.stack_size = 64 * 1024;
	/* A caller built when the struct ended after stack_size. */
	o.sz = offsetof(struct gh_hub_opts, stack_size) + sizeof(o.stack_size);
	hub = gh_hub_create(&o);
	assert_non_null(hub);
	assert_int_equal(gh_hub_destroy(hub), 0);
}

static void *return_arg(void *arg)
{
	return arg;
}

static void test_hub_run_returns_main_result(void **state)
{
	assert_ptr_equal(run_in_hub(return_arg, (void *)42), (void *)42);
}

static void test_hub_run_bad_args(void **state)
{
	gh_hub *hub = gh_hub_create(NULL);

	assert_int_equal(gh_hub_run(NULL, return_arg, NULL, NULL), -EINVAL);
	assert_int_equal(gh_hub_run(hub, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(gh_hub_destroy(NULL), -EINVAL);
	assert_int_equal(gh_hub_destroy(hub), 0);
}

static void *nested_main(void *arg)
{
	gh_hub *other = arg;

	check_int_equal(gh_hub_run(other, return_arg, NULL, NULL), -EDEADLK);
	check_int_equal(gh_hub_run(gh_hub_current(), return_arg, NULL, NULL), -EDEADLK);
	check_int_equal(gh_hub_destroy(gh_hub_current()), -EBUSY);
	return NULL;
}

static void test_hub_nested_run_and_destroy_running_rejected(void **state)
{
	gh_hub *other = gh_hub_create(NULL);

	run_in_hub(nested_main, other);
	gh_hub_destroy(other);
}

struct busy_arg {
	gh_hub *hub;
	int started;
	int result;
};

static void *busy_main(void *arg)
{
	struct busy_arg *b = arg;

	__atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&b->result, __ATOMIC_SEQ_CST) == 1)
		gh_sleep_until(gh_now() + MS(1));
	return NULL;
}

static void *run_same_hub(void *arg)
{
	struct busy_arg *b = arg;

	while (!__atomic_load_n(&b->started, __ATOMIC_SEQ_CST))
		;
	__atomic_store_n(&b->result, gh_hub_run(b->hub, return_arg, NULL, NULL), __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_hub_run_from_two_threads_rejected(void **state)
{
	struct busy_arg b = { .hub = gh_hub_create(NULL), .result = 1 };
	pthread_t other;

	assert_int_equal(pthread_create(&other, NULL, run_same_hub, &b), 0);
	assert_int_equal(gh_hub_run(b.hub, busy_main, &b, NULL), 0);
	assert_int_equal(pthread_join(other, NULL), 0);
	assert_int_equal(b.result, -EBUSY);
	gh_hub_destroy(b.hub);
}

static void test_hub_runs_again_after_return(void **state)
{
	gh_hub *hub = gh_hub_create(NULL);
	void *r;

	for (intptr_t i = 0; i < 3; i++) {
		assert_int_equal(gh_hub_run(hub, return_arg, (void *)i, &r), 0);
		assert_ptr_equal(r, (void *)i);
	}
	gh_hub_destroy(hub);
}

static gh_thread *cycle[2];

static void *join_the_other(void *arg)
{
	intptr_t i = (intptr_t)arg;

	return (void *)(intptr_t)gh_join(cycle[1 - i], NULL);
}

static void *deadlock_main(void *arg)
{
	cycle[0] = gh_spawn(join_the_other, (void *)0);
	cycle[1] = gh_spawn(join_the_other, (void *)1);
	return NULL;
}

static void test_hub_deadlock_detected(void **state)
{
	gh_hub *hub = gh_hub_create(NULL);

	/* Two threads join each other: nothing can ever wake them. The hub cancels both so
	 * they unwind, and reports the deadlock. */
	assert_int_equal(gh_hub_run(hub, deadlock_main, NULL, NULL), -EDEADLK);
	gh_hub_destroy(hub);
}

static void *unjoined_main(void *arg)
{
	for (int i = 0; i < 100; i++)
		check_non_null(gh_spawn(return_arg, NULL));
	return NULL;
}

static void test_hub_frees_unjoined_threads(void **state)
{
	/* Checked for leaks under ASan. */
	run_in_hub(unjoined_main, NULL);
}

static int counted;

static void *count_sleep(void *arg)
{
	gh_sleep_until(gh_now() + MS(1));
	__atomic_add_fetch(&counted, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *hundred_sleepers(void *arg)
{
	gh_thread *t[100];

	check_ptr_equal(gh_hub_current(), arg);
	for (int i = 0; i < 100; i++)
		t[i] = gh_spawn(count_sleep, NULL);
	for (int i = 0; i < 100; i++)
		join_ok(t[i]);
	return NULL;
}

static void *hub_on_os_thread(void *arg)
{
	gh_hub *hub = gh_hub_create(NULL);

	check_int_equal(gh_hub_run(hub, hundred_sleepers, hub, NULL), 0);
	gh_hub_destroy(hub);
	return NULL;
}

static void test_hub_one_per_os_thread(void **state)
{
	pthread_t th[4];

	counted = 0;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hub_on_os_thread, NULL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_checks();
	assert_int_equal(counted, 400);
}

static void test_hub_unavailable_mode_refused_with_reason(void **state)
{
	struct gh_hub_opts o;
	gh_hub *hub;

	/* No scx_greenhub loader runs for the unit tests: asking for kernel assist by name
	 * fails instead of silently running without it, and says why. */
	gh_hub_opts_init(&o);
	o.mode = GH_MODE_SCHED_EXT;
	hub = gh_hub_create(&o);
	assert_non_null(hub);
	if (access("/sys/fs/bpf/greenhub", F_OK) == 0) {
		/* The kernel side is loaded on this machine: the mode may well run. */
		gh_hub_destroy(hub);
		skip();
	}
	assert_int_equal(gh_hub_run(hub, return_arg, NULL, NULL), -EOPNOTSUPP);
	assert_non_null(strstr(gh_hub_mode_reason(hub), "sched_ext"));
	gh_hub_destroy(hub);

	o.mode = GH_MODE_NONE;
	hub = gh_hub_create(&o);
	assert_int_equal(gh_hub_run(hub, return_arg, NULL, NULL), 0);
	assert_int_equal(gh_hub_mode(hub), GH_MODE_NONE);
	assert_string_equal(gh_mode_name(gh_hub_mode(hub)), "none");
	gh_hub_destroy(hub);
}

/* A malformed kernel-assist setting fails the run, naming the variable, whatever mode AUTO
 * would have picked; well-formed ones run. */
static void test_hub_bad_kernel_assist_settings_refused(void **state)
{
	static const char *const bad[][2] = {
		{ "GREENHUB_SCX_GRACE", "sometimes" }, { "GREENHUB_SCX_GRACE_NS", "0" },
		{ "GREENHUB_SCX_GRACE_NS", "20us" },   { "GREENHUB_SCX_GRACE_NS", "-5" },
		{ "GREENHUB_SCX_GRACE_NS", "2000000000" }, { "GREENHUB_SCX_SPARES", "lazy" },
		{ "GREENHUB_MODE", "fast" },
	};
	static const char *const good[][2] = {
		{ "GREENHUB_SCX_GRACE", "adaptive" }, { "GREENHUB_SCX_GRACE", "always" },
		{ "GREENHUB_SCX_GRACE", "never" },    { "GREENHUB_SCX_GRACE_NS", "20000" },
		{ "GREENHUB_SCX_SPARES", "parked" },  { "GREENHUB_SCX_SPARES", "held" },
		{ "GREENHUB_SCX_GRACE", "" },
	};
	gh_hub *hub;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(setenv(bad[i][0], bad[i][1], 1), 0);
		hub = gh_hub_create(NULL);
		assert_non_null(hub);
		assert_int_equal(gh_hub_run(hub, return_arg, NULL, NULL), -EINVAL);
		if (!strstr(gh_hub_mode_reason(hub), bad[i][0]))
			fail_msg("%s=%s: reason '%s'", bad[i][0], bad[i][1],
				 gh_hub_mode_reason(hub));
		gh_hub_destroy(hub);
		assert_int_equal(unsetenv(bad[i][0]), 0);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(setenv(good[i][0], good[i][1], 1), 0);
		hub = gh_hub_create(NULL);
		assert_non_null(hub);
		assert_int_equal(gh_hub_run(hub, return_arg, NULL, NULL), 0);
		gh_hub_destroy(hub);
		assert_int_equal(unsetenv(good[i][0]), 0);
	}
}

static void test_hub_strerror_names_codes(void **state)
{
	/* Every int is a code it can name, INT_MIN included (its negation would overflow). */
	assert_non_null(gh_strerror(INT_MIN));
	assert_non_null(gh_strerror(INT_MAX));
	assert_string_equal(gh_strerror(0), "success");
	assert_non_null(strstr(gh_strerror(-ECANCELED), "cancelled"));
	assert_non_null(strstr(gh_strerror(-ETIMEDOUT), "deadline"));
	assert_non_null(strstr(gh_strerror(ETIMEDOUT), "deadline"));
	assert_non_null(strstr(gh_strerror(-EDEADLK), "deadlock"));
	assert_non_null(gh_strerror(-ENOENT));
	assert_string_equal(gh_strerror(-100000), "unknown error");
}

/* The kick signal greenhub reserves (SIGRTMAX-1): an application handler there, plain or
 * SA_SIGINFO, makes gh_hub_run refuse with a reason that names the signal. */
static void app_handler(int sig)
{
	(void)sig;
}

static void app_info_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
}

static void test_hub_kick_signal_taken_refused(void **state)
{
	struct sigaction sa, old;
	gh_hub *hub;

	for (int info = 0; info < 2; info++) {
		memset(&sa, 0, sizeof(sa));
		if (info) {
			sa.sa_flags = SA_SIGINFO;
			sa.sa_sigaction = app_info_handler;
		} else {
			sa.sa_handler = app_handler;
		}
		assert_int_equal(sigaction(SIGRTMAX - 1, &sa, &old), 0);
		hub = gh_hub_create(NULL);
		assert_non_null(hub);
		assert_int_equal(gh_hub_run(hub, return_arg, NULL, NULL), -EBUSY);
		if (!strstr(gh_hub_mode_reason(hub), "SIGRTMAX-1"))
			fail_msg("reason does not name the signal: %s", gh_hub_mode_reason(hub));
		gh_hub_destroy(hub);
		assert_int_equal(sigaction(SIGRTMAX - 1, &old, NULL), 0);
	}
	/* Given back, it works again. */
	signal(SIGRTMAX - 1, SIG_DFL);
	hub = gh_hub_create(NULL);
	assert_int_equal(gh_hub_run(hub, return_arg, NULL, NULL), 0);
	gh_hub_destroy(hub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hub_opts_defaults),
		cmocka_unit_test(test_hub_create_bad_opts_fail),
		cmocka_unit_test(test_hub_create_older_opts_accepted),
		cmocka_unit_test(test_hub_run_returns_main_result),
		cmocka_unit_test(test_hub_run_bad_args),
		cmocka_unit_test(test_hub_nested_run_and_destroy_running_rejected),
		cmocka_unit_test(test_hub_run_from_two_threads_rejected),
		cmocka_unit_test(test_hub_runs_again_after_return),
		cmocka_unit_test(test_hub_deadlock_detected),
		cmocka_unit_test(test_hub_frees_unjoined_threads),
		cmocka_unit_test(test_hub_one_per_os_thread),
		cmocka_unit_test(test_hub_unavailable_mode_refused_with_reason),
		cmocka_unit_test(test_hub_bad_kernel_assist_settings_refused),
		cmocka_unit_test(test_hub_strerror_names_codes),
		cmocka_unit_test(test_hub_kick_signal_taken_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
