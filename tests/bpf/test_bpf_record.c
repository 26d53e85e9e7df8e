// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * scx_greenhub --record in trace mode (docs/observability.md, recording a timeline): named
 * green threads of one hub block bare in a pipe read that only another green thread of the
 * same hub ends (so only a spare that took the hub over can end it), in nanosleep(2) and in a
 * futex (a pthread mutex a plain thread holds), while --record records them. The file is
 * checked by tests/bpf/check_timeline.py: valid JSON, slices that nest on every track, blocks
 * within their green thread's runs and named by their call, handoff flows from a block to the
 * carrier that continued the hub, and never two carriers running the hub's green code at once
 * (I1). The green code after each call also holds a marker no other carrier may be seen
 * holding. SIGINT ends a recording early with a whole file; bad command lines are refused.
 */
#include <bpf/libbpf.h>

#include "bpf_test.h"

#define HOLD_MS 20

enum blocker { READER, WRITER, SLEEPER, LOCKER, NR_BLOCKERS };

static const char *const names[NR_BLOCKERS] = { "gh-reader", "gh-writer", "gh-sleeper",
						"gh-locker" };

struct work {
	atomic_bool stop;
	atomic_long blocks[NR_BLOCKERS];
	struct bt_marker marker;
	atomic_bool locker_done;
	int pipefd[2];
	pthread_mutex_t mutex;
};

struct blocker_arg {
	struct work *w;
	enum blocker which;
};

/* A plain OS thread that holds the mutex the locker blocks on. */
static void *mutex_holder(void *arg)
{
	struct work *w = arg;

	while (!atomic_load(&w->locker_done)) {
		pthread_mutex_lock(&w->mutex);
		bt_sleep_ms(HOLD_MS);
		pthread_mutex_unlock(&w->mutex);
		bt_sleep_ms(5);
	}
	return NULL;
}

static void bare_call(struct work *w, enum blocker which)
{
	struct timespec ts = { .tv_nsec = HOLD_MS * 1000000L };
	char c;

	switch (which) {
	case READER:
		/* Ends only when the writer, a green thread of this hub, runs: on a spare. */
		check_int_equal(read(w->pipefd[0], &c, 1), 1);
		break;
	case WRITER:
		gh_sleep_until(gh_now() + HOLD_MS * 1000000ULL);
		check_int_equal(write(w->pipefd[1], "x", 1), 1);
		break;
	case SLEEPER:
		check_int_equal(nanosleep(&ts, NULL), 0);
		break;
	case LOCKER:
		check_int_equal(pthread_mutex_lock(&w->mutex), 0);
		pthread_mutex_unlock(&w->mutex);
		break;
	default:
		break;
	}
}

static void *blocker_main(void *arg)
{
	struct blocker_arg *b = arg;

	while (!atomic_load(&b->w->stop)) {
		bare_call(b->w, b->which);
		bt_marked_stretch(&b->w->marker);
		atomic_fetch_add(&b->w->blocks[b->which], 1);
		gh_yield();
	}
	if (b->which == READER)
		return NULL;
	if (b->which == WRITER) /* the reader's last read */
		check_int_equal(write(b->w->pipefd[1], "x", 1), 1);
	if (b->which == LOCKER)
		atomic_store(&b->w->locker_done, true);
	return NULL;
}

static void *hub_main(void *arg)
{
	struct work *w = arg;
	struct blocker_arg args[NR_BLOCKERS];

	for (int i = 0; i < NR_BLOCKERS; i++)
		args[i] = (struct blocker_arg){ .w = w, .which = (enum blocker)i };
	bt_green_named(blocker_main, args, sizeof(args[0]), names, NR_BLOCKERS);
	return NULL;
}

struct running {
	struct work w;
	struct bt_hub_thread hub;
	pthread_t holder;
};

/* Trace mode loaded and the blocking green threads at work, each having blocked a few times. */
static struct running *work_start(void)
{
	struct running *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	bt_loader_up();
	assert_int_equal(pipe2(r->w.pipefd, O_CLOEXEC), 0);
	assert_int_equal(pthread_mutex_init(&r->w.mutex, NULL), 0);
	assert_int_equal(pthread_create(&r->holder, NULL, mutex_holder, &r->w), 0);
	bt_hub_thread_start(&r->hub, hub_main, &r->w);
	for (int i = 0; i < 60000; i++) {
		bool all = true;

		for (int b = 0; b < NR_BLOCKERS; b++)
			all = all && atomic_load(&r->w.blocks[b]) >= 3;
		if (all)
			break;
		bt_sleep_ms(1);
	}
	return r;
}

static void work_stop(struct running *r)
{
	atomic_store(&r->w.stop, true);
	bt_hub_thread_join(&r->hub);
	assert_int_equal(pthread_join(r->holder, NULL), 0);
	close(r->w.pipefd[0]);
	close(r->w.pipefd[1]);
	pthread_mutex_destroy(&r->w.mutex);
	bt_loader_down();
	assert_int_equal(atomic_load(&r->w.marker.overlaps), 0);
	for (int b = 0; b < NR_BLOCKERS; b++)
		assert_true(atomic_load(&r->w.blocks[b]) >= 3);
	free(r);
}

