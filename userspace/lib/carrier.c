// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Carriers: the OS threads that may run a hub (gh__carrier_init makes the calling thread one,
 * gh__carrier_fini undoes it), the thread-local pointer to the calling thread's carrier, the
 * wake word a carrier sleeps on while it is parked or waits for a hand-back, and the kick
 * signal that interrupts its idle poll. What a carrier does with a hub is the protocol's
 * (baton.c), the scheduler's (sched.c) and, while it has nothing to run, the spares' (spare.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

/* The calling thread's carrier: read by gh__carrier_self() (internal.h). */
__thread struct gh__carrier *gh__tls_carrier GH__TLS_MODEL;

void gh__carrier_set(struct gh__carrier *c)
{
	gh__tls_carrier = c;
}

/* ---------------------------------------------------------------------------------------- */
/* The wake word                                                                              */

void gh__carrier_sleep(struct gh__carrier *c)
{
	atomic_uint *word = &c->wake_word;

	while (!atomic_load(word)) {
		int err = gh__futex_wait(word, 0, NULL);

		if (err && err != -EAGAIN && err != -EINTR)
			gh__panic("futex(FUTEX_WAIT): %s", gh_strerror(err));
	}
	atomic_store(word, 0);
}

bool gh__carrier_sleep_for(struct gh__carrier *c, uint64_t ns)
{
	atomic_uint *word = &c->wake_word;
	const struct timespec rel = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	while (!atomic_load(word)) {
		int err = gh__futex_wait(word, 0, &rel);

		if (err == -ETIMEDOUT)
			return false;
		if (err && err != -EAGAIN && err != -EINTR)
			gh__panic("futex(FUTEX_WAIT): %s", gh_strerror(err));
	}
	atomic_store(word, 0);
	return true;
}

void gh__carrier_wake(struct gh__carrier *c)
{
	atomic_store(&c->wake_word, 1);
	gh__futex_wake(&c->wake_word, 1);
	/* A spare that waits on an fd (a backend's spare_wait) sees the word once kicked out. */
	if (atomic_load(&c->wake_kick))
		gh__carrier_kick(c->tid);
}

/* ---------------------------------------------------------------------------------------- */
/* Carrier threads                                                                            */

static void on_kick(int sig)
{
	(void)sig; /* interrupting epoll_pwait2 is all a kick is for */
}

static pthread_mutex_t kick_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Make on_kick the kick signal's handler, unless the application has a handler of its own
 * there (checked at every carrier's start: it may have installed one since). 0, or -EBUSY with
 * the reason in why, or another -errno.
 */
static int install_kick(char *why, size_t len)
{
	struct sigaction sa, old;
	int err = 0;

	pthread_mutex_lock(&kick_lock);
	if (sigaction(GH__SIG_KICK, NULL, &old) < 0) {
		err = -errno;
		snprintf(why, len, "sigaction(signal %d): %s", GH__SIG_KICK, gh_strerror(err));
		goto out;
	}
	if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == on_kick)
		goto out;
	if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
		/* The application uses the signal greenhub reserves. */
		err = -EBUSY;
		snprintf(why, len, "signal %d (SIGRTMAX-1), which greenhub reserves to wake a carrier "
				   "out of its poll, has a disposition of the application's",
			 GH__SIG_KICK);
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick;
	sigemptyset(&sa.sa_mask);
	if (sigaction(GH__SIG_KICK, &sa, NULL) < 0) {
		err = -errno;
		snprintf(why, len, "sigaction(signal %d): %s", GH__SIG_KICK, gh_strerror(err));
	}
out:
	pthread_mutex_unlock(&kick_lock);
	return err;
}

/*
 * A carrier thread must leave the runtime the way it came in: a thread that ends while it
 * carries a hub (pthread_exit() or a cancellation from green code) would leave the hub's green
 * threads with no carrier, and the process with a hub that cannot stop. The destructor of this
 * key, set while a thread is a carrier, aborts with a message instead.
 */
static pthread_key_t carrier_key;
static pthread_once_t carrier_key_once = PTHREAD_ONCE_INIT;
static int carrier_key_err;

static void carrier_thread_ended(void *value)
{
	struct gh__carrier *c = value;

	gh__panic("carrier %d ended (pthread_exit() or cancellation) while carrying hub %p%s%s%s: "
		  "green code must return from its function, never end the OS thread under it",
		  (int)c->tid, (void *)c->hub, c->green ? ", in green thread '" : "",
		  c->green ? c->green->name : "", c->green ? "'" : "");
}

static void carrier_key_create(void)
{
	carrier_key_err = -pthread_key_create(&carrier_key, carrier_thread_ended);
}

void gh__carrier_kick(pid_t tid)
{
	if (syscall(SYS_tgkill, getpid(), tid, GH__SIG_KICK) < 0 && errno != ESRCH)
		gh__panic("tgkill(%d, GH__SIG_KICK): %s", (int)tid, gh_strerror(errno));
}

/* Block the kick signal except in the idle poll. */
static int mask_kick(struct gh__carrier *c, char *why, size_t len)
{
	sigset_t kick;
	int err;

	err = install_kick(why, len);
	if (err)
		return err;
	sigemptyset(&kick);
	sigaddset(&kick, GH__SIG_KICK);
	err = pthread_sigmask(SIG_BLOCK, &kick, &c->saved_mask);
	if (err)
		return -err;
	c->poll_mask = c->saved_mask;
	sigdelset(&c->poll_mask, GH__SIG_KICK);
	return 0;
}

int gh__carrier_init(struct gh_hub *hub, struct gh__carrier *c, char *why, size_t len)
{
	int err;

	gh__ctx_init_native(&c->sched_ctx);
	c->hub = hub;
	c->tid = gettid();
	pthread_once(&carrier_key_once, carrier_key_create);
	if (carrier_key_err) {
		snprintf(why, len, "pthread_key_create: %s", gh_strerror(carrier_key_err));
		return carrier_key_err;
	}
	err = mask_kick(c, why, len);
	if (err)
		return err;
	err = gh__altstack_acquire(&c->altstack);
	if (err) {
		snprintf(why, len, "an alternate signal stack for the carrier: %s", gh_strerror(err));
		pthread_sigmask(SIG_SETMASK, &c->saved_mask, NULL);
		return err;
	}
	gh__carrier_set(c);
	pthread_setspecific(carrier_key, c);
	if (hub->backend->carrier_attach) {
		err = hub->backend->carrier_attach(hub, c);
		if (err) {
			snprintf(why, len, "registering the carrier with the kernel side: %s",
				 gh_strerror(err));
			pthread_setspecific(carrier_key, NULL);
			gh__carrier_set(NULL);
			gh__altstack_release(c->altstack);
			pthread_sigmask(SIG_SETMASK, &c->saved_mask, NULL);
			return err;
		}
	}
	return 0;
}

void gh__carrier_fini(struct gh__carrier *c)
{
	struct gh_hub *hub = c->hub;

	if (hub->backend->carrier_detach)
		hub->backend->carrier_detach(hub, c);
	pthread_setspecific(carrier_key, NULL);
	gh__carrier_set(NULL);
	gh__altstack_release(c->altstack);
	gh__ctx_destroy(&c->sched_ctx);
	pthread_sigmask(SIG_SETMASK, &c->saved_mask, NULL);
}
