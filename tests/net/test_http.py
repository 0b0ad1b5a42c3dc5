#!/usr/bin/env python3
"""test_http.py -- net/http and net/tls against real servers on 127.0.0.1.

Drives build/test/tests/httpget (tests/prog/httpget.c, one JSON line per request) against
servers written here with the standard library: raw sockets for exact bytes, ssl for TLS
with a CA and certificates made by the `openssl` command, `openssl s_server -WWW` for each
TLS cipher suite, a CONNECT proxy with basic auth and an absolute-form HTTP proxy. Keep-alive is observed from the server side (connections
accepted, requests per connection); no test asserts wall-clock times.

Prints TAP; exits non-zero when a test failed.
"""
import base64
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.environ.get("SANDBOX_MCP_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTBIN = os.environ.get("SANDBOX_MCP_TESTBIN") or os.path.join(ROOT, "build/test/tests")
HTTPGET = os.path.join(TESTBIN, "httpget")

_n = 0
_failed = 0


def ok(cond, desc, diag=None):
    global _n, _failed
    _n += 1
    if not cond:
        _failed += 1
    print("%sok %d - %s" % ("" if cond else "not ", _n, desc))
    if not cond and diag is not None:
        for line in str(diag).splitlines()[:20]:
            print("#   " + line)
    sys.stdout.flush()
    return cond


def skip(desc, why):
    global _n
    _n += 1
    print("ok %d - %s # SKIP %s" % (_n, desc, why))


def note(msg):
    print("# " + msg)


# ---- the client ----------------------------------------------------------------------

BASE_ENV = {k: v for k, v in os.environ.items()
            if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
                                 "SSL_CERT_FILE", "SSL_CERT_DIR")}
BASE_ENV.setdefault("ASAN_OPTIONS", "detect_leaks=1:exitcode=86")


class Run:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.results = []
        for line in proc.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    self.results.append(json.loads(line))
                except ValueError:
                    self.results.append({"unparsed": line})

    @property
    def r(self):
        return self.results[0] if self.results else {}

    def diag(self):
        return "rc=%s\nstdout: %s\nstderr: %s" % (self.rc, self.out[-1500:], self.err[-1500:])


def httpget(*args, env=None, timeout=30):
    e = dict(BASE_ENV)
    if env:
        e.update(env)
    t0 = time.time()
    try:
        p = subprocess.run([HTTPGET] + [str(a) for a in args], env=e, capture_output=True,
                           text=True, timeout=timeout)
        if os.environ.get("HTTP_TEST_TIMES"):
            note("%.2fs httpget %s" % (time.time() - t0, " ".join(str(a) for a in args)))
    except subprocess.TimeoutExpired as ex:
        class P:
            returncode = -999
            stdout = ex.stdout.decode() if isinstance(ex.stdout, bytes) else (ex.stdout or "")
            stderr = "httpget did not finish in %ds" % timeout
        return Run(P)
    if p.returncode not in (0, 1):
        # A crash or a sanitizer report: always a failure worth showing.
        note("httpget exited %d: %s" % (p.returncode, p.stderr[-2000:]))
    return Run(p)


def header(res, name):
    for k, v in res.get("headers", []):
        if k.lower() == name.lower():
            return v
    return None


# ---- servers -------------------------------------------------------------------------

