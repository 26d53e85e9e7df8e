// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * scx_greenhub's sched_ext mode: loads bpf/greenhub_scx.bpf.c (its skeleton), attaches and pins the
 * scheduler, reports why the kernel ejected it if it did, and unloads it without leaving a
 * displaced carrier ungated. docs/sched-ext.md describes the mode.
 *
 * Pinning
 *   Maps first, then the links (the struct_ops link, the request program and the process-exit
 *   and exec programs), then
 *   the control map last, and only then state RUNNING: the runtime attaches a hub only when it
 *   finds the control map pinned with state RUNNING, so a loader killed half-way leaves objects
 *   nobody uses, and `--stop` removes them. Once the struct_ops link is pinned the loader's own
 *   fds do not matter: SIGKILL leaves the scheduler attached.
 *
 * Unloading (I1 across an unload)
 *   Detaching the scheduler makes the kernel run every task it held, displaced carriers
 *   included. Their return gates (see the BPF file) would still stop them, but a clean unload
 *   does not lean on that: set DRAINING (no new handoffs; held spares are let go), wait until
 *   no carrier is displaced (the owners hand the held ones back at their next switch points),
 *   then unpin, which drops the last reference to the link and detaches. If the wait times
 *   out, nothing is detached and a later `--stop` finishes.
 *
 * Ejection
 *   The kernel may eject the scheduler (its watchdog, an error, sysrq-S). ops.exit records why
 *   in the control map; a running loader polls it every 100 ms, prints the reason and unloads
 *   what is left; `--stats` and `--stop` print it when no loader runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "greenhub_scx.skel.h"
#include "greenhub/scx.h"
#include "loader.h"

/* The watchdog timeout: long enough for TCG and for a held carrier's hold (a quarter of it),
 * short enough that a stuck task is noticed within seconds. */
#define TIMEOUT_MS 5000u
/* The heartbeat's period, and how long a held spare waits before it runs once (it sees a stop
 * or its retirement then; nothing waits for it meanwhile). Each beat, and each spare run, is
 * work on some CPU that delays whatever was due there, so both are as long as the watchdog
 * lets them be with room to spare: a held carrier is let go after a quarter of the timeout plus
 * at most one period, a held spare runs every second or so. */
#define HEARTBEAT_NS 250000000ull
#define SPARE_BEAT_NS 1000000000ull

LOADER_KSIDE_FIRST(struct gh_scx_control);
LOADER_KSIDE_FIRST(struct gh_scx_hub);

/* Every map whose last user reference must not go with the loader: a map's timers and task
 * works are cancelled when it loses its last one. */
static const char *const map_pins[] = { "slots", "hubs", "carriers", "gates", "owners",
					"heartbeat", "hub_timers", "release_timers",
					GH_RECORDS_PIN };
static const char *const link_pins[] = { "link_ops", "link_register", "link_exit", "link_exec",
					  "link_presleep" };

struct scx_state {
	struct greenhub_scx *skel;
	struct bpf_link *ops_link;
	struct gh_scx_control *ctl; /* the control map, mapped read-write */
	/* Why the kernel refused greenhub_presleep, if it did ("" if it is loaded). */
	char no_head_start[320];
};

static const struct loader_pins pins = LOADER_PINS(GH_SCX_PIN_DIR, map_pins, link_pins);

/* Print the exit record, if the scheduler exited. True if it did. */
static bool report_exit(const struct gh_scx_control *ctl, const char *how)
{
	if (!__atomic_load_n(&ctl->exit.kind, __ATOMIC_ACQUIRE))
		return false;
	loader_err("%s: the greenhub scheduler exited: %s (kind %u)%s%s", how,
		   ctl->exit.reason[0] ? ctl->exit.reason : "no reason recorded", ctl->exit.kind,
		   ctl->exit.msg[0] ? ": " : "", ctl->exit.msg);
	return true;
}

/* The grace defaults of hubs that choose none themselves (--grace, --grace-ns). */
static __u32 grace_policy_of(const struct loader_opts *o)
{
	return o->grace_policy ? (__u32)o->grace_policy : GH_SCX_GRACE_ADAPTIVE;
}

static __u32 grace_ns_of(const struct loader_opts *o)
{
	return o->grace_ns ? o->grace_ns : GH_SCX_GRACE_NS_DFL;
}

static const char *grace_name(__u32 policy)
{
	static const char *const names[] = { "default", "never", "always", "adaptive" };

	return policy < 4 ? names[policy] : "?";
}

