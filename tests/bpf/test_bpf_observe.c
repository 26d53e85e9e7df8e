// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Observability, end to end (docs/observability.md): one program, watched from outside with
 * the tools an operator has.
 *
 * The program is this binary run as `test_bpf_observe --program [--spin]`, as root: named
 * green threads of one hub block bare, each in a loop, in
 *   gh-reader    read(2) on a pipe that a plain thread writes to every HOLD_MS,
 *   gh-sleeper   nanosleep(2) for HOLD_MS,
 *   gh-futex     FUTEX_WAIT on a word that a plain thread bumps and wakes every HOLD_MS,
 *   gh-resolver  getaddrinfo(3) against a DNS responder of the program's own (a plain thread on
 *                DNS_ADDR:53) that answers after DNS_DELAY_MS; the program's resolver is
 *                pointed at it by a resolv.conf bind-mounted in a private mount namespace,
 * and, with --spin, gh-spinner computes for SPIN_MS at a time without a switch point. Its hub's
 * mode is the default (auto), so GREENHUB_MODE chooses. It prints "ready" with each thread's
 * id once each has made a few rounds, runs until SIGTERM, and exits 0 if every call gave the
 * right result and no two carriers were ever inside the green threads' marked stretches (I1).
 *
 * The cases, in groups that share one run of the program:
 *   trace mode (the kernel side loaded): `scx_greenhub --top --once` names each thread and its
 *     call; `scx_greenhub --stats --once --format openmetrics` passes `promtool check metrics`
 *     and has the program's hub; `scx_greenhub --record` of the same run names each thread and
 *     its call in a timeline whose structure tests/bpf/check_timeline.py checks.
 *   mode none (GREENHUB_MODE=none, GREENHUB_STALL_MS; no kernel side): the stall detector's
 *     reports name the spinner, and the green thread of the unmarked getaddrinfo, each with
 *     its id.
 * Nothing is judged by time beyond what the tools guarantee.
 */
#include <arpa/inet.h>
#include <linux/futex.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include "bpf_test.h"
#include "promtool.h"

#define HOLD_MS 30
#define DNS_DELAY_MS 300
#define SPIN_MS 400
/* The stall threshold of the mode-none run: beyond every hold but the resolver's and the
 * spinner's. */
#define STALL_MS "150"
/* A loopback address of its own: a local resolver often owns 127.0.0.1:53 (or 127.0.0.53:53). */
#define DNS_ADDR "127.0.53.153"
#define DNS_NAME "slow.greenhub.test"
#define DNS_ANSWER "10.1.2.3"
/* Rounds each green thread makes before the program says it is ready. */
#define READY_ROUNDS 3

enum green { READER, SLEEPER, FUTEX, RESOLVER, SPINNER, NR_GREEN };

static const char *const green_names[NR_GREEN] = { "gh-reader", "gh-sleeper", "gh-futex",
						   "gh-resolver", "gh-spinner" };

/* ======================================================================================== */
/* The program                                                                               */

struct program {
	bool spin;
	atomic_bool stop;
	atomic_bool done[NR_GREEN];
	atomic_long rounds[NR_GREEN];
	uint64_t ids[NR_GREEN];
	struct bt_marker marker;
	int pipefd[2];
	atomic_uint futex_word;
	int dns_fd;
};

/* ---------------------------------------------------------------------------------------- */
/* Plain OS threads that end the calls                                                        */

static void *pipe_writer(void *arg)
{
	struct program *p = arg;

	while (!atomic_load(&p->done[READER])) {
		bt_sleep_ms(HOLD_MS);
		if (!check_int_equal(write(p->pipefd[1], "x", 1), 1))
			break;
	}
	return NULL;
}

static void *futex_waker(void *arg)
{
	struct program *p = arg;

	while (!atomic_load(&p->done[FUTEX])) {
		bt_sleep_ms(HOLD_MS);
		atomic_fetch_add(&p->futex_word, 1);
		check_true(syscall(SYS_futex, &p->futex_word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL,
				   NULL, 0) >= 0);
	}
	return NULL;
}

/* A DNS answer to query q (n bytes): for an A question, one record DNS_ANSWER; for any other,
 * none. Its length, or 0 if q is not a query to answer. */
