// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * scx_greenhub's trace mode: loads bpf/greenhub_trace.bpf.c (its skeleton), pins it, and
 * unloads it without ever leaving a displaced carrier ungated.
 *
 * Choosing the return gate (docs/trace-mode.md)
 *   The task-work gate is preferred where the kernel has the kfunc, but a kernel may have it and
 *   still refuse it in a tp_btf program (6.18.x: "sleepable callback in a program that is not
 *   sleepable"). So the choice is made by loading: with the task-work gate first; if the kernel
 *   refuses the programs, with the taker-armed gate (the same task work, armed from a syscall
 *   program by the carrier that takes a handoff); and if the kernel refuses that too or lacks
 *   the kfunc, with the sys_exit gate. The reason is kept in the control map (gate_why) for
 *   --stats and the runtime's mode reason, and printed.
 *
 * Pinning
 *   Maps first, then links, then the control map last, and only then state RUNNING: the
 *   runtime attaches a hub only when it finds the control map pinned with state RUNNING, so a
 *   loader killed half-way leaves objects that nobody uses, and `--stop` removes them. Once
 *   the links are pinned, the loader's own fds do not matter: SIGKILL leaves the kernel side
 *   running.
 *
 * Unloading (docs/design.md, "The three modes"; invariant I1 across an unload)
 *   A carrier that the kernel side handed off is blocked in a system call and will run user
 *   code the moment it returns, unless the return gate (the sys_exit program) stops it. So the
 *   programs may only go once no carrier is displaced: set state DRAINING (the handoff program
 *   stops handing off), wait until control.kside.nr_displaced is 0 (each gate takes one off), and
 *   only then unpin and detach. The handoff program announces a handoff in nr_displaced before
 *   it reads state, so the wait cannot miss one in flight (see the BPF file's header). If the
 *   wait times out (a call that blocks for minutes), nothing is detached: handoffs stay off,
 *   the gate stays, and a later `--stop` finishes. Hubs go on running meanwhile, as in mode
 *   none; after the unload their mapped slots stay valid (a mapping holds its map).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "greenhub_probe.skel.h"
#include "greenhub_trace.skel.h"
#include "loader.h"

LOADER_KSIDE_FIRST(struct gh_trace_control);
LOADER_KSIDE_FIRST(struct gh_trace_hub);

/* The pins, in the order they are made; the control map is last on purpose. */
static const char *const map_pins[] = { "slots", "hubs", "carriers", "wake_rings", "owners",
					"gates", "gate_backups", "grace_timers", GH_RECORDS_PIN };
/* The links, and the taker-armed gate's program, which is no link (pin() pins it apart). */
static const char *const link_pins[] = { "link_register", "link_switch", "link_sys_exit",
					 "link_exit", "link_exec", "link_free",
					 GH_TRACE_PIN_ARM_GATE };

struct trace_state {
	struct greenhub_trace *skel;
	enum gh_trace_gate gate;      /* the return gate the programs were loaded with */
	__u16 grace_timer;            /* enum gh_trace_grace_timer, chosen before the load */
	__u16 grace_timer_why;        /* enum gh_trace_grace_timer_why */
	struct gh_trace_control *ctl; /* the control map, mapped read-write */
	struct gh_trace_hub *hubs;    /* the hubs map, mapped read-only */
};

static const struct loader_pins pins = LOADER_PINS(GH_TRACE_PIN_DIR, map_pins, link_pins);

/* ---------------------------------------------------------------------------------------- */

static int trace_probe(const struct loader_opts *o, const struct loader_features *f, char *why,
		       size_t len)
{
	if (!(f->bits & GH_TRACE_F_BTF)) {
		snprintf(why, len, "no kernel BTF (%s): trace mode needs CONFIG_DEBUG_INFO_BTF",
			 o->btf_path ? o->btf_path : "/sys/kernel/btf/vmlinux");
		return EXIT_UNSUPPORTED;
	}
	if (!(f->bits & GH_TRACE_F_TASK_STORAGE)) {
		snprintf(why, len, "this kernel has no task-local storage maps "
				   "(BPF_MAP_TYPE_TASK_STORAGE, Linux 5.11 or later)");
		return EXIT_UNSUPPORTED;
	}
	if (!(f->bits & GH_TRACE_F_RINGBUF)) {
		snprintf(why, len, "this kernel has no BPF ring buffers (Linux 5.8 or later)");
		return EXIT_UNSUPPORTED;
	}
	/* Helpers and program types are proven by loading (trace_start). */
	return 0;
}

/* Map types are proven by creating one (libbpf's probe); the kfunc's name is only a hint,
 * tried by loading. */
static void trace_scan(const struct btf *vmlinux, uint64_t *bits)
{
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) > 0)
		*bits |= GH_TRACE_F_TASK_STORAGE;
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) > 0)
		*bits |= GH_TRACE_F_RINGBUF;
	/* 6.18 named it bpf_task_work_schedule_resume, later kernels keep that name or add
	 * _impl (bpf/task_work.bpf.h resolves the variant at load time). */
	if (loader_btf_has_func(vmlinux, "bpf_task_work_schedule_resume") ||
	    loader_btf_has_func(vmlinux, "bpf_task_work_schedule_resume_impl"))
		*bits |= GH_TRACE_F_TASK_WORK;
}

