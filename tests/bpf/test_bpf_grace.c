// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Trace mode's grace period (docs/trace-mode.md, "Short blocks and the grace period"), judged by
 * the kernel side's counters, with scx_greenhub loaded for each case with the grace options:
 *
 *   short sleeps with a grace period longer than any of them (--grace always, 1 s): 4 green
 *     threads loop on 2 us of green code and a bare 10 us nanosleep; every sleep ends on its
 *     own carrier (those that slept at all ended within the grace period) and none is handed
 *     off.
 *   a read only the hub can end (--grace always, 20 us): green thread A reads a pipe that green
 *     thread B of the same hub writes once it runs; the read outlasts every grace period, so
 *     each is handed off by the grace timer, and A gets B's byte.
 *   the same reads with the defaults (adaptive): handed off at once, every one; none waits a
 *     grace period. Again with the byte written by a thread outside the hub, 500 us after B
 *     ran on the spare and went back to its timer, so that A's return finds the hub idle: B
 *     ran in between, so no handoff counts as unused, and none waits.
 *   a lone sleeper (adaptive): the hub's only green thread makes 200 us nanosleeps, so a
 *     spare that takes its handoff finds nothing to run and A's return finds the hub idle:
 *     after a few such handoffs the hub waits its sleeps out (most end within the grace
 *     period, at most half are handed off).
 *   then busy sleepers (adaptive, 20 ms): after the lone sleeper, 4 green threads make 5 ms
 *     nanosleeps (within the grace period) and yield, so that while one sleeps the others
 *     are ready. Sleeps that keep ready threads waiting longer than a handoff takes count
 *     against waiting, and at least half of the busy sleeps are handed off again.
 *   a burst instead (adaptive, 20 ms): after the lone sleeper, the same 4 threads make only 3
 *     such sleeps each; most hold the others up, and the hub waits all of them out, or hands
 *     off at most 2: a hiccup must not switch a waiting hub to handoffs.
 *   a slow wake between the phases (adaptive, 20 ms; CPUs 0 and 1): after the lone sleeper,
 *     a read is handed off while every spare is pinned to a CPU that a real-time thread of the
 *     test holds for 150 ms, so the spare's wake takes about that long; then the busy phase
 *     must hand off as it does without it. One slow wake must not teach the hub that a handoff
 *     takes longer than its sleeps: waiting them out, it would never wake a spare again to
 *     learn otherwise.
 *   the race: the grace period as long as the sleeps (--grace always, 10 us), so that the
 *     timer's handoff and the sleeper's own wake come together, for 2 s.
 *   mixed (--grace always, 200 us): the reads beside the short sleepers, so that the hub's
 *     grace timer serves, back to back, sleeps that end long before it fires and sleeps that
 *     only a handoff ends. Every read is handed off after its grace period; a read left
 *     without one would hang the hub, so a watchdog ends it after 30 s without a read and
 *     fails the test.
 *   a switch-in the kernel does not report (--grace always, 1 s): once a bare pipe read has
 *     begun, the test detaches the context-switch program (as a kernel that switches without
 *     calling the tracepoint would look to it) and only then ends the read; green code then
 *     runs 1.5 s with no switch point, beside a ticker. The return must settle the sleep (the
 *     grace protocol's step 4): otherwise the timer hands the hub to a spare mid-way, the
 *     spare runs the ticker, and the runtime's runner check aborts the process.
 *
 * Every stretch of green code holds a marker that no other carrier may be seen holding (I1),
 * and the runtime checks its runner at every switch point.
 */
#include <dirent.h>
#include <sched.h>
#include <sys/prctl.h>

#include "bpf_test.h"

#define SHORT_THREADS 4
#define SHORT_SLEEPS 300
#define READS 60

static atomic_int marker; /* tid of the carrier inside a stretch of green code, 0 if none */
static atomic_long overlaps;
static atomic_ulong sleeps;
static uint64_t deadline;

/* A stretch of green code of ns, holding the marker. */
static void green_stretch(uint64_t ns)
{
	int me = (int)gettid(), none = 0;
	uint64_t until = gh_now() + ns;

	if (!atomic_compare_exchange_strong(&marker, &none, me))
		atomic_fetch_add(&overlaps, 1);
	while (gh_now() < until)
		if (atomic_load(&marker) != me)
			atomic_fetch_add(&overlaps, 1);
	none = me;
	atomic_compare_exchange_strong(&marker, &none, 0);
}

/* Load with --grace grace --grace-ns grace_ns (none if grace_ns is NULL), and the grace
 * timers kept as timer says (--grace-timer; the loader's choice if NULL). */
static void load_timer(const char *grace, const char *grace_ns, const char *timer)
{
	char out[4096];
	int rc;

	(void)bt_loader(out, sizeof(out), "--stop", "--timeout", "10");
	if (grace_ns && timer)
		rc = bt_loader_trace(out, sizeof(out), "--grace", grace, "--grace-ns", grace_ns,
				     "--grace-timer", timer);
	else if (grace_ns)
		rc = bt_loader_trace(out, sizeof(out), "--grace", grace, "--grace-ns", grace_ns);
	else
		rc = bt_loader_trace(out, sizeof(out), NULL);
	if (rc != 0)
		fail_msg("scx_greenhub --detach exited %d:\n%s", rc, out);
}

static void load(const char *grace, const char *grace_ns)
{
	load_timer(grace, grace_ns, NULL);
}

/* The grace timers are kept as --grace-timer timer asked. */
static void assert_timer_kept(const struct bt_maps *m, const char *timer)
{
	assert_int_equal(m->ctl->grace_timer, strcmp(timer, "sleep") ? GH_TRACE_TIMER_PER_PERIOD
								      : GH_TRACE_TIMER_PER_SLEEP);
	assert_int_equal(m->ctl->grace_timer_why, GH_TRACE_TIMER_ASKED);
}

/* ---- short sleeps ------------------------------------------------------------------------ */

/* 2 us of green code, then a bare 10 us nanosleep. */
static void short_sleep(void)
{
	struct timespec ts = { 0, 10000 };

	green_stretch(2000);
	/* Timer slack is per thread, and a green thread may change carriers. */
	prctl(PR_SET_TIMERSLACK, 1UL);
	check_int_equal(nanosleep(&ts, NULL), 0);
	atomic_fetch_add(&sleeps, 1);
}

static void *short_sleeper(void *arg)
{
	for (int i = 0; i < SHORT_SLEEPS || gh_now() < deadline; i++)
		short_sleep();
	return NULL;
}

static void *short_main(void *arg)
{
	gh_thread *t[SHORT_THREADS];

	for (int i = 0; i < SHORT_THREADS; i++)
		t[i] = gh_spawn(short_sleeper, NULL);
	for (int i = 0; i < SHORT_THREADS; i++)
		if (check_non_null(t[i]))
			gh_join(t[i], NULL);
	return NULL;
}

static void test_bpf_grace_short_sleeps_stay_on_their_carrier(void **state)
{
	struct gh_hub_stats st;
	struct bt_maps m;

	load("always", "1000000000");
	assert_int_equal(bt_maps_open(&m), 0);
	atomic_store(&sleeps, 0);
	atomic_store(&overlaps, 0);
	deadline = 0;
	st = bt_run_trace(short_main, NULL);
	print_message("%lu sleeps: %llu ended within the grace period, %llu handed off after it, "
		      "%llu handoffs\n",
		      atomic_load(&sleeps), (unsigned long long)m.ctl->nr_graced,
		      (unsigned long long)m.ctl->nr_late_handoffs, (unsigned long long)st.handoffs);
	assert_int_equal(atomic_load(&overlaps), 0);
	assert_int_equal(st.handoffs, 0);
	/* A sleep whose timer expired before its thread switched out never slept. */
	assert_true(m.ctl->nr_graced > 0);
	assert_int_equal(m.ctl->nr_late_handoffs, 0);
	assert_int_equal(m.ctl->nr_grace_pending, 0);
	bt_maps_close(&m);
	bt_loader_down();
}

/* ---- reads only the hub can end ---------------------------------------------------------- */

struct reads {
	int pipefd[2];
	bool outside_writes; /* the poster thread writes; B waits on a green timer */
	atomic_int blocked;  /* reads A has begun */
	atomic_int posted;   /* reads B has run for, with outside_writes */
	atomic_bool stop;    /* the run is over: the poster gives up */
	unsigned ok;
	atomic_bool done;    /* A made its last read */
};

/* Green thread B. It runs only when A blocked in its read and a spare took the hub. */
static void *writer(void *arg)
{
	struct reads *r = arg;

	for (int i = 0; i < READS; i++) {
		char c = (char)i;

		while (atomic_load(&r->blocked) <= i)
			if (r->outside_writes)
				check_int_equal(gh_sleep(1000000), 0);
			else
				gh_yield();
		green_stretch(1000);
		if (r->outside_writes)
			atomic_store(&r->posted, i + 1);
		else
			check_int_equal(write(r->pipefd[1], &c, 1), 1);
	}
	return NULL;
}

/* An OS thread outside the hub: writes read i's byte 500 us after B ran for it. B is back on
 * its 1 ms timer by then, so the hub is idle when A's read returns, and B did run on the
 * spare since A's handoff: the case the kernel side must not count as unused. */
static void *poster(void *arg)
{
	struct reads *r = arg;

	for (int i = 0; i < READS; i++) {
		char c = (char)i;

		while (atomic_load(&r->posted) <= i)
			if (atomic_load(&r->stop))
				return NULL;
			else
				bt_sleep_us(50);
		bt_sleep_us(500);
		if (write(r->pipefd[1], &c, 1) != 1)
			return NULL; /* A's read then fails the run */
	}
	return NULL;
}

static void *reads_main(void *arg)
{
	struct reads *r = arg;
	struct bt_maps m;
	gh_thread *w;

	if (!check_int_equal(bt_maps_open(&m), 0))
		return NULL;
	check_true(bt_green_wait_spares(&m, 1));
	bt_maps_close(&m);
	w = gh_spawn(writer, r);
	if (!check_non_null(w))
		return NULL;
	for (int i = 0; i < READS; i++) {
		char c = 0;

		green_stretch(1000);
		atomic_fetch_add(&r->blocked, 1);
		if (check_int_equal(read(r->pipefd[0], &c, 1), 1) && c == (char)i)
			r->ok++;
	}
	atomic_store(&r->done, true);
	gh_join(w, NULL);
	return NULL;
}

/* READS dependent reads with the loaded policy; the kernel side's counters after. */
static void run_reads(struct bt_maps *m, struct gh_hub_stats *st, bool outside_writes)
{
	struct reads r = { .outside_writes = outside_writes };
	pthread_t post;

	assert_int_equal(pipe(r.pipefd), 0);
	assert_int_equal(bt_maps_open(m), 0);
	atomic_store(&overlaps, 0);
	if (outside_writes)
		assert_int_equal(pthread_create(&post, NULL, poster, &r), 0);
	*st = bt_run_trace(reads_main, &r);
	if (outside_writes) {
		atomic_store(&r.stop, true);
		assert_int_equal(pthread_join(post, NULL), 0);
	}
	close(r.pipefd[0]);
	close(r.pipefd[1]);
	print_message("%u reads: %llu handoffs, %llu after a grace period, %llu ended within one, "
		      "%llu returns to an idle hub, %llu with nothing run since their handoff\n",
		      r.ok, (unsigned long long)st->handoffs,
		      (unsigned long long)m->ctl->nr_late_handoffs,
		      (unsigned long long)m->ctl->nr_graced, (unsigned long long)st->idle_returns,
		      (unsigned long long)m->ctl->nr_unused_handoffs);
	assert_int_equal(r.ok, READS);
	assert_int_equal(atomic_load(&overlaps), 0);
	assert_true(st->handoffs >= READS);
	assert_int_equal(m->ctl->nr_grace_pending, 0);
	assert_int_equal(m->ctl->kside.nr_displaced, 0);
}

static void test_bpf_grace_outlasting_read_handed_off_after_it(void **state)
{
	struct gh_hub_stats st;
	struct bt_maps m;

	load("always", "20000");
	run_reads(&m, &st, false);
	assert_true(m.ctl->nr_late_handoffs >= READS);
	bt_maps_close(&m);
	bt_loader_down();
}

static void test_bpf_grace_adaptive_hands_dependent_reads_off_at_once(void **state)
{
	struct gh_hub_stats st;
	struct bt_maps m;

	load(NULL, NULL);
	run_reads(&m, &st, false);
	/* Fewer sleeps than one probe's worth (GH_TRACE_GRACE_PROBE), none cancelled. */
	assert_int_equal(m.ctl->nr_late_handoffs, 0);
	assert_int_equal(m.ctl->nr_graced, 0);
	bt_maps_close(&m);
	bt_loader_down();
}

/* The same reads, written from outside the hub after B ran on the spare: A's return finds the
 * hub idle, but B ran in between, so the handoff was used and the reads stay handed off at
 * once. */
static void test_bpf_grace_adaptive_used_handoff_before_idle_return(void **state)
{
	struct gh_hub_stats st;
	struct bt_maps m;

	load(NULL, NULL);
	run_reads(&m, &st, true);
	if (st.idle_returns == 0)
		fail_msg("no read returned to an idle hub: the case did not happen");
	assert_int_equal(m.ctl->nr_unused_handoffs, 0);
	assert_int_equal(m.ctl->nr_late_handoffs, 0);
	assert_int_equal(m.ctl->nr_graced, 0);
	bt_maps_close(&m);
	bt_loader_down();
}

/* ---- a lone sleeper ---------------------------------------------------------------------- */

#define LONE_SLEEPS 300

/* The hub's only green thread besides its joiner: 2 us of green code, then a bare 200 us
 * nanosleep. A spare that takes its handoff finds nothing to run. */
static void *lone_sleeper(void *arg)
{
	struct timespec ts = { 0, 200000 };

	for (int i = 0; i < LONE_SLEEPS; i++) {
		green_stretch(2000);
		check_int_equal(nanosleep(&ts, NULL), 0);
		atomic_fetch_add(&sleeps, 1);
	}
	return NULL;
}

static void *lone_main(void *arg)
{
	gh_thread *t = gh_spawn(lone_sleeper, NULL);

	if (check_non_null(t))
		gh_join(t, NULL);
	return NULL;
}

static void test_bpf_grace_adaptive_waits_out_handoffs_that_buy_nothing(void **state)
{
	struct gh_hub_stats st;
	struct bt_maps m;

	load(NULL, NULL);
	assert_int_equal(bt_maps_open(&m), 0);
	atomic_store(&sleeps, 0);
	atomic_store(&overlaps, 0);
	st = bt_run_trace(lone_main, NULL);
	print_message("%lu sleeps: %llu handoffs, %llu of them unused, %llu cancelled, %llu ended "
		      "within the grace period, %llu handed off after it\n",
		      atomic_load(&sleeps), (unsigned long long)st.handoffs,
		      (unsigned long long)m.ctl->nr_unused_handoffs, (unsigned long long)st.cancels,
		      (unsigned long long)m.ctl->nr_graced,
		      (unsigned long long)m.ctl->nr_late_handoffs);
	assert_int_equal(atomic_load(&sleeps), LONE_SLEEPS);
	assert_int_equal(atomic_load(&overlaps), 0);
	/* A few handoffs teach the hub that they buy nothing; from then on it waits. Each does
	 * so as unused (a spare took it and found nothing to run) or, where the sleep ended
	 * before any spare took it, as cancelled: in the 6.1 VM under TCG all 7 handoffs of one
	 * run were cancels. */
	assert_true(m.ctl->nr_unused_handoffs + st.cancels > 0);
	assert_true(m.ctl->nr_graced >= LONE_SLEEPS / 2);
	assert_true(st.handoffs <= LONE_SLEEPS / 2);
	assert_int_equal(m.ctl->nr_grace_pending, 0);
	assert_int_equal(m.ctl->kside.nr_displaced, 0);
	bt_maps_close(&m);
	bt_loader_down();
}

/* ---- mixed: reads beside short sleeps --------------------------------------------------- */

static void *mixed_sleeper(void *arg)
{
	struct reads *r = arg;

	while (!atomic_load(&r->done)) {
		short_sleep();
		/* The reader and the writer must get their turns. */
		gh_yield();
	}
	return NULL;
}

static void *mixed_main(void *arg)
{
	gh_thread *t[SHORT_THREADS];

	for (int i = 0; i < SHORT_THREADS; i++)
		t[i] = gh_spawn(mixed_sleeper, arg);
	reads_main(arg);
	/* A failed check in reads_main may leave done unset: the sleepers must end anyway. */
	atomic_store(&((struct reads *)arg)->done, true);
	for (int i = 0; i < SHORT_THREADS; i++)
		if (check_non_null(t[i]))
			gh_join(t[i], NULL);
	return NULL;
}

struct watch {
	struct reads *r;
	atomic_bool stop;
	int stuck_after; /* the reads begun when it found no progress; -1: it did not */
};

/* 30 s without a read begun: a sleep left without its handoff. Unblock the reader (each read
 * wants one byte) so that the hub can finish, and say so. */
static void *watch_reads(void *arg)
{
	struct watch *w = arg;
	int last = -1, still = 0;

	while (!atomic_load(&w->stop) && !atomic_load(&w->r->done)) {
		int now = atomic_load(&w->r->blocked);

		still = now == last ? still + 1 : 0;
		last = now;
		if (still >= 300) {
			w->stuck_after = now;
			for (int i = 0; i < READS; i++)
				if (write(w->r->pipefd[1], "x", 1) != 1)
					break;
			return NULL;
		}
		bt_sleep_ms(100);
	}
	return NULL;
}

/* Each read beside the short sleeps is handed off once its grace period is over, with the
 * grace timer kept as timer says: one kept per sleep must be moved to the sleep it serves, one
 * kept per period must start itself again for the sleep it finds. */
static void reads_beside_short_sleeps(const char *timer)
{
	struct reads r = { 0 };
	struct watch w = { .r = &r, .stuck_after = -1 };
	struct gh_hub_stats st;
	pthread_t watchdog;
	struct bt_maps m;

	load_timer("always", "200000", timer);
	assert_int_equal(pipe(r.pipefd), 0);
	assert_int_equal(bt_maps_open(&m), 0);
	assert_timer_kept(&m, timer);
	atomic_store(&sleeps, 0);
	atomic_store(&overlaps, 0);
	assert_int_equal(pthread_create(&watchdog, NULL, watch_reads, &w), 0);
	st = bt_run_trace(mixed_main, &r);
	atomic_store(&w.stop, true);
	assert_int_equal(pthread_join(watchdog, NULL), 0);
	close(r.pipefd[0]);
	close(r.pipefd[1]);
	print_message("%u reads beside %lu short sleeps: %llu handoffs, %llu after a grace period, "
		      "%llu ended within one\n",
		      r.ok, atomic_load(&sleeps), (unsigned long long)st.handoffs,
		      (unsigned long long)m.ctl->nr_late_handoffs,
		      (unsigned long long)m.ctl->nr_graced);
	if (w.stuck_after >= 0)
		fail_msg("no read began for 30 s after read %d: a sleep was left without a handoff",
			 w.stuck_after);
	assert_int_equal(r.ok, READS);
	assert_int_equal(atomic_load(&overlaps), 0);
	assert_true(m.ctl->nr_late_handoffs >= READS);
	assert_int_equal(m.ctl->nr_grace_pending, 0);
	assert_int_equal(m.ctl->kside.nr_displaced, 0);
	bt_maps_close(&m);
	bt_loader_down();
}

static void test_bpf_grace_reads_beside_short_sleeps_timer_per_sleep(void **state)
{
	reads_beside_short_sleeps("sleep");
}

static void test_bpf_grace_reads_beside_short_sleeps_timer_per_period(void **state)
{
	reads_beside_short_sleeps("period");
}

/* ---- the lone sleeper, then busy sleepers ------------------------------------------------ */

#define BUSY_THREADS 4
#define BUSY_SLEEPS 50 /* each, in the busy phase */
#define BURST_SLEEPS 3 /* each, in the burst: 11 of the 12 hold others up */

/* 2 us of green code, a bare 5 ms nanosleep (within the case's 20 ms grace period, and far
 * longer than a handoff takes even on a slow machine), then a switch point: while one sleeps,
 * the others are ready, and a handoff would run them. */
static void *busy_sleeper(void *arg)
{
	struct timespec ts = { 0, 5000000 };
	int n = (int)(intptr_t)arg;

	for (int i = 0; i < n; i++) {
		green_stretch(2000);
		check_int_equal(nanosleep(&ts, NULL), 0);
		atomic_fetch_add(&sleeps, 1);
		gh_yield();
	}
	return NULL;
}

struct phases {
	struct bt_maps *m;
	int busy_sleeps; /* each busy thread's */
	struct gh_hub_stats lone, busy;
	unsigned long long lone_graced;
};

static void lone_phase(struct phases *ph)
{
	lone_main(NULL);
	ph->lone = bt_green_stats();
	ph->lone_graced = ph->m->ctl->nr_graced;
}

static void busy_phase(struct phases *ph)
{
	gh_thread *t[BUSY_THREADS];

	for (int i = 0; i < BUSY_THREADS; i++)
		t[i] = gh_spawn(busy_sleeper, (void *)(intptr_t)ph->busy_sleeps);
	for (int i = 0; i < BUSY_THREADS; i++)
		if (check_non_null(t[i]))
			gh_join(t[i], NULL);
	ph->busy = bt_green_stats();
}

static void *lone_then_busy_main(void *arg)
{
	lone_phase(arg);
	busy_phase(arg);
	return NULL;
}

/* The lone sleeper, then each busy thread's ph->busy_sleeps (main: lone_then_busy_main, or a
 * main with more between the phases), with the adaptive policy and a 20 ms grace period; the
 * handoffs of the busy phase. The lone phase must have left the hub waiting its sleeps out. */
static unsigned long long run_phases(struct bt_maps *m, struct phases *ph, const char *phase,
				     void *(*main)(void *))
{
	unsigned long long handoffs;

	load("adaptive", "20000000");
	assert_int_equal(bt_maps_open(m), 0);
	atomic_store(&sleeps, 0);
	atomic_store(&overlaps, 0);
	(void)bt_run_trace(main, ph);
	handoffs = (unsigned long long)(ph->busy.handoffs - ph->lone.handoffs);
	print_message("lone: %llu handoffs, %llu sleeps ended within the grace period; %s: "
		      "%llu handoffs for %d sleeps, %llu sleeps held others up\n",
		      (unsigned long long)ph->lone.handoffs, ph->lone_graced, phase, handoffs,
		      BUSY_THREADS * ph->busy_sleeps,
		      (unsigned long long)m->ctl->nr_graced_held_up);
	assert_int_equal(atomic_load(&sleeps), LONE_SLEEPS + BUSY_THREADS * ph->busy_sleeps);
	assert_int_equal(atomic_load(&overlaps), 0);
	assert_true(ph->lone_graced >= LONE_SLEEPS / 2);
	return handoffs;
}

/* Nothing left pending or displaced once the process is gone. */
static void lone_then_busy_done(struct bt_maps *m)
{
	assert_int_equal(m->ctl->nr_grace_pending, 0);
	assert_int_equal(m->ctl->kside.nr_displaced, 0);
	bt_maps_close(m);
	bt_loader_down();
}

static void test_bpf_grace_adaptive_stops_waiting_when_sleeps_hold_others_up(void **state)
{
	struct bt_maps m;
	struct phases ph = { .m = &m, .busy_sleeps = BUSY_SLEEPS };
	unsigned long long busy_handoffs = run_phases(&m, &ph, "busy", lone_then_busy_main);

	/* Sleeps that keep ready threads waiting longer than a handoff takes bring the handoffs
	 * back. */
	assert_true(m.ctl->nr_graced_held_up > 0);
	assert_true(busy_handoffs >= BUSY_THREADS * BUSY_SLEEPS / 2);
	lone_then_busy_done(&m);
}

/* A burst of such sleeps, 12 in all, after the lone sleeper: a hiccup, not a change of load.
 * The hub must keep waiting through it, or one burst on a busy machine would switch it to
 * handing short sleeps off (docs/trace-mode.md, "How adaptive decides"). */
static void test_bpf_grace_adaptive_waits_through_a_burst_that_holds_others_up(void **state)
{
	struct bt_maps m;
	struct phases ph = { .m = &m, .busy_sleeps = BURST_SLEEPS };
	unsigned long long burst_handoffs =
		run_phases(&m, &ph, "burst", lone_then_busy_main);
	unsigned long long held_up = (unsigned long long)m.ctl->nr_graced_held_up;

	/* The hub kept waiting (a step of 1/8 per sleep that held others up hands off the last
	 * half of the burst)... */
	assert_true(burst_handoffs <= 2);
	/* ...through a burst that happened: most of its sleeps held others up. */
	if (held_up < BUSY_THREADS * BURST_SLEEPS - 3)
		fail_msg("%llu burst sleeps held others up: the case did not happen", held_up);
	lone_then_busy_done(&m);
}

/* ---- a slow wake between the phases ------------------------------------------------------ */

#define SLOW_WAKE_MS 150 /* how long the spare that takes the read waits for a CPU */

struct slow_wake {
	int pipefd[2];
	atomic_bool hog_running, hog_done;
};

/* Every thread of the process on CPU 0 but the caller, which goes to CPU 1 (to_cpu0 true); or
 * every thread on the CPUs in all. Threads that start meanwhile inherit their creator's. */
static bool pin_threads(bool to_cpu0, const cpu_set_t *all)
{
	pid_t me = gettid();
	struct dirent *e;
	bool ok = true;
	cpu_set_t one;
	DIR *d = opendir("/proc/self/task");

	if (!check_non_null(d))
		return false;
	while ((e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);

		if (tid <= 0)
			continue;
		CPU_ZERO(&one);
		CPU_SET(tid == me ? 1 : 0, &one);
		/* A thread that ended since the listing is no failure. */
		if (sched_setaffinity(tid, sizeof(one), to_cpu0 ? &one : all) && errno != ESRCH)
			ok = false;
	}
	closedir(d);
	return ok;
}

/* A real-time thread that takes CPU 0 for SLOW_WAKE_MS: the spares, pinned there, wait. */
static void *hog_main(void *arg)
{
	struct slow_wake *w = arg;
	struct sched_param sp = { .sched_priority = 1 };
	uint64_t until;
	cpu_set_t cpu0;

	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	check_int_equal(pthread_setaffinity_np(pthread_self(), sizeof(cpu0), &cpu0), 0);
	check_int_equal(pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp), 0);
	atomic_store(&w->hog_running, true);
	until = bt_now() + SLOW_WAKE_MS * 1000000ULL;
	while (bt_now() < until)
		;
	atomic_store(&w->hog_done, true);
	return NULL;
}

