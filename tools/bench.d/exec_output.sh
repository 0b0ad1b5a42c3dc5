#!/bin/sh
# Command output on a local sandbox: the wall time of an `exec` (through the server over
# stdio, no progress token) of a command writing BENCH_OUTPUT_MB MB (100) to stdout, which
# the server drains whole (the result keeps only a capped part), against the same command
# piped into `cat >/dev/null` in the same sandbox (also an exec, so both carry the same
# round trip), median of BENCH_OUTPUT_RUNS (5), printed as a ratio; once for zeros
# (`head -c N /dev/zero`) and once for text (`yes ... | head -c N`). The zeros' result is
# heavier (each NUL kept in the result is six bytes of JSON), so text shows the drain
# itself better. Then a background
# writer (exec background: true; output goes to the supervisor's record on disk): the
# writer's own time for the same bytes, against the writer's time into `cat` in the
# foreground.
set -eu
BIN="$1"
echo "== command output"
python3 - "$BIN" "${BENCH_OUTPUT_RUNS:-5}" "${BENCH_OUTPUT_MB:-100}" <<'PY'
import json, os, shutil, subprocess, sys, tempfile, time, statistics
binp, runs, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
N = mb * 1000 * 1000

class Server:
    def __init__(self, root):
        self.p = subprocess.Popen([binp, "--local-root", root], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  env=dict(os.environ, SANDBOX_MCP_BACKEND="local"))
        self.n = 0
        self.rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                "clientInfo": {"name": "bench", "version": "0"}})
    def rpc(self, method, params):
        self.n += 1
        msg = {"jsonrpc": "2.0", "id": self.n, "method": method, "params": params}
        self.p.stdin.write(json.dumps(msg).encode() + b"\n"); self.p.stdin.flush()
        while True:
            r = json.loads(self.p.stdout.readline())
            if r.get("id") == self.n:
                return r
    def tool(self, name, args, may_fail=False):
        r = self.rpc("tools/call", {"name": name, "arguments": args})
        res = r.get("result") or {}
        if "error" in r or res.get("isError"):
            if may_fail:
                return None
            raise SystemExit("%s failed: %s" % (name, json.dumps(r)[:300]))
        return res.get("structuredContent") or {}
    def timed_exec(self, command, want_bytes):
        t0 = time.perf_counter()
        r = self.tool("exec", {"command": command, "timeout_s": 300})
        t = (time.perf_counter() - t0) * 1000
        if r.get("exit_code") != 0 or r.get("stdout_bytes") != want_bytes:
            raise SystemExit("exec %r: exit %s, %s stdout bytes (want %d)" % (
                command, r.get("exit_code"), r.get("stdout_bytes"), want_bytes))
        return t, r
    def close(self):
        self.p.stdin.close(); self.p.wait()

def ratio_line(label, direct, piped):
    d, c = statistics.median(direct), statistics.median(piped)
    print(f"exec output, {mb} MB of {label}: to the server {d:.0f} ms, into cat in the "
          f"sandbox {c:.0f} ms: {d / c:.2f}x (median of {runs}; {N / d / 1000:.0f} MB/s)")

root = tempfile.mkdtemp(prefix="bench-output-")
srv = None
try:
    srv = Server(os.path.join(root, "state"))
    zero = f"head -c {N} /dev/zero"
    text = f"yes 'the quick brown fox jumps over the lazy dog 0123456789' | head -c {N}"
    srv.timed_exec(zero, N)			# warm up (sandbox start, page cache)
    for label, cmd in (("zeros", zero), ("text", text)):
        direct, piped = [], []
        for _ in range(runs):		# interleaved, so drift hits both alike
            direct.append(srv.timed_exec(cmd, N)[0])
            piped.append(srv.timed_exec(cmd + " | cat >/dev/null", 0)[0])
        ratio_line(label, direct, piped)

    # The writer's own time (microseconds, measured in the sandbox) for the same bytes:
    # in the background (into the supervisor's record), and into cat in the foreground.
    clock = "s=$(date +%s%N); {}; e=$(date +%s%N); echo $(( (e - s) / 1000 ))"
    bg, fg = [], []
    for _ in range(runs):
        r = srv.tool("exec", {"command": clock.format(zero) + " >/tmp/bg_us",
                              "background": True})
        pid = r.get("pid")
        t0 = time.time()
        while True:		# (an offset past the output so far is an error: not yet)
            o = srv.tool("process_output", {"pid": pid, "offset": N - 10, "wait_s": 5}, True)
            if o is not None and not o.get("running", True):
                break
            if time.time() - t0 > 300:
                raise SystemExit("background writer did not finish in 300 s")
        if o.get("exit_code") != 0 or len(o.get("output", "")) != 10:
            raise SystemExit("background writer: exit %s, last bytes %r" % (
                o.get("exit_code"), o.get("output", "")[:40]))
        bg.append(int(srv.tool("exec", {"command": "cat /tmp/bg_us"})["stdout"]) / 1000)
        fg.append(int(srv.tool("exec", {"command": clock.format(zero + " | cat >/dev/null")})
                      ["stdout"]) / 1000)
    b, f = statistics.median(bg), statistics.median(fg)
    print(f"exec output, {mb} MB in the background: the writer takes {b:.0f} ms, into cat "
          f"{f:.0f} ms: {b / f:.2f}x (median of {runs})")
finally:
    if srv is not None:
        srv.close()
    shutil.rmtree(root, ignore_errors=True)
PY
