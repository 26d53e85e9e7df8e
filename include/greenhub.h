/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * greenhub: green threads that keep running when one of them blocks in a C library.
 *
 * This is the one header users include. Conventions, true of every call below:
 *
 *  - Functions returning int return 0 (or a documented non-negative value) on success and a
 *    negative errno on failure; gh_strerror() names every code. Functions returning a pointer
 *    return NULL and set errno.
 *  - Time is absolute CLOCK_MONOTONIC nanoseconds: a deadline, never a duration. gh_now()
 *    reads the clock; GH_NEVER means no deadline.
 *  - Calls that may wait ("switch points") suspend only the calling green thread. They return
 *    -ETIMEDOUT when their deadline passes and -ECANCELED when the green thread was cancelled.
 *  - Calls that need a hub return -EPERM when called from a plain OS thread.
 *
 * Green threads may resume on another OS thread after a switch point when kernel assist hands
 * the hub to a spare carrier. So do not keep a pointer to thread-local storage across a switch
 * point, and never hold a pthread mutex across one: use the green mutex.
 *
 * What a greenhub process may and may not do (README, "Rules for green code"):
 *
 *  - Green code runs with the signal mask of the thread that called gh_hub_run, on whichever
 *    carrier it runs; processes it starts (fork, posix_spawn, system, gh_proc_create) inherit
 *    that mask.
 *  - Reserved signals: SIGRTMAX-1 (63 with glibc: it wakes a carrier out of its poll, in every
 *    mode), signal 62 (the trace-mode gate) and signal 61 (the sched_ext-mode gate). A hub
 *    refuses to start if the application has a handler on one it needs (gh_hub_run returns
 *    -EBUSY, or the mode is not used, and the reason names the signal). An application that
 *    ignores or takes over 61 or 62 after its hub started loses kernel assist for that
 *    process's blocks (they stall the hub, as in mode none): never exclusivity. While the
 *    stall detector is on (off by default), it uses SIGRTMAX-4 (60) unless the application
 *    has a disposition of its own there ("Stall detector" below).
 *  - fork(): the hubs running in the parent are dead in the child. The child's one thread is
 *    no carrier, even if fork() was called from a green thread: calls that need a hub return
 *    -EPERM, a green thread returning from its function in the child aborts with a message,
 *    and exec and _exit work as usual. The child may create and run hubs of its own. Nothing
 *    in the child can reach the parent's hubs or the kernel side's state of them.
 *  - exec: a process's hubs end with its image; the kernel side releases what they held.
 *  - Dropping privileges (setuid) after hubs started: running hubs go on; new hubs need the
 *    pins (root) and otherwise run in mode none. The process holds no way to write the kernel
 *    side's state of other processes.
 *  - pthread_exit() or a cancellation of a carrier thread from green code aborts with a
 *    message: green code ends by returning from its function.
 *  - A green thread that returns between gh_blocking_begin() and gh_blocking_end() aborts with
 *    a message.
 */
#ifndef GREENHUB_H
#define GREENHUB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GH_EXPORT __attribute__((visibility("default")))
#else
#define GH_EXPORT
#endif

#define GH_VERSION_MAJOR 0
#define GH_VERSION_MINOR 1
#define GH_VERSION_PATCH 0

/* No deadline: wait as long as it takes. */
#define GH_NEVER UINT64_MAX

/* Readiness bits for gh_wait_fd (same values as poll(2)'s POLLIN, POLLOUT, POLLERR, POLLHUP). */
#define GH_IN 0x001
#define GH_OUT 0x004
#define GH_ERR 0x008
#define GH_HUP 0x010

typedef struct gh_hub gh_hub;
typedef struct gh_thread gh_thread;

/* The body of a green thread. Its return value is what gh_join() reports. */
typedef void *(*gh_fn)(void *arg);

/* ---------------------------------------------------------------------------------------- */
/* Errors and time                                                                           */

/* A short description of a greenhub error code (negative errno), or of a positive errno. */
GH_EXPORT const char *gh_strerror(int err);

/* CLOCK_MONOTONIC now, in nanoseconds. */
GH_EXPORT uint64_t gh_now(void);

/* ---------------------------------------------------------------------------------------- */
/* Hubs                                                                                       */

/* How the hub gets help from the kernel when a green thread blocks. */
enum gh_mode {
	GH_MODE_AUTO = 0,     /* the best one available: sched_ext, then trace, then none */
	GH_MODE_NONE = 1,     /* no kernel assist: marked blocking regions and the sysmon only */
	GH_MODE_TRACE = 2,    /* tracing BPF (needs scx_greenhub running in trace mode) */
	GH_MODE_SCHED_EXT = 3 /* the sched_ext scheduler (needs scx_greenhub on a sched_ext kernel) */
};

/*
 * Hub options. Fill with gh_hub_opts_init() and change what you need; the sz field lets the
 * library accept options from programs built against an older header.
 */
