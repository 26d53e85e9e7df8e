// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * scx_floor COMMAND [ARG]...: run COMMAND with every thread in SCHED_EXT under the scheduler
 * that decides nothing (bench/scx/scx_floor.bpf.c), then unload it. bench/scx/vm-run runs the
 * short-blocks workload in mode none through it: the rate it gets, against mode none's on the
 * fair class in the same round, is what the sched_ext class itself costs that workload, the
 * floor under greenhub's sched_ext mode.
 *
 * The policy is set in the child before exec, so every thread the command starts inherits it.
 * Exit status: the command's; 1 if the scheduler could not be loaded or was ejected meanwhile
 * (the kernel's reason is printed), 2 for a usage error, 126 if SCHED_EXT could not be set,
 * 127 if the command could not be run.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "scx_floor.skel.h"
#include "../../tests/vm/sched_ext_self.h"

#define STATE_PATH "/sys/kernel/sched_ext/state"
#define SCX_EXIT_UNREG 64 /* the exit kind of a scheduler unregistered from user space */

/* The sched_ext state ("disabled", "enabled", ...), or "" if it cannot be read. */
static const char *scx_state(char *buf, size_t len)
{
	FILE *f = fopen(STATE_PATH, "r");

	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
	return buf;
}

static int wait_state(const char *want, int ms)
{
	char buf[64];

	for (int i = 0; i < ms; i++) {
		if (!strcmp(scx_state(buf, sizeof(buf)), want))
			return 0;
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	return -1;
}

static void run_child(char **argv)
{
	int err = vm_set_sched_ext();

	if (err) {
		fprintf(stderr, "scx_floor: sched_setattr(SCHED_EXT): %s\n", strerror(err));
		_exit(126);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "scx_floor: execvp %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int main(int argc, char **argv)
{
	struct scx_floor *skel;
	struct bpf_link *link;
	char buf[64];
	int status, rc;
	pid_t pid;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(argc < 2 ? stderr : stdout,
			"Usage: scx_floor COMMAND [ARG]...\n"
			"Run COMMAND in SCHED_EXT under a sched_ext scheduler that decides nothing.\n");
		return argc < 2 ? 2 : 0;
	}
	if (access(STATE_PATH, R_OK)) {
		fprintf(stderr, "scx_floor: %s: %s (no sched_ext in this kernel)\n", STATE_PATH,
			strerror(errno));
		return 1;
	}
	if (strcmp(scx_state(buf, sizeof(buf)), "disabled")) {
		fprintf(stderr, "scx_floor: sched_ext is '%s': another scheduler is loaded\n", buf);
		return 1;
	}
	skel = scx_floor__open_and_load();
	if (!skel) {
		fprintf(stderr, "scx_floor: scx_floor__open_and_load: %s\n", strerror(errno));
		return 1;
	}
	/* libbpf 1.4's skeleton does not attach struct_ops maps (bpf/bpf.mk): attach it here. */
	link = bpf_map__attach_struct_ops(skel->maps.scx_floor_ops);
	if (!link) {
		fprintf(stderr, "scx_floor: bpf_map__attach_struct_ops: %s\n", strerror(errno));
		scx_floor__destroy(skel);
		return 1;
	}
	if (wait_state("enabled", 5000)) {
		fprintf(stderr, "scx_floor: sched_ext is '%s' 5 s after the attach\n",
			scx_state(buf, sizeof(buf)));
		rc = 1;
		goto out;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "scx_floor: fork: %s\n", strerror(errno));
		rc = 1;
		goto out;
	}
	if (pid == 0)
		run_child(argv + 1);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "scx_floor: waitpid: %s\n", strerror(errno));
			rc = 1;
			goto out;
		}
	}
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
	bpf_link__destroy(link);
	if (skel->bss->exit_kind && skel->bss->exit_kind != SCX_EXIT_UNREG) {
		fprintf(stderr, "scx_floor: the scheduler was ejected (kind %u): %s\n",
			skel->bss->exit_kind, skel->bss->exit_reason);
		rc = 1;
	}
	scx_floor__destroy(skel);
	return rc;
}
