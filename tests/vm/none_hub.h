/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The hub the VM tests of a refused trace mode run (test_vm_trace_refused,
 * test_vm_trace_refused_load): a ticker green thread beats NONE_HUB_BEATS times, every 5 ms,
 * while another makes a marked 100 ms nanosleep. In mode none the sysmon must hand that call
 * off, so every beat runs. Header-only, like vm_test.h.
 */
#ifndef GREENHUB_NONE_HUB_H
#define GREENHUB_NONE_HUB_H

#include <time.h>

#include "greenhub.h"
#include "vm_test.h"

#define NONE_HUB_BEATS 20

struct none_hub {
	enum gh_mode mode;     /* the mode it ran in */
	char why[1024];        /* its mode reason (the runtime keeps up to 767 bytes) */
	int beats;
	unsigned long long handoffs;
};

static inline void *none_hub_beat(void *arg)
{
	struct none_hub *h = arg;

	for (int i = 0; i < NONE_HUB_BEATS; i++) {
		gh_sleep(5000000);
		h->beats++;
	}
	return NULL;
}

static inline void *none_hub_block(void *arg)
{
	struct timespec ts = { .tv_nsec = 100000000 };

	GH_BLOCKING(nanosleep(&ts, NULL));
	return NULL;
}

static inline void *none_hub_main(void *arg)
{
	gh_thread *b = gh_spawn(none_hub_beat, arg), *x = gh_spawn(none_hub_block, NULL);

	VM_CHECK(b && x, "gh_spawn: %s", strerror(errno));
	gh_join(x, NULL);
	gh_join(b, NULL);
	return NULL;
}

/* Run the hub, asking for mode want: gh_hub_run's result, and what happened in *h. */
static inline int none_hub_run(enum gh_mode want, struct none_hub *h)
{
	struct gh_hub_stats st = { .sz = sizeof(st) };
	struct gh_hub_opts o;
	gh_hub *hub;
	int err;

	memset(h, 0, sizeof(*h));
	gh_hub_opts_init(&o);
	o.mode = want;
	hub = gh_hub_create(&o);
	if (!hub)
		vm_test_fail("gh_hub_create: %s", gh_strerror(-errno));
	err = gh_hub_run(hub, none_hub_main, h, NULL);
	h->mode = gh_hub_mode(hub);
	snprintf(h->why, sizeof(h->why), "%s", gh_hub_mode_reason(hub));
	gh_hub_stats(hub, &st);
	h->handoffs = st.handoffs;
	gh_hub_destroy(hub);
	return err;
}

#endif /* GREENHUB_NONE_HUB_H */
