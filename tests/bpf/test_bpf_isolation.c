// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Isolation between processes (I5) and what an application may do to greenhub's signals.
 *
 *   - A worker forked from a trace-mode service drops its privileges (setuid(65534)) and then
 *     tries every write it can make at the kernel side: it must hold no descriptor of a BPF
 *     map, no mapping of one, no pin; and its requests, aimed at its parent's hub (with the
 *     parent's cookie, which it inherited), at an unrelated root process and at a free slot,
 *     must change nothing outside itself. Meanwhile its parent's hub goes on handing off, and
 *     an unrelated root process lives on.
 *   - An application that ignores the gate signal, or installs its own handler for it, after
 *     its hub started: the kernel side stops handing that process's carriers off (a block then
 *     stalls the hub, as in mode none) instead of letting a displaced carrier through the gate;
 *     nor while a green thread blocks the signal, in its mask or in the mask a ppoll restores
 *     (the ppoll's own letting it in); given the handler back and the signal open, handoffs
 *     resume.
 */
#include "bpf_test.h"
#include "isolation.h"

/* The worker: the test's own view of the maps goes first; what is left is what the runtime let
 * it inherit. */
static int worker(struct bt_maps *test_maps, __u32 kside, __u32 parent_slot,
		  __u64 parent_cookie, unsigned free_slot)
{
	static const char *const pins[] = { "control", "slots", "hubs", "carriers",
					      "wake_rings", "gates", "link_switch",
					      GH_TRACE_PIN_ARM_GATE };

	bt_maps_close(test_maps);
	return iso_worker(GH_TRACE_PIN_DIR, pins, sizeof(pins) / sizeof(pins[0]), kside,
			  parent_slot, parent_cookie, free_slot);
}

struct isolation {
	struct bt_ticked t; /* first: the call is given it */
	int pipefd[2];
	unsigned slot;
	__u64 handoffs_before;
	int worker_status;
	atomic_int reader; /* the carrier that makes the read */
	bool read_ok;
};

/* With a ticker beside it (bt_ticked_main), once a spare is parked. */
static void isolation_call(struct bt_ticked *t)
{
	struct isolation *s = (struct isolation *)t;
	struct bt_maps *m = &s->t.maps;
	unsigned idx[4], free_slot = 0;
	__u32 kside = m->ctl->kside.kside_id;
	__u64 cookie;
	pid_t pid;
	char c;

	if (!check_int_equal(bt_my_slots(m, idx, 4), 1))
		return;
	s->slot = idx[0];
	cookie = m->slots[s->slot].claim_cookie;
	while (free_slot < GH_MAX_HUBS && (m->slots[free_slot].flags & GH_SLOT_F_ACTIVE))
		free_slot++;
	s->handoffs_before = m->slots[s->slot].nr_handoffs;
	/* The worker, forked from green code as a server would. */
	pid = fork();
	if (pid == 0)
		_exit(worker(m, kside, s->slot, cookie, free_slot));
	if (!check_true(pid > 0))
		return;
	while (waitpid(pid, &s->worker_status, WNOHANG) == 0)
		gh_sleep_until(gh_now() + 2000000);
	/* The parent's hub still hands off: an unmarked read that only the test's writer ends. */
	atomic_store(&s->reader, gettid());
	s->read_ok = read(s->pipefd[0], &c, 1) == 1;
}

static void test_bpf_isolation_dropped_worker_reaches_nothing(void **state)
{
	struct isolation *s = calloc(1, sizeof(*s));
	const char *const loop[] = { "/bin/sh", "-c", "while :; do sleep 0.05; done", NULL };
	struct bt_hub_thread hub;
	__u64 rejected_before;
	int loop_fd, status;
	pid_t root_loop;

	assert_non_null(s);
	assert_int_equal(pipe(s->pipefd), 0);
	bt_loader_up();
	assert_int_equal(bt_maps_open(&s->t.maps), 0);
	root_loop = bt_spawn(loop, -1, NULL, &loop_fd);
	assert_true(root_loop > 0);
	rejected_before = s->t.maps.ctl->kside.nr_rejected;
	s->t.call = isolation_call;
	bt_hub_thread_start(&hub, bt_ticked_main, &s->t);
	/* The worker's run takes as long as it takes; the read starts after it. */
	while (!atomic_load(&s->reader))
		bt_sleep_ms(1);
	assert_true(wait_in_syscall(atomic_load(&s->reader), SYS_read, 60000));
	assert_int_equal(write(s->pipefd[1], "x", 1), 1);
	bt_hub_thread_join(&hub);

	assert_true(WIFEXITED(s->worker_status));
	if (WEXITSTATUS(s->worker_status))
		fail_msg("the worker found a handle on the kernel side: %#x",
			 WEXITSTATUS(s->worker_status));
	/* Its requests at the parent's slot were refused and changed nothing there. */
	assert_true(s->t.maps.ctl->kside.nr_rejected >= rejected_before + 2);
	assert_true(s->read_ok);
	assert_true(s->t.maps.slots[s->slot].nr_handoffs > s->handoffs_before);
	/* The unrelated root process is alive and was never signalled. */
	assert_int_equal(waitpid(root_loop, &status, WNOHANG), 0);
	kill(root_loop, SIGKILL);
	bt_wait(root_loop);
	close(loop_fd);
	bt_maps_close(&s->t.maps);
	bt_loader_down();
	close(s->pipefd[0]);
	close(s->pipefd[1]);
	free(s);
}

/* ---------------------------------------------------------------------------------------- */

/* The taker-armed gate's program, run by a thread that carries no hub, with words naming this
 * thread, another process's thread and nobody: refused each time, nothing armed. */
static void test_bpf_isolation_arm_gate_program_needs_a_carrier(void **state)
{
	const char *const loop[] = { "/bin/sh", "-c", "while :; do sleep 0.05; done", NULL };
	__u64 words[3], arms_before;
	struct bt_maps m;
	int fd, loop_fd;
	pid_t other;

	bt_loader_up();
	assert_int_equal(bt_maps_open(&m), 0);
	if (m.ctl->gate != GH_TRACE_GATE_TAKER) {
		bt_maps_close(&m);
		bt_loader_down();
		skip();
	}
	other = bt_spawn(loop, -1, NULL, &loop_fd);
	assert_true(other > 0);
	words[0] = gh_baton_next(0, GH_BATON_HANDOFF, (__u32)gettid()) | GH_BATON_KERNEL;
	words[1] = gh_baton_next(0, GH_BATON_HANDOFF, (__u32)other) | GH_BATON_KERNEL;
	words[2] = 0;
	arms_before = m.ctl->nr_taker_arms;
	fd = bpf_obj_get(GH_TRACE_PIN_DIR "/" GH_TRACE_PIN_ARM_GATE);
	assert_true(fd >= 0);
	for (int i = 0; i < 3; i++) {
		struct gh_trace_arm arm = { .baton = words[i] };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &arm, .ctx_size_in = sizeof(arm));

		assert_int_equal(bpf_prog_test_run_opts(fd, &opts), 0);
		assert_int_equal((int)opts.retval, -EPERM);
	}
	/* A context of the wrong size is refused by the kernel before the program runs. */
	{
		char small[4] = { 0 };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = small, .ctx_size_in = sizeof(small));
		int rc = bpf_prog_test_run_opts(fd, &opts);

		assert_true(rc < 0);
	}
	assert_int_equal(m.ctl->nr_taker_arms, arms_before);
	close(fd);
	kill(other, SIGKILL);
	bt_wait(other);
	close(loop_fd);
	bt_maps_close(&m);
	bt_loader_down();
}

