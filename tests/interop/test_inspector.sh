#!/bin/sh
# test_inspector.sh -- interop with the MCP Inspector CLI, installed from npm once:
#   @modelcontextprotocol/inspector-cli 1.0.3 (the v1 CLI that runs on Node 20) into
#     build/interop-inspector: list, call, errors, log level;
#   @modelcontextprotocol/inspector 2.12.0 (needs Node >= 22.19, fetched from npm as the
#     plain node-<os>-<arch> binary package when the system node is older) into
#     build/interop-inspector2: `tools/list --strict`, its tool-schema portability report,
#     must find nothing for any backend (and does find a schema made to fail).
# Each step starts the server over stdio via a --config file (so our flags are never
# taken for the Inspector's), checks the JSON it prints, and is bounded by a timeout. TAP.
# The v1 CLI resolves ../package.json from the current directory, so it runs from run/.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir="$root/build/interop-inspector"
V=1.0.3
bin="${SANDBOX_MCP_BIN:-$root/build/test/sandbox-mcp}"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "ok 1 - MCP Inspector CLI interop # SKIP node/npm not installed"
	exit 0
fi
NPM_DIR="$dir"
. "$here/npm.sh"
if ! npm_installed @modelcontextprotocol/inspector-cli "$V" &&
    ! npm_install "@modelcontextprotocol/inspector-cli@$V"; then
	echo "not ok 1 - npm install @modelcontextprotocol/inspector-cli@$V failed"
	tail -n 20 "$dir/npm.log" | sed 's/^/#   /'
	exit 1
fi

state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$dir/run"
node -e 'console.log(JSON.stringify({ mcpServers: { sbx: { command: process.argv[1],
    args: ["--local-root", process.argv[2]] } } }))' "$bin" "$state/root" >"$state/mcp.json"

n=0 failed=0
inspect() {	# runs the CLI with the given arguments; output in $state/out, stderr in $state/err
	(cd "$dir/run" && timeout -k 5 60 ../node_modules/.bin/mcp-inspector-cli --cli \
	    --config "$state/mcp.json" --server sbx "$@" >"$state/out" 2>"$state/err")
}
check() {	# description, exit status, JS expression over `r` (the parsed stdout) and `rc`
	n=$((n + 1))
	if node -e '
		const fs = require("fs");
		let r = null;
		try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch {}
		const rc = Number(process.argv[2]);
		const err = fs.readFileSync(process.argv[3], "utf8");
		process.exit(eval(process.argv[4]) ? 0 : 1);' "$state/out" "$2" "$state/err" "$3" 2>/dev/null; then
		echo "ok $n - $1"
	else
		failed=$((failed + 1))
		echo "not ok $n - $1 (exit $2)"
		head -c 1500 "$state/out" | sed 's/^/#   /'
		grep -v '^\s*$' "$state/err" | grep -v 'deprecated\|Upgrade:\|security fixes' | tail -n 10 | sed 's/^/#   /'
	fi
}

inspect --method tools/list
check "Inspector lists the tools" $? \
    'rc === 0 && r.tools.length > 0 && r.tools.some(t => t.name === "exec") &&
     r.tools.every(t => t.description && t.inputSchema && t.inputSchema.type === "object")'

inspect --method tools/call --tool-name exec --tool-arg "command=echo hi from inspector"
check "Inspector calls exec and gets its output" $? \
    'rc === 0 && r.isError === false && r.structuredContent.exit_code === 0 &&
     r.structuredContent.stdout === "hi from inspector\n" && r.content[0].type === "text"'

inspect --method tools/call --tool-name exec --tool-arg "command=echo oops >&2; exit 3"
check "a failing command is a normal result with its exit code and stderr" $? \
    'rc === 0 && r.structuredContent.exit_code === 3 && r.structuredContent.stderr === "oops\n"'

