/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Do bpf/scx_compat.bpf.h's hand-written sched_ext declarations hold on a real sched_ext kernel?
 *
 * tests/vm/vm_compat.bpf.c uses each of them (a user DSQ, the DSQ iterator and
 * scx_bpf_dsq_move(), kicks, relocated flag values, the task's scx fields, the exit record).
 * This test loads it, which checks every kfunc prototype and CO-RE relocation against the
 * kernel's BTF and every callback against the verifier, then runs two SCHED_EXT threads that
 * spin and sleep under it, and checks that each mechanism was exercised, that the scheduler
 * was not ejected, and that it exits cleanly when detached.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "vm_compat.skel.h"
#include "vm_test.h"

#define NR_THREADS 2
#define ROUNDS 100

struct worker {
	pthread_t thread;
	int err;    /* errno of sched_setattr, 0 on success */
	int rounds; /* spin-then-sleep rounds completed */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Switches itself to SCHED_EXT, then alternates 200 us of spinning with 1 ms of sleep, so that
 * it is enqueued on wakeup, dispatched, run, and goes quiescent, over and over. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct timespec nap = { .tv_nsec = 1000000 };

	w->err = vm_set_sched_ext();
	if (w->err)
		return NULL;
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t until = now_ns() + 200000;

		while (now_ns() < until)
			;
		nanosleep(&nap, NULL);
		w->rounds++;
	}
	return NULL;
}

int main(void)
{
	struct worker workers[NR_THREADS] = { 0 };
	struct vm_compat *skel;
	struct bpf_link *link;
	char buf[256];
	int err;

	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	VM_CHECK(vm_scx_wait_state("disabled", 0) == 0, "a scheduler is already loaded");

	skel = vm_compat__open_and_load();
	VM_CHECK(skel != NULL, "vm_compat__open_and_load: %s", strerror(errno));
	/* libbpf 1.4 does not attach struct_ops maps from the skeleton; see bpf/bpf.mk. */
	link = bpf_map__attach_struct_ops(skel->maps.greenhub_compat_ops);
	err = libbpf_get_error(link);
	if (err)
		vm_test_fail("bpf_map__attach_struct_ops: %s", strerror(-err));
	skel->links.greenhub_compat_ops = link;
	VM_CHECK(vm_scx_wait_state("enabled", 5000) == 0, "state is '%s' after attach",
		 vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf)));

	for (int i = 0; i < NR_THREADS; i++) {
		err = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
		VM_CHECK(err == 0, "pthread_create: %s", strerror(err));
	}
	for (int i = 0; i < NR_THREADS; i++)
		pthread_join(workers[i].thread, NULL);

	printf("enqueued %llu (wakeups %llu), dispatches %llu, moved %llu, running %llu, sleeps %llu\n",
	       (unsigned long long)skel->bss->nr_enqueued, (unsigned long long)skel->bss->nr_wakeups,
	       (unsigned long long)skel->bss->nr_dispatches, (unsigned long long)skel->bss->nr_moved,
	       (unsigned long long)skel->bss->nr_running, (unsigned long long)skel->bss->nr_sleeps);
	vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf));
	VM_CHECK(strcmp(buf, "enabled") == 0, "scheduler ejected during the run: state %s, exit %u %s: %s",
		 buf, skel->bss->exit_kind, skel->bss->exit_reason, skel->bss->exit_msg);
	for (int i = 0; i < NR_THREADS; i++) {
		VM_CHECK(workers[i].err == 0, "sched_setattr(SCHED_EXT): %s",
			 strerror(workers[i].err));
		VM_CHECK(workers[i].rounds == ROUNDS, "worker %d completed %d of %d rounds", i,
			 workers[i].rounds, ROUNDS);
	}
	/* Each round ends in a sleep and begins with a wakeup of a SCHED_EXT thread. */
	VM_CHECK(skel->bss->nr_wakeups >= ROUNDS, "SCX_ENQ_WAKEUP seen %llu times",
		 (unsigned long long)skel->bss->nr_wakeups);
	VM_CHECK(skel->bss->nr_sleeps >= ROUNDS, "SCX_DEQ_SLEEP seen %llu times",
		 (unsigned long long)skel->bss->nr_sleeps);
	VM_CHECK(skel->bss->nr_moved >= ROUNDS, "the DSQ iterator moved %llu tasks",
		 (unsigned long long)skel->bss->nr_moved);
	VM_CHECK(skel->bss->nr_running >= ROUNDS, "ops.running ran %llu times",
		 (unsigned long long)skel->bss->nr_running);
	VM_CHECK(skel->bss->last_running_ns != 0, "gh_scx_now() returned 0");

	bpf_link__destroy(link);
	skel->links.greenhub_compat_ops = NULL;
	vm_scx_check_disabled();
	printf("exit kind: %u, reason: %s\n", skel->bss->exit_kind, skel->bss->exit_reason);
	VM_CHECK(skel->bss->exit_kind == SCX_EXIT_UNREG, "exit kind %u (%s: %s)",
		 skel->bss->exit_kind, skel->bss->exit_reason, skel->bss->exit_msg);

	vm_compat__destroy(skel);
	printf("PASS\n");
	return VM_EXIT_PASS;
}
