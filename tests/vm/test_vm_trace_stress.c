/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The exclusivity stress checker (tests/stress/stress.c) in trace mode, on the VM's kernel: 3
 * hubs x 100 green threads making bare pipe reads, nanosleeps and futex waits, 30 s of TCG
 * time, every stretch of green code checked with a marker. Zero violations, and the loader
 * says which return gate it used: on this kernel the task work (bpf/task_work.bpf.h).
 *
 * Trace mode's own suite (tests/bpf) runs on the host's kernel; this one runs it where a gate
 * signal sent from the sys_exit tracepoint arrives only after the carrier has run user code,
 * which is how the gate's first design was found to break exclusivity here within a second,
 * and where a task work armed only at the handoff still let a carrier through in half of the
 * 10 s runs (bpf/task_work.bpf.h, gh_arm_gate_here()): 30 s catch that about 7 times in 8.
 *
 * GH_VM_STRESS_SECONDS overrides the length.
 */
#include "scx_test.h"

int main(void)
{
	const char *env = getenv("GH_VM_STRESS_SECONDS");
	char *const load[] = { SCX_LOADER, "-m", "trace", "-d", NULL };
	char *const stats[] = { SCX_LOADER, "--stats", "--once", NULL };
	char *const stop[] = { SCX_LOADER, "--stop", NULL };
	char seconds[16];
	char *const argv[] = { "stress", "--mode", "trace", "--unmarked", "--seconds", seconds,
			       "--hubs", "3", "--threads", "100", NULL };
	int rc;

	snprintf(seconds, sizeof(seconds), "%s", env && *env ? env : "30");
	rc = scx_run(load, "/tmp/trace_load.log");
	if (rc != 0) {
		scx_cat("/tmp/trace_load.log", "  loader| ");
		vm_test_fail("scx_greenhub -m trace -d exited with %d", rc);
	}
	rc = scx_run(argv, "/tmp/trace_stress.log");
	scx_cat("/tmp/trace_stress.log", "");
	VM_CHECK(scx_run(stats, "/tmp/trace_stats.log") == 0, "scx_greenhub --stats failed");
	scx_cat("/tmp/trace_stats.log", "stats| ");
	VM_CHECK(scx_run(stop, "/tmp/trace_stop.log") == 0, "scx_greenhub --stop failed");
	VM_CHECK(rc == 0, "stress exited with %d", rc);
	VM_CHECK(scx_file_has("/tmp/trace_stress.log", " 0 exclusivity violations"),
		 "stress reported violations");
	VM_CHECK(scx_file_has("/tmp/trace_stress.log", "mode trace"),
		 "stress did not run in trace mode");
	VM_CHECK(scx_file_has("/tmp/trace_stats.log", "return gate: task work"),
		 "the loader did not use the task-work gate on this kernel");
	printf("PASS\n");
	return VM_EXIT_PASS;
}
