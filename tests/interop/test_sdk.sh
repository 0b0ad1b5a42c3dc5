#!/bin/sh
# test_sdk.sh -- interop with the official MCP TypeScript SDK client (npm). Installs the
# pinned SDK into build/interop once (npm registry), then runs sdk_client.mjs. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir="$root/build/interop"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "ok 1 - MCP SDK interop # SKIP node/npm not installed"
	exit 0
fi
if [ ! -d "$dir/node_modules/@modelcontextprotocol/sdk" ]; then
	mkdir -p "$dir"
	(cd "$dir" && { [ -f package.json ] || npm init -y >/dev/null; } &&
	    npm install --no-audit --no-fund --silent @modelcontextprotocol/sdk@1.32.2 >/dev/null 2>&1)
	if [ ! -d "$dir/node_modules/@modelcontextprotocol/sdk" ]; then
		echo "not ok 1 - npm install @modelcontextprotocol/sdk@1.32.2 failed"
		exit 1
	fi
fi
cp "$here/sdk_client.mjs" "$dir/sdk_client.mjs"
state=$(mktemp -d)
node "$dir/sdk_client.mjs" "${SANDBOX_MCP_BIN:-$root/build/test/sandbox-mcp}" "$state"
rc=$?
rm -rf "$state"
exit $rc
