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
#include "greenhub/trace.h"
#include "none_hub.h"
#include "scx_test.h"

int main(void)
{
	const char *feature = getenv("GH_VM_REFUSED_FEATURE");
	char *const trace[] = { SCX_LOADER, "-m", "trace", "-d", NULL };
	char *const automode[] = { SCX_LOADER, "-d", NULL };
	struct none_hub h;
	int rc;

	vm_test_require(feature && *feature, "GH_VM_REFUSED_FEATURE is not set");
	rc = scx_run(trace, "/tmp/refused_trace.log");
	scx_cat("/tmp/refused_trace.log", "  loader| ");
	VM_CHECK(rc == 4, "scx_greenhub -m trace -d exited %d, not 4", rc);
	VM_CHECK(scx_file_has("/tmp/refused_trace.log", feature),
		 "the loader's refusal does not name %s", feature);
	scx_check_no_pins(GH_TRACE_PIN_DIR, "a refused load");

	rc = scx_run(automode, "/tmp/refused_auto.log");
	scx_cat("/tmp/refused_auto.log", "  loader| ");
	VM_CHECK(rc == 4, "scx_greenhub -d exited %d, not 4", rc);
	VM_CHECK(scx_file_has("/tmp/refused_auto.log", "no kernel-assist mode can run"),
		 "auto mode did not say that no mode can run");

	rc = none_hub_run(GH_MODE_AUTO, &h);
	printf("auto: %d, mode %s: %s\n", rc, gh_mode_name(h.mode), h.why);
	VM_CHECK(rc == 0, "an AUTO hub failed: %s", gh_strerror(rc));
	VM_CHECK(h.mode == GH_MODE_NONE, "an AUTO hub ran in mode %s", gh_mode_name(h.mode));
	VM_CHECK(strstr(h.why, feature) != NULL,
		 "the hub's mode reason does not carry the loader's reason (%s)", feature);
	VM_CHECK(h.handoffs >= 1, "the sysmon did not hand off the marked call");
	VM_CHECK(h.beats == NONE_HUB_BEATS, "the hub's ticker ran %d of %d beats", h.beats,
		 NONE_HUB_BEATS);

	rc = none_hub_run(GH_MODE_TRACE, &h);
	printf("trace by name: %d (%s): %s\n", rc, gh_strerror(rc), h.why);
	VM_CHECK(rc == -EOPNOTSUPP, "a hub asking for trace mode got %d, not -EOPNOTSUPP", rc);
	printf("PASS\n");
	return VM_EXIT_PASS;
}
