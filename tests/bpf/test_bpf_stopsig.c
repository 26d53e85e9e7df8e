/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A handed-off call interrupted by a stop signal (SIGSTOP, then SIGCONT) while a spare runs
 * the hub: the return gate must still hold the carrier until the hand-back, whichever gate the
 * kernel side uses (a task work runs inside the stop's delivery, a sys_exit program at the
 * restarted call's exit; docs/trace-mode.md).
 *
 * In a child process: green thread A makes a bare 300 ms nanosleep, retried on EINTR with the
 * time left; green thread B, which can run only on the spare that took the hub, holds an
 * exclusivity marker while it spins in green code for 700 ms, then yields. The test stops the
 * child 100 ms into A's sleep and continues it 100 ms later. Each time A's call returns, A
 * must find the marker free (B is past its spin: A was held until B's yield), and A's sleep
 * must have lasted at least its 300 ms in all.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "bpf_test.h"

#define SLEEP_MS 300
#define SPIN_MS 700

static atomic_int marker;     /* 1 while B spins in green code */
static atomic_int overlaps;   /* A back in green code while B held the marker */
static atomic_int b_ran;
static int eintr;
static uint64_t slept_ns;

static void *sleeper(void *arg)
{
	struct timespec ts = { SLEEP_MS / 1000, (SLEEP_MS % 1000) * 1000000L }, rem;
	uint64_t t0 = bt_now();

	while (nanosleep(&ts, &rem) < 0 && errno == EINTR) {
		if (atomic_load(&marker))
			atomic_fetch_add(&overlaps, 1);
		eintr++;
		ts = rem;
	}
	if (atomic_load(&marker))
		atomic_fetch_add(&overlaps, 1);
	slept_ns = bt_now() - t0;
	return NULL;
}

static void *spinner(void *arg)
{
	uint64_t until = bt_now() + SPIN_MS * 1000000ull;

	atomic_store(&b_ran, 1);
	atomic_store(&marker, 1);
	while (bt_now() < until)
		;
	atomic_store(&marker, 0);
	gh_yield();
	return NULL;
}

static void *stop_main(void *arg)
{
	struct bt_maps *maps = arg;
	gh_thread *a, *b;

	/* A spare must be parked for the handoff. */
	if (!bt_green_wait_spares(maps, 1))
		return (void *)1;
	a = gh_spawn(sleeper, NULL);
	b = gh_spawn(spinner, NULL);
	gh_join(a, NULL);
	gh_join(b, NULL);
	return NULL;
}

/* A forked copy of the test, where no cmocka assertion may run: its exit status says it all. */
static int child(void)
{
	struct gh_hub_stats st = { .sz = sizeof(st) };
	struct bt_maps maps;
	struct gh_hub *hub;
	void *res = NULL;

	if (bt_maps_open(&maps))
		return 10;
	hub = bt_hub_new(GH_MODE_TRACE);
	if (!hub || gh_hub_run(hub, stop_main, &maps, &res) || res || gh_hub_stats(hub, &st))
		return 11;
	fprintf(stderr, "    A's sleep %.1f ms, %d EINTR; B ran %d; overlaps %d; handoffs %llu, "
		"holds %llu, hand-backs %llu\n", (double)slept_ns / 1e6, eintr,
		atomic_load(&b_ran), atomic_load(&overlaps), (unsigned long long)st.handoffs,
		(unsigned long long)st.holds, (unsigned long long)st.handbacks);
	if (!atomic_load(&b_ran))
		return 12; /* never handed off */
	if (atomic_load(&overlaps))
		return 13; /* A ran green code while B held the marker */
	if (slept_ns < SLEEP_MS * 1000000ull)
		return 14;
	gh_hub_destroy(hub);
	bt_maps_close(&maps);
	return 0;
}

static void test_bpf_stopsig_call_stopped_while_handed_off(void **state)
{
	int status;
	pid_t pid;

	bt_loader_up();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child());
	/* The spare parks within a few ms of the hub's start; A blocks right after. */
	bt_sleep_ms(150);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	bt_sleep_ms(100);
	assert_int_equal(kill(pid, SIGCONT), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	bt_loader_down();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child: %s %d", WIFEXITED(status) ? "exit" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_stopsig_call_stopped_while_handed_off),
	};

	bt_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
