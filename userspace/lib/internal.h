/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libgreenhub internals shared between the library's own files. Nothing here is exported:
 * the library builds with -fvisibility=hidden and only GH_EXPORT names leave it.
 * Internal non-static names are gh__*.
 */
#ifndef GREENHUB_INTERNAL_H
#define GREENHUB_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/types.h>
#include <time.h>

#include "greenhub.h"
#include "greenhub/request.h"
#include "greenhub/slot.h"
#include "greenhub/trace.h"
#include "list.h"
#include "probes.h"

#define GH__POLL_BATCH 64

#if defined(__SANITIZE_ADDRESS__)
#define GH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GH_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define GH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GH_TSAN 1
#endif
#endif

#define GH_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GH_LIKELY(x) __builtin_expect(!!(x), 1)
#define GH_CONTAINER_OF(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* hub->slot_index of a hub with no kernel side's slot (mode none, or between runs). */
#define GH__NO_SLOT UINT32_MAX

/*
 * The allocator, as the runtime calls it wherever it reads the hub again after the call. An
 * allocation may sleep (the allocator's lock, mmap), and with a kernel side the hub's other
 * green threads then run on a spare (see gh__no_handoff_begin). The compiler takes malloc(),
 * calloc() and free() for calls that change no memory it can see, and would keep values it
 * read before them: the barrier after each makes it read them again.
 */
#define GH__REREAD() __asm__ volatile("" ::: "memory")

static inline void *gh__malloc(size_t n)
{
	void *p = malloc(n);

	GH__REREAD();
	return p;
}

/* Also for the API's constructors, which fail with NULL and errno: ENOMEM on failure. */
static inline void *gh__calloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	GH__REREAD();
	if (!p)
		errno = ENOMEM;
	return p;
}

static inline void gh__free(void *p)
{
	free(p);
	GH__REREAD();
}

/* Print "greenhub: <msg>" to stderr and abort (panic.c): only for a broken internal invariant. */
_Noreturn void gh__panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------------------------------------- */
/* Contexts (context.c, arch/swap.h, arch/trampoline_<arch>.S)                               */

/*
 * A suspended execution: what the compiler cannot keep for itself across a switch (see
 * arch/swap.h). Sanitizer builds also carry the bookkeeping their runtimes need to follow a
 * switch.
 */
struct gh__ctx {
	void *sp;   /* stack pointer */
	void *pc;   /* where to resume */
	void *fp;   /* frame pointer */
#if defined(__x86_64__)
	uint32_t mxcsr;
	uint16_t fpucw; /* the x87 control word */
	uint16_t pad;
#else
	uint64_t fpcr;
#endif
#ifdef GH_ASAN
	const void *stack_lo;
	size_t stack_size;
	void *fake_stack;
#endif
#ifdef GH_TSAN
	void *tsan_fiber;
	bool tsan_owned; /* created by us, destroyed with the context */
#endif
};

#include "arch/swap.h"

void gh__ctx_trampoline(void);

/* Prepare ctx to call entry(arg) on the stack [lo, lo + size) when first switched to. */
void gh__ctx_init(struct gh__ctx *ctx, void *lo, size_t size, void (*entry)(void *), void *arg);
/* Describe the running OS thread's own stack as a context to switch away from and back to. */
void gh__ctx_init_native(struct gh__ctx *ctx);
void gh__ctx_destroy(struct gh__ctx *ctx);
/*
 * Switch with the sanitizer annotations. from_ends is true when from will never run again
 * (a finished green thread), so ASan may drop its fake stack.
 */
#if defined(GH_ASAN) || defined(GH_TSAN)
void gh__switch(struct gh__ctx *from, struct gh__ctx *to, bool from_ends);
#else
/* Without sanitizers a switch is the bare swap, inlined at the switch point. */
static inline __attribute__((always_inline)) void gh__switch(struct gh__ctx *from,
							    struct gh__ctx *to, bool from_ends)
{
	(void)from_ends;
	gh__ctx_swap(from, to);
}
#endif
/* Must be the first call on a new context (it completes the sanitizers' view of the switch). */
void gh__ctx_started(struct gh__ctx *ctx);

/* ---------------------------------------------------------------------------------------- */
/* Timers (timer.c): a 4-ary min-heap ordered by (deadline, arming order).                   */

struct gh__timer {
	uint64_t deadline;
	uint64_t order; /* ties break by arming order, so equal deadlines fire FIFO */
	size_t index;   /* position in the heap, GH__TIMER_IDLE when not armed */
	void (*fire)(struct gh__timer *t);
};

#define GH__TIMER_IDLE SIZE_MAX

/* A heap entry carries its timer's key, so sifting reads only the heap array and never the
 * timers themselves, which live at the tops of their threads' stacks, a page or more apart
 * (with thousands of sleepers, every such read was a TLB and cache miss). */
struct gh__timer_slot {
	uint64_t deadline;
	uint64_t order;
	struct gh__timer *t;
};

struct gh__timer_heap {
	struct gh__timer_slot *v; /* hub memory (hub_mem.c) of bytes bytes */
	size_t n, cap, bytes;
	uint64_t next_order;
};

