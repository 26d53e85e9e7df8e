// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Block records in trace mode (include/greenhub/records.h, docs/observability.md): named green
 * threads block bare in read(2) on a pipe, in nanosleep(2) and in a futex (a pthread mutex a
 * plain thread holds), and `scx_greenhub --top --once` run meanwhile names each thread and its
 * call. Without a reader, the kernel side writes no record at all, and a reader that goes
 * (stopped, or killed outright) leaves none written after it. Each green thread's code
 * after its call holds a marker no other carrier may be seen holding (I1).
 */
#include <bpf/libbpf.h>

#include "bpf_test.h"

#define HOLD_MS 30

enum blocker { READER, SLEEPER, LOCKER, NR_BLOCKERS };

static const char *const names[NR_BLOCKERS] = { "gh-reader", "gh-sleeper", "gh-locker" };
/* What --top must name as each one's most frequent call: glibc's nanosleep() may call
 * clock_nanosleep, whose name holds "nanosleep" too. */
static const char *const calls[NR_BLOCKERS] = { "read", "nanosleep", "futex" };

struct work {
	atomic_bool stop;
	atomic_bool done[NR_BLOCKERS];
	atomic_long blocks[NR_BLOCKERS];
	struct bt_marker marker;
	int pipefd[2];
	pthread_mutex_t mutex;
};

struct blocker_arg {
	struct work *w;
	enum blocker which;
};

/* ---------------------------------------------------------------------------------------- */
/* Plain OS threads that end the calls                                                        */

static void *pipe_writer(void *arg)
{
	struct work *w = arg;

	while (!atomic_load(&w->done[READER])) {
		bt_sleep_ms(HOLD_MS);
		if (write(w->pipefd[1], "x", 1) != 1)
			break;
	}
	return NULL;
}

