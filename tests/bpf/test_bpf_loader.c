// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * scx_greenhub's command line and its failures: each bad input, missing privilege or missing
 * kernel feature gives a clear message and its own exit status (docs/loader.md), and the
 * loader's own end (SIGTERM, SIGKILL) leaves the machine in a known state.
 *
 * Unprivileged runs use uid 65534 (nobody). "BPF disabled" is a seccomp filter that makes bpf()
 * fail with ENOSYS, as on a kernel built without it; "no BTF" is --btf pointing at a missing or
 * broken file.
 *
 * --stats --format openmetrics is checked with promtool (Debian's prometheus package, which
 * `make deps` installs), while a hub that handed off is attached, and so is what the systemd
 * unit of packaging/systemd runs for node_exporter's textfile collector.
 */
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <dirent.h>
#include <ftw.h>
#include <libgen.h>
#include <sys/prctl.h>

#include "bpf_test.h"
#include "promtool.h"

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
	assert_int_equal(bt_loader(out, sizeof(out), "--top", "--once", "--duration", "soon"), 2);
	assert_says("--duration wants seconds");
	assert_int_equal(bt_loader(out, sizeof(out), "--top", "--duration", "2"), 2);
	assert_says("--duration goes with --top --once");
	assert_int_equal(bt_loader(out, sizeof(out), "--top", "--stats"), 2);
	assert_int_equal(bt_loader(out, sizeof(out), "--top", "--detach"), 2);
	assert_int_equal(bt_loader(out, sizeof(out), "--top", "--stop"), 2);
	assert_int_equal(bt_loader(out, sizeof(out), "--top", "--mode", "trace"), 2);
	/* The grace options: trace mode takes them too, but only when loading. */
	assert_int_equal(bt_loader(out, sizeof(out), "--mode", "trace", "--grace", "sometimes"), 2);
	assert_says("--grace wants adaptive, always or never, not 'sometimes'");
	assert_int_equal(bt_loader(out, sizeof(out), "--mode", "trace", "--grace-ns", "0"), 2);
	assert_says("--grace-ns wants ns from 1 to 1000000000, not '0'");
	assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--grace", "always"), 2);
	assert_says("--grace and --grace-ns set how a mode loads");
	assert_int_equal(bt_loader(out, sizeof(out), "--mode", "trace", "--gate", "sometimes"), 2);
	assert_says("--gate wants auto, task-work, taker or sys-exit, not 'sometimes'");
	assert_int_equal(bt_loader(out, sizeof(out), "--mode", "trace", "--grace-timer", "tick"),
			 2);
	assert_says("--grace-timer wants auto, sleep or period, not 'tick'");
	/* How trace mode keeps its grace timers: trace mode's alone, and only at a load. */
	assert_int_equal(bt_loader(out, sizeof(out), "--grace-timer", "sleep"), 2);
	assert_says("--grace-timer sets how trace mode loads");
	assert_int_equal(bt_loader(out, sizeof(out), "--mode", "sched_ext", "--grace-timer",
				   "period"), 2);
	assert_says("--grace-timer sets how trace mode loads");
	assert_int_equal(bt_loader(out, sizeof(out), "--stop", "--grace-timer", "sleep"), 2);
	assert_says("--grace-timer sets how trace mode loads");
	/* The grace timers' head start is sched_ext mode's alone. */
	assert_int_equal(bt_loader(out, sizeof(out), "--mode", "trace", "--no-head-start"), 2);
	assert_says("--no-head-start sets how sched_ext mode loads");
	assert_int_equal(bt_loader(out, sizeof(out), "--no-head-start"), 2);
	assert_says("--no-head-start sets how sched_ext mode loads");
	assert_int_equal(bt_loader(out, sizeof(out), "--stop", "--no-head-start"), 2);
	assert_says("--no-head-start sets how sched_ext mode loads");
}

static void test_bpf_loader_not_running_fail(void **state)
{
	bt_loader_down();
	assert_int_equal(bt_loader(out, sizeof(out), "--stop"), 7);
	assert_says("not running");
	assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--once"), 7);
	assert_says("not running");
	assert_int_equal(bt_loader(out, sizeof(out), "--top", "--once"), 7);
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
	/* The return gate: the task works' map, and the sys_exit program's link where the kernel
	 * has no task work, or the taker's program where only a syscall program may arm one
	 * (docs/trace-mode.md). */
	assert_int_equal(access(GH_TRACE_PIN_DIR "/gates", F_OK), 0);
	if (access(GH_TRACE_PIN_DIR "/link_sys_exit", F_OK) < 0) {
		assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--once"), 0);
		assert_non_null(strstr(out, "return gate: task work"));
		if (strstr(out, "armed by the taker"))
			assert_int_equal(access(GH_TRACE_PIN_DIR "/" GH_TRACE_PIN_ARM_GATE, F_OK),
					 0);
	}
	assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--once"), 0);
	assert_int_equal(bt_loader(out, sizeof(out), "--stop"), 0);
	assert_int_equal(access(GH_TRACE_PIN_DIR, F_OK), -1);
}

