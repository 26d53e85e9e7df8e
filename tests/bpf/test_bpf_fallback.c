// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * When trace mode cannot run, a hub in mode auto runs in mode none and says why; one that asks
 * for trace mode fails with -EOPNOTSUPP and the same reason. The reasons: scx_greenhub is not
 * loaded; the process may not open its pins (not root); the thread that would carry the hub
 * blocks the gate signal; the application has its own handler for that signal. And every
 * carrier the runtime starts keeps the gate signal unblocked.
 *
 * The cases that need a fresh process (another uid, a handler installed before the runtime's)
 * run this binary again with --child <case>; the child exits 0 when the mode and the reason
 * are the expected ones, and prints the reason.
 */
#include "bpf_test.h"

#define NOBODY 65534

static void *nothing_main(void *arg)
{
	return NULL;
}

/* Run a hub in mode; its result, and its mode and reason. Also in a child, without cmocka. */
static int run_mode(enum gh_mode mode, enum gh_mode *got, char *why, size_t len)
{
	gh_hub *hub = bt_hub_new(mode);
	int err = hub ? gh_hub_run(hub, nothing_main, NULL, NULL) : -errno;

	*got = hub ? gh_hub_mode(hub) : mode;
	snprintf(why, len, "%s", hub ? gh_hub_mode_reason(hub) : "no hub");
	gh_hub_destroy(hub);
	return err;
}

#define assert_reason(why, what)                                                             \
	do {                                                                                 \
		if (!strstr(why, what))                                                      \
			fail_msg("expected \"%s\" in the reason: %s", what, why);             \
	} while (0)

static void test_bpf_fallback_no_loader(void **state)
{
	enum gh_mode mode;
	char why[256];

	bt_loader_down();
	assert_int_equal(run_mode(GH_MODE_AUTO, &mode, why, sizeof(why)), 0);
	assert_int_equal(mode, GH_MODE_NONE);
	assert_reason(why, "scx_greenhub is not running");
	assert_int_equal(run_mode(GH_MODE_TRACE, &mode, why, sizeof(why)), -EOPNOTSUPP);
	assert_reason(why, "scx_greenhub is not running");
	/* And with it loaded, the same hub gets trace mode. */
	bt_loader_up();
	assert_int_equal(run_mode(GH_MODE_AUTO, &mode, why, sizeof(why)), 0);
	assert_int_equal(mode, GH_MODE_TRACE);
	bt_loader_down();
}

static void test_bpf_fallback_blocked_gate_signal(void **state)
{
	enum gh_mode mode;
	sigset_t gate, old;
	char why[256];

	bt_loader_up();
	sigemptyset(&gate);
	sigaddset(&gate, GH_TRACE_SIGNO);
	pthread_sigmask(SIG_BLOCK, &gate, &old);
	assert_int_equal(run_mode(GH_MODE_AUTO, &mode, why, sizeof(why)), 0);
	assert_int_equal(mode, GH_MODE_NONE);
	assert_reason(why, "gate signal 62 is blocked");
	assert_int_equal(run_mode(GH_MODE_TRACE, &mode, why, sizeof(why)), -EOPNOTSUPP);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	bt_loader_down();
}

/* Every carrier of a trace hub, the runtime's spares included, has the gate signal open, and
 * otherwise the mask of the application's thread that ran the hub (SIGUSR2 blocked there). */
static void *check_masks_main(void *arg)
{
	struct bt_maps *m = arg;
	unsigned idx[4];
	char path[96], line[256];
	bool seen = false;
	FILE *f;
	pid_t spare;

	if (!check_true(bt_green_wait_spares(m, 1)) || !check_int_equal(bt_my_slots(m, idx, 4), 1))
		return NULL;
	spare = (pid_t)m->slots[idx[0]].spare_tid;
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)spare);
	f = fopen(path, "r");
	if (!check_non_null(f))
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long blk;

		if (sscanf(line, "SigBlk: %llx", &blk) == 1) {
			print_message("    spare %d blocks %#llx\n", (int)spare, blk);
			check_false(blk & (1ull << (GH_TRACE_SIGNO - 1)));
			check_true(blk & (1ull << (SIGUSR2 - 1)));
			seen = true;
		}
	}
	fclose(f);
	check_true(seen);
	return NULL;
}

static void test_bpf_fallback_spares_keep_gate_open(void **state)
{
	sigset_t usr2, old;
	struct bt_maps m;

	bt_loader_up();
	assert_int_equal(bt_maps_open(&m), 0);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &usr2, &old), 0);
	bt_run_trace(check_masks_main, &m);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
	bt_maps_close(&m);
	bt_loader_down();
}

/* ---------------------------------------------------------------------------------------- */
/* Fresh processes                                                                            */

static void on_app_signal(int sig)
{
}

static int child(const char *what)
{
	enum gh_mode mode;
	char why[256];
	int err;

	if (!strcmp(what, "handler")) {
		struct sigaction sa = { .sa_handler = on_app_signal };

		sigaction(GH_TRACE_SIGNO, &sa, NULL);
	}
	err = run_mode(GH_MODE_AUTO, &mode, why, sizeof(why));
	printf("mode %s, %d: %s\n", gh_mode_name(mode), err, why);
	if (err || mode != GH_MODE_NONE)
		return 1;
	if (!strcmp(what, "handler"))
		return strstr(why, "has another handler") ? 0 : 1;
	return strstr(why, "no permission") ? 0 : 1;
}

/* A copy of this binary that any user may run. */
static void copy_self(char *dir, char *path, size_t len)
{
	char cmd[512];

	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(path, len, "%s/test_bpf_fallback", dir);
	snprintf(cmd, sizeof(cmd), "cp /proc/%d/exe %s && chmod 755 %s", (int)getpid(), path, path);
	assert_int_equal(system(cmd), 0);
}

static void test_bpf_fallback_unprivileged_process(void **state)
{
	char dir[] = "/tmp/gh-bpf-fallback-XXXXXX", path[128], out[1024];
	int rc;

	bt_loader_up();
	copy_self(dir, path, sizeof(path));
	rc = bt_run_as(NOBODY, (const char *const[]){ path, "--child", "unprivileged", NULL }, out,
		       sizeof(out), 20000);
	print_message("    as nobody: %s", out);
	assert_int_equal(rc, 0);
	unlink(path);
	rmdir(dir);
	bt_loader_down();
}

static void test_bpf_fallback_application_handler(void **state)
{
	char out[1024];
	int rc;

	bt_loader_up();
	rc = bt_run_as(-1, (const char *const[]){ "/proc/self/exe", "--child", "handler", NULL },
		       out, sizeof(out), 20000);
	print_message("    with its own handler: %s", out);
	assert_int_equal(rc, 0);
	bt_loader_down();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_fallback_no_loader),
		cmocka_unit_test(test_bpf_fallback_blocked_gate_signal),
		cmocka_unit_test(test_bpf_fallback_spares_keep_gate_open),
		cmocka_unit_test(test_bpf_fallback_unprivileged_process),
		cmocka_unit_test(test_bpf_fallback_application_handler),
	};

	if (argc == 3 && !strcmp(argv[1], "--child"))
		return child(argv[2]);
	bt_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
