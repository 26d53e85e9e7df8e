/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sched_ext declarations for BPF programs built on a kernel without sched_ext.
 *
 * Include after vmlinux.h, <bpf/bpf_helpers.h> and <bpf/bpf_tracing.h>.
 *
 * Why this file exists
 * --------------------
 * BPF programs are compiled against a vmlinux.h dumped from the build machine's kernel. The
 * project's build and CI machines run kernels built without CONFIG_SCHED_CLASS_EXT, so that
 * vmlinux.h has none of the sched_ext types, enums or kfuncs, yet the scheduler must be built
 * there and loaded later on a sched_ext kernel (the VM tests, real deployments). Nothing here
 * needs the kernel's full definitions, because libbpf matches everything by name at load time:
 *
 *  - struct sched_ext_ops: the struct_ops map's local type. libbpf copies each member it
 *    declares into the kernel's struct by *name*, so declaring a subset, in any order, is
 *    enough. A non-pointer member must have the kernel's exact size (name is char[128]).
 *  - Types the callbacks read (scx_exit_info, the task's sched_ext_entity) are declared with
 *    preserve_access_index, so every field access is a CO-RE relocation resolved against the
 *    running kernel's BTF. A local type must be of the same BTF kind as the kernel's (an int
 *    where the kernel has an enum fails to relocate), so the enums are declared as enums.
 *  - kfuncs are declared __weak __ksym; libbpf resolves each by name and argument count, and
 *    leaves a missing one as NULL, which bpf_ksym_exists() tests at run time (the verifier
 *    drops the dead branch). That is how one object supports the kfunc renames between
 *    kernel releases, see "kfuncs" below.
 *
 * Constants
 * ---------
 * Values that are part of the sched_ext ABI and have not changed since 6.12 (DSQ ids, ops
 * flags, the default slice, kick flags, exit kinds) are used as the constants below. Enqueue
 * and dequeue flags are built from the core scheduler's ENQUEUE_x / DEQUEUE_x bits, which were
 * renumbered in later kernels: read those with GH_SCX_ENUM(), which relocates to the running
 * kernel's value. Flags carry extra bits (a wakeup enqueue is not just SCX_ENQ_WAKEUP), so test
 * bits, never compare for equality.
 *
 * If the build machine's kernel does have sched_ext, its vmlinux.h already defines all of
 * this; bpf/bpf.mk then passes -DGH_VMLINUX_HAS_SCX and only the kfunc compatibility part
 * below is used.
 *
 * Alternatives rejected: dumping vmlinux.h from a sched_ext kernel's BTF and committing it
 * (135k lines that go stale with each kernel and hide which fields the scheduler relies on),
 * and the kernel's tools/sched_ext headers (they assume a sched_ext vmlinux.h).
 */
#ifndef GREENHUB_SCX_COMPAT_BPF_H
#define GREENHUB_SCX_COMPAT_BPF_H

#include <bpf/bpf_core_read.h>

/* The scheduling policy of tasks sched_ext may schedule (a uapi macro, not in any BTF). */
#ifndef SCHED_EXT
#define SCHED_EXT 7
#endif

#ifndef GH_VMLINUX_HAS_SCX

enum scx_public_consts {
	SCX_OPS_NAME_LEN = 128,
	SCX_SLICE_DFL = 20 * 1000000, /* 20 ms */
};

/* DSQ ids: bit 63 marks a built-in DSQ; ids a scheduler creates have it clear. */
enum scx_dsq_id_flags {
	SCX_DSQ_FLAG_BUILTIN = 1ULL << 63,
	SCX_DSQ_FLAG_LOCAL_ON = 1ULL << 62,
	SCX_DSQ_INVALID = SCX_DSQ_FLAG_BUILTIN | 0,
	SCX_DSQ_GLOBAL = SCX_DSQ_FLAG_BUILTIN | 1,
	SCX_DSQ_LOCAL = SCX_DSQ_FLAG_BUILTIN | 2,
	SCX_DSQ_LOCAL_ON = SCX_DSQ_FLAG_BUILTIN | SCX_DSQ_FLAG_LOCAL_ON,
	SCX_DSQ_LOCAL_CPU_MASK = 0xffffffffULL,
};

/*
 * Of the kernel's flag enums, the values used here. The ops flags are fixed; the others have
 * moved between versions (SCX_ENQ_HEAD, not used, is 1 << 4 on 6.12 and 1 << 16 on 7.3), so
 * they are read with GH_SCX_ENUM(), which relocates each name to the running kernel's value:
 * the values below (6.12's) only give the compiler the names.
 */
enum scx_ops_flags {
	/* Pass the last runnable task of a CPU to ops.enqueue() (with SCX_ENQ_LAST) instead of
	 * letting it run on silently when its slice ends. */
	SCX_OPS_ENQ_LAST = 1ULL << 1,
	/* Schedule only tasks whose policy is SCHED_EXT; all others stay on the fair class. */
	SCX_OPS_SWITCH_PARTIAL = 1ULL << 3,
};
enum scx_enq_flags { SCX_ENQ_WAKEUP = 1ULL << 0 };   /* ops.enqueue(), ops.runnable() */
enum scx_deq_flags { SCX_DEQ_SLEEP = 1ULL << 0 };    /* ops.dequeue(), ops.quiescent() */
enum scx_kick_flags { SCX_KICK_IDLE = 1ULL << 0 };   /* scx_bpf_kick_cpu() */

enum scx_dsq_iter_flags {
	SCX_DSQ_ITER_REV = 1U << 16,
};

enum scx_exit_kind {
	SCX_EXIT_NONE,
	SCX_EXIT_DONE,
	SCX_EXIT_UNREG = 64,   /* user space detached the scheduler */
	SCX_EXIT_UNREG_BPF,    /* the scheduler called scx_bpf_exit() */
	SCX_EXIT_UNREG_KERN,
	SCX_EXIT_SYSRQ,
	SCX_EXIT_ERROR = 1024, /* runtime error; msg says what */
	SCX_EXIT_ERROR_BPF,    /* the scheduler called scx_bpf_error() */
	SCX_EXIT_ERROR_STALL,  /* the watchdog found a runnable task that did not run */
};

/* Why the scheduler is being disabled, passed to ops.exit(). Relocated field by field. */
struct scx_exit_info {
	enum scx_exit_kind kind;
	s64 exit_code;
	const char *reason;
	char *msg;
} __attribute__((preserve_access_index));

struct scx_init_task_args {
	bool fork;
} __attribute__((preserve_access_index));

struct scx_exit_task_args {
	bool cancelled;
} __attribute__((preserve_access_index));

/* The DSQ iterator's state, opaque to BPF: six u64s, as the kernel's. */
struct bpf_iter_scx_dsq {
	u64 __opaque[6];
} __attribute__((aligned(8)));

/*
 * The part of sched_ext_ops greenhub uses. Only the members a scheduler initialises are
 * copied to the kernel's struct, by name; add members here as schedulers need them.
 */
struct sched_ext_ops {
	s32 (*select_cpu)(struct task_struct *p, s32 prev_cpu, u64 wake_flags);
	void (*enqueue)(struct task_struct *p, u64 enq_flags);
	void (*dequeue)(struct task_struct *p, u64 deq_flags);
	void (*dispatch)(s32 cpu, struct task_struct *prev);
	void (*tick)(struct task_struct *p);
	void (*runnable)(struct task_struct *p, u64 enq_flags);
	void (*running)(struct task_struct *p);
	void (*stopping)(struct task_struct *p, bool runnable);
	void (*quiescent)(struct task_struct *p, u64 deq_flags);
	bool (*yield)(struct task_struct *from, struct task_struct *to);
	s32 (*init_task)(struct task_struct *p, struct scx_init_task_args *args);
	void (*exit_task)(struct task_struct *p, struct scx_exit_task_args *args);
	void (*enable)(struct task_struct *p);
	void (*disable)(struct task_struct *p);
	s32 (*init)(void);
	void (*exit)(struct scx_exit_info *info);
	/* Without these, a CPU going on- or offline ejects the scheduler. */
	void (*cpu_online)(s32 cpu);
	void (*cpu_offline)(s32 cpu);
	u32 dispatch_max_batch;
	u64 flags;
	/* Watchdog: most ms a runnable task may wait; 0 means the kernel's 30000 maximum. */
	u32 timeout_ms;
	u32 exit_dump_len;
	char name[SCX_OPS_NAME_LEN];
};

#endif /* !GH_VMLINUX_HAS_SCX */

/*
 * A task's sched_ext state (task_struct::scx), reached through the flavoured task type below
 * because this vmlinux.h's task_struct has no such member. Only the fields a scheduler may
 * write are declared.
 */
struct sched_ext_entity___gh {
	u32 flags;
	u32 weight;
	/* Time left in ns; set through scx_bpf_dsq_insert(), decremented as the task runs. */
	u64 slice;
	/* Order in a vtime-ordered DSQ. */
	u64 dsq_vtime;
} __attribute__((preserve_access_index));

struct task_struct___gh {
	struct sched_ext_entity___gh scx;
} __attribute__((preserve_access_index));

/*
 * Define a scheduler callback: GH_SCX_OP(greenhub_enqueue, struct task_struct *p, u64 flags)
 * { ... }. BPF_PROG unpacks the typed arguments from the context. Callbacks that may sleep
 * (ops.init, ops.init_task: the only places scx_bpf_create_dsq() may be called) use the
 * sleepable form.
 */
#define GH_SCX_OP(name, args...) SEC("struct_ops/" #name) BPF_PROG(name, ##args)
#define GH_SCX_OP_SLEEPABLE(name, args...) SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

/* p->scx as a pointer to the declared subset. */
#define gh_task_scx(p) (&((struct task_struct___gh *)(void *)(p))->scx)

/* The running kernel's value of an enumerator of a sched_ext enum (see "Constants"). */
#define GH_SCX_ENUM(type, name) bpf_core_enum_value(enum type, name)

/*
 * kfuncs
 * ------
 * Names and arguments changed across releases: 6.13 renamed scx_bpf_dispatch to
 * scx_bpf_dsq_insert, scx_bpf_consume to scx_bpf_dsq_move_to_local and
 * scx_bpf_dispatch_from_dsq to scx_bpf_dsq_move, keeping the old names until 6.15. The
 * current names are declared as the kernel spells them; the 6.12 names carry a ___gh612
 * flavour suffix, which libbpf strips when it looks the kfunc up, so that both can be declared
 * without a clash. The gh_scx_* wrappers pick whichever the running kernel has.
 *
 * Later kernels added variants named with a ___v2 suffix (scx_bpf_dsq_insert___v2 in 6.19,
 * scx_bpf_dsq_move_to_local___v2 in 7.1). libbpf 1.4 strips that suffix too and would bind
 * such a declaration to the plain function, so they are not used: the plain forms still exist
 * in 7.3 and suffice.
 */
void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;
void scx_bpf_dispatch___gh612(struct task_struct *p, u64 dsq_id, u64 slice,
			      u64 enq_flags) __ksym __weak;
void scx_bpf_dsq_insert_vtime(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime,
			      u64 enq_flags) __ksym __weak;
void scx_bpf_dispatch_vtime___gh612(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime,
				    u64 enq_flags) __ksym __weak;
bool scx_bpf_dsq_move_to_local(u64 dsq_id) __ksym __weak;
bool scx_bpf_consume___gh612(u64 dsq_id) __ksym __weak;
bool scx_bpf_dsq_move(struct bpf_iter_scx_dsq *it__iter, struct task_struct *p, u64 dsq_id,
		      u64 enq_flags) __ksym __weak;
bool scx_bpf_dispatch_from_dsq___gh612(struct bpf_iter_scx_dsq *it__iter, struct task_struct *p,
				       u64 dsq_id, u64 enq_flags) __ksym __weak;
void scx_bpf_dsq_move_set_slice(struct bpf_iter_scx_dsq *it__iter, u64 slice) __ksym __weak;

s32 scx_bpf_create_dsq(u64 dsq_id, s32 node) __ksym __weak;
void scx_bpf_destroy_dsq(u64 dsq_id) __ksym __weak;
s32 scx_bpf_dsq_nr_queued(u64 dsq_id) __ksym __weak;
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags,
			   bool *is_idle) __ksym __weak;