struct gh_hub_opts {
	size_t sz;                  /* sizeof(struct gh_hub_opts), set by gh_hub_opts_init */
	/* usable bytes per green stack; default 256 KiB. Smaller stacks lie closer together in
	 * memory, which speeds up a hub that switches among thousands of green threads (16 KiB:
	 * about 1.1x in bench-timers, docs/benchmarks.md); C libraries called from green threads
	 * may need the default's room. */
	size_t stack_size;
	unsigned stack_cache;       /* free stacks kept for reuse; default 1024 */
	/* default GH_MODE_AUTO; with AUTO, the environment variable GREENHUB_MODE (auto, none,
	 * trace or sched_ext) decides, so an operator can pin a service to one mode */
	enum gh_mode mode;
	unsigned min_spares;        /* spare carriers kept parked and ready; default 1 */
	unsigned max_spares;        /* most spare carriers (1..4096); default 256 */
	/* Mode none: a marked blocking region lasting about this long is handed off (the
	 * sysmon's tick, 1 us .. 1 s); default 20 us. */
	uint64_t sysmon_ns;
	uint64_t spare_idle_ns;     /* spares beyond min_spares parked this long exit; 10 s */
	/* The stall detector (below, "Stall detector"): report the hub when it has reached no
	 * switch point for this long (GH_STALL_MIN_NS .. GH_STALL_MAX_NS). 0, the default, lets
	 * the environment variable GREENHUB_STALL_MS decide when the hub starts (off if unset);
	 * GH_STALL_OFF turns the detector off whatever the environment says. */
	uint64_t stall_ns;
};

/* Does nothing with NULL. An opts whose sz is larger than this library's struct (a program
 * built against a newer header) is refused by gh_hub_create with EINVAL. */
GH_EXPORT void gh_hub_opts_init(struct gh_hub_opts *opts);

/* gh_hub_opts.stall_ns: no stall detector for this hub, whatever GREENHUB_STALL_MS says. */
#define GH_STALL_OFF UINT64_MAX
/* Smallest and largest stall_ns accepted besides 0 and GH_STALL_OFF: 1 ms and 1 hour. */
#define GH_STALL_MIN_NS 1000000ull
#define GH_STALL_MAX_NS 3600000000000ull

/* Smallest and largest stack_size accepted (bytes). */
#define GH_STACK_MIN (16 * 1024)
#define GH_STACK_MAX ((size_t)1 << 30)

/* Create a hub. opts may be NULL for the defaults. NULL and errno EINVAL for bad options. */
GH_EXPORT gh_hub *gh_hub_create(const struct gh_hub_opts *opts);

/* Destroy a hub that is not running. -EBUSY if it runs. */
GH_EXPORT int gh_hub_destroy(gh_hub *hub);

/*
 * Run fn(arg) as the hub's main green thread on the calling OS thread and return when it and
 * every green thread spawned in the hub have finished. *result (if result is not NULL) gets
 * fn's return value. -EBUSY if the hub already runs, -EDEADLK if the calling thread already
 * runs a hub, -EOPNOTSUPP if opts.mode asked for a kernel-assisted mode that cannot run here
 * (gh_hub_mode_reason() says why). If every green thread ends up waiting on another with
 * nothing outside the hub able to wake any of them, they are all cancelled and, once they
 * have finished, -EDEADLK is returned. Green threads that finished without being joined or
 * detached are freed here; their handles become invalid.
 */
GH_EXPORT int gh_hub_run(gh_hub *hub, gh_fn fn, void *arg, void **result);

/* The hub the calling green thread runs in, or NULL (errno EPERM) outside a hub. */
GH_EXPORT gh_hub *gh_hub_current(void);

/* The mode the hub runs in (its last run's, GH_MODE_NONE before the first), and its name. */
GH_EXPORT enum gh_mode gh_hub_mode(const gh_hub *hub);
GH_EXPORT const char *gh_mode_name(enum gh_mode mode);
/*
 * Why the hub runs in the mode it does (its last run), e.g. "trace unavailable (scx_greenhub
 * is not running); running without kernel assist". If gh_hub_run failed with -EOPNOTSUPP
 * because the requested mode cannot run, this says why.
 */
GH_EXPORT const char *gh_hub_mode_reason(const gh_hub *hub);

/*
 * What the hub's carriers did, counted since the hub was created. Set sz to
 * sizeof(struct gh_hub_stats) before the call; an older, shorter struct gets its prefix.
 */
struct gh_hub_stats {
	size_t sz;
	enum gh_mode mode;
	uint64_t handoffs;       /* the owner blocked and the hub was offered to a spare */
	uint64_t takeovers;      /* a spare (or a returning carrier) took a handed-off hub */
	uint64_t cancels;        /* the blocked call returned before anyone took the hub */
	uint64_t holds;          /* a call returned while another carrier ran the hub: it waited */
	uint64_t handbacks;      /* the owner handed the hub back to such a carrier */
	uint64_t idle_returns;   /* a call returned while the hub was idle: it took the hub */
	uint64_t spares_started; /* spare carrier threads started */
	uint64_t spares_retired; /* spare carrier threads that exited after idling */
	/* Total time from a handoff until a carrier ran the hub again (green code stalled). */
	uint64_t stalled_ns;
};

/* Fill *st with hub's statistics; safe to call from any thread while the hub runs. */
GH_EXPORT int gh_hub_stats(const gh_hub *hub, struct gh_hub_stats *st);

/* ---------------------------------------------------------------------------------------- */
/* Many hubs, one process                                                                     */
/*
 * A service may run many hubs, each gh_hub_run on its own OS thread. Hub-local and
 * thread-safe calls:
 *
 *   thread-safe, from any OS thread (a plain pthread, a library's callback thread, a green
 *   thread of any hub): gh_hub_post, gh_future_set, gh_future_wait, gh_future_is_set,
 *   gh_future_create/destroy (see their rules), gh_now, gh_strerror.
 *
 *   hub-local: everything else. A gh_thread handle, a mutex, semaphore, event, condition,
 *   channel or pool belongs to the hub its green threads run in; green threads of other hubs
 *   and plain threads must not use it (gh_event_set from another hub is not safe either). To
 *   reach another hub's objects, post a function to that hub that uses them there; to get an
 *   answer back, have that function set a gh_future. See docs/many-hubs.md.
 */