/* The probe's competitor: busy on the prober's CPU until told to stop, so that a kernel that
 * can preempt the prober inside the program does. */
struct rival {
	cpu_set_t cpu;
	atomic_int state; /* 0 starting, 1 busy, 2 stop */
};

static void *rival_main(void *arg)
{
	struct rival *r = arg;

	if (sched_setaffinity(0, sizeof(r->cpu), &r->cpu) < 0) {
		atomic_store(&r->state, 2);
		return NULL;
	}
	atomic_store(&r->state, 1);
	while (atomic_load_explicit(&r->state, memory_order_relaxed) == 1)
		;
	return NULL;
}

/*
 * May the sys_exit gate be used here? Only where a thread cannot be preempted inside a program
 * on the system-call tracepoints: elsewhere the kernel may skip one (bpf/greenhub_probe.bpf.c
 * says why and how this is measured). 0 if so; else -errno with the reason in why.
 */
static int sys_exit_gate_safe(const struct loader_opts *o, char *why, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = o->btf_path);
	struct rival rival = { .state = 0 };
	struct greenhub_probe *probe;
	cpu_set_t saved;
	pthread_t thread;
	bool pinned = false, started = false;
	int err, cpu = sched_getcpu();

	probe = greenhub_probe__open_opts(&open_opts);
	if (!probe) {
		err = -errno;
		snprintf(why, len, "opening the probe: %s", strerror(-err));
		return err;
	}
	probe->rodata->probe_tid = (__u32)gettid();
	err = loader_load_attach(probe->skeleton, "the probe of its sys_exit tracepoint", why, len);
	if (err)
		goto out;
	/* This thread and a busy rival on one CPU. */
	CPU_ZERO(&rival.cpu);
	CPU_SET(cpu < 0 ? 0 : cpu, &rival.cpu);
	if (sched_getaffinity(0, sizeof(saved), &saved) < 0) {
		err = -errno;
		snprintf(why, len, "setting up the probe of the sys_exit tracepoint: %s",
			 strerror(-err));
		goto out;
	}
	pinned = true;
	if (sched_setaffinity(0, sizeof(rival.cpu), &rival.cpu) < 0 ||
	    (err = -pthread_create(&thread, NULL, rival_main, &rival))) {
		err = err ? err : -errno;
		snprintf(why, len, "setting up the probe of the sys_exit tracepoint: %s",
			 strerror(-err));
		goto restore;
	}
	started = true;
	while (atomic_load(&rival.state) == 0)
		sched_yield();
	if (atomic_load(&rival.state) != 1) {
		err = -EPERM;
		snprintf(why, len, "setting up the probe of the sys_exit tracepoint: the rival "
				   "thread could not share this CPU");
		goto restore;
	}
	/* A few scheduler ticks per exit, a few exits. */
	probe->bss->spin_ns = 30000000;
	for (int i = 0; i < 4 && !probe->bss->nr_preempted; i++)
		(void)getppid();
	probe->bss->spin_ns = 0;
	if (!probe->bss->nr_seen) {
		err = -ENOENT;
		snprintf(why, len, "the probe of the sys_exit tracepoint saw no system call");
	} else if (probe->bss->nr_preempted) {
		err = -EOPNOTSUPP;
		snprintf(why, len, "this kernel preempts threads inside programs on its system-call "
				   "tracepoints, so it may skip a sys_exit gate");
	}
restore:
	if (started) {
		atomic_store(&rival.state, 2);
		pthread_join(thread, NULL);
	}
	if (pinned)
		(void)sched_setaffinity(0, sizeof(saved), &saved);
out:
	greenhub_probe__destroy(probe);
	return err;
}

static void trace_say_running(const void *pinned)
{
	const struct gh_trace_control *ctl = pinned;

	loader_err_running("trace", ctl->kside.loader_pid, ctl->kside.state == GH_TRACE_DRAINING);
}

