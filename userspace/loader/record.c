// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * scx_greenhub --record FILE: a timeline of every hub of the loaded kernel side, for Perfetto
 * (docs/observability.md, recording a timeline).
 *
 * Two sources on one clock (CLOCK_MONOTONIC, bpf_ktime_get_ns()):
 *   - the block records (records_reader.c), which the kernel side writes at each sleep of a
 *     hub's owner: who blocked, in what, how long, handed off or not;
 *   - run events (include/greenhub/runs.h) from the runtime's USDT probes (userspace/lib/
 *     probes.h), which this loader attaches bpf/greenhub_record.bpf.c's programs to, in every
 *     process that holds a hub: which green thread each carrier runs, and when the hub is
 *     handed back. The kernel sees no green switch; only the runtime can tell.
 * The recorder's object is separate from the kernel side's: loading it changes nothing there,
 * and it goes when the recording ends (its links, its ring).
 *
 * Processes are found in the kernel side's hubs map (owner_tgid of each attached slot), at the
 * start and every REC_SCAN_MS after, so that hubs attached during the recording are seen too.
 * A process's probes are in libgreenhub's shared object if it maps one (found in /proc/PID/
 * maps), else in its executable (a static link).
 *
 * Everything is kept in memory and written when the recording ends (its duration, SIGINT,
 * SIGTERM or SIGHUP, or REC_MAX_EVENTS), so that an interrupted recording is a whole file too:
 * the timeline needs the events sorted, and a block's record arrives only at its end.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "greenhub_record.skel.h"
#include "loader.h"
#include "record.h"

/* How often the hubs map is scanned for processes to attach to. */
#define REC_SCAN_MS 100
/* How long the block records are still taken after the recording's end, for the blocks in
 * progress then: a record comes only at its block's end. */
#define REC_TAIL_MS 250
/* The most processes one recording attaches to. */
#define REC_MAX_PROCS 256

static const char *const probe_names[] = { "run", "stop", "hand_back", "resume" };
#define NR_PROBES ARRAY_SIZE(probe_names)

struct attached {
	uint32_t tgid;
	bool failed; /* tried and refused: not tried again */
	struct bpf_link *links[NR_PROBES];
};

struct recorder {
	const struct loader_mode *m;
	struct records_reader rd;
	struct loader_view view; /* the hubs map, for the processes */
	struct greenhub_record *skel;
	struct attached procs[REC_MAX_PROCS];
	size_t nr_procs;
	uint64_t lost_before; /* the kernel side's count of block records lost, as it attached */
	struct recording rec;
};

/* ---------------------------------------------------------------------------------------- */
/* Keeping events                                                                             */

static bool grow(void **p, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 4096;
	void *q;

	if (n < *cap)
		return true;
	q = realloc(*p, c * size);
	if (!q)
		return false;
	*p = q;
	*cap = c;
	return true;
}

static size_t name_slot(uint32_t tgid, uint64_t id, size_t cap)
{
	uint64_t h = (id ^ ((uint64_t)tgid << 40)) * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 20) & (cap - 1);
}

static struct rec_name *name_lookup(const struct recording *rec, uint32_t tgid, uint64_t id)
{
	size_t i;

	if (!rec->cap_names)
		return NULL;
	for (i = name_slot(tgid, id, rec->cap_names);; i = (i + 1) & (rec->cap_names - 1)) {
		struct rec_name *e = &rec->names[i];

		if (!e->id || (e->id == id && e->tgid == tgid))
			return e;
	}
}

const char *rec_name_find(const struct recording *rec, uint32_t tgid, uint64_t id)
{
	const struct rec_name *e = id ? name_lookup(rec, tgid, id) : NULL;

	return e && e->id ? e->name : NULL;
}

/* Keep the name id of tgid runs under (the last one seen wins). */
static bool name_keep(struct recording *rec, uint32_t tgid, uint64_t id, const char *name)
{
	struct rec_name *e;

	if (!id)
		return true;
	if ((rec->nr_names + 1) * 2 > rec->cap_names) {
		size_t cap = rec->cap_names ? rec->cap_names * 2 : 1024;
		struct rec_name *old = rec->names, *n = calloc(cap, sizeof(*n));
		size_t old_cap = rec->cap_names;

		if (!n)
			return false;
		rec->names = n;
		rec->cap_names = cap;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].id)
				*name_lookup(rec, old[i].tgid, old[i].id) = old[i];
		free(old);
	}
	e = name_lookup(rec, tgid, id);
	if (!e->id) {
		e->id = id;
		e->tgid = tgid;
		rec->nr_names++;
	}
	memcpy(e->name, name, sizeof(e->name));
	e->name[sizeof(e->name) - 1] = '\0';
	return true;
}

