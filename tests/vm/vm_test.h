/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract between a VM test binary and the harness (tests/vm/run-vm).
 *
 * A VM test is a program run as root inside the sched_ext VM, one at a time, with its output
 * on the VM console. It reports its result by exit status, and why by its last line of output:
 *
 *   exit 0              PASS
 *   exit 77             SKIP  a requirement is missing; the last line says which
 *   anything else       FAIL  the last line says what went wrong
 *
 * 77 for SKIP is the convention of tests/run-suite (and automake), so a VM test binary reports
 * the same way when run directly on a host. Inside the harness's VM the
 * environment has GH_VM=1: there a missing kernel feature is the harness's fault, so tests call
 * vm_test_require() for requirements the VM kernel is built to meet, which fails instead of
 * skipping there.
 */
#ifndef GREENHUB_VM_TEST_H
#define GREENHUB_VM_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VM_EXIT_PASS 0
#define VM_EXIT_FAIL 1
#define VM_EXIT_SKIP 77

static inline void vm_test_vreport(const char *what, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* Ends the test as FAILed, with the reason as its last line. */
static inline __attribute__((noreturn, format(printf, 1, 2))) void vm_test_fail(const char *fmt,
										  ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_test_vreport("FAIL", fmt, ap);
	va_end(ap);
	exit(VM_EXIT_FAIL);
}

/* Ends the test as SKIPped, with the missing requirement as its last line. */
static inline __attribute__((noreturn, format(printf, 1, 2))) void vm_test_skip(const char *fmt,
										  ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_test_vreport("SKIP", fmt, ap);
	va_end(ap);
	exit(VM_EXIT_SKIP);
}

/* A requirement the harness's VM always meets: SKIP outside the VM, FAIL inside it. */
static inline __attribute__((format(printf, 2, 3))) void vm_test_require(int ok, const char *fmt,
									 ...)
{
	const char *in_vm = getenv("GH_VM");
	va_list ap;

	if (ok)
		return;
	va_start(ap, fmt);
	if (in_vm && in_vm[0] == '1') {
		vm_test_vreport("FAIL", fmt, ap);
		exit(VM_EXIT_FAIL);
	}
	vm_test_vreport("SKIP", fmt, ap);
	exit(VM_EXIT_SKIP);
}

/* Fails the test unless cond holds; the message names the condition and where it is. */
#define VM_CHECK(cond, fmt, ...)                                                               \
	do {                                                                                   \
		if (!(cond))                                                                   \
			vm_test_fail("%s:%d: %s: " fmt, __FILE__, __LINE__, #cond,             \
				     ##__VA_ARGS__);                                           \
	} while (0)

#define VM_SCX_STATE_PATH "/sys/kernel/sched_ext/state"
#define VM_SCX_ROOT_OPS_PATH "/sys/kernel/sched_ext/root/ops"

/* The first line of a (sysfs) file, without its newline; "" if it cannot be read. */
static inline const char *vm_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return buf;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/* Polls /sys/kernel/sched_ext/state until it reads want, for up to timeout_ms; 0 if it did. */
static inline int vm_scx_wait_state(const char *want, int timeout_ms)
{
	char buf[64];

	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		if (strcmp(vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf)), want) == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

#endif /* GREENHUB_VM_TEST_H */