/* open -> set rodata -> load, with one return gate. 0, or -errno with what refused it in why. */
static int load(const struct loader_opts *o, struct trace_state *st, enum gh_trace_gate gate,
		char *why, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = o->btf_path);
	int err;

	st->skel = greenhub_trace__open_opts(&open_opts);
	if (!st->skel) {
		err = -errno;
		snprintf(why, len, "opening the BPF object: %s", strerror(-err));
		return err;
	}
	st->skel->rodata->gate_signo = GH_TRACE_SIGNO;
	st->skel->rodata->gate_task_work = gate == GH_TRACE_GATE_TASK_WORK;
	st->skel->rodata->gate_by_taker = gate == GH_TRACE_GATE_TAKER;
	/* With a task-work gate, no program on every system call's exit. */
	err = bpf_program__set_autoload(st->skel->progs.greenhub_sys_exit,
					gate == GH_TRACE_GATE_SYS_EXIT);
	if (!err)
		err = bpf_program__set_autoload(st->skel->progs.greenhub_arm_gate,
						gate == GH_TRACE_GATE_TAKER);
	if (err) {
		snprintf(why, len, "choosing the programs: %s", strerror(-err));
		goto fail;
	}
	loader_libbpf_log_keep();
	err = greenhub_trace__load(st->skel);
	if (err) {
		char reason[200];

		snprintf(why, len, "%s", loader_libbpf_log_reason(reason, sizeof(reason), err));
	}
	loader_libbpf_log_drop();
	if (!err) {
		st->gate = gate;
		return 0;
	}
fail:
	greenhub_trace__destroy(st->skel);
	st->skel = NULL;
	return err;
}

/*
 * Load with the task-work gate if this kernel takes it, else with the taker-armed gate, else
 * with the sys_exit gate where that is safe, as --gate allows. 0 with why the gate is not the
 * task work's (or "") in gate_why; else EXIT_UNSUPPORTED with the reason in refused.
 */
static int load_gated(const struct loader_opts *o, const struct loader_features *f,
		      struct trace_state *st, char *gate_why, size_t gate_len, char *refused,
		      size_t refused_len)
{
	const char *asked = o->gate == GH_TRACE_GATE_TASK_WORK ? "--gate task-work"
			    : o->gate == GH_TRACE_GATE_TAKER   ? "--gate taker"
							       : NULL;
	char why[256] = "";

	if (o->gate == GH_TRACE_GATE_SYS_EXIT) {
		snprintf(gate_why, gate_len, "--gate sys-exit");
	} else if (!(f->bits & GH_TRACE_F_TASK_WORK)) {
		snprintf(gate_why, gate_len,
			 "no task-work kfunc (bpf_task_work_schedule_resume, Linux 6.18)");
	} else {
		if (o->gate == GH_TRACE_GATE_TAKER) {
			snprintf(gate_why, gate_len, "--gate taker");
		} else if (!load(o, st, GH_TRACE_GATE_TASK_WORK, why, sizeof(why))) {
			return 0;
		} else {
			snprintf(gate_why, gate_len, "the kernel refused the task-work gate: %s", why);
			if (o->verbose)
				loader_info("the kernel refused the task-work gate: %s", why);
		}
		if (o->gate != GH_TRACE_GATE_TASK_WORK) {
			size_t used = strlen(gate_why);

			if (!load(o, st, GH_TRACE_GATE_TAKER, why, sizeof(why)))
				return 0;
			snprintf(gate_why + used, gate_len - used,
				 "; and the taker-armed gate: %s", why);
			if (o->verbose)
				loader_info("the kernel refused the taker-armed gate: %s", why);
		}
	}
	if (asked) {
		snprintf(refused, refused_len, "%s: %s", asked, gate_why);
		return EXIT_UNSUPPORTED;
	}
	if (sys_exit_gate_safe(o, why, sizeof(why))) {
		/* No gate keeps exclusivity here. */
		snprintf(refused, refused_len, "%s; and the sys_exit gate cannot be used: %s",
			 gate_why, why);
		return EXIT_UNSUPPORTED;
	}
	if (load(o, st, GH_TRACE_GATE_SYS_EXIT, why, sizeof(why))) {
		snprintf(refused, refused_len, "the kernel refused its programs: %s", why);
		return EXIT_UNSUPPORTED;
	}
	return 0;
}

/* How the grace timers are kept: as --grace-timer says, else per sleep where the probe saw a
 * start from the context-switch program arm the timer at once (bpf/greenhub_timer_probe.bpf.c),
 * else per period. */
static void choose_grace_timer(const struct loader_opts *o, __u16 *timer, __u16 *why)
{
	char reason[256];
	bool at_once = false;

	if (o->grace_timer) {
		*timer = (__u16)o->grace_timer;
		*why = GH_TRACE_TIMER_ASKED;
	} else if (loader_probe_timer_start(o, &at_once, reason, sizeof(reason))) {
		/* Per period never costs more than a start and a firing per grace period,
		 * whatever a start costs here; per sleep costs an interrupt at every sleep
		 * where the kernel defers the start. */
		if (o->verbose)
			loader_info("grace timers kept per period: %s", reason);
		*timer = GH_TRACE_TIMER_PER_PERIOD;
		*why = GH_TRACE_TIMER_UNPROBED;
	} else {
		*timer = at_once ? GH_TRACE_TIMER_PER_SLEEP : GH_TRACE_TIMER_PER_PERIOD;
		*why = at_once ? GH_TRACE_TIMER_AT_ONCE : GH_TRACE_TIMER_DEFERRED;
	}
}

