// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The exclusivity stress checker (tests/stress) in trace mode with unmarked blocking calls:
 * zero violations of I1 to I4 (and no gate ever found its signal blocked), also when the
 * loader is killed with SIGKILL in the middle of the run (the pinned kernel side goes on
 * handing off) and when it is unloaded in the middle of the run (the hubs go on as in mode
 * none), and with a grace period always (30 us, shorter than most of its blocks, so that
 * the grace timer's handoffs race the sleepers' own wakes; docs/trace-mode.md, "Short blocks and
 * the grace period").
 *
 * GH_BPF_STRESS_SECONDS sets the length of each run (default 5).
 */
#include "bpf_test.h"

static char out[65536];

static unsigned seconds(void)
{
	const char *s = getenv("GH_BPF_STRESS_SECONDS");
	unsigned v = s ? (unsigned)strtoul(s, NULL, 10) : 0;

	return v ? v : 5;
}

static pid_t start_stress(unsigned secs, int *fd)
{
	char arg[16];
	pid_t pid;

	snprintf(arg, sizeof(arg), "%u", secs);
	pid = bt_spawn((const char *const[]){ BT_STRESS, "--mode", "trace", "--unmarked",
					      "--hubs", "4", "--threads", "200", "--seconds",
					      arg, NULL },
		       -1, NULL, fd);
	assert_true(pid > 0);
	return pid;
}

/* Collect the stress run's output and exit status. */
static int finish_stress(pid_t pid, int fd)
{
	size_t used = 0;
	ssize_t n;
	int rc;

	while (used + 1 < sizeof(out) && (n = read(fd, out + used, sizeof(out) - used - 1)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(fd);
	rc = bt_wait(pid);
	print_message("%s", out);
	return rc;
}

static void assert_clean_run(int rc)
{
	assert_int_equal(rc, 0);
	if (!strstr(out, "stress: 0 exclusivity violations"))
		fail_msg("no clean verdict:\n%s", out);
	if (!strstr(out, "mode trace"))
		fail_msg("the hubs did not run in trace mode:\n%s", out);
}

static void test_bpf_stress_unmarked_calls(void **state)
{
	struct bt_maps m;
	int fd;
	pid_t pid;

	bt_loader_up();
	assert_int_equal(bt_maps_open(&m), 0);
	pid = start_stress(seconds(), &fd);
	assert_clean_run(finish_stress(pid, fd));
	print_message("kernel side: %llu handoffs, %llu gates, %llu wakes; gates that found the "
		      "signal blocked: %llu; displaced now: %lld\n",
		      (unsigned long long)m.ctl->kside.nr_handoffs,
		      (unsigned long long)m.ctl->kside.nr_gates,
		      (unsigned long long)m.ctl->kside.nr_spare_wakes,
		      (unsigned long long)m.ctl->nr_gate_blocked,
		      (long long)m.ctl->kside.nr_displaced);
	assert_true(m.ctl->kside.nr_handoffs > 0);
	assert_int_equal(m.ctl->nr_gate_blocked, 0);
	assert_int_equal(m.ctl->kside.nr_displaced, 0);
	bt_maps_close(&m);
	bt_loader_down();
}

static void test_bpf_stress_grace_period(void **state)
{
	char lout[4096];
	struct bt_maps m;
	int fd, rc;
	pid_t pid;

	bt_loader_down();
	rc = bt_loader_trace(lout, sizeof(lout), "--grace", "always", "--grace-ns", "30000");
	if (rc != 0)
		fail_msg("scx_greenhub --detach exited %d:\n%s", rc, lout);
	assert_int_equal(bt_maps_open(&m), 0);
	pid = start_stress(seconds(), &fd);
	assert_clean_run(finish_stress(pid, fd));
	print_message("grace: %llu sleeps ended within it, %llu handed off after it, %llu settled "
		      "at their return; displaced now %lld, graced now %lld\n",
		      (unsigned long long)m.ctl->nr_graced,
		      (unsigned long long)m.ctl->nr_late_handoffs,
		      (unsigned long long)m.ctl->nr_graced_at_return,
		      (long long)m.ctl->kside.nr_displaced, (long long)m.ctl->nr_grace_pending);
	assert_true(m.ctl->nr_late_handoffs > 0);
	/* A sleep settled at its return (its switch-in unseen: trace_grace.bpf.h, step 4) also
	 * ended within its grace period or was handed off after it: counted there too. */
	assert_true(m.ctl->nr_graced_at_return <= m.ctl->nr_graced + m.ctl->nr_late_handoffs);
	assert_int_equal(m.ctl->nr_gate_blocked, 0);
	assert_int_equal(m.ctl->nr_gate_late, 0);
	assert_int_equal(m.ctl->kside.nr_displaced, 0);
	assert_int_equal(m.ctl->nr_grace_pending, 0);
	bt_maps_close(&m);
	bt_loader_down();
}

static void test_bpf_stress_loader_sigkill_mid_run(void **state)
{
	struct bt_maps m;
	__u64 at_kill;
	int fd, lfd;
	pid_t pid, loader;

	bt_loader_down();
	loader = bt_loader_foreground(&lfd, "--mode", "trace");
	assert_int_equal(bt_maps_open(&m), 0);
	pid = start_stress(seconds() + 2, &fd);
	bt_sleep_ms(1500);
	kill(loader, SIGKILL);
	assert_int_equal(bt_wait(loader), 128 + SIGKILL);
	close(lfd);
	at_kill = m.ctl->kside.nr_handoffs;
	bt_sleep_ms(1500);
	/* The pinned programs outlive the loader: handoffs go on. */
	assert_true(m.ctl->kside.nr_handoffs > at_kill);
	assert_clean_run(finish_stress(pid, fd));
	bt_maps_close(&m);
	bt_loader_down();
}

static void test_bpf_stress_unload_mid_run(void **state)
{
	char stop_out[4096];
	int fd;
	pid_t pid;

	bt_loader_up();
	pid = start_stress(seconds() + 2, &fd);
	bt_sleep_ms(1500);
	assert_int_equal(bt_loader(stop_out, sizeof(stop_out), "--stop"), 0);
	assert_false(bt_loaded());
	assert_clean_run(finish_stress(pid, fd));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_stress_unmarked_calls),
		cmocka_unit_test(test_bpf_stress_grace_period),
		cmocka_unit_test(test_bpf_stress_loader_sigkill_mid_run),
		cmocka_unit_test(test_bpf_stress_unload_mid_run),
	};

	bt_require();
	if (access(BT_STRESS, X_OK) < 0) {
		fprintf(stderr, "%s is not built (make %s)\n", BT_STRESS, BT_STRESS);
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
