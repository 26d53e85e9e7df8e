# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# BPF build rules, included by the top-level Makefile (which defines Q, msg, BUILD, BPF_BUILD,
# CLANG and BPFTOOL). Everything lands in $(BPF_BUILD), which is $(BUILD)/bpf/:
#
#   vmlinux.h        the build machine's kernel types, from its BTF
#   <stem>.bpf.o     clang -target bpf, from <stem>.bpf.c in any of BPF_SRC_DIRS
#   <stem>.skel.h    bpftool gen skeleton; the userspace partner includes it by this name
#
# The skeleton embeds the object after a pass through bpftool's static linker (`gen object`),
# which keeps BTF and line info but drops the DWARF that -g also emits: 30 KB instead of
# 660 KB for a small scheduler, whose types reach most of the kernel through task_struct.
#
# Stems must be unique across BPF_SRC_DIRS: the stem names the object, the skeleton and its
# functions (<stem>__open_and_load(), ...). A user object that includes a skeleton depends on
# it, e.g.  $(BUILD)/foo.o: $(BPF_BUILD)/foo.skel.h ; and compiles with $(BPF_SKEL_CFLAGS)
# $(LIBBPF_CFLAGS), links with $(LIBBPF_LIBS).
#
# sched_ext on a kernel without it: the build machine's kernel may lack sched_ext, so its
# vmlinux.h has no sched_ext types. BPF schedulers include bpf/scx_compat.bpf.h, which declares
# what they use. If this vmlinux.h does have sched_ext (a newer build machine), -DGH_VMLINUX_HAS_SCX
# tells that header to take the types from vmlinux.h instead.
#
# Skeletons of struct_ops objects (bpftool 7.5 against libbpf 1.4)
# ------------------------------------------------------------------
# Debian 12's backports ship bpftool 7.5 (built on libbpf 1.5) and libbpf-dev 1.4.6. For a
# struct_ops map declared in SEC(".struct_ops.link"), bpftool 7.5 writes the line
#     map->link = &obj->links.<map>;
# into the skeleton, so that libbpf 1.5's bpf_object__attach_skeleton() attaches the map. libbpf
# 1.4.6's struct bpf_map_skeleton has no `link` member, and the skeleton does not compile.
#
# Chosen: delete that line from the generated skeleton, and attach struct_ops maps explicitly.
# The rest of bpftool 7.5's output is already written for older libbpf (it sizes map entries with
# map_skel_sz = 32 and allocates max(sizeof, 32) for them, which libbpf 1.4 honours), so the
# skeleton is otherwise unchanged: the links.<map> field stays, and the loader does
#     skel->links.<map> = bpf_map__attach_struct_ops(skel->maps.<map>);
#     ...
#     bpf_link__destroy(skel->links.<map>);   /* before <stem>__destroy(): libbpf 1.4's
#                                                skeleton does not own struct_ops links */
# The line is removed only when the installed libbpf.h lacks the member, so the same rules
# produce an untouched skeleton once libbpf >= 1.5 is installed (the loader code above works
# with both: bpf_object__attach_skeleton() is not used for struct_ops). If bpftool's output
# changes so that the removal no longer matches, the build fails with a message rather than
# producing a skeleton that does not compile.
#
# Rejected: skipping skeletons for struct_ops objects (loses the typed rodata/bss access the
# loader needs for its const volatile knobs and counters); building libbpf 1.5 from Debian's
# source package (a second libbpf on the machine, and time in every CI run); bookworm's bpftool
# 7.1 (it opens the object with its own libbpf 1.1, which predates .struct_ops.link).
# See docs/bpf-toolchain.md.

BPF_SRC_DIRS := bpf tests/bpf tests/vm bench/scx
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

# The architecture the programs are compiled for (-D__TARGET_ARCH_<arch>, which tells libbpf's
# bpf_tracing.h how to read registers): this machine's, whose kernel runs them, in the kernel's
# spelling (uname -m says x86_64 for x86, aarch64 for arm64, ...).
ifndef BPF_ARCH
BPF_ARCH := $(shell uname -m | sed -e 's/^x86_64$$/x86/' -e 's/^armv.*/arm/' \
	-e 's/^aarch64.*/arm64/' -e 's/^s390x$$/s390/' -e 's/^ppc.*/powerpc/' -e 's/^mips.*/mips/' \
	-e 's/^riscv.*/riscv/' -e 's/^loongarch.*/loongarch/' -e 's/^sparc64$$/sparc/')
endif
# The programs read x86-64 system-call registers and entry frames (bpf/requests.bpf.h,
# bpf/greenhub_trace.bpf.c) and stop with an #error elsewhere. Every BPF object waits for
# bpf-arch, which on another architecture stops the build once, with one message, first.
BPF_ARCHS := x86

# Debian installs bpftool in /usr/sbin, which an ordinary user's PATH may not contain.
ifeq ($(shell command -v $(BPFTOOL) 2>/dev/null),)
ifneq ($(wildcard /usr/sbin/bpftool),)
BPFTOOL := /usr/sbin/bpftool
endif
endif