/*
 * Run fn(arg) as a new detached green thread of hub, from any OS thread, including the hub's
 * own green threads and those of other hubs. Lock-free; it never waits for the hub. Posts made
 * by one thread run in the order it made them; a hub that sleeps in its poll wakes at once,
 * a busy one takes posts between its scheduling rounds.
 *
 * A hub takes posts from gh_hub_create until its run ends, so posts made before gh_hub_run
 * run when it starts (after the main green thread is spawned). The run does not end while a
 * post is queued: a post that returned 0 always runs. Once every green thread has finished
 * and no post is queued the run ends, and later posts return -ESHUTDOWN until the hub runs
 * again. Note that a posted thread keeps the run going only while it lives: a service whose
 * hubs should wait for posts keeps a green thread waiting, e.g. in gh_future_wait on a
 * "shut down" future (a wait on a hub-local object with nothing else running is a deadlock
 * and ends the run, see gh_hub_run).
 *
 * The hub must outlive the call: gh_hub_destroy it only once every thread that may post to
 * it has stopped posting (a call still in progress may write the hub's eventfd). Posts made
 * since the hub's last run are dropped unrun (and freed) by gh_hub_destroy.
 *
 * 0, or -EINVAL (hub or fn NULL), -ENOMEM, -ESHUTDOWN (the hub's run has ended). If the hub
 * cannot spawn the green thread when it takes the post (no memory for a stack), it keeps the
 * post and tries again later.
 */
GH_EXPORT int gh_hub_post(gh_hub *hub, gh_fn fn, void *arg);

/* ---------------------------------------------------------------------------------------- */
/* Stall detector                                                                             */

/*
 * A hub stalls when its running green thread reaches no switch point for a long time: it spins
 * without yielding, or it makes a blocking call that nothing hands off (an unmarked one in
 * mode none). Every green thread of the hub waits meanwhile. The stall detector reports such
 * stalls, in every mode. It is off by default; GREENHUB_STALL_MS=N (read when a hub starts) or
 * gh_hub_opts.stall_ns turns it on for a hub. While it is off nothing is installed and nothing
 * changes; while it is on, a switch costs nothing more either: the sysmon samples, at each of
 * its ticks, a count of switch points the hub keeps anyway, and a hub whose count and baton
 * have not moved for the threshold, while a carrier runs it, has stalled.
 *
 * GREENHUB_STALL_MS is a number of milliseconds from 1 to 3600000, or 0 (off). Anything else
 * (empty, a sign, letters, too large) leaves the detector off and is reported once on stderr,
 * naming the variable and the value; unlike a malformed GREENHUB_MODE it does not stop the hub
 * from running, since the detector is a diagnostic.
 *
 * Each stall is reported once, when it has lasted the threshold (the sysmon notices it within
 * about 10 ms more); a hub that switches and stalls again is reported again. The report comes
 * with the stalled green thread's backtrace: the sysmon sends the stalled carrier signal
 * GH_STALL_SIGNAL (SIGRTMAX-4, 60 with glibc), whose handler records the stack with glibc's
 * backtrace() and hands it back. The handler is installed when the first hub with the detector
 * on starts, unless the application has a disposition of its own for that signal: then, and
 * whenever the carrier does not take the signal within 100 ms (the application blocked it, or
 * the carrier sleeps uninterruptibly), the report says why it has no backtrace. The handler
 * uses SA_RESTART, so a blocking call that the signal interrupts is restarted where the
 * kernel restarts calls; the ones signal(7) lists as never restarted (nanosleep, poll,
 * epoll_wait, select, ...) return EINTR once per reported stall.
 *
 * Reports go to a hook, called on the sysmon's thread. The default hook writes one block to
 * stderr:
 *
 *     greenhub: hub 0x... stalled for 63 ms in green thread "spinner" (id 5) on carrier tid 812
 *     <one line per frame, from backtrace_symbols_fd>
 *
 * The hook is one for the process, not one per hub: the detector is a process-wide diagnostic
 * (one sysmon watches every hub, and GREENHUB_STALL_MS turns it on for hubs a program's
 * libraries create too), so a process that wants its reports elsewhere (a log, a metric)
 * installs one hook and gets them all, each naming its hub.
 */
/* The stall detector's signal (use it with <signal.h> included). */
#define GH_STALL_SIGNAL (SIGRTMAX - 4)

struct gh_stall_info {
	size_t sz;              /* sizeof(struct gh_stall_info) of the library: fields may follow */
	gh_hub *hub;            /* the hub: it runs while the hook runs */
	uint64_t thread_id;     /* the stalled green thread's gh_thread_id(), or 0 if unknown */
	const char *thread_name; /* its gh_thread_name() ("" if unnamed), or NULL if unknown */
	int carrier_tid;        /* the OS thread (kernel tid) that runs the hub */
	uint64_t stalled_ns;    /* how long it had stalled when seen (>= the threshold) */
	void *const *frames;    /* the backtrace, innermost frame (where it was) first */
	int nframes;            /* 0 when there is none; why then says why */
	const char *why;        /* NULL, or why there is no backtrace (or no thread name) */
};

