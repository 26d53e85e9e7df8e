/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The sched_ext scheduler attaches, schedules carriers and only carriers, and outlives its
 * loader:
 *
 *  1. `scx_greenhub -m sched_ext -d` attaches it: /sys/kernel/sched_ext/state is "enabled" and
 *     root/ops is "greenhub".
 *  2. A hub in the default mode (AUTO) runs in sched_ext mode; its carriers are SCHED_EXT while
 *     they carry it, an ordinary thread of the process stays SCHED_OTHER, and the thread that
 *     ran the hub gets its own policy back afterwards. An unmarked blocking call is handed off.
 *  3. `--stats --once` reports from the pins, and so does `--stats --once --format openmetrics`
 *     (metrics: # TYPE lines first, the hub's handoffs counted, # EOF last; promtool, which
 *     tests/bpf/test_bpf_loader runs on trace mode's, is not in the VM); `--stop` detaches
 *     (state "disabled").
 *  4. A loader started in the foreground and killed with SIGKILL leaves the scheduler
 *     attached and working (a hub still hands off); `--stop` then removes it.
 */
#include <pthread.h>

#include "scx_test.h"

struct run {
	int carrier_policy;   /* the policy of the carrier running main_green */
	int spare_policy;     /* ... and of the carrier that ran after the handoff */
	int other_policy;     /* an ordinary thread's policy while the hub ran */
	enum gh_mode mode;
	bool blocked_done;
	pid_t other_tid;
};

static struct run run;
static atomic_bool other_stop;

static void *other_main(void *arg)
{
	run.other_tid = gettid();
	while (!atomic_load(&other_stop))
		scx_sleep_ms(5);
	return NULL;
}

static void *blocker(void *arg)
{
	struct timespec ts = { 0, 50 * 1000000 };

	nanosleep(&ts, NULL); /* unmarked: the scheduler hands the hub off */
	run.blocked_done = true;
	return NULL;
}

static void *runner(void *arg)
{
	/* Runs on the spare while the blocker's carrier sleeps. */
	run.spare_policy = scx_policy(0);
	return NULL;
}

static void *main_green(void *arg)
{
	gh_thread *b, *r;

	run.carrier_policy = scx_policy(0);
	run.mode = gh_hub_mode(gh_hub_current());
	run.other_policy = scx_policy(run.other_tid);
	b = gh_spawn(blocker, NULL);
	r = gh_spawn(runner, NULL);
	gh_join(b, NULL);
	gh_join(r, NULL);
	return NULL;
}

/* The whole of a file, NUL-terminated (malloc'd), or NULL. */
static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t len = 0, cap = 1 << 16, n;
	char *buf = malloc(cap);

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap) {
			char *more = realloc(buf, cap *= 2);

			if (!more) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = more;
		}
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* The value of the sample whose line begins with series + " ", or -1 if there is none. */
static long long sample_value(const char *text, const char *series)
{
	size_t len = strlen(series);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line)
		if (!strncmp(line, series, len) && line[len] == ' ')
			return strtoll(line + len + 1, NULL, 10);
	return -1;
}

/* `--stats --once --format openmetrics` of the scheduler, which handed off at least once. */
static void check_metrics(void)
{
	char *const argv[] = { SCX_LOADER, "--stats", "--once", "--format", "openmetrics", NULL };
	const char *path = "/tmp/scx_metrics.prom";
	long long handoffs, inf, count;
	char *text;
	size_t len;

	VM_CHECK(scx_run(argv, path) == 0, "--stats --once --format openmetrics failed");
	text = read_all(path);
	VM_CHECK(text != NULL, "reading %s: %s", path, strerror(errno));
	len = strlen(text);
	VM_CHECK(!strncmp(text, "# TYPE greenhub_", 16), "the metrics begin with '%.40s'", text);
	VM_CHECK(len >= 6 && !strcmp(text + len - 6, "# EOF\n"), "the metrics do not end in # EOF");
	handoffs = sample_value(text, "greenhub_handoffs_total{mode=\"sched_ext\"}");
	VM_CHECK(handoffs >= 1, "greenhub_handoffs_total is %lld", handoffs);
	inf = sample_value(text, "greenhub_handoff_latency_seconds_bucket{mode=\"sched_ext\","
				 "le=\"+Inf\"}");
	count = sample_value(text, "greenhub_handoff_latency_seconds_count{mode=\"sched_ext\"}");
	VM_CHECK(inf >= 0 && inf == count, "the +Inf bucket is %lld, the count %lld", inf, count);
	printf("metrics: %zu bytes, %lld handoffs, %lld latencies\n", len, handoffs, count);
	free(text);
}

