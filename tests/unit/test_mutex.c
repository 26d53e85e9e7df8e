// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The green mutex and condition variable: exclusion, FIFO handoff, deadlines, cancellation. */
#include <string.h>

#include "helpers.h"

#define PAST(ns) (gh_now() - (ns))

static gh_mutex *mutex_ok(void)
{
	gh_mutex *m = gh_mutex_create();

	check_non_null(m);
	return m;
}

/* ---------------------------------------------------------------------------------------- */

#define CONTENDERS 5000

static gh_mutex *fifo_m;
static int fifo_order[CONTENDERS];
static int fifo_len;
static int inside;

static void *contend(void *arg)
{
	int id = (int)(intptr_t)arg;

	check_int_equal(gh_mutex_lock(fifo_m, GH_NEVER), 0);
	check_int_equal(inside, 0);
	inside = 1;
	fifo_order[fifo_len++] = id;
	/* Hold the mutex across switches so that everyone else piles up behind it. */
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_yield(), 0);
	inside = 0;
	check_int_equal(gh_mutex_unlock(fifo_m), 0);
	/* The mutex was handed to the next in line: relocking at once cannot barge in. */
	if (id < CONTENDERS - 1)
		check_int_equal(gh_mutex_trylock(fifo_m), -EBUSY);
	return NULL;
}

static void *fifo_main(void *arg)
{
	static gh_thread *t[CONTENDERS];

	fifo_m = mutex_ok();
	fifo_len = 0;
	check_int_equal(gh_mutex_lock(fifo_m, GH_NEVER), 0);
	for (intptr_t i = 0; i < CONTENDERS; i++)
		t[i] = gh_spawn(contend, (void *)i);
	/* Every contender runs up to its lock and queues, in spawn order. */
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_mutex_unlock(fifo_m), 0);
	for (int i = 0; i < CONTENDERS; i++)
		join_ok(t[i]);
	check_int_equal(fifo_len, CONTENDERS);
	for (int i = 0; i < CONTENDERS; i++)
		check_int_equal(fifo_order[i], i);
	check_int_equal(gh_mutex_destroy(fifo_m), 0);
	return NULL;
}

static void test_mutex_thousands_contend_in_fifo_order(void **state)
{
	run_in_hub(fifo_main, NULL);
}

static gh_mutex *excl_m;
static long excl_counter;

static void *increment_with_switches(void *arg)
{
	for (int i = 0; i < 200; i++) {
		long v;

		check_int_equal(gh_mutex_lock(excl_m, GH_NEVER), 0);
		v = excl_counter;
		/* A switch inside the critical section: without exclusion, updates are lost. */
		if (i % 3 == 0)
			check_int_equal(gh_yield(), 0);
		else if (i % 3 == 1)
			check_int_equal(gh_sleep_until(gh_now()), 0);
		excl_counter = v + 1;
		check_int_equal(gh_mutex_unlock(excl_m), 0);
		if (i % 5 == 0)
			check_int_equal(gh_yield(), 0);
	}
	return NULL;
}

static void *exclusion_main(void *arg)
{
	gh_thread *t[50];

	excl_m = mutex_ok();
	excl_counter = 0;
	for (int i = 0; i < 50; i++)
		t[i] = gh_spawn(increment_with_switches, NULL);
	for (int i = 0; i < 50; i++)
		join_ok(t[i]);
	check_int_equal(excl_counter, 50 * 200);
	check_int_equal(gh_mutex_destroy(excl_m), 0);
	return NULL;
}

static void test_mutex_excludes_across_switches(void **state)
{
	run_in_hub(exclusion_main, NULL);
}

static gh_mutex *misuse_m;

static void *unlock_not_mine(void *arg)
{
	check_int_equal(gh_mutex_unlock(misuse_m), -EPERM);
	check_int_equal(gh_mutex_trylock(misuse_m), -EBUSY);
	return NULL;
}

static void *misuse_main(void *arg)
{
	misuse_m = mutex_ok();
	check_int_equal(gh_mutex_unlock(misuse_m), -EPERM); /* not locked */
	check_int_equal(gh_mutex_lock(misuse_m, GH_NEVER), 0);
	check_int_equal(gh_mutex_lock(misuse_m, GH_NEVER), -EDEADLK);
	check_int_equal(gh_mutex_trylock(misuse_m), -EBUSY);
	join_ok(gh_spawn(unlock_not_mine, NULL));
	check_int_equal(gh_mutex_destroy(misuse_m), -EBUSY);
	check_int_equal(gh_mutex_unlock(misuse_m), 0);
	check_int_equal(gh_mutex_trylock(misuse_m), 0);
	check_int_equal(gh_mutex_unlock(misuse_m), 0);
	check_int_equal(gh_mutex_lock(NULL, GH_NEVER), -EINVAL);
	check_int_equal(gh_mutex_trylock(NULL), -EINVAL);
	check_int_equal(gh_mutex_unlock(NULL), -EINVAL);
	check_int_equal(gh_mutex_destroy(NULL), -EINVAL);
	check_int_equal(gh_mutex_destroy(misuse_m), 0);
	return NULL;
}

