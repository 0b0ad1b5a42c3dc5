#!/bin/sh
# test.sh - the whole test suite from a clean clone (this is what .ci/run runs).
#
# Installs what the tests need on Debian/Ubuntu (as root), fetches the pinned sources,
# builds the release binary and the ASan+UBSan test build, then runs every suite with
# fuzz-corpus replay and lint (make check). The last line is "N passed, N failed, N skipped".
set -eu
cd "$(dirname "$0")/.."
EXTRA_PKGS="python3 openssl protobuf-compiler cppcheck nodejs npm procps ${EXTRA_PKGS:-}" \
	exec sh tools/build.sh check