/* --gate taker: loaded where the kernel takes the task-work kfunc from a syscall program (6.18
 * and later), refused by name elsewhere, with nothing pinned. */
static void test_bpf_loader_gate_taker_by_name(void **state)
{
	int rc;

	bt_loader_down();
	rc = bt_loader(out, sizeof(out), "--detach", "--mode", "trace", "--gate", "taker");
	if (rc == 4) {
		assert_says("--gate taker: ");
		assert_int_equal(access(GH_TRACE_PIN_DIR, F_OK), -1);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(access(GH_TRACE_PIN_DIR "/" GH_TRACE_PIN_ARM_GATE, F_OK), 0);
	assert_int_equal(access(GH_TRACE_PIN_DIR "/link_sys_exit", F_OK), -1);
	assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--once"), 0);
	assert_says("return gate: task work armed by the taker (--gate taker)");
	assert_says("taker-armed gate: ");
	bt_loader_down();
	assert_int_equal(access(GH_TRACE_PIN_DIR, F_OK), -1);
}

/* How trace mode keeps its grace timers: its own probe decides, and must be able to run
 * wherever trace mode loads; --grace-timer overrides it, by name. */
static void test_bpf_loader_grace_timer_probed_or_asked(void **state)
{
	const char *line;
	struct bt_maps m;

	bt_loader_down();
	assert_int_equal(bt_loader(out, sizeof(out), "--detach", "--mode", "trace"), 0);
	assert_says("grace timers: started ");
	/* The choice, on the console (the VM matrix's table shows it). */
	line = strstr(out, "grace timers: ");
	print_message("%.*s\n", (int)strcspn(line, "\n"), line);
	assert_int_equal(bt_maps_open(&m), 0);
	if (m.ctl->grace_timer_why == GH_TRACE_TIMER_AT_ONCE) {
		assert_int_equal(m.ctl->grace_timer, GH_TRACE_TIMER_PER_SLEEP);
		assert_says("grace timers: started at every graced sleep (a start from the "
			    "context-switch program arms it at once)");
	} else {
		assert_int_equal(m.ctl->grace_timer_why, GH_TRACE_TIMER_DEFERRED);
		assert_int_equal(m.ctl->grace_timer, GH_TRACE_TIMER_PER_PERIOD);
		assert_says("grace timers: started once per grace period (a start from the "
			    "context-switch program is deferred)");
	}
	bt_maps_close(&m);
	bt_loader_down();
	for (int i = 0; i < 2; i++) {
		const char *timer = i ? "period" : "sleep";

		assert_int_equal(bt_loader(out, sizeof(out), "--detach", "--mode", "trace",
					   "--grace-timer", timer), 0);
		assert_int_equal(bt_maps_open(&m), 0);
		assert_int_equal(m.ctl->grace_timer, i ? GH_TRACE_TIMER_PER_PERIOD
						       : GH_TRACE_TIMER_PER_SLEEP);
		assert_int_equal(m.ctl->grace_timer_why, GH_TRACE_TIMER_ASKED);
		bt_maps_close(&m);
		assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--once"), 0);
		assert_says(i ? "timers started once per grace period (--grace-timer period)"
			      : "timers started at every graced sleep (--grace-timer sleep)");
		bt_loader_down();
	}
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

/* ---------------------------------------------------------------------------------------- */
/* --format openmetrics                                                                       */

static char metrics[1 << 17];

static void test_bpf_loader_bad_format_fail(void **state)
{
	assert_int_equal(bt_loader(out, sizeof(out), "--stats", "--format", "xml"), 2);
	assert_says("--format wants text or openmetrics, not 'xml'");
	assert_int_equal(bt_loader(out, sizeof(out), "--format", "openmetrics"), 2);
	assert_says("--format with --stats");
	assert_int_equal(bt_loader(out, sizeof(out), "--format", "text", "--detach"), 2);
}

/* `promtool check metrics < path` exits 0: else fail with what it said and the file's start. */
static void assert_promtool_accepts(const char *promtool, const char *path)
{
	int rc = promtool_check_metrics(promtool, path, out, sizeof(out));

	if (rc != 0)
		fail_msg("promtool check metrics < %s exited %d:\n%s", path, rc, out);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* The value of the sample whose line begins with series (name{labels}); fails if none. */
static unsigned long long sample_value(const char *text, const char *series)
{
	size_t len = strlen(series);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line) {
		if (!strncmp(line, series, len) && line[len] == ' ')
			return strtoull(line + len + 1, NULL, 10);
	}
	fail_msg("no sample %s in:\n%s", series, text);
	return 0;
}

/* The series name{labels} of this process's hub in slot, with le="+Inf" if inf: in buf. */
static const char *hub_series(char *buf, size_t len, const char *name, unsigned slot, bool inf)
{
	snprintf(buf, len, "%s{mode=\"trace\",hub=\"%u\",pid=\"%d\"%s}", name, slot, getpid(),
		 inf ? ",le=\"+Inf\"" : "");
	return buf;
}

struct blocking_hub {
	struct bt_ticked t;	/* first: bt_ticked_main is given it */
	atomic_bool calls_done; /* the hub has handed off: --stats may look */
	atomic_bool release;	/* the test has looked: the hub may end */
};

#define BLOCKING_CALLS 3
#define KERNEL_SIDE_RUNNING "greenhub_kernel_side_info{mode=\"trace\",state=\"running\"}"

/* In the hub: a few unmarked sleeps, each handed off, then stay attached until released. */
static void blocking_calls(struct bt_ticked *t)
{
	struct blocking_hub *b = (struct blocking_hub *)t;
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 20 * 1000000L };

	for (int i = 0; i < BLOCKING_CALLS; i++) {
		check_int_equal(nanosleep(&ts, NULL), 0);
		/* A spare is parked again before the next call, so that it hands off too. */
		check_true(bt_green_wait_spares(&t->maps, 1));
	}
	atomic_store(&b->calls_done, true);
	for (int i = 0; i < 60000 && !atomic_load(&b->release); i++)
		gh_sleep_until(gh_now() + 1000000);
}

/* Wait up to 60 s for flag, on cmocka's thread. */
static bool wait_flag(atomic_bool *flag)
{
	for (int i = 0; i < 60000 && !atomic_load(flag); i++)
		bt_sleep_ms(1);
	return atomic_load(flag);
}

/* The metrics of trace mode with one attached hub that handed off: promtool accepts them, the
 * hub's samples carry its labels and its handoffs, and each histogram's +Inf bucket is its
 * count. */
static void test_bpf_loader_stats_openmetrics(void **state)
{
	const char *promtool = promtool_path();
	char path[] = "/tmp/gh-bpf-metrics-XXXXXX", series[160];
	struct blocking_hub *b = calloc(1, sizeof(*b));
	struct bt_hub_thread hub;
	unsigned idx[GH_MAX_HUBS], slot, inf, count;
	unsigned long long handoffs;
	int rc, fd;

	assert_non_null(b);
	b->t.call = blocking_calls;
	bt_loader_up();
	assert_int_equal(bt_maps_open(&b->t.maps), 0);
	bt_hub_thread_start(&hub, bt_ticked_main, &b->t);
	if (!wait_flag(&b->calls_done))
		fail_msg("the hub did not make its calls in 60 s");
	assert_int_equal(bt_my_slots(&b->t.maps, idx, GH_MAX_HUBS), 1);
	slot = idx[0];
	rc = bt_loader(metrics, sizeof(metrics), "--stats", "--once", "--format", "openmetrics");
	atomic_store(&b->release, true);
	bt_hub_thread_join(&hub);
	if (rc != 0)
		fail_msg("--stats --format openmetrics exited %d:\n%s", rc, metrics);

	/* The hub's own samples, labelled. */
	handoffs = sample_value(metrics, hub_series(series, sizeof(series),
						    "greenhub_hub_handoffs_total", slot, false));
	assert_true(handoffs >= BLOCKING_CALLS);
	assert_true(sample_value(metrics, "greenhub_handoffs_total{mode=\"trace\"}") >=
		    BLOCKING_CALLS);
	assert_int_equal(sample_value(metrics, "greenhub_attached_hubs{mode=\"trace\"}"), 1);
	assert_int_equal(sample_value(metrics, KERNEL_SIDE_RUNNING), 1);
	/* The histograms: +Inf is the count, and the spares woken were timed. */
	inf = sample_value(metrics, "greenhub_handoff_latency_seconds_bucket{mode=\"trace\","
				    "le=\"+Inf\"}");
	count = sample_value(metrics, "greenhub_handoff_latency_seconds_count{mode=\"trace\"}");
	assert_int_equal(inf, count);
	assert_true(count >= 1);
	print_message("    hub %u: %llu handoffs, %u latencies in the histogram\n", slot, handoffs,
		      count);
	inf = sample_value(metrics,
			   hub_series(series, sizeof(series),
				      "greenhub_hub_handoff_latency_seconds_bucket", slot, true));
	assert_int_equal(inf, sample_value(metrics,
					   hub_series(series, sizeof(series),
						      "greenhub_hub_handoff_latency_seconds_count",
						      slot, false)));
	assert_non_null(strstr(metrics, "# TYPE greenhub_handoff_latency_seconds histogram\n"));
	assert_non_null(strstr(metrics, "le=\"1e-06\"}"));
	assert_int_equal(strcmp(metrics + strlen(metrics) - 6, "# EOF\n"), 0);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, metrics);
	bt_maps_close(&b->t.maps);
	bt_loader_down();
	free(b);
	if (!promtool) {
		unlink(path);
		print_message("    %s: the metrics were not checked with it\n", NO_PROMTOOL);
		skip();
	}
	assert_promtool_accepts(promtool, path);
	unlink(path);
}

