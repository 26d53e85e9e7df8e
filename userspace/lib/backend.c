// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Choosing the kernel-assist mode of a hub run, and mode none.
 *
 * AUTO tries the modes from the most capable down (sched_ext, trace, none) and takes the
 * first whose probe succeeds, keeping every refusal in the hub's mode reason so that a user
 * can see why a better mode was not used. An explicitly requested mode that cannot run makes
 * gh_hub_run fail with -EOPNOTSUPP instead of silently running without kernel assist. The
 * environment variable GREENHUB_MODE (auto, none, trace, sched_ext) overrides AUTO. A malformed
 * GREENHUB_* setting of any built-in mode fails the run with -EINVAL, whichever mode it picks.
 *
 * Mode none has no kernel side: the slot is the hub's own memory, and only the sysmon hands
 * off (for marked blocking regions).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"

const struct gh__backend gh__backend_none = {
	.mode = GH_MODE_NONE,
};

extern const struct gh__backend gh__backend_scx;
extern const struct gh__backend gh__backend_trace;

/* Kernel-assisted backends compiled into this library, best first. */
static const struct gh__backend *const assisted[] = {
	&gh__backend_scx,
	&gh__backend_trace,
	NULL,
};

static const struct gh__backend *find(enum gh_mode mode)
{
	for (size_t i = 0; assisted[i]; i++)
		if (assisted[i]->mode == mode)
			return assisted[i];
	return NULL;
}

static void append(struct gh_hub *hub, const char *fmt, const char *a, const char *b)
{
	size_t used = strlen(hub->mode_reason);

	if (used < sizeof(hub->mode_reason))
		snprintf(hub->mode_reason + used, sizeof(hub->mode_reason) - used, fmt, a, b);
}

/* Probe and attach one backend; on failure the reason is appended. */
static int try(struct gh_hub *hub, const struct gh__backend *be)
{
	/* room for the loader's refusal (GH_LOADER_REFUSED_MAX) and what kside.c says of it */
	char why[GH_LOADER_REFUSED_MAX + 128] = "";
	int err = be->probe ? be->probe(why, sizeof(why)) : 0;

	if (!err && be->hub_attach)
		err = be->hub_attach(hub, why, sizeof(why));
	if (err) {
		append(hub, "%s unavailable (%s); ", gh_mode_name(be->mode), why);
		return err;
	}
	hub->backend = be;
	hub->mode = be->mode;
	return 0;
}

/* GREENHUB_MODE overrides AUTO: a way for an operator to pin a service to one mode. */
static int mode_from_env(enum gh_mode *mode, struct gh_hub *hub)
{
	static const enum gh_mode modes[] = { GH_MODE_AUTO, GH_MODE_NONE, GH_MODE_TRACE,
					      GH_MODE_SCHED_EXT };
	const char *env = getenv("GREENHUB_MODE");

	if (!env || !*env)
		return 0;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(env, gh_mode_name(modes[i]))) {
			*mode = modes[i];
			return 0;
		}
	}
	append(hub, "GREENHUB_MODE='%s' is not one of auto, none, trace, sched_ext%s", env, "");
	return -EINVAL;
}

/* Every built-in mode's environment settings, checked up front. */
static int check_env(struct gh_hub *hub)
{
	char why[160];

	for (size_t i = 0; assisted[i]; i++) {
		if (assisted[i]->check_env && assisted[i]->check_env(why, sizeof(why))) {
			append(hub, "%s%s", why, "");
			return -EINVAL;
		}
	}
	return 0;
}

int gh__backend_start(struct gh_hub *hub)
{
	enum gh_mode want = hub->opts.mode;
	const struct gh__backend *be;
	int err;

	hub->mode_reason[0] = '\0';
	hub->slot = &hub->slot_mem;
	hub->slot_index = GH__NO_SLOT;
	err = check_env(hub);
	if (err)
		return err;
	if (want == GH_MODE_AUTO) {
		err = mode_from_env(&want, hub);
		if (err)
			return err;
	}
	if (want == GH_MODE_NONE) {
		hub->backend = &gh__backend_none;
		hub->mode = GH_MODE_NONE;
		append(hub, "%s%s", "mode none requested", "");
		return 0;
	}
	if (want != GH_MODE_AUTO) {
		be = find(want);
		if (!be) {
			append(hub, "%s mode is not built into this library%s", gh_mode_name(want),
			       "");
			return -EOPNOTSUPP;
		}
		return try(hub, be) ? -EOPNOTSUPP : 0;
	}
	for (size_t i = 0; assisted[i]; i++)
		if (!try(hub, assisted[i]))
			return 0;
	hub->backend = &gh__backend_none;
	hub->mode = GH_MODE_NONE;
	append(hub, "%s%s", hub->mode_reason[0] ? "running without kernel assist" :
		    "no kernel-assisted mode is built in", "");
	return 0;
}

void gh__backend_fork_child(struct gh_hub *hub)
{
	if (hub->backend && hub->backend->fork_child)
		hub->backend->fork_child(hub);
}

void gh__backend_stop(struct gh_hub *hub)
{
	if (hub->backend && hub->backend->hub_detach)
		hub->backend->hub_detach(hub);
	hub->slot = &hub->slot_mem;
	hub->slot_index = GH__NO_SLOT;
}

const char *gh_hub_mode_reason(const gh_hub *hub)
{
	if (!hub) {
		errno = EINVAL;
		return NULL;
	}
	return hub->mode_reason;
}
