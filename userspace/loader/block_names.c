// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The names a block record's numbers stand for (include/greenhub/records.h), as every reader of
 * the records prints them: --top (top.c) and --record (record.c).
 */
#include "greenhub/records.h"
#include "loader.h"

/* The x86-64 system calls a green thread is likely to block in (arch/x86/entry/syscalls/
 * syscall_64.tbl); others print as their number. */
static const char *const syscall_names[] = {
	[0] = "read", [1] = "write", [2] = "open", [3] = "close", [4] = "stat", [5] = "fstat",
	[6] = "lstat", [7] = "poll", [8] = "lseek", [9] = "mmap", [10] = "mprotect",
	[11] = "munmap", [12] = "brk", [13] = "rt_sigaction", [14] = "rt_sigprocmask",
	[16] = "ioctl", [17] = "pread64", [18] = "pwrite64", [19] = "readv", [20] = "writev",
	[21] = "access", [22] = "pipe", [23] = "select", [24] = "sched_yield", [25] = "mremap",
	[26] = "msync", [28] = "madvise", [32] = "dup", [33] = "dup2", [34] = "pause",
	[35] = "nanosleep", [40] = "sendfile", [41] = "socket", [42] = "connect", [43] = "accept",
	[44] = "sendto", [45] = "recvfrom", [46] = "sendmsg", [47] = "recvmsg", [48] = "shutdown",
	[49] = "bind", [50] = "listen", [56] = "clone", [57] = "fork", [58] = "vfork",
	[59] = "execve", [61] = "wait4", [62] = "kill", [72] = "fcntl", [73] = "flock",
	[74] = "fsync", [75] = "fdatasync", [76] = "truncate", [77] = "ftruncate",
	[78] = "getdents", [82] = "rename", [83] = "mkdir", [84] = "rmdir", [86] = "link",
	[87] = "unlink", [89] = "readlink", [90] = "chmod", [92] = "chown", [101] = "ptrace",
	[130] = "rt_sigsuspend", [157] = "prctl", [162] = "sync", [200] = "tkill",
	[202] = "futex", [213] = "epoll_create", [217] = "getdents64", [228] = "clock_gettime",
	[230] = "clock_nanosleep", [232] = "epoll_wait", [234] = "tgkill", [247] = "waitid",
	[253] = "inotify_init", [257] = "openat", [262] = "newfstatat", [270] = "pselect6",
	[271] = "ppoll", [275] = "splice", [277] = "sync_file_range", [281] = "epoll_pwait",
	[285] = "fallocate", [288] = "accept4", [290] = "eventfd2", [291] = "epoll_create1",
	[292] = "dup3", [293] = "pipe2", [295] = "preadv", [296] = "pwritev", [299] = "recvmmsg",
	[306] = "syncfs", [307] = "sendmmsg", [318] = "getrandom", [319] = "memfd_create",
	[322] = "execveat", [326] = "copy_file_range", [327] = "preadv2", [328] = "pwritev2",
	[332] = "statx", [426] = "io_uring_enter", [435] = "clone3", [441] = "epoll_pwait2",
	[449] = "futex_waitv", [454] = "futex_wake", [455] = "futex_wait",
};

const char *loader_syscall_name(int nr)
{
	if (nr < 0 || (size_t)nr >= ARRAY_SIZE(syscall_names))
		return NULL;
	return syscall_names[nr];
}

/* Why a block was not handed off; "-" when it was. */
static const char *const reason_names[GH_BLOCK_NR_REASONS] = {
	[GH_BLOCK_HANDED_OFF] = "-",
	[GH_BLOCK_LOOP_SLEEP] = "loop sleep",
	[GH_BLOCK_MASKED] = "gate masked",
	[GH_BLOCK_GATE_UNHANDLED] = "gate unhandled",
	[GH_BLOCK_GATE_FAILED] = "gate failed",
	[GH_BLOCK_REFUSED] = "refused",
	[GH_BLOCK_FAULT_SLEEP] = "fault sleep",
	[GH_BLOCK_SIGRETURN] = "sigreturn",
	[GH_BLOCK_RACE] = "baton race",
	[GH_BLOCK_GRACE] = "grace",
};

const char *loader_block_reason(unsigned reason)
{
	if (reason >= GH_BLOCK_NR_REASONS || !reason_names[reason])
		return "?";
	return reason_names[reason];
}