/* Ends the read once the hog let go of CPU 0 (a plain thread, on CPU 1 with its creator). */
static void *late_writer(void *arg)
{
	struct slow_wake *w = arg;

	while (!atomic_load(&w->hog_done))
		bt_sleep_ms(1);
	bt_sleep_ms(5);
	check_int_equal(write(w->pipefd[1], "x", 1), 1);
	return NULL;
}

/* A read that outlasts the grace period and is handed off after it, while every spare waits
 * for CPU 0: the spare's wake takes about SLOW_WAKE_MS, a thousand times what it usually takes. */
static void slow_wake(struct phases *ph)
{
	struct slow_wake w = { 0 };
	pthread_t hog, writer;
	cpu_set_t all;
	char c;

	if (!check_int_equal(pipe(w.pipefd), 0) ||
	    !check_int_equal(sched_getaffinity(0, sizeof(all), &all), 0) ||
	    !check_true(bt_green_wait_spares(ph->m, 1)) || !check_true(pin_threads(true, NULL)))
		return;
	check_int_equal(pthread_create(&hog, NULL, hog_main, &w), 0);
	while (!atomic_load(&w.hog_running))
		bt_sleep_ms(1);
	check_int_equal(pthread_create(&writer, NULL, late_writer, &w), 0);
	check_int_equal(read(w.pipefd[0], &c, 1), 1);
	check_int_equal(pthread_join(writer, NULL), 0);
	check_int_equal(pthread_join(hog, NULL), 0);
	check_true(pin_threads(false, &all));
	close(w.pipefd[0]);
	close(w.pipefd[1]);
}