void gh__timer_heap_init(struct gh__timer_heap *h);
void gh__timer_heap_fini(struct gh__timer_heap *h);
/* Make room for n timers, so that arming never fails: 0 or -ENOMEM. In hub memory (hub_mem.c):
 * the hub loop and switch points grow it too, for a posted function's thread. */
int gh__timer_heap_grow(struct gh__timer_heap *h, size_t n);
void gh__timer_arm(struct gh__timer_heap *h, struct gh__timer *t, uint64_t deadline);
void gh__timer_disarm(struct gh__timer_heap *h, struct gh__timer *t);
/* The earliest deadline, or GH_NEVER. */
uint64_t gh__timer_next(const struct gh__timer_heap *h);
/* Fire (disarm, then call ->fire) every timer due at now; returns how many fired. */
size_t gh__timer_run(struct gh__timer_heap *h, uint64_t now);

/* ---------------------------------------------------------------------------------------- */
/* Stacks (stack.c)                                                                          */

/*
 * A green stack mapping, lowest address first:
 *
 *   base                                                         base + map_size
 *   | guard, GH__STACK_GUARD bytes | usable stack, grows down <-- |
 *                                  ^ lo                           ^ lo + size
 *
 * The thread's descriptor lives apart (struct gh_thread), so that a stale handle never points
 * into a stack that was unmapped.
 */
#define GH__STACK_GUARD (64 * 1024)
struct gh__stack {
	void *base;
	size_t map_size;
	void *lo;
	size_t size;
};

struct gh__stack_pool {
	size_t stack_size;  /* usable bytes, page aligned */
	size_t map_size;
	unsigned cap;       /* most free stacks kept */
	unsigned n;
	void **free;        /* mapping bases, LIFO so the warmest stack is reused first */
};

int gh__stack_pool_init(struct gh__stack_pool *p, size_t stack_size, unsigned cap);
void gh__stack_pool_fini(struct gh__stack_pool *p);
/* A stack with room for extra bytes above it; -ENOMEM or the mmap errno. */
int gh__stack_get(struct gh__stack_pool *p, struct gh__stack *s, size_t extra);
void gh__stack_put(struct gh__stack_pool *p, struct gh__stack *s);
/* Install the guard-page overflow reporter (once per process) and an alternate signal stack
 * for the calling thread (released with gh__altstack_release). */
int gh__overflow_reporter_install(void);
int gh__altstack_acquire(void **mem);
void gh__altstack_release(void *mem);

/* ---------------------------------------------------------------------------------------- */
/* Wait queues: FIFO lists of waiting green threads.                                          */

struct gh__waitq {
	struct gh__list waiters;
};

static inline void gh__waitq_init(struct gh__waitq *q)
{
	gh__list_init(&q->waiters);
}

static inline bool gh__waitq_empty(const struct gh__waitq *q)
{
	return gh__list_empty(&q->waiters);
}

/* ---------------------------------------------------------------------------------------- */
/* Green threads                                                                             */

enum gh__thread_state {
	/* A descriptor on its hub's free list (free_next), with no stack: every handle to it is
	 * stale (its generation moved on). */
	GH__FREE,
	/* In the hub's run queue (node linked there), waiting for its turn. */
	GH__READY,
	/* Running: hub->current. node unlinked. */
	GH__RUNNING,
	/* Suspended at a switch point. node is on waitq if one was given, else unlinked; the
	 * timer is armed if the wait has a deadline. */
	GH__WAITING,
	/* Returned from its function; holds its result until joined. Off every queue. */
	GH__DONE,
};

/*
 * A green thread's descriptor. Descriptors are allocated by the hub in chunks and never freed
 * while the hub lives: a finished thread's goes back on the hub's free list with its generation
 * bumped, so that a handle to it (the descriptor's address tagged with the generation it was
 * handed out with: gh__thread_handle) is told stale, and never points to memory that was
 * unmapped, however late it is used.
 */
struct gh_thread {
	struct gh__ctx ctx;
	struct gh_hub *hub;
	uint16_t gen;            /* bumped each time the descriptor is freed */
	struct gh_thread *free_next; /* link in hub->free_threads while FREE */
	gh_fn fn;
	void *arg;
	void *result;
	struct gh__stack stack;
	enum gh__thread_state state;
	bool detached;
	bool joining;    /* a gh_join() waits for it */
	bool cancelled;  /* sticky: every wait from now on returns -ECANCELED */
	bool uncancellable_wait; /* its current wait must not be cut short (remote completion) */
	/* Link in hub->runq (READY) or in waitq->waiters (WAITING). */
	struct gh__list node;
	struct gh__waitq *waitq;
	int wake_result;        /* what the current or last wait returns */
	unsigned wait_events;   /* GH_IN/GH_OUT wanted, while in gh_wait_fd */
	struct gh_thread *remote_next; /* link in hub->remote */
	struct gh__timer timer; /* deadline of the current wait */
	struct gh__waitq joiner;
	/* Link in hub->threads from spawn until freed. */
	struct gh__list all;
	uint64_t id;
	char name[32];
};

