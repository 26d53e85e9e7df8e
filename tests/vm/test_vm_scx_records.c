/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Block records in sched_ext mode (include/greenhub/records.h, docs/observability.md): named
 * green threads block bare in read(2) on a pipe, in nanosleep(2) and in a futex (a pthread
 * mutex a plain thread holds), and `scx_greenhub --top --once` run meanwhile names each thread
 * and its call. Before the reader attaches, the scheduler writes no record. Then
 * `scx_greenhub --record FILE --duration 2` records the same program: the file is one JSON
 * object of trace events (tests/vm/scx_timeline.h reads it: the VM has no python3) with runs
 * of each green thread, blocks named by each call, a handoff flow between two carriers, and
 * never two carriers running the hub's green code at once. Each green thread's code after its
 * call holds an exclusivity marker (I1).
 */
#include <pthread.h>

#include "scx_test.h"
#include "scx_timeline.h"

#define HOLD_MS 30
#define TOP_LOG "/tmp/scx_top.log"
#define RECORD_LOG "/tmp/scx_record.log"
#define RECORD_FILE "/tmp/scx_record.json"

enum blocker { READER, SLEEPER, LOCKER, NR_BLOCKERS };

static const char *const names[NR_BLOCKERS] = { "gh-reader", "gh-sleeper", "gh-locker" };
/* glibc's nanosleep() may call clock_nanosleep, whose name holds "nanosleep" too. */
static const char *const calls[NR_BLOCKERS] = { "read", "nanosleep", "futex" };

static struct {
	atomic_bool stop;
	atomic_bool done[NR_BLOCKERS];
	atomic_long blocks[NR_BLOCKERS];
	uint64_t ids[NR_BLOCKERS]; /* each one's gh_thread_id() */
	atomic_int failed; /* a call that did not do what it should */
	struct scx_marker marker;
	int pipefd[2];
	pthread_mutex_t mutex;
} w;

static void *pipe_writer(void *arg)
{
	while (!atomic_load(&w.done[READER])) {
		scx_sleep_ms(HOLD_MS);
		if (write(w.pipefd[1], "x", 1) != 1)
			break;
	}
	return NULL;
}

static void *mutex_holder(void *arg)
{
	while (!atomic_load(&w.done[LOCKER])) {
		pthread_mutex_lock(&w.mutex);
		scx_sleep_ms(HOLD_MS);
		pthread_mutex_unlock(&w.mutex);
		scx_sleep_ms(5);
	}
	return NULL;
}

static void bare_call(enum blocker which)
{
	struct timespec ts = { .tv_nsec = HOLD_MS * 1000000L };
	char c;

	switch (which) {
	case READER:
		if (read(w.pipefd[0], &c, 1) != 1)
			atomic_fetch_add(&w.failed, 1);
		break;
	case SLEEPER:
		if (nanosleep(&ts, NULL) != 0)
			atomic_fetch_add(&w.failed, 1);
		break;
	case LOCKER:
		if (pthread_mutex_lock(&w.mutex) != 0)
			atomic_fetch_add(&w.failed, 1);
		else
			pthread_mutex_unlock(&w.mutex);
		break;
	default:
		break;
	}
}

static void *blocker_main(void *arg)
{
	enum blocker which = (enum blocker)(uintptr_t)arg;

	while (!atomic_load(&w.stop)) {
		bare_call(which);
		scx_spin(&w.marker, which + 1, scx_now() + 100000);
		atomic_fetch_add(&w.blocks[which], 1);
		gh_yield(); /* a switch point: the carrier publishes names once --top is attached */
	}
	atomic_store(&w.done[which], true);
	return NULL;
}

static void *hub_main(void *arg)
{
	gh_thread *t[NR_BLOCKERS];

	for (int i = 0; i < NR_BLOCKERS; i++) {
		t[i] = gh_spawn(blocker_main, (void *)(uintptr_t)i);
		if (!t[i] || gh_thread_set_name(t[i], names[i]) != 0)
			atomic_fetch_add(&w.failed, 1);
		else
			w.ids[i] = gh_thread_id(t[i]);
	}
	for (int i = 0; i < NR_BLOCKERS; i++)
		if (t[i])
			gh_join(t[i], NULL);
	return NULL;
}

struct hub_run {
	gh_hub *hub;
	int err;
};