static void *lone_slow_wake_then_busy_main(void *arg)
{
	lone_phase(arg);
	slow_wake(arg);
	busy_phase(arg);
	return NULL;
}

/* The busy phase after a wake that took a thousand times the usual: one such wake (a spare
 * that waited for a CPU) must not make the hub take its sleeps for shorter than a handoff, or
 * a hub that waits them out would never hand off again (no handoff, no quicker wake to learn
 * from) while its other threads wait. */
static void test_bpf_grace_adaptive_slow_wake_does_not_keep_it_waiting(void **state)
{
	struct bt_maps m;
	struct phases ph = { .m = &m, .busy_sleeps = BUSY_SLEEPS };
	unsigned long long busy_handoffs, slowest_us;
	cpu_set_t cpus;

	/* The case needs CPUs 0 and 1: one for the spares to wait on, one for the hub. */
	assert_int_equal(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
	if (!CPU_ISSET(0, &cpus) || !CPU_ISSET(1, &cpus))
		skip();
	busy_handoffs = run_phases(&m, &ph, "busy after the slow wake",
				   lone_slow_wake_then_busy_main);
	slowest_us = (unsigned long long)(m.ctl->kside.handoff_latency.max_ns / 1000);
	print_message("the slowest wake of a spare: %llu us\n", slowest_us);
	/* The case happened: a wake that slow was measured... */
	if (slowest_us < SLOW_WAKE_MS * 1000 / 2)
		fail_msg("the slowest wake took %llu us: the case did not happen", slowest_us);
	/* ...and the busy phase handed off as it does without it. */
	assert_true(busy_handoffs >= BUSY_THREADS * BUSY_SLEEPS / 2);
	lone_then_busy_done(&m);
}

/* ---- the race ---------------------------------------------------------------------------- */

/* Grace periods as short as the sleeps, so that expiries race the wakes, with the grace timer
 * kept as timer says: never two runners. */
static void expiry_racing_the_wake(const char *timer)
{
	struct gh_hub_stats st;
	struct bt_maps m;

	load_timer("always", "10000", timer);
	assert_int_equal(bt_maps_open(&m), 0);
	assert_timer_kept(&m, timer);
	atomic_store(&sleeps, 0);
	atomic_store(&overlaps, 0);
	deadline = gh_now() + 2000000000ull;
	st = bt_run_trace(short_main, NULL);
	print_message("%lu sleeps: %llu ended within the grace period, %llu handed off after it, "
		      "%llu holds, %llu cancels\n",
		      atomic_load(&sleeps), (unsigned long long)m.ctl->nr_graced,
		      (unsigned long long)m.ctl->nr_late_handoffs, (unsigned long long)st.holds,
		      (unsigned long long)m.ctl->kside.nr_cancels);
	assert_int_equal(atomic_load(&overlaps), 0);
	assert_true(m.ctl->nr_graced + m.ctl->nr_late_handoffs > 0);
	assert_int_equal(m.ctl->nr_grace_pending, 0);
	assert_int_equal(m.ctl->kside.nr_displaced, 0);
	assert_int_equal(m.ctl->nr_gate_late, 0);
	bt_maps_close(&m);
	bt_loader_down();
}

static void test_bpf_grace_expiry_racing_the_wake_timer_per_sleep(void **state)
{
	expiry_racing_the_wake("sleep");
}

static void test_bpf_grace_expiry_racing_the_wake_timer_per_period(void **state)
{
	expiry_racing_the_wake("period");
}

/* ---- a switch-in the kernel does not report ---------------------------------------------- */

#define UNSEEN_GRACE_NS "1000000000"
#define UNSEEN_SPIN_MS 1500

struct unseen {
	const struct bt_maps *m;
	int pipefd[2];        /* the sleeper's read, which the detacher ends */
	atomic_bool done;     /* the sleeper's green code is over: the ticker ends */
	atomic_int detached;  /* the context-switch program: 1 detached, -errno failed */
	ssize_t got;          /* the bare read's return */
};

static int link_id(int fd, __u32 *id)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_link_get_info_by_fd(fd, &info, &len) < 0)
		return -errno;
	*id = info.id;
	return 0;
}

