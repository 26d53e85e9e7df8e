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
	size_t stack_size;          /* usable bytes per green stack; default 256 KiB */
	unsigned stack_cache;       /* free stacks kept for reuse; default 1024 */
	enum gh_mode mode;          /* default GH_MODE_AUTO */
};

GH_EXPORT void gh_hub_opts_init(struct gh_hub_opts *opts);

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
 * runs a hub. Green threads that finished without being joined or detached are freed here;
 * their handles become invalid.
 */
GH_EXPORT int gh_hub_run(gh_hub *hub, gh_fn fn, void *arg, void **result);

/* The hub the calling green thread runs in, or NULL (errno EPERM) outside a hub. */
GH_EXPORT gh_hub *gh_hub_current(void);

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
 * (t stays joinable). t's result is stored in *result if result is not NULL.
 */
GH_EXPORT int gh_join(gh_thread *t, void **result);

/* Let t be freed as soon as it finishes. -EINVAL if t is already detached or being joined. */
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

/*
 * Wait until fd is ready for any of events (GH_IN, GH_OUT) or deadline passes. Returns the
 * ready bits (> 0, may include GH_ERR and GH_HUP), -ETIMEDOUT, -ECANCELED, -EBADF for a bad
 * fd or one closed with gh_close() meanwhile, -EINVAL for empty or unknown event bits. Like
 * poll(2), a regular file is always ready.
 */
GH_EXPORT int gh_wait_fd(int fd, unsigned events, uint64_t deadline);

#ifdef __cplusplus
}
#endif

#endif /* GREENHUB_H */
