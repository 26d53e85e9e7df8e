// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Channels: buffered, rendezvous and unbounded; FIFO; close with waiters; deadlines; cancel. */
#include <string.h>

#include "helpers.h"

struct item {
	int producer;
	int seq;
	char pad[20]; /* elements are copied whole, not just a word */
};

static gh_chan *ch;

static void *send_int(void *arg)
{
	int v = (int)(intptr_t)arg;

	return (void *)(intptr_t)gh_chan_send(ch, &v, GH_NEVER);
}

static void *recv_int(void *arg)
{
	int v = -1;
	int err = gh_chan_recv(ch, &v, GH_NEVER);

	if (arg)
		*(int *)arg = v;
	return (void *)(intptr_t)err;
}

static void *buffered_main(void *arg)
{
	int v;

	ch = gh_chan_create(sizeof(int), 3);
	if (!check_non_null(ch))
		return NULL;
	for (v = 0; v < 3; v++)
		check_int_equal(gh_chan_send(ch, &v, GH_NEVER), 0);
	check_int_equal(gh_chan_len(ch), 3);
	/* Full: a send waits, and with a deadline gives up. */
	check_int_equal(gh_chan_send(ch, &v, 0), -ETIMEDOUT);
	check_int_equal(gh_chan_send(ch, &v, gh_now() + MS(2)), -ETIMEDOUT);
	for (int i = 0; i < 3; i++) {
		check_int_equal(gh_chan_recv(ch, &v, GH_NEVER), 0);
		check_int_equal(v, i);
	}
	check_int_equal(gh_chan_recv(ch, &v, 0), -ETIMEDOUT);
	check_int_equal(gh_chan_recv(ch, &v, gh_now() + MS(2)), -ETIMEDOUT);
	check_int_equal(gh_chan_destroy(ch), 0);
	return NULL;
}

static void test_chan_buffered_fifo_and_deadlines(void **state)
{
	run_in_hub(buffered_main, NULL);
}

static void *blocked_senders_main(void *arg)
{
	gh_thread *s[5];
	int v;

	ch = gh_chan_create(sizeof(int), 2);
	if (!check_non_null(ch))
		return NULL;
	/* Five senders on a channel of two: three wait, and are served in order. */
	for (intptr_t i = 0; i < 5; i++)
		s[i] = gh_spawn(send_int, (void *)i);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_chan_len(ch), 2);
	for (int i = 0; i < 5; i++) {
		check_int_equal(gh_chan_recv(ch, &v, GH_NEVER), 0);
		check_int_equal(v, i);
	}
	for (int i = 0; i < 5; i++)
		check_int_equal((intptr_t)join_ok(s[i]), 0);
	check_int_equal(gh_chan_destroy(ch), 0);
	return NULL;
}

static void test_chan_waiting_senders_served_in_order(void **state)
{
	run_in_hub(blocked_senders_main, NULL);
}

static void *rendezvous_main(void *arg)
{
	int got[4];
	gh_thread *r[4];
	int v = 7;

	ch = gh_chan_create(sizeof(int), 0);
	if (!check_non_null(ch))
		return NULL;
	/* No receiver: nothing can be sent. */
	check_int_equal(gh_chan_send(ch, &v, 0), -ETIMEDOUT);
	check_int_equal(gh_chan_len(ch), 0);
	for (int i = 0; i < 4; i++)
		r[i] = gh_spawn(recv_int, &got[i]);
	check_int_equal(gh_yield(), 0);
	/* Each send goes straight to the receiver waiting longest. */
	for (v = 0; v < 4; v++)
		check_int_equal(gh_chan_send(ch, &v, 0), 0);
	for (int i = 0; i < 4; i++) {
		check_int_equal((intptr_t)join_ok(r[i]), 0);
		check_int_equal(got[i], i);
	}
	/* A waiting sender hands its element to a later receiver. */
	r[0] = gh_spawn(send_int, (void *)(intptr_t)42);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_chan_recv(ch, &v, 0), 0);
	check_int_equal(v, 42);
	check_int_equal((intptr_t)join_ok(r[0]), 0);
	check_int_equal(gh_chan_destroy(ch), 0);
	return NULL;
}

static void test_chan_rendezvous(void **state)
{
	run_in_hub(rendezvous_main, NULL);
}

#define MANY 100000