/*
 * Detach the context-switch program, as a kernel that stops reporting switches would: its link
 * goes once nothing holds it, neither the pin nor this process's hub (which holds the kernel
 * side's links while it is attached: its descriptor is pointed at /dev/null instead). 0 once the
 * kernel has released the link, or -errno.
 */
static int detach_switch_program(void)
{
	__u32 id = 0, other = 0;
	struct dirent *e;
	int fd, null, err;
	DIR *d;

	fd = bpf_obj_get(GH_TRACE_PIN_DIR "/link_switch");
	if (fd < 0)
		return -errno;
	err = link_id(fd, &id);
	close(fd);
	if (err)
		return err;
	if (unlink(GH_TRACE_PIN_DIR "/link_switch") < 0)
		return -errno;
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0)
		return -errno;
	d = opendir("/proc/self/fd");
	if (!d) {
		err = -errno;
		close(null);
		return err;
	}
	while ((e = readdir(d))) {
		fd = atoi(e->d_name);
		if (fd != dirfd(d) && fd != null && !link_id(fd, &other) && other == id &&
		    dup3(null, fd, O_CLOEXEC) < 0)
			err = -errno;
	}
	closedir(d);
	close(null);
	if (err)
		return err;
	/* The kernel frees the link, and so detaches the program, from a work item. */
	for (int i = 0; i < 1000; i++) {
		fd = bpf_link_get_fd_by_id(id);
		if (fd < 0)
			return errno == ENOENT ? 0 : -errno;
		close(fd);
		bt_sleep_ms(1);
	}
	return -ETIMEDOUT;
}