/* ---------------------------------------------------------------------------------------- */

/* The kernel has sched_ext: a report, scx_probe decides. */
static void scx_scan(const struct btf *vmlinux, uint64_t *bits)
{
	if (!access("/sys/kernel/sched_ext", F_OK))
		*bits |= GH_TRACE_F_SCHED_EXT;
}

static int scx_probe(const struct loader_opts *o, const struct loader_features *f, char *why,
		     size_t len)
{
	struct btf *btf;
	char state[64];
	bool ops, gate;

	if (access("/sys/kernel/sched_ext", F_OK) < 0) {
		snprintf(why, len, "this kernel has no sched_ext (CONFIG_SCHED_CLASS_EXT; sched_ext "
				   "mode needs Linux 6.18 or later)");
		return EXIT_UNSUPPORTED;
	}
	btf = o->btf_path ? btf__parse(o->btf_path, NULL) : btf__load_vmlinux_btf();
	if (!btf) {
		snprintf(why, len, "no kernel BTF: sched_ext mode needs CONFIG_DEBUG_INFO_BTF");
		return EXIT_UNSUPPORTED;
	}
	ops = btf__find_by_name_kind(btf, "sched_ext_ops", BTF_KIND_STRUCT) >= 0;
	/* The return gate is a task work (bpf/scx_compat.bpf.h names its three forms). */
	gate = loader_btf_has_func(btf, "bpf_task_work_schedule_resume") ||
	       loader_btf_has_func(btf, "bpf_task_work_schedule_resume_impl");
	btf__free(btf);
	if (!ops) {
		snprintf(why, len, "the kernel's BTF has no struct sched_ext_ops");
		return EXIT_UNSUPPORTED;
	}
	if (!gate) {
		snprintf(why, len, "this kernel lacks bpf_task_work_schedule_resume (Linux 6.18 or "
				   "later), which the scheduler's return gate needs; trace mode runs "
				   "here");
		return EXIT_UNSUPPORTED;
	}
	loader_read_line("/sys/kernel/sched_ext/state", state, sizeof(state));
	if (strcmp(state, "disabled") != 0 && !loader_control_pinned(&pins)) {
		char name[128];

		loader_read_line("/sys/kernel/sched_ext/root/ops", name, sizeof(name));
		snprintf(why, len, "another sched_ext scheduler is loaded (%s, state %s)",
			 name[0] ? name : "?", state);
		return EXIT_RUNNING;
	}
	return 0;
}

static void scx_say_running(const void *pinned)
{
	const struct gh_scx_control *ctl = pinned;

	if (report_exit(ctl, "a previous load"))
		loader_err("its pins are still there: remove them with `scx_greenhub --stop`");
	else
		loader_err_running("sched_ext", ctl->kside.loader_pid, false);
}

/* open -> choose the programs -> set rodata -> load: 0, or libbpf's negative error (st->skel
 * NULL if the open failed; a message printed for a failure before the load). */
static int load_once(const struct loader_opts *o, struct scx_state *st, bool head_start)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = o->btf_path);
	int err;

	st->skel = greenhub_scx__open_opts(&open_opts);
	if (!st->skel) {
		err = -errno;
		loader_err("opening the BPF object: %s", strerror(errno));
		return err ? err : -EINVAL;
	}
	err = bpf_program__set_autoload(st->skel->progs.greenhub_presleep, head_start);
	if (err) {
		loader_err("choosing the programs to load: %s", strerror(-err));
		return err;
	}
	/* rodata, and the struct_ops fields the kernel reads at attach */
	st->skel->rodata->timeout_ms = TIMEOUT_MS;
	st->skel->rodata->heartbeat_ns = HEARTBEAT_NS;
	st->skel->rodata->hold_max_ns = (__u64)TIMEOUT_MS * 1000000 / 4;
	st->skel->rodata->spare_beat_ns = SPARE_BEAT_NS;
	st->skel->rodata->signo = GH_SCX_SIGNO;
	st->skel->rodata->grace_policy = grace_policy_of(o);
	st->skel->rodata->grace_ns = grace_ns_of(o);
	st->skel->struct_ops.greenhub_ops->timeout_ms = TIMEOUT_MS;
	return greenhub_scx__load(st->skel);
}

/* libbpf's line for a program the kernel refused without a verifier log begins with the
 * program's name, which the message it goes into names already: the kernel's reason alone. */
