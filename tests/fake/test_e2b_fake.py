#!/usr/bin/env python3
"""Self-test of tests/fake/e2b.py, the fake OpenKruise agents / E2B platform.

Talks to a freshly started fake over real sockets, as a client written from
shared/reference/e2b/BRIEF.md would: the management REST API (kruise status codes and
ApiError bodies), every routing mode, envd Connect-RPC with protobuf encoded and decoded
by hand here (independent of the fake's own codec), /files, the plain-text 502 and JSON
401 paths, and the fake Kubernetes API. Prints TAP; exits non-zero on any failure.
Standard library only.
"""

import base64
import http.client
import json
import os
import struct
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "e2b.py")

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


def is_eq(got, want, desc):
    return ok(got == want, desc, "got:  %r\nwant: %r" % (got, want))


# --- hand-written protobuf (BRIEF §6-§8 field numbers) -----------------------------

def varint(n):
    if n < 0:
        n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


def parse(buf):
    """-> {num: [values]} (varints as int, length-delimited as bytes)."""
    out, pos = {}, 0
    while pos < len(buf):
        key, pos = _dv(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = _dv(buf, pos)
        elif wt == 2:
            ln, pos = _dv(buf, pos)
            v, pos = buf[pos:pos + ln], pos + ln
        elif wt == 1:
            v, pos = buf[pos:pos + 8], pos + 8
        elif wt == 5:
            v, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def _dv(buf, pos):
    r = s = 0
    while True:
        b = buf[pos]
        pos += 1
        r |= (b & 0x7F) << s
        if not b & 0x80:
            return r, pos
        s += 7


def unzigzag(n):
    return (n >> 1) ^ -(n & 1)


def start_request(cmd, cwd=None, envs=None, stdin=False, tag=None):
    cfg = f_bytes(1, "/bin/bash") + f_bytes(2, "-l") + f_bytes(2, "-c") + f_bytes(2, cmd)
    for k, v in (envs or {}).items():
        cfg += f_bytes(3, f_bytes(1, k) + f_bytes(2, v))
    if cwd is not None:
        cfg += f_bytes(4, cwd)
    msg = f_bytes(1, cfg)
    if tag is not None:
        msg += f_bytes(3, tag)
    if stdin is not None:
        msg += f_varint(4, 1 if stdin else 0)  # explicit, also when false (BRIEF §11.1)
    return msg


def selector(pid):
    return f_bytes(1, f_varint(1, pid))


def decode_event(payload):
    """StartResponse/ConnectResponse -> ('start', pid) | ('stdout', b) | ('stderr', b) |
    ('end', dict) | ('keepalive', None)."""
    ev = parse(parse(payload)[1][0])
    if 1 in ev:
        return "start", parse(ev[1][0]).get(1, [0])[0]
    if 2 in ev:
        d = parse(ev[2][0])
        if 1 in d:
            return "stdout", d[1][0]
        if 2 in d:
            return "stderr", d[2][0]
        return "pty", d.get(3, [b""])[0]
    if 3 in ev:
        e = parse(ev[3][0])
        return "end", {"exit_code": unzigzag(e.get(1, [0])[0]), "exited": bool(e.get(2, [0])[0]),
                       "status": e.get(3, [b""])[0].decode(), "error": e[4][0].decode() if 4 in e else None}
    if 4 in ev:
        return "keepalive", None
    return "?", payload


def decode_entry(b):
    e = parse(b)
    s = lambda n: e[n][0].decode() if n in e else ""  # noqa: E731
    ts = parse(e[9][0]) if 9 in e else {}
    return {"name": s(1), "type": e.get(2, [0])[0], "path": s(3), "size": e.get(4, [0])[0],
            "mode": e.get(5, [0])[0], "permissions": s(6), "symlink_target": s(10) if 10 in e else None,
            "mtime": ts.get(1, [0])[0]}


# --- HTTP client helpers ------------------------------------------------------------

class Fake:
    def __init__(self, *args):
        self.p = subprocess.Popen([sys.executable, FAKE, "--quiet", "--k8s-port", "0",
                                   "--exit-on-stdin-eof"] + list(args),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr)
        self.port = self.k8s_port = None
        self.key = None
        while self.port is None or self.k8s_port is None:
            line = self.p.stdout.readline().decode()
            if not line:
                raise RuntimeError("fake exited before printing its port")
            if line.startswith("PORT "):
                self.port = int(line.split()[1])
            elif line.startswith("K8SPORT "):
                self.k8s_port = int(line.split()[1])

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()

    def req(self, method, path, body=None, headers=None, host=None, port=None, timeout=20):
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        h = dict(headers or {})
        if self.key and not path.startswith("/__fake/"):
            h.setdefault("X-API-Key", self.key)
        if host:
            h["Host"] = host
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def jreq(self, method, path, body=None, **kw):
        st, h, data = self.req(method, path, body, **kw)
        try:
            j = json.loads(data) if data else None
        except ValueError:
            j = None
        return st, h, j, data

    def control(self, method, path, body=None):
        return self.jreq(method, "/__fake/" + path, body)[2]

    def requests(self, since=0):
        return self.control("GET", "requests?since=%d" % since)

    def last_seq(self):
        r = self.requests()
        return r[-1]["seq"] if r else 0


class Envd:
    """envd of one sandbox through the header-mode gateway (BRIEF §2.2)."""

    def __init__(self, fake, sid, token, mode="header", user=None):
        self.f, self.sid, self.token, self.mode, self.user = fake, sid, token, mode, user

    def where(self, path):
        h = {}
        host = None
        if self.token is not None:
            h["X-Access-Token"] = self.token
        if self.user:
            h["Authorization"] = "Basic " + base64.b64encode((self.user + ":").encode()).decode()
        if self.mode == "header":
            h["e2b-sandbox-id"] = self.sid
            h["e2b-sandbox-port"] = "49983"
        elif self.mode == "native":
            host = "49983-%s.fake.local" % self.sid
        elif self.mode == "private":
            path = "/kruise/%s/49983%s" % (self.sid, path)
        return path, h, host

    def unary(self, rpc, msg, extra=None):
        path, h, host = self.where("/" + rpc)
        h["Content-Type"] = "application/proto"
        h["Connect-Protocol-Version"] = "1"
        h.update(extra or {})
        st, hd, data = self.f.req("POST", path, msg, h, host=host)
        return st, hd, data

    def stream(self, rpc, msg, extra=None, timeout=30):
        """Opens a server stream; returns (status, headers, iterator of (flags, payload))."""
        path, h, host = self.where("/" + rpc)
        h["Content-Type"] = "application/connect+proto"
        h["Connect-Protocol-Version"] = "1"
        h.update(extra or {})
        if host:
            h["Host"] = host
        c = http.client.HTTPConnection("127.0.0.1", self.f.port, timeout=timeout)
        c.request("POST", path, body=struct.pack(">BI", 0, len(msg)) + msg, headers=h)
        r = c.getresponse()
        hd = {k.lower(): v for k, v in r.getheaders()}

        def frames():
            try:
                while True:
                    head = r.read(5)
                    if len(head) < 5:
                        return
                    flags, ln = struct.unpack(">BI", head)
                    payload = r.read(ln)
                    if len(payload) < ln:
                        return
                    yield flags, payload
                    if flags & 2:
                        return
            except (http.client.HTTPException, OSError):
                return  # the stream was cut: the caller sees no end-of-stream
            finally:
                c.close()
        return r.status, hd, frames(), c

    def run(self, cmd, **kw):
        """Start and collect: (events list, end-stream json)."""
        extra = kw.pop("extra", None)
        st, hd, frames, _ = self.stream("process.Process/Start", start_request(cmd, **kw), extra)
        if st != 200:
            return st, None, None
        evs, trailer = [], None
        for flags, payload in frames:
            if flags & 2:
                trailer = json.loads(payload)
            else:
                evs.append(decode_event(payload))
        return st, evs, trailer

    def files_get(self, path, extra=None):
        p, h, host = self.where("/files?path=" + path)
        h.update(extra or {})
        return self.f.req("GET", p, None, h, host=host)

    def files_post_octet(self, path, data):
        p, h, host = self.where("/files?path=" + path)
        h["Content-Type"] = "application/octet-stream"
        return self.f.req("POST", p, data, h, host=host)


def out_of(evs, kind):
    return b"".join(d for k, d in evs if k == kind)


def end_of(evs):
    ends = [d for k, d in evs if k == "end"]
    return ends[0] if ends else None


# --- the tests ----------------------------------------------------------------------

def test_management(f):
    # create (201, token), Native api. host and Private prefix both reach management
    st, h, j, _ = f.jreq("POST", "/sandboxes", {"templateID": "base", "timeout": 300,
                                                "metadata": {"team": "a"}, "envVars": {"FOO": "bar"}},
                         host="api.fake.local", headers={"X-API-Key": "k1"})
    is_eq(st, 201, "create: 201")
    ok(j and j.get("envdAccessToken") and j.get("envdVersion") == "0.2.10", "create: token + envdVersion 0.2.10", j)
    ok("x-request-id" in h, "create: X-Request-ID header")
    sid = j["sandboxID"]
    ok(sid.startswith("default--base-"), "create: legacy namespace--name id", sid)
    st, _, j, _ = f.jreq("GET", "/kruise/api/sandboxes/" + sid, headers={"X-API-Key": "k1"})
    is_eq((st, j.get("sandboxID"), j.get("state")), (200, sid, "running"), "get via /kruise/api: 200 running")
    ok(j.get("metadata", {}).get("e2b.agents.kruise.io/sandbox-resource", "").startswith("default/"),
       "get: sandbox-resource metadata")
    # auth
    st, _, j, _ = f.jreq("GET", "/sandboxes/" + sid, headers={"X-API-Key": "wrong"})
    is_eq((st, j and j.get("code"), j and j.get("message")), (401, 401, "Invalid API Key"), "bad key: 401 ApiError")
    ok(j and len(j.get("request_id", "")) == 32 and "headers" in j, "ApiError has request_id and headers", j)
    # 404s / 405s
    st, _, j, _ = f.jreq("GET", "/sandboxes/nope", headers={"X-API-Key": "k1"})
    ok(st == 404 and j["code"] == 404 and "nope" in j["message"], "get unknown: 404 ApiError", j)
    st, _, _, raw = f.jreq("DELETE", "/sandboxes/nope", headers={"X-API-Key": "k1"})
    is_eq(st, 404, "kill unknown: 404 (not 204)")
    st, _, _, raw = f.jreq("GET", "/sandboxes", headers={"X-API-Key": "k1"})
    is_eq(st, 405, "GET /sandboxes: 405")
    st, _, _, raw = f.jreq("POST", "/v2/sandboxes", {}, headers={"X-API-Key": "k1"})
    is_eq(st, 405, "POST /v2/sandboxes: 405")
    st, h, _, raw = f.jreq("GET", "/nothing/here", headers={"X-API-Key": "k1"})
    ok(st == 404 and raw.startswith(b"404 page not found") and h.get("content-type", "").startswith("text/plain"),
       "unknown path: plain 404 page not found", raw)
    # create validation
    st, _, j, _ = f.jreq("POST", "/sandboxes", {"templateID": "nope"}, headers={"X-API-Key": "k1"})
    is_eq((st, j["message"]), (400, "Template or Checkpoint not found"), "create bad template: 400")
    st, _, j, _ = f.jreq("POST", "/sandboxes", {"templateID": "base", "timeout": 5}, headers={"X-API-Key": "k1"})
    ok(st == 400 and "timeout should between" in j["message"], "create timeout < 30: 400", j)
    st, _, j, _ = f.jreq("POST", "/sandboxes", {"templateID": "base", "metadata": {"agents.kruise.io/x": "1"}},
                         headers={"X-API-Key": "k1"})
    is_eq(st, 400, "create reserved metadata key: 400")
    st, _, j, _ = f.req("POST", "/sandboxes", b"{not json", {"X-API-Key": "k1"})[0], None, None, None
    is_eq(st, 500, "create malformed JSON: 500")
    # timeout / pause / connect / resume
    st, _, _, raw = f.jreq("POST", "/sandboxes/%s/timeout" % sid, {"timeout": 600}, headers={"X-API-Key": "k1"})
    is_eq((st, raw), (204, b""), "timeout: 204 empty")
    st, _, _, _ = f.jreq("POST", "/sandboxes/%s/timeout" % sid, b"x", headers={"X-API-Key": "k1"})
    is_eq(st, 500, "timeout bad body: 500")
    is_eq(f.jreq("POST", "/sandboxes/%s/pause" % sid, headers={"X-API-Key": "k1"})[0], 204, "pause: 204")
    is_eq(f.jreq("POST", "/sandboxes/%s/pause" % sid, headers={"X-API-Key": "k1"})[0], 409, "pause again: 409")
    is_eq(f.jreq("POST", "/sandboxes/%s/timeout" % sid, {"timeout": 60}, headers={"X-API-Key": "k1"})[0], 500,
          "timeout while paused: 500")
    st, _, j, _ = f.jreq("POST", "/sandboxes/%s/connect" % sid, {"timeout": 0}, headers={"X-API-Key": "k1"})
    is_eq(st, 400, "connect timeout 0: 400")
    st, _, j, _ = f.jreq("POST", "/sandboxes/%s/connect" % sid, {"timeout": 60}, headers={"X-API-Key": "k1"})
    ok(st == 201 and j["state"] == "running" and j.get("envdAccessToken"), "connect paused: 201 resumed + token", j)
    st, _, j, _ = f.jreq("POST", "/sandboxes/%s/connect" % sid, {"timeout": 60}, headers={"X-API-Key": "k1"})
    is_eq((st, j["state"]), (200, "running"), "connect running: 200")
    is_eq(f.jreq("POST", "/sandboxes/%s/resume" % sid, {"timeout": 60}, headers={"X-API-Key": "k1"})[0], 409,
          "resume running: 409")
    f.jreq("POST", "/sandboxes/%s/pause" % sid, headers={"X-API-Key": "k1"})
    st, _, _, raw = f.jreq("POST", "/sandboxes/%s/resume" % sid, {"timeout": 60}, headers={"X-API-Key": "k1"})
    is_eq((st, raw), (204, b""), "resume paused: 204 (deprecated route)")
    # list v2: paging, filters, no tokens
    ids = [sid]
    for i in range(3):
        j = f.jreq("POST", "/sandboxes", {"templateID": "base", "metadata": {"idx": str(i), "team": "b"}},
                   headers={"X-API-Key": "k1"})[2]
        ids.append(j["sandboxID"])
    st, h, j, _ = f.jreq("GET", "/v2/sandboxes?limit=2", headers={"X-API-Key": "k1"})
    ok(st == 200 and len(j) == 2 and h.get("x-next-token"), "list limit=2: 2 items + x-next-token", (st, j, h))
    ok(all("envdAccessToken" not in s for s in j), "list: no tokens")
    st, h2, j2, _ = f.jreq("GET", "/v2/sandboxes?limit=2&nextToken=" + h["x-next-token"], headers={"X-API-Key": "k1"})
    got = [s["sandboxID"] for s in j + j2]
    ok(st == 200 and got == ids and "x-next-token" not in h2, "list paging: all 4 in order, last page no token",
       (got, ids, h2))
    # metadata=<urlencoded "k=v&k2=v2"> double-decoded
    q = "metadata=" + "team%3Db%26idx%3D1"
    st, _, j, _ = f.jreq("GET", "/v2/sandboxes?" + q, headers={"X-API-Key": "k1"})
    is_eq([s["sandboxID"] for s in j], [ids[2]], "list metadata filter (double-encoded)")
    st, _, j, _ = f.jreq("GET", "/v2/sandboxes?state=paused", headers={"X-API-Key": "k1"})
    is_eq([s["sandboxID"] for s in j], [], "list state=paused: none (resumed)")
    is_eq(f.jreq("GET", "/v2/sandboxes?state=dead", headers={"X-API-Key": "k1"})[0], 400, "list bad state: 400")
    is_eq(f.jreq("GET", "/v2/sandboxes?limit=0", headers={"X-API-Key": "k1"})[0], 400, "list limit=0: 400")
    # kill
    st, _, _, raw = f.jreq("DELETE", "/sandboxes/" + ids[3], headers={"X-API-Key": "k1"})
    is_eq((st, raw), (204, b""), "kill: 204")
    is_eq(f.jreq("GET", "/sandboxes/" + ids[3], headers={"X-API-Key": "k1"})[0], 404, "get after kill: 404")
    # wrapped e2b_ key form (BRIEF §2.5)
    raw_key = b"k1"
    import hashlib
    mac = hashlib.sha256(b"openkruise-agents/e2b-key-compat/v1" + raw_key).digest()[:8]
    wrapped = "e2b_6f6b616701%08x%s%s" % (len(raw_key), raw_key.hex(), mac.hex())
    is_eq(f.jreq("GET", "/sandboxes/" + sid, headers={"X-API-Key": wrapped})[0], 200, "wrapped e2b_ key accepted")
    # the recorder saw the create body
    reqs = [r for r in f.requests() if r.get("route") == "management" and r["method"] == "POST"
            and r["path"].endswith("/sandboxes")]
    ok(reqs and reqs[0].get("json", {}).get("envVars") == {"FOO": "bar"}, "recorder keeps create JSON", reqs[:1])
    return sid


def test_routing(f, sid, token):
    # header, native, private modes reach the same envd
    for mode in ("header", "native", "private"):
        e = Envd(f, sid, token, mode)
        st, hd, data = e.unary("filesystem.Filesystem/Stat", f_bytes(1, "/tmp"))
        ok(st == 200 and hd.get("content-type") == "application/proto", "%s routing: Stat 200 proto" % mode,
           (st, hd, data))
        if st == 200:
            ent = decode_entry(parse(data)[1][0])
            is_eq((ent["name"], ent["type"], ent["path"]), ("tmp", 2, "/tmp"), "%s routing: entry of /tmp" % mode)
    # the recorder tells what route and sandbox it used
    r = f.requests()[-1]
    is_eq((r["route"], r["sandbox_id"], r["port"], r["upstream_path"]),
          ("envd", sid, 49983, "/filesystem.Filesystem/Stat"), "recorder: private route parsed")
    # 502 plain text for unknown sandbox, 401 JSON for a missing token
    e = Envd(f, "default--ghost", token)
    st, hd, data = e.unary("filesystem.Filesystem/Stat", f_bytes(1, "/"))
    ok(st == 502 and hd.get("content-type", "").startswith("text/plain") and b"healthy sandbox" in data,
       "unknown sandbox: plain-text 502", (st, hd, data))
    e = Envd(f, sid, None)
    st, hd, data = e.unary("filesystem.Filesystem/Stat", f_bytes(1, "/"))
    j = json.loads(data) if st == 401 else None
    ok(st == 401 and j and j["code"] == 401 and isinstance(j["code"], int), "missing token: HTTP 401 numeric code",
       (st, data))
    st, _, data = Envd(f, sid, "bad").unary("filesystem.Filesystem/Stat", f_bytes(1, "/"))
    is_eq(st, 401, "wrong token: 401")
    st, _, data = f.req("GET", "/kruise/%s" % sid)
    ok(st == 500 and b"failed to map request" in data, "/kruise/<id> without port: plain 500", data)
    st, _, data = f.req("GET", "/kruise/%s/abc/health" % sid)
    is_eq(st, 400, "/kruise non-numeric port: 400")
    st, _, data = Envd(f, sid, token, "private").files_get("/nonexistent")
    is_eq(st, 404, "private /files 404")


def test_process(f, sid, token):
    e = Envd(f, sid, token)
    st, evs, trailer = e.run("echo hi; echo err >&2; exit 3")
    is_eq(st, 200, "Start: 200")
    ok(evs and evs[0][0] == "start" and evs[0][1] > 0, "Start: first event start{pid}", evs)
    is_eq(out_of(evs, "stdout"), b"hi\n", "Start: stdout")
    is_eq(out_of(evs, "stderr"), b"err\n", "Start: stderr")
    is_eq(end_of(evs), {"exit_code": 3, "exited": True, "status": "exit status 3", "error": "exit status 3"},
          "Start: end exit 3 (zigzag), status/error strings")
    is_eq(trailer, {}, "Start: end-of-stream {}")
    st, evs, _ = e.run("exit 0")
    ok(end_of(evs) and end_of(evs)["error"] is None and end_of(evs)["exit_code"] == 0, "exit 0: no error field",
       evs)
    # raw wire: exit_code zigzag encoding of a negative exit (killed: -1)
    st, evs, _ = e.run("kill -9 $$")
    is_eq((end_of(evs) or {}).get("exit_code"), -1, "killed: exit_code -1")
    is_eq((end_of(evs) or {}).get("status"), "signal: killed", "killed: status 'signal: killed'")
    # stdin: explicit false => EOF at once; absent => open (cat would block)
    st, evs, _ = e.run("cat; echo done", stdin=False)
    is_eq(out_of(evs, "stdout"), b"done\n", "stdin=false: cat sees EOF")
    # envs, cwd
    st, evs, _ = e.run('echo "$FOO:$(basename "$PWD")"', envs={"FOO": "bar"}, cwd="/tmp")
    is_eq(out_of(evs, "stdout"), b"bar:tmp\n", "envs + cwd applied")
    st, evs, trailer = e.run("true", cwd="/does/not/exist")
    ok(trailer and trailer.get("error", {}).get("code") == "invalid_argument" and not evs,
       "bad cwd: end-stream invalid_argument, no events", (evs, trailer))
    # the recorder decoded our stdin=false as present
    r = [x for x in f.requests() if x.get("rpc") == "process.Process/Start"][-1]
    ok(r["message"].get("stdin") is False, "recorder: explicit stdin=false seen", r.get("message"))
    # keepalives
    st, evs, _ = e.run("sleep 1.5; echo late", extra={"Keepalive-Ping-Interval": "0.3"})
    ok(sum(1 for k, _ in evs if k == "keepalive") >= 2 and out_of(evs, "stdout") == b"late\n",
       "keepalive events with Keepalive-Ping-Interval", evs)
    # deadline kills the process
    t0 = time.monotonic()
    st, evs, trailer = e.run("sleep 30", extra={"Connect-Timeout-Ms": "500"})
    ok(trailer and trailer["error"]["code"] == "deadline_exceeded" and time.monotonic() - t0 < 20,
       "Connect-Timeout-Ms: deadline_exceeded", trailer)
    # background: start with stdin open, list, send input, close stdin, connect, signal
    st, hd, frames, conn = e.stream("process.Process/Start",
                                    start_request("read x; echo got:$x; cat; echo bye", stdin=True, tag="bg1"))
    flags, payload = next(frames)
    kind, pid = decode_event(payload)
    ok(kind == "start" and pid > 0, "background Start: pid", (kind, pid))
    conn.sock.close()  # the stream goes away, the process must keep running (BRIEF §7)
    time.sleep(0.2)
    st, _, data = e.unary("process.Process/List", b"")
    procs = [parse(p) for p in parse(data).get(1, [])]
    pids = [p[2][0] for p in procs]
    ok(st == 200 and pid in pids, "List: process still running after stream closed", (pids, pid))
    tags = [p[3][0] for p in procs if 3 in p and p[2][0] == pid]
    is_eq(tags, [b"bg1"], "List: tag")
    cfg = parse(procs[pids.index(pid)][1][0]) if pid in pids else {}
    is_eq(cfg.get(1), [b"/bin/bash"], "List: config cmd")
    # reattach (Connect by pid) then SendInput
    st, hd, frames, conn = e.stream("process.Process/Connect", selector(pid))
    flags, payload = next(frames)
    is_eq(decode_event(payload), ("start", pid), "Connect: start{pid} first")
    st, _, data = e.unary("process.Process/SendInput",
                          selector(pid) + f_bytes(2, f_bytes(1, b"hello\n")))
    is_eq(st, 200, "SendInput: 200")
    st, _, _ = e.unary("process.Process/CloseStdin", selector(pid))
    is_eq(st, 200, "CloseStdin: 200")
    evs = []
    for flags, payload in frames:
        if flags & 2:
            break
        evs.append(decode_event(payload))
    is_eq(out_of(evs, "stdout"), b"got:hello\nbye\n", "Connect: new output after input + EOF")
    is_eq((end_of(evs) or {}).get("exit_code"), 0, "Connect: end event")
    # Connect after exit: replay start + end
    st, hd, frames, _ = e.stream("process.Process/Connect", selector(pid))
    evs = [decode_event(p) for fl, p in frames if not fl & 2]
    ok([k for k, _ in evs] == ["start", "end"], "Connect after exit: start+end replay", evs)
    # SendSignal SIGTERM (15) ends a running process; unknown pid -> not_found 404
    st, hd, frames, conn = e.stream("process.Process/Start", start_request("sleep 30"))
    pid2 = decode_event(next(frames)[1])[1]
    st, _, _ = e.unary("process.Process/SendSignal", selector(pid2) + f_varint(2, 15))
    is_eq(st, 200, "SendSignal 15: 200")
    evs = [decode_event(p) for fl, p in frames if not fl & 2]
    is_eq(end_of(evs), {"exit_code": -1, "exited": False, "status": "signal: terminated",
                        "error": "signal: terminated"}, "SIGTERM: end signal: terminated")
    st, hd, data = e.unary("process.Process/SendSignal", selector(999999) + f_varint(2, 9))
    j = json.loads(data) if data else {}
    ok(st == 404 and j.get("code") == "not_found" and hd.get("content-type") == "application/json",
       "SendSignal unknown pid: 404 not_found JSON", (st, data))
    st, _, data = e.unary("process.Process/SendSignal", selector(pid2) + f_varint(2, 2))
    ok(st in (404, 501), "SendSignal SIGINT (2): refused", (st, data))
    # SendInput to a process without stdin: internal error
    st, hd, frames, conn = e.stream("process.Process/Start", start_request("sleep 5", stdin=False))
    pid3 = decode_event(next(frames)[1])[1]
    st, _, data = e.unary("process.Process/SendInput", selector(pid3) + f_bytes(2, f_bytes(1, b"x")))
    ok(st == 500 and json.loads(data)["code"] == "internal", "SendInput without stdin: internal", (st, data))
    e.unary("process.Process/SendSignal", selector(pid3) + f_varint(2, 9))
    conn.close()
    # unary with bad body -> invalid_argument
    st, _, data = e.unary("filesystem.Filesystem/Stat", b"\xff\xff")
    ok(st == 400 and json.loads(data)["code"] == "invalid_argument", "bad protobuf: 400 invalid_argument", data)
    # wrong content type -> 415
    st, _, _ = e.unary("filesystem.Filesystem/Stat", b"", extra={"Content-Type": "text/plain"})
    is_eq(st, 415, "unary wrong content type: 415")
    # JSON codec too
    p, h, host = e.where("/filesystem.Filesystem/Stat")
    h["Content-Type"] = "application/json"
    st, hd, data = f.req("POST", p, json.dumps({"path": "/tmp"}).encode(), h)
    ok(st == 200 and json.loads(data)["entry"]["type"] == "FILE_TYPE_DIRECTORY", "JSON codec Stat", data)
    # big output is chunked into <= 32 KiB data events
    st, evs, _ = e.run("head -c 200000 /dev/zero")
    data = out_of(evs, "stdout")
    ok(len(data) == 200000 and max(len(d) for k, d in evs if k == "stdout") <= 32768,
       "200 KB output in <=32 KiB events", len(data))
    # user selection via Basic auth; unknown user -> unauthenticated
    st, evs, _ = Envd(f, sid, token, user="user").run("echo $USER")
    is_eq(out_of(evs or [], "stdout"), b"user\n", "Basic user selects the OS user")
    st, _, data = Envd(f, sid, token, user="ghost").unary("filesystem.Filesystem/Stat", f_bytes(1, "/"))
    ok(st == 401 and json.loads(data)["code"] == "unauthenticated", "unknown user: unauthenticated", data)


def test_filesystem(f, sid, token):
    e = Envd(f, sid, token)
    st, _, data = e.unary("filesystem.Filesystem/MakeDir", f_bytes(1, "/work/a/b"))
    ent = decode_entry(parse(data)[1][0]) if st == 200 else {}
    ok(st == 200 and ent.get("type") == 2 and ent.get("mode") & 0o777 == ent.get("mode"),
       "MakeDir -p: directory entry, permission-only mode", (st, data))
    st, _, data = e.unary("filesystem.Filesystem/MakeDir", f_bytes(1, "/work/a/b"))
    ok(st == 409 and json.loads(data)["code"] == "already_exists", "MakeDir existing: already_exists", data)
    payload = bytes(range(256)) * 10
    st, hd, data = e.files_post_octet("/work/a/b/bin.dat", payload)
    ok(st == 200 and json.loads(data)[0]["path"] == "/work/a/b/bin.dat", "POST /files octet-stream", data)
    # multipart (old envd, BRIEF §9)
    boundary = uuid.uuid4().hex
    body = (b"--" + boundary.encode() + b"\r\nContent-Disposition: form-data; name=\"file\"; "
            b"filename=\"/work/m.txt\"\r\nContent-Type: application/octet-stream\r\n\r\nmulti\r\npart\r\n--"
            + boundary.encode() + b"--\r\n")
    p, h, host = e.where("/files?path=/work/m.txt")
    h["Content-Type"] = "multipart/form-data; boundary=" + boundary
    st, _, data = f.req("POST", p, body, h)
    ok(st == 200 and json.loads(data)[0]["name"] == "m.txt", "POST /files multipart", data)
    st, hd, data = e.files_get("/work/m.txt")
    is_eq((st, data), (200, b"multi\r\npart"), "GET /files multipart content")
    st, hd, data = e.files_get("/work/a/b/bin.dat")
    ok(st == 200 and data == payload and hd.get("content-length") == str(len(payload)),
       "GET /files binary-safe with Content-Length", (st, len(data)))
    st, hd, data = e.files_get("/work/a/b/bin.dat", {"Range": "bytes=10-19"})
    is_eq((st, data), (206, payload[10:20]), "GET /files Range")
    st, hd, data = e.files_get("/work/a")
    ok(st == 400 and json.loads(data)["code"] == 400, "GET /files on a directory: 400", data)
    st, hd, data = e.files_get("/work/none")
    ok(st == 404 and "does not exist" in json.loads(data)["message"], "GET /files missing: 404", data)
    st, hd, data = e.files_get("/work/a/b/bin.dat", {"Accept-Encoding": "gzip"})
    ok(st == 200 and hd.get("content-encoding") == "gzip", "GET /files gzip only when asked", hd)
    st, _, data = Envd(f, sid, "bad").files_get("/work/m.txt")
    ok(st == 401 and "does not match" in json.loads(data)["message"], "/files wrong token: 401", data)
    st, _, data = Envd(f, sid, None).files_get("/work/m.txt")
    ok(st == 401 and "signature" in json.loads(data)["message"], "/files no token: missing signature", data)
    # ListDir depth, pre-order
    e.files_post_octet("/work/a/c.txt", b"c")
    st, _, data = e.unary("filesystem.Filesystem/ListDir", f_bytes(1, "/work"))
    names = [decode_entry(x)["path"] for x in parse(data).get(1, [])]
    is_eq(names, ["/work/a", "/work/m.txt"], "ListDir depth 0 -> 1 level")
    st, _, data = e.unary("filesystem.Filesystem/ListDir", f_bytes(1, "/work") + f_varint(2, 3))
    names = [decode_entry(x)["path"] for x in parse(data).get(1, [])]
    is_eq(names, ["/work/a", "/work/a/b", "/work/a/b/bin.dat", "/work/a/c.txt", "/work/m.txt"],
          "ListDir depth 3, lexical pre-order")
    st, _, data = e.unary("filesystem.Filesystem/ListDir", f_bytes(1, "/work/m.txt"))
    ok(st == 400 and json.loads(data)["code"] == "invalid_argument", "ListDir on a file: invalid_argument", data)
    st, _, data = e.unary("filesystem.Filesystem/ListDir", f_bytes(1, "/nope"))
    is_eq(st, 404, "ListDir missing: 404 not_found")
    # Stat
    st, _, data = e.unary("filesystem.Filesystem/Stat", f_bytes(1, "/work/a/c.txt"))
    ent = decode_entry(parse(data)[1][0])
    ok(ent["size"] == 1 and ent["type"] == 1 and ent["permissions"].startswith("-") and ent["mtime"] > 0,
       "Stat file: size, type, permissions, mtime", ent)
    st, _, data = e.unary("filesystem.Filesystem/Stat", f_bytes(1, "/work/zzz"))
    ok(st == 404 and json.loads(data)["code"] == "not_found", "Stat missing: not_found", data)
    # relative paths resolve against the user's home
    e.files_post_octet("rel.txt", b"r")
    st, _, data = e.unary("filesystem.Filesystem/Stat", f_bytes(1, "/root/rel.txt"))
    is_eq(st, 200, "relative /files path lands in /root")
    # symlink reports target type
    st, evs, _ = e.run("ln -s c.txt link", cwd="/work/a")
    st, _, data = e.unary("filesystem.Filesystem/Stat", f_bytes(1, "/work/a/link"))
    ent = decode_entry(parse(data)[1][0]) if st == 200 else {}
    ok(ent.get("type") == 1 and ent.get("symlink_target") == "/work/a/c.txt", "symlink: target type + target",
       ent)
    # Move creates parents
    st, _, data = e.unary("filesystem.Filesystem/Move", f_bytes(1, "/work/m.txt") + f_bytes(2, "/work/x/y/m2.txt"))
    ent = decode_entry(parse(data)[1][0]) if st == 200 else {}
    is_eq(ent.get("path"), "/work/x/y/m2.txt", "Move: destination entry")
    st, _, data = e.unary("filesystem.Filesystem/Move", f_bytes(1, "/work/gone") + f_bytes(2, "/work/q"))
    is_eq(st, 404, "Move missing source: not_found")
    # Remove: rm -rf, missing not an error
    st, _, _ = e.unary("filesystem.Filesystem/Remove", f_bytes(1, "/work/x"))
    is_eq(st, 200, "Remove dir: 200")
    st, _, _ = e.unary("filesystem.Filesystem/Remove", f_bytes(1, "/work/x"))
    is_eq(st, 200, "Remove missing: 200")
    st, _, _ = e.unary("filesystem.Filesystem/Stat", f_bytes(1, "/work/x"))
    is_eq(st, 404, "removed dir is gone")
    # a file written with /files is seen by a command (relative path from home)
    st, evs, _ = e.run("cat rel.txt")
    is_eq(out_of(evs, "stdout"), b"r", "commands see files written via /files (home-relative)")


def test_faults(f, sid, token):
    e = Envd(f, sid, token)
    f.control("POST", "fault", {"match": "POST /process.Process/Start", "kind": "drop_mid_stream", "after": 1})
    st, evs, trailer = e.run("echo a; sleep 0.2; echo b")
    ok(trailer is None and evs and evs[0][0] == "start" and len(evs) == 1, "drop_mid_stream: stream cut after 1",
       (evs, trailer))
    f.control("POST", "fault", {"match": "* /filesystem.Filesystem/Stat", "kind": "plain502"})
    st, hd, data = e.unary("filesystem.Filesystem/Stat", f_bytes(1, "/"))
    ok(st == 502 and hd.get("content-type", "").startswith("text/plain"), "plain502 fault", (st, data))
    f.control("POST", "fault", {"match": "POST /sandboxes$", "kind": "status", "status": 503})
    st, _, j, _ = f.jreq("POST", "/sandboxes", {"templateID": "base"}, headers={"X-API-Key": "k1"})
    ok(st == 503 and j and j["code"] == 503, "status fault on management: ApiError", j)
    f.control("POST", "fault", {"match": "POST /process.Process/Start", "kind": "bad_envelope",
                                "variant": "truncated", "after": 1})
    st, evs, trailer = None, None, None
    try:
        st, evs, trailer = e.run("echo x")
    except Exception:
        pass
    ok(trailer is None, "bad_envelope truncated: no clean end of stream")
    is_eq(f.control("GET", "faults"), [], "faults consumed")


def test_paused_and_expiry(f):
    j = f.control("POST", "sandbox", {"template": "base", "state": "paused", "shortId": True})
    sid, token = j["sandboxID"], j["envdAccessToken"]
    st, hd, data = Envd(f, sid, token).unary("filesystem.Filesystem/Stat", f_bytes(1, "/"))
    ok(st == 502 and b"healthy sandbox %s not found" % sid.encode() in data, "paused sandbox: 502 plain", data)
    st, _, j2, _ = f.jreq("GET", "/sandboxes/" + sid)
    is_eq(j2["state"], "paused", "pre-created paused sandbox listed as paused")
    # expiry kills a running sandbox
    j = f.control("POST", "sandbox", {"template": "base"})
    f.control("POST", "expire", {"sandboxID": j["sandboxID"], "in_ms": 0})
    deadline = time.time() + 5
    while time.time() < deadline and f.jreq("GET", "/sandboxes/" + j["sandboxID"])[0] == 200:
        time.sleep(0.1)
    is_eq(f.jreq("GET", "/sandboxes/" + j["sandboxID"])[0], 404, "expired sandbox is killed")
    j = f.control("POST", "sandbox", {"template": "base", "autoPause": True})
    f.control("POST", "expire", {"sandboxID": j["sandboxID"], "in_ms": 0})
    deadline = time.time() + 5
    while time.time() < deadline and f.jreq("GET", "/sandboxes/" + j["sandboxID"])[2]["state"] == "running":
        time.sleep(0.1)
    is_eq(f.jreq("GET", "/sandboxes/" + j["sandboxID"])[2]["state"], "paused", "autoPause: expiry pauses")


def test_k8s(f):
    j = f.control("POST", "sandbox", {"template": "base", "namespace": "team", "name": "box1", "shortId": True,
                                      "token": "tok-123"})
    auth = {"Authorization": "Bearer fake-k8s-token"}
    path = "/apis/agents.kruise.io/v1alpha1/namespaces/team/sandboxes/box1"
    st, _, obj, _ = f.jreq("GET", path, headers=auth, port=f.k8s_port)
    ok(st == 200 and obj["kind"] == "Sandbox", "k8s: Sandbox object on the k8s port", obj)
    is_eq(obj["metadata"]["labels"].get("agents.kruise.io/sandbox-id"), j["sandboxID"], "k8s: sandbox-id label")
    is_eq(obj["metadata"]["annotations"].get("agents.kruise.io/runtime-access-token"), "tok-123",
          "k8s: runtime-access-token annotation")
    st, _, obj, _ = f.jreq("GET", "/k8s" + path, headers=auth)
    is_eq(st, 200, "k8s: also under /k8s on the main port")
    st, _, obj, _ = f.jreq("GET", path, port=f.k8s_port)
    ok(st == 401 and obj["kind"] == "Status", "k8s: 401 Status without bearer token", obj)
    st, _, obj, _ = f.jreq("GET", path.replace("box1", "nope"), headers=auth, port=f.k8s_port)
    ok(st == 404 and obj["reason"] == "NotFound", "k8s: 404 Status", obj)
    f.control("POST", "sandbox", {"template": "base", "namespace": "team", "name": "legacy", "shortId": False,
                                  "token": ""})
    st, _, obj, _ = f.jreq("GET", path.replace("box1", "legacy"), headers=auth, port=f.k8s_port)
    ok(st == 200 and "agents.kruise.io/sandbox-id" not in obj["metadata"]["labels"]
       and "agents.kruise.io/runtime-access-token" not in obj["metadata"]["annotations"],
       "k8s: legacy sandbox has no id label and no token annotation", obj["metadata"])
    # the legacy id namespace--name works at the gateway without a token
    st, _, data = Envd(f, "team--legacy", None).unary("filesystem.Filesystem/Stat", f_bytes(1, "/"))
    is_eq(st, 200, "legacy ns--name id routes; no token needed when none is set")


def raw_request(port, head, body=b""):
    """Sends one raw HTTP/1.1 request (e.g. absolute-form, as to a proxy) -> (status, body)."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as so:
        so.sendall(head.encode() + body)
        so.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = so.recv(65536)
            if not chunk:
                break
            data += chunk
    head_b, _, rest = data.partition(b"\r\n\r\n")
    return int(head_b.split()[1]), rest


def test_proxy_form(f, sid, token):
    """The e2e tests reach api.DOMAIN and PORT-ID.DOMAIN with the fake as HTTP proxy."""
    st, body = raw_request(f.port, "GET http://api.fake.local/v2/sandboxes HTTP/1.1\r\nHost: api.fake.local\r\n"
                                    "X-API-Key: k1\r\nConnection: close\r\n\r\n")
    ok(st == 200 and sid.encode() in body, "absolute-form request to api.DOMAIN reaches management", (st, body[:200]))
    msg = f_bytes(1, "/tmp")
    host = "49983-%s.fake.local" % sid
    st, body = raw_request(f.port, "POST http://%s/filesystem.Filesystem/Stat HTTP/1.1\r\nHost: %s\r\n"
                                    "Content-Type: application/proto\r\nX-Access-Token: %s\r\n"
                                    "Content-Length: %d\r\nConnection: close\r\n\r\n" % (host, host, token, len(msg)),
                           msg)
    ok(st == 200 and decode_entry(parse(body)[1][0])["path"] == "/tmp",
       "absolute-form request to PORT-ID.DOMAIN reaches envd", (st, body[:100]))


def test_k8s_tls():
    import shutil
    import ssl
    import tempfile
    if not shutil.which("openssl"):
        print("ok %d - k8s over TLS # SKIP openssl missing" % (N + 1))
        globals()["N"] += 1
        return
    d = tempfile.mkdtemp(prefix="fake-tls-")
    ext = os.path.join(d, "ext")
    with open(ext, "w") as fh:
        fh.write("subjectAltName=IP:127.0.0.1\n")
    for c in (["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
               "-out", "ca.crt", "-days", "1", "-subj", "/CN=ca"],
              ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "s.key",
               "-out", "s.csr", "-subj", "/CN=127.0.0.1"],
              ["x509", "-req", "-in", "s.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
               "s.crt", "-days", "1", "-extfile", ext]):
        subprocess.run(["openssl"] + c, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    f = Fake("--k8s-tls", os.path.join(d, "s.crt") + "," + os.path.join(d, "s.key"))
    try:
        f.control("POST", "sandbox", {"namespace": "ns", "name": "n1", "token": "tt-1234"})
        ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.crt"))
        c = http.client.HTTPSConnection("127.0.0.1", f.k8s_port, timeout=10, context=ctx)
        c.request("GET", "/apis/agents.kruise.io/v1alpha1/namespaces/ns/sandboxes/n1",
                  headers={"Authorization": "Bearer fake-k8s-token"})
        r = c.getresponse()
        obj = json.loads(r.read())
        ok(r.status == 200 and obj["metadata"]["annotations"].get("agents.kruise.io/runtime-access-token") == "tt-1234",
           "--k8s-tls: the k8s port speaks verified TLS", obj)
    finally:
        f.stop()
        shutil.rmtree(d, ignore_errors=True)


def main():
    f = Fake("--api-key", "k1", "--keepalive-s", "30")
    f.key = "k1"
    try:
        sid = test_management(f)
        j = f.jreq("GET", "/sandboxes/" + sid, headers={"X-API-Key": "k1"})[2]
        token = j["envdAccessToken"]
        test_routing(f, sid, token)
        test_proxy_form(f, sid, token)
        test_process(f, sid, token)
        test_filesystem(f, sid, token)
        test_faults(f, sid, token)
        test_paused_and_expiry(f)
        test_k8s(f)
        st = f.control("POST", "reset", {})
        ok(st == {"ok": True} and f.control("GET", "sandboxes") == [], "reset kills every sandbox")
    except Exception:
        import traceback
        ok(False, "test run raised", traceback.format_exc())
    finally:
        f.stop()
    try:
        test_k8s_tls()
    except Exception:
        import traceback
        ok(False, "k8s TLS test raised", traceback.format_exc())
    print("1..%d" % N)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
