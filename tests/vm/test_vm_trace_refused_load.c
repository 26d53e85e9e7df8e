/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A kernel that has everything trace mode needs but refuses its programs at load time, for
 * reasons of its own (a security module, a lockdown), with no verifier log: a BPF LSM program of
 * the test's own (tests/vm/lsm_refuse_load.bpf.c) refuses every tp_btf program with EPERM while
 * it is attached. Runs in trace mode's suite on each kernel of the matrix that has it.
 *   - `scx_greenhub -m trace -d` exits 4 (kernel unsupported), names the program refused (the
 *     sys_exit gate's probe, or trace mode's own) and the kernel's error, not libbpf's guess
 *     at a memlock limit (the limit is lowered for it), and pins nothing;
 *   - `scx_greenhub -d` (auto) exits 4 too (sched_ext mode's process-exit programs are tp_btf
 *     programs as well), says that no mode can run, and records why in GH_LOADER_REFUSED;
 *   - a hub in AUTO mode runs in mode none and quotes that reason whole; its sysmon hands off a
 *     marked blocking call while another green thread keeps ticking;
 *   - once the kernel takes the programs again, trace mode loads and removes the record.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include "greenhub/trace.h"
#include "lsm_refuse_load.h"
#include "none_hub.h"
#include "scx_test.h"

int main(void)
{
	/* A kernel before 6.9 sees only the attach type at its hook, which only tp_btf programs
	 * use. */
	const struct lsm_refuse tp_btf = { .match_type = true, .prog_type = BPF_PROG_TYPE_TRACING,
					   .match_attach = true, .attach_type = BPF_TRACE_RAW_TP };
	char *const trace[] = { SCX_LOADER, "-m", "trace", "-d", NULL };
	char *const automode[] = { SCX_LOADER, "-d", NULL };
	char *const stop[] = { SCX_LOADER, "--stop", NULL };
	const char *eperm = strerror(EPERM);
	struct lsm_refuse_load *lsm;
	char recorded[GH_LOADER_REFUSED_MAX];
	struct rlimit memlock, low;
	FILE *f;
	struct none_hub h;
	unsigned long long refused;
	struct stat sb;
	char why[512];
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	VM_CHECK(lsm_refuse_load_begin(&tp_btf, &lsm, why, sizeof(why)) == 0, "%s", why);

	scx_stop_at_exit(); /* whatever loads, a failing test unloads */
	/* With a finite memlock limit libbpf follows each EPERM with a guess at it (these kernels
	 * do not charge BPF to it), which must not take the place of the reason. */
	VM_CHECK(getrlimit(RLIMIT_MEMLOCK, &memlock) == 0, "getrlimit: %s", strerror(errno));
	low = memlock;
	low.rlim_cur = 64 * 1024;
	VM_CHECK(setrlimit(RLIMIT_MEMLOCK, &low) == 0, "setrlimit: %s", strerror(errno));
	rc = scx_run(trace, "/tmp/refused_trace.log");
	scx_cat("/tmp/refused_trace.log", "  loader| ");
	VM_CHECK(rc == 4, "scx_greenhub -m trace -d exited %d, not 4", rc);
	/* Which program is refused first depends on the kernel (the sys_exit gate's probe where
	 * there is no task-work kfunc); the loader must name it. */
	VM_CHECK(scx_file_has("/tmp/refused_trace.log", "trace mode cannot run here: "),
		 "the loader did not say that trace mode cannot run");
	VM_CHECK(scx_file_has("/tmp/refused_trace.log", "prog 'greenhub_"),
		 "the loader did not name the program the kernel refused");
	VM_CHECK(scx_file_has("/tmp/refused_trace.log", eperm),
		 "the loader did not give the kernel's reason (%s)", eperm);
	scx_check_no_pins(GH_TRACE_PIN_DIR, "a refused load");
	scx_check_no_pins(GH_SCX_PIN_DIR, "a refused load");

	rc = scx_run(automode, "/tmp/refused_auto.log");
	scx_cat("/tmp/refused_auto.log", "  loader| ");
	VM_CHECK(rc == 4, "scx_greenhub -d exited %d, not 4", rc);
	VM_CHECK(scx_file_has("/tmp/refused_auto.log", "no kernel-assist mode can run"),
		 "auto mode did not say that no mode can run");
	VM_CHECK(scx_file_has(GH_LOADER_REFUSED, eperm), "%s does not give the kernel's reason",
		 GH_LOADER_REFUSED);
	f = fopen(GH_LOADER_REFUSED, "r");
	VM_CHECK(f && fgets(recorded, sizeof(recorded), f), "reading %s: %s", GH_LOADER_REFUSED,
		 strerror(errno));
	fclose(f);
	recorded[strcspn(recorded, "\n")] = '\0';
	printf("recorded (%zu bytes): %s\n", strlen(recorded), recorded);
	scx_check_no_pins(GH_TRACE_PIN_DIR, "a refused load");
	scx_check_no_pins(GH_SCX_PIN_DIR, "a refused load");
	VM_CHECK(setrlimit(RLIMIT_MEMLOCK, &memlock) == 0, "setrlimit: %s", strerror(errno));
	refused = lsm_refuse_load_end(lsm);
	printf("the BPF LSM program refused %llu loads\n", refused);
	VM_CHECK(refused > 0, "the BPF LSM program refused no load");

	rc = none_hub_run(GH_MODE_AUTO, &h);
	printf("hub: mode %s: %s\n", gh_mode_name(h.mode), h.why);
	VM_CHECK(rc == 0, "gh_hub_run: %s", gh_strerror(rc));
	VM_CHECK(h.mode == GH_MODE_NONE, "the hub ran in mode %s", gh_mode_name(h.mode));
	VM_CHECK(strstr(h.why, recorded) != NULL, "the hub's mode reason does not carry all of "
		 "the loader's: %s", recorded);
	VM_CHECK(h.handoffs >= 1, "the sysmon did not hand off the marked call");
	VM_CHECK(h.beats == NONE_HUB_BEATS, "the hub's ticker ran %d of %d beats", h.beats,
		 NONE_HUB_BEATS);

	/* The kernel takes the programs again: trace mode loads, and the record is gone. */
	rc = scx_run(trace, "/tmp/refused_trace.log");
	scx_cat("/tmp/refused_trace.log", "  loader| ");
	VM_CHECK(rc == 0, "scx_greenhub -m trace -d exited %d once the kernel took it again", rc);
	VM_CHECK(stat(GH_LOADER_REFUSED, &sb) < 0 && errno == ENOENT,
		 "a successful load left %s", GH_LOADER_REFUSED);
	scx_loaded = false;
	rc = scx_run(stop, "/tmp/refused_stop.log");
	VM_CHECK(rc == 0, "scx_greenhub --stop exited %d", rc);
	printf("PASS\n");
	return VM_EXIT_PASS;
}
