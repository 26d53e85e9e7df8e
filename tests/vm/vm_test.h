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

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sched_ext_self.h"

#define VM_EXIT_PASS 0
#define VM_EXIT_FAIL 1
#define VM_EXIT_SKIP 77

/* Ends the test with status (VM_EXIT_FAIL or VM_EXIT_SKIP), the reason as its last line. */
static inline __attribute__((noreturn)) void vm_test_vexit(int status, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", status == VM_EXIT_SKIP ? "SKIP" : "FAIL");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	exit(status);
}

static inline __attribute__((noreturn, format(printf, 2, 3))) void vm_test_exit(int status,
										  const char *fmt,
										  ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_test_vexit(status, fmt, ap);
}

/* Ends the test as FAILed, or SKIPped for a missing requirement. */
#define vm_test_fail(...) vm_test_exit(VM_EXIT_FAIL, __VA_ARGS__)
#define vm_test_skip(...) vm_test_exit(VM_EXIT_SKIP, __VA_ARGS__)

/* A requirement the harness's VM always meets: SKIP outside the VM, FAIL inside it. */
static inline __attribute__((format(printf, 2, 3))) void vm_test_require(int ok, const char *fmt,
									 ...)
{
	const char *in_vm = getenv("GH_VM");
	va_list ap;

	if (ok)
		return;
	va_start(ap, fmt);
	vm_test_vexit(in_vm && in_vm[0] == '1' ? VM_EXIT_FAIL : VM_EXIT_SKIP, fmt, ap);
}

/* Fails the test unless cond holds; the message names the condition and where it is. */
#define VM_CHECK(cond, fmt, ...)                                                               \
	do {                                                                                   \
		if (!(cond))                                                                   \
			vm_test_fail("%s:%d: %s: " fmt, __FILE__, __LINE__, #cond,             \
				     ##__VA_ARGS__);                                           \
	} while (0)

#define VM_SCX_STATE_PATH "/sys/kernel/sched_ext/state"

#define SCX_EXIT_UNREG 64  /* the exit kind of a scheduler unregistered from user space */

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

/* Fails the test unless sched_ext reads "disabled" within 5 s (a scheduler just detached). */
static inline void vm_scx_check_disabled(void)
{
	char buf[64];

	VM_CHECK(vm_scx_wait_state("disabled", 5000) == 0, "state is '%s' after detach",
		 vm_read_line(VM_SCX_STATE_PATH, buf, sizeof(buf)));
}

#endif /* GREENHUB_VM_TEST_H */