/* The public handle of a thread, and back: NULL for a stale or malformed handle. User space
 * addresses leave the top 16 bits of a pointer clear on the architectures supported (x86-64
 * and aarch64 with 48-bit virtual addresses); the generation rides there. */
#define GH__HANDLE_GEN_SHIFT 48
static inline gh_thread *gh__thread_handle(const struct gh_thread *t)
{
	return (gh_thread *)((uintptr_t)t | ((uintptr_t)t->gen << GH__HANDLE_GEN_SHIFT));
}

struct gh_thread *gh__thread_of(const gh_thread *handle);

/* ---------------------------------------------------------------------------------------- */
/* The poller's per-fd state (poller.c)                                                      */

struct gh__fd {
	/* EPOLLIN/EPOLLOUT registered for the fd; 0 = not in the epoll set. Bits stay armed after
	 * their waiter leaves and are dropped only when epoll reports them with nobody waiting
	 * (lazy disarm), so a thread that reads, waits, reads again costs no epoll_ctl. */
	uint32_t armed;
	struct gh__waitq waiters; /* each waiter's wanted GH_IN/GH_OUT is in its wait_events */
};

/* ---------------------------------------------------------------------------------------- */
/* Futexes (futex.c)                                                                         */

/* Sleep while *word == val (or until rel passes, if given). Returns 0 or -errno. */
int gh__futex_wait(atomic_uint *word, unsigned val, const struct timespec *rel);
void gh__futex_wake(atomic_uint *word, int n);

/* ---------------------------------------------------------------------------------------- */
/* Carriers (carrier.c)                                                                      */

/*
 * An OS thread that may run a hub. One carrier at a time holds the hub's baton (the owner);
 * the others are parked spares, blocked carriers, or displaced carriers waiting to be handed
 * the baton back. See baton.c for the protocol.
 */
struct gh__carrier {
	struct gh__ctx sched_ctx; /* the carrier's own stack, where the hub loop runs */
	struct gh_hub *hub;
	pid_t tid;
	bool spare_thread;        /* a thread the runtime created (joined when the hub stops) */
	pthread_t thread;
	void *altstack;
	/* The green thread this carrier executes, or holds while blocked in a call. Written only
	 * by the carrier itself. With the three fields after it, the struct gh_carrier_green of
	 * greenhub/records.h that the kernel side reads (at green_addr) for its block records:
	 * gh__green_publish() writes them. */
	struct gh_thread *green;
	uint64_t green_id;
	uint64_t green_name_id;
	char green_name[GH_SLOT_NAME_LEN];
	unsigned region_depth;    /* nested gh_blocking_begin() calls */
	/* Futex word: 0 while the carrier sleeps parked or waits for a hand-back, 1 once it is
	 * woken. Written by the waker (1) and the carrier (0). */
	atomic_uint wake_word;
	/* 1 while a parked spare waits on something other than its wake word (a backend's
	 * spare_wait polling an fd): a waker then also kicks it (GH__SIG_KICK). Written by the
	 * carrier; read by the waker after it stored the wake word (a Dekker pair). */
	atomic_uint wake_kick;
	/* Carrier list membership and parking state, under hub->carrier_lock (spare.c). */
	struct gh__list link;      /* hub->carriers, or hub->retiring once retired */
	struct gh__list park_link; /* hub->parked while parked */
	bool parked;
	bool fresh;                /* started, not yet parked once (counted in nr_fresh) */
	bool retire;               /* asked to exit by the sysmon */
	uint64_t parked_since;
	/* Link in hub->returned (a lock-free stack) or hub->returned_fifo. */
	struct gh__carrier *returned_next;
	/* epoll_wait output. Per carrier: a carrier that lost the baton while it polled must not
	 * share a buffer with the one that took it. */
	struct epoll_event events[GH__POLL_BATCH];
	/* The signal mask during the idle poll: the carrier's mask without GH__SIG_KICK, which
	 * is blocked at every other moment (so a kick sent before the poll is not lost). */
	sigset_t poll_mask;
	sigset_t saved_mask;      /* the thread's mask before it became a carrier */
};

/*
 * The runtime's reserved signal: it interrupts a carrier's idle poll when another carrier took
 * the hub from it (transition 5), or the hub stopped. Carriers keep it blocked except inside
 * epoll_pwait2, which unblocks it atomically, so a kick is never lost. Its handler does
 * nothing.
 */
#define GH__SIG_KICK (SIGRTMAX - 1)
/* Interrupt the idle poll of carrier tid of this process. */
void gh__carrier_kick(pid_t tid);

/* Threads the runtime starts that are not carriers (the sysmon, offload workers) run in the
 * ordinary fair class even when a SCHED_EXT carrier creates them: only carriers belong to the
 * sched_ext scheduler. */
