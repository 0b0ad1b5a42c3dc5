#!/usr/bin/env python3
"""End-to-end: sandbox-mcp --backend e2b over MCP stdio against tests/fake/e2b.py.

Every tool of the e2b backend in every routing mode: Native (api.DOMAIN and
PORT-ID.DOMAIN, reached through the fake acting as the HTTP proxy, since those names do
not resolve here), Private (DOMAIN/kruise/...), explicit URLs, runtime-direct (header mode,
no management API) and Kubernetes resolution (--k8s with a KUBECONFIG). Also: long
commands past the request timeout, exec timeouts and cancellation (the fake must see
SendSignal), stdin, background processes with reattach after a dropped stream, binary
files, and the error sentences. Prints TAP; stdlib only.
"""

import base64
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.environ.get("SANDBOX_MCP_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("SANDBOX_MCP_BIN") or os.path.join(ROOT, "build", "test", "sandbox-mcp")
FAKE = os.path.join(ROOT, "tests", "fake", "e2b.py")
KEY = "kruise-key-1"

N = 0
FAILED = 0


def ok(cond, desc, diag=None):
    global N, FAILED
    N += 1
    if not cond:
        FAILED += 1
    print("%sok %d - %s" % ("" if cond else "not ", N, desc))
    if not cond and diag is not None:
        for line in str(diag).splitlines()[:25]:
            print("#   " + line)
    sys.stdout.flush()
    return cond


def skip(desc, why):
    global N
    N += 1
    print("ok %d - %s # SKIP %s" % (N, desc, why))
    sys.stdout.flush()


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


# --- the fake ----------------------------------------------------------------------------

class Fake:
    def __init__(self, *args):
        log = os.environ.get("E2B_FAKE_LOG")  # a file for the fake's request log, when debugging
        self.p = subprocess.Popen([sys.executable, FAKE, "--k8s-port", "0", "--exit-on-stdin-eof",
                                   "--api-key", KEY] + ([] if log else ["--quiet"]) + list(args),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(log, "a") if log else subprocess.DEVNULL)
        self.port = self.k8s_port = None
        while self.port is None or self.k8s_port is None:
            line = self.p.stdout.readline().decode()
            if not line:
                raise RuntimeError("the fake exited before printing its port")
            if line.startswith("PORT "):
                self.port = int(line.split()[1])
            elif line.startswith("K8SPORT "):
                self.k8s_port = int(line.split()[1])
        self.base = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()

    def ctl(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        rq = urllib.request.Request(self.base + "/__fake/" + path, data=data, method=method,
                                    headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(rq, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def requests(self, since=0):
        return self.ctl("GET", "requests?since=%d" % since)

    def seq(self):
        r = self.requests()
        return r[-1]["seq"] if r else 0

    def sandboxes(self):
        return {s["sandboxID"]: s for s in self.ctl("GET", "sandboxes")}


# --- an MCP client over stdio -------------------------------------------------------------

class Mcp:
    def __init__(self, args, env=None):
        e = dict(os.environ)
        for k in ("X_API_KEY", "E2B_API_KEY", "E2B_DOMAIN", "E2B_API_URL", "E2B_SANDBOX_URL", "SCHEME",
                  "PROTOCOL", "X_ACCESS_TOKEN", "SANDBOX_MCP_SANDBOX", "OPEN_SANDBOX_API_KEY",
                  "OPEN_SANDBOX_DOMAIN", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                  "NO_PROXY", "no_proxy", "KUBECONFIG", "SANDBOX_MCP_BACKEND"):
            e.pop(k, None)
        e["HOME"] = tempfile.mkdtemp(prefix="e2e-home-")  # no ~/.kube/config from the host
        e.update(env or {})
        self.errf = tempfile.TemporaryFile()
        self.p = subprocess.Popen([BIN] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.errf, env=e)
        self.q = queue.Queue()
        self.notes = []
        self.next_id = 1
        threading.Thread(target=self._reader, daemon=True).start()
        r = self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                        "clientInfo": {"name": "test_e2b", "version": "1"}})
        self.init = r
        self.notify("notifications/initialized", {})

    def _reader(self):
        for line in self.p.stdout:
            try:
                self.q.put(json.loads(line))
            except ValueError:
                self.q.put({"bad_line": line})
        self.q.put(None)

    def send(self, obj):
        self.p.stdin.write((json.dumps(obj) + "\n").encode())
        self.p.stdin.flush()

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def start(self, method, params):
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return rid

    def wait(self, rid, timeout=60):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no response to request %d" % rid)
            try:
                m = self.q.get(timeout=left)
            except queue.Empty:
                raise TimeoutError("no response to request %d" % rid)
            if m is None:
                raise RuntimeError("sandbox-mcp exited: %s" % self.stderr()[-2000:])
            if m.get("id") == rid and ("result" in m or "error" in m):
                return m
            self.notes.append(m)

    def request(self, method, params, timeout=60):
        m = self.wait(self.start(method, params), timeout)
        if "error" in m:
            raise RuntimeError("JSON-RPC error: %s" % m["error"])
        return m["result"]

    def call(self, name, args=None, timeout=60):
        """-> (structuredContent or {}, is_error, text)."""
        r = self.request("tools/call", {"name": name, "arguments": args or {}}, timeout)
        text = "".join(c.get("text", "") for c in r.get("content", []) if c.get("type") == "text")
        return r.get("structuredContent") or {}, bool(r.get("isError")), text

    def tools(self):
        r = self.request("tools/list", {})
        return [t["name"] for t in r["tools"]]

    def stderr(self):
        self.errf.seek(0)
        return self.errf.read().decode("utf-8", "replace")

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            rc = self.p.wait(20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        err = self.stderr()
        if "Sanitizer" in err or "runtime error" in err:
            ok(False, "no sanitizer report from sandbox-mcp", err[-3000:])
        return rc


def native(fake, *extra):
    """Native routing: api.fake.local / 49983-ID.fake.local through the fake as HTTP proxy."""
    return Mcp(["--backend", "e2b", "--api-key", KEY, "--domain", "fake.local", "--scheme", "http",
                "--template", "base"] + list(extra),
               {"HTTP_PROXY": fake.base, "http_proxy": fake.base})


def envd_reqs(fake, since, rpc=None):
    out = [r for r in fake.requests(since) if r.get("route") == "envd"]
    return [r for r in out if rpc is None or r.get("rpc") == rpc]


# --- tests ---------------------------------------------------------------------------------

def test_native(fake):
    m = native(fake)
    try:
        names = m.tools()
        for t in ("sandbox_create", "sandbox_list", "sandbox_info", "sandbox_kill", "sandbox_pause",
                  "sandbox_resume", "sandbox_set_timeout", "sandbox_url", "sandbox_metrics", "exec",
                  "process_list", "process_output", "process_send_stdin", "process_kill", "file_read",
                  "file_write", "file_edit", "file_list", "file_stat", "file_mkdir", "file_move",
                  "file_remove", "file_search", "network_policy"):
            if t not in names:
                ok(False, "tools/list offers %s" % t, names)
                break
        else:
            ok(True, "tools/list offers every e2b tool")
        ok("run_code" not in names, "run_code is not listed (the e2b backend has no code contexts)")

        # create with every option (BRIEF §3 body)
        s0 = fake.seq()
        sc, err, text = m.call("sandbox_create", {
            "template": "base", "timeout_s": 600, "env": {"GREETING": "hello"},
            "metadata": {"team": "e2e", "run": "1"}, "auto_pause": False, "secure": True,
            "network": {"default": "deny", "allow": ["1.1.1.1", "example.com"], "deny": ["10.0.0.0/8"]}})
        ok(not err and sc.get("sandbox_id") and sc.get("state") == "running", "sandbox_create (native)", text)
        sid = sc.get("sandbox_id")
        rec = [r for r in fake.requests(s0) if r.get("route") == "management" and r["method"] == "POST"]
        body = rec[0].get("json") if rec else {}
        ok(rec and rec[0]["host"].startswith("api.fake.local") and rec[0]["path"] == "/sandboxes",
           "create went to api.DOMAIN/sandboxes", rec[:1])
        ok(body.get("templateID") == "base" and body.get("timeout") == 600 and
           body.get("envVars") == {"GREETING": "hello"} and body.get("metadata") == {"team": "e2e", "run": "1"} and
           body.get("autoPause") is False and body.get("secure") is True and
           body.get("allow_internet_access") is False and
           body.get("network") == {"allowOut": ["1.1.1.1", "example.com"], "denyOut": ["10.0.0.0/8"]},
           "create body: templateID, timeout, envVars, metadata, autoPause, secure, network", body)
        ok(rec and rec[0]["headers"].get("x-api-key") == KEY, "management requests carry X-API-Key")

        # exec: stdout, stderr, exit code, env from create, cwd, per-call env
        s0 = fake.seq()
        sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "echo $GREETING $X; pwd; echo oops >&2; exit 3",
                                        "cwd": "/tmp", "env": {"X": "there"}})
        ok(not err and sc.get("exit_code") == 3 and sc.get("stdout", "").startswith("hello there\n")
           and sc.get("stdout", "").rstrip().endswith("/tmp") and sc.get("stderr") == "oops\n",
           "exec: exit code 3, stdout, stderr, env, cwd", sc or text)
        starts = envd_reqs(fake, s0, "process.Process/Start")
        st = starts[0] if starts else {}
        ok(st.get("host", "").startswith("49983-%s.fake.local" % sid), "exec went to 49983-ID.DOMAIN", st.get("host"))
        msg = st.get("message", {})
        ok(msg.get("process", {}).get("cmd") == "/bin/bash" and msg["process"].get("args", [])[:2] == ["-l", "-c"]
           and msg.get("stdin") is False, "Start: /bin/bash -l -c and explicit stdin=false", msg)
        hd = st.get("headers", {})
        ok(hd.get("x-access-token") and hd.get("e2b-sandbox-id") == sid and hd.get("e2b-sandbox-port") == "49983"
           and "x-api-key" not in hd and "authorization" not in hd and hd.get("keepalive-ping-interval"),
           "envd headers: X-Access-Token, e2b-sandbox-id/port, keepalive; no API key, no user", hd)

        # stdin is fed, then closed
        s0 = fake.seq()
        sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "tr a-z A-Z", "stdin": "abc\n"})
        ok(not err and sc.get("stdout") == "ABC\n" and sc.get("exit_code") == 0, "exec with stdin", sc or text)
        rpcs = [r.get("rpc") for r in envd_reqs(fake, s0)]
        ok("process.Process/SendInput" in rpcs and "process.Process/CloseStdin" in rpcs,
           "stdin went as SendInput + CloseStdin", rpcs)

        # a command killed by a signal
        sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "kill -9 $$"})
        ok(sc.get("exit_code") == 137, "a command killed by SIGKILL reports 137 (128+9)", sc)

        # exec timeout kills the process
        sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "sleep 30", "timeout_s": 1})
        ok(sc.get("timed_out") is True and sc.get("exit_code") is None, "exec timeout_s: timed_out, no exit code",
           sc or text)
        ok(wait_for(lambda: not fake.sandboxes()[sid]["pids"], 5), "the timed-out process is gone",
           fake.sandboxes()[sid])

        # files: text, binary, stat, mkdir, list, search, edit, move, remove
        sc, err, text = m.call("file_write", {"sandbox_id": sid, "path": "/work/notes/a.txt",
                                              "content": "line1\nline2\nline3\n"})
        ok(not err and sc.get("bytes_written") == 18, "file_write creates parents", sc or text)
        s0 = fake.seq()
        sc, err, text = m.call("file_read", {"sandbox_id": sid, "path": "/work/notes/a.txt"})
        ok(sc.get("content") == "line1\nline2\nline3\n", "file_read text", sc or text)
        fr = [r for r in envd_reqs(fake, s0) if r["path"] == "/files"]
        ok(fr and fr[0]["raw_query"] == "path=%2Fwork%2Fnotes%2Fa.txt" and fr[0]["method"] == "GET" and
           "accept-encoding" not in fr[0]["headers"], "GET /files?path=... (no username, no gzip asked)", fr[:1])
        sc, err, text = m.call("file_read", {"sandbox_id": sid, "path": "/work/notes/a.txt", "offset": 1, "limit": 1})
        ok(sc.get("content", "").strip() == "line2", "file_read offset/limit (lines)", sc or text)
        blob = bytes(range(256)) * 8
        sc, err, text = m.call("file_write", {"sandbox_id": sid, "path": "/work/bin/blob.dat",
                                              "content": base64.b64encode(blob).decode(), "encoding": "base64"})
        ok(not err and sc.get("bytes_written") == len(blob), "file_write base64 (binary)", sc or text)
        sc, err, text = m.call("file_read", {"sandbox_id": sid, "path": "/work/bin/blob.dat", "encoding": "base64"})
        ok(not err and base64.b64decode(sc.get("content", "")) == blob, "file_read base64 is byte-exact",
           (len(base64.b64decode(sc.get("content", ""))), text[:200]))
        sc, err, text = m.call("file_read", {"sandbox_id": sid, "path": "/work/bin/blob.dat", "encoding": "base64",
                                             "offset": 1000, "limit": 10})
        ok(not err and base64.b64decode(sc.get("content", "")) == blob[1000:1010], "file_read base64 byte range",
           sc or text)
        sc, err, text = m.call("file_stat", {"sandbox_id": sid, "path": "/work/bin/blob.dat"})
        ok(not err and sc.get("exists") is True and sc.get("size") == len(blob) and sc.get("type") == "file",
           "file_stat", sc or text)
        sc, err, text = m.call("file_stat", {"sandbox_id": sid, "path": "/work/nope"})
        ok(sc.get("exists") is False or (err and "does not exist" in text), "file_stat of a missing path",
           sc or text)
        sc, err, text = m.call("file_mkdir", {"sandbox_id": sid, "path": "/work/d1/d2"})
        ok(not err and sc.get("created") is True, "file_mkdir creates", sc or text)
        sc, err, text = m.call("file_mkdir", {"sandbox_id": sid, "path": "/work/d1/d2"})
        ok(not err and sc.get("created") is False, "file_mkdir of an existing dir: created false", sc or text)
        sc, err, text = m.call("file_list", {"sandbox_id": sid, "path": "/work", "depth": 2})
        paths = [x.get("path") for x in sc.get("entries", [])]
        ok(not err and paths == ["/work/bin", "/work/bin/blob.dat", "/work/d1", "/work/d1/d2", "/work/notes",
                                 "/work/notes/a.txt"], "file_list depth 2", paths or text)
        sc, err, text = m.call("file_search", {"sandbox_id": sid, "path": "/work", "pattern": "**/*.txt"})
        ok(not err and sc.get("matches") == ["/work/notes/a.txt"], "file_search **/*.txt", sc or text)
        sc, err, text = m.call("file_search", {"sandbox_id": sid, "path": "/work", "pattern": "*/b*.dat"})
        ok(not err and sc.get("matches") == ["/work/bin/blob.dat"], "file_search */b*.dat", sc or text)
        sc, err, text = m.call("file_edit", {"sandbox_id": sid, "path": "/work/notes/a.txt", "old_text": "line2",
                                             "new_text": "LINE-TWO"})
        ok(not err and sc.get("replacements") == 1, "file_edit", sc or text)
        sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "cat notes/a.txt", "cwd": "/work"})
        ok(sc.get("stdout") == "line1\nLINE-TWO\nline3\n", "the edit is visible to commands", sc or text)
        sc, err, text = m.call("file_move", {"sandbox_id": sid, "source": "/work/notes/a.txt",
                                             "destination": "/work/moved/b.txt"})
        ok(not err, "file_move", text)
        sc, err, text = m.call("file_remove", {"sandbox_id": sid, "path": "/work/moved"})
        ok(not err and sc.get("removed") is True, "file_remove (recursive)", sc or text)
        sc, err, text = m.call("file_remove", {"sandbox_id": sid, "path": "/work/moved"})
        ok(not err and sc.get("removed") is False, "file_remove of a missing path: removed false", sc or text)
        sc, err, text = m.call("file_read", {"sandbox_id": sid, "path": "/work/moved/b.txt"})
        ok(err and "does not exist" in text, "file_read of a missing file: one sentence", text)
        sc, err, text = m.call("file_write", {"sandbox_id": sid, "path": "/work/x.sh", "content": "#!/bin/sh\necho x\n",
                                              "mode": "0755"})
        sc2, _, _ = m.call("file_stat", {"sandbox_id": sid, "path": "/work/x.sh"})
        ok(not err and str(sc2.get("mode")) in ("0755", "755", "493"), "file_write mode (chmod)", (sc, sc2, text))

        # background processes: list, output (wait), stdin, kill with SIGTERM
        sc, err, text = m.call("exec", {"sandbox_id": sid, "background": True,
                                        "command": "echo started; while read l; do echo got:$l; done; echo eof"})
        pid = sc.get("pid")
        ok(not err and pid and sc.get("running", True), "exec background returns a pid", sc or text)
        sc, err, text = m.call("process_list", {"sandbox_id": sid})
        procs = {str(p.get("pid")): p for p in sc.get("processes", [])}
        ok(str(pid) in procs and procs[str(pid)].get("running") and "while read" in procs[str(pid)].get("command", ""),
           "process_list shows it with its command", sc or text)
        sc, err, text = m.call("process_output", {"sandbox_id": sid, "pid": pid, "wait_s": 5})
        ok(sc.get("output", "").startswith("started"), "process_output", sc or text)
        off = sc.get("next_offset", 0)
        sc, err, text = m.call("process_send_stdin", {"sandbox_id": sid, "pid": pid, "data": "ping\n"})
        ok(not err, "process_send_stdin", text)
        out = wait_for(lambda: m.call("process_output", {"sandbox_id": sid, "pid": pid, "offset": off,
                                                         "wait_s": 2})[0].get("output", ""), 10)
        ok(out == "got:ping\n", "process_output from an offset sees the answer", out)
        sc, err, text = m.call("process_send_stdin", {"sandbox_id": sid, "pid": pid, "data": "", "close": True})
        res = wait_for(lambda: (lambda s: s if not s.get("running") else None)(
            m.call("process_output", {"sandbox_id": sid, "pid": pid, "wait_s": 2})[0]), 10)
        ok(res and res.get("exit_code") == 0 and res.get("output", "").endswith("eof\n"),
           "closing stdin ends it: exit 0", (res, text))
        sc, err, text = m.call("exec", {"sandbox_id": sid, "background": True, "command": "sleep 60"})
        pid2 = sc.get("pid")
        s0 = fake.seq()
        sc, err, text = m.call("process_kill", {"sandbox_id": sid, "pid": pid2})
        sig = envd_reqs(fake, s0, "process.Process/SendSignal")
        ok(not err and sig and sig[0]["message"].get("signal") == 15 and sig[0]["message"]["process"]["pid"] == int(pid2),
           "process_kill sends SIGTERM (15)", (text, sig))
        res = wait_for(lambda: (lambda s: s if not s.get("running") else None)(
            m.call("process_output", {"sandbox_id": sid, "pid": pid2, "wait_s": 1})[0]), 10)
        ok(res and res.get("exit_code") == 143, "the killed process reports 143 (128+SIGTERM)", res)
        sc, err, text = m.call("process_kill", {"sandbox_id": sid, "pid": pid2, "signal": "SIGINT"})
        ok(err and ("SIGTERM" in text or "not running" in text), "process_kill SIGINT is refused in words", text)
        sc, err, text = m.call("process_output", {"sandbox_id": sid, "pid": "999999"})
        ok(err and "not running" in text, "process_output of an unknown pid", text)

        # reattach: the stream of a background process drops; the reader re-attaches (Connect)
        fake.ctl("POST", "fault", {"match": "POST /process.Process/Start", "kind": "drop_mid_stream", "after": 2})
        s0 = fake.seq()
        sc, err, text = m.call("exec", {"sandbox_id": sid, "background": True,
                                        "command": "echo one; sleep 1; echo two; sleep 1; echo three"})
        pid3 = sc.get("pid")
        res = wait_for(lambda: (lambda s: s if not s.get("running") else None)(
            m.call("process_output", {"sandbox_id": sid, "pid": pid3, "wait_s": 1})[0]), 15)
        conns = envd_reqs(fake, s0, "process.Process/Connect")
        ok(conns and res and res.get("exit_code") == 0 and "three" in res.get("output", ""),
           "a dropped stream is re-attached with Connect and the exit is seen", (conns[:1], res))
        fake.ctl("DELETE", "fault")

        # pause drops envd streams; after resume, process_output re-attaches and goes on
        sc, err, text = m.call("exec", {"sandbox_id": sid, "background": True,
                                        "command": "i=0; while [ $i -lt 100 ]; do echo tick$i; i=$((i+1)); sleep 0.2; done"})
        pid4 = sc.get("pid")
        wait_for(lambda: "tick2" in m.call("process_output", {"sandbox_id": sid, "pid": pid4})[0].get("output", ""), 10)
        m.call("sandbox_pause", {"sandbox_id": sid})
        time.sleep(0.5)
        m.call("sandbox_resume", {"sandbox_id": sid})
        seen = m.call("process_output", {"sandbox_id": sid, "pid": pid4})[0]
        later = wait_for(lambda: (lambda o: o if o.get("running") and o.get("output") else None)(
            m.call("process_output", {"sandbox_id": sid, "pid": pid4, "offset": seen.get("next_offset", 0),
                                      "wait_s": 1})[0]), 15)
        ok(later and "tick" in later.get("output", ""), "after pause/resume the background output continues", later)
        m.call("process_kill", {"sandbox_id": sid, "pid": pid4, "signal": "SIGKILL"})

        # long command past the request timeout (--timeout-s 2): keep going
        m2 = native(fake, "--timeout-s", "2")
        try:
            sc, err, text = m2.call("exec", {"sandbox_id": sid, "command": "sleep 4; echo finished"}, timeout=30)
            ok(not err and sc.get("stdout") == "finished\n" and sc.get("exit_code") == 0,
               "a command longer than --timeout-s is not cut (streams use idle timeouts)", sc or text)
        finally:
            m2.close()

        # cancellation: notifications/cancelled -> SendSignal SIGKILL to the process
        before = set(fake.sandboxes()[sid]["pids"])
        s0 = fake.seq()
        rid = m.start("tools/call", {"name": "exec", "arguments": {"sandbox_id": sid,
                                                                    "command": "echo cancel-me; sleep 60"}})
        new = wait_for(lambda: set(fake.sandboxes()[sid]["pids"]) - before, 10)
        ok(new, "the exec to cancel started", fake.sandboxes()[sid])
        time.sleep(0.5)
        m.notify("notifications/cancelled", {"requestId": rid, "reason": "test"})
        sig = wait_for(lambda: envd_reqs(fake, s0, "process.Process/SendSignal"), 10)
        ok(sig and sig[0]["message"].get("signal") == 9 and sig[0]["message"]["process"]["pid"] in (new or ()),
           "cancel: the fake saw SendSignal SIGKILL for that process", (sig, new))
        ok(wait_for(lambda: not (set(fake.sandboxes()[sid]["pids"]) & (new or set())), 10),
           "cancel: the process is gone", (new, fake.sandboxes()[sid]))

        # sandbox lifecycle
        sc, err, text = m.call("sandbox_info", {"sandbox_id": sid})
        ok(not err and sc.get("state") == "running" and sc.get("template") == "base", "sandbox_info", sc or text)
        sc, err, text = m.call("sandbox_url", {"sandbox_id": sid, "port": 8080})
        ok(sc.get("url") == "http://8080-%s.fake.local" % sid, "sandbox_url native: PORT-ID.DOMAIN", sc or text)
        sc, err, text = m.call("sandbox_metrics", {"sandbox_id": sid})
        ok(not err and sc.get("cpu_count", 0) >= 1, "sandbox_metrics (envd /metrics)", sc or text)
        sc, err, text = m.call("network_policy", {"sandbox_id": sid})
        ok(not err and sc.get("default") == "deny" and "1.1.1.1" in sc.get("allow", []) and
           "10.0.0.0/8" in sc.get("deny", []), "network_policy get reports the create-time rules", sc or text)
        ok(not err and "0.0.0.0/0" not in sc.get("deny", []),
           "network_policy get: kruise's denyOut 0.0.0.0/0 shows as default deny, not as a rule", sc or text)

        def net_put(s0):
            rec = [r for r in fake.requests(s0) if r.get("route") == "management" and r["method"] == "PUT"]
            return rec[-1] if rec else {}

        s0 = fake.seq()
        sc, err, text = m.call("network_policy", {"sandbox_id": sid, "allow": ["8.8.8.8"]})
        put = net_put(s0)
        ok(not err and put.get("path") == "/sandboxes/%s/network" % sid and put.get("status") == 204 and
           put.get("json") == {"allowOut": ["8.8.8.8", "1.1.1.1", "example.com"], "denyOut": ["10.0.0.0/8"],
                               "allow_internet_access": False},
           "network_policy merge: PUT /sandboxes/ID/network with the current rules plus the new one", (put, text))
        ok(sc.get("default") == "deny" and sc.get("allow") == ["8.8.8.8", "1.1.1.1", "example.com"] and
           sc.get("deny") == ["10.0.0.0/8"], "network_policy merge: the effective policy is returned", sc or text)
        s0 = fake.seq()
        sc, err, text = m.call("network_policy", {"sandbox_id": sid, "default": "allow", "deny": ["1.1.1.1"]})
        put = net_put(s0)
        ok(not err and put.get("json") == {"allowOut": ["8.8.8.8", "example.com"], "denyOut": ["1.1.1.1", "10.0.0.0/8"],
                                           "allow_internet_access": True},
           "network_policy merge: a new default, and a target moves from allow to deny", (put, text))
        sc, err, text = m.call("network_policy", {"sandbox_id": sid})
        ok(not err and sc.get("default") == "allow" and sc.get("deny") == ["1.1.1.1", "10.0.0.0/8"] and
           sc.get("allow") == ["8.8.8.8", "example.com"], "network_policy get after a change: the platform's rules",
           sc or text)
        s0 = fake.seq()
        sc, err, text = m.call("network_policy", {"sandbox_id": sid, "allow": ["EXAMPLE.com"]})
        put = net_put(s0)
        ok(not err and put.get("json") == {"allowOut": ["EXAMPLE.com", "8.8.8.8"], "denyOut": ["1.1.1.1", "10.0.0.0/8"],
                                           "allow_internet_access": True},
           "network_policy merge: a domain in other case is the same target (backends/common/policy)", (put, text))
        s0 = fake.seq()
        sc, err, text = m.call("network_policy", {"sandbox_id": sid, "replace": True, "allow": ["example.org"]})
        put = net_put(s0)
        ok(not err and put.get("json") == {"allowOut": ["example.org"], "denyOut": [], "allow_internet_access": True}
           and sc.get("default") == "allow" and sc.get("allow") == ["example.org"] and sc.get("deny") == [],
           "network_policy replace: only the given rules, default allow (the platform's)", (put, sc, text))
        s0 = fake.seq()
        sc, err, text = m.call("network_policy", {"sandbox_id": sid, "replace": True, "default": "deny"})
        put = net_put(s0)
        ok(not err and put.get("json") == {"allowOut": [], "denyOut": [], "allow_internet_access": False} and
           sc.get("default") == "deny" and sc.get("allow") == [] and sc.get("deny") == [],
           "network_policy replace with default deny: allow_internet_access false", (put, sc, text))
        s0 = fake.seq()
        sc, err, text = m.call("network_policy", {"sandbox_id": sid, "deny": ["evil.example.com"]})
        ok(err and "IP addresses and CIDR blocks only" in text and "evil.example.com" in text and not net_put(s0),
           "network_policy: a domain deny rule is refused in words, nothing sent", text)
        fake.ctl("POST", "fault", {"match": "PUT /sandboxes/[^/]+/network", "kind": "status", "status": 405})
        sc, err, text = m.call("network_policy", {"sandbox_id": sid, "allow": ["9.9.9.9"]})
        fake.ctl("DELETE", "fault")
        ok(err and "cannot change" in text and "at create" in text,
           "network_policy on a manager without the network route: says it can only be set at create", text)
        sc, err, text = m.call("network_policy", {"sandbox_id": "default--nope-12345", "replace": True})
        ok(err and "does not exist" in text, "network_policy on an unknown sandbox: not found in words", text)
        s0 = fake.seq()
        sc, err, text = m.call("sandbox_set_timeout", {"sandbox_id": sid, "timeout_s": 1200})
        rec = [r for r in fake.requests(s0) if r.get("route") == "management"]
        ok(not err and sc.get("expires_at") and rec and rec[0]["path"] == "/sandboxes/%s/timeout" % sid
           and rec[0].get("json") == {"timeout": 1200}, "sandbox_set_timeout", (sc, text, rec[:1]))
        sc, err, text = m.call("sandbox_pause", {"sandbox_id": sid})
        ok(not err and fake.sandboxes()[sid]["state"] == "paused", "sandbox_pause", sc or text)
        sc, err, text = m.call("sandbox_pause", {"sandbox_id": sid})
        ok(not err, "pausing a paused sandbox is fine (409 is success)", text)
        sc, err, text = m.call("network_policy", {"sandbox_id": sid, "replace": True})
        ok(err and "409" in text, "network_policy on a paused sandbox: the platform's conflict in words", text)
        sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "true"})
        ok(err and "not reachable" in text and "sandbox_resume" in text, "exec in a paused sandbox: 502 in words",
           text)
        sc, err, text = m.call("sandbox_resume", {"sandbox_id": sid})
        ok(not err and fake.sandboxes()[sid]["state"] == "running", "sandbox_resume (connect)", sc or text)
        sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "echo back"})
        ok(sc.get("stdout") == "back\n", "exec after resume", sc or text)

        # list: state, metadata filter, paging
        other = m.call("sandbox_create", {"template": "base", "metadata": {"team": "other"}})[0].get("sandbox_id")
        sc, err, text = m.call("sandbox_list", {"metadata": {"team": "e2e"}})
        ok([s.get("sandbox_id") for s in sc.get("sandboxes", [])] == [sid], "sandbox_list metadata filter", sc or text)
        sc, err, text = m.call("sandbox_list", {"limit": 1})
        first = [s.get("sandbox_id") for s in sc.get("sandboxes", [])]
        cur = sc.get("next_cursor")
        sc2, err2, text2 = m.call("sandbox_list", {"limit": 1, "cursor": cur}) if cur else ({}, True, "no cursor")
        second = [s.get("sandbox_id") for s in sc2.get("sandboxes", [])]
        ok(len(first) == 1 and cur and len(second) == 1 and first != second, "sandbox_list paging (x-next-token)",
           (sc, sc2, text2))
        sc, err, text = m.call("sandbox_list", {"state": ["paused"]})
        ok(not err and sc.get("sandboxes") == [], "sandbox_list state filter", sc or text)
        req = [r for r in fake.requests() if r.get("path") == "/v2/sandboxes" and "metadata" in r.get("query", {})]
        ok(req and req[-1]["query"]["metadata"] == ["team=e2e"], "list metadata is sent double-encoded", req[-1:])
        fake.ctl("POST", "fault", {"match": "GET /v2/sandboxes", "kind": "status", "status": 200,
                                   "body": "<html>", "content_type": "text/html"})
        sc, err, text = m.call("sandbox_list", {})
        fake.ctl("DELETE", "fault")
        ok(err and "the E2B API sent invalid JSON" in text, "a 2xx that is not JSON: one sentence (ERR_PROTO)", text)

        # kill
        sc, err, text = m.call("sandbox_kill", {"sandbox_id": other})
        ok(not err and other not in fake.sandboxes(), "sandbox_kill", sc or text)
        sc, err, text = m.call("sandbox_kill", {"sandbox_id": other})
        ok(err and "does not exist" in text, "sandbox_kill of an unknown sandbox: 404 in words", text)
        sc, err, text = m.call("exec", {"sandbox_id": "default--nope-12345", "command": "true"})
        ok(err and "does not exist" in text, "exec in an unknown sandbox: one sentence", text)

        # the session default: sandbox_create made sid the default, so no sandbox_id uses it
        sc, err, text = m.call("exec", {"command": "echo default"})
        ok(not err and sc.get("stdout") == "default\n" and sc.get("pid"), "exec without sandbox_id uses the default",
           sc or text)
    finally:
        rc = m.close()
    ok(rc == 0, "sandbox-mcp exits 0 on stdin EOF", m.stderr()[-3000:])
    dels = [r["path"] for r in fake.requests() if r.get("route") == "management" and r["method"] == "DELETE"]
    ok("/sandboxes/" + sid in dels and sid not in fake.sandboxes(), "the default sandbox was killed at exit", dels)

    # a session without sandbox_create: the first exec creates the default from --template
    m = native(fake, "--template", "code-interpreter")
    try:
        s0 = fake.seq()
        sc, err, text = m.call("exec", {"command": "echo fresh"})
        made = [r for r in fake.requests(s0) if r.get("route") == "management" and r["method"] == "POST"]
        ok(not err and sc.get("stdout") == "fresh\n" and made and
           made[0].get("json", {}).get("templateID") == "code-interpreter" and
           made[0].get("json", {}).get("timeout") == 300,
           "the default sandbox is created on first need (template, timeout 300)", (sc or text, made[:1]))
    finally:
        m.close()
    ok(KEY not in m.stderr(), "the API key never appears on stderr")
    return sid