/* How the grace timers are kept, and why, in words (stats, the start message). */
static const char *grace_timer_text(__u16 timer, __u16 why)
{
	bool per_sleep = timer == GH_TRACE_TIMER_PER_SLEEP;

	switch (why) {
	case GH_TRACE_TIMER_ASKED:
		return per_sleep ? "started at every graced sleep (--grace-timer sleep)"
				 : "started once per grace period (--grace-timer period)";
	case GH_TRACE_TIMER_AT_ONCE:
		return "started at every graced sleep (a start from the context-switch program "
		       "arms it at once)";
	case GH_TRACE_TIMER_DEFERRED:
		return "started once per grace period (a start from the context-switch program is "
		       "deferred)";
	case GH_TRACE_TIMER_UNPROBED:
		return "started once per grace period (the probe of timer starts could not run)";
	default:
		return "started once per grace period";
	}
}

/* Map the control and hub maps of the loaded programs and fill the control map (the gate, the
 * grace defaults and timers), state LOADING: 0, or EXIT_FAIL (message printed). */
static int init_control(struct trace_state *st, const struct loader_opts *o,
			const struct loader_features *f, const char *gate_why)
{
	struct gh_trace_control *ctl;

	st->ctl = loader_map_values(bpf_map__fd(st->skel->maps.control),
				    sizeof(struct gh_trace_control), 1, true);
	st->hubs = loader_map_values(bpf_map__fd(st->skel->maps.hubs),
				     sizeof(struct gh_trace_hub), GH_MAX_HUBS, false);
	if (!st->ctl || !st->hubs) {
		loader_err("mapping the control and hub maps: %s", strerror(errno));
		return EXIT_FAIL;
	}
	ctl = st->ctl;
	loader_control_init(ctl, &loader_mode_trace, GH_TRACE_SIGNO, f->bits);
	ctl->gate = st->gate;
	snprintf(ctl->gate_why, sizeof(ctl->gate_why), "%s", gate_why);
	/* The grace defaults of hubs that choose none (--grace, --grace-ns). */
	ctl->grace_policy = o->grace_policy ? (__u32)o->grace_policy : GH_SCX_GRACE_ADAPTIVE;
	ctl->grace_ns = o->grace_ns ? o->grace_ns : GH_TRACE_GRACE_NS_DFL;
	ctl->grace_timer = st->grace_timer;
	ctl->grace_timer_why = st->grace_timer_why;
	if (loader_control_id(st->skel->maps.control, &ctl->kside.kside_id))
		return EXIT_FAIL;
	__atomic_store_n(&ctl->kside.state, GH_TRACE_LOADING, __ATOMIC_SEQ_CST);
	return 0;
}

/* Pin maps, links, then the control map, in map_pins' and link_pins' order, and the
 * taker-armed gate's program if it is loaded; before state RUNNING, which hubs wait for. */
static int pin(const struct greenhub_trace *skel, enum gh_trace_gate gate)
{
	struct bpf_map *const maps[] = { skel->maps.slots,  skel->maps.hubs,
					 skel->maps.carriers, skel->maps.wake_rings,
					 skel->maps.owners, skel->maps.gates,
					 skel->maps.gate_backups, skel->maps.grace_timers,
					 skel->maps.blocks };
	/* greenhub_sys_exit is NULL with the task-work gate. */
	struct bpf_link *const links[] = { skel->links.greenhub_register,
					   skel->links.greenhub_sched_switch,
					   skel->links.greenhub_sys_exit, skel->links.greenhub_process_exit,
					   skel->links.greenhub_process_exec, skel->links.greenhub_free,
					   NULL };
	int err;

	_Static_assert(ARRAY_SIZE(maps) == ARRAY_SIZE(map_pins), "a map without a pin");
	_Static_assert(ARRAY_SIZE(links) == ARRAY_SIZE(link_pins), "a link without a pin");
	err = loader_pin_all(&pins, maps, links, skel->maps.control);
	if (!err && gate == GH_TRACE_GATE_TAKER) {
		err = loader_pin_program(&pins, GH_TRACE_PIN_ARM_GATE,
					 skel->progs.greenhub_arm_gate);
		if (err)
			loader_unpin_all(&pins);
	}
	return err;
}

/* Unmap, and destroy: close the links (detaching the programs, unless they are pinned) and
 * the maps. */
static void release(struct trace_state *st)
{
	if (st->ctl)
		loader_unmap_values(st->ctl, sizeof(struct gh_trace_control), 1);
	if (st->hubs)
		loader_unmap_values(st->hubs, sizeof(struct gh_trace_hub), GH_MAX_HUBS);
	greenhub_trace__destroy(st->skel);
	free(st);
}

