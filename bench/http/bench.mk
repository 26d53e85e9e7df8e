# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# bench/http: wrk against examples/http and against a Go net/http server with the same
# response, both on one core; `make bench-http` (part of `make bench`). The Go side is built as
# bench/bench.mk says.

BENCH_HTTP_DIR := $(BUILD)/bench/http

$(BENCH_HTTP_DIR)/http-server: $(HTTP_SERVER)
	$(Q)mkdir -p $(@D)
	$(Q)ln -sf $(abspath $<) $@

$(BENCH_HTTP_DIR)/http-go: bench/http/go/main.go bench/http/go/go.mod
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd bench/http/go && $(BENCH_GO_ENV) $(GO) build -o $(abspath $@) .

.PHONY: bench-http
bench-http: $(BENCH_HTTP_DIR)/http-server $(BENCH_HTTP_DIR)/http-go
	$(call msg,BENCH,http)
	$(Q)bench/http/run $(BENCH_HTTP_DIR)

BENCH_TARGETS += bench-http
