// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * scx_greenhub's command line and its failures: each bad input, missing privilege or missing
 * kernel feature gives a clear message and its own exit status (docs/loader.md), and the
 * loader's own end (SIGTERM, SIGKILL) leaves the machine in a known state.
 *
 * Unprivileged runs use uid 65534 (nobody). "BPF disabled" is a seccomp filter that makes bpf()
 * fail with ENOSYS, as on a kernel built without it; "no BTF" is --btf pointing at a missing or
 * broken file.
 */
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>

#include "bpf_test.h"

#define NOBODY 65534

static char out[16384];

/* The output must mention what. */
#define assert_says(what)                                                                    \
	do {                                                                                 \
		if (!strstr(out, what))                                                      \
			fail_msg("expected \"%s\" in:\n%s", what, out);                       \
	} while (0)

static void test_bpf_loader_help_and_version(void **state)
{
	assert_int_equal(bt_loader(out, sizeof(out), "--help"), 0);
	assert_says("Usage: scx_greenhub");
	assert_says("--stop");
	assert_int_equal(bt_loader(out, sizeof(out), "--version"), 0);
	assert_says("scx_greenhub 0.1.0");
}

static void test_bpf_loader_bad_input_fail(void **state)
{
	assert_int_equal(bt_loader(out, sizeof(out), "--bogus"), 2);
	assert_int_equal(bt_loader(out, sizeof(out), "--interval", "soon", "--stats"), 2);
	assert_says("--interval wants seconds");
	assert_int_equal(bt_loader(out, sizeof(out), "--timeout", "-5", "--stop"), 2);
	assert_int_equal(bt_loader(out, sizeof(out), "--mode", "fast"), 2);
	assert_says("unknown mode 'fast'");
	assert_int_equal(bt_loader(out, sizeof(out), "extra"), 2);
	assert_says("unexpected argument 'extra'");
	assert_int_equal(bt_loader(out, sizeof(out), "--force"), 2);
	assert_int_equal(bt_loader(out, sizeof(out), "--stop", "--detach"), 2);
}

static void test_bpf_loader_not_running_fail(void **state)
{
	bt_loader_down();
	assert_int_equal(bt_loader(out, sizeof(out), "--stop"), 7);
	assert_says("not running");
	assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--once"), 7);
	assert_says("not running");
}

static void test_bpf_loader_unprivileged_fail(void **state)
{
	const char *const load[] = { BT_LOADER, "--detach", NULL };
	const char *const stats[] = { BT_LOADER, "--stats", "--once", NULL };
	const char *const stop[] = { BT_LOADER, "--stop", NULL };

	bt_loader_down();
	assert_int_equal(bt_run_as(NOBODY, load, out, sizeof(out), 20000), 3);
	assert_says("needs root");
	bt_loader_up();
	assert_int_equal(bt_run_as(NOBODY, stats, out, sizeof(out), 20000), 3);
	assert_says("permission denied");
	assert_int_equal(bt_run_as(NOBODY, stop, out, sizeof(out), 20000), 3);
	assert_true(bt_loaded());
	bt_loader_down();
}

/* In the child, before exec: become nobody, keeping CAP_BPF and CAP_PERFMON (ambient, so that
 * they survive the exec), as docs/loader.md once said would do. */
static void become_nobody_with_bpf_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	const int caps[] = { 38 /* CAP_PERFMON */, 39 /* CAP_BPF */ };

	if (prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		_exit(125);
	memset(d, 0, sizeof(d));
	for (int i = 0; i < 2; i++) {
		d[caps[i] / 32].effective |= 1u << (caps[i] % 32);
		d[caps[i] / 32].permitted |= 1u << (caps[i] % 32);
		d[caps[i] / 32].inheritable |= 1u << (caps[i] % 32);
	}
	if (syscall(SYS_capset, &h, d))
		_exit(124);
	for (int i = 0; i < 2; i++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, caps[i], 0, 0))
			_exit(123);
}

/* Capabilities enough to load, but not to pin: refused up front, as a matter of privilege,
 * instead of loading everything and failing at the pin. */
