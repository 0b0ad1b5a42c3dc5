#!/bin/sh
# test_agents_sdk.sh -- interop with the OpenAI Agents SDK for JavaScript (@openai/agents-core
# 0.20.0, with its zod peer and its MCP client), installed from npm into build/interop-agents
# once, then agents_client.mjs: strict conversion of every tool, strict-mode calls. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir="$root/build/interop-agents"
V=0.20.0
ZOD_V=4.1.12
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "ok 1 - OpenAI Agents SDK interop # SKIP node/npm not installed"
	exit 0
fi
NPM_DIR="$dir"
. "$here/npm.sh"
if ! npm_installed @openai/agents-core "$V" && ! npm_install "@openai/agents-core@$V" "zod@$ZOD_V"; then
	echo "not ok 1 - npm install @openai/agents-core@$V failed"
	tail -n 20 "$dir/npm.log" | sed 's/^/#   /'
	exit 1
fi
cp "$here/agents_client.mjs" "$dir/agents_client.mjs"
state=$(mktemp -d)
timeout -k 10 300 node "$dir/agents_client.mjs" "${SANDBOX_MCP_BIN:-$root/build/test/sandbox-mcp}" "$state"
rc=$?
rm -rf "$state"
exit $rc