#define METRICS_UNIT GH_SOURCE_DIR "/packaging/systemd/greenhub-metrics.service"
#define METRICS_SCRIPT GH_SOURCE_DIR "/tools/greenhub-metrics-textfile"
#define NO_SOURCE_TREE METRICS_SCRIPT " is not here (not run from the source tree)"

/* The unit's ExecStart, split in words into words (at most max, in buf); how many. */
static int unit_exec_start(char *buf, size_t len, char **words, int max)
{
	FILE *f = fopen(METRICS_UNIT, "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	buf[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "ExecStart=", 10))
			snprintf(buf, len, "%s", line + 10);
	fclose(f);
	for (char *w = strtok(buf, " \t\n"); w && n < max; w = strtok(NULL, " \t\n"))
		words[n++] = w;
	return n;
}

/* In the child, before exec: the unit's script finds this build's loader. */
static void script_env(void)
{
	if (setenv("SCX_GREENHUB", BT_LOADER, 1))
		_exit(125);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* The count of entries in dir, but . and .. */
static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/*
 * What greenhub-metrics.service runs (its ExecStart: the script and the textfile directory),
 * with a directory of the test's instead: it leaves greenhub.prom there, alone, and promtool
 * accepts it; with nothing loaded it removes the file and succeeds.
 */
static void test_bpf_loader_metrics_textfile_unit(void **state)
{
	const char *promtool = promtool_path();
	char dir[] = "/tmp/gh-bpf-textfile-XXXXXX", exec[512], prom[300], *words[8];
	const char *argv[3];
	int n;

	if (!promtool || access(METRICS_SCRIPT, X_OK) < 0) {
		print_message("    %s: the textfile unit was not checked\n",
			      promtool ? NO_SOURCE_TREE : NO_PROMTOOL);
		skip();
	}
	n = unit_exec_start(exec, sizeof(exec), words, 8);
	assert_int_equal(n, 2);
	assert_string_equal(basename(words[0]), "greenhub-metrics-textfile");
	assert_non_null(mkdtemp(dir));
	snprintf(prom, sizeof(prom), "%s/greenhub.prom", dir);
	argv[0] = METRICS_SCRIPT;
	argv[1] = dir; /* in place of words[1] */
	argv[2] = NULL;

	bt_loader_up();
	if (bt_run_ex(-1, script_env, argv, out, sizeof(out), 60000) != 0)
		fail_msg("%s %s failed:\n%s", argv[0], dir, out);
	assert_int_equal(dir_entries(dir), 1);
	assert_promtool_accepts(promtool, prom);
	/* Nothing loaded: no stale file, and no failure. */
	bt_loader_down();
	if (bt_run_ex(-1, script_env, argv, out, sizeof(out), 60000) != 0)
		fail_msg("%s %s with nothing loaded failed:\n%s", argv[0], dir, out);
	assert_int_equal(access(prom, F_OK), -1);
	assert_int_equal(nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
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
		cmocka_unit_test(test_bpf_loader_gate_taker_by_name),
		cmocka_unit_test(test_bpf_loader_grace_timer_probed_or_asked),
		cmocka_unit_test(test_bpf_loader_maps_carry_btf),
		cmocka_unit_test(test_bpf_loader_bad_format_fail),
		cmocka_unit_test(test_bpf_loader_stats_openmetrics),
		cmocka_unit_test(test_bpf_loader_metrics_textfile_unit),
	};

	bt_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
