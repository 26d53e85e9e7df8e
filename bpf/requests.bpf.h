/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel side of requests (include/greenhub/request.h), shared by the sched_ext scheduler
 * and trace mode: a runtime thread claims a slot for its process, joins a slot its process
 * holds as a carrier, leaves, or releases the slot, from its own context; the task_rename
 * program of the including file calls serve_request(), which writes only maps user space
 * cannot write (the hub's owner and cookie, the carrier's registration) and answers in the
 * slot page.
 *
 * Include after baton.bpf.h, on the same maps, plus carriers (task storage whose values begin
 * with struct gh_kside_carrier). The including file defines
 *   static void hub_claimed(struct gh_kside_hub *hub);        reset the mode's own hub state
 *   static void carrier_joined(struct gh_kside_carrier *st);  reset the mode's own carrier fields
 *   static void carrier_leaves(struct task_struct *p, struct gh_kside_carrier *st);  settle a
 *                                                  registered carrier that exits or execs
 *   static bool stale_mark_settled(struct task_struct *p, struct gh_kside_carrier *st);  st is
 *                                                  marked displaced while its own thread makes
 *                                                  a request: true if the mode settled a stale
 *                                                  mark, false to refuse the request
 * The common parts (kside.h) are reset here, before those run.
 */
#ifndef GREENHUB_REQUESTS_BPF_H
#define GREENHUB_REQUESTS_BPF_H

#include "greenhub/request.h"

#define REQ_ENOMEM 12
#define REQ_EINVAL 22
#define NR_PRCTL 157    /* x86-64 */
#define NR_EXECVE 59    /* x86-64 */
#define NR_EXECVEAT 322 /* x86-64 */
#define PR_SET_NAME 15

#if !defined(__TARGET_ARCH_x86)
#error "requests.bpf.h reads x86-64 system-call registers"
#endif

static void hub_claimed(struct gh_kside_hub *hub);
static void carrier_joined(struct gh_kside_carrier *st);
static void carrier_leaves(struct task_struct *p, struct gh_kside_carrier *st);
static bool stale_mark_settled(struct task_struct *p, struct gh_kside_carrier *st);
static void thread_leaves(struct task_struct *p, bool whole_process);

static void answer_request(struct gh_hub_slot *slot, __u32 tid, int err)
{
	slot->reply_tid = tid;
	slot->reply_err = err;
	__sync_fetch_and_add(&slot->reply_seq, 1);
}

/* CLAIM: grant slot idx to p's process if nobody holds it. */
static void serve_claim(struct task_struct *p, struct gh_kside_control *c,
			const struct gh_request *rq)
{
	__u32 idx = rq->hub, tgid = p->tgid;
	struct gh_owner o = { .leader_start = BPF_CORE_READ(p, group_leader, start_time) };
	struct gh_hub_slot *slot = bpf_map_lookup_elem(&slots, &idx);
	struct gh_kside_hub *hub = bpf_map_lookup_elem(&hubs, &idx);

	if (!slot || !hub || !rq->cookie || c->state != GH_KSIDE_RUNNING)
		goto refused;
	if (__sync_val_compare_and_swap(&hub->owner_tgid, 0, tgid) != 0)
		goto refused;
	/* Ours: reset the kernel side's state of the hub, then publish the slot page. */
	hub->owner_vtgid = pid_nr_own(BPF_CORE_READ(p, group_leader, thread_pid));
	hub->cookie = rq->cookie;
	hub->nr_displaced = 0;
	hub->nr_gates = 0;
	hub->nr_spare_wakes = 0;
	hub->nr_spare_misses = 0;
	__builtin_memset(&hub->handoff_latency, 0, sizeof(hub->handoff_latency));
	hub_claimed(hub);
	/* The owners entry is what makes this process's exit release the hub. */
	bpf_map_update_elem(&owners, &tgid, &o, BPF_ANY);
	slot->baton = gh_baton_next(slot->baton, GH_BATON_FREE, 0);
	slot->runner_tid = 0;
	slot->return_pending = 0;
	slot->handoff_ns = 0;
	slot->spare_tid = 0;
	slot->idle_unused_tid = 0;
	slot->tgid = hub->owner_vtgid;
	slot->claim_cookie = rq->cookie;
	__sync_fetch_and_or(&slot->flags, GH_SLOT_F_ACTIVE);
	counter_inc(&c->nr_claims);
	return;
refused:
	counter_inc(&c->nr_rejected);
}

