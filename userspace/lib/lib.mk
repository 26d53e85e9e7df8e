# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# libgreenhub: static ($(LIBGH_A), named in the Makefile) and shared library, pkg-config file.

LIB_ARCH := $(shell $(CC) -dumpmachine | cut -d- -f1)
LIB_SRCS := $(wildcard userspace/lib/*.c)
LIB_ASM := $(wildcard userspace/lib/arch/*_$(LIB_ARCH).S)
ifeq ($(LIB_ASM),)
$(error no context switch for architecture '$(LIB_ARCH)' (have x86_64 and aarch64))
endif
LIB_OBJS := $(patsubst userspace/lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRCS)) \
	    $(patsubst userspace/lib/%.S,$(BUILD)/lib/%.o,$(LIB_ASM))

LIBGH_SO := $(BUILD)/libgreenhub.so
LIBGH_SONAME := libgreenhub.so.0
LIBGH_PC := $(BUILD)/greenhub.pc
# -fstack-clash-protection: a large frame probes each page, so it faults in the guard below a
# green stack instead of stepping over it (userspace/lib/stack.c).
LIB_CFLAGS = $(GH_CFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -fstack-clash-protection
# The runtime needs no library beyond the C library and the threads flag that GH_LDFLAGS
# carries: programs link $(LIBGH_A) then GH_LDFLAGS (ccld, in the Makefile), and greenhub.pc's
# Libs.private says -pthread. A library it comes to need must be added after $(LIBGH_A) in
# ccld, to the shared library's link below, and to Libs.private.

ALL_TARGETS += $(LIBGH_A) $(LIBGH_SO) $(LIBGH_PC)

$(BUILD)/lib/%.o: userspace/lib/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LIB_CFLAGS) $(GH_DEPFLAGS) -c $< -o $@

$(BUILD)/lib/arch/%.o: userspace/lib/arch/%.S
	$(call msg,AS,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LIB_CFLAGS) $(GH_DEPFLAGS) -c $< -o $@

$(eval $(call read_deps,$(LIB_OBJS)))

$(LIBGH_A): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(LIBGH_SO): $(LIB_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,$(LIBGH_SONAME) -Wl,--no-undefined $(GH_LDFLAGS) $(LDFLAGS) \
		-o $@.$(VERSION) $^
	$(Q)ln -sf $(@F).$(VERSION) $(BUILD)/$(LIBGH_SONAME)
	$(Q)ln -sf $(@F).$(VERSION) $@

$(LIBGH_PC): userspace/lib/greenhub.pc.in Makefile
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBS_PRIVATE@|-pthread|' $< > $@

install: $(LIBGH_A) $(LIBGH_SO) $(LIBGH_PC)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/greenhub
	$(Q)install -m 644 include/greenhub.h $(DESTDIR)$(INCLUDEDIR)/
	$(Q)install -m 644 include/greenhub/*.h $(DESTDIR)$(INCLUDEDIR)/greenhub/
	$(Q)install -m 644 $(LIBGH_A) $(DESTDIR)$(LIBDIR)/
	$(Q)install -m 755 $(LIBGH_SO).$(VERSION) $(DESTDIR)$(LIBDIR)/
	$(Q)ln -sf libgreenhub.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(LIBGH_SONAME)
	$(Q)ln -sf libgreenhub.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgreenhub.so
	$(Q)install -m 644 $(LIBGH_PC) $(DESTDIR)$(LIBDIR)/pkgconfig/

uninstall:
	$(Q)rm -f $(DESTDIR)$(INCLUDEDIR)/greenhub.h $(DESTDIR)$(LIBDIR)/libgreenhub.* \
		$(DESTDIR)$(LIBDIR)/pkgconfig/greenhub.pc
	$(Q)rm -rf $(DESTDIR)$(INCLUDEDIR)/greenhub
