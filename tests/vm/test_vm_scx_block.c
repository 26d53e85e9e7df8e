/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unmarked blocking calls hand off in sched_ext mode, and the carrier whose call returns while
 * another carrier runs the hub is held until the hand-back: for a pipe read, a nanosleep, a
 * futex wait and a page fault resolved through userfaultfd (which no system-call tracing could
 * hold: only a scheduler can).
 *
 * In each case green thread A makes the call, bare. Green thread B can run only if the hub was
 * handed off to a spare while A's carrier sleeps: B records that it ran, then spins in green
 * code, without a switch point, until well after A's call has completed (a plain OS thread
 * completes it after BLOCK_MS). A's carrier is then runnable but must not run A's green code
 * before B reaches a switch point: A records when it continues, B when it yields, and both
 * hold an exclusivity marker while they run green code. The hub's counters must show a
 * handoff, and a hand-back for every hold.
 */
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sys/ioctl.h>

#include "scx_test.h"

#define BLOCK_MS 60
#define SPIN_AFTER_MS 60 /* B spins this long after A's call completed */

enum kind { K_PIPE, K_NANOSLEEP, K_FUTEX, K_FAULT, K_NR };
static const char *const kind_names[] = { "pipe read", "nanosleep", "futex wait",
					  "userfaultfd page fault" };

struct run {
	enum kind kind;
	struct scx_marker marker;
	int pipefd[2];
	atomic_uint futex_word;
	int uffd;
	char *area;
	size_t page;
	/* CLOCK_MONOTONIC ns */
	uint64_t a_blocks, completed, b_runs, b_yields, a_continues;
	bool a_ok;
	pid_t a_tid_before, a_tid_after, b_tid;
};

static struct run r;

