// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What every mode's control map shares, and so what one copy of the loader handles for all of
 * them: the drain before an unload, and the handoff-latency histogram.
 *
 * Both kernel sides stop alike (docs/loader.md, "Stopping safely"): a carrier they handed off
 * is blocked in a system call and must meet its return gate before it runs user code again, so
 * nothing is unpinned while one is displaced. The loader turns handoffs off through the state
 * word, then waits for the displaced gauge to reach 0. The mode says where those words are
 * (struct loader_drain) and how its messages name its kernel side.
 */
#include <math.h>
#include <stdio.h>

#include "loader.h"

#define NSEC_PER_SEC 1000000000ull

/* The kernel side has exited on its own: it hands nothing off and settles nothing any more. */
static bool exited(const struct loader_drain *d)
{
	return d->exited && __atomic_load_n(d->exited, __ATOMIC_ACQUIRE);
}

static void report_waiting(const struct loader_drain *d, long long n)
{
	const char *colon = "", *hubs = "";
	char who[128] = "";

	if (d->name_hubs) {
		d->name_hubs(d->hubs, who, sizeof(who));
		colon = ":";
		hubs = who[0] ? who : " (unknown hubs)";
	}
	loader_info("handoffs are off; waiting for %lld blocked carrier(s) to return%s%s", n,
		    colon, hubs);
}

/* 0 once no carrier is displaced, EXIT_BUSY if the wait ended first (message printed). */
static int drain(const struct loader_drain *d, const struct loader_opts *o)
{
	uint64_t start = loader_now(), next_report = start + NSEC_PER_SEC;
	int interrupted_at = loader_interrupted;

	/* The loader's half of the Dekker pair with the handoff path: store, then read, both
	 * seq_cst. An exited kernel side keeps the state its exit wrote. */
	if (!exited(d))
		__atomic_store_n(d->state, d->draining, __ATOMIC_SEQ_CST);
	for (;;) {
		__s64 n = __atomic_load_n(d->nr_displaced, __ATOMIC_SEQ_CST);
		uint64_t now = loader_now();

		if (n <= 0 || exited(d))
			return 0;
		if ((o->timeout >= 0 && now - start >= (uint64_t)(o->timeout * 1e9)) ||
		    loader_interrupted > interrupted_at) {
			loader_err("%lld carrier(s) are still blocked in calls %s", (long long)n,
				   d->busy);
			return EXIT_BUSY;
		}
		if (now >= next_report) {
			report_waiting(d, n);
			next_report = now + NSEC_PER_SEC;
		}
		loader_sleep(0.001);
	}
}

int loader_unload(const struct loader_pins *pins, const struct loader_drain *d,
		  const struct loader_opts *o, bool again)
{
	int status = drain(d, o);

	if (status) {
		loader_err("%srun `scx_greenhub --stop`%s once the blocked calls have returned",
			   d->left, again ? " again" : "");
		return status;
	}
	/* Unpinning the links drops their last reference: the programs (the scheduler) detach. */
	loader_unpin_all(pins);
	return 0;
}

uint64_t loader_hist_quantile(const __u64 *bucket, unsigned nr, double q)
{
	uint64_t total = 0, want, seen = 0;

	for (unsigned b = 0; b < nr; b++)
		total += bucket[b];
	if (!total)
		return 0;
	want = (uint64_t)ceil(q * (double)total);
	for (unsigned b = 0; b < nr; b++) {
		seen += bucket[b];
		if (seen >= want)
			return 1ull << b;
	}
	return 1ull << (nr - 1);
}