static size_t dns_answer(const unsigned char *q, size_t n, unsigned char *a, size_t room)
{
	size_t qend, len;
	bool type_a;

	if (n < 12 || n + 16 > room)
		return 0;
	/* The question ends after its name, QTYPE and QCLASS. */
	for (qend = 12; qend < n && q[qend]; qend += q[qend] + 1u)
		;
	if (qend + 5 > n)
		return 0;
	type_a = q[qend + 1] == 0 && q[qend + 2] == 1;
	qend += 5;
	memcpy(a, q, qend);
	a[2] = 0x81; /* QR, RD */
	a[3] = 0x80; /* RA, no error */
	a[4] = 0;
	a[5] = 1;
	a[6] = 0;
	a[7] = type_a;
	a[8] = a[9] = a[10] = a[11] = 0;
	len = qend;
	if (type_a) {
		memcpy(a + len,
		       (unsigned char[]){ 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3 },
		       16);
		len += 16;
	}
	return len;
}

/* The slow DNS responder: each query is answered DNS_DELAY_MS after it came, several in flight
 * at once (glibc may ask A and AAAA together). */
#define DNS_PENDING 16

struct dns_pending {
	uint64_t due; /* 0: a free entry */
	struct sockaddr_in from;
	unsigned char answer[600];
	size_t len;
};

static void *dns_responder(void *arg)
{
	struct program *p = arg;
	struct dns_pending pend[DNS_PENDING] = { 0 };

	while (!atomic_load(&p->done[RESOLVER])) {
		struct pollfd pfd = { .fd = p->dns_fd, .events = POLLIN };
		uint64_t now = bt_now(), next = now + 50000000ull;
		unsigned char q[512];
		socklen_t flen;
		ssize_t n;
		int free_slot = -1;

		for (int i = 0; i < DNS_PENDING; i++) {
			if (pend[i].due && pend[i].due <= now) {
				check_true(sendto(p->dns_fd, pend[i].answer, pend[i].len, 0,
						  (struct sockaddr *)&pend[i].from,
						  sizeof(pend[i].from)) == (ssize_t)pend[i].len);
				pend[i].due = 0;
			}
			if (pend[i].due && pend[i].due < next)
				next = pend[i].due;
			if (!pend[i].due && free_slot < 0)
				free_slot = i;
		}
		if (poll(&pfd, 1, (int)((next - now) / 1000000u) + 1) <= 0 || free_slot < 0)
			continue;
		flen = sizeof(pend[free_slot].from);
		n = recvfrom(p->dns_fd, q, sizeof(q), 0, (struct sockaddr *)&pend[free_slot].from,
			     &flen);
		if (n <= 0)
			continue;
		pend[free_slot].len = dns_answer(q, (size_t)n, pend[free_slot].answer,
						 sizeof(pend[free_slot].answer));
		if (pend[free_slot].len)
			pend[free_slot].due = bt_now() + DNS_DELAY_MS * 1000000ull;
	}
	return NULL;
}

