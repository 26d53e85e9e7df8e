# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# examples/blocking: green threads calling a blocking C function beside a heartbeat.

BLOCKING_BIN := $(BUILD)/examples/blocking

$(BLOCKING_BIN): examples/blocking/blocking.c $(LIBGH_A)
	$(call ccld,,$(LIBGH_A))

$(eval $(call read_deps,$(BLOCKING_BIN)))

ALL_TARGETS += $(BLOCKING_BIN)