static void test_bpf_loader_caps_without_pin_access_fail(void **state)
{
	const char *const load[] = { BT_LOADER, "--detach", NULL };
	struct stat st;

	bt_loader_down();
	/* The premise: the pin root is root's, as systemd mounts it (mode 0700). */
	assert_int_equal(stat("/sys/fs/bpf", &st), 0);
	if (st.st_uid != 0 || (st.st_mode & 0022)) {
		print_message("    /sys/fs/bpf is mode %o, owner %u: anyone may pin there\n",
			      (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
		skip();
	}
	assert_int_equal(bt_run_ex(-1, become_nobody_with_bpf_caps, load, out, sizeof(out), 20000),
			 3);
	assert_says("cannot create pins in /sys/fs/bpf");
	assert_false(bt_loaded());
}

static void test_bpf_loader_already_running_fail(void **state)
{
	bt_loader_up();
	assert_int_equal(bt_loader(out, sizeof(out), "--detach"), 5);
	assert_says("already running");
	assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--once"), 0);
	assert_says("trace mode, running");
	bt_loader_down();
	assert_false(bt_loaded());
}

/* Pin a control map that says it is of slot ABI 999 where the loader pins its own. */
static void pin_foreign_control(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	struct gh_trace_control ctl = { .kside = { .magic = GH_TRACE_MAGIC,
						   .slot_abi = 999,
						   .abi = 999,
						   .state = GH_TRACE_RUNNING,
						   .mode = GH_MODE_TRACE } };
	__u32 zero = 0;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "control", sizeof(__u32), sizeof(ctl), 1, &opts);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_update_elem(fd, &zero, &ctl, 0), 0);
	assert_true(mkdir(GH_TRACE_PIN_DIR, 0700) == 0 || errno == EEXIST);
	assert_int_equal(bpf_obj_pin(fd, GH_TRACE_PIN_DIR "/control"), 0);
	close(fd);
}

static void *probe_main(void *arg)
{
	return NULL;
}

static void test_bpf_loader_incompatible_version_fail(void **state)
{
	struct gh_hub_opts o;
	struct gh_hub *hub;

	bt_loader_down();
	pin_foreign_control();
	assert_int_equal(bt_loader(out, sizeof(out), "--detach"), 6);
	assert_says("another greenhub version");
	assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--once"), 6);
	assert_int_equal(bt_loader(out, sizeof(out), "--stop"), 6);
	assert_says("--force");
	/* The runtime refuses it too, and says why. */
	gh_hub_opts_init(&o);
	o.mode = GH_MODE_TRACE;
	hub = gh_hub_create(&o);
	assert_non_null(hub);
	assert_int_equal(gh_hub_run(hub, probe_main, NULL, NULL), -EOPNOTSUPP);
	if (!strstr(gh_hub_mode_reason(hub), "another version"))
		fail_msg("reason: %s", gh_hub_mode_reason(hub));
	gh_hub_destroy(hub);
	assert_int_equal(bt_loader(out, sizeof(out), "--stop", "--force"), 0);
	assert_int_equal(access(GH_TRACE_PIN_DIR, F_OK), -1);
}

static void test_bpf_loader_leftovers_of_interrupted_load(void **state)
{
	int fd;

	bt_loader_down();
	/* What a loader killed while pinning leaves: some maps, no control map. */
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "slots", sizeof(__u32), 8, 1, NULL);
	assert_true(fd >= 0);
	assert_true(mkdir(GH_TRACE_PIN_DIR, 0700) == 0 || errno == EEXIST);
	assert_int_equal(bpf_obj_pin(fd, GH_TRACE_PIN_DIR "/slots"), 0);
	close(fd);
	assert_int_equal(bt_loader(out, sizeof(out), "--detach"), 5);
	assert_says("interrupted load");
	assert_int_equal(bt_loader(out, sizeof(out), "--stop"), 0);
	assert_int_equal(access(GH_TRACE_PIN_DIR, F_OK), -1);
	bt_loader_up();
	bt_loader_down();
}

static void test_bpf_loader_no_btf_fail(void **state)
{
	char path[] = "/tmp/gh-bpf-btf-XXXXXX";
	int fd;

	bt_loader_down();
	assert_int_equal(bt_loader(out, sizeof(out), "--detach", "--btf", "/nonexistent/vmlinux"),
			 4);
	assert_says("no kernel BTF");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not BTF at all", 14), 14);
	close(fd);
	assert_int_equal(bt_loader(out, sizeof(out), "--detach", "--btf", path), 4);
	assert_says("no kernel BTF");
	unlink(path);
	assert_false(bt_loaded());
}