static void *hub_thread(void *arg)
{
	struct hub_run *h = arg;

	h->err = gh_hub_run(h->hub, hub_main, NULL, NULL);
	return NULL;
}

/* The line of --top's green-thread table that names name; false if none. */
static bool thread_line(const char *name, char *line, size_t len)
{
	bool in_threads = false;
	FILE *f = fopen(TOP_LOG, "r");

	while (f && fgets(line, (int)len, f)) {
		char pid[16], id[24], nm[32];

		if (strstr(line, "green threads"))
			in_threads = true;
		else if (in_threads && sscanf(line, "%15s %23s %31s", pid, id, nm) == 3 &&
			 !strcmp(nm, name)) {
			fclose(f);
			return true;
		}
	}
	if (f)
		fclose(f);
	return false;
}

/*
 * The recording RECORD_FILE of this process: one JSON object of trace events, with runs of
 * each green thread ("NAME #ID"), a block of each named by its call, a handoff flow whose ends
 * lie on two carriers, and no instant at which two carriers run the hub (I1). Prints what it
 * counted.
 */
static void check_recording(void)
{
	size_t len, nr, runs[NR_BLOCKERS] = { 0 }, blocks[NR_BLOCKERS] = { 0 }, handed_off = 0;
	size_t all_runs = 0, all_blocks = 0, pairs;
	uint64_t first = UINT64_MAX, last = 0; /* the slices' span, for the report */
	uint64_t pid = (uint64_t)getpid(), hub = UINT64_MAX, at = 0;
	char *text = tl_read(RECORD_FILE, &len);
	struct tl_event *ev;
	const char *bad;
	int most;

	VM_CHECK(text != NULL, "reading %s: %s", RECORD_FILE, strerror(errno));
	bad = tl_structure(text, len);
	VM_CHECK(bad == NULL, "%s (%zu bytes): %s", RECORD_FILE, len, bad);
	ev = tl_events(text, &nr);
	VM_CHECK(ev != NULL, "%s: no events (or out of memory)", RECORD_FILE);
	for (size_t i = 0; i < nr; i++) {
		const struct tl_event *e = &ev[i];

		if (e->ph != 'X' || e->pid != pid)
			continue;
		for (int b = 0; b < NR_BLOCKERS; b++) {
			char want[TL_NAME_LEN];

			snprintf(want, sizeof(want), "%s #%" PRIu64, names[b], w.ids[b]);
			if (!strcmp(e->cat, "run") && !strcmp(e->name, want)) {
				runs[b]++;
				hub = e->hub;
			}
			if (!strcmp(e->cat, "block") && e->green_id == w.ids[b] &&
			    !strcmp(e->green_name, names[b]) && strstr(e->name, calls[b]))
				blocks[b]++;
		}
		first = e->ts < first ? e->ts : first;
		last = e->ts + e->dur > last ? e->ts + e->dur : last;
		all_runs += !strcmp(e->cat, "run");
		all_blocks += !strcmp(e->cat, "block");
		handed_off += !strcmp(e->cat, "block") && e->handed_off;
	}
	pairs = tl_handoff_pairs(ev, nr, pid);
	printf("recording: %zu bytes, %zu events; %zu runs, %zu blocks (%zu handed off), "
	       "%zu handoff flows between two carriers; slices from %.3f s to %.3f s\n",
	       len, nr, all_runs, all_blocks, handed_off, pairs,
	       first == UINT64_MAX ? 0.0 : (double)first / 1e9, (double)last / 1e9);
	for (int b = 0; b < NR_BLOCKERS; b++) {
		printf("recording: %s #%" PRIu64 ": %zu runs, %zu blocks in %s\n", names[b],
		       w.ids[b], runs[b], blocks[b], calls[b]);
		VM_CHECK(runs[b] >= 1, "no run of %s #%" PRIu64 " in %s", names[b], w.ids[b],
			 RECORD_FILE);
		VM_CHECK(blocks[b] >= 1, "no block of %s in %s in %s", names[b], calls[b],
			 RECORD_FILE);
	}
	VM_CHECK(pairs >= 1, "no handoff flow with its two ends on two carriers");
	most = tl_i1(ev, nr, pid, hub, &at);
	VM_CHECK(most >= 0, "out of memory");
	VM_CHECK(most <= 1, "the timeline shows %d carriers running the hub at once, first at "
		 "%" PRIu64 ".%03" PRIu64 " us", most, at / 1000, at % 1000);
	free(ev);
	free(text);
}

