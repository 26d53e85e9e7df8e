/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The exclusivity stress checker (tests/stress/stress.c) in trace mode, on the VM's kernel: 3
 * hubs x 100 green threads making bare pipe reads, nanosleeps and futex waits, 30 s of TCG
 * time, every stretch of green code checked with a marker. Zero violations, no gate signal
 * that the gate had to give up waiting for, and the loader says which return gate it used:
 * the one the matrix expects of this kernel (GH_VM_EXPECT_GATE: "task work" where the kernel
 * takes it, 7.x; "sys_exit" on 6.1 and 6.12, which lack the kfunc).
 *
 * Under qemu TCG a gate signal sent from the sys_exit tracepoint arrives only after the
 * carrier's return to user mode unless the gate waits for it (bpf/greenhub_trace.bpf.c), which
 * is how the gate's first design was found to break exclusivity here within a second; and a
 * task work armed only at the handoff still let a carrier through in half of the 10 s runs
 * (bpf/task_work.bpf.h, gh_arm_gate_here()): 30 s catch that about 7 times in 8.
 *
 * Where the kernel takes the task-work gate, a second run grants every sleep a 20 us grace
 * period (`--grace always --grace-ns 20000`): the grace timer then arms the gates and makes
 * most handoffs (tens of thousands a run, against thousands), each racing its sleeper's wake and
 * the next owner's sleep (bpf/taker_gate.bpf.h, timer_gates_and_hands_off()).
 *
 * There, the gates of kernels that refuse the task-work gate are tried too:
 * the taker-armed gate (`--gate taker`, 6.18.x's), stressed in a second run; and the sys_exit
 * gate (`--gate sys-exit`): on a kernel that can preempt a thread inside a tracepoint program
 * (7.x) the loader must refuse it and say why; elsewhere a third run stresses it. Every run
 * checks that the kernel never skipped the sys_exit program (its recursion guard).
 *
 * GH_VM_STRESS_SECONDS overrides the length of each run.
 */
#include "scx_test.h"

/* One stress run with the loader started as load[]: its verdict, the gate the loader reports
 * (want: "task work", "task work armed by the taker" or "sys_exit"; NULL: whichever). */
static void stress_with(char *const load[], const char *seconds, const char *want)
{
	char *const stats[] = { SCX_LOADER, "--stats", "--once", NULL };
	char *const stop[] = { SCX_LOADER, "--stop", NULL };
	char *const argv[] = { "stress", "--mode", "trace", "--unmarked", "--seconds",
			       (char *)seconds, "--hubs", "3", "--threads", "100", NULL };
	char line[64];
	int rc;

	/* A test before this one may have failed with the kernel side loaded. */
	(void)scx_run(stop, "/tmp/trace_stop.log");
	rc = scx_run(load, "/tmp/trace_load.log");
	scx_cat("/tmp/trace_load.log", "  loader| ");
	if (rc != 0)
		vm_test_fail("scx_greenhub exited with %d", rc);
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
	if (want) {
		snprintf(line, sizeof(line), "return gate: %s", want);
		VM_CHECK(scx_file_has("/tmp/trace_stats.log", line),
			 "the loader did not use the %s gate on this kernel", want);
	}
	VM_CHECK(scx_file_has("/tmp/trace_stats.log", ", late 0\n"),
		 "a gate gave up waiting for its signal");
	/* A gate the kernel skipped would have let a carrier through. */
	VM_CHECK(!scx_file_has("/tmp/trace_stats.log", "sys_exit ") ||
			 scx_file_has("/tmp/trace_stats.log", "sys_exit 0,"),
		 "the kernel skipped the sys_exit gate program");
}

int main(void)
{
	const char *env = getenv("GH_VM_STRESS_SECONDS");
	const char *gate = getenv("GH_VM_EXPECT_GATE");
	char *const load[] = { SCX_LOADER, "-m", "trace", "-d", NULL };
	char *const sys_exit[] = { SCX_LOADER, "-m", "trace", "--gate", "sys-exit", "-d", NULL };
	char *const taker[] = { SCX_LOADER, "-m", "trace", "--gate", "taker", "-d", NULL };
	char *const timer[] = { SCX_LOADER, "-m", "trace", "--grace", "always", "--grace-ns",
				"20000", "-d", NULL };
	char seconds[16];

	snprintf(seconds, sizeof(seconds), "%s", env && *env ? env : "30");
	stress_with(load, seconds, gate && *gate ? gate : NULL);
	/* Where a task-work gate is the default, the taker-armed gate, the fallback of a kernel
	 * whose verifier refuses the task work in a tp_btf program, and the sys_exit gate, that of
	 * a kernel without the kfunc, are tried too; the sys_exit gate only where the kernel cannot
	 * preempt a thread inside it (else the loader must refuse it, and say why). */
	if (scx_file_has("/tmp/trace_stats.log", "return gate: task work")) {
		char *const stop[] = { SCX_LOADER, "--stop", NULL };
		int rc;

		stress_with(timer, seconds, "task work");
		VM_CHECK(!scx_file_has("/tmp/trace_stats.log", "task-work gate: 0 armed"),
			 "the grace timer armed no gate in the run that grants every sleep one");
		stress_with(taker, seconds, "task work armed by the taker");
		(void)scx_run(stop, "/tmp/trace_stop.log");
		rc = scx_run(sys_exit, "/tmp/trace_load.log");
		scx_cat("/tmp/trace_load.log", "  loader| ");
		if (rc == 4) {
			VM_CHECK(scx_file_has("/tmp/trace_load.log", "preempts threads inside"),
				 "the loader refused the sys_exit gate without saying why");
			printf("the sys_exit gate is refused here: this kernel preempts inside "
			       "tracepoint programs\n");
		} else {
			VM_CHECK(rc == 0, "scx_greenhub --gate sys-exit exited %d", rc);
			(void)scx_run(stop, "/tmp/trace_stop.log");
			stress_with(sys_exit, seconds, "sys_exit");
		}
	}
	printf("PASS\n");
	return VM_EXIT_PASS;
}
