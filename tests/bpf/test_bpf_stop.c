// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unloading and exits never leave a hub unsafe.
 *
 *   - `scx_greenhub --stop` (or SIGTERM to a foreground loader) while a carrier is handed off
 *     and still blocked: handoffs stop at once, but the programs stay until that carrier has
 *     passed the return gate; with a short --timeout, --stop gives up (exit 8) and leaves the
 *     gate in place, and new hubs run in mode none meanwhile ("stopping"). With --force it
 *     removes the pins all the same, and the blocked carrier still meets its gate.
 *   - Hubs that run while the kernel side is unloaded keep running, as in mode none: no more
 *     handoffs, no exclusivity violation (the runtime aborts on one).
 *   - A process killed while one of its carriers is handed off, and a process that replaces its
 *     image with execve, leave no slot, registration or displaced count behind (I6).
 */
#include "bpf_test.h"

#define BLOCK_MS 1500

/* A hub on a thread of its own whose main green thread blocks in an unmarked read. */
struct blocked {
	struct bt_ticked t; /* first: the call is given it */
	struct bt_hub_thread hub;
	int pipefd[2];
	atomic_int reader; /* the carrier that blocks in the read */
	bool result_ok;
	bool ended; /* the read was ended and the hub thread joined (or its join began) */
};

/* What a test started and has not ended yet, for its teardown to end should the test fail:
 * else a read left blocked keeps its carrier displaced, and every later test of the file meets
 * a kernel side that is still stopping, which hides the first failure among the others. */
static struct blocked *outstanding;
static pid_t foreground_loader;

static void blocked_read(struct bt_ticked *t)
{
	struct blocked *b = (struct blocked *)t;
	char c = 0;

	atomic_store(&b->reader, gettid());
	b->result_ok = read(b->pipefd[0], &c, 1) == 1 && c == 'w';
}

/* Wait until a spare holds b's hub (runs it, or waits in its poll) while the reader is counted
 * as displaced. Until a spare takes the hub, the kernel side may still take the handoff back (a
 * cancel), and the count is 0 for a while: one run in the 7.3.4 VM found it 0 at the --stop that
 * followed. Once a spare holds the hub, the reader stays displaced until its read returns. The
 * spare mostly waits in the poll between ticks, so that counts as holding it: a wait for a
 * running spare alone samples a window of microseconds, and a sampler whose own timer expires
 * with the ticker's may miss it every time. */
static void wait_spare_holds(const struct blocked *b)
{
	__u64 baton = 0, displaced = 0;
	unsigned h;

	/* Up to 10 s: the handoff and the spare's start may each take seconds under an emulator. */
	for (int i = 0; i < 10000; i++) {
		if (bt_my_slots(&b->t.maps, &h, 1) == 1) {
			enum gh_baton_state s;

			baton = __atomic_load_n(&b->t.maps.slots[h].baton, __ATOMIC_ACQUIRE);
			displaced = __atomic_load_n(&b->t.maps.ctl->kside.nr_displaced,
						    __ATOMIC_SEQ_CST);
			s = gh_baton_state(baton);
			if ((s == GH_BATON_RUN || s == GH_BATON_IDLE) && gh_baton_tid(baton) != 0 &&
			    gh_baton_tid(baton) != (__u32)atomic_load(&b->reader) && displaced > 0)
				return;
		}
		bt_sleep_ms(1);
	}
	fail_msg("no spare took the hub of the blocked read (reader %d; last seen: baton state %d "
		 "tid %u, %llu displaced)",
		 atomic_load(&b->reader), (int)gh_baton_state(baton), gh_baton_tid(baton),
		 (unsigned long long)displaced);
}

/* With a kernel side loaded: start the hub, and wait until its read has been handed off and a
 * spare runs the hub. */
static struct blocked *blocked_start(void)
{
	struct blocked *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	assert_int_equal(pipe(b->pipefd), 0);
	assert_int_equal(bt_maps_open(&b->t.maps), 0);
	b->t.call = blocked_read;
	bt_hub_thread_start(&b->hub, bt_ticked_main, &b->t);
	outstanding = b;
	wait_spare_holds(b);
	return b;
}

/* End the read; the hub finishes. */
static void blocked_end(struct blocked *b)
{
	b->ended = true;
	assert_int_equal(write(b->pipefd[1], "w", 1), 1);
	bt_hub_thread_join(&b->hub);
	assert_true(b->result_ok);
}

static void blocked_free(struct blocked *b)
{
	outstanding = NULL;
	bt_maps_close(&b->t.maps);
	close(b->pipefd[0]);
	close(b->pipefd[1]);
	free(b);
}

