/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The return gate both kernel sides arm on a handoff: a task work (6.18) that runs a callback in
 * the displaced carrier's own context on its next return to user mode, before any user code.
 *
 * Include after vmlinux.h and <bpf/bpf_helpers.h>.
 *
 * Why a task work armed at the handoff, and not a signal sent at the return: a BPF program in a
 * tracepoint (sys_exit included) runs with preemption disabled, and since "bpf: Send signals
 * asynchronously if !preemptible" (2025, in every stable series) bpf_send_signal_task() from
 * such a context only queues an irq_work that sends the signal later. Whether that lands before
 * the return to user mode depends on how fast the CPU takes its own interrupt: on the project's
 * host it did in every test; under qemu TCG the carrier ran green code first (a stress run
 * broke exclusivity within a second, and the gate's signal handler found the interrupted
 * instruction pointer past the system call). A task work armed at the handoff is queued
 * (through an irq_work as well) long before the carrier can return, and its callback runs in
 * process context, where a signal is sent at once: it is pending before the return to user
 * mode goes on.
 */
#ifndef GREENHUB_TASK_WORK_BPF_H
#define GREENHUB_TASK_WORK_BPF_H

/*
 * The kfunc: run a callback in a task's own context on its next return to user mode,
 * before any user code, whatever took it into the kernel (a system call, a fault, an
 * interrupt). Three forms, told apart by libbpf's prototype check (a ___ flavour suffix is
 * stripped when it looks the kfunc up, and a weak kfunc whose prototype does not match stays
 * unresolved): 7.x has bpf_task_work_schedule_resume(task, tw, map, callback) with the program
 * passed implicitly; 6.18 named it so with a fifth argument, void *aux__prog, that later
 * stable releases and 6.19 renamed to bpf_task_work_schedule_resume_impl (NULL: the verifier
 * fills it in). The map must hold struct bpf_task_work in its values (an array or a hash).
 */
#ifndef GH_VMLINUX_HAS_TASK_WORK
struct bpf_task_work {
	u64 __opaque;
} __attribute__((aligned(8)));
#endif
typedef int (*gh_task_work_cb_t)(struct bpf_map *map, void *key, void *value);
int bpf_task_work_schedule_resume___gh7(struct task_struct *task, struct bpf_task_work *tw,
					void *map, gh_task_work_cb_t callback) __ksym __weak;
int bpf_task_work_schedule_resume_impl___gh6(struct task_struct *task, struct bpf_task_work *tw,
					     void *map, gh_task_work_cb_t callback,
					     void *aux) __ksym __weak;
int bpf_task_work_schedule_resume___gh618(struct task_struct *task, struct bpf_task_work *tw,
					  void *map, gh_task_work_cb_t callback,
					  void *aux) __ksym __weak;

#define gh_task_work_resume(task, tw, map, cb)                                                \
	(bpf_ksym_exists(bpf_task_work_schedule_resume___gh7) ?                                 \
		 bpf_task_work_schedule_resume___gh7((task), (tw), (map), (cb)) :               \
	 bpf_ksym_exists(bpf_task_work_schedule_resume_impl___gh6) ?                            \
		 bpf_task_work_schedule_resume_impl___gh6((task), (tw), (map), (cb), NULL) :    \
	 bpf_ksym_exists(bpf_task_work_schedule_resume___gh618) ?                               \
		 bpf_task_work_schedule_resume___gh618((task), (tw), (map), (cb), NULL) :       \
		 -95 /* -EOPNOTSUPP */)

/* One gate per carrier, keyed by its global tid, in a hash map of the including file (the
 * entry is created on the carrier's first handoff and deleted when the thread exits, which
 * cancels a pending gate). A map value may hold only one task work: a second arming
 * (gh_arm_gate_here()) needs a second map. */
struct gh_gate {
	struct bpf_task_work tw;
};

/*
 * Arm p's gate: callback cb runs at p's next return to user mode. False if it cannot be armed
 * (then p must not be handed off). -EBUSY means that a gate armed by an earlier handoff in the
 * same system call (a cancel, then another sleep) is still pending, and will do. It can also
 * mean that the map lost its last user reference; the loaders pin it for as long as their
 * programs are attached.
 */
static __always_inline bool gh_arm_gate(void *gates, struct task_struct *p,
					gh_task_work_cb_t cb)
{
	struct gh_gate zero = {}, *g;
	__u32 key = p->pid;
	int err;

	g = bpf_map_lookup_elem(gates, &key);
	if (!g) {
		bpf_map_update_elem(gates, &key, &zero, BPF_NOEXIST);
		g = bpf_map_lookup_elem(gates, &key);
		if (!g)
			return false;
	}
	err = gh_task_work_resume(p, &g->tw, gates, cb);
	return err == 0 || err == -16 /* -EBUSY */;
}

/*
 * Arm p's gate once more, from the CPU p is being switched in on. The kfunc adds the task work
 * through an irq_work on the CPU that called it, so the gate armed at the handoff is in place
 * only once the CPU the owner left has taken that interrupt. That is immediate in practice but
 * not guaranteed: the owner's CPU clears prev->on_cpu, which lets p run elsewhere, just before
 * it re-enables interrupts, and a vCPU can be descheduled right there (under qemu TCG it was: a
 * carrier woken at once returned to user mode ungated about once in 80 s of stress). Armed here,
 * the irq_work runs on p's own CPU at the first interrupt-enable after the switch, before p can
 * leave the kernel. Whichever callback runs second finds p's return settled. p must not be
 * running (the caller is the context switch that brings it in).
 */
#define gh_arm_gate_here(backups, p, cb) ((void)gh_arm_gate((backups), (p), (cb)))

/* Is the task-work kfunc in this kernel? */
#define gh_task_work_available()                                                               \
	(bpf_ksym_exists(bpf_task_work_schedule_resume___gh7) ||                                 \
	 bpf_ksym_exists(bpf_task_work_schedule_resume_impl___gh6) ||                            \
	 bpf_ksym_exists(bpf_task_work_schedule_resume___gh618))

#endif /* GREENHUB_TASK_WORK_BPF_H */