/*
 * Called once per stall on the sysmon's thread, with the sysmon paused: keep it short, and do
 * not run, stop or destroy a hub from it, nor call gh_set_stall_hook. info and everything it
 * points to is valid during the call only.
 */
typedef void (*gh_stall_hook)(const struct gh_stall_info *info, void *arg);

/*
 * Make fn(info, arg) the process's stall hook; NULL puts the default (stderr) back. Once it
 * returns, the previous hook is not running and will not be called again. Any thread.
 */
GH_EXPORT void gh_set_stall_hook(gh_stall_hook fn, void *arg);

/* ---------------------------------------------------------------------------------------- */
/* Blocking regions                                                                           */

/*
 * Mark a call that may block in the kernel, so the hub keeps running meanwhile:
 *
 *     gh_blocking_begin();
 *     n = mysql_query(conn, q);        // plain C only in here
 *     gh_blocking_end();
 *
 * If the region lasts longer than opts.sysmon_ns, the sysmon hands the hub to a spare carrier
 * and the other green threads go on running there. gh_blocking_end() returns once the calling
 * green thread may run again: at once if nobody took the hub, or when the carrier that took it
 * reaches a switch point and hands it back. Entering and leaving cost one compare-and-swap
 * each and no system call when nothing blocks.
 *
 * Without kernel assist (mode none) this is the only way a blocking call avoids stalling the
 * hub: an unmarked blocking call stalls every green thread of the hub until it returns, just
 * as in eventlet or gevent. In the kernel-assisted modes regions are unnecessary but harmless.
 *
 * Inside a region the calling code may not use greenhub (every call returns -EPERM): it may
 * not even own the hub any more. Regions nest. Both return 0, -EPERM outside a green thread,
 * and gh_blocking_end() -EINVAL without a matching begin. Neither changes errno.
 */
GH_EXPORT int gh_blocking_begin(void);
GH_EXPORT int gh_blocking_end(void);

/* Evaluate call (an expression with a value) inside a blocking region and yield its value. */
#define GH_BLOCKING(call)                                                                 \
	__extension__({                                                                    \
		(void)gh_blocking_begin();                                                 \
		__typeof__(call) gh_blocking_result_ = (call);                             \
		(void)gh_blocking_end();                                                   \
		gh_blocking_result_;                                                       \
	})

/* ---------------------------------------------------------------------------------------- */
/* Green threads                                                                              */

/*
 * Start fn(arg) as a new green thread in the calling thread's hub. It runs once the caller
 * reaches a switch point. The handle must be joined or detached. NULL with errno EPERM outside
 * a hub, ENOMEM when no stack can be had.
 */
GH_EXPORT gh_thread *gh_spawn(gh_fn fn, void *arg);

/*
 * Wait for t to finish and collect its return value; frees t. -EINVAL if t is detached or
 * already being joined, -EDEADLK if t is the caller, -ECANCELED if the caller is cancelled
 * (t stays joinable), -ESRCH if t is gone (joined before, or detached and finished: a handle
 * is never valid again once its thread is freed, even if a new thread reuses its memory).
 * t's result is stored in *result if result is not NULL.
 */
GH_EXPORT int gh_join(gh_thread *t, void **result);

/* Let t be freed as soon as it finishes. -EINVAL if t is already detached or being joined,
 * -ESRCH if t is gone. */
GH_EXPORT int gh_detach(gh_thread *t);

/*
 * Ask t to stop: its current and every later wait returns -ECANCELED, so it can unwind and
 * return. A thread that never waits is not interrupted. -EINVAL for a finished thread.
 */
GH_EXPORT int gh_cancel(gh_thread *t);

/* 1 if the calling green thread has been cancelled, 0 if not, -EPERM outside a hub. */
GH_EXPORT int gh_cancelled(void);

/* The calling green thread, or NULL (errno EPERM) outside a hub. */
GH_EXPORT gh_thread *gh_self(void);

/* Name t for diagnostics (truncated to 31 bytes). -EINVAL for a NULL name. */
GH_EXPORT int gh_thread_set_name(gh_thread *t, const char *name);
GH_EXPORT const char *gh_thread_name(const gh_thread *t);

/* A number unique among the green threads of the process. */
GH_EXPORT uint64_t gh_thread_id(const gh_thread *t);

/* Let every other ready green thread run once, and the hub poll, then continue. */
GH_EXPORT int gh_yield(void);

/* Sleep until deadline (absolute, gh_now() clock). -ECANCELED if cancelled meanwhile. */
GH_EXPORT int gh_sleep_until(uint64_t deadline);

/* Sleep for ns nanoseconds of the gh_now() clock, reading it once: gh_sleep_until(gh_now() +
 * ns), without the overflow (a sleep past the clock's end lasts until cancelled). 0 yields.
 * -ECANCELED if cancelled meanwhile, -EPERM outside a green thread. */
GH_EXPORT int gh_sleep(uint64_t ns);

/*
 * Wait until fd is ready for any of events (GH_IN, GH_OUT) or deadline passes. Returns the
 * ready bits (> 0, may include GH_ERR and GH_HUP), -ETIMEDOUT, -ECANCELED, -EBADF for a bad
 * fd or one closed with gh_close() meanwhile, -EINVAL for empty or unknown event bits. Like
 * poll(2), a regular file is always ready.
 */
GH_EXPORT int gh_wait_fd(int fd, unsigned events, uint64_t deadline);