static int trace_start(const struct loader_opts *o, const struct loader_features *f,
		       void **statep, char *refused, size_t refused_len)
{
	char gate_why[sizeof(((struct gh_trace_control *)0)->gate_why)] = "";
	struct trace_state *st;
	int err, status;

	st = calloc(1, sizeof(*st));
	if (!st) {
		loader_err("out of memory");
		return EXIT_FAIL;
	}
	/* How the grace timers will be kept: the probe runs before the load */
	choose_grace_timer(o, &st->grace_timer, &st->grace_timer_why);
	/* open -> set rodata -> load */
	status = load_gated(o, f, st, gate_why, sizeof(gate_why), refused, refused_len);
	if (!status)
		status = init_control(st, o, f, gate_why);
	if (status)
		goto fail;
	/* attach */
	err = greenhub_trace__attach(st->skel);
	if (err) {
		loader_err("attaching the trace programs failed: %s", strerror(-err));
		status = EXIT_FAIL;
		goto fail;
	}
	/* pin, then RUNNING: the runtime attaches hubs only to a kernel side in that state */
	if (pin(st->skel, st->gate)) {
		status = EXIT_FAIL;
		goto fail;
	}
	__atomic_store_n(&st->ctl->kside.state, GH_TRACE_RUNNING, __ATOMIC_SEQ_CST);
	loader_info("return gate: %s%s%s%s", gh_trace_gate_name(st->gate),
		    gate_why[0] ? " (" : "", gate_why, gate_why[0] ? ")" : "");
	loader_info("grace timers: %s", grace_timer_text(st->grace_timer, st->grace_timer_why));
	*statep = st;
	return 0;
fail:
	release(st);
	return status;
}

/* " hub 3 (pid 1234)" for each hub with displaced carriers, as many as fit. */
static void name_hubs(const void *p, char *buf, size_t len)
{
	const struct gh_trace_hub *hubs = p;
	size_t used = 0;

	/* 28 bytes hold the longest entry and its NUL. */
	for (unsigned i = 0; hubs && i < GH_MAX_HUBS && used + 28 < len; i++) {
		if (hubs[i].kside.nr_displaced > 0)
			used += (size_t)snprintf(buf + used, len - used, " hub %u (pid %u)", i,
						 hubs[i].kside.owner_tgid);
	}
}

/* hubs: NULL if they cannot be read (the drain then says so). */
static struct loader_drain drain_of(struct gh_trace_control *ctl,
				    const struct gh_trace_hub *hubs)
{
	return (struct loader_drain){
		.state = &ctl->kside.state,
		.draining = GH_TRACE_DRAINING,
		.nr_displaced = &ctl->kside.nr_displaced,
		.name_hubs = name_hubs,
		.hubs = hubs,
		.busy = "the kernel side handed off; their return gate must stay",
		.left = "the kernel side stays loaded with handoffs off; ",
		/* tests/bpf/test_bpf_stop: pins removed while a carrier is displaced. */
		.forced = "hubs still attached hold the kernel side's links and gate maps, so their "
			  "blocked carriers still meet the return gate; the programs go when the "
			  "last of those hubs detaches",
	};
}

static int trace_poll(void *state)
{
	return loader_control_pinned(&pins) ? 0 : -1;
}