def fresh_sandbox(fake):
    return fake.ctl("POST", "sandbox", {"template": "base", "apiKey": KEY, "shortId": False})["sandboxID"]


def test_private(fake, sid):
    m = Mcp(["--backend", "e2b", "--api-key", KEY, "--routing", "private", "--domain", "127.0.0.1:%d" % fake.port,
             "--scheme", "http"])
    try:
        s0 = fake.seq()
        sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "echo private"})
        ok(not err and sc.get("stdout") == "private\n", "private routing: exec", sc or text)
        reqs = fake.requests(s0)
        mg = [r for r in reqs if r.get("route") == "management"]
        ev = [r for r in reqs if r.get("route") == "envd"]
        ok(ev and ev[0]["path"].startswith("/kruise/%s/49983/" % sid), "envd under /kruise/ID/49983",
           [r["path"] for r in ev])
        ok(mg and mg[0]["path"].startswith("/kruise/api/sandboxes/"), "management under /kruise/api",
           [r["path"] for r in mg])
        sc, err, text = m.call("file_write", {"sandbox_id": sid, "path": "/p/x.txt", "content": "P"})
        sc, err, text = m.call("file_read", {"sandbox_id": sid, "path": "/p/x.txt"})
        ok(sc.get("content") == "P", "private routing: files", sc or text)
        sc, err, text = m.call("sandbox_url", {"sandbox_id": sid, "port": 3000})
        ok(sc.get("url") == "http://127.0.0.1:%d/kruise/%s/3000" % (fake.port, sid), "sandbox_url private", sc)
        sc, err, text = m.call("sandbox_info", {"sandbox_id": sid})
        ok(not err and sc.get("sandbox_id") == sid, "private routing: sandbox_info", sc or text)
    finally:
        m.close()
    # --user: one envd user for processes (Basic auth) and /files (username=)
    m = Mcp(["--backend", "e2b", "--api-key", KEY, "--routing", "private", "--domain", "127.0.0.1:%d" % fake.port,
             "--scheme", "http", "--user", "user"])
    try:
        s0 = fake.seq()
        sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "echo $USER; pwd"})
        ok(not err and sc.get("stdout", "").startswith("user\n") and
           sc.get("stdout", "").rstrip().endswith("/home/user"), "--user: commands run as that user", sc or text)
        sc, err, text = m.call("file_write", {"sandbox_id": sid, "path": "mine.txt", "content": "u"})
        sc, err, text = m.call("file_stat", {"sandbox_id": sid, "path": "/home/user/mine.txt"})
        ok(not err and sc.get("exists"), "--user: relative /files paths land in the user's home", sc or text)
        ev = envd_reqs(fake, s0)
        st = [r for r in ev if r.get("rpc")]
        fw = [r for r in ev if r["path"].endswith("/files")]
        ok(st and all(r["headers"].get("authorization") == "Basic dXNlcjo=" for r in st) and
           fw and all(r["query"].get("username") == ["user"] for r in fw),
           "--user: Authorization: Basic user: on RPCs and username=user on /files",
           [(r["path"], r["headers"].get("authorization"), r["raw_query"]) for r in ev])
    finally:
        m.close()


