// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * scx_greenhub: loads greenhub's kernel side, pins it under /sys/fs/bpf/greenhub, reports
 * statistics and unloads it cleanly. docs/loader.md is its manual.
 *
 * The flow (as the kernel's tools/sched_ext loaders): check the machine, pick the mode, then
 * open -> set rodata -> load -> attach -> pin (the mode's start), wait for SIGINT/SIGTERM
 * (printing statistics if asked), report why it stops, and drain -> unpin -> destroy (the
 * mode's stop), with one cleanup path. Everything is pinned, so the loader itself may die:
 * `--stop` unloads from the pins, and `--stats` reads them.
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
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

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

#define PIN(name) GH_TRACE_PIN_DIR "/" name

volatile int loader_interrupted;
/* SIGINT, SIGTERM and SIGHUP: blocked, and taken with sigtimedwait in loader_sleep. */
static sigset_t exit_signals;

/* Every mode this loader knows, best first. */
static const struct loader_mode *const modes[] = { &loader_mode_scx, &loader_mode_trace, NULL };

static const char *pin_dir(const struct loader_mode *m)
{
	return m->pin_dir ? m->pin_dir : GH_TRACE_PIN_DIR;
}

/* The first mode whose pins exist (what --stop and --stats act on), or NULL. */
static const struct loader_mode *pinned_mode(void)
{
	for (size_t i = 0; modes[i]; i++)
		if (access(pin_dir(modes[i]), F_OK) == 0)
			return modes[i];
	return NULL;
}

void loader_trace_features(const struct btf *vmlinux, uint64_t *bits);

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

static const char *mode_name(unsigned mode)
{
	switch (mode) {
	case GH_MODE_TRACE:
		return "trace";
	case GH_MODE_SCHED_EXT:
		return "sched_ext";
	}
	return "unknown";
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
		loader_trace_features(btf, &f->bits);
		btf__free(btf);
	}
	if (!access("/sys/kernel/sched_ext", F_OK))
		f->bits |= GH_TRACE_F_SCHED_EXT;
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

	if (statfs(GH_TRACE_PIN_ROOT, &fs) == 0 && fs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", GH_TRACE_PIN_ROOT, "bpf", 0, "mode=0700") < 0) {
		loader_err("no BPF filesystem on %s, and mounting one failed: %s",
			   GH_TRACE_PIN_ROOT, strerror(errno));
		return EXIT_FAIL;
	}
	loader_info("mounted a BPF filesystem on %s", GH_TRACE_PIN_ROOT);
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

	if (statfs(GH_TRACE_PIN_ROOT, &fs) < 0 || fs.f_type != BPF_FS_MAGIC)
		return 0;
	if (faccessat(AT_FDCWD, GH_TRACE_PIN_ROOT, W_OK | X_OK, AT_EACCESS) == 0)
		return 0;
	loader_err("cannot create pins in %s (%s): run as root, or as a user that may write "
		   "there (CAP_DAC_OVERRIDE, or ownership of the folder)",
		   GH_TRACE_PIN_ROOT, strerror(errno));
	return EXIT_NOPERM;
}

/* What is pinned now: 0 nothing, else an exit status with the message printed. */
static int check_pins(void)
{
	struct gh_trace_control *ctl;
	int status;

	ctl = loader_pinned_control(GH_TRACE_PIN_DIR, sizeof(*ctl), &status);
	if (!ctl)
		return status;
	if (ctl->magic != GH_TRACE_MAGIC || ctl->slot_abi != GH_SLOT_ABI_VERSION ||
	    ctl->trace_abi != GH_TRACE_ABI_VERSION) {
		loader_err("%s holds objects of another greenhub version (slot ABI %u, trace ABI "
			   "%u; this loader: %u, %u): stop them with that version's scx_greenhub, "
			   "or `scx_greenhub --stop --force`",
			   GH_TRACE_PIN_DIR, ctl->slot_abi, ctl->trace_abi, GH_SLOT_ABI_VERSION,
			   GH_TRACE_ABI_VERSION);
		loader_unmap_values(ctl, sizeof(*ctl), 1);
		return EXIT_INCOMPATIBLE;
	}
	loader_err("already running: %s mode, loaded by pid %u%s; see `scx_greenhub --stats`, "
		   "unload with `scx_greenhub --stop`",
		   mode_name(ctl->mode), ctl->loader_pid,
		   ctl->state == GH_TRACE_DRAINING ? " (stopping)" : "");
	loader_unmap_values(ctl, sizeof(*ctl), 1);
	return EXIT_RUNNING;
}

/* ---------------------------------------------------------------------------------------- */
/* Draining (shared by every mode that uses the control map)                                  */

int loader_drain(struct gh_trace_control *ctl, const struct gh_trace_hub *hubs,
		 const struct loader_opts *o)
{
	uint64_t start = loader_now(), next_report = start + 1000000000u;
	int interrupted_at = loader_interrupted;

	/* The Dekker pair with the handoff program: store, then read (both seq_cst). */
	__atomic_store_n(&ctl->state, GH_TRACE_DRAINING, __ATOMIC_SEQ_CST);
	for (;;) {
		__s64 n = __atomic_load_n(&ctl->nr_displaced, __ATOMIC_SEQ_CST);
		uint64_t now = loader_now();

		if (n <= 0)
			return 0;
		if ((o->timeout >= 0 && now - start >= (uint64_t)(o->timeout * 1e9)) ||
		    loader_interrupted > interrupted_at) {
			loader_err("%lld carrier(s) are still blocked in calls the kernel side "
				   "handed off; their return gate must stay",
				   (long long)n);
			return EXIT_BUSY;
		}
		if (now >= next_report) {
			char who[128] = "";
			size_t used = 0;

			for (unsigned i = 0; hubs && i < GH_MAX_HUBS && used < 100; i++) {
				if (hubs[i].nr_displaced <= 0)
					continue;
				used += (size_t)snprintf(who + used, sizeof(who) - used,
							 " hub %u (pid %u)", i,
							 hubs[i].owner_tgid);
			}
			loader_info("handoffs are off; waiting for %lld blocked carrier(s) to "
				    "return:%s%s",
				    (long long)n, who[0] ? who : " (unknown hubs)",
				    o->timeout < 0 ? "" : "");
			next_report = now + 1000000000u;
		}
		loader_sleep(0.001);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Statistics                                                                                 */

/* Upper bound in us of the bucket where the q-quantile falls, or 0 if empty. */
static uint64_t hist_quantile(const struct gh_trace_hist *h, double q)
{
	uint64_t total = 0, want, seen = 0;

	for (int b = 0; b < GH_TRACE_HIST_BUCKETS; b++)
		total += h->bucket[b];
	if (!total)
		return 0;
	want = (uint64_t)ceil(q * (double)total);
	for (int b = 0; b < GH_TRACE_HIST_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen >= want)
			return 1ull << b;
	}
	return 1ull << (GH_TRACE_HIST_BUCKETS - 1);
}

static void print_hist(const struct gh_trace_hist *h)
{
	uint64_t most = 0;
	int lo = GH_TRACE_HIST_BUCKETS, hi = -1;

	for (int b = 0; b < GH_TRACE_HIST_BUCKETS; b++) {
		if (!h->bucket[b])
			continue;
		if (b < lo)
			lo = b;
		hi = b;
		if (h->bucket[b] > most)
			most = h->bucket[b];
	}
	printf("handoff latency, an owner's block to its spare on a CPU (%llu handoffs, mean "
	       "%.1f us, max %.1f us):\n",
	       (unsigned long long)h->count,
	       h->count ? (double)h->sum_ns / (double)h->count / 1000.0 : 0.0,
	       (double)h->max_ns / 1000.0);
	for (int b = lo; b <= hi; b++) {
		char range[48];
		int bar = most ? (int)(h->bucket[b] * 40 / most) : 0;

		if (b == 0)
			snprintf(range, sizeof(range), "< 1 us");
		else if (b == GH_TRACE_HIST_BUCKETS - 1)
			snprintf(range, sizeof(range), ">= %llu us", 1ull << (b - 1));
		else
			snprintf(range, sizeof(range), "%llu-%llu us", 1ull << (b - 1), 1ull << b);
		printf("  %14s %10llu %.*s\n", range, (unsigned long long)h->bucket[b], bar,
		       "########################################");
	}
}

/* How often the kernel skipped the program behind a pinned link because it was already running
 * on that CPU (bpf_prog_info.recursion_misses, Linux 5.12): a skipped sys_exit gate would let
 * a displaced carrier through, a skipped request goes unanswered (the runtime asks again).
 * -1 if it cannot be read. */
static long long program_misses(const char *dir, const char *link)
{
	struct bpf_link_info li;
	struct bpf_prog_info pi;
	__u32 len = sizeof(li);
	char path[256];
	int lfd, pfd;
	long long misses = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, link);
	lfd = bpf_obj_get(path);
	if (lfd < 0)
		return -1;
	memset(&li, 0, sizeof(li));
	if (!bpf_link_get_info_by_fd(lfd, &li, &len)) {
		pfd = bpf_prog_get_fd_by_id(li.prog_id);
		if (pfd >= 0) {
			memset(&pi, 0, sizeof(pi));
			len = sizeof(pi);
			if (!bpf_prog_get_info_by_fd(pfd, &pi, &len))
				misses = (long long)pi.recursion_misses;
			close(pfd);
		}
	}
	close(lfd);
	return misses;
}

static void print_program_misses(void)
{
	static const char *const links[] = { "link_register", "link_switch", "link_sys_exit",
					     "link_exit", "link_exec", "link_free" };
	char buf[256] = "";
	size_t used = 0;

	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		long long n = program_misses(GH_TRACE_PIN_DIR, links[i]);
		int w;

		if (n < 0)
			continue;
		w = snprintf(buf + used, sizeof(buf) - used, "%s%s %lld", used ? ", " : "",
			     links[i] + 5, n);
		if (w > 0 && (size_t)w < sizeof(buf) - used)
			used += (size_t)w;
	}
	printf("programs skipped by the kernel (already running on the CPU): %s\n",
	       used ? buf : "unknown");
}

static void print_stats(const struct gh_trace_control *ctl, const struct gh_hub_slot *slots,
			const struct gh_trace_hub *hubs)
{
	static const char *const states[] = { "loading", "running", "draining" };
	unsigned active = 0;

	printf("\n%s mode, %s, loaded by pid %u: handoffs %llu, cancels %llu, takeovers %llu, "
	       "idle returns %llu, gates %llu, wakes %llu, wake misses %llu, displaced now %lld\n",
	       mode_name(ctl->mode),
	       ctl->state < 3 ? states[ctl->state] : "?", ctl->loader_pid,
	       (unsigned long long)ctl->nr_handoffs, (unsigned long long)ctl->nr_cancels,
	       (unsigned long long)ctl->nr_takeovers, (unsigned long long)ctl->nr_idle_returns,
	       (unsigned long long)ctl->nr_gates, (unsigned long long)ctl->nr_wakes,
	       (unsigned long long)ctl->nr_wake_misses, (long long)ctl->nr_displaced);
	printf("return gate: %s%s%s%s; spare wake: ring buffer; gate signals waited for %llu, "
	       "late %llu\n",
	       ctl->gate == GH_TRACE_GATE_TASK_WORK ? "task work" : "sys_exit",
	       ctl->gate_why[0] ? " (" : "", ctl->gate_why, ctl->gate_why[0] ? ")" : "",
	       (unsigned long long)ctl->nr_gate_waited, (unsigned long long)ctl->nr_gate_late);
	printf("not handed off: %llu sleeps outside a system call, %llu in the hub loop, %llu "
	       "with the gate signal blocked, %llu with the gate signal taken by the application, "
	       "%llu while draining, %llu with no gate; slots "
	       "granted %llu, carriers registered %llu, requests refused %llu; hubs released at "
	       "exit %llu\n",
	       (unsigned long long)ctl->nr_fault_sleeps, (unsigned long long)ctl->nr_loop_sleeps,
	       (unsigned long long)ctl->nr_masked, (unsigned long long)ctl->nr_gate_unhandled,
	       (unsigned long long)ctl->nr_refused,
	       (unsigned long long)ctl->nr_gate_failures, (unsigned long long)ctl->nr_claims,
	       (unsigned long long)ctl->nr_bound, (unsigned long long)ctl->nr_rejected,
	       (unsigned long long)ctl->nr_exit_cleanups);
	print_program_misses();
	for (unsigned i = 0; i < GH_MAX_HUBS; i++) {
		const struct gh_hub_slot *s = &slots[i];
		const struct gh_trace_hub *h = &hubs[i];

		if (!(s->flags & GH_SLOT_F_ACTIVE))
			continue;
		if (!active++)
			printf("%5s %8s %9s %9s %8s %8s %9s %6s %8s %8s %7s %8s %8s\n", "hub",
			       "pid", "handoffs", "takeovers", "cancels", "holds", "handbacks",
			       "idle", "gates", "wakes", "misses", "p50(us)", "p99(us)");
		printf("%5u %8u %9llu %9llu %8llu %8llu %9llu %6llu %8llu %8llu %7llu %8s%llu "
		       "%8s%llu\n",
		       i, s->tgid, (unsigned long long)s->nr_handoffs,
		       (unsigned long long)s->nr_takeovers, (unsigned long long)s->nr_cancels,
		       (unsigned long long)s->nr_holds, (unsigned long long)s->nr_handbacks,
		       (unsigned long long)s->nr_idle_returns, (unsigned long long)h->nr_gates,
		       (unsigned long long)h->nr_wakes, (unsigned long long)h->nr_wake_misses, "<",
		       (unsigned long long)hist_quantile(&h->wake_latency, 0.5), "<",
		       (unsigned long long)hist_quantile(&h->wake_latency, 0.99));
	}
	if (!active)
		printf("no hub attached\n");
	print_hist(&ctl->wake_latency);
	fflush(stdout);
}

struct pinned_view {
	int fds[3];
	struct gh_trace_control *ctl;
	struct gh_hub_slot *slots;
	struct gh_trace_hub *hubs;
};

static void view_close(struct pinned_view *v)
{
	if (v->ctl)
		loader_unmap_values(v->ctl, sizeof(*v->ctl), 1);
	if (v->slots)
		loader_unmap_values(v->slots, sizeof(*v->slots), GH_MAX_HUBS);
	if (v->hubs)
		loader_unmap_values(v->hubs, sizeof(*v->hubs), GH_MAX_HUBS);
	for (int i = 0; i < 3; i++)
		if (v->fds[i] >= 0)
			close(v->fds[i]);
	memset(v, 0, sizeof(*v));
	v->fds[0] = v->fds[1] = v->fds[2] = -1;
}

static int view_open(struct pinned_view *v)
{
	static const char *const names[] = { PIN("control"), PIN("slots"), PIN("hubs") };

	memset(v, 0, sizeof(*v));
	v->fds[0] = v->fds[1] = v->fds[2] = -1;
	for (int i = 0; i < 3; i++) {
		v->fds[i] = bpf_obj_get(names[i]);
		if (i == 0 && v->fds[0] >= 0) {
			/* The version first: another version's maps may be named otherwise. */
			v->ctl = loader_map_values(v->fds[0], sizeof(*v->ctl), 1, false);
			if (v->ctl && (v->ctl->magic != GH_TRACE_MAGIC ||
				       v->ctl->trace_abi != GH_TRACE_ABI_VERSION ||
				       v->ctl->slot_abi != GH_SLOT_ABI_VERSION)) {
				loader_err("%s holds objects of another greenhub version (slot ABI "
					   "%u, trace ABI %u; this loader: %u, %u)",
					   GH_TRACE_PIN_DIR, v->ctl->slot_abi, v->ctl->trace_abi,
					   GH_SLOT_ABI_VERSION, GH_TRACE_ABI_VERSION);
				view_close(v);
				return EXIT_INCOMPATIBLE;
			}
		}
		if (v->fds[i] < 0) {
			int err = errno;

			view_close(v);
			if (err == ENOENT) {
				loader_err("not running: nothing is pinned at %s", names[i]);
				return EXIT_NOT_RUNNING;
			}
			if (err == EACCES || err == EPERM) {
				loader_err("permission denied opening %s: run as root", names[i]);
				return EXIT_NOPERM;
			}
			loader_err("opening %s: %s", names[i], strerror(err));
			return EXIT_FAIL;
		}
	}
	v->slots = loader_map_values(v->fds[1], sizeof(*v->slots), GH_MAX_HUBS, false);
	v->hubs = loader_map_values(v->fds[2], sizeof(*v->hubs), GH_MAX_HUBS, false);
	if (!v->ctl || !v->slots || !v->hubs) {
		loader_err("mapping the pinned maps: %s", strerror(errno));
		view_close(v);
		return EXIT_FAIL;
	}
	return 0;
}

static int run_stats(const struct loader_opts *o)
{
	struct pinned_view v;
	int status = view_open(&v);

	if (status)
		return status;
	do {
		print_stats(v.ctl, v.slots, v.hubs);
		if (o->once)
			break;
		loader_sleep(o->interval);
	} while (!loader_interrupted && access(PIN("control"), F_OK) == 0);
	view_close(&v);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Choosing and loading a mode                                                                */

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

/*
 * Probe and start the mode asked for, or each mode best first: 0 with the mode started, or an
 * exit status with the reasons printed. A mode the kernel refuses (its probe, or its programs
 * at load time) gives way to the next one in auto mode; asked for by name, it is an error.
 */
static int load_a_mode(const struct loader_opts *o, const struct loader_features *f,
		       const struct loader_mode *asked, const struct loader_mode **modep,
		       void **state)
{
	char why[320], all[640] = "";
	bool ready = false;
	size_t used = 0;
	int status = EXIT_UNSUPPORTED;

	for (size_t i = 0; modes[i]; i++) {
		const struct loader_mode *m = modes[i];

		if (asked && m != asked)
			continue;
		why[0] = '\0';
		status = m->probe(o, f, why, sizeof(why));
		if (!status && !ready) {
			/* Once, before the first start: the pins' place, and nothing loaded. */
			status = ensure_bpffs();
			if (!status)
				status = check_pins();
			if (status)
				return status;
			ready = true;
		}
		if (!status)
			status = m->start(o, f, state, why, sizeof(why));
		if (!status) {
			*modep = m;
			if ((o->grace_policy || o->grace_ns) && m->mode != GH_MODE_SCHED_EXT)
				loader_info("%s mode has no grace period: --grace and --grace-ns do "
					    "not apply", m->name);
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
		"  -i, --interval SEC  seconds between statistics (default 1)\n"
		"      --once          with --stats: print once and exit\n"
		"      --stop          unload the loaded kernel side, once no carrier it handed\n"
		"                      off is still blocked\n"
		"      --timeout SEC   how long --stop (or SIGINT) waits for such carriers\n"
		"                      (default 30; -1: as long as it takes)\n"
		"      --force         with --stop: remove the pins of another greenhub version\n"
		"      --grace WHEN    sched_ext mode: when an owner's sleep is handed off to a\n"
		"                      spare: adaptive (default: at once, but after the grace\n"
		"                      period while most handoffs come too late to help), always\n"
		"                      (after the grace period) or never (at once); a default\n"
		"                      that GREENHUB_SCX_GRACE overrides per process\n"
		"      --grace-ns NS   the grace period (default %u; GREENHUB_SCX_GRACE_NS)\n"
		"      --gate GATE     trace mode's return gate: auto (default: the task work\n"
		"                      where the kernel accepts it, else sys-exit), task-work or\n"
		"                      sys-exit; with -m trace\n"
		"      --btf FILE      read the kernel's BTF from FILE\n"
		"  -v, --verbose       show libbpf's messages (the verifier log on failure)\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n"
		"\n"
		"Objects are pinned under %s (root only). Exit status: 0 ok, 1 failure,\n"
		"2 usage, 3 not privileged, 4 kernel unsupported, 5 already running,\n"
		"6 incompatible pinned version, 7 not running, 8 --stop timed out.\n",
		GH_SCX_GRACE_NS_DFL, GH_TRACE_PIN_DIR);
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

enum { OPT_STOP = 256, OPT_TIMEOUT, OPT_FORCE, OPT_ONCE, OPT_BTF, OPT_GRACE, OPT_GRACE_NS,
       OPT_GATE };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "detach", no_argument, NULL, 'd' },
		{ "stats", no_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "stop", no_argument, NULL, OPT_STOP },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "btf", required_argument, NULL, OPT_BTF },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ "grace-ns", required_argument, NULL, OPT_GRACE_NS },
		{ "gate", required_argument, NULL, OPT_GATE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct loader_opts o = { .interval = 1.0, .timeout = 30.0 };
	const struct loader_mode *mode = NULL;
	struct loader_features f;
	const char *mode_name = "auto";
	bool stop = false;
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
			else if (!strcmp(optarg, "sys-exit"))
				o.gate = GH_TRACE_GATE_SYS_EXIT;
			else {
				loader_err("--gate wants auto, task-work or sys-exit, not '%s'",
					   optarg);
				return EXIT_USAGE;
			}
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
	if (stop && (o.detach || o.stats)) {
		loader_err("--stop goes alone (with --timeout or --force)");
		return EXIT_USAGE;
	}
	if ((o.force && !stop) || (o.once && !o.stats)) {
		loader_err("--force goes with --stop, --once with --stats");
		return EXIT_USAGE;
	}
	if ((o.grace_policy || o.grace_ns) && (stop || o.stats || (mode && mode->mode !=
									GH_MODE_SCHED_EXT))) {
		loader_err("--grace and --grace-ns set how sched_ext mode loads: they go with "
			   "-m sched_ext or auto");
		return EXIT_USAGE;
	}
	if (o.gate && (stop || o.stats || !mode || mode->mode != GH_MODE_TRACE)) {
		loader_err("--gate sets how trace mode loads: it goes with -m trace");
		return EXIT_USAGE;
	}
	if (o.stats && (o.detach || mode)) {
		loader_err("--stats only reads what is loaded: it goes alone (with --interval, "
			   "--once)");
		return EXIT_USAGE;
	}

	loader_libbpf_log_init(o.verbose);
	sigemptyset(&exit_signals);
	sigaddset(&exit_signals, SIGINT);
	sigaddset(&exit_signals, SIGTERM);
	sigaddset(&exit_signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &exit_signals, NULL);

	/* --stats and --stop work from the pins. */
	if (stop) {
		const struct loader_mode *pinned = pinned_mode();

		if (!pinned && access(GH_TRACE_PIN_DIR, F_OK) < 0) {
			if (errno == EACCES) {
				loader_err("permission denied looking at %s: run as root",
					   GH_TRACE_PIN_DIR);
				return EXIT_NOPERM;
			}
			loader_err("not running: nothing is pinned at %s", GH_TRACE_PIN_DIR);
			return EXIT_NOT_RUNNING;
		}
		if (!privileged()) {
			loader_err("--stop needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)");
			return EXIT_NOPERM;
		}
		status = (pinned ? pinned : &loader_mode_trace)->stop_pinned(&o);
		if (!status)
			loader_info("unloaded");
		return status;
	}
	if (o.stats && pinned_mode() && pinned_mode()->stats)
		return pinned_mode()->stats(&o);
	if (o.stats) {
		if (access(GH_TRACE_PIN_DIR, F_OK) < 0 && errno == EACCES) {
			loader_err("permission denied looking at %s: run as root",
				   GH_TRACE_PIN_DIR);
			return EXIT_NOPERM;
		}
		return run_stats(&o);
	}

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
	loader_info("%s mode loaded, pinned at %s", mode->name, pin_dir(mode));
	print_features(&f);
	if (o.detach) {
		loader_info("detached: `scx_greenhub --stop` unloads");
		return EXIT_OK;
	}
	loader_info("running; Ctrl-C, SIGTERM or `scx_greenhub --stop` unloads");

	/* Wait for the exit: a signal, or the pins gone (removed by hand), or the kernel side
	 * gone on its own (the mode's poll says why). */
	if (mode->poll) {
		while (!loader_interrupted && !(status = mode->poll(state)))
			loader_sleep(0.1);
		if (status > 0)
			return status;
	} else {
		while (!loader_interrupted && access(PIN("control"), F_OK) == 0)
			loader_sleep(1.0);
	}
	loader_info("unloading (%s)", loader_interrupted ? "signal received" :
				      "the pinned control map was removed");
	status = mode->stop(state, &o);
	if (!status)
		loader_info("unloaded");
	return status;
}
