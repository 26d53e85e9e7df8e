// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench/handoff: how long from a green thread's block until the next green thread runs on a
 * spare carrier? Measured as bench/common/handoff_latency.h describes: from right before the
 * blocking read(2) to the next green thread's first instruction, the event bench/handoff/go
 * measures in Go (with the futex wake as a raw system call there too).
 *
 *   gh_handoff trace [rounds]    the read is unmarked; trace mode (scx_greenhub loaded)
 *   gh_handoff region [rounds]   the read is marked with GH_BLOCKING; mode none's sysmon
 *
 * Prints one line: variant, p50/p99/max in microseconds, rounds.
 */
#include "../common/handoff_latency.h"

int main(int argc, char **argv)
{
	struct hl_opts o = { .prog = "gh_handoff", .rounds = 5000, .warmup = 100 };

	if (argc < 2 || (strcmp(argv[1], "trace") && strcmp(argv[1], "region"))) {
		fprintf(stderr, "usage: gh_handoff trace|region [rounds]\n");
		return 2;
	}
	o.marked = !strcmp(argv[1], "region");
	o.mode = o.marked ? GH_MODE_NONE : GH_MODE_TRACE;
	if (argc > 2)
		o.rounds = (unsigned)strtoul(argv[2], NULL, 10);
	if (hl_measure(&o))
		return 1;
	printf("gh-%s ", argv[1]);
	hl_print();
	printf("\n");
	return 0;
}
