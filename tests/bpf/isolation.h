/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The privilege-dropped worker of the isolation tests, shared by trace mode's
 * (tests/bpf/test_bpf_isolation.c) and sched_ext mode's (tests/vm/test_vm_scx_isolation.c):
 * a process forked from a service's green code drops to nobody, looks for every handle it might
 * have kept on the kernel side, and makes the requests a compromised worker could make, aimed
 * at its parent's hub. Header-only: every function is static.
 */
#ifndef GREENHUB_TEST_ISOLATION_H
#define GREENHUB_TEST_ISOLATION_H

#include <dirent.h>
#include <grp.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "greenhub/request.h"
#include "in_syscall.h"

#define ISO_NOBODY 65534

/* What the worker found, as bits of its exit status. */
enum {
	ISO_NOT_DROPPED = 1, /* setuid did not take */
	ISO_BPF_FD = 2,      /* it holds a descriptor of a BPF object */
	ISO_BPF_MAP = 4,     /* it has a mapping of a BPF map */
	ISO_PIN = 8,         /* it could open a pin */
};

/* A request to the kernel side, made as the runtime makes it. */
static inline void iso_request(__u32 kside, __u32 op, __u32 hub, __u64 cookie)
{
	struct gh_request rq = { .magic = GH_REQ_MAGIC, .abi = GH_REQ_ABI_VERSION, .op = op,
				 .kside = kside, .hub = hub, .cookie = cookie };
	char name[17] = "";

	prctl(PR_GET_NAME, name);
	syscall(SYS_prctl, PR_SET_NAME, name, GH_REQ_MAGIC, &rq, 0);
}

/* Does fd refer to a BPF object (its fdinfo says so)? */
static inline bool iso_bpf_fd(int fd)
{
	char path[64], line[128];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "map_type:", 9) || !strncmp(line, "link_type:", 10) ||
		    !strncmp(line, "prog_type:", 10))
			found = true;
	if (f)
		fclose(f);
	return found;
}

/*
 * The worker, once the test has closed its own views of the maps (a monitoring tool's, not the
 * runtime's): drop privileges, look for every handle on the kernel side (descriptors, mappings,
 * the pins under pin_dir), then make the requests a compromised worker can make, all aimed at
 * its parent's slot with the parent's cookie, which it inherited, and claim a free slot of its
 * own (fine: released when it exits). Its exit status: the ISO_* bits found.
 */
static inline int iso_worker(const char *pin_dir, const char *const *pins, size_t nr_pins,
			     __u32 kside, __u32 parent_slot, __u64 parent_cookie, __u32 free_slot)
{
	char line[512];
	int bad = 0;
	DIR *d;
	FILE *f;

	if (setgroups(0, NULL) || setresgid(ISO_NOBODY, ISO_NOBODY, ISO_NOBODY) ||
	    setresuid(ISO_NOBODY, ISO_NOBODY, ISO_NOBODY) || geteuid() != ISO_NOBODY)
		return ISO_NOT_DROPPED;
	d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.' && iso_bpf_fd(atoi(e->d_name)))
			bad |= ISO_BPF_FD;
	if (d)
		closedir(d);
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "bpf-map") || strstr(line, "bpf_ringbuf"))
			bad |= ISO_BPF_MAP;
	if (f)
		fclose(f);
	for (size_t i = 0; i < nr_pins; i++) {
		union bpf_attr attr;
		char path[128];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", pin_dir, pins[i]);
		memset(&attr, 0, sizeof(attr));
		attr.pathname = (__u64)(unsigned long)path;
		fd = (int)syscall(SYS_bpf, BPF_OBJ_GET, &attr, sizeof(attr));
		if (fd >= 0) {
			bad |= ISO_PIN;
			close(fd);
		}
	}
	iso_request(kside, GH_REQ_JOIN, parent_slot, parent_cookie);
	iso_request(kside, GH_REQ_RELEASE, parent_slot, parent_cookie);
	iso_request(kside, GH_REQ_CLAIM, parent_slot, 42);
	iso_request(kside, GH_REQ_LEAVE, parent_slot, parent_cookie);
	iso_request(kside, GH_REQ_CLAIM, free_slot, 43);
	return bad;
}

#endif /* GREENHUB_TEST_ISOLATION_H */