/* The slot and hub state of slot idx if p's process holds it under cookie. */
static bool hub_held_by(struct task_struct *p, __u32 idx, __u64 cookie, struct gh_hub_slot **slotp,
			struct gh_kside_hub **hubp)
{
	struct gh_hub_slot *slot = bpf_map_lookup_elem(&slots, &idx);
	struct gh_kside_hub *hub = bpf_map_lookup_elem(&hubs, &idx);

	if (!slot || !hub || hub->owner_tgid != p->tgid || hub->cookie != cookie)
		return false;
	*slotp = slot;
	*hubp = hub;
	return true;
}

/* The registration of p, if its hub is held by p's own process under the registration's
 * cookie: the slot and the kernel side's hub state. Looked at again on every use: the process
 * may have released the slot, and another process been granted it, while the registration
 * lives on. */
static bool owned(struct task_struct *p, struct gh_kside_carrier *st, struct gh_hub_slot **slotp,
		  struct gh_kside_hub **hubp)
{
	return hub_held_by(p, st->hub, st->cookie, slotp, hubp);
}

/* JOIN: register p as a carrier of the slot its process holds. */
static void serve_join(struct task_struct *p, struct gh_kside_control *c,
		       const struct gh_request *rq)
{
	__u32 tid = pid_nr_own(BPF_CORE_READ(p, thread_pid));
	struct gh_kside_carrier *st;
	struct gh_hub_slot *slot;
	struct gh_kside_hub *hub;

	if (!hub_held_by(p, rq->hub, rq->cookie, &slot, &hub)) {
		counter_inc(&c->nr_rejected);
		return;
	}
	st = bpf_task_storage_get(&carriers, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		counter_inc(&c->nr_rejected);
		answer_request(slot, tid, -REQ_ENOMEM);
		return;
	}
	if (st->displaced && !stale_mark_settled(p, st)) {
		/* A carrier joins from the runtime's own code, never from inside a handed-off
		 * call: refuse rather than lose the displaced state. */
		answer_request(slot, tid, -REQ_EINVAL);
		return;
	}
	st->hub = rq->hub;
	st->tid = tid;
	st->cookie = rq->cookie;
	st->green_addr = rq->green_addr;
	st->gate_handler = rq->gate_handler;
	st->ready_addr = rq->ready_addr;
	st->displaced = 0;
	st->handoff_ns = 0;
	carrier_joined(st);
	counter_inc(&c->nr_bound);
	answer_request(slot, tid, 0);
}

/* LEAVE: drop p's registration. */
static void serve_leave(struct task_struct *p, const struct gh_request *rq)
{
	__u32 tid = pid_nr_own(BPF_CORE_READ(p, thread_pid));
	struct gh_kside_carrier *st = bpf_task_storage_get(&carriers, p, 0, 0);
	struct gh_hub_slot *slot;
	struct gh_kside_hub *hub;
	int err = 0;

	if (st && st->displaced && !stale_mark_settled(p, st))
		err = -REQ_EINVAL;
	else if (st)
		bpf_task_storage_delete(&carriers, p);
	if (hub_held_by(p, rq->hub, rq->cookie, &slot, &hub))
		answer_request(slot, tid, err);
}

/* RELEASE: the slot goes back to FREE; the kernel side's state of it last. */
static void serve_release(struct task_struct *p, const struct gh_request *rq)
{
	struct gh_hub_slot *slot;
	struct gh_kside_hub *hub;

	if (!hub_held_by(p, rq->hub, rq->cookie, &slot, &hub))
		return;
	slot_free(slot, hub);
	__sync_lock_test_and_set(&hub->owner_tgid, 0);
}