/* Once the sleeper's graced read has begun (the program saw it switch out), detach the program,
 * then end the read: nothing in the kernel side sees the sleeper switched in again. */
static void *detach_at_graced_sleep(void *arg)
{
	struct unseen *u = arg;
	uint64_t until = bt_now() + 10000000000ull;
	int err;

	while (u->m->ctl->nr_grace_pending < 1 && bt_now() < until)
		;
	err = u->m->ctl->nr_grace_pending < 1 ? -ETIMEDOUT : detach_switch_program();
	atomic_store(&u->detached, err ? err : 1);
	if (write(u->pipefd[1], "x", 1) != 1)
		atomic_store(&u->detached, -errno);
	return NULL;
}

static void *unseen_ticker(void *arg)
{
	struct unseen *u = arg;

	while (!atomic_load(&u->done)) {
		green_stretch(20000);
		gh_sleep(1000000);
	}
	return NULL;
}

/* A bare read that ends within its grace period, then green code that outlasts the grace
 * period, without a switch point: if the return did not settle the sleep, the grace timer would
 * hand the hub to a spare in the middle of that green code, and the spare would run the ticker
 * beside it. */
static void *unseen_main(void *arg)
{
	struct unseen *u = arg;
	gh_thread *ticker;
	char c;

	if (!check_true(bt_green_wait_spares(u->m, 1)))
		return NULL;
	ticker = gh_spawn(unseen_ticker, u);
	if (!check_non_null(ticker))
		return NULL;
	gh_yield();
	green_stretch(1000000);
	u->got = read(u->pipefd[0], &c, 1);
	green_stretch(UNSEEN_SPIN_MS * 1000000ull);
	atomic_store(&u->done, true);
	gh_join(ticker, NULL);
	return NULL;
}

