# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The exclusivity stress checker: bounded in `make test`, longer with STRESS_SECONDS=n.

STRESS_SECONDS ?= 4

$(STRESS_BIN): tests/stress/stress.c $(LIBGH_A)
	$(call ccld,,$(LIBGH_A))

$(eval $(call read_deps,$(STRESS_BIN)))

.PHONY: test-stress
test-stress: $(STRESS_BIN)
	$(Q)SUITE_ARGS="--seconds $(STRESS_SECONDS)" SUITE_VERBOSE=1 tests/run-suite stress $(STRESS_BIN)
	$(Q)if $(STRESS_BIN) --seconds 1 --hubs 1 --threads 20 --inject-violation >/dev/null 2>&1; \
	then echo 'stress: the checker missed an injected violation'; exit 1; \
	else echo 'stress: an injected violation was caught'; fi

TSAN_EXTRA_TARGETS += test-stress
test: test-stress
