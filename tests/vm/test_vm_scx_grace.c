/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The grace policies of sched_ext mode (docs/sched-ext.md, "Short blocks and the grace
 * period"), judged by the scheduler's counters in one boot, with the scheduler loaded with its
 * defaults (adaptive, 20 us):
 *
 *   short sleeps: 4 green threads loop on 2 us of green code and a bare 10 us nanosleep.
 *     With GREENHUB_SCX_GRACE=never sleeps are handed off at once, never after a grace
 *     period, and most handoffs are cancelled by the sleeper's own return (the spare comes
 *     too late). With the default policy the hub learns that and waits instead: sleeps end
 *     within the grace period. How often each policy hands off per sleep depends on the
 *     machine's speed and is printed, not judged (bench-vm measures the policies); so is the
 *     default's grace where the guest is too slow for most handoffs to be wasted.
 *   dependent sleeps: green thread A reads a pipe that green thread B of the same hub writes
 *     once it runs. Such a read can end only after a spare has taken the hub, so no handoff
 *     of it is ever cancelled, and the default policy hands every one off at once: no read
 *     ends within a grace period and none is handed off after one.
 *   a lone sleeper, with a 20 ms grace period (GREENHUB_SCX_GRACE_NS): the hub's only green
 *     thread makes 1 ms nanosleeps, so a spare that takes its handoff finds nothing to run
 *     and the sleeper's return finds the hub idle. The default policy counts such handoffs
 *     as wasted and learns to wait: at least half of the sleeps end within the grace period,
 *     at most half are handed off.
 *   mixed sleeps, grace always: the dependent pair beside the short sleepers, every sleep
 *     graced. The hub's grace timer is not started per sleep: a sleep that finds it started
 *     leaves it to the pending firing (scx_grace.bpf.h). The short sleepers keep it started
 *     much of the time, so the reads often begin while it is; a read that the timer missed
 *     could never end (only a handoff lets the writer run), and a watchdog fails the test. Every
 *     read must be handed off after its grace period. The same again with the scheduler loaded
 *     with --no-head-start, where ops.quiescent alone starts the timer, and once more on a
 *     kernel that refuses the head start: schedule()'s trampoline is filled with fentry
 *     programs of the test's own (tests/vm/vm_fentry_fill.bpf.c) until the kernel refuses
 *     one, and the loader, whose attach of greenhub_presleep the kernel then refuses too, must
 *     load the scheduler without it, say why, and keep every guarantee. And once more on a
 *     kernel that refuses to load fentry programs at all: a BPF LSM program of the test's own
 *     (tests/vm/lsm_refuse_load.bpf.c) refuses them with EPERM, as a kernel with tracing
 *     locked down does, so that the kernel refuses to load greenhub_presleep, and the loader
 *     must load the scheduler without it.
 *
 * Every run checks exclusivity with a marker.
 */
#include <pthread.h>
#include <sys/prctl.h>

#include "scx_test.h"
#include "vm_fentry_fill.skel.h"
#include "lsm_refuse_load.h"

#define SHORT_THREADS 4
#define SHORT_MS 1500
#define PINGS 300

static struct scx_marker marker;
static atomic_ulong sleeps; /* the short sleepers' */
static atomic_ulong reads;  /* the dependent reader's */
static uint64_t deadline;

static gh_hub *run_hub(gh_fn fn)
{
	gh_hub *hub = gh_hub_create(NULL);
	int err;

	VM_CHECK(hub != NULL, "gh_hub_create: %s", strerror(errno));
	err = gh_hub_run(hub, fn, NULL, NULL);
	VM_CHECK(err == 0, "gh_hub_run: %s (%s)", gh_strerror(err), gh_hub_mode_reason(hub));
	VM_CHECK(gh_hub_mode(hub) == GH_MODE_SCHED_EXT, "the hub ran in mode %s: %s",
		 gh_mode_name(gh_hub_mode(hub)), gh_hub_mode_reason(hub));
	return hub;
}

/* ---- short sleeps ------------------------------------------------------------------------ */