static bool rec_full(struct recording *rec)
{
	if (rec->nr_runs + rec->nr_blocks < REC_MAX_EVENTS)
		return false;
	rec->full = true;
	return true;
}

/* ring_buffer's callback for the block records. */
static int take_block(void *ctx, void *data, size_t size)
{
	const struct gh_block_record *b = data;
	struct recording *rec = ctx;

	if (size < sizeof(*b) || b->start_ns < rec->since_ns || rec_full(rec) ||
	    (rec->end_ns && b->start_ns >= rec->end_ns))
		return 0;
	if (!grow((void **)&rec->blocks, &rec->cap_blocks, rec->nr_blocks, sizeof(*b))) {
		rec->oom = true;
		return 0;
	}
	rec->blocks[rec->nr_blocks++] = *b;
	return 0;
}

/* ring_buffer's callback for the run events. */
static int take_run(void *ctx, void *data, size_t size)
{
	const struct gh_run_event *e = data;
	struct recording *rec = ctx;

	if (size < sizeof(*e) || e->ts_ns < rec->since_ns || rec_full(rec) ||
	    (rec->end_ns && e->ts_ns >= rec->end_ns))
		return 0;
	if (!grow((void **)&rec->runs, &rec->cap_runs, rec->nr_runs, sizeof(*rec->runs)) ||
	    (e->kind == GH_RUN_START && e->name[0] && !name_keep(rec, e->tgid, e->arg, e->name))) {
		rec->oom = true;
		return 0;
	}
	rec->runs[rec->nr_runs++] = (struct rec_run){ .ts_ns = e->ts_ns, .arg = e->arg,
						      .tgid = e->tgid, .tid = e->tid,
						      .hub = e->hub, .kind = e->kind };
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Attaching to processes                                                                     */

/* Where tgid's probes are: libgreenhub's shared object if it maps one, else its executable.
 * The path as /proc/PID/maps names it, which libbpf looks it up by. 0, or -errno. */
static int probes_binary(uint32_t tgid, char *path, size_t len)
{
	char file[64], line[PATH_MAX + 128];
	FILE *f;
	ssize_t n;

	snprintf(file, sizeof(file), "/proc/%u/maps", tgid);
	f = fopen(file, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/'), *base;

		if (!p)
			continue;
		p[strcspn(p, "\n")] = '\0';
		base = strrchr(p, '/') + 1;
		if (!strncmp(base, "libgreenhub.so", 14) && strlen(p) < len) {
			snprintf(path, len, "%s", p);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	snprintf(file, sizeof(file), "/proc/%u/exe", tgid);
	n = readlink(file, path, len - 1);
	if (n < 0)
		return -errno;
	path[n] = '\0';
	return 0;
}

/* Keep tgid among the processes recorded from now on, with its name. */
static void process_keep(struct recording *rec, uint32_t tgid)
{
	char file[64], comm[32];
	struct rec_process *p;

	if (!grow((void **)&rec->procs, &rec->cap_procs, rec->nr_procs, sizeof(*p))) {
		rec->oom = true;
		return;
	}
	snprintf(file, sizeof(file), "/proc/%u/comm", tgid);
	p = &rec->procs[rec->nr_procs++];
	p->tgid = tgid;
	p->since_ns = loader_now();
	snprintf(p->comm, sizeof(p->comm), "%s", loader_read_line(file, comm, sizeof(comm)));
}

static void detach(struct attached *a)
{
	for (size_t i = 0; i < NR_PROBES; i++) {
		bpf_link__destroy(a->links[i]);
		a->links[i] = NULL;
	}
}

/* Attach the recorder's programs to tgid's probes. A process that cannot be recorded (gone,
 * no probes in its binary) is reported once and left out. */
static void attach_process(struct recorder *r, struct attached *a)
{
	struct bpf_program *progs[NR_PROBES] = { r->skel->progs.on_run, r->skel->progs.on_stop,
						 r->skel->progs.on_hand_back,
						 r->skel->progs.on_resume };
	char path[PATH_MAX];
	int err = probes_binary(a->tgid, path, sizeof(path));

	if (err) {
		if (err != -ENOENT && err != -ESRCH)
			loader_err("process %u: finding its binary in /proc: %s", a->tgid,
				   strerror(-err));
		a->failed = true;
		return;
	}
	for (size_t i = 0; i < NR_PROBES; i++) {
		a->links[i] = bpf_program__attach_usdt(progs[i], (pid_t)a->tgid, path, "greenhub",
						       probe_names[i], NULL);
		if (!a->links[i]) {
			err = errno;
			loader_err("process %u: attaching to the probe greenhub:%s in %s: %s%s",
				   a->tgid, probe_names[i], path, strerror(err),
				   err == ENOENT ? " (libgreenhub built without <sys/sdt.h>?)" : "");
			detach(a);
			a->failed = true;
			return;
		}
	}
	process_keep(&r->rec, a->tgid);
	loader_info("recording process %u (%s)", a->tgid, r->rec.procs[r->rec.nr_procs - 1].comm);
}

/* Attach to every process that holds a hub and is not attached yet. */
static void scan_processes(struct recorder *r)
{
	for (unsigned i = 0; i < GH_MAX_HUBS; i++) {
		const struct gh_kside_hub *h =
			(const void *)((const char *)r->view.hubs + i * r->m->hub_size);
		const struct gh_hub_slot *s = (const struct gh_hub_slot *)r->view.slots + i;
		uint32_t tgid = __atomic_load_n(&h->owner_tgid, __ATOMIC_RELAXED);
		size_t p;

		if (!tgid || !(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & GH_SLOT_F_ACTIVE))
			continue;
		for (p = 0; p < r->nr_procs && r->procs[p].tgid != tgid; p++)
			;
		if (p < r->nr_procs)
			continue;
		if (r->nr_procs == REC_MAX_PROCS) {
			loader_err("more than %d processes hold hubs: the others are not recorded",
				   REC_MAX_PROCS);
			return;
		}
		r->procs[r->nr_procs] = (struct attached){ .tgid = tgid };
		attach_process(r, &r->procs[r->nr_procs++]);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* The recording                                                                              */

static int recorder_open(struct recorder *r, const struct loader_mode *m)
{
	int status, err;

	memset(r, 0, sizeof(*r));
	r->m = m;
	status = loader_view_open(m, &r->view);
	if (status)
		return status;
	r->skel = greenhub_record__open_and_load();
	if (!r->skel) {
		err = errno;
		loader_err("loading the recorder's BPF programs (greenhub_record): %s",
			   strerror(err));
		return err == EPERM || err == EACCES ? EXIT_NOPERM : EXIT_FAIL;
	}
	status = records_reader_open(&r->rd, m, take_block, &r->rec);
	if (status)
		return status;
	err = ring_buffer__add(r->rd.ring, bpf_map__fd(r->skel->maps.runs), take_run, &r->rec);
	if (err) {
		loader_err("ring_buffer__add(runs): %s", strerror(-err));
		return EXIT_FAIL;
	}
	r->rec.since_ns = r->rd.since_ns;
	r->lost_before = __atomic_load_n(&r->rd.ctl->nr_records_lost, __ATOMIC_RELAXED);
	return 0;
}

/* Who runs each hub as the recording ends (struct rec_owner). */
static void owners_note(struct recorder *r)
{
	struct recording *rec = &r->rec;

	rec->owners = calloc(GH_MAX_HUBS, sizeof(*rec->owners));
	if (!rec->owners)
		return;
	for (unsigned i = 0; i < GH_MAX_HUBS; i++) {
		const struct gh_kside_hub *h =
			(const void *)((const char *)r->view.hubs + i * r->m->hub_size);
		__u64 b = __atomic_load_n(&r->rd.slots[i].baton, __ATOMIC_ACQUIRE);

		if (gh_baton_state(b) == GH_BATON_RUN)
			rec->owners[i] = (struct rec_owner){
				.tgid = __atomic_load_n(&h->owner_tgid, __ATOMIC_RELAXED),
				.tid = gh_baton_tid(b) };
	}
}

/* The recording ends here: detach from every process. The block records of blocks that began
 * before are still taken for REC_TAIL_MS (or until a second signal). */
static int recorder_stop(struct recorder *r)
{
	uint64_t tail;
	int status;

	/* The end first: detaching takes a while per probe (tens of ms), and the events of the
	 * probes detached last must not run on past those of the first. */
	owners_note(r);
	r->rec.end_ns = loader_now();
	for (size_t i = 0; i < r->nr_procs; i++)
		detach(&r->procs[i]);
	tail = r->rec.end_ns + REC_TAIL_MS * 1000000ULL;
	do {
		records_reader_beat(&r->rd);
		status = records_reader_drain(&r->rd);
		if (status || loader_interrupted > 1 || loader_now() >= tail)
			break;
		loader_sleep(GH_RUNS_DRAIN_MS / 1000.0);
	} while (loader_control_pinned(r->m->pins));
	return status;
}

static void recorder_close(struct recorder *r)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		detach(&r->procs[i]);
	records_reader_close(&r->rd);
	greenhub_record__destroy(r->skel);
	if (r->view.ctl)
		loader_view_close(r->m, &r->view);
	free(r->rec.runs);
	free(r->rec.blocks);
	free(r->rec.names);
	free(r->rec.procs);
	free(r->rec.owners);
}

/* Record for seconds, or until a signal, the pins going or the events' limit. */
static int collect(struct recorder *r, double seconds)
{
	uint64_t end = loader_now() + (uint64_t)(seconds * 1e9), scanned = 0;
	int status;

	while (!loader_interrupted && !r->rec.full && loader_now() < end) {
		double left = (double)(end - loader_now()) / 1e9;

		if (loader_now() - scanned >= REC_SCAN_MS * 1000000ULL) {
			scan_processes(r);
			scanned = loader_now();
		}
		loader_sleep(left < GH_RUNS_DRAIN_MS / 1000.0 ? left : GH_RUNS_DRAIN_MS / 1000.0);
		if (!loader_control_pinned(r->m->pins))
			break;
		records_reader_beat(&r->rd);
		status = records_reader_drain(&r->rd);
		if (status)
			return status;
	}
	return 0;
}

/* Write the recording to path: 0, or EXIT_FAIL (message printed). */
static int write_file(struct recording *rec, const char *path, size_t *handoffs, size_t *cut)
{
	FILE *f = fopen(path, "we");
	int err;

	if (!f) {
		loader_err("creating %s: %s", path, strerror(errno));
		return EXIT_FAIL;
	}
	err = rec_write_json(rec, f, handoffs, cut);
	if (fclose(f) && !err)
		err = errno;
	if (err) {
		loader_err("writing %s: %s", path, strerror(err));
		return EXIT_FAIL;
	}
	return 0;
}

int loader_run_record(const struct loader_mode *m, const struct loader_opts *o)
{
	struct recorder *r = calloc(1, sizeof(*r));
	uint64_t lost_runs = 0, lost_blocks = 0;
	size_t attached = 0, handoffs = 0, cut = 0;
	int status;
	FILE *f;

	if (!r) {
		loader_err("out of memory");
		return EXIT_FAIL;
	}
	status = recorder_open(r, m);
	/* A file that cannot be written fails before the recording rather than after it. */
	if (!status && !(f = fopen(o->record_path, "we"))) {
		loader_err("creating %s: %s", o->record_path, strerror(errno));
		status = EXIT_FAIL;
	} else if (!status) {
		fclose(f);
	}
	if (!status)
		status = collect(r, o->duration);
	if (!status)
		status = recorder_stop(r);
	if (!status) {
		lost_runs = r->skel->bss->nr_lost;
		lost_blocks = __atomic_load_n(&r->rd.ctl->nr_records_lost, __ATOMIC_RELAXED) -
			      r->lost_before;
		for (size_t i = 0; i < r->nr_procs; i++)
			attached += !r->procs[i].failed;
		records_reader_close(&r->rd);
		status = write_file(&r->rec, o->record_path, &handoffs, &cut);
	}
	if (!status) {
		loader_info("recorded %.1f s of %zu process(es): %zu run event(s), %zu block(s), "
			    "%zu handoff(s) in %s",
			    (double)(r->rec.end_ns - r->rec.since_ns) / 1e9, attached,
			    r->rec.nr_runs, r->rec.nr_blocks, handoffs, o->record_path);
		if (lost_runs || lost_blocks)
			loader_err("lost to full rings: %llu run event(s), %llu block record(s)",
				   (unsigned long long)lost_runs,
				   (unsigned long long)lost_blocks);
		if (cut)
			loader_err("%zu run(s) ended where another carrier's run of their hub began "
				   "(a block record missing, or a return placed early)", cut);
		if (r->rec.full)
			loader_err("stopped at %u events: the recording ends early",
				   REC_MAX_EVENTS);
		if (r->rec.oom)
			loader_err("out of memory: some events are missing");
	}
	recorder_close(r);
	free(r);
	return status;
}