static void test_mutex_misuse_rejected(void **state)
{
	run_in_hub(misuse_main, NULL);
}

static void test_mutex_outside_hub(void **state)
{
	gh_mutex *m = gh_mutex_create(); /* creating needs no hub */
	gh_cond *c = gh_cond_create();

	assert_non_null(m);
	assert_non_null(c);
	assert_int_equal(gh_mutex_lock(m, GH_NEVER), -EPERM);
	assert_int_equal(gh_mutex_trylock(m), -EPERM);
	assert_int_equal(gh_mutex_unlock(m), -EPERM);
	assert_int_equal(gh_cond_wait(c, m, GH_NEVER), -EPERM);
	assert_int_equal(gh_cond_signal(c), -EPERM);
	assert_int_equal(gh_cond_broadcast(c), -EPERM);
	assert_int_equal(gh_cond_destroy(c), 0);
	assert_int_equal(gh_mutex_destroy(m), 0);
}

static gh_mutex *dl_m;

static void *lock_with_deadline(void *arg)
{
	return (void *)(intptr_t)gh_mutex_lock(dl_m, *(uint64_t *)arg);
}

static void *second_in_line(void *arg)
{
	int err = gh_mutex_lock(dl_m, GH_NEVER);

	check_int_equal(err, 0);
	check_int_equal(gh_mutex_unlock(dl_m), 0);
	return NULL;
}

static void *deadline_main(void *arg)
{
	uint64_t soon = gh_now() + MS(2);
	gh_thread *timed, *next;

	dl_m = mutex_ok();
	/* A free mutex is taken whatever the deadline. */
	check_int_equal(gh_mutex_lock(dl_m, PAST(MS(1))), 0);
	/* Held: past deadlines fail at once, a near one after waiting. */
	check_int_equal((intptr_t)join_ok(gh_spawn(lock_with_deadline, &(uint64_t){ 0 })),
			-ETIMEDOUT);
	timed = gh_spawn(lock_with_deadline, &soon);
	next = gh_spawn(second_in_line, NULL);
	check_int_equal((intptr_t)join_ok(timed), -ETIMEDOUT);
	/* The waiter that timed out left the queue: the next one gets the mutex. */
	check_int_equal(gh_mutex_unlock(dl_m), 0);
	join_ok(next);
	check_int_equal(gh_mutex_destroy(dl_m), 0);
	return NULL;
}

static void test_mutex_deadline(void **state)
{
	run_in_hub(deadline_main, NULL);
}

static void *cancel_main(void *arg)
{
	gh_thread *waiter, *next;

	dl_m = mutex_ok();
	check_int_equal(gh_mutex_lock(dl_m, GH_NEVER), 0);
	waiter = gh_spawn(lock_with_deadline, &(uint64_t){ GH_NEVER });
	next = gh_spawn(second_in_line, NULL);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_cancel(waiter), 0);
	check_int_equal((intptr_t)join_ok(waiter), -ECANCELED);
	check_int_equal(gh_mutex_unlock(dl_m), 0);
	join_ok(next);
	check_int_equal(gh_mutex_destroy(dl_m), 0);
	return NULL;
}

