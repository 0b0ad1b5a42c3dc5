#!/usr/bin/env bash
# run.sh -- runs every test suite and prints "N passed, N failed, N skipped" last.
#
# Suites print TAP ("ok N - d", "not ok N - d", "ok N - d # SKIP why"); this script counts
# their lines, shows failures with context, and treats a suite that exits non-zero without
# a failing line (a crash, a sanitizer report) as one more failure.
#
# Environment: RUN_FUZZ_REPLAY=1 replays fuzz corpora; RUN_LINT=1 adds lint;
# RUN_LINT_ONLY=1 runs lint alone; TEST_FILTER=regex runs only matching suites;
# SUITE_TIMEOUT seconds per suite (default 600).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TB="$ROOT/build/test"
export SANDBOX_MCP_BIN="${SANDBOX_MCP_BIN:-$TB/sandbox-mcp}"
export SANDBOX_MCP_RELEASE_BIN="${SANDBOX_MCP_RELEASE_BIN:-$ROOT/build/release/sandbox-mcp}"
export SANDBOX_MCP_TESTBIN="$TB/tests"
export SANDBOX_MCP_ROOT="$ROOT"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export PYTHONDONTWRITEBYTECODE=1
TIMEOUT="${SUITE_TIMEOUT:-600}"
LOGDIR="$ROOT/build/test-logs"
mkdir -p "$LOGDIR"

pass=0 fail=0 skip=0
failed_suites=()

run_suite() {	# name, command...
	local name="$1"; shift
	if [ -n "${TEST_FILTER:-}" ] && ! [[ "$name" =~ $TEST_FILTER ]]; then
		return
	fi
	local log="$LOGDIR/${name//\//_}.log" start end rc p f s
	start=$(date +%s)
	# Sanitizer reports of every process a suite starts (supervisors and sandbox init
	# processes have no stderr of their own) land in $adir and fail the suite.
	local adir="$LOGDIR/asan/${name//\//_}"
	rm -rf "$adir"; mkdir -p "$adir"
	if declare -F "$1" >/dev/null; then
		"$@" >"$log" 2>&1 </dev/null	# a shell function (lint): no timeout(1)
	else
		ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$adir/asan" UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$adir/ubsan" \
			timeout -k 10 "$TIMEOUT" "$@" >"$log" 2>&1 </dev/null
	fi
	rc=$?
	if [ -n "$(ls -A "$adir" 2>/dev/null)" ]; then
		echo "not ok - sanitizer reports from $name:" >>"$log"
		cat "$adir"/* >>"$log"
		rc=1; echo "not ok 9999 - sanitizer report" >>"$log"
	fi
	end=$(date +%s)
	p=$(grep -cE '^ok [0-9]+' "$log" | tr -d ' ')
	s=$(grep -cE '^ok [0-9]+.*# (SKIP|skip)' "$log" | tr -d ' ')
	f=$(grep -cE '^not ok [0-9]+' "$log" | tr -d ' ')
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	printf '%-40s %4d passed %3d failed %3d skipped  %3ds\n' "$name" "$p" "$f" "$s" $((end - start))
	if [ "$f" -ne 0 ]; then
		failed_suites+=("$name")
		echo "---- $name (last 60 lines of $log) ----"
		grep -nE '^not ok|ERROR|Sanitizer|runtime error' "$log" | head -20
		tail -n 60 "$log"
		echo "----"
	fi
}

lint() {
	# Lint: stdout discipline and a few house rules, as TAP.
	local n=0 bad
	n=$((n + 1))
	bad=$(grep -nE '\b(printf|puts|putchar)\s*\(' src --include='*.c' -r | grep -v 'snprintf\|vsnprintf' || true)
	if [ -z "$bad" ]; then echo "ok $n - no printf/puts in src (stdout is the MCP channel)"; else echo "not ok $n - printf/puts in src"; echo "$bad"; fi
	n=$((n + 1))
	bad=$(grep -rnE '^#include "(mcp|tools)/' src/backends src/net 2>/dev/null || true)
	if [ -z "$bad" ]; then echo "ok $n - backends/net never include mcp/ or tools/"; else echo "not ok $n - include against the direction"; echo "$bad"; fi
	n=$((n + 1))
	bad=$(grep -rnE '^#include "(net)/|\.pb\.h"' src/tools 2>/dev/null || true)
	if [ -z "$bad" ]; then echo "ok $n - tools never include net/ or protobuf"; else echo "not ok $n - tools include net/ or .pb.h"; echo "$bad"; fi
	n=$((n + 1))
	bad=$(for f in $(find src -name '*.h' | sort); do head -3 "$f" | grep -q '^/\*' || echo "$f"; done)
	if [ -z "$bad" ]; then echo "ok $n - every header opens with a contract comment"; else echo "not ok $n - headers without a top comment"; echo "$bad"; fi
	n=$((n + 1))
	if ! command -v clang-format >/dev/null; then
		echo "not ok $n - clang-format is not installed (apt-get install clang-format)"
	elif ! clang-format --version | grep -q 'version 14\.'; then
		echo "ok $n - # SKIP the house format is clang-format 14's; this is $(clang-format --version)"
	elif bad=$(make -s fmt-check 2>&1); then
		echo "ok $n - the C sources are in the house format (.clang-format)"
	else
		echo "not ok $n - C sources differ from the house format: run make fmt"
		echo "$bad" | grep -E '^[^ ]+:[0-9]+:[0-9]+: error' | head -20
	fi
	if command -v cppcheck >/dev/null; then
		n=$((n + 1))
		if cppcheck -q --error-exitcode=1 --std=c11 -D_GNU_SOURCE -Isrc --suppress=missingIncludeSystem \
		    --inline-suppr src 2>"$LOGDIR/cppcheck.txt"; then
			echo "ok $n - cppcheck finds no errors"
		else
			echo "not ok $n - cppcheck"; cat "$LOGDIR/cppcheck.txt"
		fi
	fi
	echo "1..$n"
}

if [ -n "${RUN_LINT_ONLY:-}" ]; then
	run_suite lint lint
	echo "$pass passed, $fail failed, $skip skipped"
	[ "$fail" -eq 0 ]; exit
fi

# Unit tests (C, TAP).
for t in "$TB"/tests/test_*; do
	[ -x "$t" ] || continue
	run_suite "unit/$(basename "$t")" "$t"
done

# Script suites: fake-server self-tests, network-stack tests, end-to-end and interop tests.
for t in tests/fake/test_*.py tests/net/test_*.py tests/e2e/test_*.py; do
	[ -f "$t" ] || continue
	run_suite "${t#tests/}" python3 "$t"
done
for t in tests/interop/test_*.sh; do
	[ -f "$t" ] || continue
	run_suite "${t#tests/}" bash "$t"
done

if [ -n "${RUN_FUZZ_REPLAY:-}" ]; then
	for f in "$TB"/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		name=$(basename "$f"); name=${name#fuzz_}
		run_suite "fuzz-replay/$name" "$f" "tests/fuzz/corpus/fuzz_$name"
	done
fi

if [ -n "${RUN_LINT:-}" ]; then
	run_suite lint lint
fi

if [ ${#failed_suites[@]} -gt 0 ]; then
	echo "failed suites: ${failed_suites[*]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
