/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * scx_greenhub's internals: the command line, the kernel-assist modes it can load, and what
 * every mode shares.
 *
 * A mode is a table entry (struct loader_mode) that fills every hook. scx_greenhub.c, the
 * driver, knows no mode: it checks the machine, picks a mode and drives it through the loader
 * flow: start (open, set rodata, load, attach, pin), wait, stop (drain, unpin, detach,
 * destroy). What is pinned outlives the loader, so stopping a kernel side that another (or a
 * killed) loader started goes through stop_pinned, which works from the pins alone. Trace mode
 * lives in greenhub_trace.c, sched_ext mode in greenhub_scx.c, each named after its BPF
 * program. What both do alike is written once: pins.c for the objects in the BPF filesystem,
 * control.c for the control map (filling it, checking a pinned one, the drain), stats.c for
 * --stats.
 */
#ifndef GREENHUB_LOADER_H
#define GREENHUB_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "greenhub.h"
#include "greenhub/trace.h"

struct bpf_object_skeleton;
struct bpf_link;
struct bpf_map;
struct bpf_program;
struct btf;

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Exit statuses, documented in docs/loader.md. */
enum loader_exit {
	EXIT_OK = 0,
	EXIT_FAIL = 1,          /* anything else: a load that failed, an I/O error */
	EXIT_USAGE = 2,         /* bad command line */
	EXIT_NOPERM = 3,        /* not root (no CAP_BPF + CAP_PERFMON, nor CAP_SYS_ADMIN) */
	EXIT_UNSUPPORTED = 4,   /* no BPF, no BTF, or a kernel without what the mode needs */
	EXIT_RUNNING = 5,       /* a kernel side is already loaded (or half-loaded objects) */
	EXIT_INCOMPATIBLE = 6,  /* pinned objects of another ABI version */
	EXIT_NOT_RUNNING = 7,   /* --stop / --stats with nothing loaded */
	EXIT_BUSY = 8,          /* --stop timed out: displaced carriers still need the gate */
};

/* --format: how --stats writes its reports. */
enum loader_format {
	LOADER_FORMAT_TEXT,        /* for people (the default) */
	LOADER_FORMAT_OPENMETRICS, /* metrics text for Prometheus (openmetrics.h says which) */
};

struct loader_opts {
	bool verbose;          /* -v: libbpf's own messages too */
	bool detach;           /* -d: leave the kernel side loaded and exit */
	bool force;            /* --stop --force: remove pins of an incompatible version */
	bool stats;            /* --stats: print the loaded side's statistics */
	bool once;             /* --stats --once, --top --once */
	bool top;              /* --top: what blocks, from the block records */
	const char *record_path; /* --record FILE: write a timeline there */
	double duration;       /* --top --once, --record: seconds to collect (default 1, 5) */
	enum loader_format format; /* --stats --format */
	const char *btf_path;  /* --btf: the kernel's BTF from this file */
	double interval;       /* seconds between statistics */
	double timeout;        /* --stop: seconds to wait for displaced carriers; < 0: forever */
	int grace_policy;      /* --grace: enum gh_scx_grace (0: adaptive) */
	unsigned grace_ns;     /* --grace-ns (0: GH_SCX_GRACE_NS_DFL) */
	int gate;              /* --gate: 0 (auto) or an enum gh_trace_gate, trace mode */
	int grace_timer;       /* --grace-timer: 0 (auto) or an enum gh_trace_grace_timer */
	bool no_head_start;    /* --no-head-start: sched_ext mode without greenhub_presleep */
};

/* A machine report for the start banner and --stats. */
struct loader_features {
	char kernel[128];
	uint64_t bits; /* GH_TRACE_F_* */
};

/* Where every mode's pin folder is: a BPF filesystem (GH_TRACE_PIN_ROOT, GH_SCX_PIN_ROOT). */
#define LOADER_PIN_ROOT "/sys/fs/bpf"

/* Where a mode pins its objects: dir/control, dir/<maps[i]>, dir/<links[i]>. */
struct loader_pins {
	const char *dir;
	const char *const *maps; /* besides the control map */
	size_t nr_maps;
	const char *const *links;
	size_t nr_links;
};