def test_explicit_urls(fake, sid):
    m = Mcp(["--backend", "e2b", "--api-key", KEY, "--api-url", fake.base + "/kruise/api",
             "--sandbox-url", fake.base + "/kruise/{id}/{port}"])
    try:
        s0 = fake.seq()
        sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "echo explicit"})
        ok(not err and sc.get("stdout") == "explicit\n", "explicit --api-url and --sandbox-url: exec", sc or text)
        ev = envd_reqs(fake, s0)
        ok(ev and ev[0]["path"].startswith("/kruise/%s/49983/" % sid), "explicit sandbox URL template used",
           [r["path"] for r in ev])
    finally:
        m.close()
    # a bad key: one sentence naming the variables
    m = Mcp(["--backend", "e2b", "--api-key", "wrong-key", "--api-url", fake.base])
    try:
        sc, err, text = m.call("sandbox_list", {})
        ok(err and "401" in text and "X_API_KEY" in text and "wrong-key" not in text,
           "a rejected API key: 401 sentence naming X_API_KEY, without the key", text)
    finally:
        m.close()


def test_runtime_direct(fake):
    j = fake.ctl("POST", "sandbox", {"template": "base", "shortId": True})
    sid, tok = j["sandboxID"], j["envdAccessToken"]
    m = Mcp(["--backend", "e2b", "--sandbox", sid, "--domain", "127.0.0.1:%d" % fake.port],
            {"X_ACCESS_TOKEN": tok})
    try:
        names = m.tools()
        ok("exec" in names and "file_read" in names and "sandbox_create" not in names and "sandbox_list" not in names,
           "runtime-direct: exec/file tools only", names)
        s0 = fake.seq()
        sc, err, text = m.call("exec", {"command": "echo direct; id -un >/dev/null"})
        ok(not err and sc.get("stdout") == "direct\n", "runtime-direct exec (header mode, default sandbox)",
           sc or text)
        reqs = fake.requests(s0)
        ok(reqs and all(r.get("route") == "envd" for r in reqs) and reqs[0]["headers"].get("e2b-sandbox-id") == sid
           and reqs[0]["host"].startswith("127.0.0.1") and reqs[0]["headers"].get("x-access-token") == tok,
           "runtime-direct: header-routed to the gateway with the token, no management call",
           [(r.get("route"), r.get("host"), r.get("path")) for r in reqs])
        sc, err, text = m.call("file_write", {"path": "d/f.txt", "content": "rt"})
        sc, err, text = m.call("file_read", {"path": "d/f.txt"})
        ok(sc.get("content") == "rt", "runtime-direct files", sc or text)
        sc, err, text = m.call("file_list", {"path": "d"})
        ok([e.get("name") for e in sc.get("entries", [])] == ["f.txt"], "runtime-direct file_list", sc or text)
        m.call("file_write", {"path": "d/sub/g.txt", "content": "g"})
        sc, err, text = m.call("file_search", {"path": "d", "pattern": "**/*.txt"})
        ok(sorted(x.rsplit("/d/", 1)[-1] for x in sc.get("matches", [])) == ["f.txt", "sub/g.txt"],
           "file_search under a relative path", sc or text)
        sc, err, text = m.call("exec", {"command": "sleep 30", "background": True})
        pid = sc.get("pid")
        sc, err, text = m.call("process_kill", {"pid": pid, "signal": "SIGKILL"})
        ok(not err, "runtime-direct process_kill SIGKILL", text)
        sc, err, text = m.call("sandbox_url", {"port": 8000})
        ok(sc.get("url") == "http://127.0.0.1:%d" % fake.port and
           {"e2b-sandbox-id": sid, "e2b-sandbox-port": "8000"}.items() <= (sc.get("headers") or {}).items(),
           "runtime-direct sandbox_url: the gateway URL plus routing headers", sc)
    finally:
        rc = m.close()
    ok(sid in fake.sandboxes(), "runtime-direct never kills the attached sandbox")
    ok(tok not in m.stderr(), "the runtime token never appears on stderr")
    rc, err = run_fails(["--backend", "e2b", "--sandbox", sid], {"X_ACCESS_TOKEN": tok})
    ok(rc != 0 and "--domain" in err and tok not in err,
       "runtime-direct without a domain is refused (no token sent to a default host)", err[-300:])
    m = Mcp(["--backend", "e2b", "--sandbox", sid, "--domain", "127.0.0.1:%d" % fake.port,
             "--access-token", "wrong-token"])
    try:
        sc, err, text = m.call("exec", {"command": "true"})
        ok(err and "401" in text and "access token" in text, "a wrong runtime token: 401 in words", text)
        sc, err, text = m.call("file_read", {"path": "/etc/hostname"})
        ok(err and "401" in text, "a wrong runtime token on /files: 401", text)
    finally:
        m.close()


