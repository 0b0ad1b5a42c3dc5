#!/bin/sh
# test_inspector.sh -- interop with the MCP Inspector CLI (@modelcontextprotocol/inspector-cli
# 1.0.3, the v1 CLI that runs on Node 20), installed from npm into build/interop-inspector
# once. Each step starts the server over stdio via a --config file (so our flags are never
# taken for the Inspector's), checks the JSON it prints, and is bounded by a timeout. TAP.
# The CLI resolves ../package.json from the current directory, so it runs from run/.
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
cli="$dir/node_modules/@modelcontextprotocol/inspector-cli"
if ! node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' \
    "$cli/package.json" "$V" 2>/dev/null; then
	mkdir -p "$dir"
	(cd "$dir" && { [ -f package.json ] || npm init -y >/dev/null; } &&
	    timeout -k 10 240 npm install --no-audit --no-fund --silent \
	    "@modelcontextprotocol/inspector-cli@$V" >"$dir/npm.log" 2>&1)
	if [ ! -x "$dir/node_modules/.bin/mcp-inspector-cli" ]; then
		echo "not ok 1 - npm install @modelcontextprotocol/inspector-cli@$V failed"
		tail -n 20 "$dir/npm.log" | sed 's/^/#   /'
		exit 1
	fi
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

echo "1..$n"
[ "$failed" -eq 0 ]
