// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The offload pool: run a function on a worker OS thread while only the calling green thread
 * waits (eventlet's tpool.execute).
 *
 * A call is a job record on the caller's green stack. The caller announces a remote wait
 * (gh__wait_remote_begin), queues the job under the pool's lock, signals a worker, and waits
 * (gh__wait_remote). The worker runs the function, stores its result in the job and posts the
 * completion to the caller's hub (gh__wake_remote), after which it never touches the job
 * again: the caller may return and reuse that stack at once.
 *
 * Memory ordering: the caller's writes to the job happen before the worker reads them (the
 * pool lock); the worker's write of the result happens before the caller reads it (the
 * release push onto the hub's completion stack and the hub's acquire exchange that drains
 * it). The pool lock is an OS mutex, but a green thread holds it only for a few instructions
 * of its own, never across a switch point.
 *
 * Workers are started on demand, when a job is queued and no idle worker is left to take it,
 * up to the pool's limit; they then stay until the pool is destroyed. A job once queued always
 * runs: the remote wait cannot be cancelled, because the worker holds a pointer into the
 * caller's stack.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

#include "internal.h"

#define WORKERS_MAX 1024

struct job {
	struct gh__list link; /* in pool->jobs until a worker takes it */
	gh_fn fn;
	void *arg;
	void *result;
	struct gh_hub *hub;
	struct gh_thread *t;
};

struct gh_offload_pool {
	pthread_mutex_t lock;  /* guards every field below */
	pthread_cond_t work;   /* workers wait here for jobs or for stopping */
	struct gh__list jobs;  /* struct job, FIFO */
	size_t queued;         /* jobs on the list */
	size_t in_flight;      /* jobs queued or running: destroy refuses while non-zero. A
				* worker decrements it just before posting the completion: the
				* pool may then be destroyed, but is joined before it is freed. */
	unsigned max_workers;
	unsigned nworkers;     /* started, entries of threads[] */
	unsigned idle;         /* workers waiting on work */
	bool stopping;
	pthread_t *threads;    /* max_workers entries */
};

static void *worker_main(void *arg)
{
	struct gh_offload_pool *pool = arg;
	int err;

	err = pthread_mutex_lock(&pool->lock);
	if (err)
		gh__panic("pthread_mutex_lock(offload): %s", gh_strerror(err));
	for (;;) {
		struct job *job;
		struct gh_hub *hub;
		struct gh_thread *t;

		while (!pool->queued && !pool->stopping) {
			pool->idle++;
			err = pthread_cond_wait(&pool->work, &pool->lock);
			pool->idle--;
			if (err)
				gh__panic("pthread_cond_wait(offload): %s", gh_strerror(err));
		}
		if (!pool->queued)
			break;
		job = GH_CONTAINER_OF(gh__list_pop_front(&pool->jobs), struct job, link);
		pool->queued--;
		pthread_mutex_unlock(&pool->lock);

		job->result = job->fn(job->arg);
		hub = job->hub;
		t = job->t;

		/* Count the job done before the caller can return, so that a destroy right after
		 * the last call succeeds. */
		err = pthread_mutex_lock(&pool->lock);
		if (err)
			gh__panic("pthread_mutex_lock(offload): %s", gh_strerror(err));
		pool->in_flight--;
		pthread_mutex_unlock(&pool->lock);
		/* The job is the caller's: gone once the completion is posted. */
		gh__wake_remote(hub, t, 0);
		err = pthread_mutex_lock(&pool->lock);
		if (err)
			gh__panic("pthread_mutex_lock(offload): %s", gh_strerror(err));
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

gh_offload_pool *gh_offload_pool_create(unsigned workers)
{
	struct gh_offload_pool *pool;
	int err;

	if (workers == 0 || workers > WORKERS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	pool = gh__calloc(1, sizeof(*pool));
	if (!pool)
		return NULL;
	pool->threads = calloc(workers, sizeof(*pool->threads));
	if (!pool->threads) {
		err = ENOMEM;
		goto fail_pool;
	}
	err = pthread_mutex_init(&pool->lock, NULL);
	if (err)
		goto fail_threads;
	err = pthread_cond_init(&pool->work, NULL);
	if (err)
		goto fail_mutex;
	gh__list_init(&pool->jobs);
	pool->max_workers = workers;
	return pool;

fail_mutex:
	pthread_mutex_destroy(&pool->lock);
fail_threads:
	free(pool->threads);
fail_pool:
	free(pool);
	errno = err;
	return NULL;
}

int gh_offload_pool_destroy(gh_offload_pool *pool)
{
	unsigned n;
	int err;

	if (!pool)
		return -EINVAL;
	err = pthread_mutex_lock(&pool->lock);
	if (err)
		return -err;
	if (pool->in_flight) {
		pthread_mutex_unlock(&pool->lock);
		return -EBUSY;
	}
	pool->stopping = true;
	n = pool->nworkers;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < n; i++) {
		err = pthread_join(pool->threads[i], NULL);
		if (err)
			gh__panic("pthread_join(offload worker): %s", gh_strerror(err));
	}
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
	return 0;
}

/* Start one more worker, with every signal blocked (they are for the hub's threads). Called
 * with the pool lock held. */
static int start_worker(struct gh_offload_pool *pool)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int err, err2;

	err = pthread_attr_init(&attr);
	if (err)
		return -err;
	/* Workers are no carriers: the fair class, whoever starts them. */
	gh__attr_fair_class(&attr);
	sigfillset(&all);
	err = pthread_sigmask(SIG_SETMASK, &all, &old);
	if (err) {
		pthread_attr_destroy(&attr);
		return -err;
	}
	err = pthread_create(&pool->threads[pool->nworkers], &attr, worker_main, pool);
	pthread_attr_destroy(&attr);
	err2 = pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err2)
		gh__panic("pthread_sigmask(SIG_SETMASK): %s", gh_strerror(err2));
	if (err)
		return -err;
	pool->nworkers++;
	return 0;
}

