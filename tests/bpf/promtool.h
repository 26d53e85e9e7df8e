/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `promtool check metrics`, for the tests that check scx_greenhub's metrics text
 * (--stats --format openmetrics). promtool is in Debian's prometheus package, which
 * `make deps` installs; where it is not, those tests skip with NO_PROMTOOL.
 */
#ifndef GREENHUB_TESTS_PROMTOOL_H
#define GREENHUB_TESTS_PROMTOOL_H

#include "bpf_test.h"

#define NO_PROMTOOL \
	"promtool is not installed (Debian's prometheus package; `make deps` installs it)"

/* promtool's path (from PATH), or NULL if it is not installed. */
static inline const char *promtool_path(void)
{
	static char path[512];
	const char *dirs = getenv("PATH");

	if (!dirs || !*dirs)
		dirs = "/usr/local/bin:/usr/bin:/bin";
	while (*dirs) {
		size_t len = strcspn(dirs, ":");

		snprintf(path, sizeof(path), "%.*s/promtool", (int)len, dirs);
		if (len && access(path, X_OK) == 0)
			return path;
		dirs += len + (dirs[len] == ':');
	}
	return NULL;
}

/* The file promtool reads on stdin (bt_spawn's setup takes no argument). */
static const char *promtool_input;

/* In the child, before exec: stdin from promtool_input. */
static inline void promtool_stdin(void)
{
	int fd = open(promtool_input, O_RDONLY);

	if (fd < 0 || dup2(fd, 0) < 0)
		_exit(125);
}

/* `promtool check metrics < path`: its exit status (0: accepted), what it said into out. */
static inline int promtool_check_metrics(const char *promtool, const char *path, char *out,
					 size_t len)
{
	const char *const argv[] = { promtool, "check", "metrics", NULL };

	promtool_input = path;
	return bt_run_ex(-1, promtool_stdin, argv, out, len, 30000);
}

#endif /* GREENHUB_TESTS_PROMTOOL_H */