/* Teardown: end what a failed test left running, so that the next test starts clean. */
static int end_outstanding(void **state)
{
	struct blocked *b = outstanding;

	if (b && !b->ended) {
		if (write(b->pipefd[1], "w", 1) != 1)
			print_error("teardown: write to end the read: %s\n", strerror(errno));
		else if (pthread_join(b->hub.thread, NULL) == 0)
			gh_hub_destroy(b->hub.hub);
	}
	if (b)
		blocked_free(b);
	if (foreground_loader > 0) {
		kill(foreground_loader, SIGTERM);
		bt_wait(foreground_loader);
		foreground_loader = 0;
	}
	return 0;
}

/* The kernel side's count of carriers that got their hub back after a block, one way or
 * another (through the gate, an idle hub, a takeover or a cancelled handoff). */
static __u64 nr_returns_settled(const struct gh_trace_control *ctl)
{
	return ctl->kside.nr_gates + ctl->kside.nr_idle_returns + ctl->kside.nr_takeovers +
	       ctl->kside.nr_cancels;
}

static void *mode_probe_main(void *arg)
{
	return NULL;
}

/* The mode an AUTO hub gets now, and why. */
static enum gh_mode probe_mode(char *why, size_t len)
{
	struct gh_hub *hub = gh_hub_create(NULL);
	enum gh_mode mode;

	assert_non_null(hub);
	assert_int_equal(gh_hub_run(hub, mode_probe_main, NULL, NULL), 0);
	mode = gh_hub_mode(hub);
	snprintf(why, len, "%s", gh_hub_mode_reason(hub));
	gh_hub_destroy(hub);
	return mode;
}

static void test_bpf_stop_waits_for_blocked_carrier(void **state)
{
	char out[4096], why[256];
	struct blocked *b;
	__u64 before;

	bt_loader_up();
	b = blocked_start();

	/* A carrier is displaced: a short --stop gives up and leaves the gate. */
	assert_int_equal(bt_loader(out, sizeof(out), "--stop", "--timeout", "0.3"), 8);
	if (!strstr(out, "still blocked"))
		fail_msg("%s", out);
	/* The gate stays: the task works' map, and the sys_exit link or the taker's program where
	 * the gate is one of those. */
	assert_int_equal(access(GH_TRACE_PIN_DIR "/gates", F_OK), 0);
	if (b->t.maps.ctl->gate == GH_TRACE_GATE_SYS_EXIT)
		assert_int_equal(access(GH_TRACE_PIN_DIR "/link_sys_exit", F_OK), 0);
	if (b->t.maps.ctl->gate == GH_TRACE_GATE_TAKER)
		assert_int_equal(access(GH_TRACE_PIN_DIR "/" GH_TRACE_PIN_ARM_GATE, F_OK), 0);
	assert_int_equal(b->t.maps.ctl->kside.state, GH_TRACE_DRAINING);
	/* Meanwhile new hubs do not attach to a stopping kernel side. */
	assert_int_equal(probe_mode(why, sizeof(why)), GH_MODE_NONE);
	if (!strstr(why, "stopping"))
		fail_msg("reason: %s", why);
	before = nr_returns_settled(b->t.maps.ctl);

	/* The call returns: the gate still works, then --stop completes. */
	blocked_end(b);
	assert_true(b->t.maps.ctl->kside.nr_displaced == 0);
	assert_true(nr_returns_settled(b->t.maps.ctl) > before);
	blocked_free(b);
	assert_int_equal(bt_loader(out, sizeof(out), "--stop"), 0);
	assert_int_equal(access(GH_TRACE_PIN_DIR, F_OK), -1);
}

static void test_bpf_stop_sigterm_waits_for_blocked_carrier(void **state)
{
	struct blocked *b;
	int fd, status;
	pid_t pid;

	bt_loader_down();
	pid = bt_loader_foreground(&fd, "--mode", "trace");
	foreground_loader = pid;
	b = blocked_start();
	kill(pid, SIGTERM);
	for (int i = 0; i < 60000 && b->t.maps.ctl->kside.state != GH_TRACE_DRAINING; i++)
		bt_sleep_ms(1);
	bt_sleep_ms(300);
	/* Still there, draining: a carrier needs the gate. */
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	assert_int_equal(b->t.maps.ctl->kside.state, GH_TRACE_DRAINING);
	blocked_end(b);
	foreground_loader = 0;
	assert_int_equal(bt_wait(pid), 0);
	close(fd);
	assert_int_equal(access(GH_TRACE_PIN_DIR, F_OK), -1);
	blocked_free(b);
}

/* ---------------------------------------------------------------------------------------- */

