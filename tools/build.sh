#!/bin/sh
# build.sh - build sandbox-mcp from a clean clone: the one entry point that CI,
# the Dockerfile and a fresh machine use.
#
#   tools/build.sh [make arguments...]     default: make -j2 (the release binary)
#
# 1. On Debian/Ubuntu, apt-get (through sudo when not root) installs whichever build packages are
#    missing (nothing is installed when all are present). Elsewhere it only
#    names what is missing. EXTRA_PKGS adds packages (e.g. for the tests).
# 2. tools/fetch-vendor.sh gets the pinned sources (vendor/VERSIONS).
# 3. make -j"${JOBS:-2}" "$@".
# Running it again does only what is left to do.
set -eu
cd "$(dirname "$0")/.."

pkgs="make gcc libc6-dev musl-tools curl ca-certificates bzip2 xz-utils ${EXTRA_PKGS:-}"

say() { printf 'build.sh: %s\n' "$*" >&2; }

if command -v dpkg-query >/dev/null 2>&1; then
	missing=
	for p in $pkgs; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$' ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		if command -v apt-get >/dev/null 2>&1 &&
		    { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; then
			sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
			say "installing$missing"
			export DEBIAN_FRONTEND=noninteractive
			$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
			# shellcheck disable=SC2086 # one word per package
			$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
				install -y -qq --no-install-recommends $missing >/dev/null
		else
			say "missing packages:$missing (run as root, or: sudo apt-get install$missing)"
		fi
	fi
else
	for c in make cc musl-gcc; do
		command -v "$c" >/dev/null 2>&1 || say "missing command: $c"
	done
fi

sh tools/fetch-vendor.sh
exec make -j"${JOBS:-2}" "$@"