/* ---------------------------------------------------------------------------------------- */

/* The reads of the case below, in order: the gate signal unusable in four ways, then usable. */
enum signals_read {
	READ_IGNORED,     /* the gate signal's disposition SIG_IGN */
	READ_APP_HANDLER, /* an application's handler installed for it */
	READ_MASKED,      /* blocked in the green thread's mask */
	READ_PPOLL_OPEN,  /* a ppoll whose own mask lets it in, the mask it restores blocking it */
	READ_RUNTIME,     /* the runtime's handler back and the signal open: handed off */
	NR_SIGNALS_READS
};

struct signals {
	struct bt_maps maps;
	int pipefd[2];
	unsigned slot;
	__u64 handoffs_before;
	__u64 handoffs[NR_SIGNALS_READS];
	atomic_int reader[NR_SIGNALS_READS]; /* the carrier that makes read i */
	bool read_ok[NR_SIGNALS_READS];
};

static void app_handler(int sig)
{
	(void)sig;
}

/* An unmarked read that the test's writer ends after a while; the slot's handoff count after
 * it. */
static void blocking_read(struct signals *s, int i)
{
	char c;

	atomic_store(&s->reader[i], gettid());
	s->read_ok[i] = read(s->pipefd[0], &c, 1) == 1;
	s->handoffs[i] = s->maps.slots[s->slot].nr_handoffs;
}

/* The same wait in a ppoll that opens every signal for its duration; its return restores the
 * mask in force before it. */
static void blocking_ppoll_open(struct signals *s, int i)
{
	struct pollfd pfd = { .fd = s->pipefd[0], .events = POLLIN };
	sigset_t none;
	char c;

	sigemptyset(&none);
	atomic_store(&s->reader[i], gettid());
	s->read_ok[i] = ppoll(&pfd, 1, NULL, &none) == 1 && read(s->pipefd[0], &c, 1) == 1;
	s->handoffs[i] = s->maps.slots[s->slot].nr_handoffs;
}

