/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel assist, for the few files that deal with it: the backend of each mode (backend.c picks
 * one; backend_trace.c, backend_scx.c), what the two kernel-assisted backends share
 * (backend_shared.c), the requests to a kernel side and its hold (kside.c), and bpf(2) on the
 * loader's pins (bpf_sys.c). The hub and its carriers see a mode only through struct
 * gh__backend's hooks.
 */
#ifndef GREENHUB_BACKEND_H
#define GREENHUB_BACKEND_H

#include "internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Backends (backend.c, backend_<mode>.c)                                                    */

/*
 * What the kernel side of a mode needs from the runtime. Every hook may be NULL. The hub calls
 * them at fixed points and never looks at the mode otherwise.
 */
struct gh__backend {
	enum gh_mode mode;
	/* Are the mode's environment variables well formed? 0, or -EINVAL with a reason in why.
	 * Checked for every built-in mode before any is tried: a misspelt setting fails the run
	 * instead of quietly meaning something else. Optional. */
	int (*check_env)(char *why, size_t len);
	/* Can this mode run now? 0, or -errno with a reason written to why (for the user). */
	int (*probe)(char *why, size_t len);
	/* In a child of fork(): hub ran in the parent; close the descriptors the child inherited
	 * of it, touching nothing the parent still uses. Optional. */
	void (*fork_child)(struct gh_hub *hub);
	/* Claim a slot for the hub and point hub->slot at it; release it when the run ends.
	 * Failure: -errno with the reason in why. */
	int (*hub_attach)(struct gh_hub *hub, char *why, size_t len);
	void (*hub_detach)(struct gh_hub *hub);
	/* c carries hub from now on / no longer; called on c's own thread. */
	int (*carrier_attach)(struct gh_hub *hub, struct gh__carrier *c);
	void (*carrier_detach)(struct gh_hub *hub, struct gh__carrier *c);
	/* c has parked as a spare (true) or left the parked list (false), under carrier_lock:
	 * a kernel side that wakes spares itself needs to know which ones it may wake. */
	void (*spare_parked)(struct gh_hub *hub, struct gh__carrier *c, bool parked);
	/* How parked spare c waits, instead of sleeping on its wake word: return once the word
	 * is set or a handoff may be waiting (park() looks again either way), with the word
	 * reset to 0. A kernel side that keeps spares runnable in a queue of its own needs it. */
	void (*spare_wait)(struct gh_hub *hub, struct gh__carrier *c);
	/* Transition 4 for carriers the kernel side holds, which run no user code before their
	 * hand-back and so are not on hub->returned: the owner, at a switch point with
	 * return_pending set and hub->returned empty, takes the next one's tid (0: none is
	 * visible yet, look again at the next switch point). Lock-free, owner only. */
	pid_t (*held_next)(struct gh_hub *hub);
	/* The owner has made tid the runner (RUN(tid)) after held_next: let it run. */
	void (*held_release)(struct gh_hub *hub, pid_t tid);
	/* Before the calling carrier takes b, HANDOFF(t) of another carrier t (transition 2):
	 * make sure that t's return from its call is gated (trace mode's taker-armed gate). 0:
	 * take; -ESTALE: the word moved, look again; another -errno: do not take now (the hook
	 * has paused, so a caller may simply look again). Async-signal-safe. */
	int (*take_gate)(struct gh_hub *hub, __u64 b);
};

extern const struct gh__backend gh__backend_none;

/* Pick the backend for a run of hub (opts.mode, or the best available for AUTO), attach it,
 * and record the mode and the reason in the hub. -EOPNOTSUPP if an explicitly requested mode
 * cannot run. */
int gh__backend_start(struct gh_hub *hub);
void gh__backend_stop(struct gh_hub *hub);
/* In a child of fork(): hub, running in the parent, is dead here; let its backend close what
 * the child inherited of it (backend.c). */
void gh__backend_fork_child(struct gh_hub *hub);

/* ---------------------------------------------------------------------------------------- */
/* bpf(2) on the loader's pinned maps (bpf_sys.c)                                            */

/* Each returns -1 with errno or -errno, as it says. */
union bpf_attr;
int gh__bpf_sys(int cmd, union bpf_attr *attr);
int gh__bpf_obj_get(const char *path);              /* a new fd, or -1 with errno */
int gh__bpf_ringbuf_create(unsigned bytes);         /* a new ring buffer map, or -1 */
/* Run a syscall program once with ctx as its context: 0 and its return value, or -errno. */
int gh__bpf_prog_run(int fd, void *ctx, __u32 ctx_size, int *retval);
int gh__bpf_map_id(int fd, __u32 *id);              /* 0 or -errno */
int gh__bpf_map_update(int fd, const void *key, const void *value, __u64 flags);
/* Bytes of the mapping of a BPF_F_MMAPABLE array, and the mapping itself (NULL on failure). */
size_t gh__bpf_map_bytes(size_t value_size, unsigned entries);
void *gh__bpf_map_values(int fd, size_t value_size, unsigned entries, int prot);

