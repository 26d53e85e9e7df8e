/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Requests: how a runtime thread asks a kernel side (trace mode's or sched_ext mode's) for a hub
 * slot or a carrier's registration, from its own context. Shared by both modes' runtimes and BPF
 * programs; compiles on both sides, like slot.h. Changes go with GH_REQ_ABI_VERSION.
 *
 * Why this way (invariant I5): the kernel side must act only on threads that proved, from their
 * own context, that they belong to the process holding the hub, and must keep what it trusts
 * in maps user space cannot write. A thread renames itself to its own name:
 *
 *     prctl(PR_SET_NAME, its_name, GH_REQ_MAGIC, &struct gh_request)
 *
 * PR_SET_NAME ignores its third and fourth arguments, so the rename changes nothing, and the
 * kernel side's program on the task_rename tracepoint, which runs in the renaming thread's
 * context before prctl returns, finds the magic in the thread's own system-call registers and
 * reads the request from the thread's memory. It answers in the hub's slot page (slot.h:
 * claim_cookie, reply_*). A process can so make the kernel side act on its own threads only.
 *
 * Each loaded kernel side answers only requests addressed to it (kside: the id of its control
 * map), so that a kernel side still held by older processes after an unload (their hubs keep
 * its programs attached) does not answer for the new one.
 */
#ifndef GREENHUB_REQUEST_H
#define GREENHUB_REQUEST_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define GH_REQ_ABI_VERSION 2
#define GH_REQ_MAGIC 0x6768747271ull /* "ghtrq" */

enum gh_req_op {
	/* Grant slot `hub` to the calling process, if no process holds it, and record `cookie`
	 * as the hub's (the slot's claim_cookie tells whether it was granted). */
	GH_REQ_CLAIM = 1,
	/* Register the calling thread as a carrier of slot `hub`, which its process holds under
	 * `cookie` (reply in the slot's reply_*). */
	GH_REQ_JOIN = 2,
	/* Drop the calling thread's registration (reply in the slot's reply_*). */
	GH_REQ_LEAVE = 3,
	/* Give slot `hub` (held under `cookie`) back. */
	GH_REQ_RELEASE = 4,
};

struct gh_request {
	__u64 magic;        /* GH_REQ_MAGIC */
	__u32 abi;          /* GH_REQ_ABI_VERSION */
	__u32 op;           /* enum gh_req_op */
	__u32 kside;        /* the id of the control map of the kernel side asked */
	__u32 hub;          /* slot index */
	__u64 cookie;
	/* JOIN: the address, in the process, of the carrier's "green thread running" pointer
	 * (struct gh__carrier.green): only blocks inside a green thread hand off. */
	__u64 green_addr;
	/* JOIN: the address of the runtime's handler of the mode's gate signal: a carrier whose
	 * process has another disposition for it is never handed off. */
	__u64 gate_handler;
	/* JOIN: the address of the hub's count of ready green threads (a 64-bit count, struct
	 * gh_hub.runq_len): trace mode's adaptive grace policy reads it when a sleep starts a
	 * grace period, to tell a wait that holds up other green threads from one that does
	 * not. */
	__u64 ready_addr;
};

/*
 * The kernel side's record of a process that owns hubs (its owners map, global tgid -> this),
 * written by the BPF side only: what makes the process's exit release its slots.
 * leader_start is the start time of the process's group leader when it claimed, which tells
 * the free of that leader (the process is gone) from the free of a leader that an exec by
 * another thread replaced (the process lives on).
 */
struct gh_owner {
	__u64 leader_start;
};

#endif /* GREENHUB_REQUEST_H */