static inline void gh__attr_fair_class(pthread_attr_t *attr)
{
	struct sched_param none = { 0 };

	pthread_attr_setinheritsched(attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(attr, SCHED_OTHER);
	pthread_attr_setschedparam(attr, &none);
}

/*
 * The carrier of the calling OS thread, or NULL. Never cached across a switch point: a green
 * thread may continue on another carrier, and a compiler that kept the thread-local variable's
 * address (or the thread pointer it comes from, which it takes for a constant within a
 * function) across the switch would read the old carrier's. So it is read by a volatile asm,
 * which the compiler neither merges with an earlier read nor moves across a switch (the swap is
 * a volatile asm too, and both clobber memory): two loads inline, where it used to be a call
 * to an out-of-line function. Initial-exec TLS: the library's one pointer of static TLS.
 */
#define GH__TLS_MODEL __attribute__((tls_model("initial-exec")))
extern __thread struct gh__carrier *gh__tls_carrier GH__TLS_MODEL;
static inline __attribute__((always_inline)) struct gh__carrier *gh__carrier_self(void)
{
	struct gh__carrier *c;
#if defined(__x86_64__)
	__asm__ volatile("movq	gh__tls_carrier@gottpoff(%%rip), %0\n\t"
			 "movq	%%fs:(%0), %0"
			 : "=r"(c)
			 :
			 : "memory");
#elif defined(__aarch64__)
	void *off;

	__asm__ volatile("mrs	%0, tpidr_el0\n\t"
			 "adrp	%1, :gottprel:gh__tls_carrier\n\t"
			 "ldr	%1, [%1, #:gottprel_lo12:gh__tls_carrier]\n\t"
			 "ldr	%0, [%0, %1]"
			 : "=&r"(c), "=&r"(off)
			 :
			 : "memory");
#endif
	return c;
}
void gh__carrier_set(struct gh__carrier *c);

/*
 * The runtime's own stretches on a green thread's carrier that must not hand the hub off (I3):
 * its system calls there (epoll_ctl, the round's poll, a stack's mmap), a switch point's whole
 * housekeeping, and the first touch of freshly allocated memory (sched_ext mode hands off page
 * faults too). A kernel side hands off a sleep of the owner only while the carrier's published
 * green word (c->green, at its green_addr) is set; a spare would then run the hub's other green
 * threads while this one is half-way through changing the hub (a thread queued to run whose
 * switch has not happened yet, a table being moved). So the word is cleared for the stretch:
 * its sleeps count as the hub loop's. Only for sleeps that end by themselves, in the kernel.
 * Never around a wait on a lock that green code may hold across a handed-off call (the
 * allocator's, a pthread mutex): the holder could be a displaced carrier that waits for the
 * hand-back this one, stuck in the wait, would never make. Allocations stay handoff points,
 * and the code around them reads the hub again (gh__malloc, above). gh__thread_self() reads
 * NULL in between: keep the stretch short, and call nothing there that asks for it.
 */
static inline struct gh_thread *gh__no_handoff_begin(struct gh__carrier *c)
{
	struct gh_thread *t = c ? c->green : NULL;

	if (t) {
		c->green = NULL;
		/* The kernel side reads the word in this thread's own sleep: only the compiler
		 * could move the store past the call. */
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	}
	return t;
}

static inline void gh__no_handoff_end(struct gh__carrier *c, struct gh_thread *t)
{
	if (t) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		c->green = t;
	}
}

/* bytes rounded up to whole pages (hub_mem.c). */
size_t gh__page_round(size_t bytes);
/* Memory for the hub loop's and switch points' own tables (hub_mem.c): mapped, touched, with
 * no handoff and no allocator lock. map: zeroed, NULL with errno; grow: to a new mapping, the
 * contents kept and the rest zeroed, NULL with errno (p kept); unmap: with the size p was
 * mapped or grown to. */
void *gh__hub_mem_map(size_t bytes);
void *gh__hub_mem_grow(void *p, size_t old_bytes, size_t bytes);
void gh__hub_mem_unmap(void *p, size_t bytes);

/* Make the calling thread carrier c of hub: 0, or -errno with the reason in why. */
int gh__carrier_init(struct gh_hub *hub, struct gh__carrier *c, char *why, size_t len);
void gh__carrier_fini(struct gh__carrier *c);
/* Sleep on c's wake word until it is set, then reset it (c's own thread). */
void gh__carrier_sleep(struct gh__carrier *c);
/* The same for at most ns: true if woken, false if the time ran out (the word left as it is). */
bool gh__carrier_sleep_for(struct gh__carrier *c, uint64_t ns);
/* Set c's wake word and wake c, wherever it sleeps. */
void gh__carrier_wake(struct gh__carrier *c);

/* ---------------------------------------------------------------------------------------- */
/* The hub (hub.c)                                                                           */

/*
 * A hub. Each part says who may touch it. In short: what is set before a run is read-only
 * while it lasts; the green-thread state belongs to the carrier that holds the baton; other
 * OS threads reach a running hub only through the completion stack (remote), the eventfd
 * (wake_fd), the slot, and the carrier lists under carrier_lock.
 */