/* Run one hub in AUTO mode; return its statistics. */
static void run_hub(struct gh_hub_stats *st)
{
	gh_hub *hub = gh_hub_create(NULL);
	int err;

	VM_CHECK(hub != NULL, "gh_hub_create: %s", strerror(errno));
	memset(&run, 0, sizeof(run));
	run.other_tid = -1;
	{
		pthread_t other;

		atomic_store(&other_stop, false);
		VM_CHECK(pthread_create(&other, NULL, other_main, NULL) == 0, "pthread_create");
		while (run.other_tid < 0)
			scx_sleep_ms(1);
		err = gh_hub_run(hub, main_green, NULL, NULL);
		atomic_store(&other_stop, true);
		pthread_join(other, NULL);
	}
	VM_CHECK(err == 0, "gh_hub_run: %s (%s)", gh_strerror(err), gh_hub_mode_reason(hub));
	scx_hub_stats(hub, st);
	printf("hub: %s; handoffs %llu, takeovers %llu, cancels %llu, holds %llu\n",
	       gh_hub_mode_reason(hub), (unsigned long long)st->handoffs,
	       (unsigned long long)st->takeovers, (unsigned long long)st->cancels,
	       (unsigned long long)st->holds);
	gh_hub_destroy(hub);
}

int main(void)
{
	struct gh_hub_stats st;
	char buf[128];
	pid_t loader;
	int status;

	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	VM_CHECK(vm_scx_wait_state("disabled", 0) == 0, "a scheduler is already loaded");

	/* 1. attach */
	scx_load();
	VM_CHECK(strcmp(vm_read_line(VM_SCX_ROOT_OPS_PATH, buf, sizeof(buf)), GH_SCX_OPS_NAME) ==
			 0,
		 "root/ops is '%s'", buf);
	printf("attached: state enabled, root/ops %s\n", buf);

	/* 2. carriers are SCHED_EXT, other threads stay fair */
	VM_CHECK(scx_policy(0) == SCHED_OTHER, "the test's own policy is %d", scx_policy(0));
	run_hub(&st);
	VM_CHECK(run.mode == GH_MODE_SCHED_EXT, "the hub ran in mode %s",
		 gh_mode_name(run.mode));
	VM_CHECK(run.carrier_policy == SCHED_EXT_POLICY, "the first carrier's policy was %d",
		 run.carrier_policy);
	VM_CHECK(run.spare_policy == SCHED_EXT_POLICY, "the spare's policy was %d",
		 run.spare_policy);
	VM_CHECK(run.other_policy == SCHED_OTHER, "an ordinary thread's policy was %d",
		 run.other_policy);
	VM_CHECK(scx_policy(0) == SCHED_OTHER, "the thread that ran the hub kept policy %d",
		 scx_policy(0));
	VM_CHECK(run.blocked_done && st.handoffs >= 1, "%llu handoffs for a 50 ms nanosleep",
		 (unsigned long long)st.handoffs);
	printf("policies: carriers %d and %d, ordinary thread %d, after the run %d\n",
	       run.carrier_policy, run.spare_policy, run.other_policy, scx_policy(0));

	/* 3. --stats, --stop */
	{
		char *const argv[] = { SCX_LOADER, "--stats", "--once", NULL };

		VM_CHECK(scx_run(argv, "/tmp/scx_stats.log") == 0, "--stats --once failed");
		VM_CHECK(scx_file_has("/tmp/scx_stats.log", "sched_ext mode, running"),
			 "--stats did not report sched_ext mode");
	}
	check_metrics();
	scx_unload();
	printf("--stop detached it\n");

	/* 4. SIGKILL of a foreground loader */
	{
		char *const argv[] = { SCX_LOADER, "-m", "sched_ext", NULL };
		struct gh_scx_control *ctl = NULL;

		loader = scx_spawn(argv, "/tmp/scx_fg.log");
		VM_CHECK(loader > 0, "fork: %s", strerror(errno));
		ctl = scx_control_running();
		VM_CHECK(ctl != NULL, "the foreground loader never reached RUNNING");
		scx_control_put(ctl);
	}
	VM_CHECK(kill(loader, SIGKILL) == 0, "kill: %s", strerror(errno));
	VM_CHECK(waitpid(loader, &status, 0) == loader && WIFSIGNALED(status), "loader status %d",
		 status);
	scx_sleep_ms(200);
	VM_CHECK(strcmp(vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf)), "enabled") == 0,
		 "state '%s' after SIGKILL of the loader", buf);
	run_hub(&st);
	VM_CHECK(run.mode == GH_MODE_SCHED_EXT && st.handoffs >= 1,
		 "after SIGKILL: mode %s, %llu handoffs", gh_mode_name(run.mode),
		 (unsigned long long)st.handoffs);
	printf("after SIGKILL of the loader: still enabled, and the hub handed off\n");
	scx_unload();
	VM_CHECK(scx_file_has("/tmp/scx_stop.log", "unloaded"), "--stop did not say 'unloaded'");

	printf("PASS\n");
	return VM_EXIT_PASS;
}
