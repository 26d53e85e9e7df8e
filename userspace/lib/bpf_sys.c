// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The few bpf(2) commands the kernel-assisted backends use on the loader's pinned maps, called
 * directly so that libgreenhub does not link libbpf, plus mapping a BPF_F_MMAPABLE array.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

int gh__bpf_sys(int cmd, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int gh__bpf_obj_get(const char *path)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.pathname = (__u64)(unsigned long)path;
	return gh__bpf_sys(BPF_OBJ_GET, &attr);
}

int gh__bpf_prog_run(int fd, void *ctx, __u32 ctx_size, int *retval)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.test.prog_fd = (__u32)fd;
	attr.test.ctx_in = (__u64)(unsigned long)ctx;
	attr.test.ctx_size_in = ctx_size;
	if (gh__bpf_sys(BPF_PROG_TEST_RUN, &attr) < 0)
		return -errno;
	*retval = (int)attr.test.retval;
	return 0;
}

int gh__bpf_ringbuf_create(unsigned bytes)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_RINGBUF;
	attr.max_entries = bytes;
	return gh__bpf_sys(BPF_MAP_CREATE, &attr);
}

int gh__bpf_map_id(int fd, __u32 *id)
{
	struct bpf_map_info info;
	union bpf_attr attr;

	memset(&info, 0, sizeof(info));
	memset(&attr, 0, sizeof(attr));
	attr.info.bpf_fd = (__u32)fd;
	attr.info.info_len = sizeof(info);
	attr.info.info = (__u64)(unsigned long)&info;
	if (gh__bpf_sys(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0)
		return -errno;
	*id = info.id;
	return 0;
}

int gh__bpf_map_update(int fd, const void *key, const void *value, __u64 flags)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (__u32)fd;
	attr.key = (__u64)(unsigned long)key;
	attr.value = (__u64)(unsigned long)value;
	attr.flags = flags;
	return gh__bpf_sys(BPF_MAP_UPDATE_ELEM, &attr) < 0 ? -errno : 0;
}

size_t gh__bpf_map_bytes(size_t value_size, unsigned entries)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t bytes = ((value_size + 7) & ~(size_t)7) * entries;

	return (bytes + page - 1) & ~(page - 1);
}

void *gh__bpf_map_values(int fd, size_t value_size, unsigned entries, int prot)
{
	void *p = mmap(NULL, gh__bpf_map_bytes(value_size, entries), prot, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}
