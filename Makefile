# porthole: one binary, build/porthole, plus unit tests under build/tests/.
#   make            build            make check   build and run every test
#   make SAN=1      AddressSanitizer + UBSan build into build-san/ (make SAN=1 unit)
#   make V=1        show commands    make WERROR=1 warnings are errors (CI)

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -pthread -MMD -MP -D_GNU_SOURCE
LDLIBS  += -lcrypto -lmnl -lseccomp -pthread

ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif
ifeq ($(SAN),1)
BUILD   := build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifneq ($(V),1)
Q = @
E = @echo
else
E = @:
endif

SRCS      := $(wildcard src/*.c)
OBJS      := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB_OBJS  := $(filter-out $(BUILD)/obj/main.o $(BUILD)/obj/cmd_%.o,$(OBJS))
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TESTS     := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

all: $(BUILD)/porthole

$(BUILD)/porthole: $(OBJS)
	$(E) "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
	$(Q)ln -sf porthole $(BUILD)/porthole-wg

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	$(E) "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) | $(BUILD)/tests
	$(E) "  TEST    $@"
	$(Q)$(CC) $(CFLAGS) -Isrc -Itests -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS)

$(BUILD)/obj $(BUILD)/tests:
	$(Q)mkdir -p $@

tests: $(TESTS)

# Unit tests only (fast, no root): each binary prints its own "N passed, N failed".
unit: $(TESTS)
	$(Q)tests/run-unit $(TESTS)

# Everything: unit tests, then the network-namespace integration tests (root).
check: all $(TESTS) $(BUILD)/micro
	$(Q)tests/run-all $(BUILD)

# systemd searches $(PREFIX)/lib/{systemd/system,sysusers.d} for PREFIX=/usr/local and /usr alike;
# the unit's ExecStart follows PREFIX. Afterwards: systemd-sysusers; systemctl daemon-reload.
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
MANDIR      ?= $(PREFIX)/share/man
install: all
	install -D -m 0755 $(BUILD)/porthole $(DESTDIR)$(PREFIX)/bin/porthole
	ln -sf porthole $(DESTDIR)$(PREFIX)/bin/porthole-wg
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)/etc/porthole
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|' systemd/porthole@.service \
		>$(DESTDIR)$(UNITDIR)/porthole@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/porthole@.service
	install -D -m 0644 systemd/porthole.sysusers $(DESTDIR)$(SYSUSERSDIR)/porthole.conf
	install -D -m 0644 man/porthole.8 $(DESTDIR)$(MANDIR)/man8/porthole.8
	install -D -m 0644 man/porthole.conf.5 $(DESTDIR)$(MANDIR)/man5/porthole.conf.5

format:
	clang-format -i src/*.c src/*.h tests/unit/*.c tests/*.h

clean:
	rm -rf build build-san

.PHONY: all tests unit check install format clean
-include $(OBJS:.o=.d) $(TESTS:=.d)

# porthole against wireguard-go + HAProxy in network namespaces (root, ~6 min, not part of check):
# prints the table, writes bench/results/latest.json and docs/performance.md. See bench/README.md.
bench: all
	$(Q)BENCH_COMMAND="make bench" bench/run.sh $(BUILD)/porthole
.PHONY: bench

# The per-packet micro-benchmark (not part of all; check runs its --self-test): fixed work, no
# sockets, a fake clock, for callgrind instruction counts across commits. See bench/README.md.
$(BUILD)/micro: bench/micro.c $(LIB_OBJS)
	$(E) "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -Isrc -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS)
micro: $(BUILD)/micro
.PHONY: micro
-include $(BUILD)/micro.d

# Fuzzing (libFuzzer, clang): make fuzz-build, make fuzz, make fuzz-ci; see fuzz/Makefile.inc.
include fuzz/Makefile.inc
