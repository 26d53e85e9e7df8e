// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The stall detector: the sysmon reports a hub that has reached no switch point for
 * hub->stall_ns (include/greenhub.h, "Stall detector").
 *
 * Noticing a stall
 *   The baton holder counts every switch point in hub->switches (sched.c), which it keeps
 *   for its rounds anyway. At each tick the sysmon reads that count and the baton word: while
 *   a carrier runs the hub (RUN, outside a marked region) and neither has moved, no switch
 *   point was reached; once they have stood still for the threshold, the hub has stalled. Any
 *   change (a switch, an idle poll, a handoff, a region) starts the watch over, so each stall
 *   is reported once. The time is counted from the first tick that saw the values, after the
 *   last switch: what is reported is never more than the stall lasted.
 *
 * Its backtrace
 *   Only the stalled carrier can walk its own stack, so the sysmon asks it with a signal
 *   (GH__SIG_STALL) and waits, at most CAPTURE_WAIT_NS, for the answer. One request is in
 *   flight at a time (there is one sysmon), described by req_word: a sequence number and a
 *   state, IDLE -> ASKED (the sysmon) -> BUSY (the handler claimed it) -> DONE (the handler
 *   filled capture). The sysmon withdraws a request that nobody claimed in time (ASKED ->
 *   IDLE); a handler that comes later finds no request for it and does nothing. A handler
 *   that claimed a request but has not finished in time keeps the buffer: the sysmon reports
 *   without a backtrace and asks nothing more until it is DONE.
 */
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define ENV_NAME "GREENHUB_STALL_MS"
#define MAX_MS (GH_STALL_MAX_NS / 1000000u)
#define MAX_FRAMES 64
#define CAPTURE_WAIT_NS 100000000ull

/* ---------------------------------------------------------------------------------------- */
/* The threshold: the hub's option or the environment                                        */

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
/* The last malformed GREENHUB_STALL_MS reported, so each is reported once (start_lock). */
static char bad_env_reported[128];
static bool bad_env_seen;

/* A decimal number of milliseconds, 0 .. MAX_MS, and nothing else; false if it is not one. */
static bool parse_ms(const char *s, uint64_t *ms)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > MAX_MS)
			return false; /* checked at each digit, so v never overflows */
	}
	*ms = v;
	return true;
}

static void report_bad_env(const char *env)
{
	pthread_mutex_lock(&start_lock);
	if (!bad_env_seen || strncmp(bad_env_reported, env, sizeof(bad_env_reported))) {
		bad_env_seen = true;
		snprintf(bad_env_reported, sizeof(bad_env_reported), "%s", env);
		fprintf(stderr,
			"greenhub: %s='%s' is not a number of milliseconds from 0 to %" PRIu64
			"; the stall detector stays off\n",
			ENV_NAME, env, (uint64_t)MAX_MS);
	}
	pthread_mutex_unlock(&start_lock);
}

/* GREENHUB_STALL_MS in ns; 0 (off) if unset, 0 or malformed. */
static uint64_t threshold_from_env(void)
{
	const char *env = getenv(ENV_NAME);
	uint64_t ms;

	if (!env)
		return 0;
	if (!parse_ms(env, &ms)) {
		report_bad_env(env);
		return 0;
	}
	return ms * 1000000u;
}

/* ---------------------------------------------------------------------------------------- */
/* The request to a stalled carrier, and its signal handler                                   */

enum req_state { REQ_IDLE, REQ_ASKED, REQ_BUSY, REQ_DONE };

/* Futex word: sequence << 2 | state. */
static atomic_uint req_word;
/* The carrier asked, written before the word moves to ASKED. */
static atomic_int req_tid;

/* Filled by the handler between BUSY and DONE, read by the sysmon after DONE. */
static struct {
	void *frames[MAX_FRAMES];
	int nframes;
	uintptr_t pc;        /* where the signal interrupted the carrier, 0 if unknown */
	uint64_t thread_id;  /* 0: the carrier ran no green thread */
	char name[sizeof(((struct gh_thread *)0)->name)];
	__u64 baton;         /* the hub's baton word and switch count when the stack was read */
	uint64_t switches;
} capture;