void scx_bpf_kick_cpu(s32 cpu, u64 flags) __ksym __weak;
s32 scx_bpf_task_cpu(const struct task_struct *p) __ksym __weak;
bool scx_bpf_task_running(const struct task_struct *p) __ksym __weak;
u32 scx_bpf_nr_cpu_ids(void) __ksym __weak;
u64 scx_bpf_now(void) __ksym __weak;
void scx_bpf_error_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym __weak;

/* The DSQ iterator: visits the tasks queued on a DSQ, from the head (or the tail with
 * SCX_DSQ_ITER_REV). scx_bpf_dsq_move() on a task it returned fails if the task left or
 * re-entered the DSQ since, which is what makes a check-then-move race free. */
int bpf_iter_scx_dsq_new(struct bpf_iter_scx_dsq *it, u64 dsq_id, u64 flags) __ksym __weak;
struct task_struct *bpf_iter_scx_dsq_next(struct bpf_iter_scx_dsq *it) __ksym __weak;
void bpf_iter_scx_dsq_destroy(struct bpf_iter_scx_dsq *it) __ksym __weak;

/* Task work (6.18): bpf/task_work.bpf.h. */
#include "task_work.bpf.h"

/*
 * Inside bpf_for_each(scx_dsq, p, dsq_id, flags) { ... }, the iterator, for gh_scx_dsq_move()
 * and scx_bpf_dsq_move_set_slice(). bpf_for_each names its iterator ___it.
 */
