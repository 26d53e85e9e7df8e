/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Block records (include/greenhub/records.h), written alike by both kernel sides: a note in
 * the carrier's registration when the owner of a hub goes to sleep (block_note()), why the
 * sleep was not handed off if it was not (block_why()), and the record, into the ring buffer
 * `blocks`, when that carrier runs again (block_end()).
 *
 * Everything here only observes. No decision of the handoff or the gate reads anything written
 * here, so exclusivity (I1) and the rest of the protocol are as without it. While no reader is
 * attached, block_note() costs one load of the control map (which the callers have at hand) and
 * block_end() is not called (its callers look at records_until_ns first): nothing is reserved
 * or submitted.
 *
 * Include after baton.bpf.h (and entry_frame.bpf.h), on the same maps.
 */
#ifndef GREENHUB_RECORDS_BPF_H
#define GREENHUB_RECORDS_BPF_H

#include "greenhub/records.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GH_RECORDS_RING_BYTES);
} blocks SEC(".maps");

/* Is a reader attached? While none is, one load: records_until_ns is 0. A heartbeat that ran
 * out (the reader was killed) is cleared here, so that the paths that look only at the word
 * (the record at a carrier's next run) go quiet too. */
static __always_inline bool records_on(struct gh_kside_control *c)
{
	__u64 until = *(volatile __u64 *)&c->records_until_ns;

	if (!until)
		return false;
	if (bpf_ktime_get_ns() < until)
		return true;
	__sync_val_compare_and_swap(&c->records_until_ns, until, 0);
	return false;
}

/* Keep the slot's records flag (slot.h) as the reader's presence says: the runtime publishes
 * green threads' names only while it is set. */
static void records_flag_sync(struct gh_hub_slot *slot, bool on)
{
	bool set = (slot->flags & GH_SLOT_F_RECORDS) != 0;

	if (on && !set)
		__sync_fetch_and_or(&slot->flags, GH_SLOT_F_RECORDS);
	else if (!on && set)
		__sync_fetch_and_and(&slot->flags, ~GH_SLOT_F_RECORDS);
}

/* The green thread the sleeping carrier k (current) executes, as it published it
 * (struct gh_carrier_green at green_addr): id 0 and no name if it cannot be read; no name
 * unless the one published is this thread's. */
static void block_green(struct gh_kside_block *b, struct gh_kside_carrier *k)
{
	struct gh_carrier_green g;

	__builtin_memset(b->green_name, 0, sizeof(b->green_name));
	b->green_id = 0;
	if (!k->green_addr || bpf_probe_read_user(&g, sizeof(g), (void *)k->green_addr) ||
	    !g.thread)
		return;
	b->green_id = g.id;
	if (g.name_id == g.id) {
		__builtin_memcpy(b->green_name, g.name, sizeof(b->green_name));
		b->green_name[sizeof(b->green_name) - 1] = '\0';
	}
}

/*
 * The owner k of slot goes to sleep (k's thread is current): note the block if a reader is
 * attached. Returns the note, for block_why() and block_in(), or NULL when none was taken (no
 * reader).
 */
static struct gh_kside_block *block_note(struct gh_kside_control *c, struct gh_hub_slot *slot,
					 struct gh_kside_carrier *k)
{
	struct gh_kside_block *b = &k->block;
	bool on = records_on(c);

	if (!on && !(slot->flags & GH_SLOT_F_RECORDS))
		return NULL;
	records_flag_sync(slot, on);
	if (!on)
		return NULL;
	b->start_ns = bpf_ktime_get_ns();
	b->kind = GH_BLOCK_FAULT;
	b->syscall = -1;
	b->reason = GH_BLOCK_HANDED_OFF;
	block_green(b, k);
	return b;
}

/* What the noted block sleeps in: the entry frame of p. */
static __always_inline void block_in(struct gh_kside_block *b, struct task_struct *p)
{
	long nr;

	if (!b)
		return;
	if (in_syscall(p, &nr)) {
		b->kind = GH_BLOCK_SYSCALL;
		b->syscall = (__s32)nr;
	}
}

/* The noted block was not handed off, for this reason (enum gh_block_reason). */
static __always_inline void block_why(struct gh_kside_block *b, __u8 reason)
{
	if (!b)
		return;
	b->reason = reason;
}

/* Why the block noted in k, if one is pending, was not handed off: for the paths that decide
 * later than the note (sched_ext mode's grace timer). */
static __always_inline void carrier_block_why(struct gh_kside_carrier *k, __u8 reason)
{
	if (k->block.start_ns)
		block_why(&k->block, reason);
}

/*
 * Carrier k of p runs again: write the record of its pending block, if any. hub is k's hub's
 * state (NULL if its process no longer holds it), mode the writer's enum gh_mode. The block
 * was handed off if k's last handoff came after it began (both modes set
 * gh_kside_carrier.handoff_ns at each handoff). A note taken under an earlier reader
 * (before records_since_ns) is dropped.
 */
static void block_end(struct gh_kside_control *c, struct task_struct *p,
		      struct gh_kside_carrier *k, struct gh_kside_hub *hub, __u8 mode)
{
	struct gh_kside_block *b = &k->block;
	__u64 start = b->start_ns, now;
	struct gh_block_record *r;

	if (!start)
		return;
	b->start_ns = 0;
	if (start < c->records_since_ns)
		return;
	r = bpf_ringbuf_reserve(&blocks, sizeof(*r), 0);
	if (!r) {
		counter_inc(&c->nr_records_lost);
		return;
	}
	now = bpf_ktime_get_ns();
	r->start_ns = start;
	r->duration_ns = now > start ? now - start : 0;
	r->handed_off = k->handoff_ns >= start;
	r->reason = r->handed_off ? GH_BLOCK_HANDED_OFF : b->reason;
	r->spare_latency_ns = 0;
	if (r->handed_off && hub && hub->rec_latency_for_ns == k->handoff_ns)
		r->spare_latency_ns = hub->rec_latency_ns;
	r->green_id = b->green_id;
	r->tgid = p->tgid;
	r->tid = p->pid;
	r->hub = k->hub;
	r->syscall = b->syscall;
	r->kind = b->kind;
	r->mode = mode;
	r->pad = 0;
	__builtin_memcpy(r->green_name, b->green_name, sizeof(r->green_name));
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	counter_inc(&c->nr_records);
}

#endif /* GREENHUB_RECORDS_BPF_H */
