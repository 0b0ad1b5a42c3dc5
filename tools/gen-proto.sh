#!/bin/sh
# gen-proto.sh -- regenerate the committed nanopb code proto/*.pb.{c,h} from proto/*.proto
# and proto/*.options (`make proto`).
#
# Needs: protoc (Debian: protobuf-compiler), the vendored nanopb generator
# (vendor/nanopb/generator, fetched by tools/fetch-vendor.sh) and a Python 3 that can
# `import google.protobuf` (Debian: python3-protobuf). A pyenv/venv python3 on PATH often
# lacks that module, so /usr/bin/python3 is tried first; set PYTHON to choose another.
# The output carries no timestamps or paths, so running this twice gives the same bytes.
set -eu
cd "$(dirname "$0")/.."

GEN=vendor/nanopb/generator/nanopb_generator.py
[ -f "$GEN" ] || { echo "gen-proto: $GEN missing; run tools/fetch-vendor.sh first" >&2; exit 1; }
command -v protoc >/dev/null || { echo "gen-proto: protoc not found; apt-get install protobuf-compiler" >&2; exit 1; }

py=""
for cand in ${PYTHON:-} /usr/bin/python3 python3; do
	if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import google.protobuf' 2>/dev/null; then
		py=$cand
		break
	fi
done
if [ -z "$py" ]; then
	echo "gen-proto: no python3 with the protobuf module; apt-get install python3-protobuf" >&2
	exit 1
fi

# timestamp.proto first: filesystem.proto imports it.
PROTOS="timestamp.proto process.proto filesystem.proto"
cd proto
# shellcheck disable=SC2086
"$py" "../$GEN" --quiet -I . -D . $PROTOS
for p in $PROTOS; do
	b=${p%.proto}
	[ -s "$b.pb.c" ] && [ -s "$b.pb.h" ] || { echo "gen-proto: $b.pb.[ch] not written" >&2; exit 1; }
done
echo "gen-proto: regenerated $(echo "$PROTOS" | sed 's/\.proto/.pb.{c,h}/g') in proto/"