static void *unbounded_main(void *arg)
{
	ch = gh_chan_create(sizeof(struct item), GH_CHAN_UNBOUNDED);
	if (!check_non_null(ch))
		return NULL;
	/* Interleave sends and receives so the ring wraps before it grows. */
	for (int i = 0; i < 10; i++) {
		struct item it = { .seq = i };

		check_int_equal(gh_chan_send(ch, &it, 0), 0);
	}
	for (int i = 0; i < 5; i++) {
		struct item it;

		check_int_equal(gh_chan_recv(ch, &it, 0), 0);
		check_int_equal(it.seq, i);
	}
	for (int i = 10; i < MANY; i++) {
		struct item it = { .seq = i };

		memset(it.pad, i & 0xff, sizeof(it.pad));
		/* Sends never wait on an unbounded channel. */
		check_int_equal(gh_chan_send(ch, &it, 0), 0);
	}
	check_int_equal(gh_chan_len(ch), MANY - 5);
	for (int i = 5; i < MANY; i++) {
		struct item it;

		check_int_equal(gh_chan_recv(ch, &it, 0), 0);
		check_int_equal(it.seq, i);
		if (i >= 10)
			check_int_equal((unsigned char)it.pad[19], i & 0xff);
	}
	check_int_equal(gh_chan_len(ch), 0);
	check_int_equal(gh_chan_destroy(ch), 0);
	return NULL;
}

static void test_chan_unbounded_grows_in_order(void **state)
{
	run_in_hub(unbounded_main, NULL);
}

static gh_chan *rx_ch, *tx_ch;

static void *recv_on(void *arg)
{
	int v;

	return (void *)(intptr_t)gh_chan_recv(rx_ch, &v, GH_NEVER);
}

static void *send_on(void *arg)
{
	int v = 1;

	return (void *)(intptr_t)gh_chan_send(tx_ch, &v, GH_NEVER);
}

static void *close_main(void *arg)
{
	gh_thread *r[10], *s[10];
	int v = 5;

	rx_ch = gh_chan_create(sizeof(int), 0); /* receivers wait on it */
	tx_ch = gh_chan_create(sizeof(int), 1); /* senders wait on it once it holds one */
	if (!check_non_null(rx_ch))
		return NULL;
	if (!check_non_null(tx_ch))
		return NULL;
	check_int_equal(gh_chan_send(tx_ch, &v, 0), 0);
	for (int i = 0; i < 10; i++) {
		r[i] = gh_spawn(recv_on, NULL);
		s[i] = gh_spawn(send_on, NULL);
	}
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_chan_destroy(rx_ch), -EBUSY);
	check_int_equal(gh_chan_destroy(tx_ch), -EBUSY);
	check_int_equal(gh_chan_close(rx_ch), 0);
	check_int_equal(gh_chan_close(tx_ch), 0);
	for (int i = 0; i < 10; i++) {
		check_int_equal((intptr_t)join_ok(r[i]), -EPIPE);
		check_int_equal((intptr_t)join_ok(s[i]), -EPIPE);
	}
	/* Closed: sends fail, the buffered element is still received, then receives fail. */
	check_int_equal(gh_chan_send(tx_ch, &v, GH_NEVER), -EPIPE);
	v = 0;
	check_int_equal(gh_chan_recv(tx_ch, &v, GH_NEVER), 0);
	check_int_equal(v, 5);
	check_int_equal(gh_chan_recv(tx_ch, &v, GH_NEVER), -EPIPE);
	check_int_equal(gh_chan_close(tx_ch), -EPIPE);
	check_int_equal(gh_chan_destroy(rx_ch), 0);
	check_int_equal(gh_chan_destroy(tx_ch), 0);
	return NULL;
}

static void test_chan_close_wakes_waiting_readers_and_writers(void **state)
{
	run_in_hub(close_main, NULL);
}

static void *cancel_main(void *arg)
{
	gh_thread *r, *s, *r2;
	int got = -1, v = 9;

	ch = gh_chan_create(sizeof(int), 0);
	if (!check_non_null(ch))
		return NULL;
	r = gh_spawn(recv_int, NULL);
	r2 = gh_spawn(recv_int, &got);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_cancel(r), 0);
	check_int_equal((intptr_t)join_ok(r), -ECANCELED);
	/* The cancelled receiver left the queue: the next one gets the element. */
	check_int_equal(gh_chan_send(ch, &v, 0), 0);
	check_int_equal((intptr_t)join_ok(r2), 0);
	check_int_equal(got, 9);
	s = gh_spawn(send_int, (void *)(intptr_t)3);
	check_int_equal(gh_yield(), 0);
	check_int_equal(gh_cancel(s), 0);
	check_int_equal((intptr_t)join_ok(s), -ECANCELED);
	/* Its element was not sent. */
	check_int_equal(gh_chan_recv(ch, &v, 0), -ETIMEDOUT);
	check_int_equal(gh_chan_destroy(ch), 0);
	return NULL;
}