static void test_bpf_grace_unseen_switch_in_settled_at_return(void **state)
{
	struct unseen u = { .got = -1 };
	pthread_t detacher;
	struct bt_maps m;
	__u64 late;

	load("always", UNSEEN_GRACE_NS);
	assert_int_equal(bt_maps_open(&m), 0);
	u.m = &m;
	assert_int_equal(pipe(u.pipefd), 0);
	atomic_store(&overlaps, 0);
	late = m.ctl->nr_late_handoffs;
	assert_int_equal(pthread_create(&detacher, NULL, detach_at_graced_sleep, &u), 0);
	(void)bt_run_trace(unseen_main, &u);
	assert_int_equal(pthread_join(detacher, NULL), 0);
	close(u.pipefd[0]);
	close(u.pipefd[1]);
	print_message("detached %d; sleeps settled at their return %llu, handed off after their grace "
		      "period %llu, overlaps %ld\n",
		      atomic_load(&u.detached), (unsigned long long)m.ctl->nr_graced_at_return,
		      (unsigned long long)(m.ctl->nr_late_handoffs - late), atomic_load(&overlaps));
	assert_int_equal(atomic_load(&u.detached), 1);
	assert_int_equal(u.got, 1);
	assert_int_equal(atomic_load(&overlaps), 0);
	if (m.ctl->gate == GH_TRACE_GATE_TAKER) {
		/* No gate was armed at the sleep: the timer may hand the owner off while it runs
		 * (once: the program that hands off at a sleep is gone), but no spare takes it
		 * while it runs, and the owner takes it back (bpf/taker_gate.bpf.h). */
		print_message("taker-armed gate: %llu arms, %llu waits for a running owner\n",
			      (unsigned long long)m.ctl->nr_taker_arms,
			      (unsigned long long)m.ctl->nr_taker_waits);
		assert_true(m.ctl->nr_late_handoffs - late <= 1);
	} else if (m.ctl->gate == GH_TRACE_GATE_TASK_WORK) {
		/* No gate was armed at the sleep (trace_grace.bpf.h, step 4): the timer found the
		 * owner in green code, out of the call it slept in, and let the sleep be. Its count
		 * stays pending until a switch-in the program sees, and the program is gone. */
		print_message("task-work gate: the timer found %llu sleeps over, armed %llu gates\n",
			      (unsigned long long)m.ctl->nr_graced_over,
			      (unsigned long long)m.ctl->nr_timer_gate_arms);
		assert_true(m.ctl->nr_graced_over >= 1);
		assert_int_equal(m.ctl->nr_late_handoffs, late);
	} else {
		/* The sleep was settled at its return, so the timer found it over. */
		assert_true(m.ctl->nr_graced_at_return >= 1);
		assert_int_equal(m.ctl->nr_late_handoffs, late);
		assert_int_equal(m.ctl->nr_grace_pending, 0);
	}
	if (m.ctl->gate == GH_TRACE_GATE_TAKER)
		assert_int_equal(m.ctl->nr_grace_pending, 0);
	bt_maps_close(&m);
	bt_loader_down();
}

