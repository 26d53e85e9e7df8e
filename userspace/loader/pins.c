// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The objects every mode keeps in the BPF filesystem: pinning, opening and unpinning them,
 * mapping the values of maps, and handing an unload to the scx_greenhub that pinned them while
 * it still runs.
 *
 * A kernel side outlives the loader that pinned it, so any later scx_greenhub works from the
 * pins alone; both modes pin alike (struct loader_pins), so one copy of this serves them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"

static size_t map_bytes(size_t value_size, unsigned entries)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t bytes = ((value_size + 7) & ~(size_t)7) * entries;

	return (bytes + page - 1) & ~(page - 1);
}

void *loader_map_values(int fd, size_t value_size, unsigned entries, bool writable)
{
	void *p = mmap(NULL, map_bytes(value_size, entries),
		       writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *loader_map_fd(int fd, size_t value_size, unsigned entries, bool writable)
{
	void *p = loader_map_values(fd, value_size, entries, writable);
	int err = errno;

	close(fd);
	errno = err;
	return p;
}

void loader_unmap_values(const void *p, size_t value_size, unsigned entries)
{
	munmap((void *)p, map_bytes(value_size, entries));
}

int loader_control_id(const struct bpf_map *control, __u32 *id)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	int err;

	memset(&info, 0, sizeof(info));
	err = bpf_map_get_info_by_fd(bpf_map__fd(control), &info, &len);
	if (err) {
		loader_err("reading the control map's id: %s", strerror(-err));
		return err;
	}
	*id = info.id;
	return 0;
}

static int pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Pin a map, or else a link, as pins->dir/name: 0, or -errno with the message printed. */
static int pin(const struct loader_pins *pins, const char *name, struct bpf_map *map,
	       struct bpf_link *link)
{
	char path[256];
	int err = pin_path(path, sizeof(path), pins->dir, name);

	if (!err)
		err = map ? bpf_map__pin(map, path) : bpf_link__pin(link, path);
	if (err)
		loader_err("pinning %s/%s: %s", pins->dir, name, strerror(-err));
	return err;
}

int loader_pin_program(const struct loader_pins *pins, const char *name, struct bpf_program *prog)
{
	char path[256];
	int err = pin_path(path, sizeof(path), pins->dir, name);

	if (!err)
		err = bpf_program__pin(prog, path);
	if (err)
		loader_err("pinning %s/%s: %s", pins->dir, name, strerror(-err));
	return err;
}

void loader_unpin_all(const struct loader_pins *pins)
{
	char path[256];

	for (size_t i = 0; i < pins->nr_links; i++)
		if (!pin_path(path, sizeof(path), pins->dir, pins->links[i]))
			unlink(path);
	if (!pin_path(path, sizeof(path), pins->dir, "control"))
		unlink(path);
	for (size_t i = 0; i < pins->nr_maps; i++)
		if (!pin_path(path, sizeof(path), pins->dir, pins->maps[i]))
			unlink(path);
	rmdir(pins->dir);
}

int loader_pin_all(const struct loader_pins *pins, struct bpf_map *const maps[],
		   struct bpf_link *const links[], struct bpf_map *control)
{
	int err = 0;

	if (mkdir(pins->dir, 0700) && errno != EEXIST) {
		err = -errno;
		loader_err("creating %s: %s", pins->dir, strerror(-err));
		return err;
	}
	for (size_t i = 0; !err && i < pins->nr_maps; i++)
		err = pin(pins, pins->maps[i], maps[i], NULL);
	for (size_t i = 0; !err && i < pins->nr_links; i++)
		if (links[i])
			err = pin(pins, pins->links[i], NULL, links[i]);
	if (!err)
		err = pin(pins, "control", control, NULL);
	if (err)
		loader_unpin_all(pins);
	return err;
}

int loader_pinned_fd(const struct loader_pins *pins, const char *name)
{
	char path[256];
	int err = pin_path(path, sizeof(path), pins->dir, name);

	if (err) {
		errno = -err;
		return -1;
	}
	return bpf_obj_get(path);
}

bool loader_control_pinned(const struct loader_pins *pins)
{
	char path[256];

	return !pin_path(path, sizeof(path), pins->dir, "control") && access(path, F_OK) == 0;
}

/* The pid of a live scx_greenhub other than us, or 0. */
static pid_t live_loader(__u32 pid)
{
	char path[64], comm[64];

	if (!pid || (pid_t)pid == getpid())
		return 0;
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	return strcmp(loader_read_line(path, comm, sizeof(comm)), "scx_greenhub") == 0 ? (pid_t)pid
										       : 0;
}

int loader_stop_live(const struct loader_pins *pins, __u32 loader_pid,
		     const struct loader_opts *o)
{
	uint64_t deadline = o->timeout < 0 ? UINT64_MAX :
			    loader_now() + (uint64_t)((o->timeout + 5) * 1e9);
	pid_t pid = live_loader(loader_pid);
	char control[256];

	if (!pid || pin_path(control, sizeof(control), pins->dir, "control"))
		return -1;
	loader_info("asking scx_greenhub (pid %d) to unload", (int)pid);
	if (kill(pid, SIGTERM) < 0)
		return -1;
	while (loader_now() < deadline && !loader_interrupted) {
		if (access(control, F_OK) < 0 && errno == ENOENT)
			return 0;
		if (kill(pid, 0) < 0 && errno == ESRCH)
			break;
		loader_sleep(0.01);
	}
	if (access(control, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return -1; /* it died without unloading */
	loader_err("scx_greenhub (pid %d) has not unloaded yet", (int)pid);
	return EXIT_BUSY;
}