/* ======================================================================================== */
/* Green I/O, synchronization, pools, the offload pool and subprocesses (docs/io.md).        */
/* Everything below that may wait suspends only the calling green thread.                     */
/* ======================================================================================== */

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* ---------------------------------------------------------------------------------------- */
/* Green file descriptors and sockets                                                         */
/*
 * The I/O calls try the system call first and wait for readiness only when the kernel says it
 * would block, so the fd must be non-blocking: gh_socket(), gh_socketpair(), gh_pipe() and
 * gh_accept() return such fds, and gh_fd_setup() converts any other. Socket calls also pass
 * MSG_DONTWAIT. EINTR is retried. A write to a socket or pipe whose reader is gone returns
 * -EPIPE (or -ECONNRESET); SIGPIPE is never raised. The calls that may wait return -EPERM
 * outside a hub, and -ECANCELED in a cancelled green thread, even when the fd is ready.
 *
 * An fd that green threads wait on must be closed with gh_close(), which wakes them with
 * -EBADF; closing it with close(2) leaves them waiting for an fd that no longer exists.
 */

/* Make fd non-blocking and close-on-exec. Works outside a hub. 0 or -errno from fcntl(2). */
GH_EXPORT int gh_fd_setup(int fd);

/* socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC added to type: the new fd, or -errno. */
GH_EXPORT int gh_socket(int domain, int type, int protocol);

/* socketpair(2), both ends non-blocking and close-on-exec: 0 or -errno. */
GH_EXPORT int gh_socketpair(int domain, int type, int protocol, int sv[2]);

/* pipe2(2) with O_NONBLOCK | O_CLOEXEC: fds[0] reads, fds[1] writes. 0 or -errno. */
GH_EXPORT int gh_pipe(int fds[2]);

/*
 * Close fd, first waking every green thread of the calling hub that waits on it with -EBADF.
 * Outside a hub it is a plain close(2). 0, or -errno from close(2) (-EBADF for a bad fd);
 * an interrupted close still releases the fd on Linux and counts as success.
 */
GH_EXPORT int gh_close(int fd);

/*
 * Read up to len bytes, waiting until at least one byte or end of file is there. Returns the
 * count (0 at end of file), or -ETIMEDOUT, -ECANCELED, -EBADF (also when closed meanwhile with
 * gh_close), -ECONNRESET or another -errno from read(2).
 */
GH_EXPORT ssize_t gh_read(int fd, void *buf, size_t len, uint64_t deadline);

/*
 * Write all len bytes, waiting for room as often as needed (partial writes are continued).
 * Returns len, or a negative errno: -ETIMEDOUT, -ECANCELED, -EPIPE, -ECONNRESET, -EBADF, ...
 * On failure some leading part of buf may already have been written: treat the stream as
 * broken. -EINVAL if len exceeds SSIZE_MAX.
 */
GH_EXPORT ssize_t gh_write(int fd, const void *buf, size_t len, uint64_t deadline);

/* readv(2): scatter up to the total length, waiting for at least one byte or end of file.
 * Returns as gh_read; -EINVAL for iovcnt outside 0..IOV_MAX. */
GH_EXPORT ssize_t gh_readv(int fd, const struct iovec *iov, int iovcnt, uint64_t deadline);

/* writev(2): write every byte of every buffer, in order, as gh_write. iov is not modified.
 * Returns the total, or a negative errno as gh_write (-ENOMEM if iovcnt needs a copy). */
GH_EXPORT ssize_t gh_writev(int fd, const struct iovec *iov, int iovcnt, uint64_t deadline);

/* recv(2): at least one byte (0 when a stream peer has shut down, or an empty datagram).
 * flags are passed through (MSG_PEEK, MSG_TRUNC, ...). Returns as gh_read. */
GH_EXPORT ssize_t gh_recv(int fd, void *buf, size_t len, int flags, uint64_t deadline);

/* send(2) every byte on a stream socket, or the one datagram on a datagram socket; flags are
 * passed through with MSG_NOSIGNAL added. Returns len or a negative errno as gh_write. */
GH_EXPORT ssize_t gh_send(int fd, const void *buf, size_t len, int flags, uint64_t deadline);

/* recvfrom(2): as gh_recv, and the sender's address in addr/addrlen if addr is not NULL. */
GH_EXPORT ssize_t gh_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			      socklen_t *addrlen, uint64_t deadline);

/* sendto(2): as gh_send, to addr (NULL for a connected socket). */
GH_EXPORT ssize_t gh_sendto(int fd, const void *buf, size_t len, int flags,
			    const struct sockaddr *addr, socklen_t addrlen, uint64_t deadline);

/*
 * Accept a connection on listening socket fd (which must be non-blocking). Returns the new fd,
 * already non-blocking and close-on-exec, with the peer's address in addr/addrlen if addr is
 * not NULL; or -ETIMEDOUT, -ECANCELED, -EBADF (listener closed with gh_close), -EMFILE, ...
 */
GH_EXPORT int gh_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, uint64_t deadline);

/*
 * Connect socket fd (non-blocking) to addr and wait for the connection to complete. 0, or
 * -ECONNREFUSED, -ETIMEDOUT (the attempt is abandoned: close the socket), -ECANCELED,
 * -ENETUNREACH, ... as connect(2) and SO_ERROR report them.
 */
GH_EXPORT int gh_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
			 uint64_t deadline);