struct gh_hub {
	/* Set by gh_hub_create, read-only after (the sysmon reads it too). */
	struct gh_hub_opts opts;
	/* Claimed by exchange in gh_hub_run and cleared when the run ends, so that two OS threads
	 * cannot both run the hub; read by gh_hub_destroy. */
	atomic_bool running;
	/* The signal mask of the thread that called gh_hub_run: the one green code runs with, on
	 * every carrier (plus the runtime's reserved signals' rules). Set before the first
	 * carrier starts, read-only during the run. */
	sigset_t app_mask;

	/* Green threads. Touched only by the baton holder, and by gh_hub_run before and after
	 * the run, while it is the only carrier. */
	struct gh__list runq;       /* READY threads, FIFO */
	size_t runq_len;            /* trace mode's kernel side reads it (gh_request.ready_addr) */
	/* Switch points reached: bumped by the baton holder each time it takes a thread off the
	 * run queue (a relaxed load and store, no atomic add: only the baton holder writes it,
	 * and the baton's CAS orders holders). The round's housekeeping is due once it reaches
	 * round_end. The sysmon reads it to tell a hub that switches from one that stalls
	 * (stall.c): one counter serves both, so the stall detector adds nothing to a switch. */
	_Atomic uint64_t switches;
	uint64_t round_end;
	/* The last takeover by a spare (transition 2): the spare, the blocked carrier it took
	 * the hub from, and the switch count then. While that spare holds the hub with the count
	 * unchanged, it has run nothing for that handoff, however often it goes idle (slot
	 * idle_unused_tid). Baton holder only. */
	pid_t handoff_taker;
	pid_t handoff_from;
	uint64_t handoff_switches;
	size_t live;                /* spawned and not yet DONE */
	size_t nr_waiting;          /* WAITING threads (in a wait queue, asleep, or remote) */
	struct gh__list threads;    /* every thread not yet freed */
	struct gh_thread *dying;    /* a thread that just finished, to release off its stack */
	uint64_t next_id, end_id;   /* the block of thread ids this hub hands out from */
	struct gh__stack_pool stacks;
	/* Thread descriptors: the free ones, and every chunk allocated (freed with the hub). */
	struct gh_thread *free_threads;
	struct gh__thread_chunk *thread_chunks;
	struct gh__timer_heap timers;

	/* Poller (poller.c). The descriptors are made with the hub; a carrier waits in epfd as
	 * IDLE, without the baton (gh__poller_wait), and any OS thread may write wake_fd. The
	 * rest is the baton holder's. */
	int epfd;
	int wake_fd;            /* eventfd: other OS threads wake the hub's poll with it */
	struct gh__fd *fds;
	size_t nfds;
	size_t fd_waiters;      /* green threads inside gh_wait_fd */

	/* Completions posted by other OS threads (gh__wake_remote): a lock-free stack any thread
	 * pushes onto and the baton holder empties, so the owner never waits on a lock another
	 * thread holds. */
	_Atomic(struct gh_thread *) remote;
	/* Threads waiting for a remote completion: counted up by the waiter and down by the
	 * drain, both on the baton holder. */
	atomic_size_t remote_waiters;

	/* Posts (post.c): a lock-free stack of struct gh__post any OS thread pushes onto
	 * (gh_hub_post) and the baton holder takes whole; GH__POSTS_CLOSED between runs. Taken
	 * posts wait in the FIFO for their green thread (baton holder only). */
	_Atomic(struct gh__post *) posts;
	struct gh__post *post_fifo, *post_fifo_tail;

	bool deadlocked;        /* the baton holder broke a deadlock (sched.c) */

	/* The baton (see include/greenhub/slot.h and baton.c). The slot is the hub's own memory
	 * or a kernel side's page, chosen before the run; every carrier, the sysmon and the
	 * kernel side share it. */
	struct gh_hub_slot slot_mem;  /* the slot when no kernel side provides one */
	struct gh_hub_slot *slot;
	/* The slot's index in the kernel side's slot map (GH__NO_SLOT for slot_mem): what the
	 * probes name the hub by (probes.h). Set with slot, read-only during the run. */
	uint32_t slot_index;
	/* The mode, set by gh__backend_start before the run and read-only during it. */
	enum gh_mode mode;            /* the mode this run uses */
	const struct gh__backend *backend;
	void *backend_data;           /* the backend's own per-hub state */
	/* The kernel side may leave a handoff of the owner's up when the owner comes back (trace
	 * mode's taker-armed gate): the owner takes it back at its next move (gh__baton_reclaim). */
	bool stale_handoffs;
	char mode_reason[GH_LOADER_REFUSED_MAX + 512]; /* why this mode: gh_hub_mode_reason() */

