// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libbpf's messages: shown with -v, and kept while a mode loads its programs so that a load the
 * kernel refuses can be reported by what refused it (the verifier's decisive line, or libbpf's
 * own reason) instead of a bare errno.
 *
 * The verifier's log of a rejected program ends with the instruction it stopped at, the
 * register state there, then one or two lines that say why, then statistics ("processed N
 * insns ..."). The decisive line is the last line before the statistics that is not an
 * instruction, a register state or a source line.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "loader.h"

/* A failed load's log can run to megabytes; the reason is at its end. */
#define LOG_KEEP (256 * 1024)

static bool verbose;
static bool keeping;
static char *kept;
static size_t kept_len;

static void keep(const char *s, size_t n)
{
	if (!kept) {
		kept = malloc(LOG_KEEP);
		if (!kept)
			return;
		kept_len = 0;
	}
	if (n >= LOG_KEEP) {
		s += n - (LOG_KEEP - 1);
		n = LOG_KEEP - 1;
	}
	/* Keep the tail: drop the oldest half when full. */
	if (kept_len + n >= LOG_KEEP) {
		size_t drop = kept_len / 2 + n;

		if (drop > kept_len)
			drop = kept_len;
		memmove(kept, kept + drop, kept_len - drop);
		kept_len -= drop;
	}
	memcpy(kept + kept_len, s, n);
	kept_len += n;
	kept[kept_len] = '\0';
}

static int print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list copy, size;
	char *msg;
	int n;

	va_copy(copy, ap);
	va_copy(size, ap);
	if (verbose)
		vfprintf(stderr, fmt, ap);
	/* A program's whole verifier log comes as one message: format it in full. */
	n = keeping && level <= LIBBPF_INFO ? vsnprintf(NULL, 0, fmt, size) : -1;
	if (n > 0 && (msg = malloc((size_t)n + 1))) {
		vsnprintf(msg, (size_t)n + 1, fmt, copy);
		keep(msg, (size_t)n);
		free(msg);
	}
	va_end(size);
	va_end(copy);
	return 0;
}

void loader_libbpf_log_init(bool show)
{
	verbose = show;
	libbpf_set_print(print);
}

void loader_libbpf_log_keep(void)
{
	keeping = true;
	kept_len = 0;
	if (kept)
		kept[0] = '\0';
}

void loader_libbpf_log_drop(void)
{
	keeping = false;
	free(kept);
	kept = NULL;
	kept_len = 0;
}

/* An instruction, a register state, a source line, a blank line, or libbpf's framing. */
static bool noise(const char *l)
{
	const char *p = l;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == ';' || !strncmp(p, "libbpf:", 7) || !strncmp(p, "-- ", 3) ||
	    !strncmp(p, "processed ", 10) || !strncmp(p, "verification time", 17) ||
	    !strncmp(p, "stack depth", 11) || !strncmp(p, "mark_precise", 12) ||
	    !strncmp(p, "last_idx", 8) || !strncmp(p, "from ", 5) || !strncmp(p, "func#", 5) ||
	    !strncmp(p, "Validating ", 11) || !strncmp(p, "reg type unsupported", 20) ||
	    !strncmp(p, "caller:", 7) || !strncmp(p, "callee:", 7))
		return true;
	/* "12: (85) call ..." or "12: R1=..." */
	if (isdigit((unsigned char)*p)) {
		while (isdigit((unsigned char)*p))
			p++;
		if (*p == ':')
			return true;
	}
	/* "R1=ctx() R10=fp0", "R1_w=..." */
	if (p[0] == 'R' && isdigit((unsigned char)p[1]))
		return true;
	return false;
}

/* The lines libbpf adds to every failed load after the one that says why, and its guess at
 * every EPERM as root (a memlock limit, which kernels since 5.11 no longer charge). */
static bool wrapper(const char *l, size_t n)
{
	static const char *const generic[] = { "failed to load object ",
					       "failed to load BPF skeleton ",
					       "permission error while running as root" };

	for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
		if (n >= strlen(generic[i]) && !strncmp(l, generic[i], strlen(generic[i])))
			return true;
	/* "prog 'x': failed to load: -1", after "prog 'x': BPF program load failed: ..." */
	return n > 6 && !strncmp(l, "prog '", 6) && memmem(l, n, "': failed to load: ", 19);
}

/* No verifier log: libbpf's own last message that says why (a program the kernel refused
 * without a log, as a security module or a lockdown does; a map it could not create; a kfunc it
 * could not find), or "" if there is only the generic wrapping. */
static void last_own_reason(char *buf, size_t len)
{
	const char *end = kept + kept_len;

	while (end > kept) {
		const char *start = end, *l;
		size_t n;

		while (start > kept && start[-1] != '\n')
			start--;
		l = start;
		if (!strncmp(l, "libbpf: ", 8))
			l += 8;
		n = (size_t)(end - l);
		while (n && (l[n - 1] == '\n' || l[n - 1] == ' '))
			n--;
		if (n && !wrapper(l, n)) {
			snprintf(buf, len, "%.*s", (int)n, l);
			return;
		}
		end = start > kept ? start - 1 : kept;
	}
}

/* What the kept messages say refused the load; "" if nothing was kept. */
static const char *kept_reason(char *buf, size_t len)
{
	char *copy, *line, *save = NULL, *last = NULL, *before = NULL;

	buf[0] = '\0';
	if (!kept || !kept_len)
		return buf;
	copy = strdup(kept);
	if (!copy)
		return buf;
	/* The verifier's verdict: inside the last program log, before its statistics. */
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "processed ", 10) || strstr(line, "-- END PROG LOAD LOG --"))
			break;
		if (strstr(line, "-- BEGIN PROG LOAD LOG --"))
			last = before = NULL;
		else if (!noise(line)) {
			before = last;
			last = line;
		}
	}
	if (last) {
		/* A generic last line ("... failed callback verification") names its cause on the
		 * line before. */
		if (before && strstr(last, "failed") && strcmp(before, last))
			snprintf(buf, len, "%s; %s", before, last);
		else
			snprintf(buf, len, "%s", last);
	} else {
		last_own_reason(buf, len);
	}
	free(copy);
	return buf;
}

const char *loader_libbpf_log_reason(char *buf, size_t len, int err)
{
	/* What refused it says more than the errno (EPERM, EACCES, EINVAL). */
	if (!kept_reason(buf, len)[0])
		snprintf(buf, len, "%s", strerror(-err));
	return buf;
}

int loader_load_attach(struct bpf_object_skeleton *skel, const char *what, char *why,
		       size_t len)
{
	int err;

	loader_libbpf_log_keep();
	err = bpf_object__load_skeleton(skel);
	if (!err)
		err = bpf_object__attach_skeleton(skel);
	if (err) {
		char reason[160];

		snprintf(why, len, "the kernel refused %s: %s", what,
			 loader_libbpf_log_reason(reason, sizeof(reason), err));
	}
	loader_libbpf_log_drop();
	return err;
}