static int trace_stop(void *state, const struct loader_opts *o)
{
	struct trace_state *st = state;
	struct loader_drain d = drain_of(st->ctl, st->hubs);
	int status = loader_unload(&pins, &d, o, false);

	/* Busy: everything stays pinned, the gate must stay. Our own fds close at exit. */
	if (status)
		return status;
	release(st);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Stopping from the pins alone                                                               */

static int trace_stop_pinned(const struct loader_opts *o)
{
	struct gh_trace_hub *hubs = NULL;
	struct gh_trace_control *ctl;
	struct loader_drain d;
	int fd, status;

	ctl = loader_stop_begin(&loader_mode_trace, o, &status);
	if (!ctl)
		return status;
	/* Without the hubs the drain cannot name the hubs it waits for; it waits all the same. */
	fd = loader_pinned_fd(&pins, "hubs");
	if (fd >= 0)
		hubs = loader_map_fd(fd, sizeof(*hubs), GH_MAX_HUBS, false);
	d = drain_of(ctl, hubs);
	status = loader_unload(&pins, &d, o, true);
	if (hubs)
		loader_unmap_values(hubs, sizeof(*hubs), GH_MAX_HUBS);
	loader_unmap_values(ctl, sizeof(*ctl), 1);
	return status;
}

/* ---------------------------------------------------------------------------------------- */
/* Statistics                                                                                 */

static unsigned long long quantile(const struct gh_kside_hist *h, double q)
{
	return loader_hist_quantile(h->bucket, GH_KSIDE_HIST_BUCKETS, q);
}

static void print_hist(const struct gh_kside_hist *h)
{
	uint64_t most = 0;
	int lo = GH_KSIDE_HIST_BUCKETS, hi = -1;

	for (int b = 0; b < GH_KSIDE_HIST_BUCKETS; b++) {
		if (!h->bucket[b])
			continue;
		if (b < lo)
			lo = b;
		hi = b;
		if (h->bucket[b] > most)
			most = h->bucket[b];
	}
	printf("handoff latency, an owner's block to its spare on a CPU (%llu handoffs, mean "
	       "%.1f us, max %.1f us):\n",
	       (unsigned long long)h->count,
	       h->count ? (double)h->sum_ns / (double)h->count / 1000.0 : 0.0,
	       (double)h->max_ns / 1000.0);
	for (int b = lo; b <= hi; b++) {
		char range[48];
		int bar = most ? (int)(h->bucket[b] * 40 / most) : 0;

		if (b == 0)
			snprintf(range, sizeof(range), "< 1 us");
		else if (b == GH_KSIDE_HIST_BUCKETS - 1)
			snprintf(range, sizeof(range), ">= %llu us", 1ull << (b - 1));
		else
			snprintf(range, sizeof(range), "%llu-%llu us", 1ull << (b - 1), 1ull << b);
		printf("  %14s %10llu %.*s\n", range, (unsigned long long)h->bucket[b], bar,
		       "########################################");
	}
}

/* How often the kernel skipped the program behind a pinned link because it was already running
 * on that CPU (bpf_prog_info.recursion_misses, Linux 5.12): a skipped sys_exit gate would let
 * a displaced carrier through, a skipped request goes unanswered (the runtime asks again).
 * -1 if it cannot be read. */
static long long program_misses(const char *link)
{
	struct bpf_link_info li;
	struct bpf_prog_info pi;
	__u32 len = sizeof(li);
	int lfd, pfd;
	long long misses = -1;

	lfd = loader_pinned_fd(&pins, link);
	if (lfd < 0)
		return -1;
	memset(&li, 0, sizeof(li));
	if (!bpf_link_get_info_by_fd(lfd, &li, &len)) {
		pfd = bpf_prog_get_fd_by_id(li.prog_id);
		if (pfd >= 0) {
			memset(&pi, 0, sizeof(pi));
			len = sizeof(pi);
			if (!bpf_prog_get_info_by_fd(pfd, &pi, &len))
				misses = (long long)pi.recursion_misses;
			close(pfd);
		}
	}
	close(lfd);
	return misses;
}

static void print_program_misses(void)
{
	static const char *const links[] = { "link_register", "link_switch", "link_sys_exit",
					     "link_exit", "link_exec", "link_free" };
	char buf[256] = "";
	size_t used = 0;

	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		long long n = program_misses(links[i]);
		int w;

		if (n < 0)
			continue;
		w = snprintf(buf + used, sizeof(buf) - used, "%s%s %lld", used ? ", " : "",
			     links[i] + 5, n);
		if (w > 0 && (size_t)w < sizeof(buf) - used)
			used += (size_t)w;
	}
	printf("programs skipped by the kernel (already running on the CPU): %s\n",
	       used ? buf : "unknown");
}

static const char *grace_name(__u32 policy)
{
	static const char *const names[] = { "default", "never", "always", "adaptive" };

	return policy < 4 ? names[policy] : "?";
}

/* What a hub does with its owners' sleeps now (trace_grace.bpf.h's hub_grace()). */
static const char *grace_state(const struct gh_trace_control *ctl, const struct gh_hub_slot *s,
			       const struct gh_trace_hub *h)
{
	__u32 policy = s && s->grace_policy ? s->grace_policy : ctl->grace_policy;

	if (policy != GH_SCX_GRACE_ADAPTIVE)
		return grace_name(policy);
	return h->waste > GH_SCX_WASTE_ONE / 2 ? "adapt:wait" : "adapt:now";
}

/* The hub table's columns of trace mode's own. */
static void hub_heads(void)
{
	printf(" %8s %8s %7s %8s %8s %8s %8s %10s\n", "gates", "wakes", "misses", "p50(us)",
	       "p99(us)", "wake(us)", "graced", "grace");
}

static void hub_row(const struct loader_view *v, unsigned i)
{
	const struct gh_trace_hub *h = (const struct gh_trace_hub *)v->hubs + i;

	printf(" %8llu %8llu %7llu %8s%llu %8s%llu %8.1f %8llu %10s\n",
	       (unsigned long long)h->kside.nr_gates, (unsigned long long)h->kside.nr_spare_wakes,
	       (unsigned long long)h->kside.nr_spare_misses, "<",
	       quantile(&h->kside.handoff_latency, 0.5), "<",
	       quantile(&h->kside.handoff_latency, 0.99), (double)h->wake_avg_ns / 1000.0,
	       (unsigned long long)h->nr_graced,
	       grace_state(v->ctl, v->slots ? (const struct gh_hub_slot *)v->slots + i : NULL, h));
}

