# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The tools beside the loader (tools/), and the timeline checker the bpf tests run
# (tests/bpf/check_timeline.py): `make test-tools`, part of `make test`. Each test is a python3
# script that runs its tool as a command, on fixtures kept beside it or written by the test;
# nothing is built and nothing needs root.

TOOLS_TESTS := $(wildcard tests/tools/test_*.py)

.PHONY: test-tools
test-tools:
	$(Q)tests/run-suite tools $(TOOLS_TESTS)

test: test-tools