#define GH_SCX_DSQ_ITER (&___it)

/* Insert p into a DSQ (6.13+ name, 6.12 fallback). */
#define gh_scx_dsq_insert(p, dsq_id, slice, enq_flags)                                        \
	(bpf_ksym_exists(scx_bpf_dsq_insert) ?                                                  \
		 scx_bpf_dsq_insert((p), (dsq_id), (slice), (enq_flags)) :                      \
		 scx_bpf_dispatch___gh612((p), (dsq_id), (slice), (enq_flags)))

/* Insert p into a vtime-ordered DSQ (6.13+ name, 6.12 fallback). */
#define gh_scx_dsq_insert_vtime(p, dsq_id, slice, vtime, enq_flags)                           \
	(bpf_ksym_exists(scx_bpf_dsq_insert_vtime) ?                                            \
		 scx_bpf_dsq_insert_vtime((p), (dsq_id), (slice), (vtime), (enq_flags)) :       \
		 scx_bpf_dispatch_vtime___gh612((p), (dsq_id), (slice), (vtime), (enq_flags)))

/* From ops.dispatch(): move the first task of a user DSQ to this CPU's local DSQ. */
#define gh_scx_dsq_move_to_local(dsq_id)                                                      \
	(bpf_ksym_exists(scx_bpf_dsq_move_to_local) ? scx_bpf_dsq_move_to_local(dsq_id) :       \
						      scx_bpf_consume___gh612(dsq_id))