/* enum gh_trace_state's names. */
static const char *const state_names[] = { "loading", "running", "draining" };

static void print_stats(const struct loader_view *v)
{
	const struct gh_trace_control *ctl = v->ctl;

	printf("\ntrace mode, %s, loaded by pid %u: handoffs %llu, cancels %llu, takeovers %llu, "
	       "idle returns %llu, gates %llu, wakes %llu, wake misses %llu, displaced now %lld\n",
	       ctl->kside.state < ARRAY_SIZE(state_names) ? state_names[ctl->kside.state] : "?",
	       ctl->kside.loader_pid,
	       (unsigned long long)ctl->kside.nr_handoffs,
	       (unsigned long long)ctl->kside.nr_cancels,
	       (unsigned long long)ctl->kside.nr_takeovers,
	       (unsigned long long)ctl->kside.nr_idle_returns,
	       (unsigned long long)ctl->kside.nr_gates,
	       (unsigned long long)ctl->kside.nr_spare_wakes,
	       (unsigned long long)ctl->kside.nr_spare_misses, (long long)ctl->kside.nr_displaced);
	printf("return gate: %s%s%s%s; spare wake: ring buffer; gate signals waited for %llu, "
	       "late %llu\n",
	       gh_trace_gate_name(ctl->gate), ctl->gate_why[0] ? " (" : "", ctl->gate_why,
	       ctl->gate_why[0] ? ")" : "", (unsigned long long)ctl->nr_gate_waited,
	       (unsigned long long)ctl->nr_gate_late);
	if (ctl->gate == GH_TRACE_GATE_TAKER)
		printf("taker-armed gate: %llu armed by a taker, %llu not added in time, %llu "
		       "with the carrier not asleep in a green thread's call (neither taken yet), "
		       "%llu handoffs taken back at the switch-in\n",
		       (unsigned long long)ctl->nr_taker_arms,
		       (unsigned long long)ctl->nr_taker_arms_late,
		       (unsigned long long)ctl->nr_taker_waits,
		       (unsigned long long)ctl->nr_switch_cancels);
	if (ctl->gate == GH_TRACE_GATE_TASK_WORK)
		printf("task-work gate: %llu armed by the grace timer before a late handoff, %llu "
		       "looks again (not added yet, or the sleeper not asleep in its call), %llu "
		       "graced sleeps found over (the carrier in another call)\n",
		       (unsigned long long)ctl->nr_timer_gate_arms,
		       (unsigned long long)ctl->nr_timer_gate_waits,
		       (unsigned long long)ctl->nr_graced_over);
	printf("not handed off: %llu sleeps outside a system call, %llu in the hub loop, %llu "
	       "with the gate signal blocked, %llu with the gate signal taken by the application, "
	       "%llu while draining, %llu with no gate; slots "
	       "granted %llu, carriers registered %llu, requests refused %llu; hubs released at "
	       "exit %llu\n",
	       (unsigned long long)ctl->nr_fault_sleeps,
	       (unsigned long long)ctl->kside.nr_loop_sleeps,
	       (unsigned long long)ctl->kside.nr_masked,
	       (unsigned long long)ctl->kside.nr_gate_unhandled,
	       (unsigned long long)ctl->kside.nr_refused,
	       (unsigned long long)ctl->kside.nr_gate_failures,
	       (unsigned long long)ctl->kside.nr_claims, (unsigned long long)ctl->kside.nr_bound,
	       (unsigned long long)ctl->kside.nr_rejected,
	       (unsigned long long)ctl->kside.nr_exit_cleanups);
	printf("grace (default %s, %u ns; timers %s): %llu sleeps ended within it, %llu handed off "
	       "after it, %llu probes, %llu handoffs unused (nothing ran before the return), %llu "
	       "sleeps that held up ready threads, %llu settled at their return (switch-in not "
	       "seen), %llu timer starts failed (handed off at once), pending now %lld\n",
	       grace_name(ctl->grace_policy), ctl->grace_ns,
	       grace_timer_text(ctl->grace_timer, ctl->grace_timer_why),
	       (unsigned long long)ctl->nr_graced,
	       (unsigned long long)ctl->nr_late_handoffs, (unsigned long long)ctl->nr_probes,
	       (unsigned long long)ctl->nr_unused_handoffs,
	       (unsigned long long)ctl->nr_graced_held_up,
	       (unsigned long long)ctl->nr_graced_at_return,
	       (unsigned long long)ctl->nr_grace_start_failures, (long long)ctl->nr_grace_pending);
	print_program_misses();
	loader_print_hubs(v, hub_heads, hub_row);
	print_hist(&ctl->kside.handoff_latency);
	fflush(stdout);
}

