// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Green stacks: configurable size, guard page, the overflow report, reuse. */
#include <alloca.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
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
	assert_int_equal(hub_run(hub, big_stack_main, NULL, NULL), 0);
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

/* A frame larger than a one-page guard that writes only its low end (this file is built
 * without -fstack-clash-protection, as a user's code may be): with the old one-page guard it
 * stepped over it, unreported. */
static void *big_frame(void *arg)
{
	volatile char frame[32 * 1024];

	frame[0] = 1;
	return (void *)(intptr_t)frame[0];
}

static void *big_frame_main(void *arg)
{
	gh_thread *t = gh_spawn(big_frame, NULL);

	gh_thread_set_name(t, "wide");
	join_ok(t);
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

static void test_stack_large_frame_overflow_reported(void **state)
{
	struct gh_hub_opts o;
	char out[4096];
	int status;

#if defined(TEST_ASAN) || defined(TEST_TSAN)
	/* The sanitizers lay out large frames as they like (ASan may move them off the stack). */
	skip();
#endif
	gh_hub_opts_init(&o);
	o.stack_size = GH_STACK_MIN;
	status = run_hub_in_child(big_frame_main, &o, out, sizeof(out));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV ||
	    !strstr(out, "stack overflow in green thread 'wide'"))
		fail_msg("status %#x, not reported: '%s'", status, out);
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
	assert_int_equal(hub_run(hub, spawn_join_loop, NULL, NULL), 0);
	gh_hub_destroy(hub);
}

/* ---------------------------------------------------------------------------------------- */
/* 100,000 green threads                                                                      */

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#if defined(TEST_TSAN)
#define MANY_THREADS 2000 /* a TSan fiber per green thread, with a shadow stack of its own */
#elif defined(TEST_ASAN)
#define MANY_THREADS 20000 /* ASan's own memory per thread */
#else
#define MANY_THREADS 100000
#endif

static gh_event *many_go;
static unsigned many_started, many_done;

static void *many_waiter(void *arg)
{
	many_started++;
	check_int_equal(gh_event_wait(many_go, GH_NEVER), 0);
	many_done++;
	return NULL;
}

static void *many_main(void *arg)
{
	unsigned n = (unsigned)(uintptr_t)arg;
	gh_thread **t = calloc(n, sizeof(*t));

	if (!check_non_null(t))
		return NULL;
	many_go = gh_event_create();
	for (unsigned i = 0; i < n; i++) {
		t[i] = gh_spawn(many_waiter, NULL);
		/* Those spawned so far still run to their end, so that the hub can return. */
		if (!check_msg(t[i], "spawn %u of %u failed: %s", i, n, gh_strerror(-errno)))
			n = i;
	}
	while (many_started < n)
		gh_yield();
	check_int_equal(gh_event_set(many_go), 0);
	for (unsigned i = 0; i < n; i++)
		join_ok(t[i]);
	check_int_equal(many_done, n);
	gh_event_destroy(many_go);
	free(t);
	return NULL;
}

/* Does this kernel make guard regions without splitting mappings (Linux 6.13)? */
static int guard_regions(void)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ok;

	assert_true(p != MAP_FAILED);
	ok = madvise(p, (size_t)page, MADV_GUARD_INSTALL) == 0;
	if (ok) {
		/* Really a guard (qemu-user accepts any advice and does nothing)? */
		int fds[2];

		assert_int_equal(pipe(fds), 0);
		ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
		close(fds[0]);
		close(fds[1]);
	}
	munmap(p, (size_t)page * 2);
	return ok;
}

static void test_stack_hundred_thousand_threads(void **state)
{
	/* With guards that split each stack in two mappings, vm.max_map_count (65530 by default)
	 * stops a process near 32,700 green threads: aim below that there. */
	unsigned n = guard_regions() ? MANY_THREADS : 30000;
	struct gh_hub_opts o;
	gh_hub *hub;

	print_message("    %u green threads at once (%s)\n", n,
		      guard_regions() ? "guard regions by madvise" : "guard pages by mprotect");
	gh_hub_opts_init(&o);
	o.stack_size = GH_STACK_MIN;
	o.stack_cache = 16;
	hub = gh_hub_create(&o);
	assert_non_null(hub);
	assert_int_equal(hub_run(hub, many_main, (void *)(uintptr_t)n, NULL), 0);
	gh_hub_destroy(hub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stack_size_is_configurable),
		cmocka_unit_test(test_stack_overflow_reported),
		cmocka_unit_test(test_stack_large_frame_overflow_reported),
		cmocka_unit_test(test_stack_other_faults_not_blamed_on_overflow),
		cmocka_unit_test(test_stack_reuse_over_many_spawns),
		cmocka_unit_test(test_stack_hundred_thousand_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
