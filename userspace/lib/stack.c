// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Green stacks: mmap'ed with a guard region below, pooled per hub for reuse, and a SIGSEGV
 * reporter that names the green thread whose stack overflowed.
 *
 * The guard is GH__STACK_GUARD bytes, not one page: a function whose frame is larger than the
 * guard can step over it into the neighbouring mapping when it writes only the low end of its
 * frame, and nothing faults ("stack clash"). The library is built with -fstack-clash-protection,
 * which probes every page of a large frame; code compiled without it is safe for frames up to
 * the guard's size.
 *
 * The guard is made with madvise(MADV_GUARD_INSTALL) where the kernel has it (Linux 6.13): it
 * faults like PROT_NONE but keeps the stack one mapping, where mprotect() splits it in two, so a
 * process's stacks stay far below vm.max_map_count (65530 by default: 32,765 green threads with
 * split mappings). Elsewhere it is mprotect(PROT_NONE).
 *
 * The reporter runs on an alternate signal stack (the faulting stack has no room left). It
 * checks whether the fault lies in the guard of the green thread running on this carrier, or the
 * thread's stack pointer has gone below its stack (a frame that skipped the guard); if so it
 * writes one line with the thread's name, id and stack size, restores the default action and
 * returns, so the faulting instruction re-faults and the process dies of SIGSEGV with a core as
 * usual. Any other fault goes to the handler that was installed before ours, or to the default
 * action.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <ucontext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif

/* 1: the kernel installs guard regions with madvise; -1: it does not (mprotect); 0: unknown. */
static atomic_int guard_by_madvise;

/* Does an access to addr fault? The kernel says so without a signal: copying from it into a
 * pipe fails with EFAULT. (An emulator that accepts any madvise advice, as qemu-user does, is
 * told apart from a kernel that made the guard.) */
static bool faults(const void *addr)
{
	int p[2];
	bool fault;

	if (pipe2(p, O_CLOEXEC) < 0)
		return false;
	fault = write(p[1], addr, 1) < 0 && errno == EFAULT;
	close(p[0]);
	close(p[1]);
	return fault;
}

/* Make [base, base + GH__STACK_GUARD) fault on any access. */
static int guard(void *base)
{
	int how = atomic_load_explicit(&guard_by_madvise, memory_order_relaxed);

	if (how >= 0) {
		if (madvise(base, GH__STACK_GUARD, MADV_GUARD_INSTALL) == 0) {
			if (how == 1)
				return 0;
			if (faults(base)) {
				atomic_store_explicit(&guard_by_madvise, 1, memory_order_relaxed);
				return 0;
			}
			atomic_store_explicit(&guard_by_madvise, -1, memory_order_relaxed);
		} else if (errno == EINVAL) {
			/* An older kernel. Anything else is a real failure of a kernel that has
			 * it, which the mprotect below reports if it fails as well. */
			atomic_store_explicit(&guard_by_madvise, -1, memory_order_relaxed);
		}
	}
	return mprotect(base, GH__STACK_GUARD, PROT_NONE) < 0 ? -errno : 0;
}

int gh__stack_pool_init(struct gh__stack_pool *p, size_t stack_size, unsigned cap)
{
	p->stack_size = gh__page_round(stack_size);
	p->map_size = 0;
	p->cap = cap;
	p->n = 0;
	p->free = NULL;
	if (cap) {
		p->free = calloc(cap, sizeof(*p->free));
		if (!p->free)
			return -ENOMEM;
	}
	return 0;
}

void gh__stack_pool_fini(struct gh__stack_pool *p)
{
	for (unsigned i = 0; i < p->n; i++)
		munmap(p->free[i], p->map_size);
	free(p->free);
	p->free = NULL;
	p->n = 0;
}

static void describe(struct gh__stack_pool *p, struct gh__stack *s, void *base)
{
	s->base = base;
	s->map_size = p->map_size;
	s->lo = (char *)base + GH__STACK_GUARD;
	s->size = p->stack_size;
}

int gh__stack_get(struct gh__stack_pool *p, struct gh__stack *s, size_t extra)
{
	size_t map_size = GH__STACK_GUARD + p->stack_size + gh__page_round(extra);
	struct gh__carrier *c;
	struct gh_thread *t;
	void *base;
	int err = 0;

	/* All stacks of a pool carry the same extra (the thread struct). */
	if (!p->map_size)
		p->map_size = map_size;
	if (p->n) {
		describe(p, s, p->free[--p->n]);
		return 0;
	}
	/* Mapping may sleep (mmap_lock): not a handoff, so that a spawn is whole (internal.h). */
	c = gh__carrier_self();
	t = gh__no_handoff_begin(c);
	base = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	err = guard(base);
	if (err) {
		munmap(base, map_size);
		goto out;
	}
	describe(p, s, base);
out:
	gh__no_handoff_end(c, t);
	return err;
}

