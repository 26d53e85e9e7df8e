// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The sysmon, in mode none: it hands a hub whose owner stays in a marked blocking region to a
 * spare carrier, and nothing else; it starts a spare for a handoff that finds none parked; the
 * carrier whose region ends waits for the hub to be handed back; spares idle beyond
 * opts.min_spares retire; one sysmon watches every running hub, as hubs come and go, and still
 * notices a region after a quiet spell; its options are checked.
 *
 * Every region here can end only once another green thread of its hub has run, which only a
 * handoff allows: a test that finishes has seen the handoff, however slow the machine, and
 * nothing is judged by how long it took.
 */
#include <poll.h>
#include <pthread.h>
#include <time.h>

#include "helpers.h"

static struct gh_hub_opts none_opts(void)
{
	struct gh_hub_opts o;

	gh_hub_opts_init(&o);
	/* Whatever GREENHUB_MODE says or a loaded kernel side offers: only the sysmon hands off. */
	o.mode = GH_MODE_NONE;
	return o;
}

/* Run fn(arg) as the main green thread of a fresh hub with options o; the hub's statistics. */
static struct gh_hub_stats run_none(gh_fn fn, void *arg, const struct gh_hub_opts *o)
{
	struct gh_hub_stats st = { .sz = sizeof(st) };
	gh_hub *hub = gh_hub_create(o);

	assert_non_null(hub);
	assert_int_equal(hub_run(hub, fn, arg, NULL), 0);
	assert_int_equal(gh_hub_mode(hub), GH_MODE_NONE);
	assert_int_equal(gh_hub_stats(hub, &st), 0);
	assert_int_equal(gh_hub_destroy(hub), 0);
	/* I2: every handoff ends in exactly one takeover or cancel. */
	assert_int_equal(st.handoffs, st.takeovers + st.cancels);
	return st;
}

/*
 * From green code: wait in a marked region until fd is readable, and read a byte. The region
 * ends once another green thread of the hub wrote, or after a minute without a handoff: a
 * failed check, not a test that hangs.
 */
static void marked_read(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c = 0;

	check_msg(GH_BLOCKING(poll(&p, 1, 60000)) == 1, "no handoff in a minute");
	check_int_equal(read(fd, &c, 1), 1);
	check_int_equal(c, 'x');
}

/* ---------------------------------------------------------------------------------------- */
/* A relay: a marked wait that only a green thread of the same hub can end                    */

struct relay {
	int pipefd[2];
	atomic_int blocker_tid; /* the OS thread the wait blocks, set before the region */
};

static void *relay_blocker(void *arg)
{
	struct relay *r = arg;

	atomic_store(&r->blocker_tid, gettid());
	marked_read(r->pipefd[0]);
	return NULL;
}

static void *relay_writer(void *arg)
{
	struct relay *r = arg;

	/* Spawned after the blocker, so it runs once the blocker is in its region: on a spare. */
	check_int_not_equal(gettid(), atomic_load(&r->blocker_tid));
	check_int_equal(write(r->pipefd[1], "x", 1), 1);
	return NULL;
}

/* From green code: a relay's blocker, then its writer; back once both have finished. */
static void relay_run(void)
{
	struct relay r = { 0 };
	gh_thread *b, *w;

	if (!check_int_equal(pipe(r.pipefd), 0))
		return;
	b = gh_spawn(relay_blocker, &r);
	w = gh_spawn(relay_writer, &r);
	join_ok(b);
	join_ok(w);
	close(r.pipefd[0]);
	close(r.pipefd[1]);
}

