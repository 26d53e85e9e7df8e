// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Isolation between processes (I5) in sched_ext mode, and what an application may do to the
 * mode's signal.
 *
 *   1. A worker forked from green code of a sched_ext-mode service drops its privileges
 *      (setuid(65534)) and then looks for every handle on the scheduler: it must hold no
 *      descriptor of a BPF object, no mapping of a BPF map, and be unable to open a pin. Its
 *      requests, aimed at its parent's hub with the parent's slot and cookie (which it
 *      inherited), must be refused and change nothing: the parent keeps its slot and goes on
 *      handing off, and an unrelated root process lives on, never signalled.
 *   2. An application that ignores the mode's signal, or installs its own handler for it,
 *      after its hub started: the scheduler stops handing that process's carriers off (a
 *      block then stalls the hub, as in mode none) instead of letting a displaced carrier
 *      through a gate that cannot stop it; nor while a green thread blocks the signal, in its
 *      mask or in the mask a ppoll restores (the ppoll's own letting it in); given the
 *      runtime's handler back and the signal open, handoffs resume.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include "../bpf/isolation.h"
#include "scx_test.h"
#define BLOCK_MS 100

static gh_hub *hub;
static struct gh_scx_control *ctl;
static const struct gh_hub_slot *slots; /* read-only view of the pinned slot map */
static int pipefd[2];

/* The slot map, mapped read-only (the test runs as root). */
static const struct gh_hub_slot *slots_view(void)
{
	union bpf_attr attr;
	void *p;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.pathname = (__u64)(unsigned long)(GH_SCX_PIN_DIR "/slots");
	fd = (int)syscall(SYS_bpf, BPF_OBJ_GET, &attr, sizeof(attr));
	VM_CHECK(fd >= 0, "opening the slot map: %s", strerror(errno));
	p = mmap(NULL, (size_t)GH_MAX_HUBS * GH_SLOT_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	VM_CHECK(p != MAP_FAILED, "mapping the slot map: %s", strerror(errno));
	return p;
}

/* The slot this process holds (exactly one). */
static unsigned my_slot(void)
{
	unsigned found = GH_MAX_HUBS, n = 0;

	for (unsigned i = 0; i < GH_MAX_HUBS; i++)
		if ((slots[i].flags & GH_SLOT_F_ACTIVE) && slots[i].tgid == (__u32)getpid()) {
			found = i;
			n++;
		}
	VM_CHECK(n == 1, "this process holds %u slots, not 1", n);
	return found;
}

static uint64_t handoffs(void)
{
	struct gh_hub_stats st;

	scx_hub_stats(hub, &st);
	return st.handoffs;
}

/* A plain thread that ends the green thread's bare read once the read has blocked (on a
 * loaded machine it may start later than any fixed delay) and BLOCK_MS more have passed, time
 * enough for the scheduler to hand the hub off, grace period included. */
struct wait_in {
	pid_t reader;
	long nr; /* the call it blocks in */
};

static void *writer(void *arg)
{
	const struct wait_in *w = arg;

	if (!wait_in_syscall(w->reader, w->nr, 20000))
		fprintf(stderr, "the read never blocked\n");
	scx_sleep_ms(BLOCK_MS);
	if (write(pipefd[1], "x", 1) != 1)
		perror("write");
	return NULL;
}

/* A bare blocking read from green code; the hub's handoffs since before it. With ppoll_open,
 * the wait is a ppoll that lets every signal in for its duration (its return restores the mask
 * in force before it), and the read follows it. */
static uint64_t blocking_wait(bool ppoll_open)
{
	struct wait_in w = { .reader = gettid(), .nr = ppoll_open ? SYS_ppoll : SYS_read };
	struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
	uint64_t before = handoffs();
	pthread_t th;
	sigset_t none;
	char c;

	sigemptyset(&none);
	VM_CHECK(pthread_create(&th, NULL, writer, &w) == 0, "pthread_create");
	if (ppoll_open)
		VM_CHECK(ppoll(&pfd, 1, NULL, &none) == 1, "ppoll: %s", strerror(errno));
	VM_CHECK(read(pipefd[0], &c, 1) == 1, "read: %s", strerror(errno));
	pthread_join(th, NULL);
	return handoffs() - before;
}

static uint64_t blocking_read(void)
{
	return blocking_wait(false);
}

/* The worker: the test's own views go first; what is left is what the runtime let it
 * inherit. */
static int worker(__u32 kside, unsigned parent_slot, __u64 parent_cookie, unsigned free_slot)
{
	static const char *const pins[] = { "control", "slots",   "hubs",     "carriers",
					      "gates",   "link_ops", "link_register" };

	scx_control_put(ctl);
	munmap((void *)slots, (size_t)GH_MAX_HUBS * GH_SLOT_SIZE);
	return iso_worker(GH_SCX_PIN_DIR, pins, sizeof(pins) / sizeof(pins[0]), kside, parent_slot,
			  parent_cookie, free_slot);
}

/* ---------------------------------------------------------------------------------------- */

static void *isolation_main(void *arg)
{
	const char *const loop[] = { "/bin/sh", "-c", "while :; do sleep 0.05; done", NULL };
	unsigned slot = my_slot(), free_slot = 0;
	__u64 cookie = slots[slot].claim_cookie, rejected = ctl->kside.nr_rejected;
	uint64_t before_fork, after;
	int status = -1;
	pid_t root_loop, pid;

	while (free_slot < GH_MAX_HUBS && (slots[free_slot].flags & GH_SLOT_F_ACTIVE))
		free_slot++;
	root_loop = scx_spawn((char *const *)loop, NULL);
	VM_CHECK(root_loop > 0, "starting the root loop: %s", strerror(errno));
	before_fork = blocking_read();
	/* The worker, forked from green code as a server would. */
	pid = fork();
	VM_CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(worker(ctl->kside.kside_id, slot, cookie, free_slot));
	while (waitpid(pid, &status, WNOHANG) == 0)
		gh_sleep_until(gh_now() + 2000000);
	after = blocking_read();
	printf("worker exit status %d; handoffs of a bare read before the fork %llu, after the "
	       "worker %llu; requests refused %llu\n",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1, (unsigned long long)before_fork,
	       (unsigned long long)after, (unsigned long long)(ctl->kside.nr_rejected - rejected));
	VM_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "the worker found a handle on the scheduler: %#x",
		 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	/* Its requests at the parent's slot were refused and changed nothing there. */
	VM_CHECK(ctl->kside.nr_rejected >= rejected + 2, "only %llu requests refused",
		 (unsigned long long)(ctl->kside.nr_rejected - rejected));
	VM_CHECK((slots[slot].flags & GH_SLOT_F_ACTIVE) && slots[slot].tgid == (__u32)getpid() &&
			 slots[slot].claim_cookie == cookie,
		 "the parent's slot changed: flags %#x, tgid %u", slots[slot].flags,
		 slots[slot].tgid);
	VM_CHECK(before_fork >= 1 && after >= 1,
		 "the hub did not hand off (before %llu, after %llu)",
		 (unsigned long long)before_fork, (unsigned long long)after);
	/* The unrelated root process is alive and was never signalled. */
	VM_CHECK(waitpid(root_loop, &status, WNOHANG) == 0, "the root loop ended (status %#x)",
		 status);
	kill(root_loop, SIGKILL);
	waitpid(root_loop, &status, 0);
	return NULL;
}

static void app_handler(int sig)
{
	(void)sig;
}

static void *signals_main(void *arg)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, own = { .sa_handler = app_handler };
	struct sigaction runtime;
	__u64 unhandled = ctl->kside.nr_gate_unhandled, masked = ctl->kside.nr_masked;
	sigset_t gate, old;
	uint64_t n[5];

	/* The signal ignored, then an application handler on it: no handoff either time. */
	VM_CHECK(sigaction(GH_SCX_SIGNO, &ign, &runtime) == 0, "sigaction: %s", strerror(errno));
	n[0] = blocking_read();
	VM_CHECK(sigaction(GH_SCX_SIGNO, &own, NULL) == 0, "sigaction: %s", strerror(errno));
	n[1] = blocking_read();
	VM_CHECK(sigaction(GH_SCX_SIGNO, &runtime, NULL) == 0, "sigaction: %s", strerror(errno));
	/* The runtime's handler back, but the signal blocked in the green thread, or in the mask
	 * a ppoll restores (the ppoll's own letting it in): no handoff. */
	sigemptyset(&gate);
	sigaddset(&gate, GH_SCX_SIGNO);
	VM_CHECK(pthread_sigmask(SIG_BLOCK, &gate, &old) == 0, "pthread_sigmask");
	n[2] = blocking_read();
	n[3] = blocking_wait(true);
	VM_CHECK(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0, "pthread_sigmask");
	/* Everything back: handoffs again. */
	n[4] = blocking_read();
	printf("handoffs of a bare read: signal ignored %llu, application handler %llu, "
	       "signal blocked %llu, in a ppoll that restores the block %llu, runtime handler "
	       "%llu; owner sleeps not handed off for the handler %llu, for the mask %llu\n",
	       (unsigned long long)n[0], (unsigned long long)n[1], (unsigned long long)n[2],
	       (unsigned long long)n[3], (unsigned long long)n[4],
	       (unsigned long long)(ctl->kside.nr_gate_unhandled - unhandled),
	       (unsigned long long)(ctl->kside.nr_masked - masked));
	VM_CHECK(n[0] == 0 && n[1] == 0, "handed off with the signal taken (%llu, %llu)",
		 (unsigned long long)n[0], (unsigned long long)n[1]);
	VM_CHECK(n[2] == 0 && n[3] == 0, "handed off with the signal blocked (%llu, %llu)",
		 (unsigned long long)n[2], (unsigned long long)n[3]);
	VM_CHECK(n[4] >= 1, "no handoff with the runtime's handler back");
	VM_CHECK(ctl->kside.nr_gate_unhandled >= unhandled + 2, "nr_gate_unhandled moved by %llu",
		 (unsigned long long)(ctl->kside.nr_gate_unhandled - unhandled));
	VM_CHECK(ctl->kside.nr_masked >= masked + 2, "nr_masked moved by %llu",
		 (unsigned long long)(ctl->kside.nr_masked - masked));
	return NULL;
}

static void run(void *(*fn)(void *), const char *what)
{
	struct gh_hub_opts o;
	int err;

	gh_hub_opts_init(&o);
	o.mode = GH_MODE_SCHED_EXT;
	hub = gh_hub_create(&o);
	VM_CHECK(hub != NULL, "gh_hub_create: %s", strerror(errno));
	err = gh_hub_run(hub, fn, NULL, NULL);
	VM_CHECK(err == 0, "%s: gh_hub_run: %s (%s)", what, gh_strerror(err),
		 gh_hub_mode_reason(hub));
	VM_CHECK(gh_hub_mode(hub) == GH_MODE_SCHED_EXT, "%s: mode %s (%s)", what,
		 gh_mode_name(gh_hub_mode(hub)), gh_hub_mode_reason(hub));
	gh_hub_destroy(hub);
	hub = NULL;
}

int main(void)
{
	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	VM_CHECK(vm_scx_wait_state("disabled", 0) == 0, "a scheduler is already loaded");
	VM_CHECK(pipe(pipefd) == 0, "pipe: %s", strerror(errno));
	scx_load();
	ctl = scx_control();
	VM_CHECK(ctl != NULL, "no pinned control map");
	slots = slots_view();
	run(isolation_main, "dropped worker");
	run(signals_main, "signal taken");
	munmap((void *)slots, (size_t)GH_MAX_HUBS * GH_SLOT_SIZE);
	scx_control_put(ctl);
	scx_unload();
	printf("PASS\n");
	return VM_EXIT_PASS;
}
