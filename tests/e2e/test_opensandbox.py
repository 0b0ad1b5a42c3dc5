#!/usr/bin/env python3
"""End-to-end: sandbox-mcp --backend opensandbox against the fake OpenSandbox.

Drives the binary ($SANDBOX_MCP_BIN) over MCP stdio through every tool the backend offers
and checks, in the fake's request log, what went over the wire: the API key only on the
lifecycle API, the upload's metadata part, Range reads, DELETE /command?id= on cancel and
on process_kill, cleanup of a failed create, pagination, error sentences (401, 404, 409,
422, 5xx) that never contain the key, a 100 MB output in bounded memory, and that exec
stops at the final event instead of waiting for execd's 1 s tail.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcpclient import BIN, Server, Tap, is_error, structured, text_of  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FAKE = os.path.join(ROOT, "tests", "fake", "opensandbox.py")
KEY = "os-e2e-secret-key-7f3a"
T = Tap()


class Fake:
    def __init__(self, *args):
        self.p = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--api-key", KEY, "--quiet",
                                   "--exit-on-stdin-eof", "--start-delay-ms", "150"] + list(args),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.p.stdout.readline().decode()
        self.port = int(line.split()[1])
        self.base = "http://127.0.0.1:%d" % self.port

    def ctl(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.base + path, data=data, method=method)
        with urllib.request.urlopen(r, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def requests(self):
        return self.ctl("GET", "/__fake/requests")

    def fault(self, **f):
        return self.ctl("POST", "/__fake/fault", f)

    def clear_faults(self):
        self.ctl("DELETE", "/__fake/fault")

    def wait_request(self, pred, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            for r in self.requests():
                if pred(r):
                    return r
            time.sleep(0.1)
        return None

    def stop(self):
        try:
            self.p.stdin.close()
            self.p.wait(10)
        except Exception:
            self.p.kill()


def hdr(rec, name):
    for k, v in rec["headers"]:
        if k.lower() == name.lower():
            return v
    return None


def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def start(fake, *extra, env=None):
    e = {"ASAN_OPTIONS": "detect_leaks=1:quarantine_size_mb=16:malloc_context_size=5"}
    e.update(env or {})
    s = Server(["--backend", "opensandbox", "--domain", "127.0.0.1:%d" % fake.port] + list(extra), env=e)
    r = s.initialize("2025-06-18")
    return s, r


def call(s, name, args=None, **kw):
    r = s.call(name, args or {}, **kw)
    return r, structured(r)


def test_lifecycle(s, f):
    r = s.request("tools/list")
    names = {t["name"] for t in (r or {}).get("result", {}).get("tools", [])}
    want = {"sandbox_create", "sandbox_list", "sandbox_info", "sandbox_kill", "sandbox_pause",
            "sandbox_resume", "sandbox_set_timeout", "sandbox_url", "sandbox_metrics", "exec",
            "process_list", "process_output", "process_kill", "run_code", "file_read", "file_write",
            "file_edit", "file_list", "file_stat", "file_mkdir", "file_move", "file_remove",
            "file_search", "network_policy", "code_context_create", "code_context_list",
            "code_context_delete"}
    T.ok(want <= names, "tools/list offers every OpenSandbox tool", sorted(want - names))
    T.ok("process_send_stdin" not in names, "process_send_stdin is left out (execd has no stdin)")

    r, sc = call(s, "sandbox_create", {"template": "python:3.11", "timeout_s": 600, "env": {"GREETING": "hello"},
                                       "metadata": {"team": "e2e"}, "resources": {"cpu": "500m", "memory": "512Mi"}})
    sid = sc.get("sandbox_id")
    T.ok(not is_error(r) and sid and sc.get("state") == "running", "sandbox_create waits until running", r)
    post = [x for x in f.requests() if x["method"] == "POST" and x["path"] == "/v1/sandboxes"][-1]
    body = json.loads(post["body"])
    T.ok(body["entrypoint"] and body["resourceLimits"] == {"cpu": "500m", "memory": "512Mi"} and
         body["timeout"] == 600 and body["env"] == {"GREETING": "hello"} and body["metadata"]["team"] == "e2e" and
         "networkPolicy" not in body, "create request: entrypoint, resources, timeout, env, metadata", body)
    T.ok(hdr(post, "OPEN-SANDBOX-API-KEY") == KEY, "lifecycle requests carry OPEN-SANDBOX-API-KEY")
    gets = [x for x in f.requests() if x["method"] == "GET" and x["path"] == "/v1/sandboxes/" + sid]
    pings = [x for x in f.requests() if x.get("upstream_path") == "/ping" and x.get("sandbox_id") == sid]
    T.ok(len(gets) >= 1 and pings and pings[-1]["status"] == 200, "create polled the state and pinged execd")
    T.ok(all(hdr(x, "OPEN-SANDBOX-API-KEY") is None for x in f.requests() if x.get("service") in ("execd", "egress")),
         "the API key never goes to execd or egress")

    r, _ = call(s, "sandbox_create", {"metadata": {"name": "Data Processing Sandbox"}})
    T.ok(is_error(r) and "label" in text_of(r), "metadata that breaks the label rules is refused before sending",
         text_of(r))

    r, sc = call(s, "sandbox_info", {"sandbox_id": sid})
    T.ok(sc.get("state") == "running" and sc.get("template") == "python:3.11" and sc.get("expires_at"),
         "sandbox_info", sc)
    ids = [sid]
    for i in range(2):
        ids.append(structured(s.call("sandbox_create", {"metadata": {"team": "e2e", "n": str(i)}})).get("sandbox_id"))
    seen, cursor, pages = [], None, 0
    while pages < 5:
        args = {"limit": 2, "metadata": {"team": "e2e"}}
        if cursor:
            args["cursor"] = cursor
        r, sc = call(s, "sandbox_list", args)
        seen += [x["sandbox_id"] for x in sc.get("sandboxes", [])]
        pages += 1
        cursor = sc.get("next_cursor")
        if not cursor:
            break
    T.ok(pages == 2 and sorted(seen) == sorted(ids), "sandbox_list pages with next_cursor", (pages, seen, ids))
    lst = [x for x in f.requests() if x["method"] == "GET" and x["path"] == "/v1/sandboxes"]
    T.ok(any("page=2" in x["query"] and "pageSize=2" in x["query"] and "metadata=team%3De2e" in x["query"]
             for x in lst), "list query: page, pageSize and the metadata filter", [x["query"] for x in lst])
    r, sc = call(s, "sandbox_list", {"state": ["paused"]})
    T.ok(not is_error(r) and sc.get("sandboxes") == [], "state filter")

    r, _ = call(s, "sandbox_resume", {"sandbox_id": sid})
    T.ok(is_error(r) and "409" in text_of(r) and "SANDBOX_NOT_PAUSED" in text_of(r),
         "409 becomes a sentence with the server's code", text_of(r))
    r, sc = call(s, "sandbox_pause", {"sandbox_id": sid})
    T.ok(not is_error(r) and sc.get("state") == "paused", "sandbox_pause", r)
    r, sc = call(s, "sandbox_resume", {"sandbox_id": sid})
    T.ok(not is_error(r) and sc.get("state") == "running", "sandbox_resume", r)
    r, sc = call(s, "sandbox_set_timeout", {"sandbox_id": sid, "timeout_s": 3600})
    renew = [x for x in f.requests() if x["path"].endswith("/renew-expiration")]
    T.ok(not is_error(r) and sc.get("expires_at") and renew and "expiresAt" in renew[-1]["body"],
         "sandbox_set_timeout renews to an absolute time", r)
    r, sc = call(s, "sandbox_url", {"sandbox_id": sid, "port": 8080})
    T.ok(sc.get("url", "").startswith("http://127.0.0.1:%d/" % f.port) and sc["url"].endswith("/proxy/8080"),
         "sandbox_url adds the scheme to the endpoint", sc)
    r, sc = call(s, "sandbox_metrics", {"sandbox_id": sid})
    T.ok(not is_error(r) and json.dumps(sc) != "{}", "sandbox_metrics", r)
    for x in ids[1:]:
        call(s, "sandbox_kill", {"sandbox_id": x})
    r, sc = call(s, "sandbox_kill", {"sandbox_id": ids[1]})
    T.ok(is_error(r) and "does not exist" in text_of(r) and "404" in text_of(r), "killing twice: not found", text_of(r))
    r, _ = call(s, "sandbox_info", {"sandbox_id": ids[1]})
    T.ok(is_error(r) and "SANDBOX_NOT_FOUND" in text_of(r), "info after kill: 404 sentence", text_of(r))
    return sid


def test_exec(s, f, sid):
    r, sc = call(s, "exec", {"sandbox_id": sid, "command": "echo hi; echo oops >&2; printf 'a\\n\\nb'; exit 3"})
    T.ok(sc.get("exit_code") == 3 and sc.get("stdout") == "hi\na\n\nb\n" and sc.get("stderr") == "oops\n",
         "exec: exit code from the error event, lines rebuilt", sc)
    rec = f.wait_request(lambda x: x.get("upstream_path") == "/command" and x.get("stream_ended"))
    T.ok(rec and rec.get("closed_in_tail") is True, "exec closed the stream at the final event (no 1 s tail)", rec)
    T.ok(rec and hdr(rec, "OPEN-SANDBOX-API-KEY") is None, "execd request without the API key")
    r, sc = call(s, "exec", {"sandbox_id": sid, "command": "cat; echo; echo $GREETING $EXTRA; pwd", "cwd": "/workspace",
                             "env": {"EXTRA": "there"}, "stdin": "from stdin"})
    out = sc.get("stdout", "").split("\n")
    T.ok(sc.get("exit_code") == 0 and out[0] == "from stdin" and out[1] == "hello there" and out[2].endswith("/workspace"),
         "exec: stdin, env (sandbox and call), cwd", sc)
    body = json.loads([x for x in f.requests() if x.get("upstream_path") == "/command"][-1]["body"])
    T.ok(body.get("cwd") == "/workspace" and body.get("envs") == {"EXTRA": "there"} and body.get("timeout"),
         "command request: cwd, envs, timeout in ms", body)

    pid = None
    r = s.call("exec", {"sandbox_id": sid, "command": "for i in 1 2 3; do echo tick $i; sleep 0.4; done"},
               meta={"progressToken": "tok-1"})
    prog = [m for m in s.pending if m.get("method") == "notifications/progress" and
            m.get("params", {}).get("progressToken") == "tok-1"]
    s.pending = [m for m in s.pending if m.get("method") != "notifications/progress"]
    T.ok(structured(r).get("exit_code") == 0 and structured(r).get("stdout", "").count("tick") == 3,
         "exec with a progress token", r)
    T.ok(prog and "tick 1" in json.dumps(prog), "output streamed as notifications/progress", prog[:3])

    r, sc = call(s, "exec", {"sandbox_id": sid, "command": "sleep 30", "timeout_s": 1})
    T.ok(sc.get("timed_out") is True and sc.get("exit_code") is None, "exec timeout_s: timed_out, exit_code null", sc)

    # cancellation: notifications/cancelled must make the backend DELETE the command
    s.next_id += 1
    rid = s.next_id
    s.send({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
            "params": {"name": "exec", "arguments": {"sandbox_id": sid, "command": "sleep 40; echo never"}}})
    started = f.wait_request(lambda x: x.get("upstream_path") == "/command" and x["method"] == "POST" and
                             "sleep 40" in x["body"])
    time.sleep(0.5)
    s.notify("notifications/cancelled", {"requestId": rid, "reason": "test"})
    dele = f.wait_request(lambda x: x["method"] == "DELETE" and x.get("upstream_path") == "/command" and
                          x["status"] is not None)
    T.ok(started and dele and dele["query"].startswith("id=") and dele["status"] == 200,
         "cancel -> DELETE /command?id= observed by the fake", dele)
    cmds = f.ctl("GET", "/__fake/sandboxes")
    running = [c for sb in cmds for c in sb["commands"].values() if "sleep 40" in c["content"] and c["running"]]
    T.ok(not running, "the cancelled command no longer runs")
    T.ok(s.response(rid, timeout=3) is None, "a cancelled request gets no response")

    # background
    r, sc = call(s, "exec", {"sandbox_id": sid, "command": "echo one; sleep 0.5; echo two >&2; exit 7", "background": True})
    pid = sc.get("pid")
    T.ok(pid and sc.get("running") is True, "background exec returns a pid", sc)
    r, sc = call(s, "process_list", {"sandbox_id": sid})
    T.ok(any(p["pid"] == pid for p in sc.get("processes", [])), "process_list shows it", sc)
    out, off, code = "", 0, None
    for _ in range(20):
        r, sc = call(s, "process_output", {"sandbox_id": sid, "pid": pid, "offset": off, "wait_s": 2})
        out += sc.get("output", "")
        off = sc.get("next_offset", off)
        if not sc.get("running"):
            code = sc.get("exit_code")
            break
    T.ok(out == "one\ntwo\n" and off == 8 and code == 7, "process_output: byte cursor, exit code", (out, off, code, sc))
    logs = [x for x in f.requests() if x.get("upstream_path", "").endswith("/logs")]
    T.ok(logs and all(x["query"].startswith("cursor=") for x in logs), "logs are read with ?cursor=",
         [x["query"] for x in logs])
    r, sc = call(s, "exec", {"sandbox_id": sid, "command": "sleep 60", "background": True})
    bpid = sc.get("pid")
    r, sc = call(s, "process_kill", {"sandbox_id": sid, "pid": bpid})
    dele = f.wait_request(lambda x: x["method"] == "DELETE" and x["query"] == "id=" + str(bpid))
    T.ok(not is_error(r) and dele, "process_kill -> DELETE /command?id=", r)
    r, sc = call(s, "process_output", {"sandbox_id": sid, "pid": bpid})
    T.ok(sc.get("running") is False, "killed process is not running", sc)
    r, sc = call(s, "process_output", {"sandbox_id": sid, "pid": "nope"})
    T.ok(is_error(r) and "nope" in text_of(r), "process_output of an unknown pid", text_of(r))

    # faults in the stream
    f.fault(match="POST .*/command$", kind="drop_mid_stream", delay_ms=100)
    r, sc = call(s, "exec", {"sandbox_id": sid, "command": "sleep 3; echo late"})
    T.ok(is_error(r) and "stream" in text_of(r), "a stream cut mid-way is an error that says so", r)
    f.fault(match="POST .*/command$", kind="status", status=500,
            body=json.dumps({"code": "RUNTIME_ERROR", "message": "boom"}))
    r, sc = call(s, "exec", {"sandbox_id": sid, "command": "true"})
    T.ok(is_error(r) and "500" in text_of(r) and "RUNTIME_ERROR" in text_of(r) and "boom" in text_of(r),
         "execd 500 becomes a sentence with code and message", text_of(r))
    r, sc = call(s, "exec", {"sandbox_id": sid, "command": "pwd", "cwd": "/no/such/dir"})
    T.ok(is_error(r) and "working directory does not exist" in text_of(r), "execd 400 message is passed on", text_of(r))


def test_big_output(s, f, sid):
    before = vm_hwm_kb(s.p.pid)
    r, sc = call(s, "exec", {"sandbox_id": sid, "timeout_s": 120,
                             "command": "yes $(printf 'x%.0s' $(seq 999)) | head -c 100000000"}, timeout=180)
    after = vm_hwm_kb(s.p.pid)
    T.ok(sc.get("exit_code") == 0 and sc.get("stdout_bytes") == 100000000 and sc.get("truncated") is True and
         len(sc.get("stdout", "")) < 200000, "100 MB of output: counted, capped head+tail", {k: sc.get(k) for k in
                                                                                          ("exit_code", "stdout_bytes", "truncated")})
    if before and after:
        T.ok(after - before < 64 * 1024, "peak memory grew by less than 64 MB for 100 MB of output",
             "before %d kB, after %d kB" % (before, after))
    else:
        T.skip("peak memory", "no /proc/PID/status")


def test_files(s, f, sid):
    r, sc = call(s, "file_write", {"sandbox_id": sid, "path": "/workspace/src/app.py",
                                   "content": "print('hello')\nx = 1\ny = 2\n"})
    T.ok(not is_error(r) and sc.get("bytes_written") == 27, "file_write", r)
    up = [x for x in f.requests() if x.get("upstream_path") == "/files/upload"][-1]
    T.ok('name="metadata"; filename="metadata"' in up["body"] and '"path":"/workspace/src/app.py"' in up["body"] and
         '"mode":644' in up["body"], "upload: metadata part with filename and an explicit mode", up["body"][:400])
    r, sc = call(s, "file_read", {"sandbox_id": sid, "path": "/workspace/src/app.py"})
    T.ok(sc.get("content") == "print('hello')\nx = 1\ny = 2\n", "file_read", sc)
    r, sc = call(s, "file_read", {"sandbox_id": sid, "path": "/workspace/src/app.py", "encoding": "base64",
                                  "offset": 6, "limit": 7})
    T.ok(sc.get("content") == "J2hlbGxvJw==", "file_read base64 byte range", sc)
    dl = [x for x in f.requests() if x.get("upstream_path") == "/files/download"]
    T.ok(any(hdr(x, "Range") == "bytes=6-12" for x in dl), "byte ranges use Range", [hdr(x, "Range") for x in dl])
    r, sc = call(s, "file_edit", {"sandbox_id": sid, "path": "/workspace/src/app.py", "old_text": "x = 1",
                                  "new_text": "x = 42"})
    T.ok(not is_error(r) and sc.get("replacements") == 1, "file_edit", r)
    r, sc = call(s, "file_read", {"sandbox_id": sid, "path": "/workspace/src/app.py"})
    T.ok("x = 42" in sc.get("content", ""), "edit took effect")
    r, sc = call(s, "file_mkdir", {"sandbox_id": sid, "path": "/workspace/out/deep"})
    T.ok(sc.get("created") is True, "file_mkdir", r)
    r, sc = call(s, "file_mkdir", {"sandbox_id": sid, "path": "/workspace/out/deep"})
    T.ok(sc.get("created") is False, "file_mkdir again: created false", r)
    r, sc = call(s, "file_list", {"sandbox_id": sid, "path": "/workspace", "depth": 2})
    paths = [e["path"] for e in sc.get("entries", [])]
    T.ok("/workspace/src/app.py" in paths and "/workspace/out/deep" in paths, "file_list depth 2", paths)
    r, sc = call(s, "file_stat", {"sandbox_id": sid, "path": "/workspace/src/app.py"})
    T.ok(sc.get("exists") is True, "file_stat", sc)
    r, sc = call(s, "file_stat", {"sandbox_id": sid, "path": "/workspace/nope"})
    T.ok(sc.get("exists") is False or is_error(r), "file_stat of a missing file", r)
    r, sc = call(s, "file_search", {"sandbox_id": sid, "path": "/workspace", "pattern": "src/*.py"})
    T.ok(sc.get("matches") == ["/workspace/src/app.py"], "file_search with a directory in the pattern", sc)
    r, sc = call(s, "file_search", {"sandbox_id": sid, "path": "/workspace", "pattern": "**/*.py"})
    T.ok(sc.get("matches") == ["/workspace/src/app.py"], "file_search **/*.py", sc)
    r, sc = call(s, "file_move", {"sandbox_id": sid, "source": "/workspace/src/app.py",
                                  "destination": "/workspace/out/app.py"})
    T.ok(not is_error(r), "file_move", r)
    r, sc = call(s, "file_remove", {"sandbox_id": sid, "path": "/workspace/out"})
    T.ok(sc.get("removed") is True, "file_remove of a directory", r)
    T.ok(any(x["method"] == "DELETE" and x.get("upstream_path") == "/directories" for x in f.requests()),
         "directories go through DELETE /directories")
    r, sc = call(s, "file_remove", {"sandbox_id": sid, "path": "/workspace/out"})
    T.ok(sc.get("removed") is False, "file_remove of a missing path: removed false", r)
    r, sc = call(s, "file_read", {"sandbox_id": sid, "path": "/workspace/out/app.py"})
    T.ok(is_error(r) and "FILE_NOT_FOUND" in text_of(r), "reading a missing file: 404 sentence", text_of(r))

    # permission bits: the upload's metadata carries the mode and execd applies it
    def mode_of(path):
        return structured(s.call("file_stat", {"sandbox_id": sid, "path": path})).get("mode")

    def last_upload_meta():
        up = [x for x in f.requests() if x.get("upstream_path") == "/files/upload"][-1]["body"]
        start = up.index("\r\n\r\n") + 4
        return json.loads(up[start:up.index("\r\n", start)])

    r, sc = call(s, "file_write", {"sandbox_id": sid, "path": "/workspace/run.sh", "content": "#!/bin/sh\necho ran\n",
                                   "mode": "0755"})
    T.ok(not is_error(r) and last_upload_meta().get("mode") == 755 and mode_of("/workspace/run.sh") == "0755",
         "file_write mode 0755 goes in the upload metadata and is applied", (last_upload_meta(), mode_of("/workspace/run.sh")))
    r, sc = call(s, "exec", {"sandbox_id": sid, "command": "./run.sh", "cwd": "/workspace"})
    T.ok(sc.get("exit_code") == 0 and sc.get("stdout") == "ran\n", "the written script is executable", sc)
    r, sc = call(s, "file_write", {"sandbox_id": sid, "path": "/workspace/run.sh", "content": "#!/bin/sh\necho again\n"})
    T.ok(not is_error(r) and last_upload_meta().get("mode") == 0 and mode_of("/workspace/run.sh") == "0755",
         "rewriting without a mode keeps the file's mode (upload mode 0 = leave it)", last_upload_meta())
    r, sc = call(s, "file_edit", {"sandbox_id": sid, "path": "/workspace/run.sh", "old_text": "again",
                                  "new_text": "edited"})
    T.ok(not is_error(r) and mode_of("/workspace/run.sh") == "0755", "file_edit keeps the mode", r)
    r, sc = call(s, "file_write", {"sandbox_id": sid, "path": "/workspace/run.sh", "content": "x", "mode": 600})
    T.ok(not is_error(r) and mode_of("/workspace/run.sh") == "0600", "an explicit mode changes an existing file",
         mode_of("/workspace/run.sh"))
    r, sc = call(s, "file_write", {"sandbox_id": sid, "path": "/workspace/new.txt", "content": "n"})
    T.ok(not is_error(r) and mode_of("/workspace/new.txt") == "0644", "a new file without a mode is 0644",
         mode_of("/workspace/new.txt"))
    r, sc = call(s, "file_write", {"sandbox_id": sid, "path": "/workspace/it's zero.txt", "content": "z",
                                   "mode": "0000"})
    chm = [x for x in f.requests() if x.get("upstream_path") == "/command" and "chmod 0" in x["body"]]
    T.ok(not is_error(r) and mode_of("/workspace/it's zero.txt") == "0000" and chm and
         json.loads(chm[-1]["body"]).get("cwd") == "/workspace",
         "mode 0000 (which execd reads as 'leave it') is set with chmod in the file's directory",
         (r, mode_of("/workspace/it's zero.txt"), chm[-1:]))
    call(s, "file_remove", {"sandbox_id": sid, "path": "/workspace/it's zero.txt"})


def test_code_and_network(s, f, plain):
    r, sc = call(s, "run_code", {"sandbox_id": plain, "code": "1+1"})
    T.ok(is_error(r) and "code interpreter" in text_of(r), "run_code on a plain image says there is no interpreter",
         text_of(r))
    r, sc = call(s, "sandbox_create", {"template": "opensandbox/code-interpreter:v1.1.0"})
    ci = sc.get("sandbox_id")
    r, sc = call(s, "run_code", {"sandbox_id": ci, "code": "x = 41\nprint('hi')\nx + 1"})
    T.ok(sc.get("ok") is True and sc.get("text") == "42" and sc.get("stdout") == "hi\n", "run_code result and output", sc)
    r, sc = call(s, "run_code", {"sandbox_id": ci, "code": "x"})
    T.ok(sc.get("text") == "41", "the default context keeps state", sc)
    r, sc = call(s, "run_code", {"sandbox_id": ci, "code": "1/0"})
    T.ok(sc.get("ok") is False and (sc.get("error") or {}).get("name") == "ZeroDivisionError", "run_code error", r)

    # code contexts
    t0 = time.time()
    r, sc = call(s, "code_context_create", {"sandbox_id": plain})
    T.ok(is_error(r) and "no code interpreter" in text_of(r) and time.time() - t0 < 20,
         "code_context_create on a plain image fails at once with a sentence", text_of(r))
    T.ok(not any(x.get("upstream_path") == "/code/context" and x.get("sandbox_id") == plain for x in f.requests()),
         "... without sending POST /code/context (which hangs on images without Jupyter)")
    r, sc = call(s, "code_context_list", {"sandbox_id": plain})
    T.ok(not is_error(r) and sc.get("contexts") == [], "code_context_list on a plain image: empty", r)
    r, sc = call(s, "code_context_create", {"sandbox_id": ci, "cwd": "/workspace"})
    cid = sc.get("context_id")
    T.ok(not is_error(r) and cid and sc.get("language") == "python", "code_context_create", r)
    post = [x for x in f.requests() if x.get("upstream_path") == "/code/context" and x["method"] == "POST"][-1:]
    T.ok(post and json.loads(post[0]["body"]) == {"language": "python", "cwd": "/workspace"},
         "POST /code/context with language and cwd", post)
    r, sc = call(s, "run_code", {"sandbox_id": ci, "code": "x = 5\nx", "context_id": cid})
    T.ok(sc.get("text") == "5", "run_code in the new context", sc)
    r, sc = call(s, "run_code", {"sandbox_id": ci, "code": "x"})
    r2, sc2 = call(s, "run_code", {"sandbox_id": ci, "code": "x * 2", "context_id": cid})
    T.ok(sc.get("text") == "41" and sc2.get("text") == "10", "contexts keep separate state", (sc, sc2))
    r, sc = call(s, "code_context_list", {"sandbox_id": ci})
    ids = [c.get("context_id") for c in sc.get("contexts", [])]
    T.ok(cid in ids and len(ids) == len(set(ids)) >= 2 and all(c.get("language") == "python" for c in sc["contexts"]),
         "code_context_list shows the new and the default context, once each", sc)
    r, sc = call(s, "code_context_list", {"sandbox_id": ci, "language": "java"})
    lst = [x for x in f.requests() if x.get("upstream_path") == "/code/contexts" and x["method"] == "GET"]
    T.ok(not is_error(r) and sc.get("contexts") == [] and lst and lst[-1]["query"] == "language=java",
         "code_context_list with a language filter", (sc, lst[-1:]))
    r, sc = call(s, "code_context_create", {"sandbox_id": ci, "language": "javascript"})
    T.ok(is_error(r) and "javascript" in text_of(r) and "500" in text_of(r),
         "a language the interpreter lacks: the server's sentence", text_of(r))
    r, sc = call(s, "code_context_delete", {"sandbox_id": ci, "context_id": cid})
    dele = [x for x in f.requests() if x["method"] == "DELETE" and x.get("upstream_path") == "/code/contexts/" + cid]
    left = [c for sb in f.ctl("GET", "/__fake/sandboxes") if sb.get("id") == ci for c in sb.get("contexts", [])]
    T.ok(not is_error(r) and sc.get("deleted") is True and dele and cid not in left,
         "code_context_delete -> DELETE /code/contexts/{id}", (sc, left))
    r, sc = call(s, "run_code", {"sandbox_id": ci, "code": "1", "context_id": cid})
    T.ok(is_error(r) and "does not exist" in text_of(r), "run_code in a deleted context says so", text_of(r))
    r, sc = call(s, "code_context_delete", {"sandbox_id": ci, "context_id": cid})
    T.ok(not is_error(r) and sc.get("deleted") is False and "CONTEXT_NOT_FOUND" in sc.get("note", ""),
         "deleting it again: deleted false, with the server's 404", sc)

    r, sc = call(s, "network_policy", {"sandbox_id": plain})
    T.ok(is_error(r) and "only be set at create" in text_of(r), "no sidecar: policy only at create", text_of(r))
    r, sc = call(s, "sandbox_create", {"network": {"default": "deny", "allow": ["pypi.org"]}})
    nid = sc.get("sandbox_id")
    body = json.loads([x for x in f.requests() if x["method"] == "POST" and x["path"] == "/v1/sandboxes"][-1]["body"])
    T.ok(body.get("networkPolicy") == {"defaultAction": "deny", "egress": [{"action": "allow", "target": "pypi.org"}]},
         "create sends networkPolicy with an explicit defaultAction", body.get("networkPolicy"))
    r, sc = call(s, "network_policy", {"sandbox_id": nid})
    T.ok(sc.get("default") == "deny" and sc.get("allow") == ["pypi.org"], "network_policy get", sc)
    eg = [x for x in f.requests() if x.get("service") == "egress" and x.get("sandbox_id") == nid]
    T.ok(eg and all(hdr(x, "OPENSANDBOX-EGRESS-AUTH") for x in eg), "egress calls carry OPENSANDBOX-EGRESS-AUTH")
    r, sc = call(s, "network_policy", {"sandbox_id": nid, "allow": ["github.com"], "deny": ["evil.example"]})
    T.ok(sorted(sc.get("allow", [])) == ["github.com", "pypi.org"] and sc.get("deny") == ["evil.example"] and
         sc.get("default") == "deny", "network_policy merge", sc)
    T.ok(any(x["method"] == "PATCH" and x.get("service") == "egress" for x in f.requests()), "merge uses PATCH /policy")
    # a new default without replace: the merged policy is POSTed, the request's rules first
    # (deny, then allow), then the kept ones; a domain names the same target in any case
    r, sc = call(s, "network_policy", {"sandbox_id": nid, "default": "allow", "deny": ["GitHub.com"]})
    post = [x for x in f.requests() if x["method"] == "POST" and x.get("service") == "egress"]
    body = json.loads(post[-1]["body"]) if post else {}
    T.ok(body == {"defaultAction": "allow", "egress": [{"action": "deny", "target": "GitHub.com"},
                                                       {"action": "deny", "target": "evil.example"},
                                                       {"action": "allow", "target": "pypi.org"}]},
         "a new default POSTs the merged policy; GitHub.com overrides github.com", body)
    T.ok(sc.get("default") == "allow" and sc.get("allow") == ["pypi.org"] and
         sc.get("deny") == ["GitHub.com", "evil.example"], "network_policy with a new default keeps the rest", sc)
    r, sc = call(s, "network_policy", {"sandbox_id": nid, "default": "allow", "deny": ["bad.example"], "replace": True})
    T.ok(sc.get("default") == "allow" and sc.get("allow") == [] and sc.get("deny") == ["bad.example"],
         "network_policy replace", sc)
    return ci, nid


def test_errors(f):
    # wrong key: 401 as a sentence, the key never shown
    s, _ = start(f, "--api-key", "wrong-" + KEY)
    r, sc = call(s, "sandbox_list")
    T.ok(is_error(r) and "rejected the credentials (401: INVALID_API_KEY" in text_of(r) and
         "OPEN_SANDBOX_API_KEY or --api-key" in text_of(r), "401 -> sentence with what to do", text_of(r))
    s.close()
    T.ok(KEY not in s.stderr and all(KEY not in json.dumps(m) for m in list(s.pending)),
         "the API key appears in no output")

    s, _ = start(f, "--api-key", KEY)
    f.fault(match="POST /v1/sandboxes$", kind="status", status=422,
            body=json.dumps({"detail": [{"type": "missing", "loc": ["body", "entrypoint"], "msg": "Field required"}]}))
    r, sc = call(s, "sandbox_create")
    T.ok(is_error(r) and "(422: body.entrypoint: Field required)" in text_of(r),
         "422 detail becomes a sentence", text_of(r))
    f.fault(match=r"GET /v1/sandboxes/[0-9a-f-]+$", kind="status", status=503, count=0)
    r, sc = call(s, "sandbox_create")
    f.clear_faults()
    failed = {x["path"] for x in f.requests() if x.get("fault") == "status" and x["method"] == "GET"}
    dels = {x["path"] for x in f.requests() if x["method"] == "DELETE" and x["status"] == 204}
    T.ok(is_error(r) and "deleted" in text_of(r) and failed and failed <= dels,
         "a failed create deletes the sandbox it made", (text_of(r), failed, dels))
    f.fault(match=r"GET /v1/sandboxes$", kind="bad_json")
    r, sc = call(s, "sandbox_list")
    T.ok(is_error(r) and "JSON" in text_of(r), "bad JSON from the server is an error, not a crash", text_of(r))
    f.fault(match=r"GET /v1/sandboxes$", kind="slow", delay_ms=300)
    r, sc = call(s, "sandbox_list")
    T.ok(not is_error(r), "a slow answer still works", r)
    r, sc = call(s, "exec", {"command": "echo default"})
    T.ok(sc.get("stdout") == "default\n", "exec without sandbox_id creates the session's default sandbox", r)
    posts = [x for x in f.requests() if x["method"] == "POST" and x["path"] == "/v1/sandboxes"]
    rc = s.close()
    T.ok(rc == 0, "server exits cleanly (no sanitizer report)", s.stderr[-2000:])
    last = [x for x in f.requests() if x["method"] == "GET" and x["path"].startswith("/v1/sandboxes/")][-1:]
    T.ok(posts and last and any(x["method"] == "DELETE" and x["path"] == last[0]["path"] for x in f.requests()),
         "the default sandbox is deleted at exit")


def test_routing():
    """Header-routed endpoints, an execd access token, --use-server-proxy and --header."""
    f = Fake("--endpoint-mode", "header", "--execd-token", "exec-tok-99", "--tail-ms", "300")
    try:
        s, _ = start(f, "--api-key", KEY, "--access-token", "exec-tok-99", "--header", "X-Team=e2e", "--keep")
        r, sc = call(s, "sandbox_create", {"network": {"default": "allow", "deny": ["bad.example"]}})
        sid = sc.get("sandbox_id")
        r, sc = call(s, "exec", {"sandbox_id": sid, "command": "echo routed"})
        T.ok(sc.get("stdout") == "routed\n", "header-routed execd with an access token", r)
        ex = [x for x in f.requests() if x.get("service") == "execd"]
        T.ok(ex and all(hdr(x, "OpenSandbox-Ingress-To") == sid + "-44772" and
                        hdr(x, "X-EXECD-ACCESS-TOKEN") == "exec-tok-99" for x in ex),
             "every execd request carries the endpoint's headers and the token")
        T.ok(all(hdr(x, "X-Team") == "e2e" for x in f.requests()), "--header goes on every request")
        r, sc = call(s, "file_write", {"sandbox_id": sid, "path": "/tmp/r.txt", "content": "x"})
        r, sc = call(s, "file_read", {"sandbox_id": sid, "path": "/tmp/r.txt"})
        T.ok(sc.get("content") == "x", "files through header routing", r)
        r, sc = call(s, "network_policy", {"sandbox_id": sid})
        T.ok(sc.get("default") == "allow" and sc.get("deny") == ["bad.example"], "egress through header routing", r)
        s.close()
        s, _ = start(f, "--api-key", KEY, "--keep")
        r, sc = call(s, "exec", {"sandbox_id": sid, "command": "true"})
        T.ok(is_error(r) and "execd rejected the credentials (401: " in text_of(r) and "--access-token" in text_of(r),
             "execd 401 says to set the token",
             text_of(r))
        s.close()
        s, _ = start(f, "--api-key", KEY, "--access-token", "exec-tok-99", "--use-server-proxy")
        r, sc = call(s, "exec", {"sandbox_id": sid, "command": "echo proxied"})
        eps = [x for x in f.requests() if "/endpoints/" in x["path"]]
        T.ok(sc.get("stdout") == "proxied\n" and eps and eps[-1]["query"] == "use_server_proxy=true",
             "--use-server-proxy resolves proxied endpoints", (r, eps[-1:]))
        s.close()
    finally:
        f.stop()


def test_kubernetes():
    """The Kubernetes runtime's asynchronous states: Pending, Pausing, Resuming, Stopping."""
    f = Fake("--runtime", "kubernetes", "--transition-ms", "400", "--endpoint-mode", "uri")
    try:
        s, _ = start(f, "--api-key", KEY)
        r, sc = call(s, "sandbox_create", {})
        sid = sc.get("sandbox_id")
        T.ok(sc.get("state") == "running", "kubernetes: create waits through Pending", r)
        r, sc = call(s, "sandbox_pause", {"sandbox_id": sid})
        T.ok(sc.get("state") == "paused" and structured(s.call("sandbox_info", {"sandbox_id": sid})).get("state") ==
             "paused", "kubernetes: pause waits through Pausing", r)
        r, sc = call(s, "sandbox_resume", {"sandbox_id": sid})
        r2, sc2 = call(s, "exec", {"sandbox_id": sid, "command": "echo back"})
        T.ok(sc.get("state") == "running" and sc2.get("stdout") == "back\n",
             "kubernetes: resume waits through Resuming; execd answers after", (r, r2))
        r, sc = call(s, "sandbox_kill", {"sandbox_id": sid})
        T.ok(not is_error(r), "kubernetes: kill (Stopping -> Terminated)", r)
        r, sc = call(s, "sandbox_info", {"sandbox_id": sid})
        T.ok(sc.get("state") in ("stopping", "terminated") or is_error(r), "kubernetes: state after kill", r)
        s.close()
    finally:
        f.stop()


def main():
    if not os.path.exists(BIN):
        T.skip("opensandbox end-to-end", "no binary at %s (build it with make FLAVOR=test)" % BIN)
        T.done()
    f = Fake("--tail-ms", "1000")
    s = None
    try:
        s, init = start(f, "--api-key", KEY)
        T.ok(init and init.get("result", {}).get("protocolVersion"), "initialize", init)
        sid = test_lifecycle(s, f)
        test_exec(s, f, sid)
        test_files(s, f, sid)
        test_code_and_network(s, f, sid)
        test_big_output(s, f, sid)
        T.ok(not s.bad_lines, "stdout carried only JSON-RPC lines", s.bad_lines[:3])
        rc = s.close()
        T.ok(rc == 0, "server exits cleanly", s.stderr[-3000:])
        T.ok(KEY not in s.stderr, "the API key is not in the log")
        s = None
        test_errors(f)
        test_routing()
        test_kubernetes()
    finally:
        if s is not None:
            s.close()
        f.stop()
    T.done()


if __name__ == "__main__":
    main()