def test_k8s(fake):
    fake.ctl("POST", "sandbox", {"template": "base", "namespace": "team", "name": "box1", "shortId": True,
                                 "token": "tok-k8s-123456", "sandboxID": "shortid0123456789abc"})
    fake.ctl("POST", "sandbox", {"template": "base", "namespace": "team", "name": "legacy", "shortId": False,
                                 "token": ""})
    kdir = tempfile.mkdtemp(prefix="kube-")
    kc = os.path.join(kdir, "config")
    with open(os.path.join(kdir, "token"), "w") as f:
        f.write("fake-k8s-token\n")
    with open(kc, "w") as f:
        f.write("""apiVersion: v1
kind: Config
# written like kubectl does, sequences at the parent's indentation
clusters:
- cluster:
    server: http://127.0.0.1:%d
  name: fake
contexts:
- context:
    cluster: fake
    user: tester
    namespace: team
  name: fake-ctx
current-context: fake-ctx
users:
- name: tester
  user:
    tokenFile: token
""" % fake.k8s_port)
    env = {"KUBECONFIG": kc}
    m = Mcp(["--backend", "e2b", "--k8s", "team/box1", "--domain", "127.0.0.1:%d" % fake.port], env)
    try:
        s0 = fake.seq()
        sc, err, text = m.call("exec", {"sandbox_id": "shortid0123456789abc", "command": "echo k8s"})
        ok(not err and sc.get("stdout") == "k8s\n", "--k8s: the sandbox-id label and token annotation work",
           sc or text)
        ev = envd_reqs(fake, s0)
        ok(ev and ev[0]["headers"].get("x-access-token") == "tok-k8s-123456", "--k8s: token from the annotation",
           ev[:1])
        sc, err, text = m.call("exec", {"command": "echo default"})
        if err and "cannot create sandboxes" in text:
            skip("--k8s: the resolved sandbox is the session default", "main.c does not call e2b_config_k8s yet")
        else:
            ok(not err and sc.get("stdout") == "default\n", "--k8s: the resolved sandbox is the session default",
               sc or text)
    finally:
        m.close()
    m = Mcp(["--backend", "e2b", "--k8s", "team/legacy", "--domain", "127.0.0.1:%d" % fake.port], env)
    try:
        sc, err, text = m.call("exec", {"sandbox_id": "team--legacy", "command": "echo legacy"})
        ok(not err and sc.get("stdout") == "legacy\n", "--k8s legacy: NAMESPACE--NAME id without a token",
           sc or text)
    finally:
        m.close()
    # failures stop the server at start with one sentence on stderr
    rc, err = run_fails(["--backend", "e2b", "--k8s", "team/ghost", "--domain", "127.0.0.1:%d" % fake.port], env)
    ok(rc != 0 and "team/ghost" in err and "404" in err, "--k8s of a missing Sandbox: refused at start, in words",
       (rc, err[-500:]))
    with open(os.path.join(kdir, "token"), "w") as f:
        f.write("bad\n")
    rc, err = run_fails(["--backend", "e2b", "--k8s", "team/box1", "--domain", "127.0.0.1:%d" % fake.port], env)
    ok(rc != 0 and "401" in err and "Kubernetes" in err, "--k8s with a bad token: Kubernetes 401 in words",
       (rc, err[-500:]))
    with open(kc, "a") as f:
        f.write("- name: execuser\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                "      command: aws\n")
    with open(kc) as f:
        text = f.read().replace("user: tester", "user: execuser")
    with open(kc, "w") as f:
        f.write(text)
    rc, err = run_fails(["--backend", "e2b", "--k8s", "team/box1", "--domain", "127.0.0.1:%d" % fake.port], env)
    ok(rc != 0 and "exec" in err and "client certificate" in err,
       "--k8s with an exec plugin only: refused in words (use a token or a client certificate)", (rc, err[-500:]))


def make_tls(d):
    """A CA and a server certificate for 127.0.0.1 made with openssl; None without it.
    Also client certificates from that CA: cli.crt/cli.key (EC, PKCS#8, CN e2e-k8s-user) and
    rsa.crt/rsa.key (RSA, PKCS#1, CN e2e-rsa-user)."""
    if not shutil.which("openssl"):
        return None
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    with open(os.path.join(d, "cli.cnf"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    cmds = [
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=fake-k8s-ca"],
        ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "srv.crt", "-days", "2", "-extfile", ext],
        ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "cli.key", "-out", "cli.csr", "-subj", "/O=system:masters/CN=e2e-k8s-user"],
        ["openssl", "x509", "-req", "-in", "cli.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "cli.crt", "-days", "2", "-extfile", "cli.cnf"],
        ["openssl", "genrsa", "-traditional", "-out", "rsa.key", "2048"],
        ["openssl", "req", "-new", "-key", "rsa.key", "-out", "rsa.csr", "-subj", "/CN=e2e-rsa-user"],
        ["openssl", "x509", "-req", "-in", "rsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "rsa.crt", "-days", "2", "-extfile", "cli.cnf"],
    ]
    for c in cmds:
        if subprocess.run(c, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            return None
    return os.path.join(d, "ca.crt"), os.path.join(d, "srv.crt"), os.path.join(d, "srv.key")


def test_k8s_tls():
    d = tempfile.mkdtemp(prefix="k8s-tls-")
    tls = make_tls(d)
    if not tls:
        skip("--k8s over TLS with certificate-authority-data", "openssl is not installed")
        return
    ca, crt, key = tls
    fake = Fake("--k8s-tls", crt + "," + key)
    try:
        fake.ctl("POST", "sandbox", {"template": "base", "namespace": "prod", "name": "agent",
                                     "sandboxID": "tlsshortid0000000000a", "token": "tok-tls-987654"})
        with open(ca, "rb") as f:
            ca_b64 = base64.b64encode(f.read()).decode()
        kc = os.path.join(d, "config")
        with open(kc, "w") as f:
            f.write("""apiVersion: v1
clusters:
- name: tls
  cluster:
    certificate-authority-data: %s
    server: https://127.0.0.1:%d
contexts:
- name: c
  context: {cluster: tls, user: u}
current-context: c
users:
- name: u
  user:
    token: "fake-k8s-token"
""" % (ca_b64, fake.k8s_port))
        # flow-style context is not in our YAML subset: it must fail with a sentence
        rc, err = run_fails(["--backend", "e2b", "--k8s", "prod/agent", "--domain", "127.0.0.1:%d" % fake.port],
                            {"KUBECONFIG": kc})
        ok(rc != 0 and "kubeconfig" in err, "an unreadable kubeconfig context fails in words", err[-400:])
        with open(kc) as f:
            text = f.read().replace("  context: {cluster: tls, user: u}\n", "  context:\n    cluster: tls\n    user: u\n")
        with open(kc, "w") as f:
            f.write(text)
        m = Mcp(["--backend", "e2b", "--k8s", "prod/agent", "--domain", "127.0.0.1:%d" % fake.port],
                {"KUBECONFIG": kc})
        try:
            sc, err, text = m.call("exec", {"sandbox_id": "tlsshortid0000000000a", "command": "echo tls"})
            ok(not err and sc.get("stdout") == "tls\n",
               "--k8s over HTTPS verified with the kubeconfig's certificate-authority-data", sc or text)
        finally:
            m.close()
        leftovers = [n for n in os.listdir(os.environ.get("TMPDIR", "/tmp")) if n.startswith("sandbox-mcp-k8s-ca-")]
        ok(not leftovers, "the temporary CA file is removed", leftovers)
        # without the CA the server's certificate is not trusted
        with open(kc) as f:
            text = f.read().replace("certificate-authority-data: " + ca_b64, "server-name: x")
        with open(kc, "w") as f:
            f.write(text)
        rc, err = run_fails(["--backend", "e2b", "--k8s", "prod/agent", "--domain", "127.0.0.1:%d" % fake.port],
                            {"KUBECONFIG": kc, "SSL_CERT_FILE": ca + ".none"})
        ok(rc != 0 and "prod/agent" in err, "an untrusted Kubernetes certificate is refused", err[-400:])
    finally:
        fake.stop()


def b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def test_k8s_mtls():
    """--k8s against an API server that requires client certificates (kubeconfig client-cert auth)."""
    d = tempfile.mkdtemp(prefix="k8s-mtls-")
    tls = make_tls(d)
    if not tls:
        skip("--k8s with kubeconfig client certificates", "openssl is not installed")
        return
    ca, crt, key = tls
    fake = Fake("--k8s-tls", crt + "," + key, "--k8s-client-ca", ca)
    try:
        fake.ctl("POST", "sandbox", {"template": "base", "namespace": "ops", "name": "mtls",
                                     "sandboxID": "mtlsshortid000000000b", "token": "tok-mtls-424242"})
        kc = os.path.join(d, "config")

        def kubeconfig(user):
            with open(kc, "w") as f:
                f.write("""apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: %s
    server: https://127.0.0.1:%d
  name: mtls
contexts:
- context:
    cluster: mtls
    user: me
  name: c
current-context: c
users:
- name: me
  user:
%s""" % (b64file(ca), fake.k8s_port, "".join("    %s: %s\n" % kv for kv in user)))

        args = ["--backend", "e2b", "--k8s", "ops/mtls", "--domain", "127.0.0.1:%d" % fake.port]
        cases = (("client-certificate-data / client-key-data (EC)", "e2e-k8s-user",
                  [("client-certificate-data", b64file(os.path.join(d, "cli.crt"))),
                   ("client-key-data", b64file(os.path.join(d, "cli.key")))]),
                 ("client-certificate / client-key files relative to the kubeconfig (RSA PKCS#1)", "e2e-rsa-user",
                  [("client-certificate", "rsa.crt"), ("client-key", "rsa.key")]))
        for desc, cn, user in cases:
            kubeconfig(user)
            s0 = fake.seq()
            m = Mcp(args, {"KUBECONFIG": kc})
            try:
                sc, err, text = m.call("exec", {"sandbox_id": "mtlsshortid000000000b", "command": "echo mtls"})
                ok(not err and sc.get("stdout") == "mtls\n", "--k8s with %s: the Sandbox is resolved" % desc,
                   sc or text)
                k8s = [r for r in fake.requests(s0) if r.get("route") == "k8s"]
                ok(k8s and k8s[0].get("k8s_client_cn") == cn and "authorization" not in k8s[0]["headers"] and
                   k8s[0]["path"] == "/apis/agents.kruise.io/v1alpha1/namespaces/ops/sandboxes/mtls",
                   "--k8s with %s: the API server saw the client certificate (CN %s)" % (desc, cn), k8s[:1])
                ev = envd_reqs(fake, s0)
                ok(ev and ev[0]["headers"].get("x-access-token") == "tok-mtls-424242",
                   "--k8s with %s: token from the annotation" % desc, ev[:1])
            finally:
                m.close()
            key_lines = []
            for kf in ("cli.key", "rsa.key"):
                with open(os.path.join(d, kf)) as f:
                    key_lines += [ln for ln in f.read().splitlines() if ln and not ln.startswith("-----")]
            ok(not any(ln in m.stderr() for ln in key_lines), "--k8s with %s: no key material in the log" % desc)

        kubeconfig([("token", "fake-k8s-token")])
        rc, err = run_fails(args, {"KUBECONFIG": kc})
        ok(rc != 0 and "ops/mtls" in err and "requires a client certificate" in err,
           "an API server that requires a client certificate, and the kubeconfig has none: refused in words",
           err[-500:])
        kubeconfig([("client-certificate", "cli.crt")])
        rc, err = run_fails(args, {"KUBECONFIG": kc})
        ok(rc != 0 and "client certificate without its key" in err, "a client certificate without its key: "
           "refused in words", err[-500:])
        kubeconfig([("client-certificate", "cli.crt"), ("client-key", "rsa.key")])
        rc, err = run_fails(args, {"KUBECONFIG": kc})
        ok(rc != 0 and "does not match its private key" in err and "ops/mtls" in err,
           "a client key that does not belong to the certificate: refused in words", err[-500:])
        kubeconfig([("client-certificate-data", "not base64!"), ("client-key-data", b64file(os.path.join(d, "cli.key")))])
        rc, err = run_fails(args, {"KUBECONFIG": kc})
        ok(rc != 0 and "client-certificate-data is not base64" in err, "client-certificate-data that is not "
           "base64: refused in words", err[-500:])
    finally:
        fake.stop()


def test_envd_port():
    """--envd-port (the Go clients' RuntimePort) for templates whose envd is not on 49983."""
    helptext = subprocess.run([BIN, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=30).stdout.decode("utf-8", "replace")
    if "--envd-port" not in helptext:
        skip("--envd-port: envd on another port (private, native, header routing)",
             "main.c has no --envd-port flag yet (config.envd_port)")
        return
    fake = Fake("--envd-port", "50123")
    try:
        sid = fake.ctl("POST", "sandbox", {"template": "base", "token": "tok-port-1"})["sandboxID"]
        m = Mcp(["--backend", "e2b", "--api-key", KEY, "--routing", "private", "--domain",
                 "127.0.0.1:%d" % fake.port, "--scheme", "http", "--envd-port", "50123"])
        try:
            s0 = fake.seq()
            sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "echo port"})
            ev = envd_reqs(fake, s0)
            ok(not err and sc.get("stdout") == "port\n" and ev and ev[0]["path"].startswith("/kruise/%s/50123/" % sid),
               "--envd-port, private routing: envd under /kruise/ID/50123", (sc or text, [r["path"] for r in ev]))
            s0 = fake.seq()
            sc, err, text = m.call("file_write", {"sandbox_id": sid, "path": "/p.txt", "content": "x"})
            ev = envd_reqs(fake, s0)
            ok(not err and ev and all(r.get("port") == 50123 for r in ev), "--envd-port: /files too",
               (text, [(r["path"], r.get("port")) for r in ev]))
        finally:
            m.close()
        m = Mcp(["--backend", "e2b", "--sandbox", sid, "--access-token", "tok-port-1", "--domain",
                 "127.0.0.1:%d" % fake.port, "--envd-port", "50123"])
        try:
            s0 = fake.seq()
            sc, err, text = m.call("exec", {"command": "echo header"})
            ev = envd_reqs(fake, s0)
            ok(not err and sc.get("stdout") == "header\n" and ev and
               ev[0]["headers"].get("e2b-sandbox-port") == "50123",
               "--envd-port, runtime-direct header mode: e2b-sandbox-port 50123", (sc or text, ev[:1]))
        finally:
            m.close()
        m = native(fake, "--envd-port", "50123")
        try:
            s0 = fake.seq()
            sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "echo native"})
            ev = envd_reqs(fake, s0)
            ok(not err and sc.get("stdout") == "native\n" and ev and ev[0]["host"] == "50123-%s.fake.local" % sid,
               "--envd-port, native routing: Host 50123-ID.DOMAIN", (sc or text, [r["host"] for r in ev]))
        finally:
            m.close()
        m = Mcp(["--backend", "e2b", "--api-key", KEY, "--routing", "private", "--domain",
                 "127.0.0.1:%d" % fake.port, "--scheme", "http"])
        try:
            sc, err, text = m.call("exec", {"sandbox_id": sid, "command": "true"})
            ok(err and "503" in text, "without --envd-port the default 49983 misses this template's envd", text)
        finally:
            m.close()
        rc, err = run_fails(["--backend", "e2b", "--api-key", KEY, "--envd-port", "70000"], {})
        ok(rc != 0 and ("envd" in err or "port" in err), "--envd-port out of range: refused at start", err[-300:])
    finally:
        fake.stop()


def run_fails(args, env):
    """Runs a session that should fail before serving; -> (exit status, stderr)."""
    e = dict(os.environ)
    e.pop("KUBECONFIG", None)
    e.update(env)
    e["HOME"] = tempfile.mkdtemp(prefix="e2e-home-")
    p = subprocess.run([BIN] + args, input=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                       timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    if "Sanitizer" in err or "runtime error" in err:
        ok(False, "no sanitizer report from a failed start", err[-3000:])
    return p.returncode, err


def main():
    if not os.access(BIN, os.X_OK):
        ok(False, "sandbox-mcp is built", BIN)
        print("1..%d" % N)
        return 1
    fake = Fake("--min-timeout", "1")
    try:
        test_native(fake)
        sid = fresh_sandbox(fake)
        test_private(fake, sid)
        test_explicit_urls(fake, sid)
        test_runtime_direct(fake)
        test_k8s(fake)
        test_k8s_tls()
        test_k8s_mtls()
        test_envd_port()
    except Exception:  # noqa: BLE001
        import traceback
        ok(False, "the test run raised", traceback.format_exc())
    finally:
        fake.stop()
    print("1..%d" % N)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