/* A struct loader_pins of two arrays of names. */
#define LOADER_PINS(dir_, maps_, links_)                                                    \
	{ .dir = (dir_), .maps = (maps_), .nr_maps = ARRAY_SIZE(maps_), .links = (links_), \
	  .nr_links = ARRAY_SIZE(links_) }

/*
 * Every mode's control map begins with struct gh_kside_control (greenhub/kside.h): what the
 * loader writes in one it loads, and reads of a pinned one before it knows whose version it
 * is; its hubs map's values begin with struct gh_kside_hub. Each mode's file checks that its
 * types embed them first with LOADER_KSIDE_FIRST, so that a pointer to a map's value is one to
 * the common head too.
 */
#define LOADER_KSIDE_FIRST(type)                                                            \
	_Static_assert(offsetof(type, kside) == 0, #type " does not begin with its kside head")

/* A mode's pinned control, slots and hubs maps, mapped read-only for --stats. */
struct loader_view {
	const void *ctl;
	const void *slots; /* struct gh_hub_slot[GH_MAX_HUBS] */
	const void *hubs;
};

/*
 * One counter or gauge of a mode's map value, for --format openmetrics: a __u64 counter, its
 * name ending in _total, or an __s64 gauge. Each mode lists its own (LOADER_COUNTER,
 * LOADER_GAUGE), so that reporting one more is one line.
 */
struct loader_metric {
	const char *name; /* the whole metric name: greenhub_..._total, greenhub_hub_... */
	const char *help;
	size_t offset; /* in the map's value */
	bool gauge;
};

/* offsetof(type, field), where the field is of type want (__u64 or __s64): else the build fails
 * (an array of size -1). */
#define LOADER_FIELD_IS(type, field, want) \
	__builtin_types_compatible_p(__typeof__(((type *)0)->field), want)
#define LOADER_METRIC_FIELD(type, field, want) \
	(offsetof(type, field) + sizeof(char[LOADER_FIELD_IS(type, field, want) ? 1 : -1]) - 1)
#define LOADER_COUNTER(type, field, name_, help_) \
	{ .name = (name_), .help = (help_), .offset = LOADER_METRIC_FIELD(type, field, __u64) }
#define LOADER_GAUGE(type, field, name_, help_)                                            \
	{ .name = (name_), .help = (help_), .offset = LOADER_METRIC_FIELD(type, field, __s64), \
	  .gauge = true }


/* What a mode reports with --format openmetrics, besides what every mode shares (the hub
 * slots' counters, the attached hubs). */
/* (Both modes' handoff-latency histograms are their common heads', struct gh_kside_control and
 * struct gh_kside_hub, which their control and hub values begin with.) */
struct loader_metrics {
	const struct loader_metric *control; /* fields of its control map */
	size_t nr_control;
	const struct loader_metric *hub; /* fields of a value of its hubs map */
	size_t nr_hub;
	const char *const *states; /* the names of the control map's states, by value */
	size_t nr_states;
};

#define LOADER_METRICS(control_, hub_, states_)                                      \
	{ .control = (control_), .nr_control = ARRAY_SIZE(control_), .hub = (hub_),   \
	  .nr_hub = ARRAY_SIZE(hub_), .states = (states_), .nr_states = ARRAY_SIZE(states_) }

/* The options that set how one mode loads (struct loader_mode.takes); other modes refuse them. */
#define LOADER_TAKES_GRACE 0x1 /* --grace, --grace-ns */
#define LOADER_TAKES_GATE 0x2  /* --gate */
#define LOADER_TAKES_HEAD_START 0x4 /* --no-head-start */
#define LOADER_TAKES_GRACE_TIMER 0x8 /* --grace-timer */

struct loader_mode {
	const char *name;
	enum gh_mode mode;
	unsigned takes;                 /* LOADER_TAKES_* */
	const struct loader_pins *pins; /* where and what the mode pins */
	double poll_interval;           /* seconds between polls while the loader waits */
	/* Its control map: the size of its one value, and the magic and ABI version (struct
	 * gh_kside_control) of this loader's. */
	size_t control_size;
	__u32 magic;
	__u32 abi;
	/* How messages name the mode's ABI version ("trace ABI"); NULL: they tell no versions. */
	const char *abi_name;
	/* What --stop's advice on another version's pins says after "or use --stop --force". */
	const char *force_note;
	size_t hub_size; /* a value of its hubs map */

	/* Add the feature bits (GH_TRACE_F_*) the mode cares about, from the kernel's BTF. */
	void (*scan)(const struct btf *vmlinux, uint64_t *bits);
	/* 0 if this machine can run the mode, else an exit status with a reason in why. */
	int (*probe)(const struct loader_opts *o, const struct loader_features *f, char *why,
		     size_t len);
	/* Say what the mode's pins run, from their control map (of this loader's version): the
	 * loader does not load over it. */
	void (*say_running)(const void *ctl);
	/* open -> set rodata -> load -> attach -> pin. 0, EXIT_UNSUPPORTED with the reason in why
	 * (the kernel refused the programs: the driver reports it, and may try another mode), or
	 * another exit status (message printed). */
	int (*start)(const struct loader_opts *o, const struct loader_features *f, void **state,
		     char *why, size_t len);
	/* Called while the loader waits. 0 while the kernel side runs; -1 when its pins were
	 * removed (the loader then stops it); an exit status once the kernel side died on its own,
	 * after the mode printed why and released everything. */
	int (*poll)(void *state);
	/* drain -> unpin -> detach -> destroy. 0 or an exit status (message printed). */
	int (*stop)(void *state, const struct loader_opts *o);
	/* The same, from the pins alone (the loader that pinned them is gone). */
	int (*stop_pinned)(const struct loader_opts *o);
	/* One report of --stats, from the pins. */
	void (*print_stats)(const struct loader_view *v);
	/* What --stats --format openmetrics reports of the mode's own. */
	const struct loader_metrics *metrics;
};

extern const struct loader_mode loader_mode_scx;
extern const struct loader_mode loader_mode_trace;

/* scx_greenhub.c */

/* Where the loader records why it refused this kernel, for the runtime's mode reason (cleared by
 * a successful load). */
void loader_record_refusal(const char *reason);
void loader_clear_refusal(void);

/* How many of SIGINT, SIGTERM, SIGHUP arrived: a wait in progress should end. */
extern volatile int loader_interrupted;
/* Sleep up to seconds, or until one of those signals arrives (it is counted). */
void loader_sleep(double seconds);

/* Messages: "scx_greenhub: ..." on stderr; info() only on stdout. */
void loader_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void loader_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CLOCK_MONOTONIC ns. */
uint64_t loader_now(void);

/* The first line of a file without its newline; "" if it cannot be read. Returns buf. */
const char *loader_read_line(const char *path, char *buf, size_t len);

bool loader_btf_has_func(const struct btf *btf, const char *name);

/* libbpf_log.c: libbpf's messages, on stderr with -v; kept between keep() and drop() so that
 * a refused load can be explained. */
void loader_libbpf_log_init(bool show);
void loader_libbpf_log_keep(void);
void loader_libbpf_log_drop(void);
/* What refused the last load (err, a -errno), from the kept messages: the verifier's decisive
 * line(s), or libbpf's last message; the errno if nothing was kept. Returns buf. */
const char *loader_libbpf_log_reason(char *buf, size_t len, int err);
/* Load and attach a probe's skeleton (its rodata set): 0, or -errno with "the kernel refused
 * <what>: <reason>" in why. */
int loader_load_attach(struct bpf_object_skeleton *skel, const char *what, char *why,
		       size_t len);

/* timer_probe.c: does a BPF timer started from a context-switch program arm at once
 * (bpf/greenhub_timer_probe.bpf.c)? 0 with the answer in at_once; else -errno with the reason
 * in why. */
int loader_probe_timer_start(const struct loader_opts *o, bool *at_once, char *why, size_t len);

/* pins.c */

/* Map a pinned or loaded array map's values (read-only unless writable). NULL on error. */
void *loader_map_values(int fd, size_t value_size, unsigned entries, bool writable);
/* The same, then close fd (the mapping holds the map): NULL with errno set on error. */
void *loader_map_fd(int fd, size_t value_size, unsigned entries, bool writable);
void loader_unmap_values(const void *p, size_t value_size, unsigned entries);
/* The kernel's id of a loaded control map, which requests name the kernel side by
 * (greenhub/request.h): 0, or -errno with the message printed. */
int loader_control_id(const struct bpf_map *control, __u32 *id);

/*
 * Pin a loaded kernel side in pins->dir: maps[i] as pins->maps[i], then links[i] as
 * pins->links[i] (a NULL link is one the mode did not attach), then the control map last, for
 * the runtime takes a kernel side for loaded once its control map is pinned. 0, or -errno with
 * the message printed and whatever was pinned removed.
 */
int loader_pin_all(const struct loader_pins *pins, struct bpf_map *const maps[],
		   struct bpf_link *const links[], struct bpf_map *control);
/* Pin a loaded program as pins->dir/name, after loader_pin_all (a mode lists its name among
 * pins->links, with no link, so that loader_unpin_all removes it): 0, or -errno, printed. */
int loader_pin_program(const struct loader_pins *pins, const char *name, struct bpf_program *prog);
/* An fd of the object pinned as pins->dir/name, or -1 with errno set. */
int loader_pinned_fd(const struct loader_pins *pins, const char *name);
/* Whether the control map is pinned: its pin goes last, so its absence means the pins were
 * removed. */
bool loader_control_pinned(const struct loader_pins *pins);
/* Remove every pin of a mode, the links first: a link's last reference going detaches its
 * program (for sched_ext mode's struct_ops link, the scheduler). */
void loader_unpin_all(const struct loader_pins *pins);
/*
 * If the scx_greenhub that pinned the objects (loader_pid) still runs, ask it to unload them
 * itself and wait for its control pin to go: 0 once gone, EXIT_BUSY if it has not gone in
 * o->timeout + 5 seconds (message printed), -1 if no such loader runs or it died first.
 */
int loader_stop_live(const struct loader_pins *pins, __u32 loader_pid,
		     const struct loader_opts *o);

/* control.c */

/*
 * What m's pins say before a load: 0 nothing is pinned, else an exit status (message printed):
 * a kernel side of m runs (m's say_running tells), or another version's, or objects of an
 * interrupted load.
 */
int loader_check_pins(const struct loader_mode *m);
/* Fill what m's control map (ctl) begins with, in one just loaded: this loader's magic and
 * versions, the mode, its signal, the loader's pid, the time and the features found. */
void loader_control_init(void *ctl, const struct loader_mode *m, __u32 signo,
			 uint64_t features);
/* Whether a pinned control map c is m's, of this loader's version. */
bool loader_control_ours(const struct loader_mode *m, const struct gh_kside_control *c);
/* "<m's folder> holds objects of another greenhub version", the versions if m tells them, then
 * advice: what to do about it, from ": " on ("" for none). */
void loader_err_foreign(const struct loader_mode *m, const struct gh_kside_control *c,
			const char *advice);
/* "already running: <mode> mode, loaded by pid <pid>", and where to look and how to unload. */
void loader_err_running(const char *mode, __u32 pid, bool stopping);

/*
 * --stop's first steps from m's pins alone. NULL when they are all it takes, with *status the
 * exit status: objects of an interrupted load or, with --force, another version's removed (0),
 * another version's refused, the loader that pinned them asked to unload (loader_stop_live),
 * or an error. Else m's control map, mapped read-write, for m to drain; unmap it after.
 */
void *loader_stop_begin(const struct loader_mode *m, const struct loader_opts *o, int *status);


/*
 * A kernel side to drain, as its mode describes it: the state word the loader sets to draining
 * (handoffs off), and the gauge of displaced carriers it then waits on. The handoff path counts
 * a carrier in the gauge before it reads the state, and the loader stores the state before it
 * reads the gauge: one of the two sees the other, so a gauge read as 0 stays 0.
 */
struct loader_drain {
	__u32 *state;
	__u32 draining;
	const __s64 *nr_displaced;
	/* NULL, or non-zero once the kernel side has exited on its own: nothing is left to wait
	 * for, and the state word is left as the exit wrote it. */
	const __u32 *exited;
	/* NULL, or writes which of hubs (NULL if unknown) have displaced carriers into buf ("" if
	 * it cannot tell), for the progress report. */
	void (*name_hubs)(const void *hubs, char *buf, size_t len);
	const void *hubs;
	/* How the messages go on after "N carrier(s) are still blocked in calls", and what they
	 * say before the advice to run --stop later. */
	const char *busy;
	const char *left;
	/* NULL: the pins stay while a carrier is displaced, --force or not. Else --force removes
	 * them when the wait ends first, and this says why that keeps every gate. */
	const char *forced;
};

/*
 * Unload a kernel side through its control map: turn handoffs off, wait up to o->timeout
 * seconds (a signal ends the wait too) until no carrier is displaced, then remove every pin.
 * 0 once unpinned; EXIT_BUSY if the wait ended first, with everything left in place and the
 * advice to run --stop (again, if the pins were found rather than made by this loader), unless
 * o->force and d->forced: then the pins go all the same (0).
 */
int loader_unload(const struct loader_pins *pins, const struct loader_drain *d,
		  const struct loader_opts *o, bool again);

/* stats.c */

/* Map m's pinned maps for --stats, the control map's version checked first: 0, or an exit
 * status (message printed). loader_view_close() unmaps them. */
int loader_view_open(const struct loader_mode *m, struct loader_view *v);
void loader_view_close(const struct loader_mode *m, struct loader_view *v);
/* The table of attached hubs ("no hub attached" if none): the slots' columns, then the mode's,
 * which heads() and row() print, each ending the line. */
void loader_print_hubs(const struct loader_view *v, void (*heads)(void),
		       void (*row)(const struct loader_view *v, unsigned hub));
/* The upper bound in us of the latency histogram's bucket where the q-quantile falls, 0 if the
 * histogram is empty. Both modes' histograms have nr log2 buckets: under 1 us, 1-2 us, ... */
uint64_t loader_hist_quantile(const __u64 *bucket, unsigned nr, double q);
/* One report of --stats --format openmetrics on stdout: m's counters and gauges, the attached
 * hubs' (labelled hub, pid), the handoff-latency histograms, "# EOF". 0, or the errno of a
 * write that failed. */
int loader_print_metrics(const struct loader_mode *m, const struct loader_view *v);

/* block_names.c */

/* The name of x86-64 system call nr, for the calls a green thread is likely to block in; NULL
 * for the others. */
const char *loader_syscall_name(int nr);
/* The name of a block record's reason (enum gh_block_reason): "-" for GH_BLOCK_HANDED_OFF,
 * "?" for a value this loader does not know. */
const char *loader_block_reason(unsigned reason);

/* records_reader.c: a reader of the block records (the mode's pinned ring buffer `blocks`). */
struct ring_buffer;
struct records_reader {
	const struct loader_mode *m;
	struct gh_kside_control *ctl; /* mapped read-write: the heartbeat */
	struct gh_hub_slot *slots;    /* mapped read-write, for the records flag */
	struct ring_buffer *ring;     /* the records; a reader may add rings of its own */
	uint64_t since_ns;            /* when it attached: records of blocks before are dropped */
};

/* Attach to m's block records, take(ctx, record, size) called for each at a drain: 0, or an
 * exit status (message printed; EXIT_RUNNING: another reader is attached). */
int records_reader_open(struct records_reader *r, const struct loader_mode *m,
			int (*take)(void *ctx, void *data, size_t size), void *ctx);
/* Renew the heartbeat (records go on for GH_RECORDS_HEARTBEAT_NS more) and set the records
 * flag on hubs attached since. */
void records_reader_beat(struct records_reader *r);
/* Consume what the rings hold: 0, or EXIT_FAIL (message printed). */
int records_reader_drain(struct records_reader *r);
/* Detach: the heartbeat and the flags cleared, everything unmapped and freed. */
void records_reader_close(struct records_reader *r);

/* top.c */

/* --top on m's pins: attach to the block records, report every o->interval seconds until a
 * signal (or, with o->once, once after o->duration seconds), detach. 0 or an exit status
 * (message printed). */
int loader_run_top(const struct loader_mode *m, const struct loader_opts *o);

/* record.c */

/* --record on m's pins: record a timeline of every attached hub for o->duration seconds (or
 * until a signal) and write it to o->record_path. 0 or an exit status (message printed). */
int loader_run_record(const struct loader_mode *m, const struct loader_opts *o);

#endif /* GREENHUB_LOADER_H */