static enum req_state req_state_of(unsigned w)
{
	return (enum req_state)(w & 3u);
}

static unsigned req_make(unsigned w, enum req_state state)
{
	return (w & ~3u) | (unsigned)state;
}

static uintptr_t interrupted_pc(const void *uctx)
{
	const ucontext_t *uc = uctx;

#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.pc;
#else
	(void)uc;
	return 0;
#endif
}

/*
 * Read the stack of carrier c, the signal's target. Async-signal-safe: plain loads and stores,
 * and backtrace(), which is once libgcc's unwinder is loaded (gh__stall_start loads it). The
 * green thread's descriptor cannot go away under us: descriptors live as long as the hub, and
 * the hub runs while its sysmon request is in flight.
 */
static void capture_stack(struct gh__carrier *c, const void *uctx)
{
	struct gh_thread *t = c->green;

	capture.baton = gh__baton_load(c->hub);
	capture.switches = atomic_load_explicit(&c->hub->switches, memory_order_relaxed);
	capture.thread_id = t ? t->id : 0;
	if (t)
		memcpy(capture.name, t->name, sizeof(capture.name));
	capture.name[sizeof(capture.name) - 1] = '\0';
	capture.pc = interrupted_pc(uctx);
	capture.nframes = backtrace(capture.frames, MAX_FRAMES);
}

