// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Does a BPF timer started from a context-switch program arm at once? The probe of
 * bpf/greenhub_timer_probe.bpf.c, run on the loader's own thread, which decides how trace mode
 * keeps its grace timers (enum gh_trace_grace_timer).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "greenhub_timer_probe.skel.h"
#include "loader.h"

/* How long the loader's thread sleeps at most before the probe has seen one of its sleeps. */
#define PROBE_SLEEPS 100
#define PROBE_SLEEP_NS 1000000L

int loader_probe_timer_start(const struct loader_opts *o, bool *at_once, char *why, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = o->btf_path);
	const struct timespec nap = { .tv_nsec = PROBE_SLEEP_NS };
	struct greenhub_timer_probe *probe;
	int err;

	probe = greenhub_timer_probe__open_opts(&open_opts);
	if (!probe) {
		err = -errno;
		snprintf(why, len, "opening the timer probe: %s", strerror(-err));
		return err;
	}
	probe->rodata->probe_tid = (__u32)gettid();
	err = loader_load_attach(probe->skeleton, "the timer probe", why, len);
	if (err)
		goto out;
	for (int i = 0; i < PROBE_SLEEPS && !__atomic_load_n(&probe->bss->nr_seen, __ATOMIC_ACQUIRE);
	     i++) {
		if (nanosleep(&nap, NULL) < 0 && errno != EINTR) {
			err = -errno;
			snprintf(why, len, "nanosleep during the timer probe: %s", strerror(-err));
			goto out;
		}
	}
	if (!__atomic_load_n(&probe->bss->nr_seen, __ATOMIC_ACQUIRE)) {
		err = -ENOENT;
		snprintf(why, len, "the timer probe saw none of the loader's sleeps");
	} else if (probe->bss->init_ret) {
		err = probe->bss->init_ret;
		snprintf(why, len, "the timer probe could not set its timer up: %s", strerror(-err));
	} else if (probe->bss->start_ret) {
		err = probe->bss->start_ret;
		snprintf(why, len, "the timer probe could not start its timer: %s", strerror(-err));
	} else {
		*at_once = probe->bss->cancel_ret == 1;
	}
out:
	greenhub_timer_probe__destroy(probe);
	return err;
}