/* One short sleep of green thread id: 2 us of green code, then a bare 10 us nanosleep. */
static void short_sleep(uint64_t id)
{
	struct timespec ts = { 0, 10000 };

	scx_spin(&marker, id, scx_now() + 2000);
	/* Timer slack is per thread, and a green thread may change carriers. */
	prctl(PR_SET_TIMERSLACK, 1UL);
	nanosleep(&ts, NULL);
	atomic_fetch_add(&sleeps, 1);
}

static void *short_sleeper(void *arg)
{
	while (scx_now() < deadline)
		short_sleep((uint64_t)(uintptr_t)arg);
	return NULL;
}

static void *short_main(void *arg)
{
	gh_thread *t[SHORT_THREADS];

	deadline = scx_now() + SHORT_MS * 1000000ull;
	for (uintptr_t i = 0; i < SHORT_THREADS; i++)
		t[i] = gh_spawn(short_sleeper, (void *)(i + 1));
	for (int i = 0; i < SHORT_THREADS; i++)
		gh_join(t[i], NULL);
	return NULL;
}

/* ---- a lone sleeper ---------------------------------------------------------------------- */

#define LONE_SLEEPS 200

/* The hub's only green thread besides its joiner: 2 us of green code, then a bare 1 ms
 * nanosleep. A spare that takes its handoff finds nothing to run. */
static void *lone_sleeper(void *arg)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < LONE_SLEEPS; i++) {
		scx_spin(&marker, 1, scx_now() + 2000);
		nanosleep(&ts, NULL);
		atomic_fetch_add(&sleeps, 1);
	}
	return NULL;
}

static void *lone_main(void *arg)
{
	gh_thread *t = gh_spawn(lone_sleeper, NULL);

	gh_join(t, NULL);
	return NULL;
}

struct outcome {
	unsigned long sleeps;
	unsigned long long handoffs, cancels, graced, late;
};

/* Run fn (the run called name) in a fresh hub with GREENHUB_SCX_GRACE=policy (NULL: unset),
 * and count: its sleeps are the sleepers' for short_main and lone_main, else the reads. */
static struct outcome measure(const char *name, const char *policy, gh_fn fn,
			      struct gh_scx_control *ctl)
{
	unsigned long long graced = ctl->nr_graced, late = ctl->nr_late_handoffs;
	struct gh_hub_stats st;
	struct outcome o;
	gh_hub *hub;

	if (policy)
		setenv("GREENHUB_SCX_GRACE", policy, 1);
	else
		unsetenv("GREENHUB_SCX_GRACE");
	atomic_store(&sleeps, 0);
	atomic_store(&reads, 0);
	hub = run_hub(fn);
	scx_hub_stats(hub, &st);
	gh_hub_destroy(hub);
	o.sleeps = fn == short_main || fn == lone_main ? atomic_load(&sleeps) : atomic_load(&reads);
	o.handoffs = (unsigned long long)st.handoffs;
	o.cancels = (unsigned long long)st.cancels;
	o.graced = ctl->nr_graced - graced;
	o.late = ctl->nr_late_handoffs - late;
	printf("%-9s %-9s sleeps %6lu, handoffs %6llu, cancelled %6llu, ended within the grace "
	       "period %6llu, handed off after it %6llu; returns held %llu, to an idle hub %llu\n",
	       name, policy ? policy : "default", o.sleeps,
	       o.handoffs, o.cancels, o.graced, o.late, (unsigned long long)st.holds,
	       (unsigned long long)st.idle_returns);
	unsetenv("GREENHUB_SCX_GRACE");
	return o;
}

/* ---- dependent sleeps ------------------------------------------------------------------- */

static int pipefd[2];

static void *reader(void *arg)
{
	char c;

	for (int i = 0; i < PINGS; i++) {
		scx_spin(&marker, 1, scx_now() + 2000);
		/* Bare: only B, on a spare, can end it. */
		if (read(pipefd[0], &c, 1) != 1)
			vm_test_fail("read: %s", strerror(errno));
		atomic_fetch_add(&reads, 1);
	}
	return NULL;
}

static void *writer(void *arg)
{
	for (int i = 0; i < PINGS; i++) {
		gh_yield();
		scx_spin(&marker, 2, scx_now() + 2000);
		if (write(pipefd[1], "x", 1) != 1)
			vm_test_fail("write: %s", strerror(errno));
		/* Until A has read it: A's return is held until this switch point. */
		while (atomic_load(&reads) <= (unsigned long)i)
			gh_yield();
	}
	return NULL;
}

