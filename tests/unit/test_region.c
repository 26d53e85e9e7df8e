// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Blocking regions: the API, misuse, nesting, errno, and the uncontended fast path. */
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static void *nothing(void *arg)
{
	return arg;
}

static void test_region_outside_hub_rejected(void **state)
{
	assert_int_equal(gh_blocking_begin(), -EPERM);
	assert_int_equal(gh_blocking_end(), -EPERM);
}

static void *misuse_main(void *arg)
{
	check_int_equal(gh_blocking_end(), -EINVAL);
	check_int_equal(gh_blocking_begin(), 0);
	/* Inside a region the carrier may not own the hub: no greenhub calls. */
	check_int_equal(gh_yield(), -EPERM);
	check_int_equal(gh_sleep_until(0), -EPERM);
	check_null(gh_spawn(nothing, NULL));
	check_null(gh_self());
	check_int_equal(gh_blocking_end(), 0);
	check_int_equal(gh_blocking_end(), -EINVAL);
	check_int_equal(gh_yield(), 0);
	return NULL;
}

static void test_region_misuse_rejected(void **state)
{
	run_in_hub(misuse_main, NULL);
}

static void *nesting_main(void *arg)
{
	check_int_equal(gh_blocking_begin(), 0);
	check_int_equal(gh_blocking_begin(), 0);
	usleep(1000);
	check_int_equal(gh_blocking_end(), 0);
	/* Still inside the outer region. */
	check_int_equal(gh_yield(), -EPERM);
	check_int_equal(gh_blocking_end(), 0);
	check_int_equal(gh_yield(), 0);
	return NULL;
}

static void test_region_nests(void **state)
{
	run_in_hub(nesting_main, NULL);
}

static void *errno_main(void *arg)
{
	int fd = dup(0);
	ssize_t n;

	close(fd);
	errno = 0;
	n = GH_BLOCKING(read(fd, &n, 1));
	check_int_equal(n, -1);
	check_int_equal(errno, EBADF);
	errno = 1234;
	gh_blocking_begin();
	gh_blocking_end();
	check_int_equal(errno, 1234);
	return NULL;
}

static void test_region_preserves_errno(void **state)
{
	run_in_hub(errno_main, NULL);
}

static void *fast_path_main(void *arg)
{
	struct gh_hub_stats st = { .sz = sizeof(st) };

	for (int i = 0; i < 100000; i++) {
		check_int_equal(gh_blocking_begin(), 0);
		check_int_equal(gh_blocking_end(), 0);
	}
	check_int_equal(gh_hub_stats(gh_hub_current(), &st), 0);
	return (void *)(uintptr_t)(st.handoffs - st.cancels - st.takeovers);
}

static void test_region_uncontended_regions_balance(void **state)
{
	/* A region the sysmon catches is handed off; every handoff ends in a takeover or a
	 * cancel, so the difference is zero whatever the timing. */
	assert_null(run_in_hub(fast_path_main, NULL));
}

static void test_region_stats_bad_args(void **state)
{
	gh_hub *hub = gh_hub_create(NULL);
	struct gh_hub_stats st = { .sz = 0 };
	struct {
		size_t sz;
		int mode;
	} older = { .sz = sizeof(older) };

	assert_int_equal(gh_hub_stats(NULL, &st), -EINVAL);
	assert_int_equal(gh_hub_stats(hub, NULL), -EINVAL);
	assert_int_equal(gh_hub_stats(hub, &st), -EINVAL);
	/* An older caller gets the prefix it knows. */
	assert_int_equal(gh_hub_stats(hub, (struct gh_hub_stats *)&older), 0);
	assert_int_equal(older.sz, sizeof(older));
	assert_int_equal(older.mode, GH_MODE_NONE);
	assert_string_equal(gh_mode_name(gh_hub_mode(hub)), "none");
	gh_hub_destroy(hub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_outside_hub_rejected),
		cmocka_unit_test(test_region_misuse_rejected),
		cmocka_unit_test(test_region_nests),
		cmocka_unit_test(test_region_preserves_errno),
		cmocka_unit_test(test_region_uncontended_regions_balance),
		cmocka_unit_test(test_region_stats_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