static void *signals_main(void *arg)
{
	struct signals *s = arg;
	struct sigaction ign = { .sa_handler = SIG_IGN }, own = { .sa_handler = app_handler };
	struct sigaction runtime;
	sigset_t gate, old;
	unsigned idx[4];

	/* Every step is taken whatever failed before it: the runtime's handler must be back. */
	if (check_true(bt_green_wait_spares(&s->maps, 1)) &&
	    check_int_equal(bt_my_slots(&s->maps, idx, 4), 1)) {
		s->slot = idx[0];
		s->handoffs_before = s->maps.slots[s->slot].nr_handoffs;
	}
	/* The gate signal ignored: no handoff. */
	check_int_equal(sigaction(GH_TRACE_SIGNO, &ign, &runtime), 0);
	blocking_read(s, READ_IGNORED);
	/* An application handler there: no handoff either. */
	check_int_equal(sigaction(GH_TRACE_SIGNO, &own, NULL), 0);
	blocking_read(s, READ_APP_HANDLER);
	check_int_equal(sigaction(GH_TRACE_SIGNO, &runtime, NULL), 0);
	/* The runtime's handler back, but the signal blocked in the green thread: its return
	 * could not be stopped, so no handoff. Nor in a ppoll that lets the signal in while it
	 * waits: the mask its return restores blocks it again. */
	sigemptyset(&gate);
	sigaddset(&gate, GH_TRACE_SIGNO);
	check_int_equal(pthread_sigmask(SIG_BLOCK, &gate, &old), 0);
	blocking_read(s, READ_MASKED);
	blocking_ppoll_open(s, READ_PPOLL_OPEN);
	check_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
	/* Everything back: handoffs again. */
	blocking_read(s, READ_RUNTIME);
	return NULL;
}

static void test_bpf_isolation_gate_signal_unusable_no_handoff(void **state)
{
	struct signals *s = calloc(1, sizeof(*s));
	__u64 unhandled_before, masked_before, start;
	struct bt_hub_thread hub;

	assert_non_null(s);
	assert_int_equal(pipe(s->pipefd), 0);
	bt_loader_up();
	assert_int_equal(bt_maps_open(&s->maps), 0);
	unhandled_before = s->maps.ctl->kside.nr_gate_unhandled;
	masked_before = s->maps.ctl->kside.nr_masked;
	start = bt_now();
	bt_hub_thread_start(&hub, signals_main, s);
	/* Each read is ended once it blocked, and after a while: long enough for a handoff to
	 * show, had the kernel side made one. */
	for (int i = 0; i < NR_SIGNALS_READS; i++) {
		long nr = i == READ_PPOLL_OPEN ? SYS_ppoll : SYS_read;

		while (!atomic_load(&s->reader[i]))
			bt_sleep_ms(1);
		assert_true(wait_in_syscall(atomic_load(&s->reader[i]), nr, 60000));
		bt_sleep_ms(50);
		assert_int_equal(write(s->pipefd[1], "x", 1), 1);
	}
	bt_hub_thread_join(&hub);
	print_message("    handoffs after each read: %llu, %llu, %llu, %llu, %llu (%.1f s)\n",
		      (unsigned long long)s->handoffs[READ_IGNORED],
		      (unsigned long long)s->handoffs[READ_APP_HANDLER],
		      (unsigned long long)s->handoffs[READ_MASKED],
		      (unsigned long long)s->handoffs[READ_PPOLL_OPEN],
		      (unsigned long long)s->handoffs[READ_RUNTIME],
		      (double)(bt_now() - start) / 1e9);
	for (int i = 0; i < NR_SIGNALS_READS; i++)
		assert_true(s->read_ok[i]);
	/* None of the reads before the last was handed off; the last was. */
	assert_int_equal(s->handoffs[READ_IGNORED], s->handoffs_before);
	for (int i = READ_APP_HANDLER; i < READ_RUNTIME; i++)
		assert_int_equal(s->handoffs[i], s->handoffs[i - 1]);
	assert_true(s->handoffs[READ_RUNTIME] > s->handoffs[READ_PPOLL_OPEN]);
	assert_true(s->maps.ctl->kside.nr_gate_unhandled >= unhandled_before + 2);
	assert_true(s->maps.ctl->kside.nr_masked >= masked_before + 2);
	bt_maps_close(&s->maps);
	bt_loader_down();
	close(s->pipefd[0]);
	close(s->pipefd[1]);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_isolation_dropped_worker_reaches_nothing),
		cmocka_unit_test(test_bpf_isolation_gate_signal_unusable_no_handoff),
		cmocka_unit_test(test_bpf_isolation_arm_gate_program_needs_a_carrier),
	};

	bt_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