/* SIGTERM or SIGINT, blocked in every thread, ends the run. */
static void *stopper(void *arg)
{
	struct program *p = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	check_int_equal(sigwait(&set, &sig), 0);
	atomic_store(&p->stop, true);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* In the hub                                                                                 */

static void bare_call(struct program *p, enum green which)
{
	struct timespec ts = { .tv_nsec = HOLD_MS * 1000000L };
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	unsigned word;
	uint64_t end;
	char c;
	int rc;

	switch (which) {
	case READER:
		check_int_equal(read(p->pipefd[0], &c, 1), 1);
		break;
	case SLEEPER:
		/* The stall detector's signal ends a nanosleep early (mode none): go on. */
		while ((rc = nanosleep(&ts, &ts)) < 0 && errno == EINTR)
			;
		check_int_equal(rc, 0);
		break;
	case FUTEX:
		word = atomic_load(&p->futex_word);
		if (syscall(SYS_futex, &p->futex_word, FUTEX_WAIT_PRIVATE, word, NULL, NULL, 0) < 0)
			check_msg(errno == EAGAIN || errno == EINTR, "FUTEX_WAIT: %s",
				  strerror(errno));
		break;
	case RESOLVER:
		rc = getaddrinfo(DNS_NAME, "80", &hints, &res);
		if (!check_msg(rc == 0, "getaddrinfo(%s): %s", DNS_NAME, gai_strerror(rc)))
			break;
		check_msg(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr ==
				  inet_addr(DNS_ANSWER),
			  "getaddrinfo(%s) gave %s", DNS_NAME,
			  inet_ntoa(((struct sockaddr_in *)res->ai_addr)->sin_addr));
		freeaddrinfo(res);
		break;
	case SPINNER:
		end = gh_now() + SPIN_MS * 1000000ull;
		while (gh_now() < end)
			;
		break;
	default:
		break;
	}
}

struct green_arg {
	struct program *p;
	enum green which;
};

static void *green_main(void *arg)
{
	struct green_arg *g = arg;

	while (!atomic_load(&g->p->stop)) {
		bare_call(g->p, g->which);
		bt_marked_stretch(&g->p->marker);
		atomic_fetch_add(&g->p->rounds[g->which], 1);
		/* A switch point: once a reader attached, the carrier publishes the next green
		 * thread's name here (docs/observability.md). The spinner rests between spins. */
		if (g->which == SPINNER)
			gh_sleep_until(gh_now() + 100 * 1000000ull);
		else
			gh_yield();
	}
	atomic_store(&g->p->done[g->which], true);
	return NULL;
}

static bool all_ready(struct program *p, int n)
{
	for (int i = 0; i < n; i++)
		if (atomic_load(&p->rounds[i]) < READY_ROUNDS)
			return false;
	return true;
}

static void *hub_main(void *arg)
{
	struct program *p = arg;
	int n = p->spin ? NR_GREEN : SPINNER;
	struct green_arg args[NR_GREEN];
	gh_thread *t[NR_GREEN];

	for (int i = 0; i < n; i++) {
		args[i] = (struct green_arg){ .p = p, .which = (enum green)i };
		t[i] = gh_spawn(green_main, &args[i]);
		if (!check_non_null(t[i])) {
			atomic_store(&p->stop, true);
			n = i;
			break;
		}
		check_int_equal(gh_thread_set_name(t[i], green_names[i]), 0);
		p->ids[i] = gh_thread_id(t[i]);
	}
	while (!atomic_load(&p->stop) && !all_ready(p, n))
		gh_sleep_until(gh_now() + 1000000);
	if (!atomic_load(&p->stop)) {
		printf("ready pid %d", getpid());
		for (int i = 0; i < n; i++)
			printf(" %s=%llu", green_names[i], (unsigned long long)p->ids[i]);
		printf("\n");
		fflush(stdout);
	}
	for (int i = 0; i < n; i++)
		check_int_equal(gh_join(t[i], NULL), 0);
	return NULL;
}

/* A private mount namespace whose resolver asks DNS_ADDR alone; before any thread exists. 0,
 * or 1 with the call that failed said. */
static int private_resolver(void)
{
	static const char resolv[] = "nameserver " DNS_ADDR "\noptions timeout:5 attempts:1\n";
	static const char nss[] = "hosts: dns\n";
	static const char *const files[][3] = { { "resolv.conf", resolv, "/etc/resolv.conf" },
						{ "nsswitch.conf", nss, "/etc/nsswitch.conf" } };
	char dir[] = "/tmp/gh-observe-dns-XXXXXX", path[64];
	int rc = 1;

	if (!mkdtemp(dir)) {
		fprintf(stderr, "mkdtemp(%s): %s\n", dir, strerror(errno));
		return 1;
	}
	if (unshare(CLONE_NEWNS) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNS): %s\n", strerror(errno));
		goto out;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "mount(/, MS_REC | MS_PRIVATE): %s\n", strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
		f = fopen(path, "w");
		if (!f || fputs(files[i][1], f) < 0 || fclose(f)) {
			fprintf(stderr, "writing %s: %s\n", path, strerror(errno));
			goto out;
		}
		if (mount(path, files[i][2], NULL, MS_BIND, NULL) < 0) {
			fprintf(stderr, "mount(%s, %s, MS_BIND): %s\n", path, files[i][2],
				strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	/* The bind mounts keep the files; the folder can go. */
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
		unlink(path);
	}
	rmdir(dir);
	return rc;
}

/* The DNS responder's socket, bound to DNS_ADDR:53; -1 with the call that failed said. */
static int dns_socket(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		fprintf(stderr, "socket(AF_INET, SOCK_DGRAM): %s\n", strerror(errno));
		return -1;
	}
	a.sin_addr.s_addr = inet_addr(DNS_ADDR);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "bind(%s:53): %s\n", DNS_ADDR, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* `test_bpf_observe --program [--spin]`: 0 if the run was right, 1 if not, 2 for bad usage. */
static int program_main(int argc, char **argv)
{
	static struct program p;
	pthread_t helpers[4];
	void *(*const helper_fns[4])(void *) = { pipe_writer, futex_waker, dns_responder, stopper };
	struct gh_hub_opts o;
	sigset_t set;
	gh_hub *hub;
	int rc;

	if (argc > 3 || (argc == 3 && strcmp(argv[2], "--spin"))) {
		fprintf(stderr, "usage: %s --program [--spin]\n", argv[0]);
		return 2;
	}
	p.spin = argc == 3;
	if (private_resolver())
		return 1;
	p.dns_fd = dns_socket();
	if (p.dns_fd < 0)
		return 1;
	if (pipe2(p.pipefd, O_CLOEXEC) < 0) {
		fprintf(stderr, "pipe2: %s\n", strerror(errno));
		return 1;
	}
	/* Blocked in every thread from here on: the stopper takes them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if ((rc = pthread_sigmask(SIG_BLOCK, &set, NULL))) {
		fprintf(stderr, "pthread_sigmask: %s\n", strerror(rc));
		return 1;
	}
	for (int i = 0; i < 4; i++) {
		if ((rc = pthread_create(&helpers[i], NULL, helper_fns[i], &p))) {
			fprintf(stderr, "pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	gh_hub_opts_init(&o);
	hub = gh_hub_create(&o);
	if (!hub) {
		fprintf(stderr, "gh_hub_create: %s\n", strerror(errno));
		return 1;
	}
	rc = gh_hub_run(hub, hub_main, &p, NULL);
	printf("mode %s\n", gh_mode_name(gh_hub_mode(hub)));
	if (rc) {
		fprintf(stderr, "gh_hub_run: %s\n", gh_strerror(rc));
		return 1;
	}
	/* The stopper has taken its signal (the hub returns only after stop). */
	for (int i = 0; i < 4; i++)
		pthread_join(helpers[i], NULL);
	gh_hub_destroy(hub);
	printf("rounds");
	for (int i = 0; i < (p.spin ? NR_GREEN : SPINNER); i++)
		printf(" %s=%ld", green_names[i], atomic_load(&p.rounds[i]));
	printf("\noverlaps %ld\n", atomic_load(&p.marker.overlaps));
	return report_checks() || atomic_load(&p.marker.overlaps) ? 1 : 0;
}

/* ======================================================================================== */
/* Running the program, from the test                                                        */

struct run {
	pid_t pid;
	int fd;
	char out[1 << 17];
	size_t used;
	uint64_t ids[NR_GREEN];
};

/* The environment the program starts with (bt_spawn's setup takes no argument). */
static const char *run_mode, *run_stall_ms;

static void program_env(void)
{
	if (setenv("GREENHUB_MODE", run_mode, 1) < 0)
		_exit(125);
	if (run_stall_ms ? setenv("GREENHUB_STALL_MS", run_stall_ms, 1) < 0 :
			   unsetenv("GREENHUB_STALL_MS") < 0)
		_exit(125);
}

/* Read what the program wrote, for up to timeout_ms or until it contains want (NULL: until
 * end of file). True if want was seen (or the end, for NULL). What does not fit in r->out is
 * read and dropped: the program must never wait on a full pipe. */
static bool program_read(struct run *r, const char *want, unsigned timeout_ms)
{
	uint64_t deadline = bt_now() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		struct pollfd p = { .fd = r->fd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - bt_now()) / 1000000;
		char sink[4096];
		ssize_t n;

		if (want && strstr(r->out, want))
			return true;
		if (left <= 0)
			return false;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		if (r->used + 1 < sizeof(r->out))
			n = read(r->fd, r->out + r->used, sizeof(r->out) - r->used - 1);
		else
			n = read(r->fd, sink, sizeof(sink));
		if (n <= 0)
			return !want;
		if (r->used + 1 < sizeof(r->out)) {
			r->used += (size_t)n;
			r->out[r->used] = '\0';
		}
	}
}

/* Start the program in mode (GREENHUB_MODE), with the stall detector at stall_ms if not NULL,
 * and wait until it is ready: its green threads' ids in r->ids. */
static struct run *program_start(const char *mode, const char *stall_ms, bool spin)
{
	const char *const argv[] = { "/proc/self/exe", "--program", spin ? "--spin" : NULL, NULL };
	struct run *r = calloc(1, sizeof(*r));
	const char *ready;

	assert_non_null(r);
	run_mode = mode;
	run_stall_ms = stall_ms;
	r->pid = bt_spawn(argv, -1, program_env, &r->fd);
	assert_true(r->pid > 0);
	if (!program_read(r, "ready pid", 60000) || !program_read(r, "\n", 1000))
		fail_msg("the program did not get ready:\n%s", r->out);
	ready = strstr(r->out, "ready pid");
	for (int i = 0; i < (spin ? NR_GREEN : SPINNER); i++) {
		char key[32];
		const char *at;

		snprintf(key, sizeof(key), " %s=", green_names[i]);
		at = strstr(ready, key);
		if (!at)
			fail_msg("no id for %s in:\n%s", green_names[i], ready);
		r->ids[i] = strtoull(at + strlen(key), NULL, 10);
	}
	return r;
}

/* Stop the program with SIGTERM and assert that it ran right, in mode. */
static void program_stop(struct run *r, const char *mode)
{
	char want[32];
	int rc;

	assert_int_equal(kill(r->pid, SIGTERM), 0);
	program_read(r, NULL, 30000);
	rc = bt_wait(r->pid);
	close(r->fd);
	if (rc != 0)
		fail_msg("the program exited %d:\n%s", rc, r->out);
	snprintf(want, sizeof(want), "mode %s\n", mode);
	if (!strstr(r->out, want) || !strstr(r->out, "overlaps 0\n"))
		fail_msg("the program did not run in %s mode with 0 overlaps:\n%s", mode, r->out);
	free(r);
}

/* ======================================================================================== */
/* Trace mode: the loader's views of the program                                             */

static int trace_setup(void **state)
{
	bt_loader_up();
	*state = program_start("trace", NULL, false);
	return 0;
}

static int trace_teardown(void **state)
{
	program_stop(*state, "trace");
	bt_loader_down();
	return 0;
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

/* The calls each green thread's row must name as its most frequent: glibc's nanosleep() may be
 * clock_nanosleep; getaddrinfo waits for the answer in whichever of these its resolver uses. */
static const char *const top_calls[NR_GREEN][6] = {
	[READER] = { "read" },
	[SLEEPER] = { "nanosleep" },
	[FUTEX] = { "futex" },
	[RESOLVER] = { "poll", "recvfrom", "recvmsg", "select", "epoll_wait", "read" },
};

static void test_observe_top_names_threads_and_calls(void **state)
{
	struct run *r = *state;
	static char out[65536];
	int rc;

	rc = bt_loader(out, sizeof(out), "--top", "--once", "--duration", "3");
	if (rc != 0)
		fail_msg("scx_greenhub --top --once exited %d:\n%s", rc, out);
	print_message("%s", out);
	for (int g = 0; g < SPINNER; g++) {
		char line[256], pid[16], id[24], nm[32], call[32];
		unsigned long long blocks = 0;
		bool named = false;

		if (!thread_line(out, green_names[g], line, sizeof(line)))
			fail_msg("--top does not name %s:\n%s", green_names[g], out);
		assert_int_equal(sscanf(line, "%15s %23s %31s %llu %*s %*s %*s %31s", pid, id, nm,
					&blocks, call),
				 5);
		assert_int_equal(atoi(pid), r->pid);
		assert_int_equal(strtoull(id, NULL, 10), r->ids[g]);
		for (int c = 0; c < 6 && top_calls[g][c]; c++)
			named = named || strstr(call, top_calls[g][c]);
		if (blocks < 1 || !named)
			fail_msg("%s: want >= 1 block, most in %s:\n%s", green_names[g],
				 top_calls[g][0], line);
	}
}

static void test_observe_openmetrics_pass_promtool(void **state)
{
	struct run *r = *state;
	const char *promtool = promtool_path();
	static char out[65536], said[16384];
	char path[] = "/tmp/gh-observe-metrics-XXXXXX", series[64];
	int rc, fd;

	if (!promtool) {
		print_message("    %s\n", NO_PROMTOOL);
		skip();
	}
	rc = bt_loader(out, sizeof(out), "--stats", "--once", "--format", "openmetrics");
	if (rc != 0)
		fail_msg("scx_greenhub --stats --once --format openmetrics exited %d:\n%s", rc,
			 out);
	snprintf(series, sizeof(series), "pid=\"%d\"", r->pid);
	if (!strstr(out, series))
		fail_msg("no sample of the program's hub (%s) in:\n%s", series, out);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, out, strlen(out)), (ssize_t)strlen(out));
	assert_int_equal(close(fd), 0);
	rc = promtool_check_metrics(promtool, path, said, sizeof(said));
	unlink(path);
	if (rc != 0)
		fail_msg("promtool check metrics exited %d:\n%s\non:\n%.2000s", rc, said, out);
}