static const char *without_prog_name(const char *reason)
{
	static const char prefix[] = "prog 'greenhub_presleep': BPF program load failed: ";

	return strncmp(reason, prefix, sizeof(prefix) - 1) ? reason : reason + sizeof(prefix) - 1;
}

/*
 * Open and load the scheduler: 0, EXIT_UNSUPPORTED with what refused the scheduler in refused
 * (its verifier, a missing kfunc: the driver says why and may try trace mode), or EXIT_FAIL
 * (message printed). greenhub_presleep, the grace timer's head start, is an fentry program,
 * which a kernel may refuse where it takes the scheduler (tracing locked down, or no ftrace):
 * the scheduler is then loaded without it, and says so (no_head_start, --stats).
 */
static int load(const struct loader_opts *o, struct scx_state *st, char *refused, size_t len)
{
	char reason[200];
	int err;

	if (o->no_head_start)
		snprintf(st->no_head_start, sizeof(st->no_head_start), "--no-head-start");
	loader_libbpf_log_keep();
	err = load_once(o, st, !o->no_head_start);
	if (err && st->skel && !o->no_head_start) {
		loader_libbpf_log_reason(reason, sizeof(reason), err);
		loader_libbpf_log_drop();
		greenhub_scx__destroy(st->skel);
		st->skel = NULL;
		loader_libbpf_log_keep();
		err = load_once(o, st, false);
		if (!err)
			snprintf(st->no_head_start, sizeof(st->no_head_start),
				 "the kernel refused greenhub_presleep, an fentry program on "
				 "schedule(): %s", without_prog_name(reason));
	}
	if (err && st->skel)
		snprintf(refused, len, "the kernel refused the scheduler: %s",
			 loader_libbpf_log_reason(reason, sizeof(reason), err));
	loader_libbpf_log_drop();
	if (err && !st->skel)
		return EXIT_FAIL;
	return err ? EXIT_UNSUPPORTED : 0;
}

/* Map the control map of the loaded scheduler and fill it, state LOADING: 0, or EXIT_FAIL
 * (message printed). */
static int init_control(struct scx_state *st, const struct loader_opts *o,
			const struct loader_features *f)
{
	st->ctl = loader_map_values(bpf_map__fd(st->skel->maps.control),
				    sizeof(struct gh_scx_control), 1, true);
	if (!st->ctl) {
		loader_err("mapping the control map: %s", strerror(errno));
		return EXIT_FAIL;
	}
	loader_control_init(st->ctl, &loader_mode_scx, GH_SCX_SIGNO, f->bits);
	st->ctl->timeout_ms = TIMEOUT_MS;
	st->ctl->grace_policy = grace_policy_of(o);
	st->ctl->grace_ns = grace_ns_of(o);
	if (loader_control_id(st->skel->maps.control, &st->ctl->kside.kside_id))
		return EXIT_FAIL;
	__atomic_store_n(&st->ctl->kside.state, GH_SCX_LOADING, __ATOMIC_SEQ_CST);
	return 0;
}

/*
 * The process-exit programs first, so that no hub can be lost to an exit, then the request
 * program (no slot is granted before state RUNNING), then the scheduler. 0 with sched_ext's
 * state in state, or EXIT_FAIL (message printed, or the exit record if the kernel refused the
 * scheduler at once).
 */
static int attach(struct scx_state *st, char *state, size_t len)
{
	struct greenhub_scx *skel = st->skel;
	int err;

	skel->links.greenhub_process_exit = bpf_program__attach(skel->progs.greenhub_process_exit);
	skel->links.greenhub_process_exec = bpf_program__attach(skel->progs.greenhub_process_exec);
	if (!skel->links.greenhub_process_exit || !skel->links.greenhub_process_exec) {
		loader_err("attaching the process-exit programs failed: %s", strerror(errno));
		return EXIT_FAIL;
	}
	skel->links.greenhub_request = bpf_program__attach(skel->progs.greenhub_request);
	if (!skel->links.greenhub_request) {
		loader_err("attaching the request program failed: %s", strerror(errno));
		return EXIT_FAIL;
	}
	if (!st->no_head_start[0]) {
		skel->links.greenhub_presleep = bpf_program__attach(skel->progs.greenhub_presleep);
		if (!skel->links.greenhub_presleep)
			snprintf(st->no_head_start, sizeof(st->no_head_start),
				 "the kernel refused to attach greenhub_presleep, an fentry "
				 "program on schedule(): %s", strerror(errno));
	}
	st->ctl->head_start = skel->links.greenhub_presleep != NULL;
	if (st->no_head_start[0])
		loader_info("no head start for grace timers (%s): each graced sleep starts its "
			    "timer in ops.quiescent, which kernels 7.0 and later defer to an "
			    "irq_work", st->no_head_start);
	/* libbpf 1.4 does not attach struct_ops maps from the skeleton: bpf/bpf.mk */
	st->ops_link = bpf_map__attach_struct_ops(skel->maps.greenhub_ops);
	if (!st->ops_link) {
		err = -errno;
		if (!report_exit(st->ctl, "attaching"))
			loader_err("attaching the scheduler failed: %s (dmesg may say more)",
				   strerror(-err));
		return EXIT_FAIL;
	}
	loader_read_line("/sys/kernel/sched_ext/state", state, len);
	return report_exit(st->ctl, "attaching") ? EXIT_FAIL : 0;
}

