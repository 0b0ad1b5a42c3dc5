#!/bin/sh
# bench.sh - prints numbers (never pass/fail): cold start to the initialize response
# (median of many runs), RSS after initialize, stripped binary size, then every
# tests/bench/bench_* program (decoder and parser throughput), then HTTP download
# throughput against curl and TLS handshake times (loopback servers started here).
set -eu
cd "$(dirname "$0")/.."
BIN="${SANDBOX_MCP_BENCH_BIN:-build/release/sandbox-mcp}"
RUNS="${BENCH_RUNS:-50}"
python3 - "$BIN" "$RUNS" <<'PY'
import os, shutil, subprocess, sys, tempfile, time, statistics
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
shutil.rmtree(root, ignore_errors=True)
PY

# Local sandboxes: sandbox_create and an `exec echo hi` round trip through the server
# (median of BENCH_LOCAL_RUNS), next to the same `bash -l -c` run directly on this machine.
python3 - "$BIN" "${BENCH_LOCAL_RUNS:-30}" <<'PY'
import json, os, shutil, subprocess, sys, tempfile, time, statistics
binp, runs = sys.argv[1], int(sys.argv[2])
root = tempfile.mkdtemp(prefix="bench-local-")
p = subprocess.Popen([binp, "--local-root", root], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                     env=dict(os.environ, SANDBOX_MCP_BACKEND="local"))
n = 0
def call(method, params):
    global n
    n += 1
    p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": n, "method": method,
                               "params": params}) + "\n").encode())
    p.stdin.flush()
    while True:
        m = json.loads(p.stdout.readline())
        if m.get("id") == n:
            return m.get("result", {})
def tool(name, args):
    return call("tools/call", {"name": name, "arguments": args}).get("structuredContent") or {}
call("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "bench", "version": "0"}})
create, kill, execs, ids = [], [], [], []
for _ in range(max(5, runs // 3)):
    t0 = time.perf_counter()
    sid = tool("sandbox_create", {}).get("sandbox_id")
    create.append((time.perf_counter() - t0) * 1000)
    ids.append(sid)
sid = ids[0]
for _ in range(3):
    tool("exec", {"sandbox_id": sid, "command": "echo hi"})
for _ in range(runs):
    t0 = time.perf_counter()
    r = tool("exec", {"sandbox_id": sid, "command": "echo hi"})
    execs.append((time.perf_counter() - t0) * 1000)
    assert r.get("stdout") == "hi\n", r
for s in ids:
    t0 = time.perf_counter()
    tool("sandbox_kill", {"sandbox_id": s})
    kill.append((time.perf_counter() - t0) * 1000)
bare = []
for _ in range(runs):
    t0 = time.perf_counter()
    subprocess.run(["bash", "-l", "-c", "echo hi"], stdout=subprocess.DEVNULL,
                   env={"PATH": "/usr/bin:/bin", "HOME": root})
    bare.append((time.perf_counter() - t0) * 1000)
p.stdin.close(); p.wait()
shutil.rmtree(root, ignore_errors=True)
print(f"local sandbox_create: median {statistics.median(create):.1f} ms "
      f"(p90 {sorted(create)[int(len(create)*0.9)]:.1f} ms, {len(create)} runs)")
print(f"local exec 'echo hi' round trip: median {statistics.median(execs):.1f} ms "
      f"(p90 {sorted(execs)[int(len(execs)*0.9)]:.1f} ms, {runs} runs); "
      f"bash -l -c directly: median {statistics.median(bare):.1f} ms")
print(f"local sandbox_kill: median {statistics.median(kill):.1f} ms")
PY
# The local sandbox's network relay: a 100 MB download from a server on this machine's
# loopback, directly and from inside a sandbox through the relay (captured connect, and the
# HTTP proxy), in the same run; what the relay adds to setting up one connection; and the
# supervisor's CPU while a relayed connection sits idle.
python3 - "$BIN" <<'PY'
import json, os, shutil, socket, subprocess, sys, tempfile, threading, time, statistics
binp = sys.argv[1]
SIZE = 100 << 20
chunk = b"x" * (1 << 20)
def serve(ls):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=one, args=(c,), daemon=True).start()
def one(c):
    try:
        req = b""
        while b"\r\n\r\n" not in req:
            d = c.recv(65536)
            if not d:
                return
            req += d
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % SIZE)
        for _ in range(SIZE // len(chunk)):
            c.sendall(chunk)
    except OSError:
        pass
    finally:
        c.close()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0)); ls.listen(64)
