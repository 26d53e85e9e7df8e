// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * With 64 hubs in one process, each with a parked spare, a block in one hub wakes that hub's
 * spare and no other: the kernel side writes the wakeup into that hub's ring only.
 *
 * Checked twice: by the kernel side's per-hub counters (exactly the blocking hub's nr_spare_wakes
 * grows, by one), and by the kernel's own accounting of every other hub's parked spare
 * (/proc/self/task/<tid>/status: not one voluntary context switch, so it never woke).
 *
 * And with every slot of the kernel side held, a new hub is refused with a reason that says so;
 * the holder's exit gives the slots back.
 */
#include <sys/prctl.h>

#include "bpf_test.h"

#define NR_HUBS 64
#define BLOCKER 17
#define BLOCK_MS 200

/* What each hub's thread saw, checked on the test's own thread (a cmocka assertion must not
 * fail on another one). */
struct hub_run {
	int index;
	gh_hub *hub;
	pthread_t thread;
	int result;        /* gh_hub_run's */
	bool spares_ready; /* every hub's spare parked in time */
	char reason[768];
};

static struct bt_maps maps;
static atomic_bool go, done;
static atomic_bool blocked_returned;
static atomic_int blocker_tid; /* the carrier that makes the blocking read */
static int pipefd[2];

static void *hub_main(void *arg)
{
	struct hub_run *h = arg;

	/* Every hub's spare parks before anything blocks. */
	h->spares_ready = bt_green_wait_spares(&maps, NR_HUBS);
	while (!atomic_load(&go))
		gh_sleep_until(gh_now() + 5000000);
	if (h->index == BLOCKER) {
		char c;

		atomic_store(&blocker_tid, gettid());
		if (read(pipefd[0], &c, 1) != 1) /* unmarked, blocks BLOCK_MS */
			h->spares_ready = false;
		atomic_store(&blocked_returned, true);
	}
	while (!atomic_load(&done))
		gh_sleep_until(gh_now() + 5000000);
	return NULL;
}

static void *run_hub(void *arg)
{
	struct hub_run *h = arg;

	int result = gh_hub_run(h->hub, hub_main, h, NULL);

	snprintf(h->reason, sizeof(h->reason), "%s", gh_hub_mode_reason(h->hub));
	__atomic_store_n(&h->result, result, __ATOMIC_RELEASE);
	if (result)
		atomic_store(&blocked_returned, true); /* nothing will block: do not wait for it */
	return NULL;
}

