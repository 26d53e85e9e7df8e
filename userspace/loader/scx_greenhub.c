// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * scx_greenhub: loads greenhub's kernel side, pins it in the BPF filesystem, reports
 * statistics and unloads it cleanly. docs/loader.md is its manual.
 *
 * This file is the driver, and knows no mode: the modes are table entries (struct
 * loader_mode), and everything a mode does, it does through its hooks. The flow (as the
 * kernel's tools/sched_ext loaders): check the machine, pick the mode, then open -> set rodata
 * -> load -> attach -> pin (the mode's start), wait for SIGINT/SIGTERM (the mode's poll says
 * whether its kernel side is still there), report why it stops, and drain -> unpin -> destroy
 * (the mode's stop), with one cleanup path. Everything is pinned, so the loader itself may
 * die: `--stop` unloads from the pins, and `--stats` reads them, through the hooks of the mode
 * whose pins exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "greenhub/scx.h"
#include "loader.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif

volatile int loader_interrupted;
/* SIGINT, SIGTERM and SIGHUP: blocked, and taken with sigtimedwait in loader_sleep. */
static sigset_t exit_signals;

/* Every mode this loader knows, best first: the order auto mode tries them in, which is also
 * the order the runtime's automatic choice takes (userspace/lib/backend.c). */
static const struct loader_mode *const modes[] = { &loader_mode_scx, &loader_mode_trace, NULL };

/* ---------------------------------------------------------------------------------------- */
/* Messages, time, files                                                                      */

void loader_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("scx_greenhub: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void loader_info(const char *fmt, ...)
{
	va_list ap;

	fputs("scx_greenhub: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

uint64_t loader_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *loader_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return buf;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

bool loader_btf_has_func(const struct btf *btf, const char *name)
{
	return btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) >= 0;
}

void loader_sleep(double seconds)
{
	struct timespec ts = { .tv_sec = (time_t)seconds,
			       .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9) };

	if (sigtimedwait(&exit_signals, NULL, &ts) > 0)
		loader_interrupted++;
}

/* ---------------------------------------------------------------------------------------- */
/* The machine                                                                                */

static bool has_cap(const struct __user_cap_data_struct d[2], int cap)
{
	return d[cap / 32].effective & (1u << (cap % 32));
}

/* Root enough to load tracing programs and pin them: CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN. */
static bool privileged(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return geteuid() == 0;
	return has_cap(d, CAP_SYS_ADMIN) || (has_cap(d, CAP_BPF) && has_cap(d, CAP_PERFMON));
}

/* 0, or EXIT_UNSUPPORTED with the reason printed. */
static int check_bpf(void)
{
	/* An invalid command: EINVAL if the system call exists, ENOSYS if BPF is compiled out
	 * (or filtered away by seccomp). */
	if (syscall(SYS_bpf, -1, NULL, 0) < 0 && errno == ENOSYS) {
		loader_err("BPF is disabled: this kernel has no bpf() system call "
			   "(CONFIG_BPF_SYSCALL), or a seccomp filter hides it");
		return EXIT_UNSUPPORTED;
	}
	return 0;
}

static void scan_features(const struct loader_opts *o, struct loader_features *f)
{
	struct utsname u;
	struct btf *btf;
	FILE *cpu;
	char line[4096];

	memset(f, 0, sizeof(*f));
	if (!uname(&u))
		snprintf(f->kernel, sizeof(f->kernel), "Linux %s", u.release);
	btf = o->btf_path ? btf__parse(o->btf_path, NULL) : btf__load_vmlinux_btf();
	if (btf) {
		f->bits |= GH_TRACE_F_BTF;
		for (size_t i = 0; modes[i]; i++)
			modes[i]->scan(btf, &f->bits);
		btf__free(btf);
	}
	cpu = fopen("/proc/cpuinfo", "r");
	while (cpu && fgets(line, sizeof(line), cpu)) {
		if (strncmp(line, "flags", 5))
			continue;
		if (strstr(line, " fred ") || strstr(line, " fred\n"))
			f->bits |= GH_TRACE_F_FRED;
		break;
	}
	if (cpu)
		fclose(cpu);
}

static void print_features(const struct loader_features *f)
{
	static const struct {
		uint64_t bit;
		const char *name;
	} names[] = {
		{ GH_TRACE_F_BTF, "BTF" },
		{ GH_TRACE_F_TASK_STORAGE, "task storage" },
		{ GH_TRACE_F_RINGBUF, "ring buffers" },
		{ GH_TRACE_F_SCHED_EXT, "sched_ext" },
		{ GH_TRACE_F_FRED, "FRED" },
		{ GH_TRACE_F_TASK_WORK, "task-work kfunc" },
	};
	char buf[256] = "";
	size_t used = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n = snprintf(buf + used, sizeof(buf) - used, "%s%s%s", used ? ", " : "",
				 names[i].name, f->bits & names[i].bit ? "" : " (no)");

		if (n > 0 && (size_t)n < sizeof(buf) - used)
			used += (size_t)n;
	}
	loader_info("kernel %s; features: %s", f->kernel, buf);
}

/* Make sure a BPF filesystem is mounted where the pins go. */
static int ensure_bpffs(void)
{
	struct statfs fs;

	if (statfs(LOADER_PIN_ROOT, &fs) == 0 && fs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", LOADER_PIN_ROOT, "bpf", 0, "mode=0700") < 0) {
		loader_err("no BPF filesystem on %s, and mounting one failed: %s",
			   LOADER_PIN_ROOT, strerror(errno));
		return EXIT_FAIL;
	}
	loader_info("mounted a BPF filesystem on %s", LOADER_PIN_ROOT);
	return 0;
}

/*
 * The capabilities to load are not all it takes: the pins go in a folder of the BPF filesystem,
 * which only root can write by default (a process with CAP_BPF and CAP_PERFMON alone, as
 * another user, would load everything and then fail to pin it). 0, or EXIT_NOPERM with the
 * message printed. A BPF filesystem not mounted yet is ensure_bpffs()'s business.
 */
static int check_pin_root(void)
{
	struct statfs fs;

	if (statfs(LOADER_PIN_ROOT, &fs) < 0 || fs.f_type != BPF_FS_MAGIC)
		return 0;
	if (faccessat(AT_FDCWD, LOADER_PIN_ROOT, W_OK | X_OK, AT_EACCESS) == 0)
		return 0;
	loader_err("cannot create pins in %s (%s): run as root, or as a user that may write "
		   "there (CAP_DAC_OVERRIDE, or ownership of the folder)",
		   LOADER_PIN_ROOT, strerror(errno));
	return EXIT_NOPERM;
}

/* ---------------------------------------------------------------------------------------- */
/* Choosing and loading a mode                                                                */

/*
 * What keeps modes[i] from loading: 0 nothing, else an exit status (message printed). A mode
 * does not load while it, or a mode after it, is pinned: hubs that choose automatically take
 * the best mode pinned, so a better mode loaded over a lesser one would take new hubs from it.
 * A lesser mode may load beside a better one; it serves the hubs that ask for it.
 */
static int check_pins(size_t i)
{
	size_t n = i;
	int status = 0;

	while (modes[n])
		n++;
	/* From the last mode back to modes[i]. */
	while (!status && n-- > i)
		status = loader_check_pins(modes[n]);
	return status;
}

void loader_record_refusal(const char *reason)
{
	char tmp[] = GH_LOADER_REFUSED ".XXXXXX";
	struct utsname u;
	FILE *f;
	int fd;

	if (mkdir(GH_LOADER_STATE_DIR, 0755) < 0 && errno != EEXIST)
		return; /* a report for the runtime, not worth failing over */
	fd = mkstemp(tmp);
	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return;
	}
	fprintf(f, "Linux %s: %s\n", uname(&u) == 0 ? u.release : "?", reason);
	if (fchmod(fd, 0644) < 0 || fclose(f) != 0 || rename(tmp, GH_LOADER_REFUSED) < 0)
		unlink(tmp);
}

void loader_clear_refusal(void)
{
	unlink(GH_LOADER_REFUSED);
}

/* Start modes[i] if this machine can run it: 0, or an exit status (EXIT_UNSUPPORTED: the
 * kernel cannot run it, why says why). */
static int start_mode(size_t i, const struct loader_opts *o, const struct loader_features *f,
		      void **state, char *why, size_t len)
{
	int status;

	why[0] = '\0';
	status = modes[i]->probe(o, f, why, len);
	if (!status)
		status = ensure_bpffs();
	if (!status)
		status = check_pins(i);
	if (!status)
		status = modes[i]->start(o, f, state, why, len);
	return status;
}

/*
 * Probe and start the mode asked for, or each mode best first: 0 with the mode started, or an
 * exit status with the reasons printed. A mode the kernel refuses (its probe, or its programs
 * at load time) gives way to the next one in auto mode; asked for by name, it is an error.
 */
static int load_a_mode(const struct loader_opts *o, const struct loader_features *f,
		       const struct loader_mode *asked, const struct loader_mode **modep,
		       void **state)
{
	/* all: what GH_LOADER_REFUSED holds after "Linux <release>: " (release: 64 at most) */
	char why[320], all[GH_LOADER_REFUSED_MAX - 96] = "";
	size_t used = 0;
	int status = EXIT_UNSUPPORTED;

	for (size_t i = 0; modes[i]; i++) {
		const struct loader_mode *m = modes[i];

		if (asked && m != asked)
			continue;
		status = start_mode(i, o, f, state, why, sizeof(why));
		if (!status) {
			*modep = m;
			if ((o->grace_policy || o->grace_ns) && !(m->takes & LOADER_TAKES_GRACE))
				loader_info("%s mode has no grace period: --grace and --grace-ns "
					    "do not apply", m->name);
			return 0;
		}
		if (status != EXIT_UNSUPPORTED)
			return status; /* a failure, not the kernel's refusal */
		if (asked)
			loader_err("%s mode cannot run here: %s", m->name, why);
		else
			loader_info("%s mode cannot run here: %s", m->name, why);
		if (used < sizeof(all)) {
			int n = snprintf(all + used, sizeof(all) - used, "%s%s mode: %s",
					 used ? "; " : "", m->name, why);

			if (n > 0)
				used += (size_t)n;
		}
	}
	/* Only a kernel that can run no mode at all is worth telling the runtime about. */
	if (!asked) {
		loader_err("no kernel-assist mode can run on this kernel");
		loader_record_refusal(all);
	}
	return status;
}

/* ---------------------------------------------------------------------------------------- */
/* From the pins                                                                              */

/* The mode --stop and --stats act on: the first whose pins exist; else the last, whose hooks
 * then say that nothing is pinned. */
static const struct loader_mode *pinned_mode(void)
{
	size_t i = 0;

	while (modes[i + 1] && access(modes[i]->pins->dir, F_OK) < 0)
		i++;
	return modes[i];
}

static int denied(const char *dir)
{
	loader_err("permission denied looking at %s: run as root", dir);
	return EXIT_NOPERM;
}

static int run_stop(const struct loader_opts *o)
{
	const struct loader_mode *m = pinned_mode();
	int status;

	if (access(m->pins->dir, F_OK) < 0) {
		if (errno == EACCES)
			return denied(m->pins->dir);
		loader_err("not running: nothing is pinned at %s", m->pins->dir);
		return EXIT_NOT_RUNNING;
	}
	if (!privileged()) {
		loader_err("--stop needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)");
		return EXIT_NOPERM;
	}
	status = m->stop_pinned(o);
	if (!status)
		loader_info("unloaded");
	return status;
}

/* One report of --stats in the format asked for: 0, or EXIT_FAIL (message printed). */
static int print_report(const struct loader_mode *m, const struct loader_view *v,
			const struct loader_opts *o)
{
	int err;

	if (o->format == LOADER_FORMAT_TEXT) {
		m->print_stats(v);
		return 0;
	}
	/* A metrics file half written must not pass for a whole one: its writer (a pipe, a
	 * file renamed into place) sees the failure in the status. */
	err = loader_print_metrics(m, v);
	if (err) {
		loader_err("writing the metrics to stdout: %s", strerror(err));
		return EXIT_FAIL;
	}
	return 0;
}

static int run_stats(const struct loader_opts *o)
{
	const struct loader_mode *m = pinned_mode();
	struct loader_view v;
	int status;

	if (access(m->pins->dir, F_OK) < 0 && errno == EACCES)
		return denied(m->pins->dir);
	status = loader_view_open(m, &v);
	if (status)
		return status;
	do {
		status = print_report(m, &v, o);
		if (status || o->once)
			break;
		loader_sleep(o->interval);
	} while (!loader_interrupted && loader_control_pinned(m->pins));
	loader_view_close(m, &v);
	return status;
}

static int run_top(const struct loader_opts *o)
{
	const struct loader_mode *m = pinned_mode();

	if (access(m->pins->dir, F_OK) < 0 && errno == EACCES)
		return denied(m->pins->dir);
	return loader_run_top(m, o);
}

static int run_record(const struct loader_opts *o)
{
	const struct loader_mode *m = pinned_mode();

	if (access(m->pins->dir, F_OK) < 0 && errno == EACCES)
		return denied(m->pins->dir);
	return loader_run_record(m, o);
}

/* ---------------------------------------------------------------------------------------- */
/* The command line                                                                           */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: scx_greenhub [OPTION]...\n"
		"Load greenhub's kernel side and keep it loaded until SIGINT or SIGTERM: green\n"
		"threads that block in unmarked system calls then no longer stall their hub.\n"
		"\n"
		"  -m, --mode MODE     auto (default: the best this kernel can run), sched_ext\n"
		"                      or trace\n"
		"  -d, --detach        load, pin and exit; `scx_greenhub --stop` unloads\n"
		"  -s, --stats         print the loaded side's live statistics until Ctrl-C\n"
		"  -i, --interval SEC  seconds between statistics or --top reports (default 1)\n"
		"      --top           show what blocks: per process and hub, then the green\n"
		"                      threads that blocked the most, from the kernel side's\n"
		"                      block records (docs/observability.md)\n"
		"      --once          with --stats: print once and exit; with --top: collect\n"
		"                      for --duration seconds, print one report and exit\n"
		"      --duration SEC  with --top --once: how long to collect (default 1);\n"
		"                      with --record: how long to record (default 5)\n"
		"      --record FILE   record a timeline of every hub: each carrier's runs of\n"
		"                      green threads, their blocks and the handoffs, as trace\n"
		"                      event JSON for ui.perfetto.dev; SIGINT ends it early\n"
		"      --format FORMAT with --stats: text (default) or openmetrics (metrics\n"
		"                      for Prometheus, docs/loader.md)\n"
		"      --stop          unload the loaded kernel side, once no carrier it handed\n"
		"                      off is still blocked\n"
		"      --timeout SEC   how long --stop (or SIGINT) waits for such carriers\n"
		"                      (default 30; -1: as long as it takes)\n"
		"      --force         with --stop: remove the pins of another greenhub version;\n"
		"                      in trace mode, also when blocked carriers outlast --timeout\n"
		"      --grace WHEN    when an owner's sleep is handed off to a spare: adaptive\n"
		"                      (default: at once, but after the grace period while most\n"
		"                      sleeps would end on their own), always (after the grace\n"
		"                      period) or never (at once); in sched_ext mode a default\n"
		"                      that GREENHUB_SCX_GRACE overrides per process\n"
		"      --grace-ns NS   the grace period (default %u in sched_ext mode, %u\n"
		"                      in trace mode; GREENHUB_SCX_GRACE_NS in sched_ext mode)\n"
		"      --gate GATE     trace mode's return gate: auto (default: the task work\n"
		"                      where the kernel accepts it in its context-switch\n"
		"                      program, else armed by the taker, else sys-exit),\n"
		"                      task-work, taker or sys-exit; with -m trace\n"
		"      --grace-timer WHEN\n"
		"                      how trace mode keeps a hub's grace timer: sleep\n"
		"                      (started at every graced sleep, to fire when its\n"
		"                      period ends), period (started at most once per grace\n"
		"                      period) or auto (default: sleep where a start from the\n"
		"                      context-switch program arms the timer at once, else\n"
		"                      period); with -m trace\n"
		"      --no-head-start sched_ext mode without its grace timers' head start\n"
		"                      (greenhub_presleep), as when the kernel refuses it;\n"
		"                      with -m sched_ext\n"
		"      --btf FILE      read the kernel's BTF from FILE\n"
		"  -v, --verbose       show libbpf's messages (the verifier log on failure)\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n"
		"\n"
		"Objects are pinned, root only, under %s (trace mode)\n"
		"or %s (sched_ext mode). Exit status: 0 ok, 1 failure,\n"
		"2 usage, 3 not privileged, 4 kernel unsupported, 5 already running,\n"
		"6 incompatible pinned version, 7 not running, 8 --stop timed out.\n",
		GH_SCX_GRACE_NS_DFL, GH_TRACE_GRACE_NS_DFL, GH_TRACE_PIN_DIR, GH_SCX_PIN_DIR);
}