port = ls.getsockname()[1]
threading.Thread(target=serve, args=(ls,), daemon=True).start()
root = tempfile.mkdtemp(prefix="bench-net-")
p = subprocess.Popen([binp, "--local-root", root, "--local-host-port", str(port)],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                     env=dict(os.environ, SANDBOX_MCP_BACKEND="local"))
n = 0
def call(method, params):
    global n
    n += 1
    p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": n, "method": method,
                               "params": params}) + "\n").encode())
    p.stdin.flush()
    while True:
        m = json.loads(p.stdout.readline())
        if m.get("id") == n:
            return m.get("result", {})
def tool(name, args):
    return call("tools/call", {"name": name, "arguments": args}).get("structuredContent") or {}
call("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "bench", "version": "0"}})
sid = tool("sandbox_create", {}).get("sandbox_id")
def curl_inside(extra):
    r = tool("exec", {"sandbox_id": sid, "timeout_s": 120, "command":
                      "curl -sS %s -o /dev/null -w '%%{speed_download}' http://host.internal:%d/big"
                      % (extra, port)})
    try:
        return float(r.get("stdout") or 0) / 1e6
    except ValueError:
        return 0.0
direct, captured, proxied = [], [], []
for _ in range(5):
    out = subprocess.run(["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", "-w",
                          "%{speed_download}", "http://127.0.0.1:%d/big" % port],
                         capture_output=True, text=True).stdout
    direct.append(float(out or 0) / 1e6)
    captured.append(curl_inside("--noproxy '*'"))
    proxied.append(curl_inside(""))
d, c, x = statistics.median(direct), statistics.median(captured), statistics.median(proxied)
print(f"local relay, 100 MB from this machine's loopback: direct {d:.0f} MB/s; "
      f"from a sandbox, captured connect {c:.0f} MB/s ({100 * c / d:.0f}% of direct), "
      f"through the proxy {x:.0f} MB/s ({100 * x / d:.0f}%)")
# Connection setup: 200 connect+close in a loop, inside (to host.internal, resolved once)
# and on this machine, each against the same listener (a deep backlog, accept and close).
cs = socket.socket(); cs.bind(("127.0.0.1", 0)); cs.listen(4096)
def closer():
    while True:
        cs.accept()[0].close()
threading.Thread(target=closer, daemon=True).start()
cport = cs.getsockname()[1]
tool("sandbox_kill", {"sandbox_id": sid})
p.stdin.close(); p.wait()
p = subprocess.Popen([binp, "--local-root", root, "--local-host-port", str(cport)],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                     env=dict(os.environ, SANDBOX_MCP_BACKEND="local"))
call("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "bench", "version": "0"}})
sid = tool("sandbox_create", {}).get("sandbox_id")
probe = ("import socket,time,sys\n"
         "a=socket.getaddrinfo(sys.argv[1],int(sys.argv[2]),socket.AF_INET)[0][4]\n"
         "t=time.perf_counter()\n"
         "for _ in range(200):\n"
         " s=socket.create_connection(a); s.close()\n"
         "print((time.perf_counter()-t)/200*1e6)\n")
tool("file_write", {"sandbox_id": sid, "path": "/tmp/probe.py", "content": probe})
py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
ins, outs = [], []
with open(os.path.join(root, "probe.py"), "w") as f:
    f.write(probe)
for _ in range(3):
    ins.append(float(tool("exec", {"sandbox_id": sid, "command": "python3 /tmp/probe.py "
                                   "host.internal %d" % cport}).get("stdout") or 0))
    outs.append(float(subprocess.run([py, os.path.join(root, "probe.py"), "127.0.0.1",
                                      str(cport)], capture_output=True, text=True).stdout or 0))
inside, here = statistics.median(ins), statistics.median(outs)
print(f"local relay, connection setup: {inside:.0f} us from a sandbox, {here:.0f} us "
      f"directly ({inside - here:.0f} us added per connection)")
# Idle: one relayed connection open and silent for 3 s; the supervisor's CPU time then.
r = tool("exec", {"sandbox_id": sid, "background": True, "command":
                  "exec 3<>/dev/tcp/host.internal/%d; sleep 20" % cport})
time.sleep(1)
sup = None
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if b"supervisor " + sid.encode() in f.read().replace(b"\0", b" "):
                    sup = d
        except OSError:
            pass
def ticks(pid):
    with open("/proc/%s/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return int(v[11]) + int(v[12])
if sup:
    t0 = ticks(sup); time.sleep(3); t1 = ticks(sup)
    print(f"local relay, idle: supervisor CPU {(t1 - t0) * 1000 // os.sysconf('SC_CLK_TCK')} ms "
          f"over 3 s with a relayed connection open")
tool("sandbox_kill", {"sandbox_id": sid})
p.stdin.close(); p.wait()
shutil.rmtree(root, ignore_errors=True)
PY
for b in build/release/bench/bench_*; do
	[ -x "$b" ] || continue
	case "$(basename "$b")" in
	bench_http | bench_server) continue ;;	# need the loopback servers: below
	esac
	echo "== $(basename "$b")"
	"$b"
done

# HTTP download throughput against curl on the same URL, and TLS handshake time with and
# without resumption. Servers on 127.0.0.1 with ephemeral ports: bench_server (sendfile)
# for http, `openssl s_server -WWW` for https, `openssl s_server -www` (its status page
# says whether the session was resumed) for the handshakes; a CA and an ECDSA P-256
# certificate for 127.0.0.1 made with the openssl command. Each download line gives the
# median throughput of both clients, the ratio, and the CPU time (user + system) each
# client spent per GB, which a busy machine disturbs less than the wall clock. Knobs:
# BENCH_HTTP_MB (file size in MiB, 256), BENCH_HTTP_RUNS (timed http downloads per
# client, 5, after a warm-up), BENCH_HTTPS_RUNS (https, 5), BENCH_HANDSHAKES
# (handshakes per case, 20). A missing curl or openssl skips that line with a message.
echo "== bench_http"
python3 - build/release/bench <<'PY'
import os, re, resource, shutil, statistics, subprocess, sys, tempfile, time

bench = os.path.abspath(sys.argv[1])
mib = int(os.environ.get("BENCH_HTTP_MB", "256"))
runs = max(1, int(os.environ.get("BENCH_HTTP_RUNS", "5")))
tls_runs = max(1, int(os.environ.get("BENCH_HTTPS_RUNS", "5")))
handshakes = max(1, int(os.environ.get("BENCH_HANDSHAKES", "20")))
client, server = os.path.join(bench, "bench_http"), os.path.join(bench, "bench_server")
curl, openssl = shutil.which("curl"), shutil.which("openssl")
tmp = tempfile.mkdtemp(prefix="bench-http-")
procs, failed = [], []
env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}

def start(argv, pattern, what):
    """Starts a server writing to a file and waits for the line that names its port."""
    log = open(os.path.join(tmp, "%s.log" % what), "w+")
    p = subprocess.Popen(argv, cwd=tmp, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, env=env)
    procs.append(p)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and p.poll() is None:
        log.seek(0)
        m = re.search(pattern, log.read(), re.M)
        if m:
            return int(m.group(1))
        time.sleep(0.02)
    log.seek(0)
    raise RuntimeError("%s did not start: %s" % (what, log.read().strip()[-300:]))

def run_cpu(argv):
    """subprocess.run, and the CPU seconds (user + system) the child used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

def ours(url, ca):
    """(MB/s, CPU seconds per GB) of one bench_http download."""
    argv = [client, "download", "--runs", "1"] + (["--ca-file", ca] if ca else []) + [url]
    r, cpu = run_cpu(argv)
    m = re.search(r"^download: (\d+) bytes in [0-9.]+ s = ([0-9.]+) MB/s", r.stdout, re.M)
    if r.returncode != 0 or not m or int(m.group(1)) != size:
        raise RuntimeError("bench_http download %s: %s" % (url, (r.stderr or r.stdout).strip()))
    return float(m.group(2)), cpu / (size / 1e9)

def curl_mbps(url, ca):
    argv = [curl, "-sS", "--noproxy", "*", "-o", "/dev/null", "-w",
            "%{size_download} %{time_total}"] + (["--cacert", ca] if ca else []) + [url]
    r, cpu = run_cpu(argv)
    f = r.stdout.split()
    if r.returncode != 0 or len(f) != 2 or int(f[0]) != size:
        raise RuntimeError("curl %s: %s" % (url, r.stderr.strip()))
    return int(f[0]) / float(f[1]) / 1e6, cpu / (size / 1e9)

def download(label, url, ca, n, warm, note=""):
    """n runs alternating ours and curl's, after one untimed warm-up each when warm."""
    a, b, ca_cpu, cb_cpu = [], [], [], []
    if warm:
        ours(url, ca)
        if curl:
            curl_mbps(url, ca)
    for _ in range(n):
        mbps, cpu = ours(url, ca)
        a.append(mbps)
        ca_cpu.append(cpu)
        if curl:
            mbps, cpu = curl_mbps(url, ca)
            b.append(mbps)
            cb_cpu.append(cpu)
    line = "%-5s download %d MiB from %s: sandbox-mcp median %.1f MB/s (best %.1f)" % (
        label, mib, url.split("/")[2], statistics.median(a), max(a))
    if curl:
        line += ", curl median %.1f MB/s (best %.1f), ratio %.2f" % (
            statistics.median(b), max(b), statistics.median(a) / statistics.median(b))
        line += "; CPU per GB: sandbox-mcp %.2f s, curl %.2f s" % (
            statistics.median(ca_cpu), statistics.median(cb_cpu))
    else:
        line += "; curl comparison skipped: the curl command is not installed"
        line += "; CPU per GB: sandbox-mcp %.2f s" % statistics.median(ca_cpu)
    print(line + " (%d runs%s%s)" % (n, " each, alternating" if curl else "", note), flush=True)

def step(what, fn, *args):
    try:
        fn(*args)
    except (RuntimeError, subprocess.SubprocessError, OSError) as ex:
        failed.append(what)
        print("%s: FAILED: %s" % (what, ex), flush=True)

def certs():
    ext = os.path.join(tmp, "ext.cnf")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for argv in (["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                  "-subj", "/CN=sandbox-mcp bench CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign"],
                 ["req", "-new"] + ec + ["-keyout", "srv.key", "-out", "srv.csr",
                  "-subj", "/CN=127.0.0.1"],
                 ["x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                  "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", ext]):
        r = subprocess.run([openssl] + argv, cwd=tmp, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (argv[0], r.stderr.strip()[-300:]))

def https_all():
    certs()
    ca = os.path.join(tmp, "ca.pem")
    s_server = [openssl, "s_server", "-accept", "127.0.0.1:0", "-cert", "srv.pem",
                "-key", "srv.key", "-naccept", "1000000"]
    accept = r"^ACCEPT .*:(\d+)$"
    ciphers = {}
    for label, extra in (("TLS 1.3", []), ("TLS 1.2", ["-no_tls1_3"])):
        def hs(extra=extra, label=label):
            p = start(s_server + ["-www"] + extra, accept, "s_server-www-" + label[-3:])
            url = "https://127.0.0.1:%d/" % p
            r = subprocess.run([client, "handshake", "--runs", str(handshakes), "--ca-file", ca,
                                url], capture_output=True, text=True, timeout=120, env=env)
            sys.stdout.write(r.stdout)
            sys.stdout.flush()
            if r.returncode != 0:
                raise RuntimeError(r.stderr.strip())
            if not extra:	# what each side negotiates by default, for the download
                m = re.search(r"^tls handshake TLSv1.3 (\S+)", r.stdout, re.M)
                ciphers["sandbox-mcp"] = m.group(1) if m else "?"
                if curl:
                    c = subprocess.run([curl, "-sS", "--noproxy", "*", "--cacert", ca, url],
                                       capture_output=True, text=True, timeout=60, env=env)
                    m = re.search(r", Cipher is (\S+)", c.stdout)
                    ciphers["curl"] = m.group(1) if m else "?"
        step("%s handshakes" % label, hs)
    port = start(s_server + ["-WWW"], accept, "s_server-WWW")
    note = "; TLS 1.3 " + ", ".join("%s %s" % kv for kv in sorted(ciphers.items()))
    step("https download", download, "https", "https://127.0.0.1:%d/big" % port, ca, tls_runs,
         False, note if ciphers else "")

try:
    if not (os.access(client, os.X_OK) and os.access(server, os.X_OK)):
        raise SystemExit("bench_http: %s or %s is missing (make bench builds them)"
                         % (client, server))
    block = bytes(range(256)) * 4096			# 1 MiB, not all zeros
    with open(os.path.join(tmp, "big"), "wb") as f:
        for _ in range(mib):
            f.write(block)
    size = mib << 20
    port = start([server, tmp], r"^(\d+)$", "bench_server")
    step("http download", download, "http", "http://127.0.0.1:%d/big" % port, None, runs, True)
    if openssl is None:
        print("https download and TLS handshakes skipped: the openssl command is not installed")
    else:
        step("https", https_all)
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    shutil.rmtree(tmp, ignore_errors=True)
if failed:
    sys.exit("bench_http: failed: %s (a bug or a broken setup, not slowness)" % ", ".join(failed))
PY

# Further sections, one file each (file tools, command output, ...), in name order; each
# gets the binary as $1 and prints its own numbers.
for f in tools/bench.d/*.sh; do
	[ -e "$f" ] || continue
	sh "$f" "$BIN" || echo "$(basename "$f"): failed (a bug or a broken setup, not slowness)"
done
