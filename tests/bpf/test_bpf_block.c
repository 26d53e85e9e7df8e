// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unmarked blocking calls from green threads, in trace mode on this kernel: each one hands the
 * hub off, the other green threads keep running meanwhile, and the blocked green thread resumes
 * with the call's right result.
 *
 * The calls: a read of an empty blocking pipe, nanosleep, pthread_mutex_lock on a mutex another
 * OS thread holds, getaddrinfo against a DNS server (a thread of this test on 127.0.0.77:53,
 * reached through a resolv.conf bind-mounted in a private mount namespace) that answers after a
 * delay. A ticker green thread counts every millisecond: in mode none it could not tick at all
 * while the call blocks; here it must tick throughout. And the hub's own sleeps (an idle poll,
 * parked spares) never hand off (I3). With a ticker that yields instead of sleeping, the call
 * returns while the spare runs the hub: the return gate holds the carrier until the spare hands
 * the hub back (transition 4), and the two never run green code at once. When the call returns
 * to an idle hub, the returning carrier takes it and the idle carrier is kicked out of its
 * poll (transition 5).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include "bpf_test.h"

#define BLOCK_MS 200
#define DNS_ADDR "127.0.0.77"
#define DNS_NAME "slow.greenhub.test"

enum kind { BLOCK_PIPE, BLOCK_NANOSLEEP, BLOCK_MUTEX, BLOCK_DNS, BLOCK_NONE, BLOCK_PIPE_BUSY };

struct run {
	struct bt_ticked t; /* first: the ticker and the call are given it */
	enum kind kind;
	/* BLOCK_PIPE_BUSY: the ticker yields instead of sleeping, so the hub is always RUN by the
	 * spare when the call returns (transition 4), and records which OS thread runs it. */
	atomic_int in_green; /* tid of the carrier inside the ticker's stretch, 0 if none */
	atomic_long overlaps; /* the blocked thread resumed while the ticker's stretch ran */
	atomic_int go;        /* tid of the carrier about to block; the helper waits for it */
	atomic_bool released; /* the helper released the call (wrote, unlocked, answered) */
	int pipefd[2];
	pthread_mutex_t mutex;
	int dns_fd;
	/* What the green thread saw. */
	bool result_ok;
	bool released_before_return;
	char detail[128];
};

static bool dns_ready; /* the private resolv.conf is in place */

/* ---------------------------------------------------------------------------------------- */
/* Helpers on plain OS threads                                                                */

/* Until the green thread sleeps in system call nr (any if nr < 0): the helper's delay starts
 * there, so the call is ended only after it blocked however loaded the machine is. A minute
 * at most, for a run that failed before. */
static void wait_blocked(struct run *r, long nr)
{
	for (int i = 0; i < 60000 && !atomic_load(&r->go); i++)
		bt_sleep_ms(1);
	if (atomic_load(&r->go))
		wait_in_syscall(atomic_load(&r->go), nr, 60000);
}

static void *pipe_writer(void *arg)
{
	struct run *r = arg;

	wait_blocked(r, SYS_read);
	bt_sleep_ms(BLOCK_MS);
	atomic_store(&r->released, true);
	if (write(r->pipefd[1], "abc", 3) != 3)
		abort();
	return NULL;
}

static void *mutex_holder(void *arg)
{
	struct run *r = arg;

	/* Locked by the test before the hub starts; held until BLOCK_MS after the lock blocked. */
	wait_blocked(r, SYS_futex);
	bt_sleep_ms(BLOCK_MS);
	atomic_store(&r->released, true);
	pthread_mutex_unlock(&r->mutex);
	return NULL;
}