static void *dependent_main(void *arg)
{
	gh_thread *a = gh_spawn(reader, NULL), *b = gh_spawn(writer, NULL);

	gh_join(a, NULL);
	gh_join(b, NULL);
	return NULL;
}

/* ---- mixed sleeps ------------------------------------------------------------------------ */

static atomic_bool reads_done;

/* A short sleeper that lets the hub's other green threads run after each sleep. */
static void *mixed_sleeper(void *arg)
{
	while (!atomic_load(&reads_done)) {
		short_sleep((uint64_t)(uintptr_t)arg);
		gh_yield();
	}
	return NULL;
}

static void *mixed_main(void *arg)
{
	gh_thread *t[SHORT_THREADS], *a, *b;

	/* Ids 1 and 2 are the pair's. */
	atomic_store(&reads_done, false);
	for (uintptr_t i = 0; i < SHORT_THREADS; i++)
		t[i] = gh_spawn(mixed_sleeper, (void *)(i + 3));
	a = gh_spawn(reader, NULL);
	b = gh_spawn(writer, NULL);
	gh_join(a, NULL);
	gh_join(b, NULL);
	atomic_store(&reads_done, true);
	for (int i = 0; i < SHORT_THREADS; i++)
		gh_join(t[i], NULL);
	return NULL;
}

/* The mixed run's watchdog: a read that no handoff ends would hang the hub for good. */
static void *watch_reads(void *arg)
{
	struct gh_scx_control *ctl = arg;
	unsigned long last = 0, now;
	int still = 0;

	for (;;) {
		sleep(1);
		now = atomic_load(&reads);
		if (now == PINGS)
			return NULL;
		still = now == last ? still + 1 : 0;
		last = now;
		if (still < 60)
			continue;
		printf("mixed: stuck after %lu reads; handoffs %llu, cancelled %llu, spare misses "
		       "%llu, graced %llu, late %llu\n",
		       now, (unsigned long long)ctl->kside.nr_handoffs,
		       (unsigned long long)ctl->kside.nr_cancels,
		       (unsigned long long)ctl->kside.nr_spare_misses,
		       (unsigned long long)ctl->nr_graced,
		       (unsigned long long)ctl->nr_late_handoffs);
		vm_test_fail("mixed sleeps: no read ended for 60 s (a sleep left without a handoff)");
	}
}

/* The mixed run, under its watchdog. */
static struct outcome measure_mixed(struct gh_scx_control *ctl)
{
	struct outcome o;
	pthread_t watchdog;
	int err;

	err = pthread_create(&watchdog, NULL, watch_reads, ctl);
	VM_CHECK(err == 0, "pthread_create: %s", strerror(err));
	o = measure("mixed", "always", mixed_main, ctl);
	err = pthread_join(watchdog, NULL);
	VM_CHECK(err == 0, "pthread_join: %s", strerror(err));
	return o;
}

/* ---- a kernel that refuses the head start ------------------------------------------------- */

/* More than any kernel's limit on one trampoline: the test fails if none is refused. */
#define FILL_MAX 256

static struct vm_fentry_fill *fill[FILL_MAX];

/* Attach copies of vm_fentry_fill to schedule() until the kernel refuses one: how many it took
 * (they stay attached until fill_release()), with the refusal's errno in refused. */
static int fill_schedule(int *refused)
{
	for (int n = 0; n < FILL_MAX; n++) {
		fill[n] = vm_fentry_fill__open_and_load();
		VM_CHECK(fill[n] != NULL, "loading fentry program %d on schedule(): %s", n,
			 strerror(errno));
		if (vm_fentry_fill__attach(fill[n])) {
			*refused = errno;
			vm_fentry_fill__destroy(fill[n]);
			fill[n] = NULL;
			return n;
		}
	}
	vm_test_fail("the kernel took %d fentry programs on schedule() without refusing one",
		     FILL_MAX);
	return -1;
}

