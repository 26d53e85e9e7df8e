/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The exclusivity stress checker (tests/stress/stress.c) in sched_ext mode with unmarked
 * blocking calls: several hubs of green threads making bare pipe reads, nanosleeps and futex
 * waits, every stretch of green code checked with a marker. Zero violations, every handoff
 * ended in a takeover or a cancel, and the scheduler is still attached afterwards. The first run
 * has the default (adaptive) grace policy, which switches between immediate handoffs and a
 * grace period as the outcomes come in; then a shorter run with a 30 us grace period always
 * (GREENHUB_SCX_GRACE=always), whose late handoffs race the owner's wake.
 *
 * GH_VM_STRESS_SECONDS overrides the lengths (default 10 s, then 5 s, of TCG time).
 */
#include "scx_test.h"

int main(void)
{
	const char *env = getenv("GH_VM_STRESS_SECONDS");
	char seconds[16], buf[64];
	char *const argv[] = { "stress", "--mode", "sched_ext", "--unmarked", "--seconds", seconds,
			       "--hubs", "3", "--threads", "100", NULL };
	struct gh_scx_control *ctl;
	__u64 graced, late;
	int rc;

	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	VM_CHECK(vm_scx_wait_state("disabled", 0) == 0, "a scheduler is already loaded");
	snprintf(seconds, sizeof(seconds), "%s", env && *env ? env : "10");
	scx_load();
	rc = scx_run(argv, "/tmp/stress.log");
	scx_cat("/tmp/stress.log", "");
	ctl = scx_control();
	VM_CHECK(ctl != NULL, "the control map is gone");
	printf("scheduler: handoffs %llu, holds %llu, releases %llu, held spares run %llu, parked "
	       "spares signalled %llu, misses %llu, long holds %llu, gates stopped %llu\n",
	       (unsigned long long)ctl->kside.nr_handoffs, (unsigned long long)ctl->nr_holds,
	       (unsigned long long)ctl->nr_releases, (unsigned long long)ctl->nr_spare_runs,
	       (unsigned long long)ctl->kside.nr_spare_wakes,
	       (unsigned long long)ctl->kside.nr_spare_misses,
	       (unsigned long long)ctl->nr_long_holds, (unsigned long long)ctl->kside.nr_gates);
	VM_CHECK(ctl->exit.kind == 0, "the scheduler exited: %s: %s", ctl->exit.reason,
		 ctl->exit.msg);
	VM_CHECK(strcmp(vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf)), "enabled") == 0,
		 "state '%s' after the run", buf);
	VM_CHECK(rc == 0, "stress exited with %d", rc);
	VM_CHECK(scx_file_has("/tmp/stress.log", " 0 exclusivity violations"),
		 "stress reported violations");
	VM_CHECK(scx_file_has("/tmp/stress.log", "mode sched_ext"), "stress did not run in "
		 "sched_ext mode");
	VM_CHECK(ctl->kside.nr_handoffs > 100 && ctl->nr_holds > 10,
		 "too few handoffs (%llu) or holds "
		 "(%llu) to prove anything",
		 (unsigned long long)ctl->kside.nr_handoffs, (unsigned long long)ctl->nr_holds);

	printf("adaptive grace: %llu sleeps ended within it, %llu handed off after it\n",
	       (unsigned long long)ctl->nr_graced, (unsigned long long)ctl->nr_late_handoffs);

	/* Again with a grace period: the owner's wake races the grace timer's late handoff. */
	graced = ctl->nr_graced;
	late = ctl->nr_late_handoffs;
	snprintf(seconds, sizeof(seconds), "%s", env && *env ? env : "5");
	setenv("GREENHUB_SCX_GRACE", "always", 1);
	setenv("GREENHUB_SCX_GRACE_NS", "30000", 1);
	rc = scx_run(argv, "/tmp/stress_grace.log");
	unsetenv("GREENHUB_SCX_GRACE");
	unsetenv("GREENHUB_SCX_GRACE_NS");
	scx_cat("/tmp/stress_grace.log", "grace| ");
	graced = ctl->nr_graced - graced;
	late = ctl->nr_late_handoffs - late;
	printf("with a 30 us grace period: %llu sleeps ended within it, %llu handed off after it\n",
	       (unsigned long long)graced, (unsigned long long)late);
	VM_CHECK(ctl->exit.kind == 0, "the scheduler exited: %s: %s", ctl->exit.reason,
		 ctl->exit.msg);
	VM_CHECK(rc == 0, "stress with a grace period exited with %d", rc);
	VM_CHECK(scx_file_has("/tmp/stress_grace.log", " 0 exclusivity violations"),
		 "stress with a grace period reported violations");
	VM_CHECK(graced > 10 && late > 10, "the grace period was not exercised: %llu sleeps "
		 "within it, %llu after it", (unsigned long long)graced, (unsigned long long)late);
	scx_control_put(ctl);
	scx_unload();
	printf("PASS\n");
	return VM_EXIT_PASS;
}