	/* The carriers (spare.c). */
	atomic_bool stopping;         /* every green thread finished: carriers exit */
	/* Never held while waiting for the baton or a hand-back; never taken by the hub loop or
	 * at a switch point (baton.c, spare.c). */
	pthread_mutex_t carrier_lock;
	struct gh__list carriers;     /* spare carrier threads, under carrier_lock */
	pthread_t first_carrier;      /* the thread in gh_hub_run, set before any spare starts */
	struct gh__list parked;       /* parked carriers, under carrier_lock */
	/* Retired spares whose threads have not been joined yet: the sysmon reaps the ones that
	 * have exited at its next retirement pass, the hub's stop waits for the rest. A spare
	 * held by a kernel side may take a while to see that it retired, and the sysmon must not
	 * wait for it. Under carrier_lock. */
	struct gh__list retiring;
	unsigned nr_carriers;         /* spare threads alive, under carrier_lock */
	unsigned nr_parked;           /* under carrier_lock */
	unsigned nr_fresh;            /* spares started that have not parked yet, likewise */
	atomic_uint spares_started, spares_retired; /* statistics */
	/* Carriers waiting for a hand-back: pushed lock-free by each returning carrier, moved in
	 * order to the FIFO by the baton holder. */
	_Atomic(struct gh__carrier *) returned;
	struct gh__carrier *returned_fifo, *returned_fifo_tail;

	/* Sysmon bookkeeping, under the sysmon's lock. */
	struct gh__list sysmon_link;
	uint64_t sysmon_seen;     /* the baton word seen in a region at the last tick */

	/* The stall detector (stall.c). The threshold (0: off) and why no backtrace can be
	 * taken ("" if one can) are set by gh__stall_start before the sysmon sees the hub, and
	 * read-only during the run; watch is the sysmon's, under its lock. */
	uint64_t stall_ns;
	char stall_why[192];
	struct {
		__u64 baton;       /* the baton word and switch count seen ... */
		uint64_t switches;
		uint64_t since;    /* ... first at this tick, and not changed since */
		bool reported;     /* this stall has been reported */
	} stall_watch;
};

/* ---------------------------------------------------------------------------------------- */
/* Posts (post.c)                                                                            */

struct gh__post;
/* hub->posts while the hub takes no posts (between runs). Never dereferenced. */
#define GH__POSTS_CLOSED ((struct gh__post *)(uintptr_t)1)

/* Posts wait to be spawned (baton holder, during a run: the stack is never CLOSED then). One
 * relaxed load: a push it misses kicked the eventfd, so the hub looks again. */
static inline bool gh__posts_pending(struct gh_hub *hub)
{
	return hub->post_fifo || atomic_load_explicit(&hub->posts, memory_order_relaxed);
}
/* Take the posts made so far and spawn a detached green thread for a batch of them, oldest
 * first (baton holder). */
void gh__posts_run(struct gh_hub *hub);
/* The run is about to end: stop taking posts. False if posts are pending (run them). */
bool gh__posts_close(struct gh_hub *hub);
/* A run starts: take posts again (no carrier runs). */
void gh__posts_open(struct gh_hub *hub);
/* gh_hub_destroy: free the posts that never ran and close the hub for good. */
void gh__posts_free(struct gh_hub *hub);

/* ---------------------------------------------------------------------------------------- */
/* The baton (baton.c)                                                                       */

/* The baton word, read as every protocol step reads it. */
static inline __u64 gh__baton_load(const struct gh_hub *hub)
{
	return __atomic_load_n(&hub->slot->baton, __ATOMIC_SEQ_CST);
}

/* Is baton word b in state held by carrier tid? */
static inline bool gh__baton_is(__u64 b, enum gh_baton_state state, pid_t tid)
{
	return gh_baton_state(b) == state && gh_baton_tid(b) == (__u32)tid;
}

/* The run's first step: the calling thread, first carrier c, owns the hub. Plain stores: no
 * other carrier of the hub exists yet. */
void gh__baton_first_owner(struct gh_hub *hub, struct gh__carrier *c);
/* Every green thread has finished: RUN(last) -> FREE, if last (not NULL) still owns it. */
void gh__baton_free(struct gh_hub *hub, struct gh__carrier *last);
/* The run is over and every other carrier has exited: no owner, no runner. */
void gh__baton_clear(struct gh_hub *hub);
/* Transition 1, block (mode none): the sysmon found the owner in the same blocking region as
 * at its last tick, in baton word b. RUN(t) -> HANDOFF(t); false if the baton moved meanwhile.
 * The caller then wakes or starts a spare. */
bool gh__baton_hand_off(struct gh_hub *hub, __u64 b, uint64_t now);
/* Transition 2, takeover: spare c takes the HANDOFF(t) it found in b. False if the baton
 * moved meanwhile. */
bool gh__baton_take_over(struct gh_hub *hub, struct gh__carrier *c, __u64 b);
/* Is b a stale HANDOFF(c) that owner c, running, must take back before it moves the baton
 * (hub->stale_handoffs)? */
static inline bool gh__baton_stale(const struct gh_hub *hub, const struct gh__carrier *c,
				   __u64 b)
{
	return GH_UNLIKELY(hub->stale_handoffs) && gh__baton_is(b, GH_BATON_HANDOFF, c->tid);
}
/* Owner c takes back the stale handoff b (gh__baton_stale()), unless the baton moved
 * meanwhile; the caller reads the baton again. */