/* --format openmetrics: the control map's counters, a hub's, the histograms. */
#define C(field, name, help) LOADER_COUNTER(struct gh_trace_control, field, name, help)
static const struct loader_metric control_metrics[] = {
	C(nr_fault_sleeps, "greenhub_fault_sleeps_total",
	  "Owner sleeps outside a system call, not handed off."),
	C(nr_deferred, "greenhub_deferred_gates_total",
	  "Gates deferred to a restarted system call's exit."),
	C(nr_gate_blocked, "greenhub_gate_blocked_total",
	  "Gates that found the gate signal blocked (must stay 0)."),
	C(nr_gate_waited, "greenhub_gate_waited_total",
	  "Gates whose signal was not pending yet right after it was sent, and that waited."),
	C(nr_gate_late, "greenhub_gate_late_total",
	  "Gates that gave up waiting for their signal (must stay 0)."),
	C(nr_graced, "greenhub_graced_sleeps_total",
	  "Owner sleeps that ended within the grace period."),
	C(nr_late_handoffs, "greenhub_late_handoffs_total",
	  "Hand-offs made once a sleep outlasted the grace period."),
	C(nr_probes, "greenhub_grace_probes_total",
	  "Sleeps the adaptive policy granted a grace period as a probe."),
	C(nr_unused_handoffs, "greenhub_unused_handoffs_total",
	  "Hand-offs with no green thread run before the sleeper returned to an idle hub."),
	C(nr_graced_held_up, "greenhub_graced_held_up_total",
	  "Sleeps that ended within the grace period but held up ready green threads for longer "
	  "than a handoff takes."),
	C(nr_graced_at_return, "greenhub_graced_at_return_total",
	  "Graced sleeps settled at their return: the kernel reported no switch-in."),
	C(nr_grace_start_failures, "greenhub_grace_start_failures_total",
	  "Graced sleeps whose grace timer would not start, handed off at once."),
	C(nr_taker_arms, "greenhub_taker_arms_total",
	  "Return gates armed by the carrier about to take a handoff (taker-armed gate)."),
	C(nr_taker_arms_late, "greenhub_taker_arms_late_total",
	  "Taker-armed gates the kernel did not add in time; the handoff was not taken yet."),
	C(nr_taker_waits, "greenhub_taker_waits_total",
	  "Taker-armed gates after which the carrier was not asleep in a green thread's call; the "
	  "handoff was not taken yet."),
	C(nr_switch_cancels, "greenhub_switch_cancels_total",
	  "Hand-offs taken back at the displaced carrier's switch-in (taker-armed gate)."),
	C(nr_timer_gate_arms, "greenhub_timer_gate_arms_total",
	  "Return gates the grace timer armed before a late handoff (task-work gate)."),
	C(nr_timer_gate_waits, "greenhub_timer_gate_waits_total",
	  "Late handoffs the grace timer put off: the gate not added yet, or the sleeper not "
	  "asleep in its call (task-work gate)."),
	C(nr_graced_over, "greenhub_graced_over_total",
	  "Graced sleeps found over at a switch-in or return from another call (task-work gate)."),
};
#undef C

#define H(field, name, help) LOADER_COUNTER(struct gh_trace_hub, field, name, help)
static const struct loader_metric hub_metrics[] = {
	H(nr_fault_sleeps, "greenhub_hub_fault_sleeps_total",
	  "The owner's sleeps outside a system call, not handed off."),
	H(nr_masked, "greenhub_hub_masked_sleeps_total",
	  "The owner's sleeps with the gate signal blocked, not handed off."),
	H(nr_graced, "greenhub_hub_graced_sleeps_total",
	  "The owner's sleeps that ended within the grace period."),
	H(nr_late_handoffs, "greenhub_hub_late_handoffs_total",
	  "The hub's hand-offs made once a sleep outlasted the grace period."),
};
#undef H

static const struct loader_metrics metrics =
	LOADER_METRICS(control_metrics, hub_metrics, state_names);

const struct loader_mode loader_mode_trace = {
	.name = "trace",
	.mode = GH_MODE_TRACE,
	.takes = LOADER_TAKES_GATE | LOADER_TAKES_GRACE | LOADER_TAKES_GRACE_TIMER,
	.pins = &pins,
	/* Nothing to watch but the pins. */
	.poll_interval = 1.0,
	.control_size = sizeof(struct gh_trace_control),
	.magic = GH_TRACE_MAGIC,
	.abi = GH_TRACE_ABI_VERSION,
	.abi_name = "trace ABI",
	.force_note = " to remove them without waiting for blocked carriers",
	.hub_size = sizeof(struct gh_trace_hub),
	.scan = trace_scan,
	.probe = trace_probe,
	.say_running = trace_say_running,
	.start = trace_start,
	.poll = trace_poll,
	.stop = trace_stop,
	.stop_pinned = trace_stop_pinned,
	.print_stats = print_stats,
	.metrics = &metrics,
};