/* `scx_greenhub --record` of the same run: check_timeline.py checks the file's structure (slices
 * that nest, blocks within their green thread's runs, both ends of every handoff, never two
 * carriers in one hub's green code) and that it names each thread and its call, with a handoff
 * from the reader's pipe read (only the plain writer ends it, long after any grace period). */
static void test_observe_record_names_threads_and_calls(void **state)
{
	struct run *r = *state;
	static char out[65536], check[16384];
	char path[] = "/tmp/gh-observe-record-XXXXXX", pid[16];
	const char *const argv[] = { "/usr/bin/python3",
				     GH_SOURCE_DIR "/tests/bpf/check_timeline.py",
				     path,
				     "--pid",
				     pid,
				     "--expect",
				     "gh-reader=read",
				     "--expect",
				     "gh-sleeper=nanosleep",
				     "--expect",
				     "gh-futex=futex",
				     "--expect",
				     "gh-resolver=poll",
				     "--handoff-from",
				     "gh-reader",
				     NULL };
	int rc, fd;

	if (access("/usr/bin/python3", X_OK) < 0) {
		print_message("    no /usr/bin/python3 to check the recording with\n");
		skip();
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	rc = bt_loader(out, sizeof(out), "--record", path, "--duration", "2");
	if (rc != 0)
		fail_msg("scx_greenhub --record exited %d:\n%s", rc, out);
	snprintf(pid, sizeof(pid), "%d", (int)r->pid);
	rc = bt_run_as(-1, argv, check, sizeof(check), 120000);
	print_message("%s", check);
	if (rc != 0)
		fail_msg("check_timeline.py exited %d on %s:\n%s", rc, path, check);
	unlink(path);
}

static const struct CMUnitTest observe_trace_tests[] = {
	cmocka_unit_test(test_observe_top_names_threads_and_calls),
	cmocka_unit_test(test_observe_openmetrics_pass_promtool),
	cmocka_unit_test(test_observe_record_names_threads_and_calls),
};

/* ======================================================================================== */
/* Mode none: the stall detector's reports on the program's stderr                           */

static int none_setup(void **state)
{
	*state = program_start("none", STALL_MS, true);
	return 0;
}

static int none_teardown(void **state)
{
	program_stop(*state, "none");
	return 0;
}

/* Wait (up to 30 s) for a stall report naming green thread g with its id; print its line. */
static void assert_stall_names(struct run *r, enum green g)
{
	const char *at, *line;
	char want[96];

	snprintf(want, sizeof(want), "in green thread \"%s\" (id %llu) on carrier tid",
		 green_names[g], (unsigned long long)r->ids[g]);
	if (!program_read(r, want, 30000))
		fail_msg("no stall report naming %s (id %llu):\n%s", green_names[g],
			 (unsigned long long)r->ids[g], r->out);
	at = strstr(r->out, want);
	for (line = at; line > r->out && line[-1] != '\n'; line--)
		;
	print_message("%.*s\n", (int)strcspn(line, "\n"), line);
}

static void test_observe_stall_names_the_spinner(void **state)
{
	assert_stall_names(*state, SPINNER);
}

static void test_observe_stall_names_the_unmarked_call(void **state)
{
	assert_stall_names(*state, RESOLVER);
}

static const struct CMUnitTest observe_none_tests[] = {
	cmocka_unit_test(test_observe_stall_names_the_spinner),
	cmocka_unit_test(test_observe_stall_names_the_unmarked_call),
};

int main(int argc, char **argv)
{
	int failed;

	if (argc >= 2 && !strcmp(argv[1], "--program"))
		return program_main(argc, argv);
	if (geteuid() != 0)
		bt_skip("needs root (a private mount namespace, a DNS responder on port 53, and "
			"scx_greenhub)");
	/* Mode none first: it needs no kernel side, so it runs whether or not trace mode can. */
	failed = cmocka_run_group_tests_name("mode none", observe_none_tests, none_setup,
					     none_teardown);
	if (failed)
		return failed;
	bt_require();
	return cmocka_run_group_tests_name("trace mode", observe_trace_tests, trace_setup,
					   trace_teardown);
}
