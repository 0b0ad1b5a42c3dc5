#!/bin/sh
# File tools on a local sandbox: the median round trip of file_read (1 KiB text),
# file_write (1 KiB) and file_stat through the server over stdio, next to the Node reference
# filesystem server (@modelcontextprotocol/server-filesystem, installed from npm into
# build/bench-peers when missing) reading the same kind of file in the same run; then how
# many file_read calls a 1 MiB text file takes. Knob: BENCH_FILE_RUNS (200).
set -eu
BIN="$1"
PEERS=build/bench-peers
NODE_FS="$PEERS/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"
if [ ! -f "$NODE_FS" ] && command -v npm >/dev/null 2>&1; then
	mkdir -p "$PEERS"
	[ -f "$PEERS/package.json" ] || echo '{"name":"bench-peers","private":true}' > "$PEERS/package.json"
	(cd "$PEERS" && npm install --silent --no-audit --no-fund \
	    @modelcontextprotocol/server-filesystem >/dev/null 2>&1) || true
fi
echo "== file tools"
python3 - "$BIN" "${BENCH_FILE_RUNS:-200}" "$NODE_FS" <<'PY'
import json, os, shutil, subprocess, sys, tempfile, time, statistics
binp, runs, node_fs = sys.argv[1], int(sys.argv[2]), sys.argv[3]

class Peer:
    def __init__(self, argv, env=None):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=env)
        self.n = 0
        self.rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                "clientInfo": {"name": "bench", "version": "0"}})
        self.p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        self.p.stdin.flush()
    def rpc(self, method, params):
        self.n += 1
        msg = {"jsonrpc": "2.0", "id": self.n, "method": method, "params": params}
        self.p.stdin.write(json.dumps(msg).encode() + b"\n"); self.p.stdin.flush()
        while True:
            r = json.loads(self.p.stdout.readline())
            if r.get("id") == self.n:
                return r
    def call(self, name, args):
        r = self.rpc("tools/call", {"name": name, "arguments": args})
        res = r.get("result") or {}
        if "error" in r or res.get("isError"):
            raise SystemExit("%s failed: %s" % (name, json.dumps(r)[:300]))
        return res
    def timed(self, name, args):
        t = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self.call(name, args)
            t.append((time.perf_counter() - t0) * 1000)
        return statistics.median(t)
    def close(self):
        self.p.stdin.close(); self.p.wait()

root = tempfile.mkdtemp(prefix="bench-files-")
kib = ("0123456789abcdef" * 64)[:1023] + "\n"
try:
    env = dict(os.environ, SANDBOX_MCP_BACKEND="local")
    ours = Peer([binp, "--local-root", os.path.join(root, "state")], env)
    ours.call("file_write", {"path": "/workspace/kib.txt", "content": kib})
    ours.call("file_read", {"path": "/workspace/kib.txt"})
    r_ours = ours.timed("file_read", {"path": "/workspace/kib.txt"})
    w_ours = ours.timed("file_write", {"path": "/workspace/w.txt", "content": kib})
    s_ours = ours.timed("file_stat", {"path": "/workspace/kib.txt"})
    line = ("x" * 99 + "\n")
    ours.call("file_write", {"path": "/workspace/mib.txt", "content": line * 10486})
    calls, off = 0, 0
    while calls < 64:
        res = ours.call("file_read", {"path": "/workspace/mib.txt", "offset": off})
        calls += 1
        sc = res.get("structuredContent") or json.loads(res["content"][0]["text"])
        nxt = sc.get("next_offset")
        if not sc.get("truncated") or nxt is None:
            break
        off = nxt
    ours.close()
    print(f"sandbox-mcp file_read 1 KiB: median {r_ours:.3f} ms ({runs} calls)")
    print(f"sandbox-mcp file_write 1 KiB: median {w_ours:.3f} ms; file_stat: median {s_ours:.3f} ms")
    print(f"sandbox-mcp file_read of a 1 MiB text file: {calls} call(s)")
    if os.path.isfile(node_fs) and shutil.which("node"):
        d = os.path.join(root, "node")
        os.mkdir(d)
        with open(os.path.join(d, "kib.txt"), "w") as f:
            f.write(kib)
        node = Peer(["node", node_fs, d])
        tool = "read_text_file"
        try:
            node.call(tool, {"path": os.path.join(d, "kib.txt")})
        except SystemExit:
            tool = "read_file"
        r_node = node.timed(tool, {"path": os.path.join(d, "kib.txt")})
        w_node = node.timed("write_file", {"path": os.path.join(d, "w.txt"), "content": kib})
        node.close()
        print(f"node server-filesystem {tool} 1 KiB: median {r_node:.3f} ms; write_file: "
              f"median {w_node:.3f} ms")
        print(f"file_read 1 KiB vs node: {r_ours / r_node:.2f}x the time; file_write: "
              f"{w_ours / w_node:.2f}x")
    else:
        print("node server-filesystem: not installed (npm unavailable), no comparison")
finally:
    shutil.rmtree(root, ignore_errors=True)
PY
