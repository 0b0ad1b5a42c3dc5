#!/bin/sh
# test_conformance.sh -- the official MCP conformance suite (@modelcontextprotocol/conformance)
# against sandbox-mcp: the server scenarios that apply to a tool server without the suite's
# fixture tools, in both protocol eras. Installs pinned packages from npm into
# build/interop-conformance once, then runs conformance_run.mjs (TAP; see its header for
# the two HTTP bridges and the not-applicable checks).
#   conformance 0.1.13        newest release that runs on Node 20 (legacy era)
#   conformance 0.2.0-alpha.12 (npm alias conformance-next) 2025-11-25 and 2026-07-28
#                             scenarios; needs Node >= 22, fetched from npm as the plain
#                             node-<os>-<arch> binary package when the system node is older
#   mcp-proxy 6.7.19          the stdio <-> Streamable HTTP bridge the suite is usually run with
# Skipped only when node/npm are missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir="$root/build/interop-conformance"
PROXY_V=6.7.19
CONF_V=0.1.13
CONF_NEXT_V=0.2.0-alpha.12
NODE22_V=22.23.3

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "ok 1 - MCP conformance suite # SKIP node/npm not installed"
	exit 0
fi

NPM_DIR="$dir"
. "$here/npm.sh"

if ! npm_installed mcp-proxy "$PROXY_V" || ! npm_installed @modelcontextprotocol/conformance "$CONF_V"; then
	if ! npm_install "mcp-proxy@$PROXY_V" "@modelcontextprotocol/conformance@$CONF_V"; then
		echo "not ok 1 - npm install mcp-proxy@$PROXY_V @modelcontextprotocol/conformance@$CONF_V failed"
		tail -n 20 "$dir/npm.log" | sed 's/^/#   /'
		exit 1
	fi
fi

# A node >= 22 for the 0.2 alphas (they import fs.globSync).
modern_node=$(npm_node 22 0 "$NODE22_V")
modern_err=
[ -n "$modern_node" ] || modern_err="no Node >= 22: npm install node-<os>-<arch>@$NODE22_V failed or it does not run here (see $dir/npm.log)"
if [ -n "$modern_node" ] && ! npm_installed conformance-next "$CONF_NEXT_V"; then
	if ! npm_install "conformance-next@npm:@modelcontextprotocol/conformance@$CONF_NEXT_V"; then
		modern_node=
		modern_err="npm install @modelcontextprotocol/conformance@$CONF_NEXT_V failed (see $dir/npm.log)"
	fi
fi

state=$(mktemp -d)
SANDBOX_MCP_BIN="${SANDBOX_MCP_BIN:-$root/build/test/sandbox-mcp}" CONF_DIR="$dir" CONF_STATE="$state" \
    CONF_OUT="$dir/results" CONF_NODE_MODERN="$modern_node" CONF_MODERN_ERR="$modern_err" \
    node "$here/conformance_run.mjs"
rc=$?
rm -rf "$state"
exit $rc
