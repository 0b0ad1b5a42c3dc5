#!/bin/sh
# tools/list size: the bytes of the response line a client receives (what the tool
# catalogue costs a model's context), for each backend with all its tools and with
# --tools core, at protocol 2025-11-25 (titles, output schemas, annotations) and at
# 2025-03-26 (no output schemas), plus the share of input schemas, output schemas and
# descriptions. Sizes, not times; tests/e2e/test_mcp_schemas.py holds the budgets.
set -eu
BIN="$1"
echo "== tools/list size"
python3 - "$BIN" <<'PY'
import json, os, shutil, subprocess, sys, tempfile
binp = sys.argv[1]
root = tempfile.mkdtemp(prefix="bench-tools-")
env = {k: v for k, v in os.environ.items()
       if not k.startswith(("OPEN_SANDBOX_", "E2B_", "X_API_KEY", "SANDBOX_MCP_BACKEND"))}

def listing(backend, profile, version):
    argv = [binp, "--tools", profile]
    argv += ["--local-root", root] if backend == "local" else \
        ["--backend", backend, "--api-key", "k", "--domain", "127.0.0.1:9"]
    msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": version, "capabilities": {},
                        "clientInfo": {"name": "bench", "version": "0"}}},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]
    p = subprocess.run(argv, input="".join(json.dumps(m) + "\n" for m in msgs).encode(),
                       capture_output=True, timeout=60, env=env)
    line = next(x for x in p.stdout.splitlines() if b'"id":2' in x)
    return line, json.loads(line)["result"]["tools"]

def part(tools, key):
    return sum(len(json.dumps(t.get(key, ""), separators=(",", ":"), ensure_ascii=False))
               for t in tools)

for backend in ("local", "e2b", "opensandbox"):
    for profile in ("all", "core"):
        line, tools = listing(backend, profile, "2025-11-25")
        old, _ = listing(backend, profile, "2025-03-26")
        print(f"{backend:12s} --tools {profile:4s}: {len(tools):2d} tools, {len(line)} bytes "
              f"({len(line)/1024:.1f} KiB; 2025-03-26: {len(old)} bytes); input schemas "
              f"{part(tools, 'inputSchema')}, output schemas {part(tools, 'outputSchema')}, "
              f"descriptions {part(tools, 'description')}")
shutil.rmtree(root, ignore_errors=True)
PY
