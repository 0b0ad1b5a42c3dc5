#!/bin/sh
# test.sh - the whole test suite from a clean clone (this is what .ci/run runs).
#
# Installs what the tests need on Debian/Ubuntu (through tools/build.sh: apt, as root or
# with sudo), fetches the pinned sources, builds the release binary and the ASan+UBSan
# test build, then runs every suite with fuzz-corpus replay and lint (make check).
# The last line is "N passed, N failed, N skipped".
set -eu
cd "$(dirname "$0")/.."
extra="procps"
need() {	# command package
	command -v "$1" >/dev/null 2>&1 || extra="$extra $2"
}
need python3 python3
need openssl openssl
need protoc protobuf-compiler
need cppcheck cppcheck
need clang-format clang-format
need node nodejs
need npm npm
need curl curl
EXTRA_PKGS="$extra ${EXTRA_PKGS:-}" exec sh tools/build.sh check