struct busy {
	atomic_bool stopped;
	atomic_ulong rounds;
	uint64_t handoffs_at_stop;
	struct bt_hub_thread hub;
};

static void *sleeper(void *arg)
{
	struct busy *b = arg;

	/* Unmarked blocking sleeps, until well after the unload. */
	while (!atomic_load(&b->stopped) || atomic_load(&b->rounds) < 400) {
		struct timespec ts = { .tv_nsec = 1000000 };

		nanosleep(&ts, NULL);
		atomic_fetch_add(&b->rounds, 1);
		gh_yield();
	}
	return NULL;
}

static void *busy_main(void *arg)
{
	struct busy *b = arg;
	gh_thread *t[4];

	for (int i = 0; i < 4; i++)
		t[i] = gh_spawn(sleeper, b);
	for (int i = 0; i < 4; i++)
		gh_join(t[i], NULL);
	return NULL;
}

static void test_bpf_stop_hubs_keep_running_after_unload(void **state)
{
	struct busy *b = calloc(1, sizeof(*b));
	struct gh_hub_stats st;
	char out[4096];

	assert_non_null(b);
	bt_loader_up();
	bt_hub_thread_start(&b->hub, busy_main, b);
	while (atomic_load(&b->rounds) < 200)
		bt_sleep_ms(1);
	assert_int_equal(bt_loader(out, sizeof(out), "--stop"), 0);
	st = bt_stats(b->hub.hub);
	b->handoffs_at_stop = st.handoffs;
	atomic_store(&b->stopped, true);
	st = bt_hub_thread_join(&b->hub); /* which checks that it ran in trace mode */
	print_message("    %lu rounds; handoffs %llu at the unload, %llu at the end\n",
		      atomic_load(&b->rounds), (unsigned long long)b->handoffs_at_stop,
		      (unsigned long long)st.handoffs);
	assert_true(b->handoffs_at_stop > 0);
	/* Nothing hands off without the kernel side (these calls are unmarked). */
	assert_int_equal(st.handoffs, b->handoffs_at_stop);
	free(b);
}

/* ---------------------------------------------------------------------------------------- */
/* I6: a process that dies or execs                                                           */

/* The child process: this binary run again with --child block|exec (a fresh process, so
 * that its runtime starts its own threads). */
static void *child_main(void *arg)
{
	const char *what = arg;
	char c;

	/* Give the spare time to park (green sleeps: no system call of ours hands off). */
	for (int i = 0; i < 100; i++)
		gh_sleep_until(gh_now() + 1000000);
	if (!strcmp(what, "exec")) {
		/* Replace the image while the hub runs: the old image's hub is gone. */
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(3);
	}
	(void)read(0, &c, 1); /* stdin is a pipe nobody writes to */
	return NULL;
}

static int child(const char *what)
{
	struct gh_hub_opts o;
	gh_hub *hub;

	gh_hub_opts_init(&o);
	o.mode = GH_MODE_TRACE;
	hub = gh_hub_create(&o);
	return hub && gh_hub_run(hub, child_main, (void *)what, NULL) == 0 ? 0 : 2;
}

static int child_stdin[2];

static void child_setup(void)
{
	dup2(child_stdin[0], 0);
}

static pid_t start_child(const char *what)
{
	int fd;
	pid_t pid;

	assert_int_equal(pipe2(child_stdin, O_CLOEXEC), 0);
	pid = bt_spawn((const char *const[]){ "/proc/self/exe", "--child", what, NULL }, -1,
		       child_setup, &fd);
	assert_true(pid > 0);
	close(fd);
	return pid;
}

static bool has_slot(const struct bt_maps *m, pid_t pid)
{
	for (unsigned i = 0; i < GH_MAX_HUBS; i++)
		if ((m->slots[i].flags & GH_SLOT_F_ACTIVE) && m->slots[i].tgid == (__u32)pid)
			return true;
	return false;
}

static void test_bpf_stop_killed_process_leaves_nothing(void **state)
{
	struct bt_maps m;
	__u64 cleanups;
	pid_t pid;

	bt_loader_up();
	assert_int_equal(bt_maps_open(&m), 0);
	cleanups = m.ctl->kside.nr_exit_cleanups;
	pid = start_child("block");
	for (int i = 0; i < 5000 && !(has_slot(&m, pid) && m.ctl->kside.nr_displaced > 0); i++)
		bt_sleep_ms(1);
	assert_true(has_slot(&m, pid));
	assert_true(m.ctl->kside.nr_displaced > 0);
	kill(pid, SIGKILL);
	assert_int_equal(bt_wait(pid), 128 + SIGKILL);
	/* Released by the exit program of the last thread, or else (the program skipped: its
	 * recursion guard, or on 7.x another task preempted inside it) by the backstop when the
	 * leader's task is freed, an RCU grace period after the reap: soon, not at once. */
	for (int i = 0; i < 5000 && (has_slot(&m, pid) || m.ctl->kside.nr_displaced != 0); i++)
		bt_sleep_ms(1);
	assert_false(has_slot(&m, pid));
	assert_int_equal(m.ctl->kside.nr_displaced, 0);
	assert_true(m.ctl->kside.nr_exit_cleanups > cleanups);
	close(child_stdin[0]);
	close(child_stdin[1]);
	bt_maps_close(&m);
	bt_loader_down();
}