/* ---------------------------------------------------------------------------------------- */
/* Synchronization                                                                           */
/*
 * Mutexes, semaphores, events, condition variables and channels coordinate the green threads of
 * one hub; green threads of different hubs, and plain OS threads, must not share one (they take no
 * lock: they rely on the hub running one green thread at a time). Between hubs use gh_hub_post and
 * gh_future (see "Many hubs, one process" above and docs/many-hubs.md): to feed a channel of hub B
 * from elsewhere, post to B a function that sends on it. Waiters are served in FIFO order and a
 * release hands the resource directly to the first waiter, so a late arrival can never overtake a
 * waiting green thread. create, destroy and the getters (gh_sem_value, gh_event_is_set,
 * gh_chan_len) work anywhere; every other call needs a hub (-EPERM otherwise). A call that may
 * wait returns -ECANCELED at once in a cancelled green thread, even if it would not have had to
 * wait. destroy refuses (-EBUSY) while an object is held or waited on.
 */
typedef struct gh_mutex gh_mutex;
typedef struct gh_sem gh_sem;
typedef struct gh_event gh_event;
typedef struct gh_cond gh_cond;
typedef struct gh_chan gh_chan;

/* A new unlocked mutex, or NULL (errno ENOMEM). Not recursive. */
GH_EXPORT gh_mutex *gh_mutex_create(void);

/* Free m. -EINVAL for NULL, -EBUSY if it is locked or waited on. */
GH_EXPORT int gh_mutex_destroy(gh_mutex *m);

/*
 * Lock m, waiting up to deadline. 0, or -ETIMEDOUT, -ECANCELED, -EDEADLK if the caller already
 * holds it, -EINVAL for NULL.
 */
GH_EXPORT int gh_mutex_lock(gh_mutex *m, uint64_t deadline);

/* Lock m if it is free and nobody waits for it. 0, -EBUSY, -EINVAL for NULL. */
GH_EXPORT int gh_mutex_trylock(gh_mutex *m);

/* Unlock m, handing it to its first waiter if there is one. -EPERM if the caller does not
 * hold it, -EINVAL for NULL. */
GH_EXPORT int gh_mutex_unlock(gh_mutex *m);

/*
 * A counting semaphore with value units (at most max; max 0 means INT_MAX, an unbounded
 * counting semaphore). A bounded one (max > 0) refuses a release that would exceed max, which
 * catches a release without an acquire. NULL with errno EINVAL if value > max or either
 * exceeds INT_MAX, ENOMEM.
 */
GH_EXPORT gh_sem *gh_sem_create(unsigned value, unsigned max);

/* Free s. -EINVAL for NULL, -EBUSY while green threads wait on it. */
GH_EXPORT int gh_sem_destroy(gh_sem *s);

/* Take one unit, waiting up to deadline. 0, -ETIMEDOUT, -ECANCELED, -EINVAL for NULL. */
GH_EXPORT int gh_sem_acquire(gh_sem *s, uint64_t deadline);

/* Take one unit if one is free and nobody waits. 0, -EAGAIN, -EINVAL for NULL. */
GH_EXPORT int gh_sem_tryacquire(gh_sem *s);

/* Give one unit back (to the first waiter, if any). -EOVERFLOW if the value would exceed the
 * maximum, -EINVAL for NULL. */
GH_EXPORT int gh_sem_release(gh_sem *s);

/* The free units (>= 0), or -EINVAL for NULL. */
GH_EXPORT int gh_sem_value(const gh_sem *s);

/* A new event, not set; or NULL (errno ENOMEM). */
GH_EXPORT gh_event *gh_event_create(void);

/* Free e. -EINVAL for NULL, -EBUSY while green threads wait on it. */
GH_EXPORT int gh_event_destroy(gh_event *e);

/* Set e and wake every green thread waiting for it; it stays set until cleared. -EINVAL. */
GH_EXPORT int gh_event_set(gh_event *e);

/* Clear e: later waits wait again. -EINVAL for NULL. */
GH_EXPORT int gh_event_clear(gh_event *e);

/* Wait until e is set (0 at once if it is). 0, -ETIMEDOUT, -ECANCELED, -EINVAL for NULL. */
GH_EXPORT int gh_event_wait(gh_event *e, uint64_t deadline);

/* 1 if e is set, 0 if not, -EINVAL for NULL. */
GH_EXPORT int gh_event_is_set(const gh_event *e);

/* A new condition variable, or NULL (errno ENOMEM). */
GH_EXPORT gh_cond *gh_cond_create(void);

/* Free c. -EINVAL for NULL, -EBUSY while green threads wait on it. */
GH_EXPORT int gh_cond_destroy(gh_cond *c);

/*
 * Unlock m, wait for a signal on c, and lock m again before returning, whatever the outcome
 * (like pthread_cond_timedwait, and unlike every other wait here, re-locking m is not cut
 * short by a cancellation: the caller always returns holding m). 0 when signalled, or
 * -ETIMEDOUT, -ECANCELED; -EPERM if the caller does not hold m (nothing is waited for then),
 * -EINVAL for NULL. One exception: if m can never be locked again because the green thread
 * holding it finished without unlocking it, the hub is deadlocked and gh_cond_wait returns
 * -EDEADLK *without* holding m (gh_hub_run then returns -EDEADLK). As with any condition
 * variable, re-check the predicate in a loop.
 */
GH_EXPORT int gh_cond_wait(gh_cond *c, gh_mutex *m, uint64_t deadline);

/* Wake the first waiter of c, if any. -EINVAL for NULL. */
GH_EXPORT int gh_cond_signal(gh_cond *c);

