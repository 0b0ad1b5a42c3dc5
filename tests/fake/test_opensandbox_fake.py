#!/usr/bin/env python3
"""Self-test of the fake OpenSandbox (tests/fake/opensandbox.py), TAP output.

Checks the fake against BRIEF.md over real sockets with urllib / http.client: lifecycle auth
and errors, the execd stream framing (bare JSON + blank line, per-line output, exit code in
the error event, pings, the ~1 s tail), command interrupt, background logs with the byte
cursor, files, egress, code contexts, faults and the request log. Stdlib only.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "test-key-123"
N = 0
FAILED = 0


def ok(cond, desc, diag=None):
    global N, FAILED
    N += 1
    if not cond:
        FAILED += 1
    print("%sok %d - %s" % ("" if cond else "not ", N, desc))
    if not cond and diag is not None:
        for line in str(diag).splitlines()[:20]:
            print("#   " + line)
    sys.stdout.flush()
    return cond


class Fake:
    def __init__(self, *args):
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "opensandbox.py"), "--port", "0",
                                   "--exit-on-stdin-eof", "--quiet"] + list(args),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr)
        line = self.p.stdout.readline().decode()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])
        self.base = "http://127.0.0.1:%d" % self.port

    def stop(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def req(fake, method, path, body=None, headers=None, key=KEY, raw=False, ctype=None):
    """Returns (status, headers, body bytes or parsed JSON)."""
    h = dict(headers or {})
    if key is not None:
        h["OPEN-SANDBOX-API-KEY"] = key
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.setdefault("Content-Type", ctype or "application/json")
    r = urllib.request.Request(fake.base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            st, hd, b = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        st, hd, b = e.code, e.headers, e.read()
    if raw:
        return st, hd, b
    try:
        return st, hd, json.loads(b) if b.strip() else None
    except ValueError:
        return st, hd, b


def create(fake, **extra):
    body = {"image": {"uri": "python:3.11"}, "entrypoint": ["tail", "-f", "/dev/null"],
            "resourceLimits": {"cpu": "1", "memory": "2Gi"}, "timeout": 600}
    body.update(extra)
    st, _, sb = req(fake, "POST", "/v1/sandboxes", body)
    assert st == 202, (st, sb)
    for _ in range(100):
        st, _, g = req(fake, "GET", "/v1/sandboxes/" + sb["id"])
        if g["status"]["state"] == "Running":
            return sb["id"]
        time.sleep(0.05)
    raise AssertionError("sandbox never ran")


def execd_base(fake, sid, port=44772):
    st, _, ep = req(fake, "GET", "/v1/sandboxes/%s/endpoints/%d" % (sid, port))
    assert st == 200, ep
    return ep["endpoint"], ep.get("headers") or {}


def stream(fake, sid, body, path="/command", tail_probe=False):
    """POST to execd and read the stream line by line. Returns (status, headers, events,
    raw lines, still_open_after_final)."""
    ep, hdrs = execd_base(fake, sid)
    hostport, _, prefix = ep.partition("/")
    c = http.client.HTTPConnection(*hostport.split(":"), timeout=30)
    c.request("POST", "/" + prefix + path, body=json.dumps(body), headers=dict(hdrs, **{"Content-Type": "application/json"}))
    r = c.getresponse()
    if r.status != 200:
        b = r.read()
        c.close()
        return r.status, r.headers, json.loads(b) if b else None, [], None
    events, lines, still_open = [], [], None
    while True:
        line = r.readline()
        if not line:
            break
        lines.append(line)
        s = line.strip()
        if not s:
            continue
        ev = json.loads(s)
        events.append(ev)
        if ev["type"] in ("execution_complete", "error"):
            if tail_probe:
                # The real execd keeps the stream open ~1 s after the last event (§0.6);
                # only pings may come in that time.
                t0 = time.monotonic()
                rest = r.read()
                lines.extend(rest.splitlines(True))
                extra = [json.loads(x) for x in rest.split(b"\n") if x.strip()]
                still_open = time.monotonic() - t0 >= 0.7 and all(x["type"] == "ping" for x in extra)
            break
    c.close()
    return r.status, r.headers, events, lines, still_open


def execd(fake, sid, method, path, body=None, raw=False, headers=None, ctype=None):
    ep, hdrs = execd_base(fake, sid)
    hostport, _, prefix = ep.partition("/")
    h = dict(hdrs)
    h.update(headers or {})
    return req(fake, method, "/" + prefix + path, body, headers=h, key=None, raw=raw, ctype=ctype)


def requests_log(fake):
    return req(fake, "GET", "/__fake/requests", key=None)[2]


def fault(fake, **f):
    st, _, b = req(fake, "POST", "/__fake/fault", f, key=None)
    assert st == 200, b


def multipart(parts, boundary="XyZbOuNdArY"):
    out = b""
    for name, filename, ctype, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        cd = 'form-data; name="%s"' % name
        if filename is not None:
            cd += '; filename="%s"' % filename
        out += b"Content-Disposition: " + cd.encode() + b"\r\n"
        if ctype:
            out += b"Content-Type: " + ctype.encode() + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n", "multipart/form-data; boundary=" + boundary


def test_lifecycle(f):
    st, _, b = req(f, "GET", "/v1/sandboxes", key=None)
    ok(st == 401 and b["code"] == "MISSING_API_KEY", "no API key -> 401 MISSING_API_KEY", b)
    st, _, b = req(f, "GET", "/v1/sandboxes", key="wrong")
    ok(st == 401 and b["code"] == "INVALID_API_KEY", "wrong API key -> 401 INVALID_API_KEY", b)
    st, _, b = req(f, "GET", "/health", key=None)
    ok(st == 200 and b == {"status": "healthy"}, "/health needs no key")
    st, _, b = req(f, "POST", "/v1/sandboxes", {"image": {"uri": "x"}, "resourceLimits": {}})
    ok(st == 422 and b["detail"][0]["loc"] == ["body", "entrypoint"], "missing entrypoint -> FastAPI 422 detail", b)
    st, _, b = req(f, "POST", "/v1/sandboxes", {"image": {"uri": "x"}, "entrypoint": ["a"],
                                                 "resourceLimits": {}, "timeout": 30})
    ok(st == 422 and b["detail"][0]["loc"] == ["body", "timeout"], "timeout < 60 -> 422", b)
    st, _, b = req(f, "POST", "/v1/sandboxes", b"{bad", ctype="application/json")
    ok(st == 422 and b["detail"][0]["type"] == "json_invalid", "bad JSON -> 422 json_invalid", b)
    st, _, b = req(f, "POST", "/v1/sandboxes", {"image": {"uri": "x"}, "entrypoint": ["a"], "resourceLimits": {},
                                                 "metadata": {"name": "Data Processing Sandbox"}})
    ok(st == 400 and b["code"] == "SANDBOX::INVALID_METADATA_LABEL", "free-text metadata -> 400 label error", b)
    st, hd, b = req(f, "POST", "/v1/sandboxes", {"image": {"uri": "python:3.11"}, "entrypoint": ["tail"],
                                                  "resourceLimits": {"cpu": "1"}, "timeout": 600,
                                                  "metadata": {"team": "ml"}})
    ok(st == 202 and b["status"]["state"] == "Pending" and "image" not in b and hd.get("X-Request-ID"),
       "create -> 202 Pending without image, X-Request-ID", b)
    sid = b["id"]
    st, _, b = req(f, "GET", "/v1/sandboxes/" + sid + "/endpoints/44772")
    # execd is not reachable while Pending
    ep = b["endpoint"]
    ok("://" not in ep and "/" in ep, "endpoint has no scheme and a path prefix", ep)
    for _ in range(100):
        g = req(f, "GET", "/v1/sandboxes/" + sid)[2]
        if g["status"]["state"] == "Running":
            break
        time.sleep(0.05)
    ok(g["status"]["state"] == "Running" and g["image"]["uri"] == "python:3.11", "GET reaches Running with image", g)
    ids = [sid, create(f, metadata={"team": "ml"}), create(f, metadata={"team": "web"})]
    st, _, b = req(f, "GET", "/v1/sandboxes?pageSize=2&page=1")
    ok(st == 200 and len(b["items"]) == 2 and b["pagination"]["hasNextPage"] and b["pagination"]["totalPages"] == 2,
       "list pages with hasNextPage", b.get("pagination") if isinstance(b, dict) else b)
    st, _, b2 = req(f, "GET", "/v1/sandboxes?pageSize=2&page=2")
    ok(len(b2["items"]) == 1 and not b2["pagination"]["hasNextPage"], "second page is the last")
    ok(b["items"][0]["createdAt"] >= b["items"][1]["createdAt"], "list sorted by createdAt descending")
    q = urllib.parse.urlencode({"metadata": "team=ml"})
    st, _, b = req(f, "GET", "/v1/sandboxes?" + q)
    ok(st == 200 and sorted(x["id"] for x in b["items"]) == sorted(ids[:2]), "metadata filter k=v", b)
    st, _, b = req(f, "GET", "/v1/sandboxes?state=paused")
    ok(st == 200 and b["items"] == [], "state filter is case-insensitive")
    st, _, b = req(f, "GET", "/v1/sandboxes?pageSize=500")
    ok(st == 422, "pageSize > 200 -> 422")
    st, _, b = req(f, "GET", "/v1/sandboxes?metadata=broken")
    ok(st == 400 and b["code"] == "INVALID_METADATA_FORMAT", "metadata segment without = -> 400")
    st, _, b = req(f, "POST", "/v1/sandboxes/%s/resume" % sid)
    ok(st == 409 and b["code"] == "DOCKER::SANDBOX_NOT_PAUSED", "resume a running sandbox -> 409")
    st, _, _ = req(f, "POST", "/v1/sandboxes/%s/pause" % sid)
    ok(st == 202 and req(f, "GET", "/v1/sandboxes/" + sid)[2]["status"]["state"] == "Paused", "pause -> 202 Paused")
    st, _, b = req(f, "POST", "/v1/sandboxes/%s/pause" % sid)
    ok(st == 409 and b["code"] == "DOCKER::SANDBOX_NOT_RUNNING", "pause twice -> 409")
    st, _, _ = req(f, "POST", "/v1/sandboxes/%s/resume" % sid)
    ok(st == 202, "resume -> 202")
    st, _, b = req(f, "POST", "/v1/sandboxes/%s/renew-expiration" % sid, {"expiresAt": "2000-01-01T00:00:00Z"})
    ok(st == 400 and b["code"] == "DOCKER::INVALID_EXPIRATION", "renew into the past -> 400")
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    st, _, b = req(f, "POST", "/v1/sandboxes/%s/renew-expiration" % sid, {"expiresAt": t})
    ok(st == 200 and b["expiresAt"].startswith(t[:19]), "renew -> 200 expiresAt", b)
    st, _, b = req(f, "POST", "/v1/sandboxes/%s/renew-expiration" % sid, {})
    ok(st == 422, "renew without expiresAt -> 422")
    st, _, b = req(f, "GET", "/v1/sandboxes/%s/endpoints/70000" % sid)
    ok(st == 400 and b["code"] == "DOCKER::INVALID_PORT", "endpoint port out of range -> 400")
    for x in ids:
        st, _, b = req(f, "DELETE", "/v1/sandboxes/" + x, raw=True)
    ok(st == 204 and b == b"", "delete -> 204 empty")
    st, _, b = req(f, "GET", "/v1/sandboxes/" + ids[-1])
    ok(st == 404 and b["code"] == "DOCKER::SANDBOX_NOT_FOUND", "GET after delete -> 404", b)
    st, _, b = req(f, "GET", "/v1/nope")
    ok(st == 404 and b == {"detail": "Not Found"}, "unknown route -> 404 detail")


def test_commands(f):
    sid = create(f)
    st, _, b = execd(f, sid, "GET", "/ping", raw=True)
    ok(st == 200 and b == b"", "execd /ping -> 200 empty")
    st, hd, evs, lines, still_open = stream(f, sid, {"command": "echo hi; echo err >&2; printf 'a\\n\\nb\\r\\nc'; exit 3"},
                                            tail_probe=True)
    ok(st == 200 and hd.get("Content-Type") == "text/event-stream" and hd.get("Transfer-Encoding") == "chunked",
       "POST /command -> chunked text/event-stream", dict(hd))
    ok(all(not l.startswith(b"data:") for l in lines) and lines[1] == b"\n", "events are bare JSON + blank line", lines[:3])
    ok(evs[0]["type"] == "init" and len(evs[0]["text"]) == 32, "first event init with a 32-hex id", evs[0])
    out = [e["text"] for e in evs if e["type"] == "stdout"]
    ok(out == ["hi", "a", "\n", "b", "c"], "stdout one event per line, terminators stripped, empty line = \\n", out)
    ok([e["text"] for e in evs if e["type"] == "stderr"] == ["err"], "stderr events")
    last = evs[-1]
    ok(last["type"] == "error" and last["error"] == {"ename": "CommandExecError", "evalue": "3",
                                                     "traceback": ["exit status 3"]},
       "non-zero exit -> error event with evalue = exit code", last)
    ok(still_open is True, "stream stays open after the final event (the tail)")
    rec = [x for x in requests_log(f) if x.get("upstream_path") == "/command" and x["method"] == "POST"][-1]
    ok(rec.get("closed_in_tail") is False, "a client that reads to EOF is not marked closed_in_tail", rec)
    ep, hdrs = execd_base(f, sid)
    c = http.client.HTTPConnection(*ep.partition("/")[0].split(":"), timeout=30)
    c.request("POST", "/" + ep.partition("/")[2] + "/command", body=json.dumps({"command": "true"}))
    r = c.getresponse()
    while b"execution_complete" not in r.readline():
        pass
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    for _ in range(60):
        rec = [x for x in requests_log(f) if x.get("upstream_path") == "/command" and x["method"] == "POST"][-1]
        if rec.get("stream_ended"):
            break
        time.sleep(0.05)
    ok(rec.get("closed_in_tail") is True, "a client that stops at the final event is marked closed_in_tail", rec)
    st, _, evs, _, _ = stream(f, sid, {"command": "true"})
    ok(evs[-1]["type"] == "execution_complete" and "execution_time" in evs[-1] and
       not any(e["type"] == "error" for e in evs), "exit 0 -> execution_complete, no error", evs)
    st, _, evs, _, _ = stream(f, sid, {"command": "sleep 1"})
    ok(any(e["type"] == "ping" and e["text"] == "pong" for e in evs), "ping events while a command runs", evs)
    st, _, evs, _, _ = stream(f, sid, {"command": "sleep 5", "timeout": 200})
    ok(evs[-1]["type"] == "error" and evs[-1]["error"]["evalue"] == "-1" and
       evs[-1]["error"]["traceback"] == ["signal: killed"], "timeout ms -> evalue -1 signal: killed", evs[-1])
    st, _, b, _, _ = stream(f, sid, {"command": "pwd", "cwd": "/does/not/exist"})
    ok(st == 400 and b["code"] == "INVALID_REQUEST_BODY", "missing cwd -> 400 before the stream", b)
    st, _, evs, _, _ = stream(f, sid, {"command": "echo $FOO; pwd", "cwd": "/workspace", "envs": {"FOO": "bar"}})
    out = [e["text"] for e in evs if e["type"] == "stdout"]
    ok(out[0] == "bar" and out[1].endswith("/workspace"), "envs and cwd apply", out)
    st, _, evs, _, _ = stream(f, sid, {"command": "yes 0123456789abcdefghij | head -c 2000000"})
    got = "".join(e["text"] + "\n" for e in evs if e["type"] == "stdout")
    want = ("0123456789abcdefghij\n" * 95239)[:2000000]
    ok(got.rstrip("\n") == want.rstrip("\n"), "2 MB of output arrives line by line", len(got))

    # interrupt a running foreground command: the stream ends with signal: terminated
    ep, hdrs = execd_base(f, sid)
    hostport, _, prefix = ep.partition("/")
    c = http.client.HTTPConnection(*hostport.split(":"), timeout=30)
    c.request("POST", "/" + prefix + "/command", body=json.dumps({"command": "sleep 30"}))
    r = c.getresponse()
    init = json.loads(r.readline())
    st, _, b = execd(f, sid, "DELETE", "/command?id=" + init["text"], raw=True)
    ok(st == 200 and b == b"", "DELETE /command?id= -> 200 empty")
    evs = []
    while True:
        l = r.readline()
        if not l:
            break
        if l.strip():
            evs.append(json.loads(l))
            if evs[-1]["type"] in ("error", "execution_complete"):
                break
    c.close()
    ok(evs and evs[-1]["type"] == "error" and evs[-1]["error"]["evalue"] == "-1" and
       evs[-1]["error"]["traceback"] == ["signal: terminated"], "interrupted stream ends with signal: terminated", evs[-1:])
    dels = [x for x in requests_log(f) if x["method"] == "DELETE" and x.get("upstream_path") == "/command"]
    ok(dels and dels[-1]["query"] == "id=" + init["text"], "request log records DELETE /command?id=", dels[-1:])
    st, _, b = execd(f, sid, "DELETE", "/command?id=" + init["text"])
    ok(st == 500 and "not running" in b["message"], "interrupting a finished command -> 500 not running", b)
    st, _, b = execd(f, sid, "DELETE", "/command")
    ok(st == 400 and b["code"] == "MISSING_QUERY", "DELETE /command without id -> 400")

    # background
    st, _, evs, _, _ = stream(f, sid, {"command": "printf 'one\\ntwo\\n'; sleep 0.3; echo three >&2", "background": True})
    ok([e["type"] for e in evs if e["type"] != "ping"] == ["init", "execution_complete"],
       "background: init then execution_complete", evs)
    bid = evs[0]["text"]
    for _ in range(100):
        st, _, s = execd(f, sid, "GET", "/command/status/" + bid)
        if not s["running"]:
            break
        time.sleep(0.05)
    ok(s["exit_code"] == 0 and "finished_at" in s and s["content"].startswith("printf"), "status of a finished command", s)
    st, hd, b = execd(f, sid, "GET", "/command/%s/logs?cursor=0" % bid, raw=True)
    ok(st == 200 and b == b"one\ntwo\nthree\n" and hd["EXECD-COMMANDS-TAIL-CURSOR"] == "14",
       "logs: combined output and the byte tail cursor", (b, dict(hd)))
    st, hd, b = execd(f, sid, "GET", "/command/%s/logs?cursor=4" % bid, raw=True)
    ok(b == b"two\nthree\n", "logs cursor is a byte offset", b)
    st, _, b = execd(f, sid, "GET", "/command/%s/logs?cursor=0" % init["text"])
    ok(st == 400, "logs of a foreground command -> 400")
    st, _, b = execd(f, sid, "GET", "/command/status/nope")
    ok(st == 404 and b["code"] == "INVALID_REQUEST_BODY", "status of an unknown id -> 404")
    return sid


def test_faults(f, sid):
    fault(f, match="GET /ping$", kind="status", status=503, count=1)
    st, _, _ = execd(f, sid, "GET", "/ping")
    st2, _, _ = execd(f, sid, "GET", "/ping")
    ok(st == 503 and st2 == 200, "status fault fires once")
    fault(f, match="POST /command$", kind="drop_mid_stream")
    ep, hdrs = execd_base(f, sid)
    hostport, _, prefix = ep.partition("/")
    c = http.client.HTTPConnection(*hostport.split(":"), timeout=30)
    c.request("POST", "/" + prefix + "/command", body=json.dumps({"command": "sleep 0.2; echo late"}))
    r = c.getresponse()
    try:
        data = r.read()
        broke = False
    except (http.client.IncompleteRead, ConnectionError) as e:
        data, broke = getattr(e, "partial", b""), True
    c.close()
    ok(broke and b"init" in data and b"execution_complete" not in data and b"error" not in data,
       "drop_mid_stream cuts the stream after init", data)
    fault(f, match="POST /command$", kind="bad_json")
    st, _, evs_raw = None, None, None
    c = http.client.HTTPConnection(*hostport.split(":"), timeout=30)
    c.request("POST", "/" + prefix + "/command", body=json.dumps({"command": "true"}))
    r = c.getresponse()
    lines = [l for l in r.read().split(b"\n\n") if l.strip()]
    c.close()
    bad = 0
    for l in lines:
        try:
            json.loads(l)
        except ValueError:
            bad += 1
    ok(bad >= 1, "bad_json puts an invalid line into the stream", lines[:3])
    fault(f, match="GET /v1/sandboxes/", kind="bad_json", count=1)
    st, _, b = req(f, "GET", "/v1/sandboxes/" + sid, raw=True)
    ok(st == 200 and b.startswith(b'{"broken"'), "bad_json on a lifecycle answer", b)
    fault(f, match="GET /v1/sandboxes/", kind="slow", delay_ms=300, count=1)
    t0 = time.monotonic()
    st, _, b = req(f, "GET", "/v1/sandboxes/" + sid)
    ok(st == 200 and time.monotonic() - t0 >= 0.25, "slow fault delays the answer")
    fault(f, match="GET /v1/sandboxes/", kind="status", status=500, count=1)
    st, _, b = req(f, "GET", "/v1/sandboxes/" + sid)
    ok(st == 500 and b["code"] == "FAKE::INJECTED_FAULT", "5xx fault on the lifecycle API", b)


def test_files(f, sid):
    body, ct = multipart([("metadata", None, "application/json", b'{"path":"/workspace/a.txt"}'),
                          ("file", "a.txt", "application/octet-stream", b"hello")])
    st, _, b = execd(f, sid, "POST", "/files/upload", body, ctype=ct)
    ok(st == 400 and b["code"] == "INVALID_FILE_METADATA" and "missing" in b["message"],
       "metadata part without filename -> 400 metadata file is missing", b)
    data = bytes(range(256)) * 40
    body, ct = multipart([("metadata", "metadata", "application/json", b'{"path":"/workspace/d/a.bin","mode":640}'),
                          ("file", "a.bin", "application/octet-stream", data)])
    st, _, b = execd(f, sid, "POST", "/files/upload", body, ctype=ct, raw=True)
    ok(st == 200 and b == b"", "upload with filename=metadata -> 200, creates parents")
    st, hd, b = execd(f, sid, "GET", "/files/download?path=/workspace/d/a.bin", raw=True)
    ok(st == 200 and b == data and hd["Content-Length"] == str(len(data)), "download full file")
    st, hd, b = execd(f, sid, "GET", "/files/download?path=/workspace/d/a.bin", headers={"Range": "bytes=10-19"}, raw=True)
    ok(st == 206 and b == data[10:20] and hd["Content-Range"] == "bytes 10-19/%d" % len(data), "Range -> 206", dict(hd))
    st, hd, b = execd(f, sid, "GET", "/files/download?path=/workspace/d/a.bin",
                      headers={"Range": "bytes=%d-" % len(data)}, raw=True)
    ok(st == 416 and hd["Content-Range"] == "bytes */%d" % len(data), "Range past the end -> 416 with size")
    st, _, b = execd(f, sid, "GET", "/files/info?path=/workspace/d/a.bin")
    fi = b["/workspace/d/a.bin"] if st == 200 else {}
    ok(fi.get("mode") == 640 and fi.get("type") == "file" and fi.get("size") == len(data), "info: mode as octal digits", b)
    st, _, b = execd(f, sid, "GET", "/files/info?path=/nope")
    ok(st == 404 and b["code"] == "FILE_NOT_FOUND", "info of a missing file -> 404")
    st, _, b = execd(f, sid, "POST", "/directories", {"/workspace/d/sub/x": {"mode": 755}}, raw=True)
    ok(st == 200, "mkdir -p")
    st, _, b = execd(f, sid, "GET", "/directories/list?path=/workspace&depth=2")
    ok(st == 200 and [x["path"] for x in b] == ["/workspace/d", "/workspace/d/a.bin", "/workspace/d/sub"],
       "list depth 2: lexical, children after parent", b)
    st, _, b = execd(f, sid, "GET", "/files/search?path=/workspace&pattern=*.bin")
    ok(st == 200 and [x["path"] for x in b] == ["/workspace/d/a.bin"], "search by base name", b)
    st, _, b = execd(f, sid, "GET", "/files/search?path=/workspace&pattern=d/*.bin")
    ok(st == 200 and b == [], "a pattern with / never matches (base names only)", b)
    st, _, b = execd(f, sid, "POST", "/files/mv", [{"src": "/workspace/d/a.bin", "dest": "/workspace/e/b.bin"}], raw=True)
    ok(st == 200, "mv creates the destination's parents")
    st, _, b = execd(f, sid, "POST", "/files/mv", [{"src": "/workspace/nope", "dest": "/workspace/x"}])
    ok(st == 404, "mv of a missing file -> 404")
    body, ct = multipart([("metadata", "metadata", "application/json", b'{"path":"/workspace/t.txt"}'),
                          ("file", "t.txt", None, b"one two two")])
    execd(f, sid, "POST", "/files/upload", body, ctype=ct)
    st, _, b = execd(f, sid, "POST", "/files/replace?verbose=true", {"/workspace/t.txt": {"old": "two", "new": "2"}})
    ok(st == 200 and b == {"/workspace/t.txt": {"replacedCount": 2}}, "replace verbose", b)
    st, _, b = execd(f, sid, "POST", "/files/permissions", {"/workspace/t.txt": {"mode": 600}}, raw=True)
    mode = execd(f, sid, "GET", "/files/info?path=/workspace/t.txt")[2]["/workspace/t.txt"]["mode"]
    ok(st == 200 and mode == 600, "permissions sets the mode", mode)
    st, _, b = execd(f, sid, "DELETE", "/files?path=/workspace/e")
    ok(st == 500, "DELETE /files on a directory -> 500")
    st, _, b = execd(f, sid, "DELETE", "/directories?path=/workspace/e&path=/workspace/missing", raw=True)
    ok(st == 200 and execd(f, sid, "GET", "/files/info?path=/workspace/e")[0] == 404, "DELETE /directories is rm -rf")
    st, _, b = execd(f, sid, "GET", "/metrics")
    ok(st == 200 and b["cpu_count"] >= 1 and b["mem_total_mib"] > 0, "metrics", b)


def test_egress(f):
    sid = create(f)
    ep, hdrs = execd_base(f, sid, 18080)
    ok("OPENSANDBOX-EGRESS-AUTH" not in hdrs, "no networkPolicy -> no egress header")
    hostport, _, prefix = ep.partition("/")
    st, _, _ = req(f, "GET", "/" + prefix + "/policy", key=None)
    ok(st == 502, "no sidecar -> 502")
    sid = create(f, networkPolicy={"defaultAction": "deny", "egress": [{"action": "allow", "target": "pypi.org"}]})
    ep, hdrs = execd_base(f, sid, 18080)
    hostport, _, prefix = ep.partition("/")
    ok("OPENSANDBOX-EGRESS-AUTH" in hdrs, "endpoints/18080 hands out the egress auth header")
    st, _, b = req(f, "GET", "/" + prefix + "/policy", key=None, raw=True)
    ok(st == 401 and b == b"unauthorized\n", "egress without auth -> 401 text")
    st, _, b = req(f, "GET", "/" + prefix + "/policy", key=None, headers=hdrs)
    ok(st == 200 and b["mode"] == "enforcing" and b["policy"]["defaultAction"] == "deny", "GET /policy", b)
    st, _, b = req(f, "PATCH", "/" + prefix + "/policy", [{"action": "deny", "target": "PyPI.org"},
                                                          {"action": "allow", "target": "github.com"}],
                   key=None, headers=hdrs)
    pol = req(f, "GET", "/" + prefix + "/policy", key=None, headers=hdrs)[2]["policy"]
    ok(st == 200 and "policy" not in b and pol["egress"] == [{"action": "deny", "target": "PyPI.org"},
                                                            {"action": "allow", "target": "github.com"}],
       "PATCH merges: incoming first, overrides by target", pol)
    st, _, b = req(f, "PATCH", "/" + prefix + "/policy", [], key=None, headers=hdrs, raw=True)
    ok(st == 400 and b"empty array" in b, "PATCH [] -> 400")
    st, _, b = req(f, "POST", "/" + prefix + "/policy", {"defaultAction": "allow", "egress": []}, key=None, headers=hdrs)
    ok(st == 200 and b["mode"] == "allow_all", "POST replaces the policy", b)
    st, _, b = req(f, "POST", "/" + prefix + "/policy", b"{}", key=None, headers=hdrs)
    ok(st == 200 and b["mode"] == "deny_all", "POST {} resets to deny-all", b)
    st, _, b = req(f, "POST", "/v1/sandboxes", {"image": {"uri": "x"}, "entrypoint": ["a"], "resourceLimits": {},
                                                 "networkPolicy": {}})
    sid2 = b["id"]
    time.sleep(0.3)
    ep, hdrs = execd_base(f, sid2, 18080)
    st, _, b = req(f, "GET", "/" + ep.partition("/")[2] + "/policy", key=None, headers=hdrs)
    ok(b["mode"] == "deny_all", "networkPolicy {} starts the sidecar deny-all", b)


def test_code(f):
    plain = create(f)
    st, _, b = execd(f, plain, "POST", "/code", {"context": {"language": "python"}, "code": "1+1"})
    ok(st == 500 and "not configured" in b["message"], "plain image: /code with a language -> 500", b)
    sid = create(f, image={"uri": "opensandbox/code-interpreter:v1.1.0"})
    st, _, ctx = execd(f, sid, "POST", "/code/context", {"language": "python"})
    ok(st == 200 and ctx["language"] == "python", "create a python context", ctx)
    st, _, evs, _, _ = stream(f, sid, {"context": {"id": ctx["id"], "language": "python"},
                                       "code": "x = 20\nprint('hi')\nx + 22"}, path="/code")
    types = [e["type"] for e in evs]
    ok(types[0] == "init" and "execution_count" in types and types[-1] == "execution_complete", "code stream events", types)
    ok([e["results"] for e in evs if e["type"] == "result"] == [{"text": "42"}] and
       [e["text"] for e in evs if e["type"] == "stdout"] == ["hi\n"], "result text and raw stdout chunks", evs)
    st, _, evs, _, _ = stream(f, sid, {"context": {"id": ctx["id"], "language": "python"}, "code": "x"}, path="/code")
    ok([e["results"] for e in evs if e["type"] == "result"] == [{"text": "20"}], "the context keeps state")
    st, _, evs, _, _ = stream(f, sid, {"context": {"id": ctx["id"], "language": "python"}, "code": "1/0"}, path="/code")
    ok(evs[-1]["type"] == "error" and evs[-1]["error"]["ename"] == "ZeroDivisionError", "code error event", evs[-1])
    st, _, b = execd(f, sid, "GET", "/code/contexts?language=python")
    ok(st == 200 and [c["id"] for c in b] == [ctx["id"]], "list contexts")
    st, _, b = execd(f, sid, "DELETE", "/code/contexts/" + ctx["id"], raw=True)
    ok(st == 200 and execd(f, sid, "GET", "/code/contexts/" + ctx["id"])[0] == 404, "delete a context")
    st, _, evs, _, _ = stream(f, sid, {"code": "echo shell"}, path="/code")
    ok([e["text"] for e in evs if e["type"] == "stdout"] == ["shell"], "/code without a language runs a shell command")


def test_auth_execd():
    f = Fake("--execd-token", "tok", "--start-delay-ms", "0", "--endpoint-mode", "header")
    try:
        sid = create(f)
        ep, hdrs = execd_base(f, sid)
        ok("/" not in ep and hdrs.get("OpenSandbox-Ingress-To") == sid + "-44772", "header endpoint mode", (ep, hdrs))
        st, _, b = req(f, "GET", "/ping", key=None, headers=hdrs)
        ok(st == 401 and "X-EXECD-ACCESS-TOKEN" in b["error"], "execd token missing -> 401 {error}", b)
        st, _, b = req(f, "GET", "/ping", key=None, headers=dict(hdrs, **{"X-EXECD-ACCESS-TOKEN": "tok"}), raw=True)
        ok(st == 200, "execd token accepted")
    finally:
        f.stop()


def main():
    f = Fake("--api-key", KEY, "--start-delay-ms", "100", "--ping-ms", "300", "--tail-ms", "1000")
    try:
        test_lifecycle(f)
        sid = test_commands(f)
        test_faults(f, sid)
        test_files(f, sid)
        test_egress(f)
        test_code(f)
        st, _, _ = req(f, "POST", "/__fake/reset", {}, key=None)
        ok(st == 200 and requests_log(f) == [] and req(f, "GET", "/v1/sandboxes")[2]["items"] == [],
           "reset clears sandboxes and the log")
    finally:
        f.stop()
    test_auth_execd()
    print("1..%d" % N)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