/* ---- a stale handoff (the taker-armed gate) ---------------------------------------------- */

#define STALE_GRACE_NS "100000000"

struct stale {
	struct unseen u;
	bool saw_handoff; /* the owner saw its own handoff up while it ran */
};

/* This carrier's slot in the mapped slots: the one whose baton names it the runner. */
static struct gh_hub_slot *own_slot(const struct bt_maps *m)
{
	__u32 me = (__u32)gettid();

	for (unsigned i = 0; i < GH_MAX_HUBS; i++)
		if (gh_baton_state(m->slots[i].baton) == GH_BATON_RUN &&
		    gh_baton_tid(m->slots[i].baton) == me)
			return &m->slots[i];
	return NULL;
}

/* A bare read whose switch-in goes unseen, then green code, until the grace timer hands the
 * running owner off; then at once the hub goes idle, before a spare can so much as look: the
 * owner must take its own stale handoff back on its way (gh__baton_reclaim), or going idle
 * without the baton aborts the process. */
static void *stale_main(void *arg)
{
	struct stale *s = arg;
	uint64_t until = gh_now() + 5000000000ull;
	struct gh_hub_slot *slot;
	__u64 b;
	char c;

	if (!check_true(bt_green_wait_spares(s->u.m, 1)))
		return NULL;
	slot = own_slot(s->u.m);
	if (!check_non_null(slot))
		return NULL;
	s->u.got = read(s->u.pipefd[0], &c, 1);
	do {
		b = __atomic_load_n(&slot->baton, __ATOMIC_ACQUIRE);
		s->saw_handoff = gh_baton_state(b) == GH_BATON_HANDOFF &&
				 gh_baton_tid(b) == (__u32)gettid();
	} while (!s->saw_handoff && gh_now() < until);
	gh_sleep(1000000);
	return NULL;
}