static void fill_release(void)
{
	for (int n = 0; n < FILL_MAX && fill[n]; n++) {
		vm_fentry_fill__destroy(fill[n]);
		fill[n] = NULL;
	}
}

/* mixed: every read graced, then handed off once its grace period is over. */
static void check_mixed(const struct outcome *o)
{
	VM_CHECK(o->sleeps == PINGS, "mixed: %lu reads", o->sleeps);
	VM_CHECK(o->late >= PINGS, "mixed: %llu sleeps handed off after the grace period for %d "
		 "reads", o->late, PINGS);
}

/* The scheduler is loaded without the head start (asked for, or refused by the kernel, as how
 * says): the timer is started by ops.quiescent only, and the mixed sleeps must still each be
 * handed off after their grace period, with one runner at a time. Unloads it. */
static void mixed_without_head_start(const char *how)
{
	struct gh_scx_control *ctl = scx_control();
	struct outcome mixed;

	VM_CHECK(ctl != NULL, "the control map is gone");
	VM_CHECK(ctl->head_start == 0, "%s: the head start is on", how);
	mixed = measure_mixed(ctl);
	check_mixed(&mixed);
	VM_CHECK(atomic_load(&marker.violations) == 0, "%s: %u exclusivity violations", how,
		 atomic_load(&marker.violations));
	VM_CHECK(ctl->exit.kind == 0, "%s: the scheduler exited: %s: %s", how, ctl->exit.reason,
		 ctl->exit.msg);
	scx_control_put(ctl);
	scx_unload();
}

