#!/bin/sh
# fuzz.sh SECONDS - runs every libFuzzer target (tests/fuzz/fuzz_*.c) for SECONDS each.
#
# Builds with clang (make FLAVOR=fuzz), starts from the seed corpus in
# tests/fuzz/corpus/<target>/ and grows a working corpus in build/fuzz-corpus/<target>/.
# New crashers land in build/fuzz-crashes/; copy interesting inputs into the seed corpus
# so `make check` replays them from then on.
set -eu
cd "$(dirname "$0")/.."
secs="${1:-60}"
status=0
for src in tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	make --no-print-directory FLAVOR=fuzz "build/fuzz/libfuzzer/$t" >/dev/null
	mkdir -p "build/fuzz-corpus/$t" build/fuzz-crashes
	echo "fuzz.sh: $t for ${secs}s"
	if ! "build/fuzz/libfuzzer/$t" -max_total_time="$secs" -max_len=65536 \
	    -artifact_prefix="build/fuzz-crashes/$t-" "build/fuzz-corpus/$t" \
	    "tests/fuzz/corpus/$t" 2>"build/fuzz-corpus/$t.log"; then
		echo "fuzz.sh: $t FOUND A CRASH; see build/fuzz-corpus/$t.log and build/fuzz-crashes/"
		status=1
	fi
	tail -n 1 "build/fuzz-corpus/$t.log"
done
exit $status