/*
 * The body of a task_rename program: serve task's own request, if this rename is one. Only
 * the thread's own prctl(PR_SET_NAME) with the magic qualifies: a rename through
 * /proc/.../comm or an exec has other registers. An exec also renames the task: that is a
 * backstop of the exec's cleanup (the kernel may skip a program already running on its CPU).
 */
static void serve_request(struct task_struct *task)
{
	struct task_struct *p = bpf_get_current_task_btf();
	struct gh_request rq;
	struct gh_kside_control *c;
	struct pt_regs *regs;

	if (task->pid != p->pid)
		return;
	regs = (struct pt_regs *)bpf_task_pt_regs(p);
	if (!regs)
		return;
	if (regs->orig_ax == NR_EXECVE || regs->orig_ax == NR_EXECVEAT) {
		thread_leaves(p, true);
		return;
	}
	if (regs->orig_ax != NR_PRCTL || regs->di != PR_SET_NAME || regs->dx != GH_REQ_MAGIC)
		return;
	c = kside_ctl();
	if (!c)
		return;
	if (bpf_probe_read_user(&rq, sizeof(rq), (void *)regs->r10) || rq.magic != GH_REQ_MAGIC ||
	    rq.abi != GH_REQ_ABI_VERSION) {
		counter_inc(&c->nr_rejected);
		return;
	}
	/* Another kernel side's request (one that older processes still hold, or the other
	 * mode's): not ours to answer. */
	if (rq.kside != c->kside_id)
		return;
	switch (rq.op) {
	case GH_REQ_CLAIM:
		serve_claim(p, c, &rq);
		break;
	case GH_REQ_JOIN:
		serve_join(p, c, &rq);
		break;
	case GH_REQ_LEAVE:
		serve_leave(p, &rq);
		break;
	case GH_REQ_RELEASE:
		serve_release(p, &rq);
		break;
	default:
		counter_inc(&c->nr_rejected);
	}
}

/* Is the mode's gate signal still handled by the runtime's handler in p's process? An
 * application that ignores it, or installs its own handler, since the carrier joined would let
 * a displaced carrier through the gate. */
static bool gate_handled(struct task_struct *p, struct gh_kside_carrier *st, int gate_signo)
{
	struct sighand_struct *sh = p->sighand;
	__u32 at;

	if (!sh || gate_signo < 1 || gate_signo > 64 || !st->gate_handler)
		return false;
	/* sighand->action[gate_signo - 1].sa.sa_handler, the index known only at load time (a
	 * constant of the program's read-only data, which the verifier reads as one): a plain
	 * load from the kernel's type, as in gate_masked(), at an offset that CO-RE fixes. */
	at = bpf_core_field_offset(struct sighand_struct, action) +
	     (__u32)(gate_signo - 1) * bpf_core_type_size(struct k_sigaction) +
	     bpf_core_field_offset(struct k_sigaction, sa) +
	     bpf_core_field_offset(struct sigaction, sa_handler);
	return *(__u64 *)((void *)sh + at) == st->gate_handler;
}

/* ---------------------------------------------------------------------------------------- */
/* I6: exits and execs                                                                        */

/* p leaves (it exits, or its image is replaced): its registration is settled and goes; with
 * the whole process (the last thread exits, or an exec), the process's slots are released. */
static void thread_leaves(struct task_struct *p, bool whole_process)
{
	struct gh_kside_carrier *st = bpf_task_storage_get(&carriers, p, 0, 0);

	if (st) {
		carrier_leaves(p, st);
		bpf_task_storage_delete(&carriers, p);
	}
	if (whole_process)
		release_process(p->tgid);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(greenhub_process_exit, struct task_struct *p)
{
	/* The last thread of the process: release whatever slots it still owns. */
	thread_leaves(p, BPF_CORE_READ(p, signal, live.counter) == 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(greenhub_process_exec, struct task_struct *p)
{
	/* The old image's runtime is gone with its hubs. */
	thread_leaves(p, true);
	return 0;
}

#endif /* GREENHUB_REQUESTS_BPF_H */
