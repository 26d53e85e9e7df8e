// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sleeps outside a system call never hand off in trace mode: nothing could hold their return.
 *
 * A green thread touches a page registered with userfaultfd; a plain OS thread resolves the
 * fault after FAULT_MS. The fault sleeps in the kernel like a blocking call, but it was taken
 * from user mode, so the kernel side must leave the hub with its owner: no handoff, and the
 * hub's other green threads stall meanwhile (they would run only after a handoff).
 *
 * The kernel side tells a system call from a fault by the task's entry frame. The case that
 * frame test is weakest on is a fault on the instruction right after a SYSCALL that returned
 * -ENOSYS, with RCX and R11 untouched: test_bpf_uffd_fault_after_enosys makes exactly that
 * (in assembly) and checks that it is not handed off either.
 *
 * A fault the kernel takes inside a system call (read(2) into a userfaultfd page) is a block
 * inside the call: it hands off, and the call's exit goes through the return gate as usual.
 */
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#include "bpf_test.h"

#define FAULT_MS 150

enum kind { USER_FAULT, FAULT_AFTER_ENOSYS, FAULT_IN_SYSCALL };

struct run {
	struct bt_ticked t; /* first: the call is given it */
	enum kind kind;
	int uffd;
	char *area;
	size_t page;
	int pipefd[2];
	atomic_bool resolved;
	/* What the green thread saw. */
	bool result_ok;
	bool resolved_before_return;
	bool slot_found;
	__u64 fault_handoffs; /* the hub's handoffs during the faulting access */
};