/* A fresh file name for a recording. */
static void record_path(char *path, size_t len)
{
	snprintf(path, len, "/tmp/greenhub-record-%d-XXXXXX", (int)getpid());
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
}

/* check_timeline.py on the file, for this process's green threads: its exit status. */
static int check_timeline(const char *path, char *out, size_t len)
{
	char pid[16];
	const char *const argv[] = { "/usr/bin/python3", GH_SOURCE_DIR "/tests/bpf/check_timeline.py",
				     path, "--pid", pid, "--expect", "gh-reader=read",
				     "--expect", "gh-writer=", "--expect", "gh-sleeper=nanosleep",
				     "--expect", "gh-locker=futex", "--handoff-from", "gh-reader",
				     NULL };

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return bt_run_as(-1, argv, out, len, 120000);
}

static void test_bpf_record_timeline_of_blocking_threads(void **state)
{
	static char out[65536], check[16384];
	char path[64];
	struct running *r;
	int rc;

	(void)state;
	record_path(path, sizeof(path));
	r = work_start();
	rc = bt_loader(out, sizeof(out), "--record", path, "--duration", "2");
	work_stop(r);
	if (rc != 0)
		fail_msg("scx_greenhub --record exited %d:\n%s", rc, out);
	print_message("%s", out);
	rc = check_timeline(path, check, sizeof(check));
	print_message("%s", check);
	if (rc != 0)
		fail_msg("check_timeline.py exited %d on %s:\n%s", rc, path, check);
	unlink(path);
}

/* Until the recorder says, on fd, that it records this process; up to 30 s. Its output so far
 * into buf. */
static bool recording_me(int fd, char *buf, size_t len)
{
	char want[64];
	size_t used = 0;

	snprintf(want, sizeof(want), "recording process %d ", (int)getpid());
	buf[0] = '\0';
	for (int i = 0; i < 300 && !strstr(buf, want); i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf + used, len - used - 1);
		if (n <= 0)
			return false;
		used += (size_t)n;
		buf[used] = '\0';
	}
	return strstr(buf, want) != NULL;
}

static void test_bpf_record_sigint_writes_a_whole_file(void **state)
{
	static char check[16384];
	char path[64], buf[4096];
	struct running *r;
	pid_t pid;
	ssize_t n;
	int fd, rc;

	(void)state;
	record_path(path, sizeof(path));
	r = work_start();
	pid = bt_spawn((const char *const[]){ BT_LOADER, "--record", path, "--duration", "600",
					      NULL },
		       -1, NULL, &fd);
	assert_true(pid > 0);
	if (!recording_me(fd, buf, sizeof(buf)))
		fail_msg("scx_greenhub --record did not attach to this process:\n%s", buf);
	bt_sleep_ms(700);
	assert_int_equal(kill(pid, SIGINT), 0);
	rc = bt_wait(pid);
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	work_stop(r);
	if (rc != 0)
		fail_msg("scx_greenhub --record exited %d after SIGINT:\n%s", rc, buf);
	rc = check_timeline(path, check, sizeof(check));
	print_message("%s", check);
	if (rc != 0)
		fail_msg("check_timeline.py exited %d on %s:\n%s", rc, path, check);
	unlink(path);
}

static void test_bpf_record_bad_input(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(bt_loader(out, sizeof(out), "--record", ""), 2);
	assert_int_equal(bt_loader(out, sizeof(out), "--record", "/tmp/x.json", "--once"), 2);
	assert_int_equal(bt_loader(out, sizeof(out), "--record", "/tmp/x.json", "--top"), 2);
	assert_int_equal(bt_loader(out, sizeof(out), "--record", "/tmp/x.json", "--duration",
				   "-1"), 2);
	/* Nothing loaded: nothing to record. */
	bt_loader_down();
	assert_int_equal(bt_loader(out, sizeof(out), "--record", "/tmp/greenhub-none.json",
				   "--duration", "0.1"), 7);
	assert_non_null(strstr(out, "not running"));
	unlink("/tmp/greenhub-none.json");
	/* A file that cannot be created fails before anything is attached. */
	bt_loader_up();
	assert_int_equal(bt_loader(out, sizeof(out), "--record", "/nonexistent/dir/t.json"), 1);
	assert_non_null(strstr(out, "/nonexistent/dir/t.json"));
	bt_loader_down();
}

int main(void)
{
	if (access("/usr/bin/python3", X_OK) < 0)
		bt_skip("the recorded file's checker needs /usr/bin/python3");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_record_bad_input),
		cmocka_unit_test(test_bpf_record_timeline_of_blocking_threads),
		cmocka_unit_test(test_bpf_record_sigint_writes_a_whole_file),
	};

	bt_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
