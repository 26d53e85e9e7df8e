// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Many hubs, one process: gh_hub_post from plain threads and other hubs, before and after a
 * run, and gh_future set and waited across threads and hubs.
 */
#include <pthread.h>

#include "helpers.h"

#define FAR_DEADLINE() (gh_now() + MS(10000))

/* Run fn(arg) on its own OS thread; pthread_join gives gh_hub_run's result. */
struct hub_runner {
	pthread_t thread;
	gh_hub *hub;
	gh_fn fn;
	void *arg;
	int err;
};

static void *hub_runner_main(void *arg)
{
	struct hub_runner *r = arg;

	r->err = gh_hub_run(r->hub, r->fn, r->arg, NULL);
	return NULL;
}

static void hub_runner_start(struct hub_runner *r, gh_hub *hub, gh_fn fn, void *arg)
{
	r->hub = hub;
	r->fn = fn;
	r->arg = arg;
	r->err = -1;
	assert_int_equal(pthread_create(&r->thread, NULL, hub_runner_main, r), 0);
}

static void hub_runner_join(struct hub_runner *r)
{
	assert_int_equal(pthread_join(r->thread, NULL), 0);
	assert_int_equal(r->err, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Bad input                                                                                  */

static void *nothing(void *arg)
{
	return arg;
}

static void test_post_bad_input(void **state)
{
	gh_hub *hub = gh_hub_create(NULL);
	void *value;

	(void)state;
	assert_non_null(hub);
	assert_int_equal(gh_hub_post(NULL, nothing, NULL), -EINVAL);
	assert_int_equal(gh_hub_post(hub, NULL, NULL), -EINVAL);
	assert_int_equal(gh_future_set(NULL, NULL), -EINVAL);
	assert_int_equal(gh_future_wait(NULL, &value, 0), -EINVAL);
	assert_int_equal(gh_future_is_set(NULL), -EINVAL);
	assert_int_equal(gh_future_destroy(NULL), -EINVAL);
	assert_int_equal(gh_hub_destroy(hub), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Posts before, during and after a run                                                       */

#define ORDER_MAX 16
static struct {
	int seen[ORDER_MAX];
	unsigned n;
} order;

static void *record(void *arg)
{
	if (check_true(order.n < ORDER_MAX))
		order.seen[order.n++] = (int)(intptr_t)arg;
	return NULL;
}

static void *record_main(void *arg)
{
	(void)arg;
	record((void *)(intptr_t)0);
	return NULL;
}

static void *post_to_self_main(void *arg)
{
	gh_hub *hub = gh_hub_current();

	(void)arg;
	check_int_equal(gh_hub_post(hub, record, (void *)(intptr_t)7), 0);
	return NULL;
}

static void test_post_before_run_and_after_end(void **state)
{
	gh_hub *hub = gh_hub_create(NULL);

	(void)state;
	assert_non_null(hub);
	memset(&order, 0, sizeof(order));
	for (int i = 1; i <= 3; i++)
		assert_int_equal(gh_hub_post(hub, record, (void *)(intptr_t)i), 0);
	assert_int_equal(hub_run(hub, record_main, NULL, NULL), 0);
	/* main first, then the posts in the order they were made */
	assert_int_equal(order.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(order.seen[i], i);
	/* The run has ended: posts are refused until the hub runs again. */
	assert_int_equal(gh_hub_post(hub, record, NULL), -ESHUTDOWN);
	assert_int_equal(order.n, 4);
	assert_int_equal(hub_run(hub, post_to_self_main, NULL, NULL), 0);
	assert_int_equal(order.n, 5);
	assert_int_equal(order.seen[4], 7);
	assert_int_equal(gh_hub_post(hub, record, NULL), -ESHUTDOWN);
	assert_int_equal(gh_hub_destroy(hub), 0);

	/* Posts to a hub destroyed without running are dropped (and freed: ASan). */
	hub = gh_hub_create(NULL);
	assert_non_null(hub);
	assert_int_equal(gh_hub_post(hub, record, NULL), 0);
	assert_int_equal(gh_hub_post(hub, record, NULL), 0);
	assert_int_equal(gh_hub_destroy(hub), 0);
	assert_int_equal(order.n, 5);
}

/* A plain thread posts to a running hub whose main waits on a future; the last post sets it. */
#define FROM_THREAD_POSTS 1000
static struct {
	gh_hub *hub;
	gh_future *done;
	int next;     /* the sequence number the next post must carry (hub-local) */
	int post_err; /* the plain thread's first failure */
} from_thread;

static void *sequenced(void *arg)
{
	int seq = (int)(intptr_t)arg;

	check_int_equal(seq, from_thread.next);
	from_thread.next = seq + 1;
	if (seq == FROM_THREAD_POSTS - 1)
		check_int_equal(gh_future_set(from_thread.done, (void *)(intptr_t)seq), 0);
	return NULL;
}

static void *plain_poster(void *arg)
{
	(void)arg;
	for (int i = 0; i < FROM_THREAD_POSTS; i++) {
		int err = gh_hub_post(from_thread.hub, sequenced, (void *)(intptr_t)i);

		if (err && !from_thread.post_err)
			from_thread.post_err = err;
	}
	return NULL;
}

static void *wait_done_main(void *arg)
{
	pthread_t *poster = arg;
	void *value = NULL;

	/* The poster starts only now, so that every post reaches a running hub. */
	if (!check_int_equal(pthread_create(poster, NULL, plain_poster, NULL), 0))
		return NULL;
	check_int_equal(gh_future_wait(from_thread.done, &value, FAR_DEADLINE()), 0);
	check_int_equal((intptr_t)value, FROM_THREAD_POSTS - 1);
	return NULL;
}

static void test_post_from_plain_thread(void **state)
{
	pthread_t poster;

	(void)state;
	memset(&from_thread, 0, sizeof(from_thread));
	from_thread.hub = gh_hub_create(NULL);
	from_thread.done = gh_future_create();
	assert_non_null(from_thread.hub);
	assert_non_null(from_thread.done);
	assert_int_equal(hub_run(from_thread.hub, wait_done_main, &poster, NULL), 0);
	assert_int_equal(pthread_join(poster, NULL), 0);
	assert_int_equal(from_thread.post_err, 0);
	assert_int_equal(from_thread.next, FROM_THREAD_POSTS);
	assert_int_equal(gh_future_set(from_thread.done, NULL), -EALREADY);
	assert_int_equal(gh_future_destroy(from_thread.done), 0);
	assert_int_equal(gh_hub_destroy(from_thread.hub), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* The hammer: 4 hubs in a ring, their green threads posting to the next hub while 4 plain    */
/* threads post to every hub; each post must run exactly once, each poster's in order.        */

#define RING_HUBS 4
#define RING_GREEN_POSTERS 4     /* per hub, posting to the next hub */
#define RING_PLAIN_POSTERS 4     /* posting to every hub */
#define RING_POSTS_PER_POSTER 2500
#define RING_POSTERS (RING_PLAIN_POSTERS + RING_GREEN_POSTERS)
/* 4 x 2500 from the previous hub's green threads + 4 x 2500 from the plain threads */
#define RING_EXPECTED (RING_POSTERS * RING_POSTS_PER_POSTER)

struct ring_hub {
	gh_hub *hub;
	gh_future *done;
	/* Hub-local: touched only by this hub's green threads. */
	unsigned ran;
	unsigned next_seq[RING_POSTERS];
	/* Read on cmocka's thread after the run. */
	atomic_uint post_errors;
};

static struct ring_hub ring[RING_HUBS];

/* A post's argument: which poster, and its sequence number. */
static void *ring_tag(unsigned poster, unsigned seq)
{
	return (void *)(uintptr_t)(((uintptr_t)poster << 32) | seq);
}

static struct ring_hub *ring_of(gh_hub *hub)
{
	for (int i = 0; i < RING_HUBS; i++)
		if (ring[i].hub == hub)
			return &ring[i];
	return NULL;
}

static void *ring_count(void *arg)
{
	struct ring_hub *r = ring_of(gh_hub_current());
	unsigned poster = (unsigned)((uintptr_t)arg >> 32);
	unsigned seq = (unsigned)((uintptr_t)arg & 0xffffffffu);

	if (!check_non_null(r) || !check_true(poster < RING_POSTERS))
		return NULL;
	check_int_equal(seq, r->next_seq[poster]);
	r->next_seq[poster] = seq + 1;
	if (++r->ran == RING_EXPECTED)
		check_int_equal(gh_future_set(r->done, NULL), 0);
	return NULL;
}

static void ring_post(struct ring_hub *to, struct ring_hub *from, unsigned poster, unsigned seq)
{
	if (gh_hub_post(to->hub, ring_count, ring_tag(poster, seq)))
		atomic_fetch_add(&from->post_errors, 1);
}

/* Green poster k of hub i posts to hub i + 1 as poster RING_PLAIN_POSTERS + k. */
static void *ring_green_poster(void *arg)
{
	uintptr_t v = (uintptr_t)arg;
	struct ring_hub *from = &ring[v / RING_GREEN_POSTERS];
	struct ring_hub *to = &ring[(v / RING_GREEN_POSTERS + 1) % RING_HUBS];
	unsigned poster = RING_PLAIN_POSTERS + (unsigned)(v % RING_GREEN_POSTERS);

	for (unsigned seq = 0; seq < RING_POSTS_PER_POSTER; seq++) {
		ring_post(to, from, poster, seq);
		if (seq % 64 == 63)
			gh_yield();
	}
	return NULL;
}

static void *ring_main(void *arg)
{
	uintptr_t i = (uintptr_t)arg;
	gh_thread *posters[RING_GREEN_POSTERS];

	for (uintptr_t k = 0; k < RING_GREEN_POSTERS; k++) {
		posters[k] = gh_spawn(ring_green_poster, (void *)(i * RING_GREEN_POSTERS + k));
		check_non_null(posters[k]);
	}
	for (int k = 0; k < RING_GREEN_POSTERS; k++)
		join_ok(posters[k]);
	/* Every post this hub expects has run once the future is set. */
	check_int_equal(gh_future_wait(ring[i].done, NULL, gh_now() + MS(120000)), 0);
	return NULL;
}

static void *ring_plain_poster(void *arg)
{
	unsigned poster = (unsigned)(uintptr_t)arg;

	for (unsigned seq = 0; seq < RING_POSTS_PER_POSTER; seq++)
		for (int h = 0; h < RING_HUBS; h++)
			ring_post(&ring[h], &ring[h], poster, seq);
	return NULL;
}

static void test_post_ring_of_hubs(void **state)
{
	struct hub_runner runners[RING_HUBS];
	pthread_t plain[RING_PLAIN_POSTERS];

	(void)state;
	memset(ring, 0, sizeof(ring));
	for (int i = 0; i < RING_HUBS; i++) {
		ring[i].hub = gh_hub_create(NULL);
		ring[i].done = gh_future_create();
		assert_non_null(ring[i].hub);
		assert_non_null(ring[i].done);
	}
	/* The plain posters start first: some of their posts reach hubs not yet running. */
	for (uintptr_t p = 0; p < RING_PLAIN_POSTERS; p++)
		assert_int_equal(pthread_create(&plain[p], NULL, ring_plain_poster, (void *)p), 0);
	for (uintptr_t i = 0; i < RING_HUBS; i++)
		hub_runner_start(&runners[i], ring[i].hub, ring_main, (void *)i);
	for (int p = 0; p < RING_PLAIN_POSTERS; p++)
		assert_int_equal(pthread_join(plain[p], NULL), 0);
	for (int i = 0; i < RING_HUBS; i++)
		hub_runner_join(&runners[i]);
	assert_checks();
	for (int i = 0; i < RING_HUBS; i++) {
		assert_int_equal(atomic_load(&ring[i].post_errors), 0);
		assert_int_equal(ring[i].ran, RING_EXPECTED);
		for (int p = 0; p < RING_POSTERS; p++)
			assert_int_equal(ring[i].next_seq[p], RING_POSTS_PER_POSTER);
		assert_int_equal(gh_future_destroy(ring[i].done), 0);
		assert_int_equal(gh_hub_destroy(ring[i].hub), 0);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Futures                                                                                    */

static void *set_later(void *arg)
{
	gh_future *f = arg;
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	check_int_equal(gh_future_set(f, (void *)(intptr_t)0x1234), 0);
	return NULL;
}

static void *wait_set_by_plain_main(void *arg)
{
	gh_future *f = gh_future_create();
	pthread_t setter;
	void *value = NULL;

	(void)arg;
	if (!check_non_null(f))
		return NULL;
	check_int_equal(gh_future_is_set(f), 0);
	if (!check_int_equal(pthread_create(&setter, NULL, set_later, f), 0))
		return NULL;
	check_int_equal(gh_future_wait(f, &value, FAR_DEADLINE()), 0);
	check_int_equal((intptr_t)value, 0x1234);
	check_int_equal(gh_future_is_set(f), 1);
	/* Set already: returns at once, every time. */
	value = NULL;
	check_int_equal(gh_future_wait(f, &value, 0), 0);
	check_int_equal((intptr_t)value, 0x1234);
	check_int_equal(gh_future_set(f, NULL), -EALREADY);
	gh_blocking_begin();
	pthread_join(setter, NULL);
	gh_blocking_end();
	check_int_equal(gh_future_destroy(f), 0);
	return NULL;
}

static void test_future_set_by_plain_thread(void **state)
{
	(void)state;
	run_in_hub(wait_set_by_plain_main, NULL);
}

static void *wait_deadline_main(void *arg)
{
	gh_future *f = gh_future_create();
	uint64_t start = gh_now();
	void *value = (void *)1;

	(void)arg;
	if (!check_non_null(f))
		return NULL;
	check_int_equal(gh_future_wait(f, &value, start + MS(20)), -ETIMEDOUT);
	check_true(gh_now() >= start + MS(20));
	check_ptr_equal(value, (void *)1);
	/* A deadline already past: at once. */
	check_int_equal(gh_future_wait(f, &value, 0), -ETIMEDOUT);
	/* The timed-out waiter is gone: destroy is allowed, but set it first to see the value. */
	check_int_equal(gh_future_set(f, (void *)2), 0);
	check_int_equal(gh_future_wait(f, &value, 0), 0);
	check_ptr_equal(value, (void *)2);
	check_int_equal(gh_future_destroy(f), 0);
	return NULL;
}

static void test_future_deadline(void **state)
{
	(void)state;
	run_in_hub(wait_deadline_main, NULL);
}

/* Hub A's main waits on futures that hub B's main sets, and the other way round. */
static gh_future *ab_ping, *ab_pong;

static void *hub_a_main(void *arg)
{
	void *value = NULL;

	(void)arg;
	check_int_equal(gh_future_set(ab_ping, (void *)(intptr_t)1), 0);
	check_int_equal(gh_future_wait(ab_pong, &value, FAR_DEADLINE()), 0);
	check_int_equal((intptr_t)value, 2);
	return NULL;
}

static void *hub_b_main(void *arg)
{
	void *value = NULL;

	(void)arg;
	check_int_equal(gh_future_wait(ab_ping, &value, FAR_DEADLINE()), 0);
	check_int_equal((intptr_t)value, 1);
	check_int_equal(gh_future_set(ab_pong, (void *)(intptr_t)2), 0);
	return NULL;
}

static void test_future_across_hubs(void **state)
{
	struct hub_runner a, b;
	gh_hub *ha = gh_hub_create(NULL), *hb = gh_hub_create(NULL);

	(void)state;
	assert_non_null(ha);
	assert_non_null(hb);
	for (int round = 0; round < 50; round++) {
		ab_ping = gh_future_create();
		ab_pong = gh_future_create();
		assert_non_null(ab_ping);
		assert_non_null(ab_pong);
		/* B first on odd rounds, so that sometimes the wait comes before the set. */
		if (round % 2) {
			hub_runner_start(&b, hb, hub_b_main, NULL);
			hub_runner_start(&a, ha, hub_a_main, NULL);
		} else {
			hub_runner_start(&a, ha, hub_a_main, NULL);
			hub_runner_start(&b, hb, hub_b_main, NULL);
		}
		hub_runner_join(&a);
		hub_runner_join(&b);
		assert_checks();
		assert_int_equal(gh_future_destroy(ab_ping), 0);
		assert_int_equal(gh_future_destroy(ab_pong), 0);
	}
	assert_int_equal(gh_hub_destroy(ha), 0);
	assert_int_equal(gh_hub_destroy(hb), 0);
}

/* A plain thread waits, set by a green thread; a plain wait times out. */
static void *set_from_green_main(void *arg)
{
	gh_future *f = arg;

	check_int_equal(gh_sleep_until(gh_now() + MS(5)), 0);
	check_int_equal(gh_future_set(f, (void *)(intptr_t)42), 0);
	return NULL;
}

static void test_future_plain_waiter(void **state)
{
	gh_future *f = gh_future_create();
	struct hub_runner r;
	gh_hub *hub = gh_hub_create(NULL);
	uint64_t start = gh_now();
	void *value = NULL;

	(void)state;
	assert_non_null(f);
	assert_non_null(hub);
	assert_int_equal(gh_future_wait(f, &value, start + MS(10)), -ETIMEDOUT);
	assert_true(gh_now() >= start + MS(10));
	hub_runner_start(&r, hub, set_from_green_main, f);
	assert_int_equal(gh_future_wait(f, &value, GH_NEVER), 0);
	assert_int_equal((intptr_t)value, 42);
	hub_runner_join(&r);
	assert_checks();
	assert_int_equal(gh_future_set(f, NULL), -EALREADY);
	assert_int_equal(gh_future_destroy(f), 0);
	assert_int_equal(gh_hub_destroy(hub), 0);
}

/* destroy refuses while a green thread waits; many waiters all get the value. */
static void *wait_value(void *arg)
{
	void *value = NULL;

	check_int_equal(gh_future_wait(arg, &value, FAR_DEADLINE()), 0);
	return value;
}

static void *busy_destroy_main(void *arg)
{
	gh_future *f = gh_future_create();
	gh_thread *waiters[3];

	(void)arg;
	if (!check_non_null(f))
		return NULL;
	for (int i = 0; i < 3; i++)
		waiters[i] = gh_spawn(wait_value, f);
	check_int_equal(gh_yield(), 0); /* every waiter is waiting now */
	check_int_equal(gh_future_destroy(f), -EBUSY);
	check_int_equal(gh_future_set(f, (void *)(intptr_t)9), 0);
	for (int i = 0; i < 3; i++)
		check_int_equal((intptr_t)join_ok(waiters[i]), 9);
	check_int_equal(gh_future_destroy(f), 0);
	return NULL;
}

static void test_future_busy_destroy_and_many_waiters(void **state)
{
	(void)state;
	run_in_hub(busy_destroy_main, NULL);
}

/* The set races the deadline: each wait ends exactly once, either way. */
#define RACE_ROUNDS 300

static void *race_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < RACE_ROUNDS; i++) {
		gh_future *f = gh_future_create();
		pthread_t setter;
		void *value = NULL;
		int err;

		if (!check_non_null(f))
			return NULL;
		if (!check_int_equal(pthread_create(&setter, NULL, set_later, f), 0))
			return NULL;
		err = gh_future_wait(f, &value, gh_now() + (uint64_t)(i % 10) * 1000000u);
		if (err == -ETIMEDOUT)
			err = gh_future_wait(f, &value, FAR_DEADLINE());
		check_int_equal(err, 0);
		check_int_equal((intptr_t)value, 0x1234);
		/* A returned wait allows destroy even before the setter has returned. */
		check_int_equal(gh_future_destroy(f), 0);
		gh_blocking_begin();
		pthread_join(setter, NULL);
		gh_blocking_end();
	}
	return NULL;
}

static void test_future_set_races_deadline(void **state)
{
	(void)state;
	run_in_hub(race_main, NULL);
}

static void *cancelled_wait_main(void *arg)
{
	gh_future *f = gh_future_create();

	(void)arg;
	if (!check_non_null(f))
		return NULL;
	check_int_equal(gh_cancel(gh_self()), 0);
	check_int_equal(gh_future_wait(f, NULL, GH_NEVER), -ECANCELED);
	gh_blocking_begin();
	check_int_equal(gh_future_wait(f, NULL, 0), -EPERM);
	gh_blocking_end();
	check_int_equal(gh_future_destroy(f), 0);
	return NULL;
}

static void test_future_misuse(void **state)
{
	(void)state;
	run_in_hub(cancelled_wait_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_bad_input),
		cmocka_unit_test(test_post_before_run_and_after_end),
		cmocka_unit_test(test_post_from_plain_thread),
		cmocka_unit_test(test_post_ring_of_hubs),
		cmocka_unit_test(test_future_set_by_plain_thread),
		cmocka_unit_test(test_future_deadline),
		cmocka_unit_test(test_future_across_hubs),
		cmocka_unit_test(test_future_plain_waiter),
		cmocka_unit_test(test_future_busy_destroy_and_many_waiters),
		cmocka_unit_test(test_future_set_races_deadline),
		cmocka_unit_test(test_future_misuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