int main(void)
{
	struct outcome never, adaptive, dep, lone, mixed;
	struct gh_scx_control *ctl;
	const struct lsm_refuse fentry = { true, BPF_PROG_TYPE_TRACING, true, BPF_TRACE_FENTRY };
	struct lsm_refuse_load *lsm;
	char why[200];
	unsigned long long nrefused;
	int filled, refused = 0;

	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	setvbuf(stdout, NULL, _IOLBF, 0);
	VM_CHECK(vm_scx_wait_state("disabled", 0) == 0, "a scheduler is already loaded");
	VM_CHECK(pipe(pipefd) == 0, "pipe: %s", strerror(errno));
	unsetenv("GREENHUB_SCX_GRACE_NS");
	scx_load();
	ctl = scx_control();
	VM_CHECK(ctl != NULL, "the control map is gone");
	VM_CHECK(ctl->grace_policy == GH_SCX_GRACE_ADAPTIVE && ctl->grace_ns == GH_SCX_GRACE_NS_DFL,
		 "loaded with grace %u, %u ns: not the defaults", ctl->grace_policy, ctl->grace_ns);

	never = measure("short", "never", short_main, ctl);
	adaptive = measure("short", NULL, short_main, ctl);
	dep = measure("dependent", NULL, dependent_main, ctl);
	/* A grace period that outlasts the lone sleeper's sleeps, so that one can end in it. */
	setenv("GREENHUB_SCX_GRACE_NS", "20000000", 1);
	lone = measure("lone", NULL, lone_main, ctl);
	unsetenv("GREENHUB_SCX_GRACE_NS");
	VM_CHECK(ctl->head_start == 1, "the grace timers' head start is off");
	mixed = measure_mixed(ctl);

	VM_CHECK(atomic_load(&marker.violations) == 0, "%u exclusivity violations",
		 atomic_load(&marker.violations));
	VM_CHECK(ctl->exit.kind == 0, "the scheduler exited: %s: %s", ctl->exit.reason,
		 ctl->exit.msg);
	/* How often a short sleep is handed off, and how many of those were for nothing, depends
	 * on how fast the machine is (a 10 us nanosleep on a slow or loaded guest may end before
	 * its thread is switched out at all): reported, not judged. What is judged holds on any
	 * machine. */
	printf("never: %llu handoffs (%llu cancelled) for %lu sleeps; default: %llu handoffs, "
	       "%llu graced for %lu sleeps\n",
	       never.handoffs, never.cancels, never.sleeps, adaptive.handoffs, adaptive.graced,
	       adaptive.sleeps);
	/* never: the grace timer never runs, and sleeps are handed off. */
	VM_CHECK(never.sleeps > 200 && never.handoffs > 0, "never: %llu handoffs for %lu sleeps",
		 never.handoffs, never.sleeps);
	VM_CHECK(never.graced == 0 && never.late == 0, "never: the grace timer ran");
	/* adaptive: learns to wait where handing these sleeps off is mostly wasted. Whether it is
	 * depends on the machine (on a loaded host the guest is slow enough that most handoffs
	 * pay), so it is judged only where `never` found at least three in four of its handoffs
	 * cancelled by the owner's own return: well above the half at which the rule waits. */
	VM_CHECK(adaptive.sleeps > 200, "default: %lu sleeps", adaptive.sleeps);
	if (never.cancels * 4 >= never.handoffs * 3)
		VM_CHECK(adaptive.graced > 0, "default: no sleep was graced, though %llu of %llu "
			 "handoffs were wasted under never", never.cancels, never.handoffs);
	else
		printf("never: most handoffs paid on this machine; the default's grace not judged\n");
	/* dependent: every read handed off at once. */
	VM_CHECK(dep.sleeps == PINGS, "dependent: %lu reads", dep.sleeps);
	VM_CHECK(dep.graced == 0 && dep.late == 0,
		 "dependent: %llu reads waited out a grace period, %llu were handed off after one",
		 dep.graced, dep.late);
	VM_CHECK(dep.handoffs >= PINGS && dep.cancels == 0,
		 "dependent: %llu handoffs, %llu cancelled, for %d reads", dep.handoffs,
		 dep.cancels, PINGS);
	/* lone: its handoffs buy nothing (the spare finds nothing to run, and the sleeper's
	 * return finds the hub idle), so the default policy learns to wait its sleeps out. */
	VM_CHECK(lone.sleeps == LONE_SLEEPS, "lone: %lu sleeps", lone.sleeps);
	VM_CHECK(lone.graced >= LONE_SLEEPS / 2 && lone.handoffs <= LONE_SLEEPS / 2,
		 "lone: %llu of %d sleeps ended within the grace period, %llu were handed off",
		 lone.graced, LONE_SLEEPS, lone.handoffs);
	check_mixed(&mixed);
	scx_control_put(ctl);
	scx_unload();

	scx_load_with("--no-head-start");
	mixed_without_head_start("--no-head-start");

	/* A kernel that refuses the head start's attach: the loader goes on without it. */
	filled = fill_schedule(&refused);
	printf("schedule() took %d fentry programs, then refused one: %s\n", filled,
	       strerror(refused));
	VM_CHECK(filled > 0, "the kernel refused the first fentry program on schedule(): %s",
		 strerror(refused));
	scx_load();
	if (!scx_file_has("/tmp/scx_load.log", "the kernel refused to attach greenhub_presleep"))
		scx_cat("/tmp/scx_load.log", "  loader| ");
	VM_CHECK(scx_file_has("/tmp/scx_load.log",
			      "the kernel refused to attach greenhub_presleep"),
		 "the loader did not say that the kernel refused the head start");
	mixed_without_head_start("the kernel refused the head start");
	fill_release();

	/* A kernel that refuses to load the head start: the loader loads the scheduler again
	 * without it. */
	VM_CHECK(lsm_refuse_load_begin(&fentry, &lsm, why, sizeof(why)) == 0, "%s", why);
	scx_load();
	nrefused = lsm_refuse_load_end(lsm);
	if (!scx_file_has("/tmp/scx_load.log", "the kernel refused greenhub_presleep"))
		scx_cat("/tmp/scx_load.log", "  loader| ");
	VM_CHECK(scx_file_has("/tmp/scx_load.log", "the kernel refused greenhub_presleep"),
		 "the loader did not say that the kernel refused to load the head start");
	VM_CHECK(scx_file_has("/tmp/scx_load.log", strerror(EPERM)),
		 "the loader did not give the kernel's reason (%s)", strerror(EPERM));
	VM_CHECK(nrefused > 0, "the BPF LSM program refused no load");
	printf("the BPF LSM program refused %llu fentry loads\n", nrefused);
	mixed_without_head_start("the kernel refused to load the head start");
	printf("PASS\n");
	return VM_EXIT_PASS;
}
