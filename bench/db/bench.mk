# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# bench/db: wrk against examples/dbapi on a private mariadbd, in mode none and (as root) trace
# mode, with and without dbapi's yield rule, against a Go database/sql server when Debian's
# go-sql-driver/mysql is installed, and against two eventlet servers (bench/db/eventlet_db.py:
# PyMySQL green, MySQLdb through tpool) when python3-eventlet, python3-pymysql and
# python3-mysqldb are; `make bench-db` (part of `make bench`). DB_CONNS, DB_SECONDS, DB_REPS,
# DB_HUBS, DB_POOL and PYTHON tune it (bench/db/run).

BENCH_DB_DIR := $(BUILD)/bench/db
# Debian's golang-github-go-sql-driver-mysql-dev puts the driver's source under this GOPATH.
BENCH_DB_GOPATH := /usr/share/gocode
BENCH_DB_BINS := $(BENCH_DB_DIR)/dbapi
ifneq ($(and $(BENCH_HAVE_GO),$(wildcard $(BENCH_DB_GOPATH)/src/github.com/go-sql-driver/mysql)),)
BENCH_DB_BINS += $(BENCH_DB_DIR)/db-go
endif

$(BENCH_DB_DIR)/dbapi: $(DBAPI_SERVER)
	$(Q)mkdir -p $(@D)
	$(Q)ln -sf $(abspath $<) $@

# GOPATH mode, offline: the driver comes from the Debian package, nothing is downloaded.
$(BENCH_DB_DIR)/db-go: bench/db/go/main.go
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd bench/db/go && GOCACHE=$(abspath $(BUILD))/go/cache GOPATH=$(BENCH_DB_GOPATH) \
		GO111MODULE=off GOPROXY=off GOFLAGS= CGO_ENABLED=0 $(GO) build -o $(abspath $@) .

.PHONY: bench-db
bench-db: $(BENCH_DB_BINS) $(LOADER)
	$(call msg,BENCH,db)
	$(Q)bench/db/run $(BENCH_DB_DIR) $(LOADER)

BENCH_TARGETS += bench-db