static void *mutex_holder(void *arg)
{
	struct work *w = arg;

	while (!atomic_load(&w->done[LOCKER])) {
		pthread_mutex_lock(&w->mutex);
		bt_sleep_ms(HOLD_MS);
		pthread_mutex_unlock(&w->mutex);
		bt_sleep_ms(5);
	}
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* In the hub                                                                                 */

static void bare_call(struct work *w, enum blocker which)
{
	struct timespec ts = { .tv_nsec = HOLD_MS * 1000000L };
	char c;

	switch (which) {
	case READER:
		check_int_equal(read(w->pipefd[0], &c, 1), 1);
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
		/* A switch point: the carrier publishes the next thread's name once --top
		 * attached (a thread that never switches is named by id only). */
		gh_yield();
	}
	atomic_store(&b->w->done[b->which], true);
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

/* ---------------------------------------------------------------------------------------- */
/* Running the work                                                                           */

struct running {
	struct work w;
	struct bt_hub_thread hub;
	pthread_t writer, holder;
};

static void work_start(struct running *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(pipe2(r->w.pipefd, O_CLOEXEC), 0);
	assert_int_equal(pthread_mutex_init(&r->w.mutex, NULL), 0);
	assert_int_equal(pthread_create(&r->writer, NULL, pipe_writer, &r->w), 0);
	assert_int_equal(pthread_create(&r->holder, NULL, mutex_holder, &r->w), 0);
	bt_hub_thread_start(&r->hub, hub_main, &r->w);
	/* Until each green thread has blocked a few times. */
	for (int i = 0; i < 60000; i++) {
		bool all = true;

		for (int b = 0; b < NR_BLOCKERS; b++)
			all = all && atomic_load(&r->w.blocks[b]) >= 3;
		if (all)
			break;
		bt_sleep_ms(1);
	}
}

static void work_stop(struct running *r)
{
	atomic_store(&r->w.stop, true);
	bt_hub_thread_join(&r->hub);
	assert_int_equal(pthread_join(r->writer, NULL), 0);
	assert_int_equal(pthread_join(r->holder, NULL), 0);
	close(r->w.pipefd[0]);
	close(r->w.pipefd[1]);
	pthread_mutex_destroy(&r->w.mutex);
	assert_int_equal(atomic_load(&r->w.marker.overlaps), 0);
	for (int b = 0; b < NR_BLOCKERS; b++)
		assert_true(atomic_load(&r->w.blocks[b]) >= 3);
}

/* Trace mode loaded, the test's view of its maps open, and the blocking green threads at work. */
static void loaded_and_blocking(struct running *r, struct bt_maps *maps)
{
	assert_non_null(r);
	bt_loader_up();
	assert_int_equal(bt_maps_open(maps), 0);
	work_start(r);
}

/* The line of --top's green-thread table that names name, or NULL. */
static const char *thread_line(const char *out, const char *name, char *line, size_t len)
{
	const char *p = strstr(out, "green threads");

	while (p && (p = strchr(p, '\n'))) {
		const char *end = strchr(++p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char pid[16], id[24], nm[32];

		if (n >= len)
			n = len - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (sscanf(line, "%15s %23s %31s", pid, id, nm) == 3 && !strcmp(nm, name))
			return line;
	}
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* The tests                                                                                  */

static void test_bpf_records_top_names_threads_and_calls(void **state)
{
	struct running *r = calloc(1, sizeof(*r));
	static char out[65536];
	struct bt_maps maps;
	int rc;

	(void)state;
	loaded_and_blocking(r, &maps);
	rc = bt_loader(out, sizeof(out), "--top", "--once", "--duration", "2");
	work_stop(r);
	/* The reader cleared its heartbeat as it left. */
	assert_int_equal(__atomic_load_n(&maps.ctl->kside.records_until_ns, __ATOMIC_ACQUIRE), 0);
	bt_maps_close(&maps);
	bt_loader_down();
	free(r);
	if (rc != 0)
		fail_msg("scx_greenhub --top --once exited %d:\n%s", rc, out);
	print_message("%s", out);
	assert_non_null(strstr(out, "processes and hubs"));
	for (int b = 0; b < NR_BLOCKERS; b++) {
		char line[256], pid[16], id[24], nm[32];
		unsigned long long blocks = 0;

		if (!thread_line(out, names[b], line, sizeof(line)))
			fail_msg("--top does not name %s:\n%s", names[b], out);
		assert_int_equal(sscanf(line, "%15s %23s %31s %llu", pid, id, nm, &blocks), 4);
		if (blocks < 1 || !strstr(line, calls[b]))
			fail_msg("%s: want >= 1 block in %s:\n%s", names[b], calls[b], line);
		assert_int_equal(atoi(pid), getpid());
	}
}

/* Count the records left in the pinned ring buffer. */
static int count_record(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	(*(long *)ctx)++;
	return 0;
}

static void test_bpf_records_none_without_reader(void **state)
{
	struct running *r = calloc(1, sizeof(*r));
	unsigned idx[4], n;
	struct ring_buffer *ring;
	struct bt_maps maps;
	long left = 0;
	int fd;

	(void)state;
	loaded_and_blocking(r, &maps);
	bt_sleep_ms(300);
	n = bt_my_slots(&maps, idx, 4);
	assert_true(n >= 1);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(maps.slots[idx[i]].flags & GH_SLOT_F_RECORDS, 0);
	work_stop(r);
	assert_true(maps.ctl->kside.nr_handoffs + maps.ctl->kside.nr_loop_sleeps > 0);
	assert_int_equal(maps.ctl->kside.nr_records, 0);
	assert_int_equal(maps.ctl->kside.nr_records_lost, 0);
	fd = bpf_obj_get(GH_TRACE_PIN_DIR "/" GH_RECORDS_PIN);
	assert_true(fd >= 0);
	ring = ring_buffer__new(fd, count_record, &left, NULL);
	assert_non_null(ring);
	assert_true(ring_buffer__consume(ring) >= 0);
	ring_buffer__free(ring);
	close(fd);
	assert_int_equal(left, 0);
	bt_maps_close(&maps);
	bt_loader_down();
	free(r);
}

/* Until the control map says a reader is attached (records_until_ns set); up to 10 s. */
static bool reader_attached(const struct bt_maps *maps)
{
	for (int i = 0; i < 10000; i++) {
		if (__atomic_load_n(&maps->ctl->kside.records_until_ns, __ATOMIC_ACQUIRE))
			return true;
		bt_sleep_ms(1);
	}
	return false;
}

/* A reader stopped by SIGTERM clears its heartbeat at once; one killed outright cannot, and
 * the records stop when the heartbeat runs out (the kernel side clears it then). */
static void test_bpf_records_reader_gone_stops_records(void **state)
{
	struct running *r = calloc(1, sizeof(*r));
	struct bt_maps maps;
	__u64 before, after;
	pid_t pid;
	int fd;

	(void)state;
	loaded_and_blocking(r, &maps);

	pid = bt_spawn((const char *const[]){ BT_LOADER, "--top", NULL }, -1, NULL, &fd);
	assert_true(pid > 0);
	assert_true(reader_attached(&maps));
	bt_sleep_ms(300);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(bt_wait(pid), 0);
	close(fd);
	assert_int_equal(__atomic_load_n(&maps.ctl->kside.records_until_ns, __ATOMIC_ACQUIRE), 0);
	assert_true(maps.ctl->kside.nr_records > 0);

	pid = bt_spawn((const char *const[]){ BT_LOADER, "--top", NULL }, -1, NULL, &fd);
	assert_true(pid > 0);
	assert_true(reader_attached(&maps));
	bt_sleep_ms(300);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(bt_wait(pid), 128 + SIGKILL);
	close(fd);
	/* The heartbeat runs out GH_RECORDS_HEARTBEAT_NS after the last renewal; the next block
	 * then clears it. */
	bt_sleep_ms(GH_RECORDS_HEARTBEAT_NS / 1000000 + 500);
	before = __atomic_load_n(&maps.ctl->kside.nr_records, __ATOMIC_ACQUIRE);
	assert_int_equal(__atomic_load_n(&maps.ctl->kside.records_until_ns, __ATOMIC_ACQUIRE), 0);
	bt_sleep_ms(300);
	after = __atomic_load_n(&maps.ctl->kside.nr_records, __ATOMIC_ACQUIRE);
	work_stop(r);
	assert_int_equal(after, before);
	bt_maps_close(&maps);
	bt_loader_down();
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_records_none_without_reader),
		cmocka_unit_test(test_bpf_records_top_names_threads_and_calls),
		cmocka_unit_test(test_bpf_records_reader_gone_stops_records),
	};

	bt_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
