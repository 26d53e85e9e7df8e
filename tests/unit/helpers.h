/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Shared helpers for the cmocka unit tests. */
#ifndef GREENHUB_TEST_HELPERS_H
#define GREENHUB_TEST_HELPERS_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "greenhub.h"

#define MS(n) ((uint64_t)(n) * 1000000u)

/* Run fn(arg) as the main green thread of a fresh default hub; return its result. */
static inline void *run_in_hub(gh_fn fn, void *arg)
{
	gh_hub *hub = gh_hub_create(NULL);
	void *result = NULL;

	assert_non_null(hub);
	assert_int_equal(gh_hub_run(hub, fn, arg, &result), 0);
	assert_int_equal(gh_hub_destroy(hub), 0);
	return result;
}

/* Join t and return its result, failing the test if the join fails. */
static inline void *join_ok(gh_thread *t)
{
	void *result = NULL;

	assert_non_null(t);
	assert_int_equal(gh_join(t, &result), 0);
	return result;
}

#endif