static int parse_seconds(const char *s, double *out, bool allow_negative)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || isnan(v) || (v < 0 && !(allow_negative && v == -1)) ||
	    v > 86400.0 * 365)
		return -1;
	*out = v;
	return 0;
}

/* Whether an option that sets how a mode loads (LOADER_TAKES_*) goes with the command line:
 * only when it loads (loads), and then only with a mode that takes it, or with auto (mode
 * NULL) if by_auto. */
static bool takes(bool loads, const struct loader_mode *mode, unsigned option, bool by_auto)
{
	if (!loads)
		return false;
	return mode ? (mode->takes & option) != 0 : by_auto;
}

/* --format's word: 0, or -1 if it names no format. */
static int parse_format(const char *s, enum loader_format *out)
{
	if (!strcmp(s, "text"))
		*out = LOADER_FORMAT_TEXT;
	else if (!strcmp(s, "openmetrics"))
		*out = LOADER_FORMAT_OPENMETRICS;
	else
		return -1;
	return 0;
}

enum { OPT_STOP = 256, OPT_TIMEOUT, OPT_FORCE, OPT_ONCE, OPT_BTF, OPT_GRACE, OPT_GRACE_NS,
       OPT_GATE, OPT_FORMAT, OPT_TOP, OPT_DURATION, OPT_RECORD, OPT_NO_HEAD_START,
       OPT_GRACE_TIMER };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "detach", no_argument, NULL, 'd' },
		{ "stats", no_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "top", no_argument, NULL, OPT_TOP },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "record", required_argument, NULL, OPT_RECORD },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "stop", no_argument, NULL, OPT_STOP },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "btf", required_argument, NULL, OPT_BTF },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ "grace-ns", required_argument, NULL, OPT_GRACE_NS },
		{ "gate", required_argument, NULL, OPT_GATE },
		{ "grace-timer", required_argument, NULL, OPT_GRACE_TIMER },
		{ "no-head-start", no_argument, NULL, OPT_NO_HEAD_START },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct loader_opts o = { .interval = 1.0, .timeout = 30.0, .duration = 1.0 };
	const struct loader_mode *mode = NULL;
	struct loader_features f;
	const char *mode_name = "auto";
	bool stop = false, format_given = false, duration_given = false, loads;
	void *state = NULL;
	int c, status;

	while ((c = getopt_long(argc, argv, "m:dsi:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mode_name = optarg;
			break;
		case 'd':
			o.detach = true;
			break;
		case 's':
			o.stats = true;
			break;
		case 'i':
			if (parse_seconds(optarg, &o.interval, false) || o.interval < 0.01) {
				loader_err("--interval wants seconds (at least 0.01), not '%s'",
					   optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_ONCE:
			o.once = true;
			break;
		case OPT_TOP:
			o.top = true;
			break;
		case OPT_DURATION:
			if (parse_seconds(optarg, &o.duration, false) || o.duration < 0.01) {
				loader_err("--duration wants seconds (at least 0.01), not '%s'",
					   optarg);
				return EXIT_USAGE;
			}
			duration_given = true;
			break;
		case OPT_RECORD:
			if (!*optarg) {
				loader_err("--record wants a file name");
				return EXIT_USAGE;
			}
			o.record_path = optarg;
			break;
		case OPT_FORMAT:
			if (parse_format(optarg, &o.format)) {
				loader_err("--format wants text or openmetrics, not '%s'", optarg);
				return EXIT_USAGE;
			}
			format_given = true;
			break;
		case OPT_STOP:
			stop = true;
			break;
		case OPT_TIMEOUT:
			if (parse_seconds(optarg, &o.timeout, true)) {
				loader_err("--timeout wants seconds (or -1), not '%s'", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_FORCE:
			o.force = true;
			break;
		case OPT_BTF:
			o.btf_path = optarg;
			break;
		case OPT_GRACE:
			o.grace_policy = gh_scx_grace_parse(optarg);
			if (o.grace_policy < 0) {
				loader_err("--grace wants adaptive, always or never, not '%s'",
					   optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_GATE:
			if (!strcmp(optarg, "auto"))
				o.gate = 0;
			else if (!strcmp(optarg, "task-work"))
				o.gate = GH_TRACE_GATE_TASK_WORK;
			else if (!strcmp(optarg, "taker"))
				o.gate = GH_TRACE_GATE_TAKER;
			else if (!strcmp(optarg, "sys-exit"))
				o.gate = GH_TRACE_GATE_SYS_EXIT;
			else {
				loader_err("--gate wants auto, task-work, taker or sys-exit, not '%s'",
					   optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_GRACE_TIMER:
			if (!strcmp(optarg, "auto"))
				o.grace_timer = 0;
			else if (!strcmp(optarg, "sleep"))
				o.grace_timer = GH_TRACE_TIMER_PER_SLEEP;
			else if (!strcmp(optarg, "period"))
				o.grace_timer = GH_TRACE_TIMER_PER_PERIOD;
			else {
				loader_err("--grace-timer wants auto, sleep or period, not '%s'",
					   optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_NO_HEAD_START:
			o.no_head_start = true;
			break;
		case OPT_GRACE_NS:
			o.grace_ns = gh_scx_grace_ns_parse(optarg);
			if (!o.grace_ns) {
				loader_err("--grace-ns wants ns from 1 to 1000000000, not '%s'",
					   optarg);
				return EXIT_USAGE;
			}
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("scx_greenhub %d.%d.%d (slot ABI %d, trace ABI %d)\n",
			       GH_VERSION_MAJOR, GH_VERSION_MINOR, GH_VERSION_PATCH,
			       GH_SLOT_ABI_VERSION, GH_TRACE_ABI_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		loader_err("unexpected argument '%s' (see --help)", argv[optind]);
		return EXIT_USAGE;
	}
	if (strcmp(mode_name, "auto") != 0) {
		for (size_t i = 0; modes[i]; i++)
			if (!strcmp(modes[i]->name, mode_name))
				mode = modes[i];
		if (!mode) {
			loader_err("unknown mode '%s': this loader has auto, sched_ext and trace",
				   mode_name);
			return EXIT_USAGE;
		}
	}
	if (stop && (o.detach || o.stats || o.top)) {
		loader_err("--stop goes alone (with --timeout or --force)");
		return EXIT_USAGE;
	}
	if ((o.force && !stop) || (o.once && !o.stats && !o.top) || (format_given && !o.stats)) {
		loader_err("--force goes with --stop, --once with --stats or --top, --format with "
			   "--stats");
		return EXIT_USAGE;
	}
	if (duration_given && !(o.top && o.once) && !o.record_path) {
		loader_err("--duration goes with --top --once or --record");
		return EXIT_USAGE;
	}
	if (o.record_path && (stop || o.stats || o.top || o.detach || o.once || mode)) {
		loader_err("--record only reads what is loaded: it goes alone (with --duration)");
		return EXIT_USAGE;
	}
	if (o.record_path && !duration_given)
		o.duration = 5.0;
	if (o.top && (o.stats || o.detach || mode)) {
		loader_err("--top only reads what is loaded: it goes alone (with --interval, "
			   "--once, --duration)");
		return EXIT_USAGE;
	}
	loads = !(stop || o.stats || o.top || o.record_path);
	if ((o.grace_policy || o.grace_ns) && !takes(loads, mode, LOADER_TAKES_GRACE, true)) {
		loader_err("--grace and --grace-ns set how a mode loads: they go with -m "
			   "sched_ext, -m trace or auto");
		return EXIT_USAGE;
	}
	if (o.gate && !takes(loads, mode, LOADER_TAKES_GATE, false)) {
		loader_err("--gate sets how trace mode loads: it goes with -m trace");
		return EXIT_USAGE;
	}
	if (o.grace_timer && !takes(loads, mode, LOADER_TAKES_GRACE_TIMER, false)) {
		loader_err("--grace-timer sets how trace mode loads: it goes with -m trace");
		return EXIT_USAGE;
	}
	if (o.no_head_start && !takes(loads, mode, LOADER_TAKES_HEAD_START, false)) {
		loader_err("--no-head-start sets how sched_ext mode loads: it goes with -m "
			   "sched_ext");
		return EXIT_USAGE;
	}
	if (o.stats && (o.detach || mode)) {
		loader_err("--stats only reads what is loaded: it goes alone (with --interval, "
			   "--once, --format)");
		return EXIT_USAGE;
	}

	loader_libbpf_log_init(o.verbose);
	sigemptyset(&exit_signals);
	sigaddset(&exit_signals, SIGINT);
	sigaddset(&exit_signals, SIGTERM);
	sigaddset(&exit_signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &exit_signals, NULL);

	/* --stats and --stop work from the pins. */
	if (stop)
		return run_stop(&o);
	if (o.stats)
		return run_stats(&o);
	if (o.top)
		return run_top(&o);
	if (o.record_path)
		return run_record(&o);

	/* Load. */
	if (!privileged()) {
		loader_err("needs root: loading tracing programs takes CAP_BPF and CAP_PERFMON "
			   "(or CAP_SYS_ADMIN)");
		return EXIT_NOPERM;
	}
	status = check_pin_root();
	if (status)
		return status;
	status = check_bpf();
	if (status) {
		loader_record_refusal("this kernel has no bpf() system call");
		return status;
	}
	scan_features(&o, &f);
	if (!(f.bits & GH_TRACE_F_BTF)) {
		loader_err("no kernel BTF: %s %s (the kernel needs CONFIG_DEBUG_INFO_BTF)",
			   o.btf_path ? o.btf_path : "/sys/kernel/btf/vmlinux",
			   o.btf_path ? "is not a readable BTF file" : "is missing");
		loader_record_refusal("no kernel BTF (CONFIG_DEBUG_INFO_BTF)");
		return EXIT_UNSUPPORTED;
	}
	status = load_a_mode(&o, &f, mode, &mode, &state);
	if (status)
		return status;
	loader_clear_refusal();
	loader_info("%s mode loaded, pinned at %s", mode->name, mode->pins->dir);
	print_features(&f);
	if (o.detach) {
		loader_info("detached: `scx_greenhub --stop` unloads");
		return EXIT_OK;
	}
	loader_info("running; Ctrl-C, SIGTERM or `scx_greenhub --stop` unloads");

	/* Wait for the exit: a signal, or the pins gone (removed by hand), or the kernel side
	 * gone on its own (the mode's poll says why). */
	while (!loader_interrupted && !(status = mode->poll(state)))
		loader_sleep(mode->poll_interval);
	if (status > 0)
		return status;
	loader_info("unloading (%s)", loader_interrupted ? "signal received" :
				      "the pinned control map was removed");
	status = mode->stop(state, &o);
	if (!status)
		loader_info("unloaded");
	return status;
}