class Conn:
    """A server-side connection with a read buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        try:
            d = self.sock.recv(65536)
        except (ConnectionError, ssl.SSLError, OSError):
            d = b""
        self.buf += d
        return len(d) > 0

    def read_until(self, sep):
        while sep not in self.buf:
            if not self.fill():
                return None
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_n(self, n):
        while len(self.buf) < n:
            if not self.fill():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_request(self):
        """Returns (method, target, headers[list of (k, v)], body bytes) or None at EOF."""
        head = self.read_until(b"\r\n\r\n")
        if head is None:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = []
        for ln in lines[1:]:
            if ln:
                k, v = ln.split(":", 1)
                headers.append((k.strip(), v.strip()))
        hd = {k.lower(): v for k, v in headers}
        body = b""
        if hd.get("transfer-encoding", "").lower() == "chunked":
            while True:
                line = self.read_until(b"\r\n")
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while self.read_until(b"\r\n") not in (b"\r\n", None):
                        pass
                    break
                body += self.read_n(size)
                self.read_n(2)
        elif "content-length" in hd:
            body = self.read_n(int(hd["content-length"]))
        return method, target, headers, body

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (ConnectionError, ssl.SSLError, OSError):
            return False

    def close(self, unwrap=False):
        try:
            if unwrap and isinstance(self.sock, ssl.SSLSocket):
                self.sock = self.sock.unwrap()
            self.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError, ssl.SSLError):
            pass
        self.sock.close()


class Server:
    """Accepts on 127.0.0.1:0; runs handler(conn, server, index) on a thread per
    connection. Counts connections and requests; records TLS facts per connection."""

    def __init__(self, handler, ssl_ctx=None):
        self.handler = handler
        self.ssl_ctx = ssl_ctx
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = 0
        self.requests = []          # (conn index, method, target, headers, body)
        self.tls = []               # (version, session_reused) per handshake
        self.tls_errors = []
        self.state = {}
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                idx = self.conns
                self.conns += 1
            threading.Thread(target=self._run, args=(s, idx), daemon=True).start()

    def _run(self, s, idx):
        if self.ssl_ctx is not None:
            try:
                s.settimeout(10)
                s = self.ssl_ctx.wrap_socket(s, server_side=True,
                                             do_handshake_on_connect=False)
                s.do_handshake()
                with self.lock:
                    self.tls.append((s.version(), s.session_reused))
            except (ssl.SSLError, OSError) as ex:
                with self.lock:
                    self.tls_errors.append(str(ex))
                # Like a polite server: the alert is out; read what the client still
                # sends before closing, so that no TCP reset overtakes the alert.
                try:
                    s.shutdown(socket.SHUT_WR)
                    s.settimeout(2)
                    while s.recv(65536):
                        pass
                except (ssl.SSLError, OSError, ValueError):
                    pass
                s.close()
                return
        s.settimeout(20)
        c = Conn(s)
        try:
            self.handler(c, self, idx)
        except Exception as ex:  # a broken handler must not hang the test
            note("handler error: %r" % ex)
        finally:
            try:
                c.sock.close()
            except OSError:
                pass

    def record(self, idx, req):
        with self.lock:
            self.requests.append((idx,) + tuple(req))

    def url(self, path="/", host="127.0.0.1", scheme=None):
        scheme = scheme or ("https" if self.ssl_ctx else "http")
        return "%s://%s:%d%s" % (scheme, host, self.port, path)

    def close(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass


def resp(status=200, reason="OK", headers=(), body=b"", length=True):
    h = "HTTP/1.1 %d %s\r\n" % (status, reason)
    for k, v in headers:
        h += "%s: %s\r\n" % (k, v)
    if length:
        h += "Content-Length: %d\r\n" % len(body)
    return h.encode() + b"\r\n" + body


def keepalive_handler(body_fn=None):
    """Answers every request on the connection with a small JSON body."""
    def h(c, srv, idx):
        while True:
            req = c.read_request()
            if req is None:
                return
            srv.record(idx, req)
            method, target = req[0], req[1]
            if body_fn:
                data = body_fn(c, srv, idx, req)
                if data is None:
                    return
                if not c.send(data):
                    return
                continue
            body = json.dumps({"conn": idx, "target": target, "method": method,
                               "body": req[3].decode("latin-1")}).encode()
            if method == "HEAD":
                c.send(resp(headers=[("Content-Type", "application/json"),
                                     ("Content-Length", str(len(body)))], length=False))
            else:
                c.send(resp(headers=[("Content-Type", "application/json")], body=body))
    return h


# ---- plain HTTP tests -----------------------------------------------------------------

def test_keepalive():
    srv = Server(keepalive_handler())
    r = httpget("--repeat", 3, srv.url("/a?x=1"))
    res = r.results
    ok(r.rc == 0 and len(res) == 3 and all(x.get("status") == 200 for x in res),
       "keep-alive: three GETs answered", r.diag())
    ok([x.get("reused") for x in res] == [False, True, True],
       "keep-alive: the second and third request report reused", r.diag())
    ok(srv.conns == 1 and len(srv.requests) == 3,
       "keep-alive: the server saw one connection for three requests",
       "conns=%d requests=%d" % (srv.conns, len(srv.requests)))
    req = srv.requests[0]
    hd = {k.lower(): v for k, v in req[3]}
    ok(req[2] == "/a?x=1" and hd.get("host") == "127.0.0.1:%d" % srv.port and
       hd.get("user-agent") == "sandbox-mcp", "request line, Host and User-Agent", req)
    r = httpget("--repeat", 2, "--flush", srv.url("/"))
    ok(r.rc == 0 and [x.get("reused") for x in r.results] == [False, False] and
       srv.conns == 3, "flushing the pool opens a new connection", r.diag())
    r = httpget("--repeat", 2, "--no-pool", srv.url("/"))
    hd = {k.lower(): v for k, v in srv.requests[-1][3]}
    ok(r.rc == 0 and srv.conns == 5 and hd.get("connection") == "close",
       "without a pool every request has its own connection and says Connection: close",
       r.diag())
    r = httpget("--repeat", 2, "--pool-idle-ms", 100, "--sleep-ms", 400, srv.url("/"))
    ok(r.rc == 0 and [x.get("reused") for x in r.results] == [False, False] and
       srv.conns == 7, "a connection idle for longer than pool_idle_ms is not reused",
       r.diag())
    srv.close()


def test_connection_close_and_http10():
    def h(c, srv, idx, req):
        if req[1] == "/close":
            return resp(headers=[("Connection", "close")], body=b"bye")
        return b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    srv = Server(keepalive_handler(h))
    r = httpget("--repeat", 2, srv.url("/close"))
    ok(r.rc == 0 and [x.get("body") for x in r.results] == ["bye", "bye"] and
       srv.conns == 2, "Connection: close is honoured (two connections)", r.diag())
    r = httpget("--repeat", 2, srv.url("/10"))
    ok(r.rc == 0 and [x.get("body") for x in r.results] == ["hi", "hi"] and
       srv.conns == 4 and r.results[0].get("version") == 0,
       "HTTP/1.0 without keep-alive is not reused", r.diag())
    srv.close()


def test_chunked_trailers():
    pieces = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n",
              b"5;ext=1\r\nhel", b"lo\r\n", b"6\r\n wor", b"ld\r\n1", b"a\r\n",
              b"0123456789abcdefghijklmnop\r\n", b"0\r\nX-Sum: 42\r\nX-Other: ", b"two\r\n",
              b"\r\n"]

    def h(c, srv, idx, req):
        for p in pieces:
            c.send(p)
            time.sleep(0.01)
        return b""
    srv = Server(keepalive_handler(h))
    r = httpget("--repeat", 2, srv.url("/"))
    res = r.r
    ok(r.rc == 0 and res.get("body") == "hello world0123456789abcdefghijklmnop",
       "chunked body in odd pieces, with an extension", r.diag())
    ok(res.get("trailers") == [["X-Sum", "42"], ["X-Other", "two"]],
       "chunked trailers are returned", r.diag())
    ok(len(r.results) == 2 and r.results[1].get("reused") is True and srv.conns == 1,
       "a chunked response read to the end leaves the connection reusable", r.diag())
    r = httpget("--stream", srv.url("/"))
    ok(r.rc == 0 and r.r.get("body") == "hello world0123456789abcdefghijklmnop" and
       r.r.get("chunks", 0) >= 2, "chunked body through on_body in pieces", r.diag())
    srv.close()


def test_close_delimited():
    def h(c, srv):
        c.read_request()
        c.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        for i in range(5):
            c.send(b"line %d\n" % i)
            time.sleep(0.01)
        c.close()
    srv = Server(lambda c, s, i: h(c, s))
    r = httpget("--repeat", 2, srv.url("/"))
    ok(r.rc == 0 and r.r.get("body") == "".join("line %d\n" % i for i in range(5)) and
       r.r.get("content_length") == -1, "close-delimited body read to EOF", r.diag())
    ok(srv.conns == 2 and r.results[1].get("reused") is False,
       "a close-delimited response is never pooled", r.diag())
    srv.close()


def test_no_body_statuses():
    def h(c, srv, idx, req):
        t = req[1]
        if t == "/204":
            return b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"
        if t == "/304":
            return b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: \"x\"\r\n\r\n"
        if req[0] == "HEAD":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
        return resp(body=b"after")
    srv = Server(keepalive_handler(h))
    for path, method, want in (("/x", "HEAD", 200), ("/204", "GET", 204),
                               ("/304", "GET", 304)):
        before = srv.conns
        r = httpget("--repeat", 2, "-X", method, srv.url(path))
        ok(r.rc == 0 and [x.get("status") for x in r.results] == [want, want] and
           all(x.get("body_len") == 0 for x in r.results) and srv.conns == before + 1 and
           r.results[1].get("reused") is True,
           "%s %s: no body read, connection reused" % (method, path), r.diag())
    r = httpget("-X", "HEAD", srv.url("/x"))
    ok(r.r.get("content_length") == 100, "HEAD reports the Content-Length it was sent",
       r.diag())
    srv.close()


def test_informational():
    def h(c, srv, idx, req):
        return (b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                b"HTTP/1.1 102 Processing\r\n\r\n" +
                resp(201, "Created", [("X-Final", "yes")], b"made"))
    srv = Server(keepalive_handler(h))
    r = httpget("-X", "POST", "-d", "x", srv.url("/"))
    ok(r.rc == 0 and r.r.get("status") == 201 and r.r.get("body") == "made" and
       header(r.r, "X-Final") == "yes" and header(r.r, "Link") is None,
       "1xx responses are skipped; the final head is returned", r.diag())
    srv.close()


def test_bodies_sent():
    srv = Server(keepalive_handler())
    r = httpget("-X", "POST", "-H", "Content-Type: text/plain", "-d", "hello body",
                srv.url("/p"))
    req = srv.requests[-1]
    hd = {k.lower(): v for k, v in req[3]}
    ok(r.rc == 0 and req[4] == b"hello body" and hd.get("content-length") == "10",
       "POST with Content-Length", req)
    big = os.urandom(300 * 1024).hex().encode()
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(big)
    r = httpget("-X", "PUT", "-d", "@" + f.name, srv.url("/big"))
    ok(r.rc == 0 and srv.requests[-1][4] == big, "600 KiB PUT body arrives whole", r.diag())
    r = httpget("-X", "POST", "--chunked", 777, "-d", "@" + f.name, srv.url("/c"))
    req = srv.requests[-1]
    hd = {k.lower(): v for k, v in req[3]}
    ok(r.rc == 0 and req[4] == big and hd.get("transfer-encoding") == "chunked" and
       "content-length" not in hd, "chunked upload from the body producer", r.diag())
    os.unlink(f.name)
    r = httpget("-X", "POST", srv.url("/empty"))
    hd = {k.lower(): v for k, v in srv.requests[-1][3]}
    ok(r.rc == 0 and hd.get("content-length") == "0", "POST without a body sends "
       "Content-Length: 0", srv.requests[-1])
    r = httpget("-H", "Host: other.example", "-H", "User-Agent: mine", srv.url("/h"))
    hds = srv.requests[-1][3]
    ok([v for k, v in hds if k.lower() == "host"] == ["other.example"] and
       [v for k, v in hds if k.lower() == "user-agent"] == ["mine"],
       "caller's Host and User-Agent replace the defaults", hds)
    r = httpget("-H", "X-Bad: a\rb", srv.url("/"))
    ok(r.rc == 1 and r.r.get("code") == "invalid", "a CR in a header value is refused",
       r.diag())
    r = httpget("-X", "GE T", srv.url("/"))
    ok(r.rc == 1 and r.r.get("code") == "invalid", "a bad method is refused", r.diag())
    srv.close()


def test_multipart():
    srv = Server(keepalive_handler())
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(b"file\r\n--not-a-boundary\r\ncontent\x00\xff")
    r = httpget("-X", "POST", "--form", 'metadata={"path":"/w/a.txt"}',
                "--form-file", 'file=a "q".txt=@' + f.name, srv.url("/files/upload"))
    os.unlink(f.name)
    req = srv.requests[-1]
    hd = {k.lower(): v for k, v in req[3]}
    ct = hd.get("content-type", "")
    ok(r.rc == 0 and ct.startswith("multipart/form-data; boundary="), "multipart "
       "Content-Type with a boundary", ct)
    import email.parser
    import email.policy
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ct.encode() + b"\r\n\r\n" + req[4])
    parts = list(msg.iter_parts()) if msg.is_multipart() else []
    ok(len(parts) == 2, "two parts", req[4][:300])
    if len(parts) == 2:
        ok(parts[0].get_param("name", header="content-disposition") == "metadata" and
           parts[0].get_payload(decode=True) == b'{"path":"/w/a.txt"}',
           "field part", parts[0].as_string()[:300])
        ok(parts[1].get_param("filename", header="content-disposition") == 'a %22q%22.txt'
           and parts[1].get_content_type() == "application/octet-stream" and
           parts[1].get_payload(decode=True) == b"file\r\n--not-a-boundary\r\ncontent\x00\xff",
           "file part with escaped quotes and binary content",
           parts[1].as_string()[:300])
    srv.close()


def test_redirect_not_followed():
    def h(c, srv, idx, req):
        return resp(302, "Found", [("Location", "/elsewhere")], b"")
    srv = Server(keepalive_handler(h))
    r = httpget(srv.url("/"))
    ok(r.rc == 0 and r.r.get("status") == 302 and header(r.r, "Location") == "/elsewhere"
       and len(srv.requests) == 1, "a redirect is returned, not followed", r.diag())
    srv.close()


def test_bad_responses():
    cases = {
        "/status": b"HTTP/1.1 2OO OK\r\n\r\n",
        "/short": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        "/chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "/cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "/huge": b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n",
        "/many": b"HTTP/1.1 200 OK\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(200)) +
                 b"\r\n",
        "/101": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
        "/body": resp(body=b"x" * 5000),
        "/bigbody": resp(body=b"y" * (4 << 20)),
        "/nothing": b"",
    }

    def h(c, srv):
        req = c.read_request()
        srv.record(0, req)
        c.send(cases[req[1]])
        c.close()
    srv = Server(lambda c, s, i: h(c, s))
    expect = [("/status", "protocol", "malformed status line"),
              ("/short", "protocol", "truncated"),
              ("/chunk", "protocol", "chunk size"),
              ("/cl", "protocol", "Content-Length"),
              ("/huge", "too big", "64 KiB"),
              ("/many", "too big", "fields"),
              ("/101", "protocol", "101"),
              ("/nothing", "io", "without answering")]
    for path, code, words in expect:
        r = httpget(srv.url(path))
        ok(r.rc == 1 and r.r.get("code") == code and words in r.r.get("error", ""),
           "%s: %s error naming '%s'" % (path, code, words), r.diag())
    r = httpget("--body-max", 4096, srv.url("/body"))
    ok(r.rc == 1 and r.r.get("code") == "too big" and "4 KiB" in r.r.get("error", ""),
       "a body over body_max is refused", r.diag())
    r = httpget("--body-max", 4096, "--stream", srv.url("/body"))
    ok(r.rc == 0 and r.r.get("body_len") == 5000,
       "body_max does not apply to a streamed body", r.diag())
    r = httpget("--stop-after", 100, srv.url("/bigbody"))
    ok(r.rc == 0 and r.r.get("status") == 200 and r.r.get("body_len") < (4 << 20),
       "on_body returning HTTP_STOP ends the transfer without an error", r.diag())
    srv.close()


def test_deadlines_and_cancel():
    release = threading.Event()

    def h(c, srv):
        req = c.read_request()
        if req is None:
            return
        if req[1] == "/stall-body":
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        release.wait(15)
    srv = Server(lambda c, s, i: h(c, s))
    r = httpget("--timeout-ms", 400, srv.url("/stall"), timeout=20)
    ok(r.rc == 1 and r.r.get("code") == "timeout" and "deadline" in r.r.get("error", ""),
       "a silent server: the request deadline ends the wait", r.diag())
    r = httpget("--idle-ms", 300, srv.url("/stall-body"), timeout=20)
    ok(r.rc == 1 and r.r.get("code") == "timeout" and "idle" in r.r.get("error", ""),
       "a stalled body: the idle timeout ends the wait", r.diag())
    r = httpget("--cancel-after-ms", 300, srv.url("/stall"), timeout=20)
    ok(r.rc == 1 and r.r.get("code") == "cancelled", "the cancel token ends the wait",
       r.diag())
    release.set()
    srv.close()
    # Connecting to a port nobody listens on.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = httpget("http://127.0.0.1:%d/" % port)
    ok(r.rc == 1 and r.r.get("code") == "io" and "refused" in r.r.get("error", ""),
       "connection refused is an io error that says so", r.diag())


def test_stale_and_retry():
    # The server closes an idle connection after its first answer: the pool notices
    # before reuse (readable while idle) and opens a new one.
    def h_stale(c, srv, idx):
        req = c.read_request()
        if req is None:
            return
        srv.record(idx, req)
        c.send(resp(body=b"one"))
        time.sleep(0.05)
        c.close()
    srv = Server(h_stale)
    r = httpget("--repeat", 2, "--sleep-ms", 300, srv.url("/"))
    ok(r.rc == 0 and [x.get("body") for x in r.results] == ["one", "one"] and
       r.results[1].get("reused") is False and srv.conns == 2,
       "a pooled connection the server closed is dropped before reuse", r.diag())
    srv.close()

    # The server takes the second request on a kept-alive connection and closes without
    # answering (the race a pool cannot see coming): GET is retried once on a new one.
    def h_race(c, srv, idx):
        n = 0
        while True:
            req = c.read_request()
            if req is None:
                return
            srv.record(idx, req)
            n += 1
            if n == 2:
                c.close()
                return
            c.send(resp(body=("conn%d" % idx).encode()))
    for method, extra, want_ok in (("GET", [], True), ("POST", [], False),
                                   ("POST", ["--idempotent"], True),
                                   ("DELETE", [], False)):
        srv = Server(h_race)
        r = httpget("--repeat", 2, "-X", method, *extra, srv.url("/"))
        second = r.results[1] if len(r.results) > 1 else {}
        if want_ok:
            ok(second.get("status") == 200 and second.get("body") == "conn1" and
               second.get("reused") is False and srv.conns == 2 and len(srv.requests) == 3,
               "%s %s: failure on a reused connection is retried once on a new one" %
               (method, " ".join(extra)), r.diag())
        else:
            ok(second.get("code") == "io" and "reused connection" in second.get("error", "")
               and srv.conns == 1 and len(srv.requests) == 2,
               "%s: not idempotent, so not retried, and the error says why" % method,
               r.diag())
        srv.close()
    # A chunked upload (body producer) is never retried either.
    srv = Server(h_race)
    r = httpget("--repeat", 2, "--chunked", 3, "-d", "abcdef", srv.url("/"))
    ok(len(r.results) == 2 and r.results[1].get("code") == "io" and len(srv.requests) == 2,
       "a request with a body producer is not retried", r.diag())
    srv.close()


def test_log_redaction():
    srv = Server(keepalive_handler())
    secrets = ["S3CRETbearer", "S3CRETapikey", "S3CRETregistered", "S3CRETquery",
               "S3CRETtoken2"]
    r = httpget("--debug", "--secret", secrets[2],
                "-H", "Authorization: Bearer " + secrets[0],
                "-H", "X-API-Key: " + secrets[1],
                "-H", "X-Custom: has " + secrets[2] + " inside",
                "-H", "X-Access-Token: " + secrets[4],
                srv.url("/p?path=/x&signature=" + secrets[3]))
    leaked = [s for s in secrets if s in r.err]
    ok(r.rc == 0 and "> GET /p?path=/x&signature=[redacted]" in r.err and
       "Authorization: [redacted]" in r.err and not leaked,
       "debug log shows heads with every secret redacted", r.err[-2000:])
    hd = {k.lower(): v for k, v in srv.requests[-1][3]}
    ok(hd.get("authorization") == "Bearer " + secrets[0],
       "redaction is for logs only: the server got the real header", hd)
    srv.close()


# ---- TLS --------------------------------------------------------------------------------

class PKI:
    """A CA and certificates made with the openssl command."""

    def __init__(self, d):
        self.d = d
        self.ok = True
        try:
            self._make()
        except (subprocess.CalledProcessError, OSError) as ex:
            note("openssl failed: %s" % ex)
            self.ok = False

    def sh(self, *args):
        subprocess.run(["openssl"] + list(args), cwd=self.d, check=True,
                       capture_output=True)

    def p(self, name):
        return os.path.join(self.d, name)

    def _csr(self, name, cn):
        self.sh("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)

    def _make(self):
        # The CA signs with RSA; server keys are ECDSA (both signature kinds are used).
        self.sh("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                "-out", "ca.pem", "-days", "30", "-subj", "/CN=sandbox-mcp test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        with open(self.p("san.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,DNS:example.test,IP:127.0.0.1\n"
                    "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        with open(self.p("wrong.ext"), "w") as f:
            f.write("subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth\n")
        self._csr("good", "localhost")
        self.sh("x509", "-req", "-in", "good.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "good.pem", "-days", "10", "-extfile", "san.ext")
        self._csr("wrong", "wrong.example")
        self.sh("x509", "-req", "-in", "wrong.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "wrong.pem", "-days", "10", "-extfile",
                "wrong.ext")
        # Expired: `openssl ca` takes explicit dates.
        os.makedirs(self.p("newcerts"), exist_ok=True)
        open(self.p("index.txt"), "w").close()
        with open(self.p("serial"), "w") as f:
            f.write("1000\n")
        with open(self.p("ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca=d\n[d]\ndir=.\ndatabase=index.txt\n"
                    "new_certs_dir=newcerts\nserial=serial\ndefault_md=sha256\n"
                    "policy=p\nunique_subject=no\n[p]\ncommonName=supplied\n")
        self._csr("expired", "localhost")
        self.sh("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
                "-in", "expired.csr", "-out", "expired.pem", "-startdate", "20200101000000Z",
                "-enddate", "20200201000000Z", "-extfile", "san.ext")
        # Another CA nobody trusts.
        self.sh("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", "other.key", "-out", "other.pem", "-days", "10",
                "-subj", "/CN=localhost", "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1")
        os.makedirs(self.p("cadir"), exist_ok=True)
        shutil.copy(self.p("ca.pem"), self.p("cadir/test-ca.pem"))
        # Client certificates (mutual TLS): an EC key in PKCS#8 and an RSA key in the
        # traditional PKCS#1 form (what kubeadm writes), both from the test CA; one from
        # the CA nobody trusts.
        with open(self.p("client.ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
        self._csr("client", "sandbox-mcp client")
        self.sh("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "client.pem", "-days", "10", "-extfile",
                "client.ext")
        self.sh("genrsa", "-traditional", "-out", "clientrsa.key", "2048")
        self.sh("req", "-new", "-key", "clientrsa.key", "-out", "clientrsa.csr", "-subj",
                "/CN=sandbox-mcp rsa client/O=system:masters")
        self.sh("x509", "-req", "-in", "clientrsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "clientrsa.pem", "-days", "10", "-extfile",
                "client.ext")
        self.sh("x509", "-req", "-in", "client.csr", "-CA", "other.pem", "-CAkey",
                "other.key", "-CAcreateserial", "-out", "clientother.pem", "-days", "10",
                "-extfile", "client.ext")


def tls_ctx(pki, cert, key=None, minv=None, maxv=None, legacy=False, client_ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki.p(client_ca))
    if legacy:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    ctx.load_cert_chain(pki.p(cert + ".pem"), pki.p((key or cert) + ".key"))
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def tls_info_handler(c, srv, idx):
    while True:
        req = c.read_request()
        if req is None:
            return
        srv.record(idx, req)
        peer = c.sock.getpeercert() or {}
        cn = [v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"]
        body = json.dumps({"conn": idx, "version": c.sock.version(),
                           "cipher": (c.sock.cipher() or ("",))[0],
                           "alpn": c.sock.selected_alpn_protocol(),
                           "sni": srv.state.get("sni"),
                           "peer_cn": cn[0] if cn else None}).encode()
        if not c.send(resp(body=body)):
            return


def test_tls(pki):
    ca = pki.p("ca.pem")
    good = Server(tls_info_handler, tls_ctx(pki, "good"))
    sni_seen = []
    good.ssl_ctx.sni_callback = lambda s, name, ctx: sni_seen.append(name)

    r = httpget("--ca-file", ca, "--repeat", 3, good.url(host="localhost"))
    res = r.results
    ok(r.rc == 0 and len(res) == 3 and all(x.get("status") == 200 for x in res),
       "TLS: valid certificate from the test CA", r.diag())
    info = json.loads(res[0].get("body", "{}") or "{}") if res else {}
    ok(info.get("alpn") == "http/1.1" and "localhost" in sni_seen,
       "TLS: ALPN http/1.1 and SNI sent", (info, sni_seen))
    ok(good.conns == 1 and [x.get("reused") for x in res] == [False, True, True],
       "TLS: keep-alive reuses one TLS connection", r.diag())
    r = httpget("--ca-file", ca, good.url(host="127.0.0.1"))
    ok(r.rc == 0, "TLS: an IP address matches the certificate's IP SAN", r.diag())

    # Session resumption: a new connection resumes the session of the previous one.
    before = len(good.tls)
    r = httpget("--ca-file", ca, "--repeat", 3, "--flush", good.url(host="localhost"))
    hs = good.tls[before:]
    ok(r.rc == 0 and len(hs) == 3 and hs[0][1] is False and hs[1][1] is True and
       hs[2][1] is True, "TLS 1.3: later connections resume the session (server side)",
       (hs, r.diag()))

    env_ok = httpget(good.url(host="localhost"), env={"SSL_CERT_FILE": ca})
    ok(env_ok.rc == 0, "TLS: SSL_CERT_FILE supplies the CA", env_ok.diag())
    r = httpget(good.url(host="localhost"), env={"SSL_CERT_DIR": pki.p("cadir")})
    ok(r.rc == 0, "TLS: SSL_CERT_DIR supplies the CA", r.diag())
    r = httpget("--ca-dir", pki.p("cadir"), good.url(host="localhost"))
    ok(r.rc == 0, "TLS: --ca-dir supplies the CA", r.diag())
    r = httpget(good.url(host="localhost"), env={"SSL_CERT_FILE": pki.p("missing.pem")})
    ok(r.rc == 1 and r.r.get("code") == "tls" and "SSL_CERT_FILE" in r.r.get("error", ""),
       "TLS: a missing SSL_CERT_FILE is named in the error", r.diag())
    r = httpget("--ca-file", pki.p("san.ext"), good.url(host="localhost"))
    ok(r.rc == 1 and r.r.get("code") == "tls" and "san.ext" in r.r.get("error", ""),
       "TLS: a CA file without certificates is named in the error", r.diag())
    r = httpget(good.url(host="localhost"))
    ok(r.rc == 1 and r.r.get("code") == "tls" and "unknown CA" in r.r.get("error", ""),
       "TLS: the system bundle does not trust the test CA", r.diag())
    r = httpget("--insecure", good.url(host="localhost"))
    ok(r.rc == 0 and "verification is OFF" in r.err, "TLS: --insecure works and warns",
       r.diag())

    cases = [("expired", "expired", "has expired"),
             ("wrong host", "wrong", "not valid for the host name localhost"),
             ("unknown CA", "other", "unknown CA")]
    for desc, cert, words in cases:
        srv = Server(tls_info_handler, tls_ctx(pki, cert))
        r = httpget("--ca-file", ca, srv.url(host="localhost"))
        ok(r.rc == 1 and r.r.get("code") == "tls" and words in r.r.get("error", "") and
           "localhost:%d" % srv.port in r.r.get("error", ""),
           "TLS %s: the error names the reason ('%s') and the server" % (desc, words),
           r.diag())
        srv.close()

    for desc, minv, maxv, want in (
            ("TLS 1.2-only", None, ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
            ("TLS 1.3-only", ssl.TLSVersion.TLSv1_3, None, "TLSv1.3")):
        srv = Server(tls_info_handler, tls_ctx(pki, "good", minv=minv, maxv=maxv))
        r = httpget("--ca-file", ca, "--repeat", 2, "--flush", srv.url(host="localhost"))
        info = json.loads(r.r.get("body", "{}") or "{}") if r.results else {}
        ok(r.rc == 0 and info.get("version") == want, "%s server: handshake as %s" %
           (desc, want), r.diag())
        ok(len(srv.tls) == 2 and srv.tls[1][1] is True,
           "%s server: the second connection resumes the session" % desc, srv.tls)
        srv.close()

    # A server that only speaks TLS 1.0/1.1.
    try:
        legacy = Server(tls_info_handler, tls_ctx(pki, "good", minv=ssl.TLSVersion.TLSv1,
                                                  maxv=ssl.TLSVersion.TLSv1_1, legacy=True))
    except (ssl.SSLError, ValueError) as ex:
        legacy = None
        skip("TLS 1.1-only server: protocol version error", "cannot make one: %s" % ex)
    if legacy is not None:
        r = httpget("--ca-file", ca, legacy.url(host="localhost"))
        err = r.r.get("error", "")
        ok(r.rc == 1 and r.r.get("code") == "tls" and
           ("protocol version" in err or "protocol_version" in err),
           "TLS 1.1-only server: the error says protocol version", r.diag())
        legacy.close()

    # A plain HTTP server behind an https:// URL: it answers the ClientHello with a 400.
    def h_plain(c, srv, idx):
        c.fill()
        c.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        c.close()
    plain = Server(h_plain)
    r = httpget("--ca-file", ca, plain.url(scheme="https", host="localhost"))
    ok(r.rc == 1 and r.r.get("code") == "tls" and "not TLS" in r.r.get("error", ""),
       "TLS to a plain HTTP port: a TLS error that says so", r.diag())
    plain.close()

    # One client shared by threads: the pool and the session cache are locked.
    r = httpget("--ca-file", ca, "--threads", 4, "--repeat", 5, good.url(host="localhost"))
    ok(r.rc == 0 and len(r.results) == 20 and all(x.get("status") == 200 for x in r.results),
       "TLS: four threads on one client, twenty requests", r.diag())
    srv = Server(tls_info_handler, tls_ctx(pki, "good"))
    r = httpget("--ca-file", ca, "--threads", 4, "--repeat", 5, srv.url(host="localhost"))
    ok(r.rc == 0 and 1 <= srv.conns <= 4, "TLS: four threads use at most four connections",
       "conns=%d %s" % (srv.conns, r.diag()))
    n = len(srv.tls)
    r = httpget("--ca-file", ca, "--threads", 4, "--repeat", 4, "--flush",
                srv.url(host="localhost"))
    resumed = sum(1 for v, reused in srv.tls[n:] if reused)
    ok(r.rc == 0 and len(r.results) == 16 and resumed > 0,
       "TLS: threads flushing and reconnecting share resumed sessions",
       "resumed=%d of %d %s" % (resumed, len(srv.tls) - n, r.diag()))
    srv.close()

    # Close-delimited bodies over TLS: close_notify tells complete from truncated.
    def h_close(unwrap):
        def h(c, srv, idx):
            c.read_request()
            c.send(b"HTTP/1.1 200 OK\r\n\r\nall of it")
            c.close(unwrap=unwrap)
        return h
    srv = Server(h_close(True), tls_ctx(pki, "good"))
    r = httpget("--ca-file", ca, srv.url(host="localhost"))
    ok(r.rc == 0 and r.r.get("body") == "all of it",
       "TLS close-delimited body ended by close_notify is complete", r.diag())
    srv.close()
    srv = Server(h_close(False), tls_ctx(pki, "good"))
    r = httpget("--ca-file", ca, srv.url(host="localhost"))
    ok(r.rc == 1 and r.r.get("code") == "tls" and "close_notify" in r.r.get("error", ""),
       "TLS close-delimited body without close_notify is a TLS error (truncation)",
       r.diag())
    srv.close()
    good.close()
    return True


def cpu_has_aes_gcm():
    """What net/tls asks the CPU before it puts AES-GCM first: AES-NI and PCLMULQDQ
    (x86), AES and PMULL (Armv8); None when /proc/cpuinfo cannot say."""
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.strip() in ("flags", "Features"):
                    flags |= set(v.split())
    except OSError:
        return None
    if not flags:
        return None
    return "aes" in flags and ("pclmulqdq" in flags or "pmull" in flags)


def test_tls_suite_choice(pki):
    """Which cipher suite the client asks for first, seen by a server that follows the
    client's order (Python's server prefers its own unless told otherwise)."""
    ca = pki.p("ca.pem")
    aes = cpu_has_aes_gcm()
    if aes is None:
        skip("TLS: the client's preferred cipher suite", "/proc/cpuinfo has no CPU flags")
        return
    for label, minv, maxv in (("TLS 1.3", ssl.TLSVersion.TLSv1_3, None),
                              ("TLS 1.2", None, ssl.TLSVersion.TLSv1_2)):
        ctx = tls_ctx(pki, "good", minv=minv, maxv=maxv)
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        srv = Server(tls_info_handler, ctx)
        r = httpget("--ca-file", ca, srv.url(host="localhost"))
        info = json.loads(r.r.get("body", "{}") or "{}") if r.results else {}
        cipher = info.get("cipher") or ""
        if aes:
            ok(r.rc == 0 and "AES" in cipher and "GCM" in cipher,
               "%s: this CPU has AES instructions and carry-less multiply: the client "
               "asks for AES-GCM first (got %s)" % (label, cipher), r.diag())
        else:
            ok(r.rc == 0 and "CHACHA20" in cipher,
               "%s: this CPU has no AES instructions: the client asks for "
               "ChaCha20-Poly1305 first (got %s)" % (label, cipher), r.diag())
        srv.close()


def start_s_server(pki, extra):
    """`openssl s_server -WWW` on 127.0.0.1 serving pki.d; returns (process, port)."""
    log = open(pki.p("s_server-%d.log" % len(os.listdir(pki.d))), "w+")
    p = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
                          "good.pem", "-key", "good.key", "-WWW", "-naccept", "1"] + extra,
                         cwd=pki.d, stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while time.time() < deadline and p.poll() is None:
        log.seek(0)
        for line in log.read().splitlines():
            if line.startswith("ACCEPT ") and ":" in line:
                return p, int(line.rsplit(":", 1)[1])
        time.sleep(0.02)
    p.kill()
    p.wait()
    return None, 0


def test_tls_bulk(pki):
    """A body of a few MiB from OpenSSL over each TLS 1.3 suite and the TLS 1.2 AEAD
    suites arrives whole: hundreds of full records through the AES-GCM module (AES-128
    and AES-256) and ChaCha20-Poly1305, decrypted in the read-ahead buffer."""
    ca = pki.p("ca.pem")
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 \n"
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    text = random.Random(12).randbytes((3 << 20) + 1234).translate(table).decode()
    with open(pki.p("big.txt"), "w") as f:
        f.write(text)
    for suite, extra in (
            ("TLS_AES_128_GCM_SHA256", ["-tls1_3", "-ciphersuites"]),
            ("TLS_AES_256_GCM_SHA384", ["-tls1_3", "-ciphersuites"]),
            ("TLS_CHACHA20_POLY1305_SHA256", ["-tls1_3", "-ciphersuites"]),
            ("ECDHE-ECDSA-AES128-GCM-SHA256", ["-tls1_2", "-cipher"]),
            ("ECDHE-ECDSA-AES256-GCM-SHA384", ["-tls1_2", "-cipher"]),
            ("ECDHE-ECDSA-CHACHA20-POLY1305", ["-tls1_2", "-cipher"])):
        p, port = start_s_server(pki, extra + [suite])
        if p is None:
            ok(False, "openssl s_server with %s starts" % suite)
            continue
        r = httpget("--ca-file", ca, "--body-max", 8 << 20,
                    "https://localhost:%d/big.txt" % port, timeout=60)
        body = r.r.get("body")
        ok(r.rc == 0 and r.r.get("status") == 200 and body == text,
           "%s: %d bytes from openssl s_server arrive whole" % (suite, len(text)),
           "body %s bytes, first difference at %s\n%s" % (
               len(body or ""), next((i for i, (a, b) in enumerate(zip(body or "", text))
                                      if a != b), None), r.diag()))
        p.kill()
        p.wait()


def test_tls_client_cert(pki):
    """Mutual TLS: servers that require a client certificate from the test CA."""
    ca = pki.p("ca.pem")

    def body(r):
        try:
            return json.loads(r.r.get("body", "{}") or "{}") if r.results else {}
        except ValueError:
            return {}

    for desc, minv, maxv, want in (("TLS 1.3", ssl.TLSVersion.TLSv1_3, None, "TLSv1.3"),
                                   ("TLS 1.2", None, ssl.TLSVersion.TLSv1_2, "TLSv1.2")):
        srv = Server(tls_info_handler, tls_ctx(pki, "good", minv=minv, maxv=maxv,
                                               client_ca="ca.pem"))
        r = httpget("--ca-file", ca, "--client-cert", pki.p("client.pem"), "--client-key",
                    pki.p("client.key"), "--repeat", 2, "--flush", srv.url(host="localhost"))
        info = body(r)
        ok(r.rc == 0 and len(r.results) == 2 and info.get("version") == want and
           info.get("peer_cn") == "sandbox-mcp client",
           "%s mutual TLS: an EC client certificate and key from files are accepted" % desc,
           (info, r.diag()))
        r = httpget("--ca-file", ca, "--client-cert-mem", pki.p("clientrsa.pem"),
                    "--client-key-mem", pki.p("clientrsa.key"), srv.url(host="localhost"))
        info = body(r)
        ok(r.rc == 0 and info.get("peer_cn") == "sandbox-mcp rsa client",
           "%s mutual TLS: an RSA (PKCS#1) certificate and key given in memory" % desc,
           (info, r.diag()))
        n = len(srv.tls_errors)
        r = httpget("--ca-file", ca, srv.url(host="localhost"))
        err = r.r.get("error", "")
        ok(r.rc == 1 and r.r.get("code") == "tls" and
           "requires a client certificate" in err,
           "%s server requiring a client certificate, none configured: an error that says "
           "so" % desc, r.diag())
        ok(wait_until(lambda: len(srv.tls_errors) > n),
           "%s: the server refused the handshake without a client certificate" % desc,
           srv.tls_errors)
        r = httpget("--ca-file", ca, "--client-cert", pki.p("clientother.pem"), "--client-key",
                    pki.p("client.key"), srv.url(host="localhost"))
        err = r.r.get("error", "")
        ok(r.rc == 1 and r.r.get("code") == "tls" and "rejected the client certificate" in err
           and "unknown_ca" in err,
           "%s: a client certificate from a CA the server does not trust is refused in words"
           % desc, r.diag())
        srv.close()

    srv = Server(tls_info_handler, tls_ctx(pki, "good", client_ca="ca.pem"))
    r = httpget("--ca-file", ca, "--client-cert", pki.p("client.pem"), "--client-key",
                pki.p("clientrsa.key"), srv.url(host="localhost"))
    ok(r.rc == 1 and r.r.get("code") == "tls" and
       "does not match its private key" in r.r.get("error", ""),
       "a client key that does not belong to the certificate is refused in words",
       r.diag())
    r = httpget("--ca-file", ca, "--client-cert", pki.p("client.pem"),
                srv.url(host="localhost"))
    ok(r.rc == 1 and r.r.get("code") == "tls" and "private key" in r.r.get("error", ""),
       "a client certificate without its key is refused in words", r.diag())
    r = httpget("--ca-file", ca, "--client-cert", pki.p("san.ext"), "--client-key",
                pki.p("client.key"), srv.url(host="localhost"))
    ok(r.rc == 1 and r.r.get("code") == "tls" and "san.ext" in r.r.get("error", "") and
       "client certificate" in r.r.get("error", ""),
       "a client certificate file that is not a certificate is named in the error", r.diag())
    r = httpget("--ca-file", ca, "--client-cert", pki.p("client.pem"), "--client-key",
                pki.p("missing.key"), srv.url(host="localhost"))
    ok(r.rc == 1 and r.r.get("code") == "tls" and "missing.key" in r.r.get("error", ""),
       "a missing client key file is named in the error", r.diag())
    secret_key = open(pki.p("client.key")).read()
    ok(all(line not in r.out + r.err for line in secret_key.splitlines()[1:-1]),
       "the client key never reaches the output", r.diag())
    srv.close()
    # A server that does not ask for a certificate is not bothered by one.
    srv = Server(tls_info_handler, tls_ctx(pki, "good"))
    r = httpget("--ca-file", ca, "--client-cert", pki.p("client.pem"), "--client-key",
                pki.p("client.key"), srv.url(host="localhost"))
    ok(r.rc == 0 and body(r).get("peer_cn") is None,
       "a client certificate is only sent to servers that ask for one", r.diag())
    srv.close()


def wait_until(pred, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


# ---- proxies ------------------------------------------------------------------------------

class ConnectProxy:
    """CONNECT proxy with basic auth; every target goes to 127.0.0.1:<target_port>."""

    def __init__(self, target_port, user=None, password=None):
        self.target_port = target_port
        self.auth = None
        if user is not None:
            self.auth = "Basic " + base64.b64encode(
                ("%s:%s" % (user, password)).encode()).decode()
        self.connects = []
        self.srv = Server(self.handle)
        self.port = self.srv.port

    def handle(self, c, srv, idx):
        head = c.read_until(b"\r\n\r\n")
        if head is None:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        hd = {}
        for ln in lines[1:]:
            if ln:
                k, v = ln.split(":", 1)
                hd[k.strip().lower()] = v.strip()
        self.connects.append((method, target, hd.get("proxy-authorization")))
        if method != "CONNECT":
            c.send(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        if self.auth and hd.get("proxy-authorization") != self.auth:
            c.send(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                   b"Proxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 0\r\n\r\n")
            return
        up = socket.create_connection(("127.0.0.1", self.target_port))
        c.send(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        if c.buf:
            up.sendall(c.buf)

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        t = threading.Thread(target=pump, args=(up, c.sock), daemon=True)
        t.start()
        pump(c.sock, up)
        t.join(5)
        up.close()

    def close(self):
        self.srv.close()


def test_proxies(pki):
    ca = pki.p("ca.pem")
    tls_srv = Server(tls_info_handler, tls_ctx(pki, "good"))
    px = ConnectProxy(tls_srv.port, "user", "pa ss")
    env = {"HTTPS_PROXY": "http://user:pa%%20ss@127.0.0.1:%d" % px.port}
    r = httpget("--ca-file", ca, "--repeat", 2, "https://example.test/x", env=env)
    ok(r.rc == 0 and len(r.results) == 2 and all(x.get("status") == 200 for x in r.results),
       "HTTPS through a CONNECT proxy with basic auth", r.diag())
    ok(len(px.connects) == 1 and px.connects[0][0] == "CONNECT" and
       px.connects[0][1] == "example.test:443" and px.connects[0][2] == px.auth and
       r.results[-1].get("reused") is True,
       "one CONNECT example.test:443 with Proxy-Authorization; the tunnel is reused",
       (px.connects, r.diag()))
    r = httpget("--ca-file", ca, "--debug", "https://example.test/x", env=env)
    ok(r.rc == 0 and "pa ss" not in r.err and "dXNlcjpwYSBzcw" not in r.err,
       "proxy credentials never reach the log", r.err[-1500:])
    r = httpget("--ca-file", ca, "https://example.test/x",
                env={"HTTPS_PROXY": "http://user:wrong@127.0.0.1:%d" % px.port})
    ok(r.rc == 1 and "407" in r.r.get("error", "") and "wrong" not in r.r.get("error", ""),
       "a 407 from the proxy is an error that names it, without the password", r.diag())
    r = httpget("--ca-file", ca, "https://example.test/x",
                env={"HTTPS_PROXY": "https://127.0.0.1:%d" % px.port})
    ok(r.rc == 2 or (r.rc == 1 and "invalid" in r.out),
       "an https:// proxy URL is refused", r.diag())
    ok("not supported" in r.err or "not supported" in r.out,
       "the refusal says https proxies are not supported", r.diag())
    # NO_PROXY: the host is reached directly (and here does not resolve).
    n = len(px.connects)
    r = httpget("--ca-file", ca, "--connect-timeout-ms", 3000, "https://example.test/x",
                env=dict(env, NO_PROXY="other.example, .test"), timeout=40)
    ok(r.rc == 1 and len(px.connects) == n and "example.test" in r.r.get("error", ""),
       "NO_PROXY '.test' bypasses the proxy", r.diag())
    r = httpget("--ca-file", ca, "https://example.test/x",
                env=dict(env, NO_PROXY="other.example,test.example"))
    ok(r.rc == 0 and len(px.connects) == n + 1,
       "NO_PROXY entries that do not match leave the proxy in use", r.diag())
    # Loopback never goes through a proxy.
    r = httpget("--ca-file", ca, tls_srv.url(host="localhost"),
                env={"HTTPS_PROXY": "http://127.0.0.1:1"})
    ok(r.rc == 0, "localhost is never proxied", r.diag())
    px.close()
    tls_srv.close()

    # Absolute-form http proxy: the proxy answers itself and echoes what it got.
    def h(c, srv, idx):
        while True:
            req = c.read_request()
            if req is None:
                return
            srv.record(idx, req)
            hd = {k.lower(): v for k, v in req[2]}
            body = json.dumps({"target": req[1], "auth": hd.get("proxy-authorization"),
                               "host": hd.get("host")}).encode()
            c.send(resp(body=body))
    hp = Server(h)
    env = {"HTTP_PROXY": "http://bob:s3cr%%3At@127.0.0.1:%d" % hp.port}
    r = httpget("--repeat", 2, "http://example.test:8080/path?q=1", env=env)
    info = json.loads(r.r.get("body", "{}") or "{}") if r.results else {}
    want_auth = "Basic " + base64.b64encode(b"bob:s3cr:t").decode()
    ok(r.rc == 0 and info.get("target") == "http://example.test:8080/path?q=1" and
       info.get("host") == "example.test:8080" and info.get("auth") == want_auth,
       "HTTP through a proxy: absolute-form target, Host and Proxy-Authorization",
       (info, r.diag()))
    ok(hp.conns == 1 and r.results[-1].get("reused") is True,
       "HTTP proxy connection is kept alive", r.diag())
    r = httpget("https://example.test/", env=env, timeout=40)
    ok(hp.conns == 1 and len(hp.requests) == 2, "HTTP_PROXY is not used for https URLs",
       r.diag())
    hp.close()


def main():
    if not os.access(HTTPGET, os.X_OK):
        print("1..0 # SKIP %s is not built" % HTTPGET)
        return 0
    for t in (test_keepalive, test_connection_close_and_http10, test_chunked_trailers,
              test_close_delimited, test_no_body_statuses, test_informational,
              test_bodies_sent, test_multipart, test_redirect_not_followed,
              test_bad_responses, test_deadlines_and_cancel, test_stale_and_retry,
              test_log_redaction):
        t0 = time.time()
        t()
        note("%s: %.1fs" % (t.__name__, time.time() - t0))
    if shutil.which("openssl") is None:
        skip("TLS tests", "the openssl command is missing")
        skip("proxy tests", "the openssl command is missing")
    else:
        d = tempfile.mkdtemp(prefix="sandbox-mcp-tls-")
        try:
            pki = PKI(d)
            if pki.ok:
                t0 = time.time()
                test_tls(pki)
                note("test_tls: %.1fs" % (time.time() - t0))
                t0 = time.time()
                test_tls_suite_choice(pki)
                test_tls_bulk(pki)
                note("test_tls_suite_choice, test_tls_bulk: %.1fs" % (time.time() - t0))
                t0 = time.time()
                test_tls_client_cert(pki)
                note("test_tls_client_cert: %.1fs" % (time.time() - t0))
                t0 = time.time()
                test_proxies(pki)
                note("test_proxies: %.1fs" % (time.time() - t0))
            else:
                ok(False, "openssl made the test certificates")
        finally:
            shutil.rmtree(d, ignore_errors=True)
    print("1..%d" % _n)
    return 1 if _failed else 0


if __name__ == "__main__":
    sys.exit(main())