void gh__baton_reclaim(struct gh_hub *hub, struct gh__carrier *c, __u64 b);
/* Transition 4, the owner's half: owner c, in the hub loop, hands the baton to the oldest
 * carrier waiting for it. False if none is visible yet. */
bool gh__baton_hand_back(struct gh_hub *hub, struct gh__carrier *c);
/* The owner's idle poll: RUN(c) -> IDLE(c), returning the IDLE word, and back; leaving fails
 * (false) if a returning carrier took the idle hub meanwhile (transition 5). */
__u64 gh__baton_go_idle(struct gh_hub *hub, struct gh__carrier *c);
bool gh__baton_leave_idle(struct gh_hub *hub, struct gh__carrier *c, __u64 idle_word);
/* A blocked carrier's call returned: get the baton back (transitions 2 to 5), waiting for a
 * hand-back if another carrier owns the hub. Async-signal-safe (the gate signal handlers). */
void gh__carrier_reacquire(struct gh_hub *hub, struct gh__carrier *c);
/* Switch-point check: a carrier waits for a hand-back. Cheap; true means leave the green
 * thread and let the hub loop hand the baton back. */
static inline bool gh__return_pending(const struct gh_hub *hub)
{
	return __atomic_load_n(&hub->slot->return_pending, __ATOMIC_RELAXED) != 0;
}
/* Abort with both carriers named unless c is the hub's runner (invariant I1). Inline: it
 * runs at every switch point and on the blocking-region fast path. */
_Noreturn void gh__runner_violated(struct gh_hub *hub, struct gh__carrier *c);
static inline void gh__check_runner(struct gh_hub *hub, struct gh__carrier *c)
{
	if (GH_UNLIKELY(__atomic_load_n(&hub->slot->runner_tid, __ATOMIC_RELAXED) !=
			(__u32)c->tid))
		gh__runner_violated(hub, c);
}

/* The runtime's half of block records (greenhub/records.h, struct gh_carrier_green): carrier
 * c switches to green thread t. The id at every switch, one store beside c->green's; the name
 * only while a reader is attached (GH_SLOT_F_RECORDS): off, one load and a branch that always
 * goes the same way. */
void gh__green_publish_name(struct gh__carrier *c, const struct gh_thread *t);
/* Always inlined: the probe's assembler template is long, and the compiler's inliner, which
 * sizes an asm statement by its template's lines, would otherwise call this (and runq_pop)
 * out of line on the switch path, where the probe itself is one nop. */
static inline __attribute__((always_inline)) void
gh__green_publish(struct gh_hub *hub, struct gh__carrier *c, const struct gh_thread *t)
{
	GH__PROBE_RUN(hub->slot_index, t->id, t->name);
	c->green_id = t->id;
	if (GH_UNLIKELY(__atomic_load_n(&hub->slot->flags, __ATOMIC_RELAXED) & GH_SLOT_F_RECORDS))
		gh__green_publish_name(c, t);
}

/* ---------------------------------------------------------------------------------------- */
/* The scheduler (sched.c)                                                                   */

/* Switch from the running thread to the next READY one, or to the hub loop. The caller has
 * already put itself on a queue (or marked itself DONE). The run queue's push and the same
 * switch inline, for a caller that has just read the calling carrier: switch_point.h. */
void gh__switch_out(struct gh_hub *hub, struct gh_thread *self);

/*
 * Suspend the running green thread: it waits (GH__WAITING) until gh__wake() makes it READY.
 * Green threads wait; a carrier with nothing to run parks, as a spare (spare.c). If q is given
 * the thread waits there in FIFO order; if deadline is not GH_NEVER a timer wakes it with
 * -ETIMEDOUT. Returns the wake result: what gh__wake() was given, -ETIMEDOUT, or -ECANCELED
 * (at once, without suspending, if already cancelled).
 */
int gh__wait(struct gh__waitq *q, uint64_t deadline);
/* Make a WAITING thread READY with the given wait result (same hub, baton held). */
void gh__wake(struct gh_thread *t, int result);
/* Wake the first waiter of q with result; false if q was empty. */
bool gh__waitq_wake_one(struct gh__waitq *q, int result);
size_t gh__waitq_wake_all(struct gh__waitq *q, int result);

/*
 * Remote completions, for waits that end on another OS thread (the offload pool). The waiter
 * calls gh__wait_remote_begin() before handing the work out and gh__wait_remote() to wait;
 * the other thread calls gh__wake_remote() exactly once. These waits cannot be cancelled
 * or timed out: the other thread still holds a reference to the waiter.
 */
void gh__wait_remote_begin(struct gh_hub *hub);
int gh__wait_remote(struct gh_hub *hub);
void gh__wake_remote(struct gh_hub *hub, struct gh_thread *t, int result);
/* The poller saw the eventfd: make every remotely completed thread READY. */
void gh__drain_remote(struct gh_hub *hub);

/* Run the hub on carrier c, parking whenever another carrier holds the baton, until every
 * green thread has finished or the hub stopped (0), or c is retired (1). */
int gh__carrier_loop(struct gh_hub *hub, struct gh__carrier *c);