static void *relay_main(void *arg)
{
	relay_run();
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */

static void test_sysmon_region_handed_off_to_spare(void **state)
{
	struct gh_hub_opts o = none_opts();
	struct gh_hub_stats st = run_none(relay_main, NULL, &o);

	assert_true(st.handoffs >= 1);
	assert_true(st.takeovers >= 1);
}

/* With min_spares 0 the hub starts no spare of its own: the sysmon starts one for the handoff. */
static void test_sysmon_starts_spare_for_handoff_with_none_parked(void **state)
{
	struct gh_hub_opts o = none_opts();
	struct gh_hub_stats st;

	o.min_spares = 0;
	st = run_none(relay_main, NULL, &o);
	assert_true(st.spares_started >= 1);
	assert_true(st.takeovers >= 1);
}

/* An unmarked block is no region: the sysmon leaves the hub with its blocked owner, and the
 * hub's other green threads stand still until the call returns. */
struct stalled {
	atomic_bool stop;
	atomic_long ticks;
	long ticks_during;
};

static void *tick(void *arg)
{
	struct stalled *s = arg;

	while (!atomic_load(&s->stop)) {
		atomic_fetch_add(&s->ticks, 1);
		gh_sleep_until(gh_now() + MS(1));
	}
	return NULL;
}

static void *unmarked_main(void *arg)
{
	struct stalled *s = arg;
	struct timespec ts = { .tv_nsec = 50 * 1000000L };
	gh_thread *t = gh_spawn(tick, s);
	long before;

	gh_sleep_until(gh_now() + MS(5)); /* the ticker is under way */
	before = atomic_load(&s->ticks);
	nanosleep(&ts, NULL);
	s->ticks_during = atomic_load(&s->ticks) - before;
	atomic_store(&s->stop, true);
	join_ok(t);
	return NULL;
}

static void test_sysmon_unmarked_block_not_handed_off(void **state)
{
	struct gh_hub_opts o = none_opts();
	struct stalled s = { 0 };
	struct gh_hub_stats st = run_none(unmarked_main, &s, &o);

	assert_int_equal(st.handoffs, 0);
	assert_int_equal(s.ticks_during, 0);
}

/*
 * Exclusivity across a hand-back: a spinner that never sleeps keeps the spare running the hub,
 * so when the relay's wait ends, its carrier must wait until the spinner yields and the hub
 * is handed back. Each green stretch claims an owner marker; nobody may find it held.
 */
struct exclusive {
	struct relay relay;
	atomic_int owner; /* tid of the carrier in a green stretch, 0 if none */
	atomic_long overlaps;
	atomic_bool done;
	long stretches;
};

static bool claim(struct exclusive *x)
{
	int none = 0;

	if (atomic_compare_exchange_strong(&x->owner, &none, gettid()))
		return true;
	atomic_fetch_add(&x->overlaps, 1);
	return false;
}

static void *claiming_blocker(void *arg)
{
	struct exclusive *x = arg;

	relay_blocker(&x->relay);
	/* Back in green code: the spinner's carrier must have let the hub go. */
	if (claim(x))
		atomic_store(&x->owner, 0);
	atomic_store(&x->done, true);
	return NULL;
}

static void *spinner(void *arg)
{
	struct exclusive *x = arg;

	while (!atomic_load(&x->done)) {
		if (claim(x)) {
			for (volatile int i = 0; i < 2000; i++)
				;
			x->stretches++;
			atomic_store(&x->owner, 0);
		}
		gh_yield();
	}
	return NULL;
}

static void *exclusive_main(void *arg)
{
	struct exclusive *x = arg;
	gh_thread *b, *w, *s;

	if (!check_int_equal(pipe(x->relay.pipefd), 0))
		return NULL;
	/* The spinner runs a stretch on the spare before the writer ends the wait. */
	b = gh_spawn(claiming_blocker, x);
	s = gh_spawn(spinner, x);
	w = gh_spawn(relay_writer, &x->relay);
	join_ok(b);
	join_ok(s);
	join_ok(w);
	close(x->relay.pipefd[0]);
	close(x->relay.pipefd[1]);
	return NULL;
}

static void test_sysmon_returning_carrier_waits_for_hand_back(void **state)
{
	struct gh_hub_opts o = none_opts();
	struct exclusive x = { 0 };
	struct gh_hub_stats st = run_none(exclusive_main, &x, &o);

	assert_int_equal(atomic_load(&x.overlaps), 0);
	assert_true(x.stretches > 0);
	assert_true(st.holds >= 1);
	assert_true(st.handbacks >= 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Idle spares retire down to opts.min_spares                                                 */

#define CHAINED 3
#define MIN_SPARES 2

/* CHAINED marked waits at once, each on its own carrier: each blocks the carrier that took the
 * hub for the one before, so the hub needs a carrier per wait, and then one for the writer that
 * ends them all. */
struct chain {
	int pipefd[CHAINED][2];
	struct gh_hub_stats st;
};

static void *chained_read(void *arg)
{
	marked_read(((int *)arg)[0]);
	return NULL;
}

static void *chain_main(void *arg)
{
	struct chain *ch = arg;
	gh_thread *t[CHAINED];
	struct gh_hub_stats *st = &ch->st;

	for (int i = 0; i < CHAINED; i++)
		if (!check_int_equal(pipe(ch->pipefd[i]), 0))
			return NULL;
	for (int i = 0; i < CHAINED; i++)
		t[i] = gh_spawn(chained_read, ch->pipefd[i]);
	gh_yield(); /* every wait blocks its carrier, one after another */
	for (int i = 0; i < CHAINED; i++)
		check_int_equal(write(ch->pipefd[i][1], "x", 1), 1);
	for (int i = 0; i < CHAINED; i++)
		join_ok(t[i]);
	/* Nothing blocks any more: every carrier but this one's parks, and the sysmon retires
	 * the spares among them beyond the minimum. Waited for in green sleeps (up to a minute:
	 * a loaded or emulated machine is slow), never judged by how long it takes. */
	for (int i = 0; i < 6000; i++) {
		check_int_equal(gh_hub_stats(gh_hub_current(), st), 0);
		if (st->spares_started - st->spares_retired == MIN_SPARES)
			break;
		gh_sleep_until(gh_now() + MS(10));
	}
	/* Then it stops there: a few more of its retiring rounds (one every 100 ms) change
	 * nothing. */
	gh_sleep_until(gh_now() + MS(300));
	check_int_equal(gh_hub_stats(gh_hub_current(), st), 0);
	for (int i = 0; i < CHAINED; i++) {
		close(ch->pipefd[i][0]);
		close(ch->pipefd[i][1]);
	}
	return NULL;
}

static void test_sysmon_idle_spares_retire_down_to_min_spares(void **state)
{
	struct gh_hub_opts o = none_opts();
	struct chain ch = { .st.sz = sizeof(ch.st) };

	o.min_spares = MIN_SPARES;
	o.spare_idle_ns = MS(1);
	run_none(chain_main, &ch, &o);
	/* The hub started MIN_SPARES spares, and the writer needed one more. */
	assert_true(ch.st.spares_started > MIN_SPARES);
	assert_int_equal(ch.st.spares_started - ch.st.spares_retired, MIN_SPARES);
}

/* ---------------------------------------------------------------------------------------- */
/* One sysmon for every hub                                                                   */

#define HUB_THREADS 3
#define HUBS_EACH 4

/* What one OS thread's hubs did, asserted on cmocka's thread once it is joined. */
struct hub_series {
	pthread_t thread;
	int result[HUBS_EACH];
	uint64_t handoffs[HUBS_EACH];
};

static void *hubs_one_after_another(void *arg)
{
	struct hub_series *h = arg;
	struct gh_hub_opts o = none_opts();

	for (int i = 0; i < HUBS_EACH; i++) {
		struct gh_hub_stats st = { .sz = sizeof(st) };
		gh_hub *hub = gh_hub_create(&o);

		if (!hub) {
			h->result[i] = -errno;
			continue;
		}
		h->result[i] = gh_hub_run(hub, relay_main, NULL, NULL);
		if (!h->result[i])
			h->result[i] = gh_hub_stats(hub, &st);
		h->handoffs[i] = st.handoffs;
		gh_hub_destroy(hub);
	}
	return NULL;
}

static void test_sysmon_watches_every_hub_as_hubs_come_and_go(void **state)
{
	struct hub_series h[HUB_THREADS] = { 0 };

	/* Hubs join and leave the sysmon's watch while the others' regions wait on it; a hub
	 * it looked at after its removal would be a use after free (ASan). */
	for (int i = 0; i < HUB_THREADS; i++)
		assert_int_equal(pthread_create(&h[i].thread, NULL, hubs_one_after_another, &h[i]),
				 0);
	for (int i = 0; i < HUB_THREADS; i++)
		assert_int_equal(pthread_join(h[i].thread, NULL), 0);
	assert_checks();
	for (int i = 0; i < HUB_THREADS; i++) {
		for (int j = 0; j < HUBS_EACH; j++) {
			if (h[i].result[j])
				fail_msg("thread %d, hub %d: %s", i, j,
					 gh_strerror(h[i].result[j]));
			assert_true(h[i].handoffs[j] >= 1);
		}
	}
}

/*
 * After a quiet spell the sysmon sleeps up to 10 ms a tick, and a region that begins wakes it;
 * regions that end before it finds anything to hand off make it ignore such wakeups for a while.
 * Neither may lose a region that outlives its ticks.
 */
static void *quiet_main(void *arg)
{
	for (int i = 0; i < 20; i++) {
		gh_sleep_until(gh_now() + MS(3));
		check_int_equal(gh_blocking_begin(), 0);
		check_int_equal(gh_blocking_end(), 0);
	}
	relay_run();
	return NULL;
}

static void test_sysmon_region_after_quiet_spell_handed_off(void **state)
{
	struct gh_hub_opts o = none_opts();
	struct gh_hub_stats st = run_none(quiet_main, NULL, &o);

	assert_true(st.handoffs >= 1);
	assert_true(st.takeovers >= 1);
}

/* ---------------------------------------------------------------------------------------- */

/* The sysmon's options: its tick from 1 us to 1 s, and 1 to 4096 spares, at least min_spares. */
static void test_sysmon_bad_options_refused(void **state)
{
	static const struct {
		uint64_t sysmon_ns;
		unsigned min_spares, max_spares;
		bool ok;
	} cases[] = {
		{ 999, 1, 256, false },
		{ 1000, 1, 256, true },
		{ 1000000000, 1, 256, true },
		{ 1000000001, 1, 256, false },
		{ 20000, 0, 0, false },
		{ 20000, 0, 4096, true },
		{ 20000, 0, 4097, false },
		{ 20000, 3, 2, false },
		{ 20000, 2, 2, true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gh_hub_opts o = none_opts();
		gh_hub *hub;

		o.sysmon_ns = cases[i].sysmon_ns;
		o.min_spares = cases[i].min_spares;
		o.max_spares = cases[i].max_spares;
		errno = 0;
		hub = gh_hub_create(&o);
		if (!cases[i].ok) {
			if (hub || errno != EINVAL)
				fail_msg("case %zu accepted (errno %d)", i, errno);
			continue;
		}
		if (!hub)
			fail_msg("case %zu refused: %s", i, gh_strerror(-errno));
		/* Accepted options run a hub whose region is handed off. */
		assert_int_equal(hub_run(hub, relay_main, NULL, NULL), 0);
		assert_int_equal(gh_hub_destroy(hub), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sysmon_region_handed_off_to_spare),
		cmocka_unit_test(test_sysmon_starts_spare_for_handoff_with_none_parked),
		cmocka_unit_test(test_sysmon_unmarked_block_not_handed_off),
		cmocka_unit_test(test_sysmon_returning_carrier_waits_for_hand_back),
		cmocka_unit_test(test_sysmon_idle_spares_retire_down_to_min_spares),
		cmocka_unit_test(test_sysmon_watches_every_hub_as_hubs_come_and_go),
		cmocka_unit_test(test_sysmon_region_after_quiet_spell_handed_off),
		cmocka_unit_test(test_sysmon_bad_options_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