static void test_bpf_stop_exec_leaves_nothing(void **state)
{
	struct bt_maps m;
	__u64 cleanups;
	pid_t pid;
	char comm[64] = "";

	bt_loader_up();
	assert_int_equal(bt_maps_open(&m), 0);
	cleanups = m.ctl->kside.nr_exit_cleanups;
	pid = start_child("exec");
	for (int i = 0; i < 5000 && !has_slot(&m, pid); i++)
		bt_sleep_ms(1);
	assert_true(has_slot(&m, pid));
	/* Once it runs sleep(1), the same pid owns nothing any more. */
	for (int i = 0; i < 5000; i++) {
		char path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		if (!strncmp(comm, "sleep", 5))
			break;
		bt_sleep_ms(1);
	}
	assert_string_equal(comm, "sleep\n");
	/* exec renames the task a little before the exec tracepoint fires. */
	for (int i = 0; i < 1000 && has_slot(&m, pid); i++)
		bt_sleep_ms(1);
	assert_false(has_slot(&m, pid));
	assert_int_equal(m.ctl->kside.nr_displaced, 0);
	assert_true(m.ctl->kside.nr_exit_cleanups > cleanups);
	kill(pid, SIGKILL);
	bt_wait(pid);
	close(child_stdin[0]);
	close(child_stdin[1]);
	bt_maps_close(&m);
	bt_loader_down();
}

/* Remove the pins with unpin() while a carrier is handed off and blocked, then let its call
 * return: the hub holds the kernel side's links itself, so the call passes the gate, the hub
 * finishes and nothing aborts (before, the links went with their pins and the hub aborted on an
 * exclusivity violation); nothing is pinned any more. */
static void unpin_while_displaced(void (*unpin)(void))
{
	struct blocked *b;
	__u64 before;
	char out[4096];

	bt_loader_up();
	b = blocked_start();
	before = nr_returns_settled(b->t.maps.ctl);
	unpin();
	assert_true(access(GH_TRACE_PIN_DIR, F_OK) < 0);
	bt_sleep_ms(100);

	blocked_end(b);
	assert_true(nr_returns_settled(b->t.maps.ctl) > before);
	assert_true(b->t.maps.ctl->kside.nr_displaced == 0);
	blocked_free(b);
	assert_int_equal(bt_loader(out, sizeof(out), "--stop"), 7);
}

/* An operator's cleanup. */
static void remove_pins(void)
{
	assert_int_equal(system("rm -rf " GH_TRACE_PIN_DIR), 0);
}

/* --stop --force once the wait for the blocked carrier has ended. */
static void stop_forced(void)
{
	char out[4096];

	assert_int_equal(bt_loader(out, sizeof(out), "--stop", "--timeout", "0.3", "--force"), 0);
	if (!strstr(out, "still blocked") || !strstr(out, "--force"))
		fail_msg("%s", out);
}

static void test_bpf_stop_pins_removed_while_displaced(void **state)
{
	unpin_while_displaced(remove_pins);
}

static void test_bpf_stop_force_while_displaced(void **state)
{
	unpin_while_displaced(stop_forced);
	/* Nothing holds the old kernel side any more: a new one loads. */
	bt_loader_up();
	bt_loader_down();
}

#define STOP_TEST(f) cmocka_unit_test_teardown(f, end_outstanding)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		STOP_TEST(test_bpf_stop_waits_for_blocked_carrier),
		STOP_TEST(test_bpf_stop_pins_removed_while_displaced),
		STOP_TEST(test_bpf_stop_force_while_displaced),
		STOP_TEST(test_bpf_stop_sigterm_waits_for_blocked_carrier),
		STOP_TEST(test_bpf_stop_hubs_keep_running_after_unload),
		STOP_TEST(test_bpf_stop_killed_process_leaves_nothing),
		STOP_TEST(test_bpf_stop_exec_leaves_nothing),
	};

	if (argc == 3 && !strcmp(argv[1], "--child"))
		return child(argv[2]);
	bt_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