/* ---------------------------------------------------------------------------------------- */
/* Spares (spare.c)                                                                          */

enum gh__park_result {
	GH__PARK_OWNER,  /* took a handoff: c owns the hub */
	GH__PARK_STOP,   /* the hub stopped */
	GH__PARK_RETIRE, /* the sysmon retired c */
};
/* Park carrier c as a spare until one of the above. */
enum gh__park_result gh__spare_park(struct gh_hub *hub, struct gh__carrier *c);
/* Start a spare carrier thread for hub (gh_hub_run, the sysmon); -errno. */
int gh__spare_start(struct gh_hub *hub);
/* Spares parked or about to park for the first time. */
unsigned gh__spares_ready(struct gh_hub *hub);
/* Wake one parked spare; false if none is parked. */
bool gh__spare_wake(struct gh_hub *hub);
/* Ask idle spares to exit. */
void gh__spares_retire_idle(struct gh_hub *hub, uint64_t now);
/* Every green thread has finished: free the baton (RUN(last) -> FREE, if last is given and
 * still owns it), tell every carrier the hub has stopped and wake the parked ones. */
void gh__carriers_release(struct gh_hub *hub, struct gh__carrier *last);
/* Release the carriers and wait for the spare threads to exit. */
void gh__carriers_stop(struct gh_hub *hub);

/* ---------------------------------------------------------------------------------------- */
/* The poller (poller.c)                                                                     */

int gh__poller_init(struct gh_hub *hub);
void gh__poller_fini(struct gh_hub *hub);
/* Wait for events up to deadline (GH_NEVER blocks, 0 only checks) into ev, without touching
 * hub state: the caller may not hold the baton while it waits. Returns the number of events. */
int gh__poller_wait(struct gh_hub *hub, struct epoll_event *ev, uint64_t deadline,
		    const sigset_t *mask);
/* Wake the waiters of n events from gh__poller_wait and fire due timers (baton held). */
void gh__poller_dispatch(struct gh_hub *hub, const struct epoll_event *ev, int n);
/* Both, for the baton holder (housekeeping between rounds). */
void gh__poller_poll(struct gh_hub *hub, struct gh__carrier *c, uint64_t deadline);
/* Kick a carrier out of its poll (an eventfd write). */
void gh__poller_kick(struct gh_hub *hub);
/* Wake every waiter of fd with result and drop it from the epoll set (gh_close). */
void gh__poller_forget(struct gh_hub *hub, int fd, int result);

/* ---------------------------------------------------------------------------------------- */
/* The sysmon (sysmon.c) and fork() (fork.c)                                                 */

/* The sysmon: one thread per process watching every running hub. */
int gh__sysmon_add(struct gh_hub *hub);
void gh__sysmon_remove(struct gh_hub *hub);
/* fork(): hold the sysmon's lock across it; in the child, call each() on every hub that was
 * running in the parent and start over with no sysmon. */
void gh__sysmon_fork_prepare(void);
void gh__sysmon_fork_parent(void);
void gh__sysmon_fork_child(void (*each)(struct gh_hub *hub));
/* fork() handlers (fork.c), installed with the first hub run: 0 or -errno. */
int gh__fork_handlers_install(void);
void gh__offload_fork_child(void);
/*
 * The stall detector (stall.c). gh__stall_start (gh_hub_run, before gh__sysmon_add) decides
 * whether the hub has one and installs the signal handler it needs; gh__stall_watch runs at
 * each sysmon tick for each hub, under the sysmon's lock, and reports a stall through the
 * hook. gh__stall_fork_child: the child starts with no request in flight.
 */
#define GH__SIG_STALL (SIGRTMAX - 4)
void gh__stall_start(struct gh_hub *hub);
void gh__stall_watch(struct gh_hub *hub);
void gh__stall_fork_child(void);
/* Set when the sysmon sleeps long (nothing to watch); a region then wakes it. */
extern atomic_uint gh__sysmon_deep;
void gh__sysmon_kick(void);

/* ---------------------------------------------------------------------------------------- */
/* Threads (thread.c)                                                                        */

/* The running green thread of the calling carrier, or NULL. */
struct gh_thread *gh__thread_self(void);

/*
 * The checks that open an API call that may wait, in this order: -EPERM outside a green thread,
 * -EINVAL for invalid arguments (valid false), -ECANCELED in a cancelled thread. 0 with the
 * calling green thread in *self.
 */
static inline int gh__may_wait(struct gh_thread **self, bool valid)
{
	*self = gh__thread_self();
	if (!*self)
		return -EPERM;
	if (!valid)
		return -EINVAL;
	if ((*self)->cancelled)
		return -ECANCELED;
	return 0;
}
void gh__thread_free(struct gh_thread *t);
/* Free every descriptor chunk of a hub that no longer runs. */
void gh__thread_descriptors_fini(struct gh_hub *hub);
void gh__thread_name(struct gh_thread *t, const char *name);
struct gh_thread *gh__thread_create(struct gh_hub *hub, gh_fn fn, void *arg);

#endif /* GREENHUB_INTERNAL_H */
