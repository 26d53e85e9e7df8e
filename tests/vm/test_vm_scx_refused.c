/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A kernel that has sched_ext but refuses greenhub's scheduler (its verifier, a security module,
 * a lockdown): here a BPF LSM program of the test's own (tests/vm/lsm_refuse_load.bpf.c) refuses
 * every struct_ops program with EPERM.
 *   1. `scx_greenhub -m sched_ext -d` exits 4 (kernel unsupported), names the refusal and the
 *      program refused, pins nothing, and leaves sched_ext disabled.
 *   2. `scx_greenhub -d` (auto) says why sched_ext mode cannot run and loads trace mode.
 *   3. A hub in AUTO mode then runs in trace mode: an unmarked 50 ms nanosleep is handed off
 *      (the hub's other green thread runs throughout it), and no two carriers ever run the
 *      hub's green code at once (a marker held by all green code, across the block's return).
 *   4. `scx_greenhub --stop` unloads trace mode and removes its pins.
 */
#include <pthread.h>

#include "greenhub/trace.h"
#include "lsm_refuse_load.h"
#include "scx_test.h"

#define SPIN_MS 1
#define BLOCK_MS 50

static struct scx_marker marker;
static atomic_bool blocked_done;
static unsigned long spins_during_block;

static void *blocker(void *arg)
{
	struct timespec ts = { 0, BLOCK_MS * 1000000L };

	scx_spin(&marker, 1, scx_now() + SPIN_MS * 1000000ull);
	nanosleep(&ts, NULL); /* unmarked: only the kernel side can hand the hub off */
	/* Back from the call: green code again, which must wait for the hub to be handed back. */
	scx_spin(&marker, 1, scx_now() + SPIN_MS * 1000000ull);
	atomic_store(&blocked_done, true);
	return NULL;
}

static void *spinner(void *arg)
{
	while (!atomic_load(&blocked_done)) {
		scx_spin(&marker, 2, scx_now() + SPIN_MS * 1000000ull);
		spins_during_block++;
		gh_yield();
	}
	return NULL;
}

static void *main_green(void *arg)
{
	gh_thread *b = gh_spawn(blocker, NULL), *s = gh_spawn(spinner, NULL);

	VM_CHECK(b && s, "gh_spawn: %s", strerror(errno));
	gh_join(b, NULL);
	gh_join(s, NULL);
	return NULL;
}

int main(void)
{
	char *const scx[] = { SCX_LOADER, "-m", "sched_ext", "-d", NULL };
	char *const automode[] = { SCX_LOADER, "-d", NULL };
	char *const stop[] = { SCX_LOADER, "--stop", NULL };
	const struct lsm_refuse struct_ops = { .match_type = true,
						.prog_type = BPF_PROG_TYPE_STRUCT_OPS };
	struct lsm_refuse_load *lsm;
	char why[200];
	struct gh_hub_stats st;
	unsigned long long refused;
	gh_hub *hub;
	char buf[64];
	int rc, err;

	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	setvbuf(stdout, NULL, _IOLBF, 0);
	VM_CHECK(vm_scx_wait_state("disabled", 0) == 0, "a scheduler is already loaded");
	VM_CHECK(lsm_refuse_load_begin(&struct_ops, &lsm, why, sizeof(why)) == 0, "%s", why);

	scx_stop_at_exit(); /* whatever loads, a failing test unloads */
	/* 1. asked for by name: refused, nothing left behind */
	rc = scx_run(scx, "/tmp/refused_scx.log");
	scx_cat("/tmp/refused_scx.log", "  loader| ");
	VM_CHECK(rc == 4, "scx_greenhub -m sched_ext -d exited %d, not 4", rc);
	VM_CHECK(scx_file_has("/tmp/refused_scx.log", "sched_ext mode cannot run here: the kernel "
			      "refused the scheduler"), "the loader did not say the kernel refused it");
	VM_CHECK(scx_file_has("/tmp/refused_scx.log", strerror(EPERM)),
		 "the loader did not give the kernel's reason (%s)", strerror(EPERM));
	scx_check_no_pins(GH_SCX_PIN_DIR, "a refused load");
	scx_check_no_pins(GH_TRACE_PIN_DIR, "a refused load");
	VM_CHECK(vm_scx_wait_state("disabled", 0) == 0, "sched_ext is '%s' after the refusal",
		 vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf)));

	/* 2. auto: sched_ext refused, trace mode loaded */
	rc = scx_run(automode, "/tmp/refused_auto.log");
	scx_cat("/tmp/refused_auto.log", "  loader| ");
	VM_CHECK(rc == 0, "scx_greenhub -d exited %d", rc);
	VM_CHECK(scx_file_has("/tmp/refused_auto.log", "sched_ext mode cannot run here: the "
			      "kernel refused the scheduler"),
		 "auto mode did not say why sched_ext mode cannot run");
	VM_CHECK(scx_file_has("/tmp/refused_auto.log", "trace mode loaded"),
		 "auto mode did not load trace mode");
	refused = lsm_refuse_load_end(lsm);
	printf("the BPF LSM program refused %llu struct_ops loads\n", refused);
	VM_CHECK(refused > 0, "the BPF LSM program refused no load");
	scx_check_no_pins(GH_SCX_PIN_DIR, "a refused load");

	/* 3. a hub in AUTO mode runs in trace mode, hands off, with one runner at a time */
	hub = gh_hub_create(NULL);
	VM_CHECK(hub != NULL, "gh_hub_create: %s", strerror(errno));
	err = gh_hub_run(hub, main_green, NULL, NULL);
	VM_CHECK(err == 0, "gh_hub_run: %s (%s)", gh_strerror(err), gh_hub_mode_reason(hub));
	VM_CHECK(gh_hub_mode(hub) == GH_MODE_TRACE, "the hub ran in mode %s: %s",
		 gh_mode_name(gh_hub_mode(hub)), gh_hub_mode_reason(hub));
	scx_hub_stats(hub, &st);
	printf("trace mode: %llu handoffs, %lu spins of %d ms beside a %d ms block\n",
	       (unsigned long long)st.handoffs, spins_during_block, SPIN_MS, BLOCK_MS);
	VM_CHECK(st.handoffs >= 1, "the unmarked nanosleep was not handed off");
	VM_CHECK(spins_during_block >= 2, "the other green thread ran %lu times during the block",
		 spins_during_block);
	VM_CHECK(atomic_load(&marker.violations) == 0, "%u exclusivity violations",
		 atomic_load(&marker.violations));
	gh_hub_destroy(hub);

	/* 4. unloaded */
	scx_loaded = false;
	rc = scx_run(stop, "/tmp/refused_stop.log");
	scx_cat("/tmp/refused_stop.log", "  loader| ");
	VM_CHECK(rc == 0, "scx_greenhub --stop exited %d", rc);
	scx_check_no_pins(GH_TRACE_PIN_DIR, "--stop");
	printf("PASS\n");
	return VM_EXIT_PASS;
}