/* ---------------------------------------------------------------------------------------- */
/* Kernel sides (kside.c)                                                                    */

/*
 * A kernel side as both kernel-assist modes reach it: requests that claim and release a hub's
 * slot and register carriers, the hub's own slot page, and the hold of the kernel side's links
 * and gate maps while a hub is attached.
 */
#define GH__KSIDE_HOLD_MAX 8

struct gh__kside_hold;

/* A mode's kernel side, as its backend describes it (a static of the backend). */
struct gh__kside {
	const char *dir;            /* the pin folder */
	const char *const *hold;    /* pins held while a hub is attached: "link_*" links, maps */
	unsigned nr_hold;           /* at most GH__KSIDE_HOLD_MAX */
	const char *optional;       /* the one of them a load may lack, or NULL */
	size_t ctl_size;            /* the mode's control struct (begins with gh_kside_control) */
	void (*gate_handler)(int, siginfo_t *, void *); /* the mode's signal handler */
	/* kside.c's own */
	pthread_mutex_t lock;
	struct gh__kside_hold *holds;
};

/* One hub's share of a kernel side. */
struct gh__kside_hub {
	struct gh__kside *ks;
	struct gh__kside_hold *hold;
	__u32 idx;                   /* the slot's index */
	__u32 ctl_id;                /* the id of the kernel side's control map */
	__u64 cookie;                /* of the claim */
	struct gh_hub_slot *slot;    /* the slot's page, read-write, not inherited by fork() */
	pthread_mutex_t request_lock; /* one JOIN or LEAVE at a time: one reply in the slot */
};

/* The control map of the kernel side pinned now, mapped read-only (a mapping made read-only
 * cannot be made writable later), or NULL with *err and a reason; unmap it with
 * gh__kside_control_unmap. */
const void *gh__kside_control(const struct gh__kside *ks, int *err, char *why, size_t len);
void gh__kside_control_unmap(const struct gh__kside *ks, const void *ctl);
/* Claim a free slot of the kernel side pinned now, map its page and hold the kernel side:
 * 0, or -errno with a reason (-EBUSY: every slot is in use). */
int gh__kside_attach(struct gh__kside *ks, struct gh__kside_hub *kh, char *why, size_t len);
/* Give the slot back, unmap it, drop the hold. */
void gh__kside_detach(struct gh__kside_hub *kh);
/* Register the calling thread, carrier c, with the kernel side: 0 (also when the kernel side
 * is gone: nothing will hand c off then) or the kernel side's refusal as -errno. */
int gh__kside_join(struct gh__kside_hub *kh, struct gh__carrier *c);
/* Unregister the calling thread. */
void gh__kside_leave(struct gh__kside_hub *kh);
/* In a child of fork(): drop what the parent's hub kh (NULL: none) held. */
void gh__kside_fork_child(struct gh__kside *ks, struct gh__kside_hub *kh);

/* ---------------------------------------------------------------------------------------- */
/* What the kernel-assisted backends share (backend_shared.c)                                */

/* Reset a granted slot, slot idx of the kernel side's map, and publish it as hub->slot; the
 * mode's part of the slot is set up before. */
void gh__slot_publish(struct gh_hub *hub, struct gh_hub_slot *s, __u32 idx);
/* Keep the counters of a slot about to be released in the hub's own memory (gh_hub_stats counts
 * from the hub's creation on). */
void gh__slot_save(struct gh_hub *hub, const struct gh_hub_slot *s);
/* Under hub->carrier_lock: keep *spare naming a parked spare as c parks or leaves. */
void gh__spare_name(struct gh_hub *hub, struct gh__carrier *c, bool parked, __u32 *spare);
bool gh__signal_blocked(int signo); /* on the calling thread */
/* Make fn signo's handler (SA_SIGINFO) unless it is already; -EBUSY with a reason if the
 * application has a handler of its own there (checked on every call: it may have installed one
 * since), other failures as -errno with a reason. */
int gh__signal_install(int signo, void (*fn)(int, siginfo_t *, void *), char *why, size_t len);
/* Unblock signo on a spare the runtime started; -EPERM if the application's thread c blocks
 * it. */
int gh__carrier_gate_open(struct gh__carrier *c, int signo);

#endif /* GREENHUB_BACKEND_H */