static long voluntary_switches(pid_t tid)
{
	char path[96], line[256];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void *mode_probe_main(void *arg)
{
	return NULL;
}

struct snapshot {
	unsigned idx[NR_HUBS];
	__u32 spare[NR_HUBS];
	long switches[NR_HUBS];
	__u64 wakes[NR_HUBS], handoffs[NR_HUBS];
};

static void snap(struct snapshot *s)
{
	assert_int_equal(bt_my_slots(&maps, s->idx, NR_HUBS), NR_HUBS);
	for (int i = 0; i < NR_HUBS; i++) {
		unsigned x = s->idx[i];

		s->spare[i] = maps.slots[x].spare_tid;
		s->switches[i] = voluntary_switches((pid_t)s->spare[i]);
		s->wakes[i] = maps.hubs[x].kside.nr_spare_wakes;
		s->handoffs[i] = maps.slots[x].nr_handoffs;
	}
}

static void test_bpf_hubs64_only_the_blocking_hubs_spare_wakes(void **state)
{
	static struct hub_run runs[NR_HUBS];
	struct snapshot before, after;
	int woken_hub = -1;

	assert_int_equal(pipe(pipefd), 0);
	bt_loader_up();
	assert_int_equal(bt_maps_open(&maps), 0);
	for (int i = 0; i < NR_HUBS; i++) {
		runs[i].index = i;
		runs[i].hub = bt_hub_trace();
		assert_int_equal(pthread_create(&runs[i].thread, NULL, run_hub, &runs[i]), 0);
	}
	for (int i = 0; i < 60000 && !bt_spares_ready(&maps, NR_HUBS); i++) {
		for (int h = 0; h < NR_HUBS; h++)
			if (__atomic_load_n(&runs[h].result, __ATOMIC_ACQUIRE))
				fail_msg("hub %d: gh_hub_run: %s (%s)", h,
					 gh_strerror(runs[h].result), runs[h].reason);
		bt_sleep_ms(1);
	}
	assert_true(bt_spares_ready(&maps, NR_HUBS));
	bt_sleep_ms(50); /* let every spare settle in its wait */
	snap(&before);

	atomic_store(&go, true);
	while (!atomic_load(&blocker_tid) && !atomic_load(&blocked_returned))
		bt_sleep_ms(1);
	if (atomic_load(&blocker_tid))
		assert_true(wait_in_syscall(atomic_load(&blocker_tid), SYS_read, 60000));
	bt_sleep_ms(BLOCK_MS);
	assert_int_equal(write(pipefd[1], "x", 1), 1);
	while (!atomic_load(&blocked_returned))
		bt_sleep_ms(1);
	snap(&after);
	atomic_store(&done, true);
	for (int i = 0; i < NR_HUBS; i++) {
		pthread_join(runs[i].thread, NULL);
		if (runs[i].result)
			fail_msg("hub %d: gh_hub_run: %s (%s)", i, gh_strerror(runs[i].result),
				 runs[i].reason);
		assert_true(runs[i].spares_ready);
		gh_hub_destroy(runs[i].hub);
	}

	for (int i = 0; i < NR_HUBS; i++) {
		assert_int_equal(before.idx[i], after.idx[i]);
		if (after.handoffs[i] != before.handoffs[i]) {
			/* The blocking hub: handed off and its spare signalled. */
			assert_int_equal(woken_hub, -1);
			woken_hub = i;
			assert_int_equal(after.wakes[i], before.wakes[i] + 1);
			continue;
		}
		/* Every other hub: no wake, and its spare slept through. */
		assert_int_equal(after.wakes[i], before.wakes[i]);
		assert_int_equal(after.spare[i], before.spare[i]);
		if (after.switches[i] != before.switches[i])
			fail_msg("hub in slot %u: spare %u switched %ld -> %ld", before.idx[i],
				 before.spare[i], before.switches[i], after.switches[i]);
	}
	assert_true(woken_hub >= 0);
	print_message("    one handoff in slot %u woke its spare %u; the other %d spares slept\n",
		      before.idx[woken_hub], before.spare[woken_hub], NR_HUBS - 1);
	bt_maps_close(&maps);
	bt_loader_down();
}

/* ---------------------------------------------------------------------------------------- */
/* Every slot in use                                                                          */

/* A process that claims every free slot, the way the runtime does (a CLAIM request per slot),
 * then waits to be killed: cheaper than GH_MAX_HUBS running hubs, which a TCG VM cannot start
 * in time. Its exit gives every slot back. */
static void claim_every_slot(__u32 kside, int ready_fd)
{
	for (unsigned i = 0; i < GH_MAX_HUBS; i++) {
		struct gh_request rq = { .magic = GH_REQ_MAGIC, .abi = GH_REQ_ABI_VERSION,
					 .op = GH_REQ_CLAIM, .kside = kside, .hub = i,
					 .cookie = 1000 + i };
		char name[17] = "";

		if (maps.slots[i].flags & GH_SLOT_F_ACTIVE)
			continue;
		prctl(PR_GET_NAME, name);
		/* A request the kernel skipped (its recursion guard) is made again. */
		for (int t = 0; t < 100 && !(maps.slots[i].flags & GH_SLOT_F_ACTIVE); t++)
			syscall(SYS_prctl, PR_SET_NAME, name, GH_REQ_MAGIC, &rq, 0);
	}
	if (write(ready_fd, "r", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

static unsigned slots_free(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < GH_MAX_HUBS; i++)
		n += !(__atomic_load_n(&maps.slots[i].flags, __ATOMIC_ACQUIRE) & GH_SLOT_F_ACTIVE);
	return n;
}

/* The kernel side serves GH_MAX_HUBS hubs: one more is refused, and told why; the holder's
 * exit gives every slot back. */
static void test_bpf_hubs64_all_slots_in_use(void **state)
{
	unsigned free_before, free_after = 0;
	struct gh_hub_opts o;
	int ready[2], status;
	gh_hub *extra;
	pid_t holder;
	char c;

	bt_loader_up();
	assert_int_equal(bt_maps_open(&maps), 0);
	free_before = slots_free();
	assert_int_equal(pipe(ready), 0);
	holder = fork();
	assert_true(holder >= 0);
	if (holder == 0)
		claim_every_slot(maps.ctl->kside.kside_id, ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(slots_free(), 0);

	gh_hub_opts_init(&o);
	o.mode = GH_MODE_TRACE;
	extra = gh_hub_create(&o);
	assert_non_null(extra);
	assert_int_equal(gh_hub_run(extra, mode_probe_main, NULL, NULL), -EOPNOTSUPP);
	if (!strstr(gh_hub_mode_reason(extra), "all 1024 hub slots"))
		fail_msg("reason: %s", gh_hub_mode_reason(extra));
	gh_hub_destroy(extra);

	kill(holder, SIGKILL);
	assert_int_equal(waitpid(holder, &status, 0), holder);
	/* Released when the kernel frees the process (after an RCU grace period). */
	for (int i = 0; i < 2000 && (free_after = slots_free()) < free_before; i++)
		bt_sleep_ms(1);
	print_message("    %u slots were free, the holder took them all, %u free after its exit\n",
		      free_before, free_after);
	assert_int_equal(free_after, free_before);
	close(ready[0]);
	close(ready[1]);
	bt_maps_close(&maps);
	bt_loader_down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_hubs64_only_the_blocking_hubs_spare_wakes),
		cmocka_unit_test(test_bpf_hubs64_all_slots_in_use),
	};

	bt_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
