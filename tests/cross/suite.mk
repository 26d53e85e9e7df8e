# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The aarch64 suite: the library, with its aarch64 context switch (arch/swap.h and
# arch/trampoline_aarch64.S), and every cmocka unit test, cross-compiled with Debian's
# aarch64-linux-gnu-gcc into $(BUILD)/aarch64 and run one by one under qemu-user
# (make test-aarch64; part of make test).
#
# What it needs, all Debian 12 packages (make deps installs them):
#   gcc-aarch64-linux-gnu, libc6-dev-arm64-cross   the cross compiler and C library to link with
#   qemu-user-static                               qemu-aarch64-static
#   dpkg --add-architecture arm64, then libcmocka-dev:arm64
#       cmocka built for arm64. apt brings libcmocka0, libc6, libgcc-s1 and gcc-12-base for
#       arm64 with it, into /usr/lib/aarch64-linux-gnu and /lib/ld-linux-aarch64.so.1, and
#       changes no amd64 package. The cross gcc searches /usr/lib/aarch64-linux-gnu already.
#   Chosen over building cmocka from source (no Debian binary package ships its source, and
#   apt-get source needs deb-src entries) and over unpacking the arm64 .debs into a private
#   folder (the network at test time).
# Without any of them the suite says SKIP and what to install; otherwise PASS or FAIL per test.
#
# The guest runs with the host's root as its root (-L /), so it uses the arm64 C library of
# libc6:arm64 (the current bookworm release). Not -L /usr/aarch64-linux-gnu: under qemu 7.2, a
# dynamically linked program on that older cross C library (2.36-8cross1) spins forever in its
# first pthread_create, and every hub starts a spare carrier thread.
#
# Each test runs under `timeout -s KILL` (AARCH64_TIMEOUT seconds): a guest stuck in a loop does
# not act on SIGTERM, and one hung test must fail the suite rather than hang it. The tests are
# linked with tests/cross/qemu_compat.c, which stands in for system calls qemu 7.2 does not
# emulate (see there); linked in rather than preloaded, so that the host programs a test starts
# (sh) do not inherit an LD_PRELOAD they cannot load.

AARCH64_CROSS ?= aarch64-linux-gnu-
AARCH64_QEMU ?= qemu-aarch64-static
AARCH64_TIMEOUT ?= 300
AARCH64_CMOCKA ?= /usr/lib/aarch64-linux-gnu/libcmocka.so
AARCH64_BUILD := $(BUILD)/aarch64
AARCH64_BINS := $(patsubst tests/unit/%.c,$(AARCH64_BUILD)/tests/%,$(UNIT_SRCS))
AARCH64_COMPAT := $(AARCH64_BUILD)/cross/qemu_compat.o

# The compat object, built by the inner cross make (where $(BUILD) is $(AARCH64_BUILD) and $(CC)
# the cross gcc).
$(BUILD)/cross/qemu_compat.o: tests/cross/qemu_compat.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(GH_CFLAGS) $(CFLAGS) -fPIC $(GH_DEPFLAGS) -c $< -o $@

$(eval $(call read_deps,$(BUILD)/cross/qemu_compat.o))

# Why the suite cannot run here, or nothing. Evaluated only when test-aarch64 runs.
aarch64_no_gcc = $(AARCH64_CROSS)gcc not found: install gcc-aarch64-linux-gnu;
aarch64_no_libc = no aarch64 C library to link with: install libc6-dev-arm64-cross;
aarch64_no_qemu = $(AARCH64_QEMU) not found: install qemu-user-static;
aarch64_no_cmocka = no arm64 cmocka: dpkg --add-architecture arm64, install libcmocka-dev:arm64;
aarch64_missing = $(strip \
	$(if $(shell command -v $(AARCH64_CROSS)gcc 2>/dev/null),,$(aarch64_no_gcc)) \
	$(if $(wildcard /usr/aarch64-linux-gnu/lib/libc.so),,$(aarch64_no_libc)) \
	$(if $(shell command -v $(AARCH64_QEMU) 2>/dev/null),,$(aarch64_no_qemu)) \
	$(if $(wildcard $(AARCH64_CMOCKA)),,$(aarch64_no_cmocka)))

.PHONY: test-aarch64
test-aarch64:
ifeq ($(SAN),)
	$(Q)$(if $(aarch64_missing),why='$(aarch64_missing)'; \
		printf 'aarch64: SKIP (%s)\n' "$${why%;}"; exit 0;) \
	$(MAKE) --no-print-directory BUILD=$(AARCH64_BUILD) CC=$(AARCH64_CROSS)gcc \
		AR=$(AARCH64_CROSS)ar $(AARCH64_COMPAT) && \
	$(MAKE) --no-print-directory BUILD=$(AARCH64_BUILD) CC=$(AARCH64_CROSS)gcc \
		AR=$(AARCH64_CROSS)ar LDFLAGS='$(LDFLAGS) $(AARCH64_COMPAT)' $(AARCH64_BINS) && \
	mkdir -p $(AARCH64_BUILD)/run && \
	for t in $(notdir $(AARCH64_BINS)); do \
		printf '#!/bin/sh\nexec timeout -s KILL %s %s -L / %s "$$@"\n' \
			'$(AARCH64_TIMEOUT)' '$(AARCH64_QEMU)' \
			'$(abspath $(AARCH64_BUILD))/tests/'"$$t" > $(AARCH64_BUILD)/run/$$t && \
		chmod +x $(AARCH64_BUILD)/run/$$t || exit 1; \
	done && \
	tests/run-suite aarch64 $(addprefix $(AARCH64_BUILD)/run/,$(notdir $(AARCH64_BINS)))
else
	@echo 'aarch64: SKIP (not under SAN=$(SAN): the sanitizers run on the host)'
endif

test: test-aarch64