/* The fault handler: a plain OS thread. Fills the faulting page with 'G' after FAULT_MS. */
static void *resolver(void *arg)
{
	struct run *r = arg;
	struct pollfd p = { .fd = r->uffd, .events = POLLIN };
	struct uffd_msg msg;
	struct uffdio_copy copy;
	char *src;

	if (poll(&p, 1, 10000) <= 0 || read(r->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
	    msg.event != UFFD_EVENT_PAGEFAULT)
		return NULL;
	bt_sleep_ms(FAULT_MS);
	src = aligned_alloc(r->page, r->page);
	memset(src, 'G', r->page);
	copy.dst = msg.arg.pagefault.address & ~((__u64)r->page - 1);
	copy.src = (__u64)(unsigned long)src;
	copy.len = r->page;
	copy.mode = 0;
	copy.copy = 0;
	atomic_store(&r->resolved, true);
	if (ioctl(r->uffd, UFFDIO_COPY, &copy) < 0)
		perror("UFFDIO_COPY");
	free(src);
	return NULL;
}

/*
 * An unknown system call (it returns -ENOSYS), then at once a load from p: the load's fault
 * frame has ip == rcx, flags == r11 and ax == -ENOSYS, like a system call's.
 */
static char enosys_then_load(const char *p)
{
	long ret;
	char v;

	__asm__ volatile("mov $1000, %%eax\n\t"
			 "syscall\n\t"
			 "movb (%[p]), %[v]\n\t"
			 : "=&a"(ret), [v] "=r"(v)
			 : [p] "r"(p)
			 : "rcx", "r11", "memory");
	(void)ret;
	return v;
}

static void fault_call(struct bt_ticked *t)
{
	struct run *r = (struct run *)t;
	unsigned idx[2];
	__u64 before = 0;

	/* Only the access is judged: the hub's own start (spares, stacks) may hand off a sleep
	 * in a system call of its own on a loaded machine. */
	r->slot_found = bt_my_slots(&r->t.maps, idx, 2) == 1;
	if (r->slot_found)
		before = r->t.maps.slots[idx[0]].nr_handoffs;
	switch (r->kind) {
	case USER_FAULT:
		r->result_ok = *(volatile char *)r->area == 'G';
		break;
	case FAULT_AFTER_ENOSYS:
		r->result_ok = enosys_then_load(r->area) == 'G';
		break;
	case FAULT_IN_SYSCALL:
		/* The pipe holds 'p': read copies it into the missing page, from the kernel. */
		r->result_ok = read(r->pipefd[0], r->area, 1) == 1 && r->area[0] == 'p' &&
			       r->area[1] == 'G';
		break;
	}
	r->resolved_before_return = atomic_load(&r->resolved);
	if (r->slot_found)
		r->fault_handoffs = r->t.maps.slots[idx[0]].nr_handoffs - before;
}

static void run_case(enum kind kind)
{
	struct run *r = calloc(1, sizeof(*r));
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct gh_trace_control before;
	struct gh_hub_stats st;
	pthread_t thread;

	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);

	if (uffd < 0) {
		print_message("    userfaultfd: %s\n", strerror(errno));
		free(r);
		skip();
		return;
	}
	assert_non_null(r);
	r->t.call = fault_call;
	r->kind = kind;
	r->page = (size_t)sysconf(_SC_PAGESIZE);
	r->uffd = uffd;
	assert_int_equal(ioctl(r->uffd, UFFDIO_API, &api), 0);
	r->area = mmap(NULL, 2 * r->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	assert_true(r->area != MAP_FAILED);
	reg.range.start = (__u64)(unsigned long)r->area;
	reg.range.len = 2 * r->page;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	assert_int_equal(ioctl(r->uffd, UFFDIO_REGISTER, &reg), 0);
	if (kind == FAULT_IN_SYSCALL) {
		assert_int_equal(pipe(r->pipefd), 0);
		assert_int_equal(write(r->pipefd[1], "p", 1), 1);
	}
	bt_loader_up();
	assert_int_equal(bt_maps_open(&r->t.maps), 0);
	before = *r->t.maps.ctl;
	assert_int_equal(pthread_create(&thread, NULL, resolver, r), 0);
	st = bt_run_trace(bt_ticked_main, &r->t);
	pthread_join(thread, NULL);
	print_message("    %ld ticks during the fault; handoffs %llu (%llu during it); the kernel "
		      "side saw %llu sleeps outside a system call\n",
		      r->t.ticks_during, (unsigned long long)st.handoffs,
		      (unsigned long long)r->fault_handoffs,
		      (unsigned long long)(r->t.maps.ctl->nr_fault_sleeps -
					   before.nr_fault_sleeps));
	assert_true(r->result_ok);
	assert_true(r->resolved_before_return);
	assert_true(r->slot_found);
	if (kind == FAULT_IN_SYSCALL) {
		assert_true(r->fault_handoffs >= 1);
		/* The ticker ran while the call faulted: only a handoff lets it (how often
		 * depends on the machine's speed, not judged). */
		assert_true(r->t.ticks_during >= 2);
	} else {
		/* Not handed off: the owner slept with the hub, and the ticker stood still. */
		assert_int_equal(r->fault_handoffs, 0);
		assert_true(r->t.maps.ctl->nr_fault_sleeps > before.nr_fault_sleeps);
		assert_true(r->t.ticks_during <= 2);
	}
	bt_maps_close(&r->t.maps);
	bt_loader_down();
	munmap(r->area, 2 * r->page);
	close(r->uffd);
	if (kind == FAULT_IN_SYSCALL) {
		close(r->pipefd[0]);
		close(r->pipefd[1]);
	}
	free(r);
}

static void test_bpf_uffd_user_fault_not_handed_off(void **state)
{
	run_case(USER_FAULT);
}

static void test_bpf_uffd_fault_after_enosys_not_handed_off(void **state)
{
	run_case(FAULT_AFTER_ENOSYS);
}

static void test_bpf_uffd_fault_in_syscall_hands_off(void **state)
{
	run_case(FAULT_IN_SYSCALL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_uffd_user_fault_not_handed_off),
		cmocka_unit_test(test_bpf_uffd_fault_after_enosys_not_handed_off),
		cmocka_unit_test(test_bpf_uffd_fault_in_syscall_hands_off),
	};

	bt_require();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
