# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# greenhub build. `make help` lists the targets. Quiet by default; V=1 prints full commands.
# Each part of the tree adds its rules in its own fragment (userspace/lib/lib.mk, bpf/bpf.mk,
# tests/tests.mk, bench/core/bench.mk, ...), included below.

VERSION := 0.1.0
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin

# SAN=asan|tsan builds an instrumented copy of everything under its own build folder.
SAN ?=
ifeq ($(SAN),)
BUILD ?= build
else
BUILD ?= build/$(SAN)
endif

CC ?= cc
AR ?= ar
CLANG ?= clang
BPFTOOL ?= bpftool

CFLAGS ?= -O2 -g
GH_CFLAGS := -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	     -Wno-unused-parameter -fno-strict-aliasing -D_GNU_SOURCE -pthread \
	     -Iinclude -Iuserspace/lib
GH_LDFLAGS := -pthread

ifeq ($(SAN),asan)
GH_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
GH_LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SAN),tsan)
GH_CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
GH_LDFLAGS += -fsanitize=thread
else ifneq ($(SAN),)
$(error SAN must be empty, asan or tsan, not '$(SAN)')
endif

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SUFFIXES:
.DEFAULT_GOAL := all

.PHONY: all test check bench demo deps install uninstall clean help

# What one part of the tree builds and others name in their rules:
#   LIBGH_A                    the runtime (userspace/lib), linked into every program on it
#   BPF_BUILD                  BPF objects, skeletons and vmlinux.h (bpf/bpf.mk)
#   LOADER                     scx_greenhub (userspace/loader), which tests and benchmarks load
#   ECHO_SERVER, HTTP_SERVER,  the example servers, which tests/e2e and bench/ drive
#   DBAPI_SERVER
LIBGH_A := $(BUILD)/libgreenhub.a
BPF_BUILD := $(BUILD)/bpf
LOADER := $(BUILD)/scx_greenhub
ECHO_SERVER := $(BUILD)/examples/echo-server
HTTP_SERVER := $(BUILD)/examples/http-server
DBAPI_SERVER := $(BUILD)/examples/dbapi

# Header dependencies. As it compiles an object or a program, the compiler writes the list of
# the headers it read to $@.d (GH_DEPFLAGS); the fragment with the target's rule reads the list
# back with
#     $(eval $(call read_deps,<targets>))
# so that changing a header rebuilds exactly what includes it. A target that exists without its
# list (built by an older Makefile, or its list deleted) is rebuilt, since nothing then says what
# it was built from. Generated headers (BPF skeletons) stay explicit prerequisites of what
# includes them: they must exist before the first compile, when there is no list yet.
GH_DEPFLAGS = -MMD -MP -MF $@.d -MT $@
define read_deps
-include $(wildcard $(addsuffix .d,$(1)))
$(if $(call deps_missing,$(1)),$(call deps_missing,$(1)): FORCE)
endef
deps_missing = $(filter-out $(patsubst %.d,%,$(wildcard $(addsuffix .d,$(1)))),$(wildcard $(1)))
.PHONY: FORCE
FORCE:

# The recipe of every program compiled and linked from its C sources in one step:
#     $(call ccld,<compiler flags>,<what to link>[,<sources>])
# The compiler flags follow GH_CFLAGS and CFLAGS (include folders, -D, a library's flags); what
# to link follows the sources ($(LIBGH_A) first for a program on the runtime, then libraries),
# and GH_LDFLAGS and LDFLAGS come last. The sources are the rule's first prerequisite unless
# given. With several sources, gcc and clang would write only the last one's headers to $@.d, so
# the list is written by a second, preprocessor-only run over all of them.
define ccld
	$(call msg,CCLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(GH_CFLAGS) $(CFLAGS) $(1) $(if $(word 2,$(3)),,$(GH_DEPFLAGS)) $(or $(3),$<) \
		-o $@ $(2) $(GH_LDFLAGS) $(LDFLAGS)
	$(if $(word 2,$(3)),$(Q)$(CC) $(GH_CFLAGS) $(CFLAGS) $(1) -MM -MP -MT $@ $(3) > $@.d)
endef

# The fragments: the library, the kernel side and its loader, then each example, test suite and
# benchmark in its own folder. Make expands targets, prerequisites and := variables as it reads
# them, and there a fragment uses only what this file defines above, plus, for a test suite or a
# benchmark, what tests/tests.mk or bench/bench.mk defines for all of them (they are included
# first for that). Whatever else it takes from another fragment, it uses in recipes and in =
# variables, which make expands only after reading everything. So the order of the fragments
# does not change what is built.
include userspace/lib/lib.mk
include bpf/bpf.mk
include userspace/loader/loader.mk
include $(wildcard examples/*/example.mk)
include tests/tests.mk
include $(wildcard tests/*/suite.mk)
include bench/bench.mk
include $(wildcard bench/*/bench.mk)

# The fragments add their products to ALL_TARGETS and their benchmarks' phony targets to
# BENCH_TARGETS, so these two rules follow the includes.
all: $(ALL_TARGETS)
bench: $(BENCH_TARGETS)

check: test

# The main job: build everything and show a green service riding out blocking calls.
demo: all
	$(Q)examples/demo $(BUILD)

deps:
	$(Q)scripts/install-deps

clean:
	$(call msg,CLEAN,build)
	$(Q)rm -rf build

help:
	@echo 'greenhub $(VERSION) -- targets:'
	@echo '  all (default)   build libgreenhub.a, libgreenhub.so, greenhub.pc, scx_greenhub, examples'
	@echo '  deps            install the Debian packages the build and tests need (needs root)'
	@echo '  demo            build, then run examples/blocking without and with kernel assist'
	@echo '  test            run every test suite this machine can run (SKIPs say why)'
	@echo '  test-unit       the cmocka unit tests'
	@echo '  test-stress     the exclusivity stress checker, bounded (STRESS_SECONDS=n for longer)'
	@echo '  test-asan       unit tests under AddressSanitizer + UBSan'
	@echo '  test-tsan       unit and stress tests under ThreadSanitizer'
	@echo '  test-aarch64    unit tests cross-compiled for aarch64, run under qemu-user'
	@echo '  test-e2e        the example servers, started and driven over loopback'
	@echo '  test-bpf        trace-mode tests on this kernel (root)'
	@echo '  test-tools      the tools beside the loader (tools/), run on fixtures'
	@echo '  test-vm         trace-mode and sched_ext tests in qemu VMs, on a matrix of Debian kernels'
	@echo '                  (one kernel: $(addprefix test-vm-,$(VM_KERNELS)))'
	@echo '  bench           benchmarks; each prints ratios against a comparison run alongside'
	@echo '                  (alone: $(BENCH_TARGETS))'
	@echo '  install         install library, headers, pkg-config file, scx_greenhub and tools (PREFIX=$(PREFIX))'
	@echo '  clean           remove build/'
	@echo 'Variables: V=1 full commands, SAN=asan|tsan instrumented build, PREFIX, CC.'
