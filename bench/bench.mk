# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# What the benchmarks share. The Makefile includes this file before every bench/*/bench.mk, so
# that each of them can use these in its rules whichever of them is read first. Each benchmark
# adds its phony target to BENCH_TARGETS, which `make bench` runs.
#
# The Go side of a comparison is built with the system's go (Debian's golang-go), offline,
# standard library only, with its build cache under $(BUILD), in the environment BENCH_GO_ENV
# (cgo off unless a recipe adds CGO_ENABLED=1 after it). BENCH_HAVE_GO is empty without go: the
# benchmarks that can run without their Go side then leave it out and say why.

GO ?= go
BENCH_HAVE_GO := $(shell command -v $(GO) 2>/dev/null)
BENCH_GO_ENV = GOCACHE=$(abspath $(BUILD))/go/cache GOPATH=$(abspath $(BUILD))/go/path \
	       GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on CGO_ENABLED=0
