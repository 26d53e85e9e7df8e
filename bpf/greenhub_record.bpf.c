// SPDX-License-Identifier: GPL-2.0-only
/*
 * scx_greenhub --record's programs: one per USDT probe of the runtime (userspace/lib/probes.h),
 * each writing a run event (include/greenhub/runs.h) into the ring buffer `runs`.
 *
 * An object of its own, separate from the kernel sides: the recorder loads it only while it
 * records and attaches its programs to the processes that hold a hub, and nothing in either
 * kernel side changes. It only observes: no program here writes anything the runtime or a
 * kernel side reads, so exclusivity (I1) is untouched.
 *
 * The clock is bpf_ktime_get_ns(), the block records' own, so the loader can put both on one
 * timeline. Events of different CPUs may reach the ring slightly out of order: the loader
 * sorts them.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "greenhub/runs.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GH_RUNS_RING_BYTES);
} runs SEC(".maps");

/* Events lost to a full ring (the recorder fell behind), for its report. */
__u64 nr_lost = 0;

static __always_inline struct gh_run_event *event(__u32 kind, __u32 hub, __u64 arg)
{
	struct gh_run_event *e = bpf_ringbuf_reserve(&runs, sizeof(*e), 0);
	__u64 id;

	if (!e) {
		__sync_fetch_and_add(&nr_lost, 1);
		return NULL;
	}
	id = bpf_get_current_pid_tgid();
	e->ts_ns = bpf_ktime_get_ns();
	e->arg = arg;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->hub = hub;
	e->kind = kind;
	e->name[0] = '\0';
	return e;
}

SEC("usdt")
int BPF_USDT(on_run, __u32 hub, __u64 id, const char *name)
{
	struct gh_run_event *e = event(GH_RUN_START, hub, id);

	if (!e)
		return 0;
	if (bpf_probe_read_user_str(e->name, sizeof(e->name), name) < 0)
		e->name[0] = '\0';
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_stop, __u32 hub)
{
	struct gh_run_event *e = event(GH_RUN_STOP, hub, 0);

	if (e)
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_hand_back, __u32 hub, __s32 tid)
{
	struct gh_run_event *e = event(GH_RUN_HAND_BACK, hub, (__u32)tid);

	if (e)
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_resume, __u32 hub, __u64 id)
{
	struct gh_run_event *e = event(GH_RUN_RESUME, hub, id);

	if (e)
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}