/* Wake every waiter of c. -EINVAL for NULL. */
GH_EXPORT int gh_cond_broadcast(gh_cond *c);

/* Channel capacity with no limit (sends never wait; the buffer grows). */
#define GH_CHAN_UNBOUNDED SIZE_MAX

/*
 * A channel of elements of elem_size bytes (1 to 65536), copied in and out. capacity 0 makes
 * every send wait for a receiver (a rendezvous, like an unbuffered Go channel); a positive
 * capacity buffers that many elements; GH_CHAN_UNBOUNDED buffers without limit. NULL with
 * errno EINVAL or ENOMEM.
 */
GH_EXPORT gh_chan *gh_chan_create(size_t elem_size, size_t capacity);

/* Free c and any elements still buffered. -EINVAL for NULL, -EBUSY while waited on. */
GH_EXPORT int gh_chan_destroy(gh_chan *c);

/*
 * Copy the element at elem into c, waiting for room (or, with capacity 0, for a receiver).
 * 0, or -EPIPE if c is closed (also when closed while waiting: the element was not sent),
 * -ETIMEDOUT, -ECANCELED, -ENOMEM (unbounded buffer growth), -EINVAL for NULL.
 */
GH_EXPORT int gh_chan_send(gh_chan *c, const void *elem, uint64_t deadline);

/*
 * Take the oldest element into elem, waiting for one. Elements buffered before a close are
 * still received; after that -EPIPE. Also -ETIMEDOUT, -ECANCELED, -EINVAL for NULL.
 */
GH_EXPORT int gh_chan_recv(gh_chan *c, void *elem, uint64_t deadline);

/* Close c: senders and receivers that wait are woken with -EPIPE, later sends fail with -EPIPE
 * and receives drain the buffer, then fail with -EPIPE. -EPIPE if already closed, -EINVAL. */
GH_EXPORT int gh_chan_close(gh_chan *c);

/* Elements buffered in c (0 for NULL). */
GH_EXPORT size_t gh_chan_len(const gh_chan *c);

/* ---------------------------------------------------------------------------------------- */
/* Futures: one value, set once from any OS thread, waited for anywhere                       */

typedef struct gh_future gh_future;

/* An unset future; NULL with errno ENOMEM. Thread-safe. */
GH_EXPORT gh_future *gh_future_create(void);

/*
 * Free f. -EINVAL for NULL, -EBUSY while a thread waits on it. Once a gh_future_wait has
 * returned, f may be destroyed even if the gh_future_set that woke it has not returned yet;
 * otherwise destroy only once no thread may still call gh_future_set or gh_future_wait on it.
 */
GH_EXPORT int gh_future_destroy(gh_future *f);

/*
 * Set f's value and wake every waiter, from any OS thread or green thread of any hub. Never
 * waits for a hub (it takes f's short internal lock). 0, -EALREADY if f was already set (the
 * value stays the first one), -EINVAL for NULL.
 */
GH_EXPORT int gh_future_set(gh_future *f, void *value);

/*
 * Wait until f is set or deadline (gh_now() time, GH_NEVER for none) passes; *value (if value
 * is not NULL) gets the value. Returns at once if f is already set; any number of threads may
 * wait. From a green thread of any hub, the wait suspends only that green thread; its hub
 * counts it as waiting for the outside, like an offload, so the hub neither ends its run nor
 * calls it a deadlock meanwhile. gh_cancel does not cut a wait short (use a deadline), but a
 * cancelled green thread gets -ECANCELED at once. From a plain OS thread (not a carrier) the
 * wait blocks the thread on a futex. Inside a blocking region it is -EPERM.
 * 0, or -ETIMEDOUT, -ECANCELED, -EPERM, -EINVAL for NULL.
 */
GH_EXPORT int gh_future_wait(gh_future *f, void **value, uint64_t deadline);

/* 1 if f is set, 0 if not, -EINVAL for NULL. Thread-safe. */
GH_EXPORT int gh_future_is_set(const gh_future *f);

/* ---------------------------------------------------------------------------------------- */
/* Green pools: at most size green threads at a time (eventlet's GreenPool)                   */
/* create, destroy and the getters work anywhere; the other calls need a hub (-EPERM).        */

typedef struct gh_pool gh_pool;

/* A pool that runs at most size (>= 1) green threads at once; NULL, errno EINVAL or ENOMEM. */
GH_EXPORT gh_pool *gh_pool_create(size_t size);

/* Free p. -EINVAL for NULL, -EBUSY while its threads run or green threads wait on it. */
GH_EXPORT int gh_pool_destroy(gh_pool *p);

/*
 * Run fn(arg) as a green thread of the pool, waiting up to deadline while size of them run
 * (spawners are served in FIFO order). The thread is owned by the pool: fn's return value is
 * dropped, and it is not joinable; use gh_pool_waitall(). 0, or -ETIMEDOUT, -ECANCELED,
 * -ENOMEM, -EINVAL for NULL. If it fails, fn never runs.
 */
GH_EXPORT int gh_pool_spawn(gh_pool *p, gh_fn fn, void *arg, uint64_t deadline);

/* Wait until no thread of p runs. 0, -ETIMEDOUT, -ECANCELED, -EDEADLK when called from one of
 * p's own threads, -EINVAL for NULL. */
GH_EXPORT int gh_pool_waitall(gh_pool *p, uint64_t deadline);

