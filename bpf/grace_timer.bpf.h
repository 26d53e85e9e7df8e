/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A hub's grace timer, as both modes' grace periods keep it (scx_grace.bpf.h,
 * trace_grace.bpf.h): a BPF timer with armed (started, its callback not yet run) and due_ns
 * (when it was started to fire, ktime ns) beside it in the map value. The timer is not started
 * for one sleep: its callback serves whatever sleep the hub has when it fires, handing it off
 * if its period is over or starting the timer again for the rest. So a sleep that finds the
 * timer started to fire by the end of its own period needs no start, and a hub of short sleeps
 * costs a start per period, not per sleep.
 *
 * The pairing that keeps a sleep from being left without a firing: the sleep is published,
 * then armed is read (with a full barrier between); the callback clears armed, then reads the
 * sleep. Either the sleep finds the timer started, and the callback, not yet at its clear,
 * will see the sleep; or it finds armed clear and starts the timer itself.
 */
#ifndef GREENHUB_GRACE_TIMER_BPF_H
#define GREENHUB_GRACE_TIMER_BPF_H

/* Start (or move) the timer to fire at due, as seen at now (ktime ns); false if it could not
 * be. */
static __always_inline bool grace_timer_arm_from(struct bpf_timer *timer, __u32 *armed,
						 __u64 *due_ns, __u64 due, __u64 now)
{
	*due_ns = due;
	*armed = 1;
	if (bpf_timer_start(timer, (__s64)(due - now) > 0 ? due - now : 0, 0) == 0)
		return true;
	*armed = 0;
	return false;
}

/* Start (or move) the timer to fire at due (ktime ns); false if it could not be. */
static __always_inline bool grace_timer_arm(struct bpf_timer *timer, __u32 *armed,
					    __u64 *due_ns, __u64 due)
{
	return grace_timer_arm_from(timer, armed, due_ns, due, bpf_ktime_get_ns());
}

/* Make the timer fire by due: left be if, as read (was_armed), it is started to fire by then,
 * else started (or moved: a later firing, a longer grace period of the slot's previous owner);
 * false if it could not be started. */
static __always_inline bool grace_timer_by(struct bpf_timer *timer, __u32 *armed,
					   __u64 *due_ns, __u32 was_armed, __u64 due)
{
	if (was_armed && (__s64)(*due_ns - due) <= 0)
		return true;
	return grace_timer_arm(timer, armed, due_ns, due);
}

#endif /* GREENHUB_GRACE_TIMER_BPF_H */
