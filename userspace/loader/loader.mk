# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# scx_greenhub ($(LOADER)), the loader of greenhub's kernel side (docs/loader.md). Each mode's
# userspace partner opens the skeleton of the BPF object with the same stem (greenhub_trace.c <->
# bpf/greenhub_trace.bpf.c).

LOADER_SRCS := $(wildcard userspace/loader/*.c)
LOADER_OBJS := $(patsubst userspace/loader/%.c,$(BUILD)/loader/%.o,$(LOADER_SRCS))
LOADER_SKELS := $(BPF_BUILD)/greenhub_trace.skel.h $(BPF_BUILD)/greenhub_scx.skel.h \
		$(BPF_BUILD)/greenhub_probe.skel.h $(BPF_BUILD)/greenhub_record.skel.h \
		$(BPF_BUILD)/greenhub_timer_probe.skel.h
LOADER_CFLAGS = $(GH_CFLAGS) $(CFLAGS) -Iuserspace/loader $(BPF_SKEL_CFLAGS) $(LIBBPF_CFLAGS)

ALL_TARGETS += $(LOADER)

.PHONY: loader
loader: $(LOADER)

# Every object waits for the skeletons: the compiler lists the ones it includes only once it has
# compiled it.
$(BUILD)/loader/%.o: userspace/loader/%.c $(LOADER_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LOADER_CFLAGS) $(GH_DEPFLAGS) -c $< -o $@

$(eval $(call read_deps,$(LOADER_OBJS)))

$(LOADER): $(LOADER_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(GH_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBBPF_LIBS) -lm

# The metrics for node_exporter's textfile collector (docs/loader.md): the script, and the
# systemd units that run it, their ExecStart pointed at BINDIR. Beside them, the renderer of
# recordings (tools/greenhub-trace-svg, docs/observability.md).
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system
METRICS_UNITS := greenhub-metrics.service greenhub-metrics.timer

.PHONY: install-loader uninstall-loader
install-loader: $(LOADER)
	$(call msg,INSTALL,$(DESTDIR)$(BINDIR)/scx_greenhub)
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSTEMD_UNITDIR)
	$(Q)install -m 755 $(LOADER) tools/greenhub-metrics-textfile tools/greenhub-trace-svg \
		$(DESTDIR)$(BINDIR)/
	$(Q)for u in $(METRICS_UNITS); do \
		sed 's|/usr/local/bin/|$(BINDIR)/|' packaging/systemd/$$u \
			>$(DESTDIR)$(SYSTEMD_UNITDIR)/$$u && \
		chmod 644 $(DESTDIR)$(SYSTEMD_UNITDIR)/$$u || exit 1; \
	done

uninstall-loader:
	$(Q)rm -f $(DESTDIR)$(BINDIR)/scx_greenhub $(DESTDIR)$(BINDIR)/greenhub-metrics-textfile \
		$(DESTDIR)$(BINDIR)/greenhub-trace-svg
	$(Q)rm -f $(addprefix $(DESTDIR)$(SYSTEMD_UNITDIR)/,$(METRICS_UNITS))

install: install-loader
uninstall: uninstall-loader