/* A one-query DNS server: answers the A query for DNS_NAME with 10.1.2.3 after BLOCK_MS. */
static void *dns_server(void *arg)
{
	struct run *r = arg;
	unsigned char q[512], a[600];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	struct pollfd p = { .fd = r->dns_fd, .events = POLLIN };
	ssize_t n;
	size_t qend, len;

	if (poll(&p, 1, 10000) <= 0)
		return NULL;
	n = recvfrom(r->dns_fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	if (n < 12)
		return NULL;
	/* The question ends after its name and QTYPE, QCLASS. */
	for (qend = 12; qend < (size_t)n && q[qend]; qend += q[qend] + 1)
		;
	qend += 5;
	if (qend > (size_t)n)
		return NULL;
	wait_blocked(r, -1); /* waiting for the answer, in whatever call the resolver uses */
	bt_sleep_ms(BLOCK_MS);
	memcpy(a, q, qend);
	a[2] = 0x81; /* QR, RD */
	a[3] = 0x80; /* RA, no error */
	a[6] = 0;
	a[7] = 1; /* one answer */
	a[8] = a[9] = a[10] = a[11] = 0;
	len = qend;
	memcpy(a + len, (unsigned char[]){ 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3 },
	       16);
	len += 16;
	atomic_store(&r->released, true);
	sendto(r->dns_fd, a, len, 0, (struct sockaddr *)&from, flen);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* In the hub                                                                                 */

static void the_call(struct run *r)
{
	switch (r->kind) {
	case BLOCK_PIPE:
	case BLOCK_PIPE_BUSY: {
		char buf[8] = "";
		ssize_t n = read(r->pipefd[0], buf, sizeof(buf));

		r->result_ok = n == 3 && !memcmp(buf, "abc", 3);
		snprintf(r->detail, sizeof(r->detail), "read returned %zd", n);
		break;
	}
	case BLOCK_NANOSLEEP: {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = BLOCK_MS * 1000000L };
		int rc = nanosleep(&ts, NULL);

		r->result_ok = rc == 0;
		atomic_store(&r->released, true);
		snprintf(r->detail, sizeof(r->detail), "nanosleep returned %d", rc);
		break;
	}
	case BLOCK_MUTEX: {
		int rc = pthread_mutex_lock(&r->mutex);

		r->result_ok = rc == 0;
		snprintf(r->detail, sizeof(r->detail), "pthread_mutex_lock returned %d", rc);
		if (!rc)
			pthread_mutex_unlock(&r->mutex);
		break;
	}
	case BLOCK_DNS: {
		struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
		int rc = getaddrinfo(DNS_NAME, "80", &hints, &res);

		if (rc == 0) {
			struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;

			r->result_ok = sin->sin_addr.s_addr == inet_addr("10.1.2.3");
			snprintf(r->detail, sizeof(r->detail), "getaddrinfo gave %s",
				 inet_ntoa(sin->sin_addr));
			freeaddrinfo(res);
		} else {
			snprintf(r->detail, sizeof(r->detail), "getaddrinfo: %s", gai_strerror(rc));
		}
		break;
	}
	case BLOCK_NONE:
		gh_sleep_until(gh_now() + BLOCK_MS * 1000000ull);
		r->result_ok = true;
		break;
	}
}

static void *busy_tick(void *arg)
{
	struct run *r = arg;

	while (!atomic_load(&r->t.ticker.stop)) {
		int me = gettid(), none = 0;

		if (!atomic_compare_exchange_strong(&r->in_green, &none, me))
			atomic_fetch_add(&r->overlaps, 1);
		atomic_fetch_add(&r->t.ticker.ticks, 1);
		for (volatile int i = 0; i < 2000; i++)
			;
		atomic_store(&r->in_green, 0);
		gh_yield();
	}
	return NULL;
}

static void block_call(struct bt_ticked *t)
{
	struct run *r = (struct run *)t;

	atomic_store(&r->go, gettid());
	the_call(r);
	/* Back in green code: nobody else may be in the ticker's stretch now. */
	if (atomic_load(&r->in_green))
		atomic_fetch_add(&r->overlaps, 1);
	r->released_before_return = atomic_load(&r->released);
}

static void run_case(enum kind kind)
{
	struct run *r = calloc(1, sizeof(*r));
	pthread_t helper;
	bool have_helper = false;
	struct gh_hub_stats st;

	assert_non_null(r);
	r->kind = kind;
	r->t.call = block_call;
	if (kind == BLOCK_PIPE_BUSY)
		r->t.tick = busy_tick;
	bt_loader_up();
	assert_int_equal(bt_maps_open(&r->t.maps), 0);
	switch (kind) {
	case BLOCK_PIPE:
	case BLOCK_PIPE_BUSY:
		assert_int_equal(pipe(r->pipefd), 0);
		assert_int_equal(pthread_create(&helper, NULL, pipe_writer, r), 0);
		have_helper = true;
		break;
	case BLOCK_MUTEX:
		pthread_mutex_init(&r->mutex, NULL);
		pthread_mutex_lock(&r->mutex);
		assert_int_equal(pthread_create(&helper, NULL, mutex_holder, r), 0);
		have_helper = true;
		break;
	case BLOCK_DNS: {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(53) };

		if (!dns_ready) {
			bt_maps_close(&r->t.maps);
			bt_loader_down();
			free(r);
			skip();
		}
		sin.sin_addr.s_addr = inet_addr(DNS_ADDR);
		r->dns_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		assert_true(r->dns_fd >= 0);
		assert_int_equal(bind(r->dns_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(pthread_create(&helper, NULL, dns_server, r), 0);
		have_helper = true;
		break;
	}
	default:
		break;
	}

	st = bt_run_trace(bt_ticked_main, &r->t);
	if (have_helper)
		pthread_join(helper, NULL);
	print_message("    %s; %ld ticks during %.1f ms; handoffs %llu, takeovers %llu, cancels "
		      "%llu, holds %llu, hand-backs %llu, idle returns %llu\n",
		      r->detail, r->t.ticks_during, (double)r->t.elapsed_ns / 1e6,
		      (unsigned long long)st.handoffs, (unsigned long long)st.takeovers,
		      (unsigned long long)st.cancels, (unsigned long long)st.holds,
		      (unsigned long long)st.handbacks, (unsigned long long)st.idle_returns);
	if (kind == BLOCK_NONE) {
		/* I3: an idle poll and parked spares are chosen sleeps. */
		assert_int_equal(st.handoffs, 0);
	} else {
		assert_true(r->result_ok);
		assert_true(r->released_before_return);
		assert_true(st.handoffs >= 1);
		assert_true(st.takeovers >= 1);
		/* The hub ran on while the call blocked: the ticker, which could not tick at all
		 * without the handoff, ticked (how often depends on the machine's speed: a 1 ms
		 * ticker over a 200 ms block ticks up to 200 times, far fewer on a loaded or
		 * emulated machine). */
		assert_true(r->t.ticks_during >= 2);
	}
	if (kind == BLOCK_PIPE_BUSY) {
		/* The call returned while the spare ran the hub: the gate held the carrier until
		 * the spare handed the hub back at a yield. */
		assert_true(st.holds >= 1);
		assert_true(st.handbacks >= 1);
		assert_int_equal(atomic_load(&r->overlaps), 0);
	}
	bt_maps_close(&r->t.maps);
	bt_loader_down();
	if (r->pipefd[0]) {
		close(r->pipefd[0]);
		close(r->pipefd[1]);
	}
	if (r->dns_fd)
		close(r->dns_fd);
	free(r);
}

static void test_bpf_block_pipe_read(void **state)
{
	run_case(BLOCK_PIPE);
}

static void test_bpf_block_nanosleep(void **state)
{
	run_case(BLOCK_NANOSLEEP);
}

static void test_bpf_block_pthread_mutex(void **state)
{
	run_case(BLOCK_MUTEX);
}

static void test_bpf_block_getaddrinfo(void **state)
{
	run_case(BLOCK_DNS);
}

static void test_bpf_block_return_waits_for_hand_back(void **state)
{
	run_case(BLOCK_PIPE_BUSY);
}

static void test_bpf_block_chosen_sleeps_never_hand_off(void **state)
{
	run_case(BLOCK_NONE);
}

/* ---------------------------------------------------------------------------------------- */
/* Transition 5: the call returns to an idle hub                                              */

struct idle_run {
	struct bt_maps maps;
	int pipefd[2];
	atomic_int spare;      /* a parked spare when the read begins; -1: none */
	atomic_int reader;     /* the carrier that blocks in the read */
	atomic_bool returned;  /* the blocked call returned */
	atomic_bool done;      /* the test thread has seen what it waited for */
};

static void *idle_main(void *arg)
{
	struct idle_run *r = arg;
	unsigned idx[2];
	char c;

	if (!check_true(bt_green_wait_spares(&r->maps, 1)) ||
	    !check_int_equal(bt_my_slots(&r->maps, idx, 2), 1)) {
		atomic_store(&r->spare, -1);
		return NULL;
	}
	atomic_store(&r->reader, gettid());
	atomic_store(&r->spare, (int)r->maps.slots[idx[0]].spare_tid);
	/* No other green thread and no timer: the spare that takes the hub idles in its poll
	 * with no deadline, and only the kick can get it out. */
	check_int_equal(read(r->pipefd[0], &c, 1), 1);
	atomic_store(&r->returned, true);
	while (!atomic_load(&r->done))
		gh_yield();
	return NULL;
}

/* The first line of /proc/self/task/TID/NAME in buf; "" if it cannot be read. */
static char *task_file(pid_t tid, const char *name, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", (int)tid, name);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = '\0';
		fclose(f);
	}
	return buf;
}

/* The system call a thread sleeps in (its number), or -1. */
static long sleeping_in(pid_t tid)
{
	char buf[64];

	task_file(tid, "syscall", buf, sizeof(buf));
	return buf[0] >= '0' && buf[0] <= '9' ? strtol(buf, NULL, 10) : -1;
}

/* What thread tid is doing, for a failure's message: its scheduler state (R running or
 * runnable, S asleep, ...), the kernel function it waits in, and its user and system CPU time
 * in clock ticks, which tell a spinning thread from one that never got a CPU. */
static void describe_thread(pid_t tid, char *out, size_t len)
{
	char buf[1024], wchan[64], state = '?';
	unsigned long utime = 0, stime = 0;
	const char *rest;

	task_file(tid, "stat", buf, sizeof(buf));
	/* After the command's closing parenthesis: state (field 3), then utime and stime
	 * (fields 14 and 15). */
	rest = strrchr(buf, ')');
	if (rest)
		sscanf(rest + 2, "%c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %lu", &state,
		       &utime, &stime);
	task_file(tid, "wchan", wchan, sizeof(wchan));
	snprintf(out, len, "state %c, waiting in %s, %lu user and %lu system ticks", state,
		 wchan[0] ? wchan : "-", utime, stime);
}

static void test_bpf_block_idle_return_kicks_the_idle_carrier(void **state)
{
	struct idle_run *r = calloc(1, sizeof(*r));
	struct bt_hub_thread hub;
	__u64 idle_returns;
	bool parked = false, idle = false;
	char what[160];
	long where;
	pid_t spare;
	unsigned h = 0;

	assert_non_null(r);
	assert_int_equal(pipe(r->pipefd), 0);
	bt_loader_up();
	assert_int_equal(bt_maps_open(&r->maps), 0);
	idle_returns = r->maps.ctl->kside.nr_idle_returns;
	bt_hub_thread_start(&hub, idle_main, r);
	while (!(spare = atomic_load(&r->spare)))
		bt_sleep_ms(1);
	if (spare < 0) {
		bt_hub_thread_join(&hub); /* reports the failed check */
		fail_msg("no spare parked");
	}
	/* The call blocks, a spare takes the hub and goes idle: the baton says IDLE(spare) and
	 * the spare sleeps in the hub's poll, no longer in the ppoll of a parked spare. (On its
	 * way there it may sleep elsewhere for a moment, a futex say: a return then finds the hub
	 * running, not idle.) The spare is the one the baton names: the one parked when the read
	 * began may have been retired meanwhile, and another taken the hub. */
	assert_true(wait_in_syscall(atomic_load(&r->reader), SYS_read, 60000));
	assert_int_equal(bt_my_slots(&r->maps, &h, 1), 1);
	for (int i = 0; i < 60000 && !idle; i++) {
		__u64 b = __atomic_load_n(&r->maps.slots[h].baton, __ATOMIC_ACQUIRE);
		pid_t holder = (pid_t)gh_baton_tid(b);

		if (gh_baton_state(b) == GH_BATON_IDLE && holder != atomic_load(&r->reader))
			spare = holder;
		where = sleeping_in(spare);
		idle = (where == SYS_epoll_pwait || where == SYS_epoll_pwait2) &&
		       gh_baton_state(__atomic_load_n(&r->maps.slots[h].baton, __ATOMIC_ACQUIRE)) ==
			       GH_BATON_IDLE;
		if (!idle)
			bt_sleep_ms(1);
	}
	print_message("    spare %d idles in system call %ld\n", (int)spare, where);
	if (!idle) {
		describe_thread(spare, what, sizeof(what));
		print_message("    not idle after 60 s: %s; baton %#llx, handoffs %llu\n", what,
			      (unsigned long long)r->maps.slots[h].baton,
			      (unsigned long long)r->maps.slots[h].nr_handoffs);
	}
	assert_int_equal(write(r->pipefd[1], "x", 1), 1);
	while (!atomic_load(&r->returned))
		bt_sleep_ms(1);
	/* The kernel side had the returning carrier take the idle hub and kick the idle one: it
	 * must leave its epoll wait and park again (a parked spare waits in ppoll on the hub's
	 * wake ring). */
	for (int i = 0; i < 1000 && !parked; i++) {
		where = sleeping_in(spare);
		parked = where == SYS_ppoll;
		if (!parked)
			bt_sleep_ms(1);
	}
	print_message("    after the return it waits in system call %ld\n", where);
	if (!parked) {
		describe_thread(spare, what, sizeof(what));
		print_message("    not parked after 1 s: %s\n", what);
	}
	atomic_store(&r->done, true);
	bt_hub_thread_join(&hub);
	assert_true(r->maps.ctl->kside.nr_idle_returns > idle_returns);
	assert_true(parked);
	bt_maps_close(&r->maps);
	bt_loader_down();
	close(r->pipefd[0]);
	close(r->pipefd[1]);
	free(r);
}

/* ---------------------------------------------------------------------------------------- */
/* A returning carrier takes a handoff that nobody else can                                  */

/*
 * Green thread A takes a pthread mutex and sleeps: handed off, the hub's one spare (max_spares
 * 1) runs B. A's sleep ends while B runs: A waits for the hand-back. Then B blocks on the mutex
 * A holds, before any switch point: handed off too, with no spare left to take it, and the one
 * carrier that could go on is A, waiting for a hand-back that B's carrier can never make. A
 * must see the handoff and take the hub itself (transition 2 by a returning carrier); if it
 * waited for the hand-back, the hub would stop for good (a watchdog fails the test then).
 */
struct lock_run {
	pthread_mutex_t m;
	atomic_bool done;
};

static void *lock_holder(void *arg)
{
	struct lock_run *r = arg;
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	check_int_equal(pthread_mutex_lock(&r->m), 0);
	check_int_equal(nanosleep(&ts, NULL), 0);
	check_int_equal(pthread_mutex_unlock(&r->m), 0);
	return NULL;
}

static void *lock_waiter(void *arg)
{
	struct lock_run *r = arg;
	uint64_t end = gh_now() + MS(10000);

	/* No switch point until A waits for the hub: its hold is counted. */
	while (bt_green_stats().holds == 0 && gh_now() < end)
		;
	check_true(bt_green_stats().holds > 0);
	check_int_equal(pthread_mutex_lock(&r->m), 0);
	check_int_equal(pthread_mutex_unlock(&r->m), 0);
	return NULL;
}

static void *lock_main(void *arg)
{
	struct lock_run *r = arg;
	gh_thread *a = gh_spawn(lock_holder, r), *b = gh_spawn(lock_waiter, r);

	check_non_null(a);
	check_non_null(b);
	if (a)
		check_int_equal(gh_join(a, NULL), 0);
	if (b)
		check_int_equal(gh_join(b, NULL), 0);
	atomic_store(&r->done, true);
	return NULL;
}

static void *lock_hub_main(void *arg)
{
	struct bt_hub_thread *t = arg;

	t->result = gh_hub_run(t->hub, t->fn, t->arg, NULL);
	return NULL;
}

static void test_bpf_block_returner_takes_a_handoff_nobody_else_can(void **state)
{
	struct lock_run r = { .m = PTHREAD_MUTEX_INITIALIZER };
	struct bt_hub_thread t = { .fn = lock_main, .arg = &r };
	struct gh_hub_opts o;
	struct gh_hub_stats st;
	int i;

	(void)state;
	bt_loader_up();
	gh_hub_opts_init(&o);
	o.mode = GH_MODE_TRACE;
	o.min_spares = 1;
	o.max_spares = 1;
	t.hub = gh_hub_create(&o);
	assert_non_null(t.hub);
	assert_int_equal(pthread_create(&t.thread, NULL, lock_hub_main, &t), 0);
	for (i = 0; i < 20000 && !atomic_load(&r.done); i++)
		bt_sleep_ms(1);
	if (!atomic_load(&r.done)) {
		/* The hub cannot be stopped: say so and leave (the kernel side releases a dead
		 * process's slots). */
		fprintf(stderr, "the hub stopped: the carrier that held the mutex waited for a "
				"hand-back while the hub's only spare was blocked on that mutex\n");
		_exit(1);
	}
	assert_int_equal(pthread_join(t.thread, NULL), 0);
	assert_checks();
	assert_int_equal(t.result, 0);
	assert_int_equal(gh_hub_mode(t.hub), GH_MODE_TRACE);
	st = bt_stats(t.hub);
	print_message("    %llu handoffs, %llu holds, %llu takeovers, %llu spares started\n",
		      (unsigned long long)st.handoffs, (unsigned long long)st.holds,
		      (unsigned long long)st.takeovers, (unsigned long long)st.spares_started);
	assert_true(st.holds > 0);
	assert_int_equal(gh_hub_destroy(t.hub), 0);
	bt_loader_down();
}

/* A private mount namespace where the resolver asks DNS_ADDR; before any thread exists. */
static void setup_dns(void)
{
	static const char resolv[] = "nameserver " DNS_ADDR "\noptions timeout:5 attempts:1\n";
	static const char nss[] = "hosts: dns\n";
	char dir[] = "/tmp/gh-bpf-dns-XXXXXX", path[64];
	FILE *f;

	if (!mkdtemp(dir))
		return;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/resolv.conf", dir);
	f = fopen(path, "w");
	if (!f || fputs(resolv, f) < 0 || fclose(f))
		goto out;
	if (mount(path, "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/nsswitch.conf", dir);
	f = fopen(path, "w");
	if (!f || fputs(nss, f) < 0 || fclose(f))
		goto out;
	if (mount(path, "/etc/nsswitch.conf", NULL, MS_BIND, NULL) < 0)
		goto out;
	dns_ready = true;
out:
	/* The bind mounts keep the files; the folder can go. */
	snprintf(path, sizeof(path), "%s/resolv.conf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/nsswitch.conf", dir);
	unlink(path);
	rmdir(dir);
	if (!dns_ready)
		fprintf(stderr, "note: no private mount namespace (%s): the getaddrinfo test "
				"skips\n",
			strerror(errno));
}

/* ---- a marked region in user mode -------------------------------------------------------- */

#define REGION_TICKS 3
#define REGION_LIMIT_NS (10 * 1000000000ull)

/* A marked call that never enters the kernel: green code between gh_blocking_begin and
 * gh_blocking_end that spins until the ticker has ticked REGION_TICKS times (or a 10 s limit).
 * Only the runtime's sysmon can hand that off, and its handoff needs no return gate (the
 * carrier's own gh_blocking_end takes the hub back): whatever gate the kernel side uses, a
 * spare must take it, or the ticker never runs meanwhile. */
static void region_call(struct bt_ticked *t)
{
	uint64_t until = gh_now() + REGION_LIMIT_NS;
	long t0 = atomic_load(&t->ticker.ticks);

	if (!check_int_equal(gh_blocking_begin(), 0))
		return;
	while (atomic_load(&t->ticker.ticks) < t0 + REGION_TICKS && gh_now() < until)
		;
	check_int_equal(gh_blocking_end(), 0);
}

static void test_bpf_block_marked_region_in_user_mode(void **state)
{
	struct bt_ticked *t = calloc(1, sizeof(*t));
	struct gh_hub_stats st;

	assert_non_null(t);
	bt_loader_up();
	assert_int_equal(bt_maps_open(&t->maps), 0);
	t->call = region_call;
	st = bt_run_trace(bt_ticked_main, t);
	print_message("ticks during the region: %ld; takeovers %llu, handoffs %llu\n",
		      t->ticks_during, (unsigned long long)st.takeovers,
		      (unsigned long long)st.handoffs);
	assert_true(st.takeovers >= 1);
	assert_true(t->ticks_during >= REGION_TICKS);
	bt_maps_close(&t->maps);
	bt_loader_down();
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_block_pipe_read),
		cmocka_unit_test(test_bpf_block_nanosleep),
		cmocka_unit_test(test_bpf_block_pthread_mutex),
		cmocka_unit_test(test_bpf_block_getaddrinfo),
		cmocka_unit_test(test_bpf_block_return_waits_for_hand_back),
		cmocka_unit_test(test_bpf_block_idle_return_kicks_the_idle_carrier),
		cmocka_unit_test(test_bpf_block_chosen_sleeps_never_hand_off),
		cmocka_unit_test(test_bpf_block_returner_takes_a_handoff_nobody_else_can),
		cmocka_unit_test(test_bpf_block_marked_region_in_user_mode),
	};

	bt_require();
	setup_dns();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