/* The plain OS thread that completes A's call after BLOCK_MS. */
static void *completer(void *arg)
{
	struct uffd_msg msg;

	if (r.kind == K_FAULT) {
		struct pollfd p = { .fd = r.uffd, .events = POLLIN };
		struct uffdio_copy copy;
		char *src;

		if (poll(&p, 1, 10000) <= 0 || read(r.uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			return NULL;
		scx_sleep_ms(BLOCK_MS);
		src = aligned_alloc(r.page, r.page);
		memset(src, 'G', r.page);
		copy.dst = msg.arg.pagefault.address & ~((__u64)r.page - 1);
		copy.src = (__u64)(unsigned long)src;
		copy.len = r.page;
		copy.mode = 0;
		copy.copy = 0;
		r.completed = scx_now();
		if (ioctl(r.uffd, UFFDIO_COPY, &copy) < 0)
			perror("UFFDIO_COPY");
		free(src);
		return NULL;
	}
	if (r.kind == K_NANOSLEEP) {
		/* The kernel's timer completes it; note when. */
		while (!r.a_blocks)
			scx_sleep_ms(1);
		scx_sleep_ms(BLOCK_MS);
		r.completed = scx_now();
		return NULL;
	}
	while (!r.a_blocks)
		scx_sleep_ms(1);
	scx_sleep_ms(BLOCK_MS);
	r.completed = scx_now();
	if (r.kind == K_PIPE) {
		if (write(r.pipefd[1], "x", 1) != 1)
			perror("write");
	} else {
		atomic_store(&r.futex_word, 1);
		syscall(SYS_futex, &r.futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	return NULL;
}

static void *green_a(void *arg)
{
	struct timespec ts = { 0, BLOCK_MS * 1000000L };
	char c = 0;

	scx_enter(&r.marker, 1);
	r.a_tid_before = gettid();
	r.a_blocks = scx_now();
	scx_leave(&r.marker, 1);
	/* The call, bare: no gh_blocking_begin/end. */
	switch (r.kind) {
	case K_PIPE:
		r.a_ok = read(r.pipefd[0], &c, 1) == 1 && c == 'x';
		break;
	case K_NANOSLEEP:
		r.a_ok = nanosleep(&ts, NULL) == 0;
		break;
	case K_FUTEX:
		while (!atomic_load(&r.futex_word))
			syscall(SYS_futex, &r.futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
		r.a_ok = true;
		break;
	case K_FAULT:
		r.a_ok = *(volatile char *)r.area == 'G';
		break;
	default:
		break;
	}
	scx_enter(&r.marker, 1);
	r.a_continues = scx_now();
	r.a_tid_after = gettid();
	scx_leave(&r.marker, 1);
	return NULL;
}

static void *green_b(void *arg)
{
	/* Only a handoff lets B run while A blocks. */
	r.b_runs = scx_now();
	r.b_tid = gettid();
	while (!r.completed)
		scx_spin(&r.marker, 2, scx_now() + 1000000);
	scx_spin(&r.marker, 2, r.completed + SPIN_AFTER_MS * 1000000ull);
	r.b_yields = scx_now();
	gh_yield();
	return NULL;
}

static void *main_green(void *arg)
{
	gh_thread *a = gh_spawn(green_a, NULL), *b = gh_spawn(green_b, NULL);

	gh_join(a, NULL);
	gh_join(b, NULL);
	return NULL;
}

static void setup(enum kind kind)
{
	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.uffd = -1;
	r.page = (size_t)sysconf(_SC_PAGESIZE);
	if (kind == K_PIPE)
		VM_CHECK(pipe(r.pipefd) == 0, "pipe: %s", strerror(errno));
	if (kind == K_FAULT) {
		struct uffdio_api api = { .api = UFFD_API };
		struct uffdio_register reg;

		r.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
		vm_test_require(r.uffd >= 0, "userfaultfd: %s", strerror(errno));
		VM_CHECK(ioctl(r.uffd, UFFDIO_API, &api) == 0, "UFFDIO_API: %s", strerror(errno));
		r.area = mmap(NULL, r.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			      0);
		VM_CHECK(r.area != MAP_FAILED, "mmap: %s", strerror(errno));
		memset(&reg, 0, sizeof(reg));
		reg.range.start = (unsigned long)r.area;
		reg.range.len = r.page;
		reg.mode = UFFDIO_REGISTER_MODE_MISSING;
		VM_CHECK(ioctl(r.uffd, UFFDIO_REGISTER, &reg) == 0, "UFFDIO_REGISTER: %s",
			 strerror(errno));
	}
}

static void teardown(void)
{
	if (r.pipefd[0] > 0) {
		close(r.pipefd[0]);
		close(r.pipefd[1]);
	}
	if (r.uffd >= 0) {
		close(r.uffd);
		munmap(r.area, r.page);
	}
}

static void check(enum kind kind)
{
	struct gh_hub_opts o;
	struct gh_hub_stats st;
	pthread_t th;
	gh_hub *hub;
	int err;

	setup(kind);
	gh_hub_opts_init(&o);
	o.mode = GH_MODE_SCHED_EXT;
	hub = gh_hub_create(&o);
	VM_CHECK(hub != NULL, "gh_hub_create: %s", strerror(errno));
	VM_CHECK(pthread_create(&th, NULL, completer, NULL) == 0, "pthread_create");
	err = gh_hub_run(hub, main_green, NULL, NULL);
	pthread_join(th, NULL);
	VM_CHECK(err == 0, "%s: gh_hub_run: %s (%s)", kind_names[kind], gh_strerror(err),
		 gh_hub_mode_reason(hub));
	scx_hub_stats(hub, &st);
	printf("%-24s A blocked on %d, B ran on %d %.1f ms later; completed at +%.1f ms; B "
	       "yielded at +%.1f ms; A continued on %d at +%.1f ms; handoffs %llu, holds %llu, "
	       "hand-backs %llu\n",
	       kind_names[kind], r.a_tid_before, r.b_tid, (r.b_runs - r.a_blocks) / 1e6,
	       (r.completed - r.a_blocks) / 1e6, (r.b_yields - r.a_blocks) / 1e6, r.a_tid_after,
	       (r.a_continues - r.a_blocks) / 1e6, (unsigned long long)st.handoffs,
	       (unsigned long long)st.holds, (unsigned long long)st.handbacks);
	VM_CHECK(gh_hub_mode(hub) == GH_MODE_SCHED_EXT, "%s: mode %s", kind_names[kind],
		 gh_mode_name(gh_hub_mode(hub)));
	VM_CHECK(r.a_ok, "%s: A's call did not complete as expected", kind_names[kind]);
	VM_CHECK(atomic_load(&r.marker.violations) == 0, "%s: %u exclusivity violations",
		 kind_names[kind], atomic_load(&r.marker.violations));
	VM_CHECK(r.b_runs && r.b_runs < r.completed, "%s: B did not run while A was blocked",
		 kind_names[kind]);
	VM_CHECK(r.b_tid != r.a_tid_before, "%s: B ran on A's carrier", kind_names[kind]);
	VM_CHECK(r.a_continues >= r.b_yields,
		 "%s: A continued %.3f ms before B's switch point: it was not held",
		 kind_names[kind], (r.b_yields - r.a_continues) / 1e6);
	/* Whether A's return found B running (a hold, then a hand-back) or came only after B's
	 * switch point (a machine too loaded to run A's carrier sooner) is the machine's timing;
	 * either way every hold was handed back. */
	VM_CHECK(st.handoffs >= 1 && st.holds == st.handbacks,
		 "%s: handoffs %llu, holds %llu, hand-backs %llu", kind_names[kind],
		 (unsigned long long)st.handoffs, (unsigned long long)st.holds,
		 (unsigned long long)st.handbacks);
	gh_hub_destroy(hub);
	teardown();
}

int main(void)
{
	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	VM_CHECK(vm_scx_wait_state("disabled", 0) == 0, "a scheduler is already loaded");
	scx_load();
	for (int k = 0; k < K_NR; k++)
		check((enum kind)k);
	scx_unload();
	printf("PASS\n");
	return VM_EXIT_PASS;
}