inspect --method tools/call --tool-name no_such_tool
check "an unknown tool is a JSON-RPC error the Inspector reports" $? \
    'rc !== 0 && /-32602/.test(err) && /no_such_tool/.test(err)'

inspect --method logging/setLevel --log-level debug
check "Inspector sets the log level" $? 'rc === 0 && r && Object.keys(r).length === 0'

# --- Inspector 2.x: tools/list --strict ------------------------------------------------
dir2="$root/build/interop-inspector2"
V2=2.12.0
NODE22_V=22.23.3
NPM_DIR="$dir2"
node2=$(npm_node 22 19 "$NODE22_V")
if [ -z "$node2" ] || ! "$node2" --version >/dev/null 2>&1; then
	n=$((n + 1))
	echo "not ok $n - a Node >= 22.19 for Inspector $V2 (npm install node-<os>-<arch>@$NODE22_V failed; see $dir2/npm.log)"
	failed=$((failed + 1))
elif ! npm_installed @modelcontextprotocol/inspector "$V2" &&
    ! npm_install "@modelcontextprotocol/inspector@$V2"; then
	n=$((n + 1))
	echo "not ok $n - npm install @modelcontextprotocol/inspector@$V2 failed"
	tail -n 20 "$dir2/npm.log" | sed 's/^/#   /'
	failed=$((failed + 1))
else
	# A server whose one tool has an untyped property and a list of types: the report
	# must catch both, or an empty report would prove nothing.
	cat >"$state/bad_server.py" <<'PY'
import json, sys
tool = {"name": "bad", "description": "x", "inputSchema": {"type": "object", "properties": {
    "mode": {"description": "untyped"}, "x": {"type": ["string", "null"]}}}}
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    if m["method"] == "initialize":
        res = {"protocolVersion": m["params"]["protocolVersion"], "capabilities": {"tools": {}},
               "serverInfo": {"name": "bad", "version": "1"}}
        out = {"jsonrpc": "2.0", "id": m["id"], "result": res}
    elif m["method"] == "tools/list":
        out = {"jsonrpc": "2.0", "id": m["id"], "result": {"tools": [tool]}}
    else:
        out = {"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32601, "message": "no"}}
    print(json.dumps(out), flush=True)
PY
	node -e 'const [bin, st, py] = process.argv.slice(1);
	    const plat = ["--api-key", "k", "--domain", "127.0.0.1:9"];
	    console.log(JSON.stringify({ mcpServers: {
	        local: { command: bin, args: ["--local-root", st + "/root2"] },
	        opensandbox: { command: bin, args: ["--backend", "opensandbox", ...plat] },
	        e2b: { command: bin, args: ["--backend", "e2b", ...plat] },
	        bad: { command: "python3", args: [py] } } }))' \
	    "$bin" "$state" "$state/bad_server.py" >"$state/mcp2.json"
	strict() {	# server: tools/list --strict; output in $state/out, stderr in $state/err
		PATH="$(dirname "$node2"):$PATH" MCP_INSPECTOR_SECRET_STORE=memory \
		    timeout -k 5 90 "$dir2/node_modules/.bin/inspector" --cli --config "$state/mcp2.json" \
		    --server "$1" --method tools/list --strict >"$state/out" 2>"$state/err"
	}
	for server in local opensandbox e2b; do
		strict "$server"
		check "Inspector $V2 tools/list --strict finds no schema problem ($server backend)" $? \
		    'rc === 0 && r.tools.length >= 20 && !/^(Warning|Error): tool|Schema portability|[0-9]+ warnings? across/m.test(err)'
	done
	strict bad
	check "Inspector $V2 --strict reports an untyped property and a list of types" $? \
	    '/Warning: tool "bad"/.test(err) && /inputSchema.properties.mode/.test(err) &&
	     /inputSchema.properties.x/.test(err) && /2 warnings/.test(err)'
fi

echo "1..$n"
[ "$failed" -eq 0 ]
