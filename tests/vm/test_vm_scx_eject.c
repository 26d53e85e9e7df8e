/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The scheduler goes away while a hub runs: the hub goes on without kernel assist and
 * exclusivity holds through it. Twice: the kernel ejects the scheduler (and the loader says
 * why), and an operator's cleanup removes the pins of a detached loader, which takes the last
 * reference to the scheduler's link (the hub holds the gates map, never that link).
 *
 * The loader runs in the foreground. Hub H (sched_ext mode) has three green threads:
 *   A  makes a bare pipe read that a plain thread completes at +A_MS: A's carrier is held
 *      (B owns the hub then);
 *   C  makes a bare pipe read completed at +C_MS, after the ejection: its carrier is displaced
 *      and asleep when the scheduler goes;
 *   B  runs after the handoffs and spins in green code, without a switch point, until +B_MS.
 * At +EJECT_MS the test sets the control map's test_eject knob: the scheduler's heartbeat calls
 * scx_bpf_error() and the kernel ejects it, running every task it held, A's carrier included.
 * A must still not run green code before B yields (its return gate stops it: GATE_HELD), and C
 * must wait for its hand-back when it returns with no scheduler at all (GATE). Every stretch
 * of green code holds an exclusivity marker. Then the loader must have exited, saying that the
 * kernel ejected the scheduler and why, and a new hub must run without kernel assist.
 * The second time, the loader was detached, and at +EJECT_MS the test removes the pin folder
 * instead (`rm -rf`): the same must hold.
 */
#include <pthread.h>

#include "scx_test.h"

#define A_MS 300
#define EJECT_MS 600
#define B_MS 1200
#define C_MS 1600

struct run {
	struct scx_marker marker;
	int pa[2], pc[2];
	uint64_t t0, a_continues, b_yields, c_continues;
	bool a_ok, c_ok;
	pid_t a_tid, b_tid;
};

static struct run r;

/* How the scheduler goes away. */
enum how { EJECT, UNPIN };
static enum how how;

static void *completer(void *arg)
{
	while (!r.t0)
		scx_sleep_ms(1);
	scx_sleep_ms(A_MS);
	if (write(r.pa[1], "a", 1) != 1)
		perror("write");
	scx_sleep_ms(C_MS - A_MS);
	if (write(r.pc[1], "c", 1) != 1)
		perror("write");
	return NULL;
}

static void *green_a(void *arg)
{
	char ch = 0;

	r.a_tid = gettid();
	r.a_ok = read(r.pa[0], &ch, 1) == 1 && ch == 'a';
	scx_enter(&r.marker, 1);
	r.a_continues = scx_now();
	scx_leave(&r.marker, 1);
	return NULL;
}

static void *green_c(void *arg)
{
	char ch = 0;

	r.c_ok = read(r.pc[0], &ch, 1) == 1 && ch == 'c';
	scx_enter(&r.marker, 3);
	r.c_continues = scx_now();
	scx_leave(&r.marker, 3);
	return NULL;
}

static void *green_b(void *arg)
{
	r.b_tid = gettid();
	scx_spin(&r.marker, 2, r.t0 + B_MS * 1000000ull);
	r.b_yields = scx_now();
	gh_yield();
	/* The hub goes on; keep a green thread busy around C's return. */
	for (int i = 0; i < 40; i++) {
		scx_spin(&r.marker, 2, scx_now() + 20000000);
		gh_yield();
	}
	return NULL;
}

static void *main_green(void *arg)
{
	gh_thread *a, *b, *c;

	r.t0 = scx_now();
	a = gh_spawn(green_a, NULL);
	c = gh_spawn(green_c, NULL);
	b = gh_spawn(green_b, NULL);
	gh_join(a, NULL);
	gh_join(b, NULL);
	gh_join(c, NULL);
	return NULL;
}

static void *ejector(void *arg)
{
	struct gh_scx_control *ctl = arg;

	while (!r.t0)
		scx_sleep_ms(1);
	scx_sleep_ms(EJECT_MS);
	if (how == EJECT)
		__atomic_store_n(&ctl->test_eject, 1, __ATOMIC_SEQ_CST);
	else if (system("rm -rf " GH_SCX_PIN_DIR) != 0)
		fprintf(stderr, "rm -rf %s failed\n", GH_SCX_PIN_DIR);
	return NULL;
}

static void *nothing(void *arg)
{
	return NULL;
}

/* Load the scheduler (in the foreground for EJECT, detached for UNPIN), run the hub while it
 * goes, check. */