static void on_stall_signal(int sig, siginfo_t *info, void *uctx)
{
	int saved_errno = errno; /* the interrupted code's: futex and backtrace may change it */
	struct gh__carrier *c = gh__carrier_self();
	unsigned w = atomic_load(&req_word);

	(void)sig;
	(void)info;
	/* Only the carrier asked, only for a request still standing: a late or stray signal
	 * (one that was blocked until after its request was withdrawn) does nothing. */
	if (c && req_state_of(w) == REQ_ASKED && atomic_load(&req_tid) == c->tid &&
	    atomic_compare_exchange_strong(&req_word, &w, req_make(w, REQ_BUSY))) {
		capture_stack(c, uctx);
		atomic_store(&req_word, req_make(w, REQ_DONE));
		/* The raw call, not gh__futex_wake: nothing here may panic (stdio, abort). */
		(void)syscall(SYS_futex, &req_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	errno = saved_errno;
}

/* Is on_stall_signal the signal's handler now? */
static bool handler_in_place(void)
{
	struct sigaction cur;

	return sigaction(GH__SIG_STALL, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	       cur.sa_sigaction == on_stall_signal;
}

/*
 * Install on_stall_signal unless the application has a disposition of its own for the signal
 * (a handler, or SIG_IGN): it is the application's then, and reports go without backtraces.
 * "" in why if the handler is in place, else the reason. Under start_lock.
 */
static void handler_install(char *why, size_t len)
{
	static bool unwinder_loaded;
	struct sigaction sa, old;
	void *frame;

	why[0] = '\0';
	if (sigaction(GH__SIG_STALL, NULL, &old) < 0) {
		snprintf(why, len, "sigaction(signal %d) failed: %s", GH__SIG_STALL,
			 strerror(errno));
		return;
	}
	if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_stall_signal)
		return;
	if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
		snprintf(why, len, "signal %d (SIGRTMAX-4), which the stall detector uses to read a "
				   "carrier's stack, has a disposition of the application's",
			 GH__SIG_STALL);
		return;
	}
	/* The first backtrace() loads libgcc's unwinder (dlopen, malloc): not in a handler. */
	if (!unwinder_loaded) {
		(void)backtrace(&frame, 1);
		unwinder_loaded = true;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_stall_signal;
	/* SA_ONSTACK: the green thread may be deep in its stack. SA_RESTART: a blocking call
	 * the signal interrupts goes on where the kernel can restart it. */
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(GH__SIG_STALL, &sa, NULL) < 0)
		snprintf(why, len, "sigaction(signal %d) failed: %s", GH__SIG_STALL,
			 strerror(errno));
}

void gh__stall_start(struct gh_hub *hub)
{
	uint64_t ns = hub->opts.stall_ns;

	memset(&hub->stall_watch, 0, sizeof(hub->stall_watch));
	hub->stall_why[0] = '\0';
	if (ns == 0)
		ns = threshold_from_env();
	else if (ns == GH_STALL_OFF)
		ns = 0;
	hub->stall_ns = ns;
	if (!ns)
		return; /* off: nothing installed */
	pthread_mutex_lock(&start_lock);
	handler_install(hub->stall_why, sizeof(hub->stall_why));
	pthread_mutex_unlock(&start_lock);
}

/* ---------------------------------------------------------------------------------------- */
/* The sysmon's side of a request                                                             */

/* Sysmon thread only: the reason a report has no backtrace. */
static char why_buf[256];

/* Wait until the request is DONE or deadline passes; the word last seen. */
static unsigned await_answer(uint64_t deadline)
{
	for (;;) {
		unsigned cur = atomic_load(&req_word);
		uint64_t now = gh_now();
		struct timespec rel;
		int err;

		if (req_state_of(cur) == REQ_DONE || now >= deadline)
			return cur;
		rel.tv_sec = (time_t)((deadline - now) / 1000000000u);
		rel.tv_nsec = (long)((deadline - now) % 1000000000u);
		err = gh__futex_wait(&req_word, cur, &rel);
		if (err && err != -EAGAIN && err != -EINTR && err != -ETIMEDOUT)
			return atomic_load(&req_word); /* cannot wait: judge what is there */
	}
}

/*
 * Ask carrier tid, which runs hub in baton word b with switch count n, for its stack. NULL
 * with capture filled, or why there is none.
 */
static const char *capture_request(struct gh_hub *hub, pid_t tid, __u64 b, uint64_t n)
{
	unsigned w = atomic_load(&req_word);

	if (hub->stall_why[0])
		return hub->stall_why;
	if (!handler_in_place())
		return "the stall detector's signal (SIGRTMAX-4) was taken over by the application";
	if (req_state_of(w) == REQ_BUSY)
		return "the carrier asked for an earlier backtrace has not finished it";
	atomic_store(&req_tid, tid);
	w = req_make(w + 4u, REQ_ASKED);
	atomic_store(&req_word, w);
	if (syscall(SYS_tgkill, getpid(), tid, GH__SIG_STALL) < 0) {
		snprintf(why_buf, sizeof(why_buf), "tgkill(%d, signal %d) failed: %s", (int)tid,
			 GH__SIG_STALL, strerror(errno));
		atomic_store(&req_word, req_make(w, REQ_IDLE));
		return why_buf;
	}
	w = await_answer(gh_now() + CAPTURE_WAIT_NS);
	if (req_state_of(w) != REQ_DONE) {
		unsigned asked = req_make(w, REQ_ASKED);

		if (atomic_compare_exchange_strong(&req_word, &asked, req_make(w, REQ_IDLE)))
			return "the carrier did not take the signal within 100 ms (it blocks the "
			       "signal, or sleeps where no signal reaches it)";
		if (req_state_of(asked) != REQ_DONE)
			return "the carrier took the signal but did not finish its backtrace within "
			       "100 ms";
		/* It finished just now. */
	}
	if (capture.baton != b || capture.switches != n)
		return "the hub reached a switch point before its stack could be read";
	return NULL;
}

/* The frames from the interrupted instruction on, leaving out the handler's own. */
static void info_set_frames(struct gh_stall_info *info)
{
	int first = 0;

	for (int i = 0; i < capture.nframes; i++) {
		if (capture.pc && (uintptr_t)capture.frames[i] == capture.pc) {
			first = i;
			break;
		}
	}
	info->frames = capture.frames + first;
	info->nframes = capture.nframes - first;
}

/* ---------------------------------------------------------------------------------------- */
/* The hook                                                                                   */

static void default_hook(const struct gh_stall_info *info, void *arg);

/* Taken by the sysmon around each call of the hook and by gh_set_stall_hook. */
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static gh_stall_hook hook_fn = default_hook;
static void *hook_arg;

static void default_hook(const struct gh_stall_info *info, void *arg)
{
	char line[512];
	int len;

	(void)arg;
	if (info->thread_name)
		len = snprintf(line, sizeof(line),
			       "greenhub: hub %p stalled for %" PRIu64
			       " ms in green thread \"%s\" (id %" PRIu64 ") on carrier tid %d\n",
			       (void *)info->hub, info->stalled_ns / 1000000u, info->thread_name,
			       info->thread_id, info->carrier_tid);
	else
		len = snprintf(line, sizeof(line),
			       "greenhub: hub %p stalled for %" PRIu64
			       " ms in an unknown green thread on carrier tid %d\n",
			       (void *)info->hub, info->stalled_ns / 1000000u, info->carrier_tid);
	if (len > 0 && info->why) {
		size_t used = (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1;

		snprintf(line + used, sizeof(line) - used, "greenhub:   no backtrace: %s\n",
			 info->why);
	}
	/* One write for the header, so that reports from other threads do not cut into it. */
	(void)!write(STDERR_FILENO, line, strlen(line));
	if (info->nframes > 0)
		backtrace_symbols_fd(info->frames, info->nframes, STDERR_FILENO);
}

void gh_set_stall_hook(gh_stall_hook fn, void *arg)
{
	pthread_mutex_lock(&hook_lock);
	hook_fn = fn ? fn : default_hook;
	hook_arg = fn ? arg : NULL;
	pthread_mutex_unlock(&hook_lock);
}

/* ---------------------------------------------------------------------------------------- */
/* Each tick                                                                                  */

static void report_stall(struct gh_hub *hub, __u64 b, uint64_t n, uint64_t stalled_ns)
{
	struct gh_stall_info info;

	memset(&info, 0, sizeof(info));
	info.sz = sizeof(info);
	info.hub = hub;
	info.carrier_tid = (int)gh_baton_tid(b);
	info.stalled_ns = stalled_ns;
	info.why = capture_request(hub, (pid_t)info.carrier_tid, b, n);
	if (!info.why) {
		info.thread_id = capture.thread_id;
		info.thread_name = capture.thread_id ? capture.name : NULL;
		info_set_frames(&info);
	}
	pthread_mutex_lock(&hook_lock);
	hook_fn(&info, hook_arg);
	pthread_mutex_unlock(&hook_lock);
}

/*
 * The clock is read here rather than taken from the tick's start: the sysmon may have spent a
 * while on other hubs (a backtrace waits up to CAPTURE_WAIT_NS), or been preempted, since the tick
 * began. Read before the hub's words at a check and after them when a watch starts, it makes now -
 * since a lower bound of the time with no switch point.
 */
void gh__stall_watch(struct gh_hub *hub)
{
	uint64_t now, n;
	__u64 b;

	if (!hub->stall_ns)
		return;
	now = gh_now();
	b = gh__baton_load(hub);
	n = atomic_load_explicit(&hub->switches, memory_order_relaxed);
	if (b != hub->stall_watch.baton || n != hub->stall_watch.switches ||
	    gh_baton_state(b) != GH_BATON_RUN || gh_baton_in_region(b)) {
		/* It moved (or no carrier runs green code): a new watch starts here. */
		hub->stall_watch.baton = b;
		hub->stall_watch.switches = n;
		hub->stall_watch.since = gh_now();
		hub->stall_watch.reported = false;
		return;
	}
	if (hub->stall_watch.reported || now - hub->stall_watch.since < hub->stall_ns)
		return;
	hub->stall_watch.reported = true;
	report_stall(hub, b, n, now - hub->stall_watch.since);
}

void gh__stall_fork_child(void)
{
	/* The child has one thread and no sysmon: no request is in flight there, and a lock held
	 * in the parent by a thread that did not come along would never be released. */
	atomic_store(&req_word, 0);
	pthread_mutex_init(&start_lock, NULL);
	pthread_mutex_init(&hook_lock, NULL);
}
