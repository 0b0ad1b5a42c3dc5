#!/bin/sh
# fetch-vendor.sh - get the pinned third-party sources listed in vendor/VERSIONS,
# check their SHA-256 and extract each one to vendor/NAME/.
#
# Where a tarball comes from, first match wins:
#   1. $VENDOR_TARBALLS/FILE, if VENDOR_TARBALLS names a directory;
#   2. vendor/FILE, left by an earlier run;
#   3. ROOT/POOL for each mirror root in $VENDOR_MIRRORS (space separated,
#      optional), then for each root named by this machine's apt sources
#      (deb822 "URIs:" lines and one-line "deb"/"deb-src" entries).
# A file whose SHA-256 differs from vendor/VERSIONS is never used.
#
# Idempotent: a dependency whose vendor/NAME/.vendor-stamp matches its pin is
# left alone. On success it prints one line per dependency to stderr and
# touches vendor/.fetched (the stamp mk/vendor.mk depends on) when it is
# older than vendor/VERSIONS or this script, or when a source was extracted.
#
# Environment: VENDOR_TARBALLS, VENDOR_MIRRORS, VENDOR_APT_ETC (default
# /etc/apt; for tests).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
vendor=$top/vendor
versions=$vendor/VERSIONS
apt_etc=${VENDOR_APT_ETC:-/etc/apt}
stamp_all=$vendor/.fetched
tmp_dir=
changed=0

say() { printf 'fetch-vendor: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

cleanup() { [ -z "$tmp_dir" ] || rm -rf "$tmp_dir"; }
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

sha256_of() {
	if have sha256sum; then
		sha256sum "$1" | cut -d' ' -f1
	elif have shasum; then
		shasum -a 256 "$1" | cut -d' ' -f1
	elif have openssl; then
		openssl dgst -sha256 -r "$1" | cut -d' ' -f1
	elif have python3; then
		python3 -c 'import hashlib,sys
print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
	else
		die "no SHA-256 tool found (sha256sum, shasum, openssl or python3); install coreutils."
	fi
}

# download URL OUT: exit status 0 only if OUT now holds the whole file.
download() {
	if have curl; then
		curl -fsSL --retry 2 --connect-timeout 15 --max-time 900 -o "$2" "$1"
	elif have wget; then
		wget -q -T 30 -t 2 -O "$2" "$1"
	elif have python3; then
		python3 -c 'import shutil,sys,urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)' "$1" "$2"
	else
		return 1
	fi
}

# Mirror roots, one per line, in the order apt lists them, without duplicates.
mirror_roots() {
	{
		for m in ${VENDOR_MIRRORS:-}; do echo "$m"; done
		for f in "$apt_etc"/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			# deb822: "URIs: a b" (the field may hold several URIs).
			sed -n 's/^[[:space:]]*URIs:[[:space:]]*//p' "$f" | tr '[:blank:]' '\n'
		done
		for f in "$apt_etc"/sources.list "$apt_etc"/sources.list.d/*.list; do
			[ -f "$f" ] || continue
			# one-line: deb [options] URI suite components...
			sed -e 's/#.*//' "$f" |
				sed -n 's/^[[:space:]]*deb\(-src\)\{0,1\}[[:space:]]\{1,\}//p' |
				sed 's/^\[[^]]*\][[:space:]]*//' | awk '{ print $1 }'
		done
	} | sed 's:/*$::' | grep -E '^(https?|ftp|file):/' | awk '!seen[$0]++'
}

# extract TARBALL NAME: unpack into vendor/NAME (replacing it) and stamp it.
extract() {
	tmp_dir=$vendor/.extract-$2.$$
	rm -rf "$tmp_dir"
	mkdir -p "$tmp_dir"
	case $1 in
	*.tar.bz2 | *.tbz2) unz=bzip2 ;;
	*.tar.xz) unz=xz ;;
	*.tar.gz | *.tgz) unz=gzip ;;
	*) die "$1: unknown tarball type (want .tar.gz, .tar.bz2 or .tar.xz)." ;;
	esac
	if have "$unz"; then
		"$unz" -dc "$1" | (cd "$tmp_dir" && tar -xof -)
	elif have python3; then
		python3 -c 'import sys,tarfile
tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$tmp_dir"
	else
		die "$1: cannot decompress it; install $unz."
	fi
	set -- "$1" "$2" "$tmp_dir"/*
	if [ $# -ne 3 ] || [ ! -d "$3" ]; then
		die "$1: expected exactly one top-level directory in the tarball."
	fi
	rm -rf "${vendor:?}/$2"
	mv "$3" "$vendor/$2"
	rm -rf "$tmp_dir"
	tmp_dir=
}

# fetch NAME VERSION FILE POOL SHA256
fetch() {
	name=$1 version=$2 file=$3 pool=$4 sha=$5
	stamp="$name $version $file $sha"
	if [ -f "$vendor/$name/.vendor-stamp" ] &&
		[ "$(cat "$vendor/$name/.vendor-stamp")" = "$stamp" ]; then
		say "$name $version: up to date"
		return 0
	fi

	tarball='' from='' roots=''
	if [ -n "${VENDOR_TARBALLS:-}" ] && [ -f "$VENDOR_TARBALLS/$file" ]; then
		if [ "$(sha256_of "$VENDOR_TARBALLS/$file")" = "$sha" ]; then
			tarball=$VENDOR_TARBALLS/$file from="from $VENDOR_TARBALLS"
		else
			say "$VENDOR_TARBALLS/$file: SHA-256 mismatch, ignored"
		fi
	fi
	if [ -z "$tarball" ] && [ -f "$vendor/$file" ]; then
		if [ "$(sha256_of "$vendor/$file")" = "$sha" ]; then
			tarball=$vendor/$file from="cached in vendor/"
		else
			rm -f "$vendor/$file"
		fi
	fi
	if [ -z "$tarball" ]; then
		roots=$(mirror_roots)
		for root in $roots; do
			# Ubuntu keeps the same source packages under universe/.
			for p in "$pool" $(echo "$pool" | sed -n 's:^pool/main/:pool/universe/:p'); do
				rm -f "$vendor/$file.part"
				download "$root/$p" "$vendor/$file.part" 2>/dev/null || continue
				if [ "$(sha256_of "$vendor/$file.part")" = "$sha" ]; then
					mv "$vendor/$file.part" "$vendor/$file"
					tarball=$vendor/$file from="from $root"
					break 2
				fi
				say "$root/$p: SHA-256 mismatch, ignored"
			done
		done
		rm -f "$vendor/$file.part"
	fi
	[ -n "$tarball" ] ||
		die "cannot get $file (sha256 $sha) from $(echo "$roots" | wc -w) apt mirror root(s): download it from a Debian mirror's $pool (or any copy with that SHA-256) into a directory and rerun with VENDOR_TARBALLS=/that/dir."

	extract "$tarball" "$name"
	echo "$stamp" >"$vendor/$name/.vendor-stamp"
	changed=1
	say "$name $version: ok ($from)"
}

[ -f "$versions" ] || die "$versions is missing."
have tar || die "tar is missing; install it."
sha256_of "$versions" >/dev/null # dies here, not in a $(...), without a tool
while read -r name version file pool sha rest; do
	case $name in '' | '#'*) continue ;; esac
	if [ -z "$sha" ] || [ -n "$rest" ] || [ "${pool##*/}" != "$file" ]; then
		die "vendor/VERSIONS: bad line for '$name' (want: name version file pool sha256)."
	fi
	fetch "$name" "$version" "$file" "$pool" "$sha"
done <"$versions"
# Touched only when needed: everything built from vendor/ depends on it.
if [ "$changed" = 1 ] || [ ! -f "$stamp_all" ] ||
	[ -n "$(find "$versions" "$0" -newer "$stamp_all" 2>/dev/null)" ]; then
	touch "$stamp_all"
fi
