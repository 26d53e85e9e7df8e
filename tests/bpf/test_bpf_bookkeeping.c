// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The runtime's own bookkeeping, in trace mode on this kernel, when green code is handed off.
 * An allocation is a call that may sleep (the allocator's lock, mmap), and with a kernel side a
 * sleep of green code hands the hub to a spare: the hub's other green threads run meanwhile.
 *
 * This binary replaces the allocator's entry points with its own, which pass every call on to
 * glibc's, and which sleep 3 ms first when asked to: in allocations of green code, or in every
 * allocation a carrier makes. Then:
 *   - green threads, each in turn inside such an allocation, make the per-fd table grow to reach
 *     high fds, and send into an unbounded channel whose buffer grows: every wait must be woken
 *     by its fd, every element received in order. A runtime that grew the table with realloc()
 *     from a pointer read before the sleep freed it twice (the process aborted; examples/dbapi
 *     with two hubs under load found it), and one that copied the channel's ring by its length
 *     before the sleep lost elements;
 *   - spawns and joins, and posted functions started at the switch points of a busy hub, must
 *     hand nothing off with every carrier's allocations sleeping: the hub loop and switch points
 *     must never wait on the allocator's lock (userspace/lib/hub_mem.c), and a switch point's
 *     work happens after the thread that switches out is queued to run (a runtime that handed
 *     off there crashed). A control in each case shows an allocation of green code sleeping
 *     and handed off, so that it cannot pass without the sleeps in place.
 */
#include <sys/prctl.h>

#include "bpf_test.h"

/* glibc's allocator, which the functions below pass every call on to. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

#define SLEEP_NS 3000000L

/* Which allocations sleep: those made from green code (gh_self() is not NULL), or every one a
 * carrier makes, the runtime's own included (the hub loop's, a switch point's). */
enum sleeper { GREEN_CODE, ON_CARRIER };

static atomic_int sleeps_left; /* allocations still to sleep in */
static atomic_int sleeper;     /* enum sleeper */
static atomic_int slept;       /* allocations that did */
static pid_t hub_tid;          /* cmocka's thread, which runs the hubs (bt_run_trace) */

/* A carrier: the thread that runs the hub, or a spare the runtime started. */
static bool on_carrier(void)
{
	char name[16] = "";

	if (gettid() == hub_tid)
		return true;
	return prctl(PR_GET_NAME, name) == 0 && strcmp(name, "gh-carrier") == 0;
}

/* Sleep in the allocation if asked to, and it is made where asked. */
static void maybe_sleep(void)
{
	struct timespec ts = { 0, SLEEP_NS };
	int saved = errno, left = atomic_load(&sleeps_left);
	bool green;

	if (left <= 0)
		return;
	green = gh_self() != NULL;
	if (atomic_load(&sleeper) == GREEN_CODE ? !green : !on_carrier()) {
		errno = saved;
		return;
	}
	while (left > 0 && !atomic_compare_exchange_weak(&sleeps_left, &left, left - 1))
		;
	if (left > 0) {
		atomic_fetch_add(&slept, 1);
		(void)nanosleep(&ts, NULL);
	}
	errno = saved;
}

void *malloc(size_t n)
{
	maybe_sleep();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	maybe_sleep();
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	maybe_sleep();
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}

/* The next n allocations made by who sleep (counted from 0 in slept); n 0: none any more. */
static void sleep_in(enum sleeper who, int n)
{
	if (n) {
		atomic_store(&slept, 0);
		atomic_store(&sleeper, who);
	}
	atomic_store(&sleeps_left, n);
}

static void sleep_in_allocations(int n)
{
	sleep_in(GREEN_CODE, n);
}

/* From green code, the control of a case that expects no handoff: an allocation of green code
 * that sleeps is handed off, so the sleeps are in place and would show. */
static void allocation_hands_off(void)
{
	uint64_t before = bt_green_stats().handoffs;
	char *volatile p;

	sleep_in(GREEN_CODE, 1);
	p = malloc(64);
	check_non_null(p);
	free(p);
	check_int_equal(atomic_load(&slept), 1);
	check_true(bt_green_stats().handoffs > before);
}

/* ---------------------------------------------------------------------------------------- */
/* The per-fd table                                                                           */

#define NFDS 4

struct fds_run {
	int fd[NFDS];     /* high duplicates of the pipes' read ends: 100, 200, 400, 800 */
	int pipes[NFDS][2];
	int result[NFDS]; /* what each waiter's gh_wait_fd returned */
	atomic_int waiting;
};

struct fds_waiter {
	struct fds_run *r;
	int i;
};

static void *fd_waiter(void *arg)
{
	struct fds_waiter *w = arg;

	atomic_fetch_add(&w->r->waiting, 1);
	w->r->result[w->i] = gh_wait_fd(w->r->fd[w->i], GH_IN, gh_now() + MS(30000));
	return NULL;
}

/* Once every waiter has started, fill the pipes (a plain thread: it never blocks the hub). */
static void *fds_writer(void *arg)
{
	struct fds_run *r = arg;

	for (int i = 0; i < 30000 && atomic_load(&r->waiting) < NFDS; i++)
		bt_sleep_ms(1);
	bt_sleep_ms(50);
	for (int i = 0; i < NFDS; i++)
		if (write(r->pipes[i][1], "x", 1) != 1)
			abort();
	return NULL;
}

static void *fds_main(void *arg)
{
	struct fds_run *r = arg;
	struct fds_waiter w[NFDS];
	gh_thread *t[NFDS];
	pthread_t writer;

	check_int_equal(pthread_create(&writer, NULL, fds_writer, r), 0);
	/* Each waiter's first wait grows the table, inside a sleeping allocation. */
	sleep_in_allocations(2 * NFDS);
	for (int i = 0; i < NFDS; i++) {
		w[i] = (struct fds_waiter){ r, i };
		t[i] = gh_spawn(fd_waiter, &w[i]);
		check_non_null(t[i]);
	}
	for (int i = 0; i < NFDS; i++)
		if (t[i])
			check_int_equal(gh_join(t[i], NULL), 0);
	sleep_in_allocations(0);
	check_int_equal(pthread_join(writer, NULL), 0);
	return NULL;
}

static void test_bpf_bookkeeping_fd_table_grows_across_handoffs(void **state)
{
	struct fds_run r = { 0 };
	struct gh_hub_stats st;

	(void)state;
	bt_loader_up();
	for (int i = 0; i < NFDS; i++) {
		assert_int_equal(pipe2(r.pipes[i], O_CLOEXEC), 0);
		r.fd[i] = dup3(r.pipes[i][0], 100 << i, O_CLOEXEC);
		assert_int_equal(r.fd[i], 100 << i);
	}
	st = bt_run_trace(fds_main, &r);
	print_message("    %d allocations slept, %llu handoffs\n", atomic_load(&slept),
		      (unsigned long long)st.handoffs);
	for (int i = 0; i < NFDS; i++)
		assert_int_equal(r.result[i], GH_IN);
	assert_true(atomic_load(&slept) >= NFDS);
	assert_true(st.handoffs > 0);
	for (int i = 0; i < NFDS; i++) {
		close(r.fd[i]);
		close(r.pipes[i][0]);
		close(r.pipes[i][1]);
	}
	bt_loader_down();
}

/* ---------------------------------------------------------------------------------------- */
/* Spawns: descriptors, stacks and timer slots                                               */

#define SPAWNERS 4
#define SPAWNS 100

static void *timed_sleeper(void *arg)
{
	/* Arms a timer: the slot its spawn reserved. */
	check_int_equal(gh_sleep(MS(1)), 0);
	return arg;
}

static void *spawner(void *arg)
{
	gh_thread *t[SPAWNS];
	uintptr_t base = (uintptr_t)arg * SPAWNS;

	for (uintptr_t i = 0; i < SPAWNS; i++) {
		t[i] = gh_spawn(timed_sleeper, (void *)(base + i));
		check_non_null(t[i]);
	}
	for (uintptr_t i = 0; i < SPAWNS; i++) {
		void *result = NULL;

		if (!t[i])
			continue;
		check_int_equal(gh_join(t[i], &result), 0);
		check_true(result == (void *)(base + i));
	}
	return NULL;
}

static void *spawns_main(void *arg)
{
	gh_thread *t[SPAWNERS];
	uint64_t before = bt_green_stats().handoffs;

	(void)arg;
	/* Every allocation a carrier makes sleeps: a spawn's, were it to make one, would hand
	 * the hub off half-way through it. */
	sleep_in(ON_CARRIER, 1000);
	for (uintptr_t i = 0; i < SPAWNERS; i++) {
		t[i] = gh_spawn(spawner, (void *)i);
		check_non_null(t[i]);
	}
	for (int i = 0; i < SPAWNERS; i++)
		if (t[i])
			check_int_equal(gh_join(t[i], NULL), 0);
	check_int_equal(bt_green_stats().handoffs - before, 0);
	sleep_in(ON_CARRIER, 0);
	allocation_hands_off();
	return NULL;
}

static void test_bpf_bookkeeping_spawns_never_hand_off(void **state)
{
	(void)state;
	bt_loader_up();
	(void)bt_run_trace(spawns_main, NULL);
	bt_loader_down();
}

/* ---------------------------------------------------------------------------------------- */
/* An unbounded channel's buffer                                                              */

#define SENDERS 3
#define SENDS 300

struct chan_run {
	gh_chan *ch;
	unsigned next[SENDERS]; /* the receiver's next expected value of each sender */
	unsigned received;
};

static void *chan_sender(void *arg)
{
	struct chan_run *r = *(struct chan_run **)arg;
	unsigned who = (unsigned)((uintptr_t *)arg)[1];

	for (unsigned i = 0; i < SENDS; i++) {
		unsigned v = who << 16 | i;

		check_int_equal(gh_chan_send(r->ch, &v, GH_NEVER), 0);
	}
	return NULL;
}

static void *chan_main(void *arg)
{
	struct chan_run *r = arg;
	uintptr_t args[SENDERS][2];
	gh_thread *t[SENDERS];

	r->ch = gh_chan_create(sizeof(unsigned), GH_CHAN_UNBOUNDED);
	check_non_null(r->ch);
	if (!r->ch)
		return NULL;
	sleep_in_allocations(12);
	for (unsigned i = 0; i < SENDERS; i++) {
		args[i][0] = (uintptr_t)r;
		args[i][1] = i;
		t[i] = gh_spawn(chan_sender, args[i]);
		check_non_null(t[i]);
	}
	for (unsigned n = 0; n < SENDERS * SENDS; n++) {
		unsigned v = 0;

		if (!check_int_equal(gh_chan_recv(r->ch, &v, gh_now() + MS(30000)), 0))
			break;
		if (!check_true((v >> 16) < SENDERS) || !check_int_equal(v & 0xffff, r->next[v >> 16]))
			break;
		r->next[v >> 16]++;
		r->received++;
	}
	for (unsigned i = 0; i < SENDERS; i++)
		if (t[i])
			check_int_equal(gh_join(t[i], NULL), 0);
	sleep_in_allocations(0);
	check_int_equal(gh_chan_destroy(r->ch), 0);
	return NULL;
}

static void test_bpf_bookkeeping_channel_grows_across_handoffs(void **state)
{
	struct chan_run r = { 0 };
	struct gh_hub_stats st;

	(void)state;
	bt_loader_up();
	st = bt_run_trace(chan_main, &r);
	print_message("    %d allocations slept, %llu handoffs, %u received\n", atomic_load(&slept),
		      (unsigned long long)st.handoffs, r.received);
	assert_int_equal(r.received, SENDERS * SENDS);
	assert_true(atomic_load(&slept) > 0);
	assert_true(st.handoffs > 0);
	bt_loader_down();
}

/* ---------------------------------------------------------------------------------------- */
/* Posts spawned at a switch point                                                             */

#define POSTS 150

struct posts_run {
	gh_hub *hub;
	atomic_int posted, done;
};

static void *posted(void *arg)
{
	struct posts_run *r = arg;

	check_int_equal(gh_sleep(MS(20)), 0);
	atomic_fetch_add(&r->done, 1);
	return NULL;
}

/* A plain thread that posts to the hub, all at once. */
static void *poster(void *arg)
{
	struct posts_run *r = arg;

	for (int i = 0; i < POSTS; i++)
		if (gh_hub_post(r->hub, posted, r) == 0)
			atomic_fetch_add(&r->posted, 1);
	return NULL;
}

static void *posts_main(void *arg)
{
	struct posts_run *r = arg;
	pthread_t t;

	r->hub = gh_hub_current();
	check_int_equal(pthread_create(&t, NULL, poster, r), 0);
	/* Every allocation a carrier makes from here on sleeps: one for the posts' threads at the
	 * switch points of this busy hub would hand the hub off while the thread that switches
	 * out is already queued to run. */
	sleep_in(ON_CARRIER, 20);
	for (uint64_t end = gh_now() + MS(30000); gh_now() < end;) {
		if (atomic_load(&r->done) == POSTS)
			break;
		(void)gh_yield(); /* never idle: posts start at the switch points */
	}
	sleep_in(ON_CARRIER, 0);
	check_int_equal(bt_green_stats().handoffs, 0);
	check_int_equal(pthread_join(t, NULL), 0);
	allocation_hands_off();
	return NULL;
}

static void test_bpf_bookkeeping_switch_points_never_hand_off(void **state)
{
	struct posts_run r = { 0 };

	(void)state;
	bt_loader_up();
	(void)bt_run_trace(posts_main, &r);
	assert_int_equal(atomic_load(&r.posted), POSTS);
	assert_int_equal(atomic_load(&r.done), POSTS);
	bt_loader_down();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_bookkeeping_fd_table_grows_across_handoffs),
		cmocka_unit_test(test_bpf_bookkeeping_spawns_never_hand_off),
		cmocka_unit_test(test_bpf_bookkeeping_channel_grows_across_handoffs),
		cmocka_unit_test(test_bpf_bookkeeping_switch_points_never_hand_off),
	};

	bt_require();
	hub_tid = gettid();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