/* Move the task the iterator just returned to another DSQ; false if it moved meanwhile. */
#define gh_scx_dsq_move(it, p, dsq_id, enq_flags)                                             \
	(bpf_ksym_exists(scx_bpf_dsq_move) ?                                                    \
		 scx_bpf_dsq_move((it), (p), (dsq_id), (enq_flags)) :                           \
		 scx_bpf_dispatch_from_dsq___gh612((it), (p), (dsq_id), (enq_flags)))

/* Monotonic ns; scx_bpf_now() (6.14) is cheaper where it exists. */
#define gh_scx_now() (bpf_ksym_exists(scx_bpf_now) ? scx_bpf_now() : bpf_ktime_get_ns())

/*
 * Eject the scheduler with a formatted message (exit kind SCX_EXIT_ERROR_BPF). The arguments
 * are packed as the kernel's bstr functions expect, like bpf_printk's.
 */
#define gh_scx_error(fmt, args...)                                                            \
	({                                                                                     \
		static char ___fmt[] = fmt;                                                    \
		unsigned long long ___param[___bpf_narg(args)];                                \
		_Pragma("GCC diagnostic push")                                                 \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")                         \
		___bpf_fill(___param, args);                                                   \
		_Pragma("GCC diagnostic pop")                                                  \
		scx_bpf_error_bstr(___fmt, ___param, sizeof(___param));                        \
	})

#endif /* GREENHUB_SCX_COMPAT_BPF_H */
