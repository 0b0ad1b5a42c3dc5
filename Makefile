# sandbox-mcp -- build, test, fuzz, bench.
#
#   make            static release binary ./sandbox-mcp (musl, -static, -Werror)
#   make test       ASan+UBSan build, unit + end-to-end + interop tests
#   make check      test + fuzz-corpus replay + lint (house format included)
#   make fmt        formats src/ and tests/ with .clang-format
#   make fuzz       libFuzzer runs (clang), FUZZ_SECONDS each
#   make bench      prints numbers, never fails on speed
#   make proto      regenerate the committed nanopb code from proto/
#
# Two flavors share one rule set: FLAVOR=release (musl-gcc -static -O2) and FLAVOR=test
# (gcc, sanitizers). Objects go to build/$(FLAVOR)/ so both coexist.

FLAVOR ?= release
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(FLAVOR),release)
CC := musl-gcc
FLAVOR_CFLAGS := -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2
FLAVOR_LDFLAGS := -static -s
else ifeq ($(FLAVOR),test)
CC := gcc
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FLAVOR_CFLAGS := -g -O1 $(SAN)
FLAVOR_LDFLAGS := $(SAN)
else ifeq ($(FLAVOR),fuzz)
CC := clang
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer
FLAVOR_CFLAGS := -g -O1 $(SAN) -fsanitize=fuzzer-no-link -Wno-error
FLAVOR_LDFLAGS := $(SAN)
else
$(error FLAVOR must be release, test or fuzz)
endif

B := build/$(FLAVOR)
WARN := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wformat=2
CFLAGS := -std=c11 -D_GNU_SOURCE $(FLAVOR_CFLAGS) $(WARN) -Isrc -Iproto \
	-DSANDBOX_MCP_VERSION='"$(VERSION)"'
LDLIBS := -lpthread

# Vendor libraries (mbedTLS, nanopb runtime), built per flavor by mk/vendor.mk.
VENDOR_BUILD := $(B)/vendor
VENDOR_CFLAGS := $(FLAVOR_CFLAGS)
include mk/vendor.mk
CFLAGS += $(VENDOR_INCLUDES)

SRC := $(sort $(wildcard src/*.c src/*/*.c src/*/*/*.c src/*/*/*/*.c proto/*.pb.c))
LIB_SRC := $(filter-out src/main.c,$(SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
MAIN_OBJ := $(B)/obj/src/main.o

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
PROG_SRC := $(sort $(wildcard tests/prog/*.c))
PROG_BIN := $(PROG_SRC:tests/prog/%.c=$(B)/tests/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
BENCH_SRC := $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%)

.PHONY: all release test check fuzz bench proto lint fmt fmt-check clean test-build vendor
.DEFAULT_GOAL := all

all:
	@$(MAKE) --no-print-directory FLAVOR=release release

release: $(B)/sandbox-mcp
	cp $(B)/sandbox-mcp sandbox-mcp.new && mv -f sandbox-mcp.new sandbox-mcp	# running supervisors keep the old file

$(B)/sandbox-mcp: $(MAIN_OBJ) $(LIB_OBJ) $(VENDOR_LIBS)
	$(CC) $(FLAVOR_LDFLAGS) -o $@ $(MAIN_OBJ) $(LIB_OBJ) $(VENDOR_LIBS) $(LDLIBS)

$(B)/obj/%.o: %.c $(VENDOR_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/tests/%: tests/unit/%.c $(LIB_OBJ) $(VENDOR_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -Itests/unit -o $@ $< $(LIB_OBJ) $(VENDOR_LIBS) $(FLAVOR_LDFLAGS) $(LDLIBS)

$(B)/tests/%: tests/prog/%.c $(LIB_OBJ) $(VENDOR_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -Itests/unit -o $@ $< $(LIB_OBJ) $(VENDOR_LIBS) $(FLAVOR_LDFLAGS) $(LDLIBS)

$(B)/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.c $(LIB_OBJ) $(VENDOR_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< tests/fuzz/replay.c $(LIB_OBJ) $(VENDOR_LIBS) $(FLAVOR_LDFLAGS) $(LDLIBS)

$(B)/bench/%: tests/bench/%.c $(LIB_OBJ) $(VENDOR_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -Itests/unit -o $@ $< $(LIB_OBJ) $(VENDOR_LIBS) $(FLAVOR_LDFLAGS) $(LDLIBS)

# libFuzzer binaries (FLAVOR=fuzz, clang).
$(B)/libfuzzer/%: tests/fuzz/%.c $(LIB_OBJ) $(VENDOR_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -fsanitize=fuzzer -o $@ $< $(LIB_OBJ) $(VENDOR_LIBS) $(FLAVOR_LDFLAGS) $(LDLIBS)

# Everything the test runner needs, built in the test flavor.
test-build: $(B)/sandbox-mcp $(UNIT_BIN) $(PROG_BIN) $(FUZZ_REPLAY)

test:
	@$(MAKE) --no-print-directory FLAVOR=release release
	@$(MAKE) --no-print-directory FLAVOR=test test-build
	@tests/run.sh

check:
	@$(MAKE) --no-print-directory FLAVOR=release release
	@$(MAKE) --no-print-directory FLAVOR=test test-build
	@RUN_FUZZ_REPLAY=1 RUN_LINT=1 tests/run.sh

# libFuzzer: each target for FUZZ_SECONDS, corpus grown in build/fuzz/corpus/<name>.
FUZZ_SECONDS ?= 60
fuzz:
	@tools/fuzz.sh $(FUZZ_SECONDS)

bench:
	@$(MAKE) --no-print-directory FLAVOR=release release bench-build
	@tools/bench.sh

bench-build: $(BENCH_BIN)

proto:
	@tools/gen-proto.sh

lint:
	@RUN_LINT_ONLY=1 tests/run.sh

# The house format, .clang-format, over our C (not proto/'s generated code, not vendor/).
FMT_FILES = $(shell find src tests -name '*.[ch]' | sort)
fmt:
	clang-format -i $(FMT_FILES)

fmt-check:
	clang-format --dry-run -Werror $(FMT_FILES)

clean:
	rm -rf build sandbox-mcp

-include $(shell find build/$(FLAVOR)/obj -name '*.d' 2>/dev/null)
