/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Block records in sched_ext mode (include/greenhub/records.h, docs/observability.md): named
 * green threads block bare in read(2) on a pipe, in nanosleep(2) and in a futex (a pthread
 * mutex a plain thread holds), and `scx_greenhub --top --once` run meanwhile names each thread
 * and its call. Before the reader attaches, the scheduler writes no record. Each green
 * thread's code after its call holds an exclusivity marker (I1).
 */
#include <pthread.h>

#include "scx_test.h"

#define HOLD_MS 30
#define TOP_LOG "/tmp/scx_top.log"

enum blocker { READER, SLEEPER, LOCKER, NR_BLOCKERS };

static const char *const names[NR_BLOCKERS] = { "gh-reader", "gh-sleeper", "gh-locker" };
/* glibc's nanosleep() may call clock_nanosleep, whose name holds "nanosleep" too. */
static const char *const calls[NR_BLOCKERS] = { "read", "nanosleep", "futex" };

static struct {
	atomic_bool stop;
	atomic_bool done[NR_BLOCKERS];
	atomic_long blocks[NR_BLOCKERS];
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

int main(void)
{
	char *const top[] = { SCX_LOADER, "--top", "--once", "--duration", "2", NULL };
	pthread_t writer, holder, hub_th;
	struct gh_scx_control *ctl;
	struct gh_hub_opts o;
	struct hub_run h;
	int rc;

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
	rc = scx_run(top, TOP_LOG);
	atomic_store(&w.stop, true);
	pthread_join(hub_th, NULL);
	pthread_join(writer, NULL);
	pthread_join(holder, NULL);
	scx_cat(TOP_LOG, "  top| ");
	VM_CHECK(rc == 0, "scx_greenhub --top --once exited %d", rc);
	VM_CHECK(ctl->kside.records_until_ns == 0, "the reader left its heartbeat set");
	VM_CHECK(h.err == 0, "gh_hub_run: %s (%s)", gh_strerror(h.err), gh_hub_mode_reason(h.hub));
	VM_CHECK(gh_hub_mode(h.hub) == GH_MODE_SCHED_EXT, "mode %s",
		 gh_mode_name(gh_hub_mode(h.hub)));
	VM_CHECK(atomic_load(&w.failed) == 0, "%d calls failed", atomic_load(&w.failed));
	VM_CHECK(atomic_load(&w.marker.violations) == 0, "%u exclusivity violations",
		 atomic_load(&w.marker.violations));
	for (int b = 0; b < NR_BLOCKERS; b++) {
		char line[256], pid[16], id[24], nm[32];
		unsigned long long blocks = 0;

		VM_CHECK(thread_line(names[b], line, sizeof(line)), "--top does not name %s",
			 names[b]);
		VM_CHECK(sscanf(line, "%15s %23s %31s %llu", pid, id, nm, &blocks) == 4 &&
				 blocks >= 1 && strstr(line, calls[b]),
			 "%s: want >= 1 block in %s: %s", names[b], calls[b], line);
	}
	scx_control_put(ctl);
	gh_hub_destroy(h.hub);
	scx_unload();
	printf("PASS\n");
	return VM_EXIT_PASS;
}