/* Pin maps, links, then the control map, in map_pins' and link_pins' order. */
static int pin(const struct scx_state *st)
{
	const struct greenhub_scx *skel = st->skel;
	struct bpf_map *const maps[] = { skel->maps.slots,     skel->maps.hubs,
					 skel->maps.carriers,  skel->maps.gates,
					 skel->maps.owners,    skel->maps.heartbeat,
					 skel->maps.hub_timers, skel->maps.release_timers,
					 skel->maps.blocks };
	struct bpf_link *const links[] = { st->ops_link, skel->links.greenhub_request,
					   skel->links.greenhub_process_exit,
					   skel->links.greenhub_process_exec,
					   skel->links.greenhub_presleep };

	_Static_assert(ARRAY_SIZE(maps) == ARRAY_SIZE(map_pins), "a map without a pin");
	_Static_assert(ARRAY_SIZE(links) == ARRAY_SIZE(link_pins), "a link without a pin");
	return loader_pin_all(&pins, maps, links, skel->maps.control);
}

/* Detach the scheduler unless it is pinned, unmap, and destroy the programs and maps. */
static void release(struct scx_state *st)
{
	if (st->ops_link)
		bpf_link__destroy(st->ops_link);
	if (st->ctl)
		loader_unmap_values(st->ctl, sizeof(struct gh_scx_control), 1);
	greenhub_scx__destroy(st->skel);
	free(st);
}

static int scx_start(const struct loader_opts *o, const struct loader_features *f,
		     void **statep, char *refused, size_t refused_len)
{
	struct scx_state *st;
	char state[64];
	int status;

	st = calloc(1, sizeof(*st));
	if (!st) {
		loader_err("out of memory");
		return EXIT_FAIL;
	}
	status = load(o, st, refused, refused_len);
	if (!status)
		status = init_control(st, o, f);
	if (!status)
		status = attach(st, state, sizeof(state));
	if (!status && pin(st))
		status = EXIT_FAIL;
	if (status) {
		release(st);
		return status;
	}
	/* The runtime attaches hubs only to a kernel side in state RUNNING. */
	__atomic_store_n(&st->ctl->kside.state, GH_SCX_RUNNING, __ATOMIC_SEQ_CST);
	loader_info("scheduler '%s' attached (sched_ext state %s), watchdog %u ms",
		    GH_SCX_OPS_NAME, state, TIMEOUT_MS);
	*statep = st;
	return 0;
}

/* An exited scheduler settles nothing any more: the drain has nothing to wait for (the return
 * gates do the rest). */
static struct loader_drain drain_of(struct gh_scx_control *ctl)
{
	return (struct loader_drain){
		.state = &ctl->kside.state,
		.draining = GH_SCX_DRAINING,
		.nr_displaced = &ctl->kside.nr_displaced,
		.exited = &ctl->exit.kind,
		.busy = "the scheduler handed off; it stays attached with handoffs off",
		.left = "",
	};
}

static int scx_stop(void *state, const struct loader_opts *o)
{
	struct scx_state *st = state;
	struct loader_drain d = drain_of(st->ctl);
	int status = loader_unload(&pins, &d, o, false);

	if (status)
		return status;
	/* destroy: the struct_ops link first (detach), then the programs and maps */
	bpf_link__destroy(st->ops_link);
	st->ops_link = NULL;
	report_exit(st->ctl, "unloaded");
	release(st);
	return 0;
}