/* Tries of the stale-handoff case: the owner sees its handoff unless it is off its CPU from
 * the timer's CAS until the gate a spare armed takes the handoff back at its return to user
 * mode (seen once on a machine whose two CPUs ran two qemu boots besides). */
#define STALE_TRIES 3

/* One try: the handoff is taken back, by the owner itself or by the gate a spare armed, and
 * never taken over. True if the owner saw it (and so took it back itself). */
static bool stale_try(void)
{
	struct stale s = { .u = { .got = -1 } };
	struct gh_hub_stats st;
	pthread_t detacher;
	struct bt_maps m;

	load("always", STALE_GRACE_NS);
	assert_int_equal(bt_maps_open(&m), 0);
	if (m.ctl->gate != GH_TRACE_GATE_TAKER) {
		/* The other gates settle the sleep at its return: no timer handoff follows. */
		bt_maps_close(&m);
		bt_loader_down();
		skip();
	}
	s.u.m = &m;
	assert_int_equal(pipe(s.u.pipefd), 0);
	assert_int_equal(pthread_create(&detacher, NULL, detach_at_graced_sleep, &s.u), 0);
	st = bt_run_trace(stale_main, &s);
	assert_int_equal(pthread_join(detacher, NULL), 0);
	close(s.u.pipefd[0]);
	close(s.u.pipefd[1]);
	print_message("detached %d; the owner saw its handoff %d; cancels %llu, takeovers %llu\n",
		      atomic_load(&s.u.detached), s.saw_handoff, (unsigned long long)st.cancels,
		      (unsigned long long)st.takeovers);
	assert_int_equal(atomic_load(&s.u.detached), 1);
	assert_int_equal(s.u.got, 1);
	assert_true(st.cancels >= 1);
	assert_int_equal(st.takeovers, 0);
	bt_maps_close(&m);
	bt_loader_down();
	return s.saw_handoff;
}

static void test_bpf_grace_unseen_switch_in_owner_takes_stale_handoff_back(void **state)
{
	bool saw = false;

	for (int i = 0; i < STALE_TRIES && !saw; i++)
		saw = stale_try();
	assert_true(saw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_grace_short_sleeps_stay_on_their_carrier),
		cmocka_unit_test(test_bpf_grace_outlasting_read_handed_off_after_it),
		cmocka_unit_test(test_bpf_grace_adaptive_hands_dependent_reads_off_at_once),
		cmocka_unit_test(test_bpf_grace_adaptive_used_handoff_before_idle_return),
		cmocka_unit_test(test_bpf_grace_adaptive_waits_out_handoffs_that_buy_nothing),
		cmocka_unit_test(test_bpf_grace_adaptive_stops_waiting_when_sleeps_hold_others_up),
		cmocka_unit_test(test_bpf_grace_adaptive_waits_through_a_burst_that_holds_others_up),
		cmocka_unit_test(test_bpf_grace_adaptive_slow_wake_does_not_keep_it_waiting),
		cmocka_unit_test(test_bpf_grace_expiry_racing_the_wake_timer_per_sleep),
		cmocka_unit_test(test_bpf_grace_expiry_racing_the_wake_timer_per_period),
		cmocka_unit_test(test_bpf_grace_reads_beside_short_sleeps_timer_per_sleep),
		cmocka_unit_test(test_bpf_grace_reads_beside_short_sleeps_timer_per_period),
		cmocka_unit_test(test_bpf_grace_unseen_switch_in_settled_at_return),
		cmocka_unit_test(test_bpf_grace_unseen_switch_in_owner_takes_stale_handoff_back),
	};

	bt_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
