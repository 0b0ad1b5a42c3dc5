#!/usr/bin/env python3
"""net/connect against a real Connect server on 127.0.0.1 (stdlib http.server).

The server below is written from https://connectrpc.com/docs/protocol and
shared/reference/e2b/BRIEF.md §6/§11: unary calls (application/proto, bare message,
errors as JSON with a string code) and server-streaming calls (application/connect+proto,
enveloped messages, an end-of-stream envelope with JSON), plus the non-Connect failures
a client meets in practice (envd's 401 JSON with a numeric code, a proxy's text/plain
502, an HTML page). The C side is tests/prog/connectcall.c, which prints each message
as hex and the outcome as JSON lines. Prints TAP; exits non-zero on a failure.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.environ.get("SANDBOX_MCP_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
TESTBIN = os.environ.get("SANDBOX_MCP_TESTBIN", os.path.join(ROOT, "build", "test", "tests"))
PROG = os.path.join(TESTBIN, "connectcall")

SVC = "/test.v1.Svc/"
REQUESTS = []          # (path, headers dict (lower-case), body bytes, client port)
REQ_LOCK = threading.Lock()


def env(flags, payload):
    return struct.pack(">BI", flags, len(payload)) + payload


def end_env(obj):
    return env(2, json.dumps(obj).encode())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    # -- helpers --
    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def send(self, status, ctype, body, extra=()):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def connect_error(self, status, code, message):
        self.send(status, "application/json",
                  json.dumps({"code": code, "message": message}).encode())

    def start_stream(self, ctype="application/connect+proto"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- dispatch --
    def do_POST(self):
        body = self.read_body()
        hdrs = {k.lower(): v for k, v in self.headers.items()}
        with REQ_LOCK:
            REQUESTS.append((self.path, hdrs, body, self.client_address[1]))
        name = self.path[len(SVC):] if self.path.startswith(SVC) else ""
        if self.path.startswith("/prefix" + SVC):
            name = self.path[len("/prefix" + SVC):]
        if name.startswith("Stream"):
            return self.streaming(name, hdrs, body)
        return self.unary(name, hdrs, body)

    def unary(self, name, hdrs, body):
        if hdrs.get("content-type") != "application/proto":
            return self.connect_error(415, "invalid_argument", "unary wants application/proto")
        if hdrs.get("connect-protocol-version") != "1":
            return self.connect_error(400, "invalid_argument", "missing Connect-Protocol-Version")
        if name == "Echo":
            return self.send(200, "application/proto", b"echo:" + body)
        if name == "Empty":
            return self.send(200, "application/proto", b"")
        if name == "Headers":
            return self.send(200, "application/proto", hdrs.get("x-test", "none").encode())
        if name == "Timeout":
            return self.send(200, "application/proto",
                             hdrs.get("connect-timeout-ms", "none").encode())
        if name == "NotFound":
            return self.connect_error(404, "not_found", "process with pid 12 not found")
        if name == "NoMessage":
            return self.send(409, "application/json", b'{"code":"aborted"}')
        if name == "Unauth":
            return self.send(401, "application/json", json.dumps({
                "code": 401, "message": "unauthorized access, please provide a valid access "
                "token or method signing if supported"}).encode())
        if name == "BadGateway":
            return self.send(502, "text/plain; charset=utf-8", b"Bad Gateway\n")
        if name == "Html":
            return self.send(503, "text/html", b"<html><body>down</body></html>")
        if name == "WrongType":
            return self.send(200, "text/html", b"<html>captive portal</html>")
        if name == "Gzip":
            return self.send(200, "application/proto", b"\x1f\x8b\x08\x00",
                             extra=[("Content-Encoding", "gzip")])
        if name == "Big":
            return self.send(200, "application/proto", b"B" * 2000)
        if name == "Sleep":
            time.sleep(3)
            try:
                self.send(200, "application/proto", b"late")
            except OSError:
                pass        # the client gave up first, as it should
            return None
        return self.connect_error(404, "unimplemented", "no such method " + name)

    def streaming(self, name, hdrs, body):
        if hdrs.get("content-type") != "application/connect+proto":
            return self.connect_error(415, "invalid_argument", "stream wants connect+proto")
        if len(body) < 5:
            return self.connect_error(400, "invalid_argument", "no request envelope")
        flags, n = struct.unpack(">BI", body[:5])
        if flags != 0 or n != len(body) - 5:
            return self.connect_error(400, "invalid_argument",
                                      "request must be exactly one envelope")
        req = body[5:]
        if name == "StreamCount":
            self.start_stream()
            for i in range(int(req or b"0")):
                self.chunk(env(0, b"msg-%d" % i))
            self.chunk(end_env({}))
            return self.end_chunks()
        if name == "StreamTrickle":
            data = b"".join(env(0, b"m%d" % i + bytes(range(i))) for i in range(8))
            data += end_env({"metadata": {"k": ["v"]}})
            self.start_stream()
            for i in range(len(data)):
                self.chunk(data[i:i + 1])
                if i % 7 == 0:
                    time.sleep(0.001)
            return self.end_chunks()
        if name == "StreamEcho":
            self.start_stream()
            self.chunk(env(0, req))
            self.chunk(env(0, b""))
            self.chunk(end_env({}))
            return self.end_chunks()
        if name == "StreamLength":       # Content-Length instead of chunked
            data = env(0, b"one") + env(0, b"two") + end_env({})
            return self.send(200, "application/connect+proto", data)
        if name == "StreamError":
            self.start_stream()
            self.chunk(env(0, b"a") + env(0, b"b"))
            self.chunk(end_env({"error": {"code": "invalid_argument",
                                          "message": "cwd '/x' does not exist"},
                                "metadata": {"k": ["v"]}}))
            return self.end_chunks()
        if name == "StreamErrorThenDrop":   # verdict, then no final chunk: RST
            self.start_stream()
            self.chunk(env(0, b"a") + end_env({"error": {"code": "not_found",
                                                         "message": "gone"}}))
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            return None
        if name == "StreamNoEnd":
            self.start_stream()
            self.chunk(env(0, b"a") + env(0, b"b"))
            return self.end_chunks()
        if name == "StreamCompressed":
            self.start_stream()
            self.chunk(env(0, b"a") + env(1, b"\x1f\x8b"))
            self.chunk(end_env({}))
            return self.end_chunks()
        if name == "StreamCut":
            self.start_stream()
            self.chunk(env(0, b"a") + env(0, b"0123456789")[:9])
            return self.end_chunks()
        if name == "StreamAfterEnd":
            self.start_stream()
            self.chunk(env(0, b"a") + end_env({}) + env(0, b"late"))
            return self.end_chunks()
        if name == "StreamBig":
            self.start_stream()
            self.chunk(env(0, b"s") + env(0, b"X" * 5000))
            self.chunk(end_env({}))
            return self.end_chunks()
        if name == "StreamBadEnd":
            self.start_stream()
            self.chunk(env(0, b"a") + env(2, b"not json"))
            return self.end_chunks()
        if name == "StreamUnauth":
            return self.send(401, "application/json", b'{"code":401,"message":"unauthorized"}')
        if name == "StreamNotFound":
            return self.connect_error(404, "not_found", "process with pid 12 not found")
        if name == "StreamWrongType":
            self.start_stream("application/json")
            self.chunk(b'{"hello":1}')
            return self.end_chunks()
        if name == "StreamForever":
            self.start_stream()
            try:
                for i in range(200):
                    self.chunk(env(0, b"tick-%d" % i))
                    time.sleep(0.05)
                self.chunk(end_env({}))
                self.end_chunks()
            except OSError:
                pass
            return None
        return self.connect_error(404, "unimplemented", "no such method " + name)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)   # the client hung up: fine


n_tests = 0
n_failed = 0


def check(cond, desc, detail=None):
    global n_tests, n_failed
    n_tests += 1
    if not cond:
        n_failed += 1
    print("%sok %d - %s" % ("" if cond else "not ", n_tests, desc), flush=True)
    if not cond and detail is not None:
        for line in str(detail).splitlines():
            print("#   " + line)


def call(base, *args, payload=None, timeout=30):
    argv = [PROG] + list(args[:-2]) + [args[-2], base, args[-1]]
    if payload is not None:
        argv.append(payload)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    lines = []
    for line in p.stdout.decode().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            lines.append({"bad": line})
    msgs = [bytes.fromhex(x["msg"]) for x in lines if "msg" in x]
    dones = [x for x in lines if x.get("done")]
    return p.returncode, msgs, dones, p.stderr.decode()


def outcome(r):
    rc, msgs, dones, err = r
    return dones[-1] if dones else {"rc": "missing", "stderr": err, "exit": rc}


def expect(r, desc, msgs=None, rc="ok", code="ok", http=None, from_http=None, sub=None,
           exact=None, remote=False):
    d = outcome(r)
    good = r[0] == 0 and d.get("rc") == rc and d.get("code") == code
    good = good and d.get("remote") == remote
    if msgs is not None:
        good = good and r[1] == msgs
    if http is not None:
        good = good and d.get("http_status") == http
    if from_http is not None:
        good = good and d.get("from_http") == from_http
    if sub is not None:
        good = good and sub in d.get("error", "")
    if exact is not None:
        good = good and d.get("error") == exact
    check(good, desc, "msgs=%r\noutcome=%r\nstderr=%s" % (r[1][:5], d, r[3][-2000:]))


def main():
    if not os.access(PROG, os.X_OK):
        print("ok 1 - connectcall # SKIP %s is not built (make FLAVOR=test test-build)" % PROG)
        print("1..1")
        return 0
    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % srv.server_address[1]

    # ---- unary ----
    r = call(base, "unary", SVC + "Echo", payload="0a03666f6f00ff")
    expect(r, "unary echo returns the response bytes", msgs=[b"echo:\x0a\x03foo\x00\xff"])
    with REQ_LOCK:
        path, hdrs, body, _ = REQUESTS[-1]
    check(path == SVC + "Echo" and hdrs.get("content-type") == "application/proto" and
          hdrs.get("connect-protocol-version") == "1" and body == b"\x0a\x03foo\x00\xff" and
          "connect-timeout-ms" not in hdrs and "content-encoding" not in hdrs,
          "unary request: path, Content-Type, Connect-Protocol-Version, bare body",
          (path, hdrs, body))
    r = call(base, "unary", SVC + "Echo")
    expect(r, "unary with an empty request", msgs=[b"echo:"])
    with REQ_LOCK:
        hdrs = REQUESTS[-1][1]
    check(hdrs.get("content-length") == "0", "empty request is sent with Content-Length: 0",
          hdrs)
    r = call(base + "/prefix/", "unary", "test.v1.Svc/Echo", payload="41")
    expect(r, "base URL with a path prefix and a trailing slash", msgs=[b"echo:A"])
    with REQ_LOCK:
        path = REQUESTS[-1][0]
    check(path == "/prefix" + SVC + "Echo", "joined path is /prefix/test.v1.Svc/Echo", path)
    r = call(base, "unary", SVC + "Empty")
    expect(r, "unary empty response", msgs=[b""])
    r = call(base, "--header", "X-Test: hello", "--header", "Authorization: Basic cm9vdDo=",
             "unary", SVC + "Headers")
    expect(r, "extra headers are sent", msgs=[b"hello"])
    r = call(base, "--timeout-ms", "20000", "unary", SVC + "Timeout")
    ok_tmo = (len(r[1]) == 1 and r[1][0].isdigit() and 1 <= len(r[1][0]) <= 10 and
              0 < int(r[1][0]) <= 20000)
    check(ok_tmo, "Connect-Timeout-Ms is sent with the time left", r[1])
    r = call(base, "unary", SVC + "Timeout")
    expect(r, "no Connect-Timeout-Ms without a deadline", msgs=[b"none"])
    r = call(base, "unary", SVC + "NotFound")
    expect(r, "unary Connect error: not_found with its message", rc="not found",
           code="not_found", http=404, from_http=False,
           exact="not_found: process with pid 12 not found", remote=True)
    r = call(base, "unary", SVC + "NoMessage")
    expect(r, "unary Connect error without a message gets a sentence", rc="backend",
           code="aborted", http=409, sub="aborted: the call was aborted by a conflict", remote=True)
    r = call(base, "unary", SVC + "Unauth")
    expect(r, "envd 401 (numeric code) maps to unauthenticated from the HTTP status",
           rc="backend", code="unauthenticated", http=401, from_http=True,
           sub="unauthorized access, please provide a valid access token", remote=True)
    r = call(base, "unary", SVC + "BadGateway")
    expect(r, "proxy 502 text/plain maps to unavailable", rc="backend",
           code="unavailable", http=502, from_http=True,
           exact="unavailable: the server answered HTTP 502, not a Connect response: "
                 "Bad Gateway", remote=True)
    r = call(base, "unary", SVC + "Html")
    expect(r, "503 HTML page maps to unavailable", rc="backend", code="unavailable",
           http=503, from_http=True, remote=True)
    r = call(base, "unary", SVC + "NoSuchMethod")
    expect(r, "unknown method: Connect JSON unimplemented", rc="unsupported",
           code="unimplemented", http=404, from_http=False, remote=True)
    r = call(base, "unary", SVC + "WrongType")
    expect(r, "200 with the wrong Content-Type is a protocol error", rc="protocol",
           code="internal", sub="text/html")
    r = call(base, "unary", SVC + "Gzip")
    expect(r, "a compressed unary response is refused", rc="protocol", code="internal",
           sub="compress")
    r = call(base, "--max", "1000", "unary", SVC + "Big")
    expect(r, "unary response over max_message", rc="too big", code="resource_exhausted")
    r = call(base, "--max", "2000", "unary", SVC + "Big")
    expect(r, "unary response == max_message", msgs=[b"B" * 2000])
    r = call(base, "--timeout-ms", "300", "unary", SVC + "Sleep")
    expect(r, "deadline passes: deadline_exceeded", rc="timeout", code="deadline_exceeded")
    r = call("http://127.0.0.1:1", "unary", SVC + "Echo")
    expect(r, "connection refused: unavailable", rc="io", code="unavailable")

    with REQ_LOCK:
        before = len(REQUESTS)
    r = call(base, "--repeat", "3", "unary", SVC + "Echo", payload="00")
    ok3 = len(r[2]) == 3 and all(d["rc"] == "ok" for d in r[2]) and r[1] == [b"echo:\x00"] * 3
    with REQ_LOCK:
        ports = [x[3] for x in REQUESTS[before:]]
    check(ok3 and len(ports) == 3 and len(set(ports)) == 1,
          "three unary calls on one client reuse one connection (seen by the server)",
          (r[2], ports))

    # ---- server streaming ----
    r = call(base, "stream", SVC + "StreamCount", payload=b"5".hex())
    expect(r, "stream: five messages then end-of-stream",
           msgs=[b"msg-%d" % i for i in range(5)])
    with REQ_LOCK:
        path, hdrs, body, _ = REQUESTS[-1]
    check(hdrs.get("content-type") == "application/connect+proto" and
          hdrs.get("connect-protocol-version") == "1" and body == b"\x00\x00\x00\x00\x015",
          "stream request: connect+proto, one envelope", (hdrs, body))
    r = call(base, "stream", SVC + "StreamCount", payload=b"0".hex())
    expect(r, "stream: no messages, only end-of-stream", msgs=[])
    r = call(base, "stream", SVC + "StreamTrickle")
    expect(r, "stream: every byte in its own chunk",
           msgs=[b"m%d" % i + bytes(range(i)) for i in range(8)])
    blob = bytes((i * 7 + 3) % 256 for i in range(100000))
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "connectcall-%d.bin" % os.getpid())
    with open(path, "wb") as f:
        f.write(blob)
    try:
        r = call(base, "stream", SVC + "StreamEcho", payload="@" + path)
    finally:
        os.unlink(path)
    expect(r, "stream: 100 KB binary request echoed back, then an empty message",
           msgs=[blob, b""])
    r = call(base, "stream", SVC + "StreamLength")
    expect(r, "stream with Content-Length instead of chunked", msgs=[b"one", b"two"])
    r = call(base, "stream", SVC + "StreamError")
    expect(r, "stream: end-of-stream error after messages", msgs=[b"a", b"b"], rc="invalid",
           code="invalid_argument", http=200, from_http=False,
           exact="invalid_argument: cwd '/x' does not exist", remote=True)
    r = call(base, "stream", SVC + "StreamErrorThenDrop")
    expect(r, "stream: the end-of-stream verdict stands when the connection breaks after it",
           msgs=[b"a"], rc="not found", code="not_found", exact="not_found: gone", remote=True)
    r = call(base, "stream", SVC + "StreamNoEnd")
    expect(r, "stream without end-of-stream is an error", msgs=[b"a", b"b"],
           rc="protocol", code="internal", sub="end-of-stream")
    r = call(base, "stream", SVC + "StreamCompressed")
    expect(r, "stream: a compressed envelope is refused", msgs=[b"a"], rc="protocol",
           code="internal", sub="compress")
    r = call(base, "stream", SVC + "StreamCut")
    expect(r, "stream cut inside an envelope", msgs=[b"a"], rc="protocol",
           code="internal", sub="inside a message")
    r = call(base, "stream", SVC + "StreamAfterEnd")
    expect(r, "stream: bytes after end-of-stream", msgs=[b"a"], rc="protocol",
           code="internal", sub="after the end-of-stream")
    r = call(base, "--max", "1000", "stream", SVC + "StreamBig")
    expect(r, "stream: message over max_message", msgs=[b"s"], rc="too big",
           code="resource_exhausted", sub="5000 bytes")
    r = call(base, "stream", SVC + "StreamBadEnd")
    expect(r, "stream: end-of-stream that is not JSON", msgs=[b"a"], rc="protocol",
           code="internal")
    r = call(base, "stream", SVC + "StreamUnauth")
    expect(r, "stream: 401 before the stream maps by status", msgs=[], rc="backend",
           code="unauthenticated", http=401, from_http=True, sub="unauthorized", remote=True)
    r = call(base, "stream", SVC + "StreamNotFound")
    expect(r, "stream: Connect JSON error before the stream", msgs=[], rc="not found",
           code="not_found", http=404, exact="not_found: process with pid 12 not found", remote=True)
    r = call(base, "stream", SVC + "StreamWrongType")
    expect(r, "stream: 200 with application/json is refused", msgs=[], rc="protocol",
           code="internal", sub="application/json")
    r = call(base, "--stop-after", "3", "stream", SVC + "StreamForever")
    expect(r, "stream: the reader stops early (CONNECT_STOP)",
           msgs=[b"tick-0", b"tick-1", b"tick-2"])
    r = call(base, "--fail-after", "2", "stream", SVC + "StreamForever")
    expect(r, "stream: the reader's error ends the call", msgs=[b"tick-0", b"tick-1"],
           rc="backend", code="canceled", sub="gave up after 2")
    r = call(base, "--timeout-ms", "400", "stream", SVC + "StreamForever")
    d = outcome(r)
    check(d.get("rc") == "timeout" and d.get("code") == "deadline_exceeded" and
          0 < len(r[1]) < 200, "stream: deadline ends a stream mid-way", (d, len(r[1])))
    r = call(base, "unary", SVC + "StreamCount")
    expect(r, "unary call to a streaming method is refused by the server",
           rc="invalid", code="invalid_argument", http=415, remote=True)

    srv.shutdown()
    print("1..%d" % n_tests)
    return 1 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
