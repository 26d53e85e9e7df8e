# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# bench/echo: examples/echo against a Go echo server (GOMAXPROCS=1) under the same load
# generator, at 1, 64 and 1024 connections; `make bench-echo` (part of `make bench`).
# The Go side is built as bench/bench.mk says.

BENCH_ECHO_DIR := $(BUILD)/bench/echo

$(BENCH_ECHO_DIR)/echo_load: bench/echo/echo_load.c
	$(call ccld)

$(eval $(call read_deps,$(BENCH_ECHO_DIR)/echo_load))

$(BENCH_ECHO_DIR)/echo-server: $(ECHO_SERVER)
	$(Q)mkdir -p $(@D)
	$(Q)ln -sf $(abspath $<) $@

$(BENCH_ECHO_DIR)/echo-go: bench/echo/go/main.go bench/echo/go/go.mod
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd bench/echo/go && $(BENCH_GO_ENV) $(GO) build -o $(abspath $@) .

.PHONY: bench-echo
bench-echo: $(BENCH_ECHO_DIR)/echo_load $(BENCH_ECHO_DIR)/echo-server $(BENCH_ECHO_DIR)/echo-go
	$(call msg,BENCH,echo)
	$(Q)bench/echo/run $(BENCH_ECHO_DIR)

BENCH_TARGETS += bench-echo
