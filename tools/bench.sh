#!/bin/sh
# bench.sh - prints numbers (never pass/fail): cold start to the initialize response
# (median of many runs), RSS after initialize, stripped binary size, then every
# tests/bench/bench_* program (decoder and parser throughput, HTTP download).
set -eu
cd "$(dirname "$0")/.."
BIN="${SANDBOX_MCP_BENCH_BIN:-build/release/sandbox-mcp}"
RUNS="${BENCH_RUNS:-50}"
python3 - "$BIN" "$RUNS" <<'PY'
import os, subprocess, sys, tempfile, time, statistics
binp, runs = sys.argv[1], int(sys.argv[2])
root = tempfile.mkdtemp(prefix="bench-")
init = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}\n'
env = dict(os.environ, SANDBOX_MCP_BACKEND="local")
times, rss, hwm = [], [], []
for _ in range(runs):
    t0 = time.perf_counter()
    p = subprocess.Popen([binp, "--local-root", root], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    p.stdin.write(init); p.stdin.flush()
    p.stdout.readline()
    times.append((time.perf_counter() - t0) * 1000)
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"): rss.append(int(line.split()[1]))
            if line.startswith("VmHWM:"): hwm.append(int(line.split()[1]))
    p.stdin.close(); p.wait()
print(f"cold start to initialize response: median {statistics.median(times):.2f} ms, "
      f"p90 {sorted(times)[int(len(times)*0.9)]:.2f} ms ({runs} runs)")
print(f"RSS after initialize: median {statistics.median(rss)} KiB (peak {max(hwm)} KiB)")
print(f"stripped binary size: {os.path.getsize(binp)} bytes ({os.path.getsize(binp)/1024:.0f} KiB)")
PY
for b in build/release/bench/bench_*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b"
done
