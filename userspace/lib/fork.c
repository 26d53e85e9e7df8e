// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What fork() means for a greenhub process.
 *
 * The rule (include/greenhub.h, README): the hubs running at fork() belong to the parent. In the
 * child they are dead: its one thread, even when fork() was called from a green thread, is no
 * carrier, so every call that needs a hub returns -EPERM, and a green thread that returns from
 * its function in the child aborts with a message. exec and _exit work as always; and the child
 * may create and run hubs of its own, which start from a clean runtime (no sysmon, no offload
 * workers, no kernel-assist state of the parent's).
 *
 * Nothing of the child can reach the parent's hubs: in kernel-assist modes the slot pages are
 * mapped MADV_DONTFORK (the child has no such mapping at all), and the descriptors the parent's
 * hubs hold are closed in the child here. The child also gets the application's signal mask
 * back if fork() was called on a carrier whose mask differs (a spare).
 *
 * Locks that another thread of the parent may hold at fork() are taken in the prepare handler
 * and released on both sides, so the child finds the runtime's shared state consistent.
 */
#include <pthread.h>
#include <signal.h>

#include "backend.h"
#include "internal.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int install_err;

static void prepare(void)
{
	gh__sysmon_fork_prepare();
}

static void parent(void)
{
	gh__sysmon_fork_parent();
}

static void child(void)
{
	struct gh__carrier *c = gh__carrier_self();

	if (c) {
		/* The application's mask, as on its own threads: a spare blocks more. */
		pthread_sigmask(SIG_SETMASK, &c->hub->app_mask, NULL);
		gh__carrier_set(NULL);
	}
	/* Each running hub of the parent lets its backend close what the child inherited, then
	 * the child starts from an empty sysmon. */
	gh__sysmon_fork_child(gh__backend_fork_child);
	gh__offload_fork_child();
}

static void install(void)
{
	install_err = -pthread_atfork(prepare, parent, child);
}

int gh__fork_handlers_install(void)
{
	pthread_once(&once, install);
	return install_err;
}
