/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * On a kernel older than trace mode supports (Debian 11's 5.10 lacks task-local storage maps for
 * tracing programs), everything fails cleanly and says why:
 *   - `scx_greenhub -m trace -d` exits 4 (kernel unsupported) naming the missing feature, and
 *     pins nothing;
 *   - `scx_greenhub -d` (auto) exits 4 as well, after saying why each mode cannot run;
 *   - a hub in AUTO mode runs in mode none, and its mode reason carries the loader's reason;
 *   - a hub that asks for trace mode by name is refused with -EOPNOTSUPP;
 *   - the hub still works: a green thread's marked blocking call is handed off by the sysmon.
 *
 * GH_VM_REFUSED_FEATURE names the feature the loader must name (set per kernel by
 * tests/vm/suite.mk).
 */
#include <sys/stat.h>
#include <time.h>

#include "greenhub.h"
#include "scx_test.h"

static int beats;

static void *beat(void *arg)
{
	for (int i = 0; i < 20; i++) {
		gh_sleep_until(gh_now() + 5000000);
		beats++;
	}
	return NULL;
}

static void *blocker(void *arg)
{
	struct timespec ts = { .tv_nsec = 100000000 };

	GH_BLOCKING(nanosleep(&ts, NULL));
	return NULL;
}

static void *main_green(void *arg)
{
	gh_thread *b = gh_spawn(beat, NULL), *x = gh_spawn(blocker, NULL);

	gh_join(x, NULL);
	gh_join(b, NULL);
	return NULL;
}

static int run_hub(enum gh_mode want, enum gh_mode *mode, char *why, size_t len)
{
	struct gh_hub_opts o;
	gh_hub *hub;
	int err;

	gh_hub_opts_init(&o);
	o.mode = want;
	hub = gh_hub_create(&o);
	if (!hub)
		vm_test_fail("gh_hub_create: %s", gh_strerror(-errno));
	err = gh_hub_run(hub, main_green, NULL, NULL);
	*mode = gh_hub_mode(hub);
	snprintf(why, len, "%s", gh_hub_mode_reason(hub));
	gh_hub_destroy(hub);
	return err;
}

int main(void)
{
	const char *feature = getenv("GH_VM_REFUSED_FEATURE");
	char *const trace[] = { SCX_LOADER, "-m", "trace", "-d", NULL };
	char *const automode[] = { SCX_LOADER, "-d", NULL };
	enum gh_mode mode;
	char why[512];
	struct stat st;
	int rc;

	vm_test_require(feature && *feature, "GH_VM_REFUSED_FEATURE is not set");
	rc = scx_run(trace, "/tmp/refused_trace.log");
	scx_cat("/tmp/refused_trace.log", "  loader| ");
	VM_CHECK(rc == 4, "scx_greenhub -m trace -d exited %d, not 4", rc);
	VM_CHECK(scx_file_has("/tmp/refused_trace.log", feature),
		 "the loader's refusal does not name %s", feature);
	VM_CHECK(stat("/sys/fs/bpf/greenhub", &st) < 0, "a refused load left pins behind");

	rc = scx_run(automode, "/tmp/refused_auto.log");
	scx_cat("/tmp/refused_auto.log", "  loader| ");
	VM_CHECK(rc == 4, "scx_greenhub -d exited %d, not 4", rc);
	VM_CHECK(scx_file_has("/tmp/refused_auto.log", "no kernel-assist mode can run"),
		 "auto mode did not say that no mode can run");

	rc = run_hub(GH_MODE_AUTO, &mode, why, sizeof(why));
	printf("auto: %d, mode %s: %s\n", rc, gh_mode_name(mode), why);
	VM_CHECK(rc == 0, "an AUTO hub failed: %s", gh_strerror(rc));
	VM_CHECK(mode == GH_MODE_NONE, "an AUTO hub ran in mode %s", gh_mode_name(mode));
	VM_CHECK(strstr(why, feature) != NULL,
		 "the hub's mode reason does not carry the loader's reason (%s)", feature);
	VM_CHECK(beats == 20, "the hub's ticker ran %d of 20 beats", beats);

	beats = 0;
	rc = run_hub(GH_MODE_TRACE, &mode, why, sizeof(why));
	printf("trace by name: %d (%s): %s\n", rc, gh_strerror(rc), why);
	VM_CHECK(rc == -EOPNOTSUPP, "a hub asking for trace mode got %d, not -EOPNOTSUPP", rc);
	printf("PASS\n");
	return VM_EXIT_PASS;
}