static int scx_poll(void *state)
{
	struct scx_state *st = state;

	if (report_exit(st->ctl, "ejected by the kernel")) {
		loader_unpin_all(&pins);
		release(st);
		loader_err("unloaded what was left; hubs run on without kernel assist");
		return EXIT_FAIL;
	}
	if (!loader_control_pinned(&pins)) {
		loader_info("the pinned control map was removed");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* From the pins alone                                                                        */

static int scx_stop_pinned(const struct loader_opts *o)
{
	struct gh_scx_control *ctl;
	struct loader_drain d;
	int status;

	ctl = loader_stop_begin(&loader_mode_scx, o, &status);
	if (!ctl)
		return status;
	/* No loader unloads them: do it ourselves. */
	report_exit(ctl, "while no loader watched");
	d = drain_of(ctl);
	status = loader_unload(&pins, &d, o, true);
	loader_unmap_values(ctl, sizeof(*ctl), 1);
	return status;
}

static unsigned long long quantile(const struct gh_kside_hist *h, double q)
{
	return loader_hist_quantile(h->bucket, GH_KSIDE_HIST_BUCKETS, q);
}

/* What a hub does with its owners' sleeps now (the scheduler's hub_grace()). */
static const char *grace_state(const struct gh_scx_control *ctl, const struct gh_hub_slot *s,
			       const struct gh_scx_hub *sh)
{
	__u32 policy = s->grace_policy ? s->grace_policy : ctl->grace_policy;

	if (policy != GH_SCX_GRACE_ADAPTIVE)
		return grace_name(policy);
	return sh->waste > GH_SCX_WASTE_ONE / 2 ? "adapt:wait" : "adapt:now";
}

/* The hub table's columns of sched_ext mode's own. */
static void hub_heads(void)
{
	printf(" %7s %7s %8s %8s %10s\n", "spares", "misses", "p50(us)", "graced", "grace");
}

static void hub_row(const struct loader_view *v, unsigned i)
{
	const struct gh_scx_hub *sh = (const struct gh_scx_hub *)v->hubs + i;
	const struct gh_hub_slot *s = (const struct gh_hub_slot *)v->slots + i;

	printf(" %7llu %7llu %7s%llu %8llu %10s\n",
	       (unsigned long long)(sh->nr_spare_runs + sh->kside.nr_spare_wakes),
	       (unsigned long long)sh->kside.nr_spare_misses, "<",
	       quantile(&sh->kside.handoff_latency, 0.5), (unsigned long long)sh->nr_graced,
	       grace_state(v->ctl, s, sh));
}

/* enum gh_scx_state's names. */
static const char *const state_names[] = { "loading", "running", "draining", "exited" };

static void print_stats(const struct loader_view *v)
{
	const struct gh_scx_control *ctl = v->ctl;
	const struct gh_kside_hist *h = &ctl->kside.handoff_latency;

	printf("\nsched_ext mode, %s, loaded by pid %u: handoffs %llu, cancels %llu, takeovers "
	       "%llu, idle returns %llu, holds %llu, releases %llu (%llu by the release timer), "
	       "displaced now %lld; grace (default %s, %u ns, head start %s): %llu sleeps ended "
	       "within it, %llu handed off after it\n",
	       ctl->kside.state < ARRAY_SIZE(state_names) ? state_names[ctl->kside.state] : "?",
	       ctl->kside.loader_pid,
	       (unsigned long long)ctl->kside.nr_handoffs,
	       (unsigned long long)ctl->kside.nr_cancels,
	       (unsigned long long)ctl->kside.nr_takeovers,
	       (unsigned long long)ctl->kside.nr_idle_returns, (unsigned long long)ctl->nr_holds,
	       (unsigned long long)ctl->nr_releases, (unsigned long long)ctl->nr_timer_releases,
	       (long long)ctl->kside.nr_displaced, grace_name(ctl->grace_policy), ctl->grace_ns,
	       ctl->head_start ? "on" : "off", (unsigned long long)ctl->nr_graced,
	       (unsigned long long)ctl->nr_late_handoffs);
	printf("spares: %llu held spares run, %llu parked spares signalled, %llu misses, %llu "
	       "heartbeats; gates armed %llu (failed %llu), stopped %llu, kicks %llu; long holds "
	       "%llu; not handed off: %llu in the hub loop, %llu masked, %llu with the signal "
	       "not handled, %llu refused; requests: slots granted %llu, carriers registered "
	       "%llu, refused %llu; exit cleanups %llu\n",
	       (unsigned long long)ctl->nr_spare_runs,
	       (unsigned long long)ctl->kside.nr_spare_wakes,
	       (unsigned long long)ctl->kside.nr_spare_misses,
	       (unsigned long long)ctl->nr_heartbeats, (unsigned long long)ctl->nr_gate_arms,
	       (unsigned long long)ctl->kside.nr_gate_failures,
	       (unsigned long long)ctl->kside.nr_gates, (unsigned long long)ctl->nr_kicks,
	       (unsigned long long)ctl->nr_long_holds,
	       (unsigned long long)ctl->kside.nr_loop_sleeps,
	       (unsigned long long)ctl->kside.nr_masked,
	       (unsigned long long)ctl->kside.nr_gate_unhandled,
	       (unsigned long long)ctl->kside.nr_refused, (unsigned long long)ctl->kside.nr_claims,
	       (unsigned long long)ctl->kside.nr_bound, (unsigned long long)ctl->kside.nr_rejected,
	       (unsigned long long)ctl->kside.nr_exit_cleanups);
	printf("handoff latency, an owner's sleep to a spare running (%llu): p50 < %llu us, p99 "
	       "< %llu us, mean %.1f us, max %.1f us\n",
	       (unsigned long long)h->count, quantile(h, 0.5), quantile(h, 0.99),
	       h->count ? (double)h->sum_ns / (double)h->count / 1000.0 : 0.0,
	       (double)h->max_ns / 1000.0);
	loader_print_hubs(v, hub_heads, hub_row);
	fflush(stdout);
	report_exit(ctl, "stats");
}

/* --format openmetrics: the control map's counters, a hub's, the histograms. */
#define C(field, name, help) LOADER_COUNTER(struct gh_scx_control, field, name, help)
static const struct loader_metric control_metrics[] = {
	C(nr_holds, "greenhub_holds_total", "Returning carriers kept in their hub's held queue."),
	C(nr_releases, "greenhub_releases_total",
	  "Held carriers dispatched after their hand-back."),
	C(nr_timer_releases, "greenhub_timer_releases_total",
	  "Hand-backs dispatched by the release timer (of the releases)."),
	C(nr_spare_runs, "greenhub_spare_runs_total",
	  "Held spares moved to the CPU their owner left."),
	C(nr_heartbeats, "greenhub_heartbeats_total",
	  "Held spares let run briefly for the watchdog."),
	C(nr_long_holds, "greenhub_long_holds_total",
	  "Held carriers let go to the userspace gate (watchdog)."),
	C(nr_gate_arms, "greenhub_gate_arms_total", "Return gates armed (one per hand-off)."),
	C(nr_kicks, "greenhub_kicks_total", "Kicks sent for an idle return."),
	C(nr_graced, "greenhub_graced_sleeps_total",
	  "Owner sleeps that ended within the grace period."),
	C(nr_late_handoffs, "greenhub_late_handoffs_total",
	  "Hand-offs made once a sleep outlasted the grace period."),
};
#undef C

#define H(field, name, help) LOADER_COUNTER(struct gh_scx_hub, field, name, help)
static const struct loader_metric hub_metrics[] = {
	H(nr_graced, "greenhub_hub_graced_sleeps_total",
	  "The owner's sleeps that ended within the grace period."),
	H(nr_spare_runs, "greenhub_hub_spare_runs_total", "The hub's held spares moved to a CPU."),
	H(nr_long_holds, "greenhub_hub_long_holds_total",
	  "The hub's held carriers let go to the userspace gate."),
};
#undef H

static const struct loader_metrics metrics =
	LOADER_METRICS(control_metrics, hub_metrics, state_names);

const struct loader_mode loader_mode_scx = {
	.name = "sched_ext",
	.mode = GH_MODE_SCHED_EXT,
	.takes = LOADER_TAKES_GRACE | LOADER_TAKES_HEAD_START,
	.pins = &pins,
	/* How soon an ejection is reported and what is left unloaded. */
	.poll_interval = 0.1,
	.control_size = sizeof(struct gh_scx_control),
	.magic = GH_SCX_MAGIC,
	.abi = GH_SCX_ABI_VERSION,
	.abi_name = NULL,
	.force_note = "",
	.hub_size = sizeof(struct gh_scx_hub),
	.scan = scx_scan,
	.probe = scx_probe,
	.say_running = scx_say_running,
	.start = scx_start,
	.stop = scx_stop,
	.stop_pinned = scx_stop_pinned,
	.poll = scx_poll,
	.print_stats = print_stats,
	.metrics = &metrics,
};