static void scenario(void)
{
	char *const argv[] = { SCX_LOADER, "-m", "sched_ext", NULL };
	const char *what = how == EJECT ? "ejection" : "pins removed";
	struct gh_scx_control *ctl = NULL;
	struct gh_hub_stats st;
	struct gh_hub_opts o;
	pthread_t th[2];
	pid_t loader = -1;
	gh_hub *hub;
	char buf[64];
	int err, status = 0;

	memset(&r, 0, sizeof(r));
	VM_CHECK(vm_scx_wait_state("disabled", 5000) == 0, "a scheduler is already loaded");
	if (how == EJECT) {
		loader = scx_spawn(argv, "/tmp/scx_eject.log");
		ctl = scx_control_running();
	} else {
		scx_load();
		ctl = scx_control();
	}
	VM_CHECK(ctl != NULL, "%s: the loader never reached RUNNING", what);

	VM_CHECK(pipe(r.pa) == 0 && pipe(r.pc) == 0, "pipe: %s", strerror(errno));
	gh_hub_opts_init(&o);
	o.mode = GH_MODE_SCHED_EXT;
	hub = gh_hub_create(&o);
	VM_CHECK(hub != NULL, "gh_hub_create: %s", strerror(errno));
	VM_CHECK(pthread_create(&th[0], NULL, completer, NULL) == 0, "pthread_create");
	VM_CHECK(pthread_create(&th[1], NULL, ejector, ctl) == 0, "pthread_create");
	err = gh_hub_run(hub, main_green, NULL, NULL);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	VM_CHECK(err == 0, "%s: gh_hub_run: %s (%s)", what, gh_strerror(err),
		 gh_hub_mode_reason(hub));
	scx_hub_stats(hub, &st);
	printf("%s: A continued at +%.1f ms, B yielded at +%.1f ms, C continued at +%.1f ms; "
	       "handoffs %llu, holds %llu, hand-backs %llu; exit: %s: %s; gates stopped %llu\n",
	       what, (r.a_continues - r.t0) / 1e6, (r.b_yields - r.t0) / 1e6,
	       (r.c_continues - r.t0) / 1e6, (unsigned long long)st.handoffs,
	       (unsigned long long)st.holds, (unsigned long long)st.handbacks, ctl->exit.reason,
	       ctl->exit.msg, (unsigned long long)ctl->kside.nr_gates);
	gh_hub_destroy(hub);
	for (int i = 0; i < 2; i++) {
		close(r.pa[i]);
		close(r.pc[i]);
	}

	VM_CHECK(atomic_load(&r.marker.violations) == 0, "%s: %u exclusivity violations", what,
		 atomic_load(&r.marker.violations));
	VM_CHECK(r.a_ok && r.c_ok, "%s: a blocking read did not complete (A %d, C %d)", what,
		 r.a_ok, r.c_ok);
	VM_CHECK(st.holds >= 1, "%s: A was never held (%llu holds)", what,
		 (unsigned long long)st.holds);
	VM_CHECK(r.a_continues >= r.b_yields,
		 "%s: A continued %.3f ms before B's switch point, across it", what,
		 (r.b_yields - r.a_continues) / 1e6);
	VM_CHECK(ctl->kside.nr_gates >= 2,
		 "%s: the return gates stopped %llu carriers (A and C expected)", what,
		 (unsigned long long)ctl->kside.nr_gates);
	VM_CHECK(vm_scx_wait_state("disabled", 5000) == 0, "%s: state '%s' after it", what,
		 vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf)));
	if (how == EJECT) {
		VM_CHECK(ctl->exit.kind >= 1024 && strstr(ctl->exit.msg, "test knob"),
			 "exit record: kind %u, %s: %s", ctl->exit.kind, ctl->exit.reason,
			 ctl->exit.msg);
		/* The loader saw the ejection, said why and exited. */
		for (int i = 0; i < 500 && waitpid(loader, &status, WNOHANG) == 0; i++)
			scx_sleep_ms(10);
		scx_cat("/tmp/scx_eject.log", "  loader| ");
		VM_CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0,
			 "the loader did not exit with a failure after the ejection (status %#x)",
			 status);
		VM_CHECK(scx_file_has("/tmp/scx_eject.log", "ejected by the kernel") &&
				 scx_file_has("/tmp/scx_eject.log", "test knob"),
			 "the loader did not say why the scheduler went");
	} else {
		/* Unregistered with its link: nothing is pinned any more. */
		VM_CHECK(ctl->exit.kind != 0, "pins removed: no exit record");
		VM_CHECK(access(GH_SCX_PIN_DIR, F_OK) < 0, "the pins are still there");
		scx_loaded = false;
	}
	scx_control_put(ctl);

	/* A new hub runs without kernel assist. */
	hub = gh_hub_create(NULL);
	VM_CHECK(hub && gh_hub_run(hub, nothing, NULL, NULL) == 0, "a new hub failed to run");
	printf("%s: a new hub: %s\n", what, gh_hub_mode_reason(hub));
	VM_CHECK(gh_hub_mode(hub) != GH_MODE_SCHED_EXT, "a new hub still chose sched_ext");
	gh_hub_destroy(hub);
}

int main(void)
{
	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	how = EJECT;
	scenario();
	how = UNPIN;
	scenario();
	printf("PASS\n");
	return VM_EXIT_PASS;
}