static void test_mutex_cancel_waiter(void **state)
{
	run_in_hub(cancel_main, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Condition variables                                                                        */

static gh_mutex *cm;
static gh_cond *cv;
static int woken_order[16];
static int woken;
static int ready_flag;

static void *cond_waiter(void *arg)
{
	int id = (int)(intptr_t)arg;
	int err;

	check_int_equal(gh_mutex_lock(cm, GH_NEVER), 0);
	err = gh_cond_wait(cv, cm, GH_NEVER);
	/* Woken holding the mutex. */
	check_int_equal(gh_mutex_trylock(cm), -EBUSY);
	woken_order[woken++] = id;
	check_int_equal(gh_mutex_unlock(cm), 0);
	return (void *)(intptr_t)err;
}

static void cond_setup(void)
{
	cm = mutex_ok();
	cv = gh_cond_create();
	check_non_null(cv);
	woken = 0;
	ready_flag = 0;
}

static void cond_teardown(void)
{
	check_int_equal(gh_cond_destroy(cv), 0);
	check_int_equal(gh_mutex_destroy(cm), 0);
}

static void *signal_main(void *arg)
{
	gh_thread *t[4];

	cond_setup();
	for (intptr_t i = 0; i < 4; i++)
		t[i] = gh_spawn(cond_waiter, (void *)i);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_cond_destroy(cv), -EBUSY);
	/* Each signal wakes exactly one waiter, the one waiting longest. */
	for (int i = 0; i < 4; i++) {
		check_int_equal(gh_cond_signal(cv), 0);
		check_int_equal(gh_yield(), 0);
		check_int_equal(woken, i + 1);
		check_int_equal(woken_order[i], i);
	}
	/* A signal with nobody waiting is lost, as with any condition variable. */
	check_int_equal(gh_cond_signal(cv), 0);
	for (int i = 0; i < 4; i++)
		check_int_equal((intptr_t)join_ok(t[i]), 0);
	cond_teardown();
	return NULL;
}

static void test_mutex_cond_signal_wakes_one_in_order(void **state)
{
	run_in_hub(signal_main, NULL);
}

static void *broadcast_main(void *arg)
{
	gh_thread *t[8];

	cond_setup();
	for (intptr_t i = 0; i < 8; i++)
		t[i] = gh_spawn(cond_waiter, (void *)i);
	check_int_equal(gh_yield(), 0);
	/* The broadcaster holds the mutex: the woken re-lock one after another once it is free. */
	check_int_equal(gh_mutex_lock(cm, GH_NEVER), 0);
	check_int_equal(gh_cond_broadcast(cv), 0);
	check_int_equal(gh_yield(), 0);
	check_int_equal(woken, 0);
	check_int_equal(gh_mutex_unlock(cm), 0);
	for (int i = 0; i < 8; i++)
		check_int_equal((intptr_t)join_ok(t[i]), 0);
	check_int_equal(woken, 8);
	for (int i = 0; i < 8; i++)
		check_int_equal(woken_order[i], i);
	cond_teardown();
	return NULL;
}

static void test_mutex_cond_broadcast_wakes_all(void **state)
{
	run_in_hub(broadcast_main, NULL);
}

static void *timeout_main(void *arg)
{
	cond_setup();
	check_int_equal(gh_mutex_lock(cm, GH_NEVER), 0);
	check_int_equal(gh_cond_wait(cv, cm, gh_now() + MS(2)), -ETIMEDOUT);
	/* Still held after the timeout. */
	check_int_equal(gh_mutex_trylock(cm), -EBUSY);
	check_int_equal(gh_cond_wait(cv, cm, PAST(1)), -ETIMEDOUT);
	check_int_equal(gh_mutex_unlock(cm), 0);
	/* Waiting without holding the mutex is refused. */
	check_int_equal(gh_cond_wait(cv, cm, GH_NEVER), -EPERM);
	check_int_equal(gh_cond_wait(NULL, cm, GH_NEVER), -EINVAL);
	check_int_equal(gh_cond_wait(cv, NULL, GH_NEVER), -EINVAL);
	check_int_equal(gh_cond_signal(NULL), -EINVAL);
	check_int_equal(gh_cond_broadcast(NULL), -EINVAL);
	check_int_equal(gh_cond_destroy(NULL), -EINVAL);
	cond_teardown();
	return NULL;
}

static void test_mutex_cond_timeout_keeps_mutex(void **state)
{
	run_in_hub(timeout_main, NULL);
}

static void *cancelled_cond_waiter(void *arg)
{
	int err;

	check_int_equal(gh_mutex_lock(cm, GH_NEVER), 0);
	err = gh_cond_wait(cv, cm, GH_NEVER);
	/* The cancellation did not cut the re-lock short... */
	check_int_equal(gh_mutex_trylock(cm), -EBUSY);
	check_int_equal(gh_mutex_unlock(cm), 0);
	/* ... and is still there for the next wait. */
	check_int_equal(gh_cancelled(), 1);
	check_int_equal(gh_sleep_until(gh_now() + MS(100)), -ECANCELED);
	return (void *)(intptr_t)err;
}

static void *cancel_cond_main(void *arg)
{
	gh_thread *t;

	cond_setup();
	t = gh_spawn(cancelled_cond_waiter, NULL);
	check_int_equal(gh_yield(), 0);
	/* Cancel it while we hold the mutex: its re-lock must wait for us. */
	check_int_equal(gh_mutex_lock(cm, GH_NEVER), 0);
	check_int_equal(gh_cancel(t), 0);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_yield(), 0);
	/* It is re-locking; a second cancellation must not cut that short either. */
	check_int_equal(gh_cancel(t), 0);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_mutex_unlock(cm), 0);
	check_int_equal((intptr_t)join_ok(t), -ECANCELED);
	cond_teardown();
	return NULL;
}

static void test_mutex_cond_cancel_relocks(void **state)
{
	run_in_hub(cancel_cond_main, NULL);
}

/* A bounded buffer with two condition variables: the classic producer/consumer. */
#define ITEMS 2000
#define SLOTS 4

static gh_cond *not_full, *not_empty;
static int ring[SLOTS], ring_len, ring_head;
static long consumed_sum;

