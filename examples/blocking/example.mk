# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# examples/blocking: green threads calling a blocking C function beside a heartbeat.

BLOCKING_BIN := $(BUILD)/examples/blocking

$(BLOCKING_BIN): examples/blocking/blocking.c $(LIBGH_A)
	$(call msg,CCLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(GH_CFLAGS) $(CFLAGS) $< -o $@ $(LIBGH_A) $(GH_LDFLAGS) $(LDFLAGS)

ALL_TARGETS += $(BLOCKING_BIN)