LIBBPF_CFLAGS := $(shell pkg-config --cflags libbpf 2>/dev/null)
LIBBPF_LIBS := $(or $(shell pkg-config --libs libbpf 2>/dev/null),-lbpf)
BPF_SKEL_CFLAGS := -I$(BPF_BUILD)

# Where libbpf.h is, to tell whether its map skeleton has a `link` member (see above).
LIBBPF_INCLUDEDIR := $(or $(shell pkg-config --variable=includedir libbpf 2>/dev/null),/usr/include)
LIBBPF_MAP_SKEL_HAS_LINK := $(shell awk '/^struct bpf_map_skeleton \{/,/^\};/' \
	$(LIBBPF_INCLUDEDIR)/bpf/libbpf.h 2>/dev/null | grep -c 'bpf_link \*\*link')

BPF_CFLAGS := -target bpf -g -O2 -mcpu=v3 -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Wno-unused-function \
	      -Wno-missing-declarations -I include -I $(BPF_BUILD) $(LIBBPF_CFLAGS)

vpath %.bpf.c $(BPF_SRC_DIRS)

# libbpf's usdt.bpf.h includes <linux/errno.h>, whose <asm/errno.h> Debian keeps in the
# multiarch folder, which clang -target bpf does not search: the objects with USDT programs
# (the recorder's) get that folder too. Its types are the build machine's, as vmlinux.h's are.
BPF_MULTIARCH_INC := $(addprefix -I/usr/include/,$(shell $(CC) -print-multiarch 2>/dev/null))
$(BPF_BUILD)/greenhub_record.bpf.o: BPF_CFLAGS += $(BPF_MULTIARCH_INC)

# Every scheduler and tracing program under bpf/; `make bpf` builds their skeletons.
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(BPF_BUILD)/%.skel.h,$(wildcard bpf/*.bpf.c))

.PHONY: bpf
bpf: $(BPF_SKELS)

# Objects are intermediate to their skeletons, but kept: the loader may also load them by path.
.PRECIOUS: $(BPF_BUILD)/%.bpf.o

$(BPF_BUILD):
	$(Q)mkdir -p $@

.PHONY: bpf-arch
bpf-arch:
ifeq ($(filter $(BPF_ARCH),$(BPF_ARCHS)),)
	@echo "bpf.mk: the BPF programs are written for $(BPF_ARCHS) (they read x86-64 system-call" \
	      "registers), not for $(BPF_ARCH): build targets that do without them, such as" \
	      "test-unit" >&2
	@exit 1
endif

$(BPF_BUILD)/vmlinux.h: | $(BPF_BUILD)
	$(call msg,GEN,$@)
	$(Q)test -r $(VMLINUX_BTF) || \
		{ echo "bpf.mk: $(VMLINUX_BTF) missing: this kernel has no BTF" >&2; exit 1; }
	$(Q)command -v $(BPFTOOL) >/dev/null || \
		{ echo "bpf.mk: $(BPFTOOL) not found: run 'make deps'" >&2; exit 1; }
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp
	$(Q)mv $@.tmp $@

# Expanded when the recipe runs, after vmlinux.h exists. The task-work field type (6.18) is
# declared by bpf/scx_compat.bpf.h when the build machine's kernel predates it.
BPF_SCX_CFLAGS = $(if $(shell grep -qs 'struct sched_ext_ops {' $(BPF_BUILD)/vmlinux.h && echo y),\
	-DGH_VMLINUX_HAS_SCX) \
	$(if $(shell grep -qs 'struct bpf_task_work {' $(BPF_BUILD)/vmlinux.h && echo y),\
	-DGH_VMLINUX_HAS_TASK_WORK)

$(BPF_BUILD)/%.bpf.o: %.bpf.c $(BPF_BUILD)/vmlinux.h | $(BPF_BUILD) bpf-arch
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(BPF_SCX_CFLAGS) -MMD -MP -MF $(@:.o=.d) -MT $@ -c $< -o $@

$(BPF_BUILD)/%.skel.h: $(BPF_BUILD)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen object $(@:.skel.h=.linked.o) $<
	$(Q)$(BPFTOOL) gen skeleton $(@:.skel.h=.linked.o) name $* > $@.tmp
	$(Q)rm -f $(@:.skel.h=.linked.o)
ifeq ($(LIBBPF_MAP_SKEL_HAS_LINK),0)
	$(Q)sed -i '/^[[:space:]]*map->link = &obj->links\.[A-Za-z0-9_]*;$$/d' $@.tmp
	$(Q)! grep -q 'map->link' $@.tmp || { \
		echo "bpf.mk: $@: bpftool wrote a map->link line that libbpf" \
		     "$$(pkg-config --modversion libbpf) cannot compile, in a form this rule" \
		     "does not know; see docs/bpf-toolchain.md" >&2; \
		exit 1; }
endif
	$(Q)mv $@.tmp $@

-include $(wildcard $(BPF_BUILD)/*.bpf.d)