static struct gh_offload_pool *default_pool;
static int default_pool_err;
static pthread_once_t default_pool_once = PTHREAD_ONCE_INIT;

/* fork(): the child has none of the default pool's workers. The parent's pool is left as it is
 * (its memory is the child's copy, its workers do not exist): a new one is made on first use. */
void gh__offload_fork_child(void)
{
	static const pthread_once_t fresh = PTHREAD_ONCE_INIT;

	default_pool = NULL;
	default_pool_err = 0;
	default_pool_once = fresh;
}

static void default_pool_create(void)
{
	default_pool = gh_offload_pool_create(GH_OFFLOAD_DEFAULT_WORKERS);
	if (!default_pool)
		default_pool_err = -errno;
}

/* Queue job on pool, starting a worker if none is idle to take it. 0, or -EAGAIN when the
 * pool has no worker and none can be started, -EINVAL when it is being destroyed. */
static int enqueue(struct gh_offload_pool *pool, struct job *job)
{
	int err;

	err = pthread_mutex_lock(&pool->lock);
	if (err)
		return -err;
	if (pool->stopping) {
		err = -EINVAL;
		goto out;
	}
	if (pool->queued >= pool->idle && pool->nworkers < pool->max_workers) {
		err = start_worker(pool);
		/* Without a new worker the job still runs once a busy one is free. */
		if (err && pool->nworkers)
			err = 0;
		if (err)
			goto out;
	}
	gh__list_push_back(&pool->jobs, &job->link);
	pool->queued++;
	pool->in_flight++;
	pthread_cond_signal(&pool->work);
out:
	pthread_mutex_unlock(&pool->lock);
	return err == -EAGAIN || err == -ENOMEM ? -EAGAIN : err;
}

int gh_offload(gh_offload_pool *pool, gh_fn fn, void *arg, void **result)
{
	struct gh_thread *self;
	struct gh_hub *hub;
	struct job job;
	int err = gh__may_wait(&self, fn);

	if (err)
		return err;
	if (!pool) {
		err = pthread_once(&default_pool_once, default_pool_create);
		if (err)
			return -err;
		if (!default_pool)
			return default_pool_err;
		pool = default_pool;
	}
	hub = self->hub;
	job.fn = fn;
	job.arg = arg;
	job.result = NULL;
	job.hub = hub;
	job.t = self;
	gh__wait_remote_begin(hub);
	err = enqueue(pool, &job);
	if (err) {
		/* The remote wait is announced and can only end by a completion: post our own. */
		gh__wake_remote(hub, self, err);
	}
	err = gh__wait_remote(hub);
	if (err)
		return err;
	if (result)
		*result = job.result;
	return 0;
}