void gh__stack_put(struct gh__stack_pool *p, struct gh__stack *s)
{
	struct gh__carrier *c;
	struct gh_thread *t;

	if (p->n < p->cap) {
		p->free[p->n++] = s->base;
		return;
	}
	c = gh__carrier_self();
	t = gh__no_handoff_begin(c);
	munmap(s->base, s->map_size);
	gh__no_handoff_end(c, t);
}

/* ---------------------------------------------------------------------------------------- */

static struct sigaction previous_segv;
static pthread_mutex_t reporter_lock = PTHREAD_MUTEX_INITIALIZER;

/* Async-signal-safe formatting: append s, or the decimal digits of n. */
static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at < cap)
		buf[at++] = *s++;
	return at;
}

static size_t put_u64(char *buf, size_t at, size_t cap, uint64_t n)
{
	char digits[24];
	int i = 0;

	do {
		digits[i++] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	while (i && at < cap)
		buf[at++] = digits[--i];
	return at;
}

/* The stack pointer at the fault. */
static char *fault_sp(void *uctx)
{
	ucontext_t *uc = uctx;

#if defined(__x86_64__)
	return (char *)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	return (char *)uc->uc_mcontext.sp;
#else
	(void)uc;
	return NULL;
#endif
}

/* Did the fault come from t running off the low end of its stack? Its guard was hit, or its
 * stack pointer is below its stack already (a frame larger than the guard). */
static bool overflowed(const struct gh_thread *t, const char *addr, const char *sp)
{
	const char *lo = t->stack.lo;

	return (addr >= (const char *)t->stack.base && addr < lo) || (sp && sp < lo &&
		sp >= (const char *)t->stack.base - GH_STACK_MAX);
}

static void on_segv(int sig, siginfo_t *info, void *uctx)
{
	struct gh_thread *t = gh__thread_self();
	char *addr = info->si_addr;

	if (t && overflowed(t, addr, fault_sp(uctx))) {
		char line[256];
		size_t n = 0;

		n = put_str(line, n, sizeof(line), "greenhub: stack overflow in green thread '");
		n = put_str(line, n, sizeof(line), t->name[0] ? t->name : "(unnamed)");
		n = put_str(line, n, sizeof(line), "' (id ");
		n = put_u64(line, n, sizeof(line), t->id);
		n = put_str(line, n, sizeof(line), "): its stack is ");
		n = put_u64(line, n, sizeof(line), t->stack.size);
		n = put_str(line, n, sizeof(line),
			    " bytes; raise gh_hub_opts.stack_size or use less stack\n");
		(void)!write(STDERR_FILENO, line, n);
		signal(SIGSEGV, SIG_DFL);
		return;
	}
	if (previous_segv.sa_flags & SA_SIGINFO) {
		if (previous_segv.sa_sigaction) {
			previous_segv.sa_sigaction(sig, info, uctx);
			return;
		}
	} else if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
		previous_segv.sa_handler(sig);
		return;
	}
	signal(SIGSEGV, SIG_DFL);
}

/*
 * Installed each time a hub starts unless it is already in place: an application (or a test
 * framework) that set its own SIGSEGV handler since then gets it chained behind ours.
 */
int gh__overflow_reporter_install(void)
{
	struct sigaction sa, cur;
	int err = 0;

	pthread_mutex_lock(&reporter_lock);
	if (sigaction(SIGSEGV, NULL, &cur) < 0) {
		err = -errno;
		goto out;
	}
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_segv)
		goto out;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	previous_segv = cur;
	if (sigaction(SIGSEGV, &sa, NULL) < 0)
		err = -errno;
out:
	pthread_mutex_unlock(&reporter_lock);
	return err;
}

int gh__altstack_acquire(void **mem)
{
	stack_t cur, ss;
	size_t size = gh__page_round(64 * 1024);

	*mem = NULL;
	if (sigaltstack(NULL, &cur) < 0)
		return -errno;
	/* A thread that already has one (the application's own) keeps it. */
	if (!(cur.ss_flags & SS_DISABLE))
		return 0;
	ss.ss_sp = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ss.ss_sp == MAP_FAILED)
		return -errno;
	ss.ss_size = size;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) < 0) {
		int err = -errno;

		munmap(ss.ss_sp, size);
		return err;
	}
	*mem = ss.ss_sp;
	return 0;
}

void gh__altstack_release(void *mem)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	if (!mem)
		return;
	if (sigaltstack(&ss, NULL) < 0)
		return; /* still in use: leave it mapped rather than pull it from under a handler */
	munmap(mem, gh__page_round(64 * 1024));
}