/* --top's table names each green thread, with at least one block in its call. */
static void check_top(void)
{
	for (int b = 0; b < NR_BLOCKERS; b++) {
		char line[256], pid[16], id[24], nm[32];
		unsigned long long blocks = 0;

		VM_CHECK(thread_line(names[b], line, sizeof(line)), "--top does not name %s",
			 names[b]);
		VM_CHECK(sscanf(line, "%15s %23s %31s %llu", pid, id, nm, &blocks) == 4 &&
				 blocks >= 1 && strstr(line, calls[b]),
			 "%s: want >= 1 block in %s: %s", names[b], calls[b], line);
	}
}

int main(void)
{
	char *const top[] = { SCX_LOADER, "--top", "--once", "--duration", "2", NULL };
	char *const record[] = { SCX_LOADER, "--record", RECORD_FILE, "--duration", "2", NULL };
	pthread_t writer, holder, hub_th;
	struct gh_scx_control *ctl;
	struct gh_hub_opts o;
	struct hub_run h;
	int rc, rc_record;

	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	VM_CHECK(vm_scx_wait_state("disabled", 0) == 0, "a scheduler is already loaded");
	scx_load();
	VM_CHECK(pipe(w.pipefd) == 0, "pipe: %s", strerror(errno));
	VM_CHECK(pthread_mutex_init(&w.mutex, NULL) == 0, "pthread_mutex_init");
	gh_hub_opts_init(&o);
	o.mode = GH_MODE_SCHED_EXT;
	h.hub = gh_hub_create(&o);
	VM_CHECK(h.hub != NULL, "gh_hub_create: %s", strerror(errno));
	VM_CHECK(pthread_create(&writer, NULL, pipe_writer, NULL) == 0, "pthread_create");
	VM_CHECK(pthread_create(&holder, NULL, mutex_holder, NULL) == 0, "pthread_create");
	VM_CHECK(pthread_create(&hub_th, NULL, hub_thread, &h) == 0, "pthread_create");
	for (int i = 0; i < 60000; i++) {
		bool all = true;

		for (int b = 0; b < NR_BLOCKERS; b++)
			all = all && atomic_load(&w.blocks[b]) >= 3;
		if (all)
			break;
		scx_sleep_ms(1);
	}
	ctl = scx_control();
	VM_CHECK(ctl != NULL, "the control map is not pinned");
	VM_CHECK(ctl->kside.nr_records == 0, "%llu records written with no reader",
		 (unsigned long long)ctl->kside.nr_records);
	/* One reader at a time: --top, then --record, over the same running program. */
	rc = scx_run(top, TOP_LOG);
	rc_record = scx_run(record, RECORD_LOG);
	atomic_store(&w.stop, true);
	pthread_join(hub_th, NULL);
	pthread_join(writer, NULL);
	pthread_join(holder, NULL);
	scx_cat(TOP_LOG, "  top| ");
	scx_cat(RECORD_LOG, "  record| ");
	VM_CHECK(rc == 0, "scx_greenhub --top --once exited %d", rc);
	VM_CHECK(rc_record == 0, "scx_greenhub --record exited %d", rc_record);
	VM_CHECK(ctl->kside.records_until_ns == 0, "the reader left its heartbeat set");
	VM_CHECK(h.err == 0, "gh_hub_run: %s (%s)", gh_strerror(h.err), gh_hub_mode_reason(h.hub));
	VM_CHECK(gh_hub_mode(h.hub) == GH_MODE_SCHED_EXT, "mode %s",
		 gh_mode_name(gh_hub_mode(h.hub)));
	VM_CHECK(atomic_load(&w.failed) == 0, "%d calls failed", atomic_load(&w.failed));
	VM_CHECK(atomic_load(&w.marker.violations) == 0, "%u exclusivity violations",
		 atomic_load(&w.marker.violations));
	check_top();
	check_recording();
	scx_control_put(ctl);
	gh_hub_destroy(h.hub);
	scx_unload();
	printf("PASS\n");
	return VM_EXIT_PASS;
}