/* Cancel every running thread of p (see gh_cancel). Returns how many were asked to stop, or
 * -EINVAL for NULL. */
GH_EXPORT int gh_pool_cancel(gh_pool *p);

/* How many threads p could start now without waiting (0 for NULL). */
GH_EXPORT size_t gh_pool_available(const gh_pool *p);

/* How many threads of p run (0 for NULL). */
GH_EXPORT size_t gh_pool_running(const gh_pool *p);

/* ---------------------------------------------------------------------------------------- */
/* The offload pool: run a blocking function on a worker OS thread (eventlet's tpool)          */
/*
 * For C libraries that block in the kernel and cannot be made green (a database client,
 * getaddrinfo, a slow disk): the call runs on one of a bounded set of worker OS threads while
 * only the calling green thread waits; the hub keeps running the others. Workers are started
 * on demand up to the pool's limit and have every signal blocked.
 */
typedef struct gh_offload_pool gh_offload_pool;

/* Workers of the process-wide pool that gh_offload(NULL, ...) uses. */
#define GH_OFFLOAD_DEFAULT_WORKERS 16

/* A pool of at most workers (1 to 1024) OS threads; NULL, errno EINVAL, ENOMEM. */
GH_EXPORT gh_offload_pool *gh_offload_pool_create(unsigned workers);

/* Stop and join the workers and free pool. -EBUSY while calls are in flight, -EINVAL for
 * NULL. Must not be called from one of its own workers. */
GH_EXPORT int gh_offload_pool_destroy(gh_offload_pool *pool);

/*
 * Run fn(arg) on a worker of pool (NULL: the process-wide pool, created on first use) and wait
 * for it; *result (if result is not NULL) gets its return value. 0, or -EPERM outside a hub,
 * -EINVAL for a NULL fn, -ECANCELED if the caller was already cancelled (fn does not run),
 * -EAGAIN if no worker could be started. Once handed to a worker the call waits for fn to
 * return, even if cancelled meanwhile (fn may use the caller's memory): a cancellation shows
 * at the caller's next wait. fn runs on another OS thread, so it must not call greenhub's
 * green-thread functions.
 */
GH_EXPORT int gh_offload(gh_offload_pool *pool, gh_fn fn, void *arg, void **result);

/* ---------------------------------------------------------------------------------------- */
/* Subprocesses                                                                               */

typedef struct gh_proc gh_proc;

/* Which of the child's standard streams get a pipe to the parent (gh_proc_create flags). */
#define GH_PROC_STDIN 0x1        /* gh_proc_stdin() writes to the child's standard input */
#define GH_PROC_STDOUT 0x2       /* gh_proc_stdout() reads the child's standard output */
#define GH_PROC_STDERR 0x4       /* gh_proc_stderr() reads the child's standard error */
#define GH_PROC_MERGE_STDERR 0x8 /* the child's standard error goes where its output goes */

/*
 * Start argv[0] (looked up in PATH) with argument vector argv (NULL-terminated) and
 * environment envp (NULL: the caller's). Streams without a pipe are inherited. The pipes are
 * green-ready, the child gets none of the parent's close-on-exec fds, and its exit is watched
 * through a pidfd, so gh_proc_wait() never blocks the hub. Works outside a hub. NULL with
 * errno EINVAL (bad flags, empty argv), ENOENT, EACCES, ENOMEM, ...
 */
GH_EXPORT gh_proc *gh_proc_create(char *const argv[], char *const envp[], unsigned flags);

/*
 * Close p's pipes and free it. -EBUSY if the child has not been waited for (gh_proc_kill() and
 * gh_proc_wait() it first: a child is never left a zombie), -EINVAL for NULL.
 */
GH_EXPORT int gh_proc_destroy(gh_proc *p);

/* The child's process id (-EINVAL for NULL). */
GH_EXPORT pid_t gh_proc_pid(const gh_proc *p);

/* The parent's end of the child's stdin, stdout, stderr pipe, or -EBADF when there is none
 * (not requested, or closed with gh_proc_close_pipe). -EINVAL for NULL. */
GH_EXPORT int gh_proc_stdin(const gh_proc *p);
GH_EXPORT int gh_proc_stdout(const gh_proc *p);
GH_EXPORT int gh_proc_stderr(const gh_proc *p);

/* Close one of p's pipes (GH_PROC_STDIN, GH_PROC_STDOUT or GH_PROC_STDERR) with gh_close(),
 * e.g. to give the child end of file on its input. -EBADF if it is not open, -EINVAL. */
GH_EXPORT int gh_proc_close_pipe(gh_proc *p, unsigned which);

/*
 * Wait for the child to exit and reap it; *status (if not NULL) gets its wait status (test it
 * with WIFEXITED, WEXITSTATUS, WIFSIGNALED, ...). Waiting again returns the same status at
 * once. 0, -ETIMEDOUT, -ECANCELED, -EPERM outside a hub, -EINVAL for NULL.
 */
GH_EXPORT int gh_proc_wait(gh_proc *p, int *status, uint64_t deadline);

/* Send signal sig to the child (through its pidfd, so never to a recycled pid). 0, -ESRCH if
 * it has been reaped, -EINVAL. */
GH_EXPORT int gh_proc_kill(gh_proc *p, int sig);

/* ======================================================================================== */
/* End of green I/O, synchronization, pools, offload and subprocesses.                        */
/* ======================================================================================== */

#ifdef __cplusplus
}
#endif

#endif /* GREENHUB_H */