static void *producer(void *arg)
{
	for (int i = 1; i <= ITEMS; i++) {
		check_int_equal(gh_mutex_lock(cm, GH_NEVER), 0);
		while (ring_len == SLOTS)
			if (!check_int_equal(gh_cond_wait(not_full, cm, GH_NEVER), 0))
				return NULL;
		ring[(ring_head + ring_len++) % SLOTS] = i;
		check_int_equal(gh_cond_signal(not_empty), 0);
		check_int_equal(gh_mutex_unlock(cm), 0);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	for (int i = 0; i < ITEMS; i++) {
		check_int_equal(gh_mutex_lock(cm, GH_NEVER), 0);
		while (ring_len == 0)
			if (!check_int_equal(gh_cond_wait(not_empty, cm, GH_NEVER), 0))
				return NULL;
		consumed_sum += ring[ring_head];
		ring_head = (ring_head + 1) % SLOTS;
		ring_len--;
		check_int_equal(gh_cond_signal(not_full), 0);
		check_int_equal(gh_mutex_unlock(cm), 0);
	}
	return NULL;
}

static void *prodcons_main(void *arg)
{
	gh_thread *p[3], *c[3];

	cm = mutex_ok();
	not_full = gh_cond_create();
	not_empty = gh_cond_create();
	if (!check_non_null(not_full))
		return NULL;
	if (!check_non_null(not_empty))
		return NULL;
	consumed_sum = 0;
	for (int i = 0; i < 3; i++) {
		c[i] = gh_spawn(consumer, NULL);
		p[i] = gh_spawn(producer, NULL);
	}
	for (int i = 0; i < 3; i++) {
		join_ok(p[i]);
		join_ok(c[i]);
	}
	check_int_equal(consumed_sum, 3L * ITEMS * (ITEMS + 1) / 2);
	check_int_equal(gh_cond_destroy(not_full), 0);
	check_int_equal(gh_cond_destroy(not_empty), 0);
	check_int_equal(gh_mutex_destroy(cm), 0);
	return NULL;
}

static void test_mutex_cond_producer_consumer(void **state)
{
	run_in_hub(prodcons_main, NULL);
}

/* A thread that finishes holding the mutex a condition waiter must re-lock: the hub is
 * deadlocked, and says so, instead of spinning in its deadlock breaker. */
static gh_mutex *orphan_m;
static gh_cond *orphan_c;
static int orphan_wait_result;

static void *orphan_waiter(void *arg)
{
	check_int_equal(gh_mutex_lock(orphan_m, GH_NEVER), 0);
	orphan_wait_result = gh_cond_wait(orphan_c, orphan_m, GH_NEVER);
	return NULL;
}

static void *lock_and_leave(void *arg)
{
	check_int_equal(gh_mutex_lock(orphan_m, GH_NEVER), 0);
	check_int_equal(gh_cond_signal(orphan_c), 0);
	return NULL; /* still holding orphan_m */
}

static void *orphan_main(void *arg)
{
	gh_thread *w = gh_spawn(orphan_waiter, NULL);

	gh_yield(); /* the waiter waits on the condition, the mutex free */
	(void)gh_join(gh_spawn(lock_and_leave, NULL), NULL);
	(void)gh_join(w, NULL); /* cancelled by the deadlock breaker */
	return NULL;
}

static void test_mutex_owner_finished_cond_wait_deadlock(void **state)
{
	gh_hub *hub = gh_hub_create(NULL);
	pid_t pid;
	int status;

	assert_non_null(hub);
	orphan_m = gh_mutex_create();
	orphan_c = gh_cond_create();
	/* In a child with an alarm: the bug this guards against was an endless loop. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(20);
		int err = gh_hub_run(hub, orphan_main, NULL, NULL);
		bool ok = err == -EDEADLK && orphan_wait_result == -EDEADLK;

		/* No cmocka here: the checks decide the exit status too. */
		_exit(ok && !report_checks() ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	gh_hub_destroy(hub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutex_thousands_contend_in_fifo_order),
		cmocka_unit_test(test_mutex_excludes_across_switches),
		cmocka_unit_test(test_mutex_misuse_rejected),
		cmocka_unit_test(test_mutex_outside_hub),
		cmocka_unit_test(test_mutex_deadline),
		cmocka_unit_test(test_mutex_cancel_waiter),
		cmocka_unit_test(test_mutex_cond_signal_wakes_one_in_order),
		cmocka_unit_test(test_mutex_cond_broadcast_wakes_all),
		cmocka_unit_test(test_mutex_cond_timeout_keeps_mutex),
		cmocka_unit_test(test_mutex_cond_cancel_relocks),
		cmocka_unit_test(test_mutex_cond_producer_consumer),
		cmocka_unit_test(test_mutex_owner_finished_cond_wait_deadlock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