static void test_chan_cancel_sender_and_receiver(void **state)
{
	run_in_hub(cancel_main, NULL);
}

#define PRODUCERS 50
#define PER_PRODUCER 400
#define CONSUMERS 7

static long consumed;
static unsigned char seen[PRODUCERS][PER_PRODUCER];

static void *produce(void *arg)
{
	for (int i = 0; i < PER_PRODUCER; i++) {
		struct item it = { .producer = (int)(intptr_t)arg, .seq = i };

		check_int_equal(gh_chan_send(ch, &it, GH_NEVER), 0);
	}
	return NULL;
}

static void *consume(void *arg)
{
	struct item it;
	int err;

	while ((err = gh_chan_recv(ch, &it, GH_NEVER)) == 0) {
		/* Every item arrives exactly once. (Their order across consumers is the order the
		 * consumers run in after being handed an item, so it is not checked here.) */
		check_true(it.producer >= 0 && it.producer < PRODUCERS);
		check_true(it.seq >= 0 && it.seq < PER_PRODUCER);
		check_int_equal(seen[it.producer][it.seq]++, 0);
		consumed++;
		if (consumed % 17 == 0)
			check_int_equal(gh_yield(), 0);
	}
	check_int_equal(err, -EPIPE);
	return NULL;
}

static void *many_main(void *arg)
{
	gh_thread *p[PRODUCERS], *c[CONSUMERS];

	ch = gh_chan_create(sizeof(struct item), 8);
	if (!check_non_null(ch))
		return NULL;
	consumed = 0;
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < CONSUMERS; i++)
		c[i] = gh_spawn(consume, NULL);
	for (intptr_t i = 0; i < PRODUCERS; i++)
		p[i] = gh_spawn(produce, (void *)i);
	for (int i = 0; i < PRODUCERS; i++)
		join_ok(p[i]);
	check_int_equal(gh_chan_close(ch), 0);
	for (int i = 0; i < CONSUMERS; i++)
		join_ok(c[i]);
	check_int_equal(consumed, PRODUCERS * PER_PRODUCER);
	check_int_equal(gh_chan_destroy(ch), 0);
	return NULL;
}

static void test_chan_many_producers_and_consumers(void **state)
{
	run_in_hub(many_main, NULL);
}

static void *misuse_main(void *arg)
{
	int v = 0;

	ch = gh_chan_create(sizeof(int), 1);
	if (!check_non_null(ch))
		return NULL;
	check_int_equal(gh_chan_send(NULL, &v, 0), -EINVAL);
	check_int_equal(gh_chan_send(ch, NULL, 0), -EINVAL);
	check_int_equal(gh_chan_recv(NULL, &v, 0), -EINVAL);
	check_int_equal(gh_chan_recv(ch, NULL, 0), -EINVAL);
	check_int_equal(gh_chan_close(NULL), -EINVAL);
	check_int_equal(gh_chan_destroy(NULL), -EINVAL);
	check_int_equal(gh_chan_len(NULL), 0);
	check_int_equal(gh_cancel(gh_self()), 0);
	check_int_equal(gh_chan_send(ch, &v, GH_NEVER), -ECANCELED);
	check_int_equal(gh_chan_recv(ch, &v, GH_NEVER), -ECANCELED);
	check_int_equal(gh_chan_destroy(ch), 0);
	return NULL;
}

static void test_chan_misuse_rejected(void **state)
{
	gh_chan *c;
	int v = 0;

	errno = 0;
	assert_null(gh_chan_create(0, 1));
	assert_int_equal(errno, EINVAL);
	assert_null(gh_chan_create(65537, 1));
	assert_null(gh_chan_create(4096, SIZE_MAX / 2));
	run_in_hub(misuse_main, NULL);
	c = gh_chan_create(sizeof(int), 1);
	assert_non_null(c);
	assert_int_equal(gh_chan_send(c, &v, 0), -EPERM);
	assert_int_equal(gh_chan_recv(c, &v, 0), -EPERM);
	assert_int_equal(gh_chan_close(c), -EPERM);
	assert_int_equal(gh_chan_destroy(c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chan_buffered_fifo_and_deadlines),
		cmocka_unit_test(test_chan_waiting_senders_served_in_order),
		cmocka_unit_test(test_chan_rendezvous),
		cmocka_unit_test(test_chan_unbounded_grows_in_order),
		cmocka_unit_test(test_chan_close_wakes_waiting_readers_and_writers),
		cmocka_unit_test(test_chan_cancel_sender_and_receiver),
		cmocka_unit_test(test_chan_many_producers_and_consumers),
		cmocka_unit_test(test_chan_misuse_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
