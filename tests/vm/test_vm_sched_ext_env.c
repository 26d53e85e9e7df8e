/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Does the VM provide what greenhub's sched_ext mode needs, and does the BPF toolchain produce a
 * scheduler that this kernel accepts?
 *
 *  1. /sys/kernel/sched_ext/state exists and no scheduler is loaded.
 *  2. A thread can switch itself to SCHED_EXT (policy 7) with sched_setattr().
 *  3. tests/vm/vm_smoke.bpf.c, built on a kernel without sched_ext, loads and attaches; the
 *     state becomes "enabled" and root/ops names it.
 *  4. The SCHED_EXT thread, sleeping and waking, passes through the scheduler's ops.enqueue().
 *  5. Destroying the link detaches it: the state returns to "disabled" and ops.exit() saw an
 *     exit of kind SCX_EXIT_UNREG.
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

#include "vm_smoke.skel.h"
#include "vm_test.h"


/*
 * The SCHED_EXT thread. The main thread drives it through phases so that its sleeps and
 * wakeups happen while the scheduler is attached.
 */
struct worker {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int phase;          /* 0: start, 1: policy set, 2: go (scheduler attached), 3: done */
	int setattr_err;    /* errno of sched_setattr, 0 on success */
	uint32_t policy;    /* policy read back by sched_getattr */
	int wakeups;        /* sleeps completed in phase 2 */
};

static void worker_set_phase(struct worker *w, int phase)
{
	pthread_mutex_lock(&w->lock);
	w->phase = phase;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void worker_wait_phase(struct worker *w, int phase)
{
	pthread_mutex_lock(&w->lock);
	while (w->phase < phase)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct vm_sched_attr got = { 0 };
	struct timespec nap = { .tv_nsec = 1000000 };

	w->setattr_err = vm_set_sched_ext();
	if (!w->setattr_err && syscall(SYS_sched_getattr, 0, &got, sizeof(got), 0) == 0)
		w->policy = got.sched_policy;
	worker_set_phase(w, 1);

	worker_wait_phase(w, 2);
	for (int i = 0; i < 50; i++) {
		nanosleep(&nap, NULL);
		w->wakeups++;
	}
	worker_set_phase(w, 3);
	return NULL;
}

int main(void)
{
	struct worker w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct bpf_link *link = NULL;
	struct vm_smoke *skel;
	pthread_t thread;
	char buf[256];
	int err;

	/* 1. The kernel has sched_ext, idle. */
	vm_test_require(access(VM_SCX_STATE_PATH, R_OK) == 0,
			"no %s: kernel built without CONFIG_SCHED_CLASS_EXT", VM_SCX_STATE_PATH);
	vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf));
	printf("sched_ext state before: %s\n", buf);
	VM_CHECK(strcmp(buf, "disabled") == 0, "a scheduler is already loaded (state %s)", buf);
	vm_test_require(access("/sys/kernel/btf/vmlinux", R_OK) == 0,
			"no /sys/kernel/btf/vmlinux: kernel built without BTF");

	/* 2. A thread switches itself to SCHED_EXT; with no scheduler it runs on the fair class. */
	err = pthread_create(&thread, NULL, worker_main, &w);
	VM_CHECK(err == 0, "pthread_create: %s", strerror(err));
	worker_wait_phase(&w, 1);
	VM_CHECK(w.setattr_err == 0, "sched_setattr(SCHED_EXT): %s", strerror(w.setattr_err));
	VM_CHECK(w.policy == SCHED_EXT_POLICY, "policy read back is %u", w.policy);
	printf("thread policy: %u (SCHED_EXT)\n", w.policy);

	/* 3. Load and attach the smoke scheduler. libbpf 1.4 does not attach struct_ops maps
	 * from the skeleton (see bpf/bpf.mk): attach the map, and destroy the link ourselves. */
	skel = vm_smoke__open_and_load();
	VM_CHECK(skel != NULL, "vm_smoke__open_and_load: %s", strerror(errno));
	link = bpf_map__attach_struct_ops(skel->maps.greenhub_smoke_ops);
	err = libbpf_get_error(link);
	if (err) {
		link = NULL;
		vm_test_fail("bpf_map__attach_struct_ops: %s", strerror(-err));
	}
	skel->links.greenhub_smoke_ops = link;
	VM_CHECK(vm_scx_wait_state("enabled", 5000) == 0, "state is '%s' after attach",
		 vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf)));
	vm_read_line(VM_SCX_ROOT_OPS_PATH, buf, sizeof(buf));
	printf("root/ops: %s\n", buf);
	VM_CHECK(strcmp(buf, "greenhub_smoke") == 0, "root/ops is '%s'", buf);

	/* 4. The SCHED_EXT thread sleeps and wakes under the scheduler. */
	worker_set_phase(&w, 2);
	worker_wait_phase(&w, 3);
	pthread_join(thread, NULL);
	printf("wakeups: %d, nr_enqueued: %llu\n", w.wakeups,
	       (unsigned long long)skel->bss->nr_enqueued);
	VM_CHECK(w.wakeups == 50, "worker completed %d of 50 sleeps", w.wakeups);
	VM_CHECK(skel->bss->nr_enqueued > 0, "the SCHED_EXT thread never reached ops.enqueue");

	/* 5. Detach. */
	bpf_link__destroy(link);
	skel->links.greenhub_smoke_ops = NULL;
	vm_scx_check_disabled();
	printf("exit kind: %u, reason: %s\n", skel->bss->exit_kind, skel->bss->exit_reason);
	VM_CHECK(skel->bss->exit_kind == SCX_EXIT_UNREG, "exit kind %u (reason '%s')",
		 skel->bss->exit_kind, skel->bss->exit_reason);

	vm_smoke__destroy(skel);
	printf("PASS\n");
	return VM_EXIT_PASS;
}