/* In the child, before exec: bpf() fails with ENOSYS from now on. */
static void deny_bpf(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bpf, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		_exit(125);
}

static void test_bpf_loader_bpf_disabled_fail(void **state)
{
	const char *const load[] = { BT_LOADER, "--detach", NULL };

	bt_loader_down();
	assert_int_equal(bt_run_ex(-1, deny_bpf, load, out, sizeof(out), 20000), 4);
	assert_says("BPF is disabled");
	assert_false(bt_loaded());
}

static void test_bpf_loader_sigterm_unloads(void **state)
{
	int fd = -1;
	pid_t pid;

	bt_loader_down();
	pid = bt_loader_foreground(&fd, "--mode", "trace");
	kill(pid, SIGTERM);
	assert_int_equal(bt_wait(pid), 0);
	close(fd);
	assert_int_equal(access(GH_TRACE_PIN_DIR, F_OK), -1);
}

static void test_bpf_loader_stop_asks_foreground_loader(void **state)
{
	int fd = -1;
	pid_t pid;

	bt_loader_down();
	pid = bt_loader_foreground(&fd, "--mode", "trace");
	assert_int_equal(bt_loader(out, sizeof(out), "--stop"), 0);
	assert_int_equal(bt_wait(pid), 0);
	close(fd);
	assert_int_equal(access(GH_TRACE_PIN_DIR, F_OK), -1);
}

static void test_bpf_loader_sigkill_keeps_kernel_side(void **state)
{
	int fd = -1;
	pid_t pid;

	bt_loader_down();
	pid = bt_loader_foreground(&fd, "--mode", "trace");
	kill(pid, SIGKILL);
	assert_int_equal(bt_wait(pid), 128 + SIGKILL);
	close(fd);
	/* The pins (and the links they hold) outlive the loader. */
	assert_true(bt_loaded());
	assert_int_equal(access(GH_TRACE_PIN_DIR "/link_switch", F_OK), 0);
	/* The return gate: the task works' map, or the sys_exit program's link where the kernel
	 * has no task work (docs/trace-mode.md). */
	assert_int_equal(access(GH_TRACE_PIN_DIR "/gates", F_OK), 0);
	if (access(GH_TRACE_PIN_DIR "/link_sys_exit", F_OK) < 0) {
		assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--once"), 0);
		assert_non_null(strstr(out, "return gate: task work"));
	}
	assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--once"), 0);
	assert_int_equal(bt_loader(out, sizeof(out), "--stop"), 0);
	assert_int_equal(access(GH_TRACE_PIN_DIR, F_OK), -1);
}

static void test_bpf_loader_maps_carry_btf(void **state)
{
	const char *const dump[] = { "/usr/sbin/bpftool", "map", "dump", "pinned",
				     GH_TRACE_PIN_DIR "/control", NULL };

	if (access(dump[0], X_OK) < 0)
		skip();
	bt_loader_up();
	assert_int_equal(bt_run_as(-1, dump, out, sizeof(out), 20000), 0);
	assert_says("\"nr_handoffs\"");
	assert_says("\"handoff_latency\"");
	bt_loader_down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_loader_help_and_version),
		cmocka_unit_test(test_bpf_loader_bad_input_fail),
		cmocka_unit_test(test_bpf_loader_not_running_fail),
		cmocka_unit_test(test_bpf_loader_unprivileged_fail),
		cmocka_unit_test(test_bpf_loader_caps_without_pin_access_fail),
		cmocka_unit_test(test_bpf_loader_already_running_fail),
		cmocka_unit_test(test_bpf_loader_incompatible_version_fail),
		cmocka_unit_test(test_bpf_loader_leftovers_of_interrupted_load),
		cmocka_unit_test(test_bpf_loader_no_btf_fail),
		cmocka_unit_test(test_bpf_loader_bpf_disabled_fail),
		cmocka_unit_test(test_bpf_loader_sigterm_unloads),
		cmocka_unit_test(test_bpf_loader_stop_asks_foreground_loader),
		cmocka_unit_test(test_bpf_loader_sigkill_keeps_kernel_side),
		cmocka_unit_test(test_bpf_loader_maps_carry_btf),
	};

	bt_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
