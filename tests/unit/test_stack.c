// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Green stacks: configurable size, guard page, the overflow report, reuse. */
#include <alloca.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static void *use_stack(void *arg)
{
	size_t n = (size_t)arg;
	volatile char *buf = alloca(n);

	/* Touch every page, top to bottom, as a deep call chain would. */
	for (size_t i = n; i > 0; i -= 4096)
		buf[i - 1] = 1;
	buf[0] = 1;
	return NULL;
}

static void *big_stack_main(void *arg)
{
	join_ok(gh_spawn(use_stack, (void *)(size_t)(900 * 1024)));
	return NULL;
}

static void test_stack_size_is_configurable(void **state)
{
	struct gh_hub_opts o;
	gh_hub *hub;

	gh_hub_opts_init(&o);
	o.stack_size = 1024 * 1024;
	hub = gh_hub_create(&o);
	assert_non_null(hub);
	assert_int_equal(gh_hub_run(hub, big_stack_main, NULL, NULL), 0);
	gh_hub_destroy(hub);
}

/* Both faults below are the point of the tests: tell the compiler so. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
#pragma GCC diagnostic ignored "-Warray-bounds"
static int recurse(int depth)
{
	volatile char frame[512];

	frame[0] = (char)depth;
	return recurse(depth + 1) + frame[0];
}

static void *overflow(void *arg)
{
	return (void *)(intptr_t)recurse(0);
}

static void *overflow_main(void *arg)
{
	gh_thread *t = gh_spawn(overflow, NULL);

	gh_thread_set_name(t, "deep");
	join_ok(t);
	return NULL;
}

static void *wild_pointer_main(void *arg)
{
	*(volatile int *)16 = 1;
	return NULL;
}
#pragma GCC diagnostic pop

/* Run main in a hub with 64 KiB stacks in a child; return its stderr and wait status. */
static int run_child(gh_fn main_fn, char *out, size_t cap)
{
	struct gh_hub_opts o;

	gh_hub_opts_init(&o);
	o.stack_size = 64 * 1024;
	return run_hub_in_child(main_fn, &o, out, cap);
}

static void test_stack_overflow_reported(void **state)
{
	char out[4096];
	int status = run_child(overflow_main, out, sizeof(out));

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	assert_non_null(strstr(out, "stack overflow in green thread 'deep'"));
	assert_non_null(strstr(out, "its stack is 65536 bytes"));
}

static void test_stack_other_faults_not_blamed_on_overflow(void **state)
{
	char out[4096];
	int status = run_child(wild_pointer_main, out, sizeof(out));

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	assert_null(strstr(out, "stack overflow"));
}

static void *spawn_join_loop(void *arg)
{
	for (int i = 0; i < 100000; i++)
		join_ok(gh_spawn(use_stack, (void *)(size_t)8192));
	return NULL;
}

static void test_stack_reuse_over_many_spawns(void **state)
{
	/* 100k short threads through a small pool: stacks are recycled, not leaked (ASan checks
	 * leaks; without reuse this would map 100k stacks). */
	struct gh_hub_opts o;
	gh_hub *hub;

	gh_hub_opts_init(&o);
	o.stack_cache = 4;
	hub = gh_hub_create(&o);
	assert_int_equal(gh_hub_run(hub, spawn_join_loop, NULL, NULL), 0);
	gh_hub_destroy(hub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stack_size_is_configurable),
		cmocka_unit_test(test_stack_overflow_reported),
		cmocka_unit_test(test_stack_other_faults_not_blamed_on_overflow),
		cmocka_unit_test(test_stack_reuse_over_many_spawns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
