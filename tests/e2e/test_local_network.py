#!/usr/bin/env python3
"""Local backend, network: every sandbox in its own network namespace whose TCP leaves only
through its supervisor's relay, under OpenSandbox's egress policy. Attacked and accepted end
to end, once with the server running as root and once as an ordinary user (uid 1000 via
setpriv, when unprivileged user namespaces work). TAP, every line prefixed "[root] " or
"[user] ".

What is checked, by section:
  1. a default sandbox reaches none of the host: a server on 127.0.0.1, one on the host's LAN
     address, an abstract unix socket (curl with the proxy environment and with --noproxy,
     python sockets, bash /dev/tcp); 169.254.169.254 and 10.0.0.5 are refused at once (no
     30 s hang) and named in exec's network_denied;
  2. --local-host-port P opens exactly host loopback P, as host.internal:P;
  3. --local-resolve pins, a default-deny policy with an allow list: the allowed name works
     (through the proxy and through captured connect()), other names and raw public or
     private addresses are refused and reported;
  4. network_policy changes apply at once to a running loop, and an open connection to a
     destination that becomes denied is closed;
  5. --local-egress is the operator's ceiling: widening it is an error naming the flag;
  6. no UDP but DNS, no ICMP; /etc/resolv.conf names 127.0.0.1; names resolve to
     198.18.0.0/15; the proxy environment is set;
  7. sandbox_url is the only way in: a server on 0.0.0.0:8000 inside is on neither the host's
     LAN address nor its loopback until sandbox_url forwards it (on loopback);
  8. DNS rebinding through the proxy: names that resolve to this machine are refused;
  9. git, pip and npm through the relay against servers of this test (no internet needed);
 10. IPv6 forms of refused addresses (mapped, NAT64, 6to4), ::ffff:127.0.0.1, nothing inside
     can reconfigure the namespace, the relay's own listeners give nothing, and a sandbox
     kept from one server is held to the next server's stricter --local-egress at once.

Interface assumed (from the issue): `network_denied`, an array of strings naming host:port
and the reason, in exec's result (only when non-empty), in process_output's, and in
network_policy's get; flags --local-host-port, --local-resolve, --local-egress before the
tool; proxy at http://127.0.0.1:3128 in HTTP_PROXY/HTTPS_PROXY/ALL_PROXY (and lowercase).

Notes:
  - SMCP_NET_MODES=root or =user runs one of the two modes (both by default).
  - Servers of this test listen on ephemeral ports of 127.0.0.1 and of the LAN address (and
    the sandbox's own server on 8000, or a random port when 8000 is taken). Beyond them, only
    the addresses the feature must refuse are tried: 169.254.169.254:80, 10.0.0.5:5432,
    1.1.1.1:80 and :123 and 8.8.8.8:53 (UDP).
  - Before the relay existed (sandboxes shared this machine's network) these passed only as
    regression guards: server and sandbox creation, the abstract socket, no network_denied
    field without refusals, ICMP where ping sockets are not allowed, the sandbox's own
    loopback, and sandbox_url's basic answer; everything else failed.
  - On the binary before the feature (sandboxes share the host's network) the security
    checks fail; the few that already pass say so in a comment marked "PASSES TODAY".
"""
import base64
import hashlib
import http.server
import io
import ipaddress
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcpclient import BIN, Tap, is_error, structured, text_of  # noqa: E402
from hostproc import (Mode, ModeServer, chunks, host_pids_with, kill_pids,  # noqa: E402
                      procs_under, userns_available, wait_until)

t = Tap()
PY = "/usr/bin/python3"          # what the sandbox (and uid 1000) can run
USER_UID = 1000
EXEC_T = 40                      # exec timeout_s
PROXY = "http://127.0.0.1:3128"
FAKE_NET = ipaddress.ip_network("198.18.0.0/15")

# Keywords a reason may use (case-insensitive; any one is enough).
KW_POLICY = ("allow list", "allowlist", "not allowed", "policy", "not in", "denied by",
             "deny rule", "deny list", "denylist", "default deny", "rule", "blocked")
KW_PRIVATE = ("private", "rfc1918", "rfc 1918", "internal", "lan", "local network")
KW_LOOPBACK = ("loopback", "localhost", "this machine", "host")
KW_METADATA = ("metadata", "link-local", "link local", "linklocal")
KW_HOSTADDR = ("host", "own", "this machine", "local", "private", "reserved",
               "documentation", "special", "loopback")


# --- host-side helpers -------------------------------------------------------------------
def lan_ipv4():
    """A non-loopback IPv4 address of this machine, or None."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                             capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            m = re.search(r"\binet (\d+\.\d+\.\d+\.\d+)/", line)
            if m:
                return m.group(1)
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        for ai in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            a = ai[4][0]
            if not a.startswith("127."):
                return a
    except OSError:
        pass
    return None


def port_free(host, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as http.server binds
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def host_get(url, timeout=3, headers=None):
    """GET from the host without any proxy: (status, body) or (None, error)."""
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        req = urllib.request.Request(url, headers=headers or {})
        with opener.open(req, timeout=timeout) as r:
            return r.status, r.read(65536).decode(errors="replace")
    except Exception as e:  # noqa: BLE001 -- any failure means "not reached"
        body = ""
        if hasattr(e, "read"):
            try:
                body = e.read(4096).decode(errors="replace")
            except Exception:  # noqa: BLE001
                pass
        return getattr(e, "code", None), "%s %s" % (e, body)


def curl_result(text):
    """(http code, seconds, curl exit status) from a probe chunk (see CURL_FN)."""
    code = re.findall(r"CODE=(\d{3})", text)
    secs = re.findall(r"T=([0-9.]+)", text)
    rc = re.findall(r"RC=(\d+)", text)
    return (code[-1] if code else None, float(secs[-1]) if secs else None,
            int(rc[-1]) if rc else None)


def denied_has(nd, targets, keywords=None):
    """Whether an entry of network_denied names one of targets (case-insensitive) and, when
    keywords are given, one of those too."""
    for entry in nd or []:
        low = str(entry).lower()
        if any(x.lower() in low for x in targets):
            if not keywords or any(k in low for k in keywords):
                return True
    return False


# --- servers of this test, on the host ----------------------------------------------------
class HostState:
    def __init__(self, label, token):
        self.label = label
        self.token = token
        self.body = "HOST-%s-%s\n" % (label, token)
        self.hits = []              # (peer, path, Host header)
        self.slow = []              # dicts: started, sent, ended, why
        self.lock = threading.Lock()
        self.files = {}             # path -> (content type, bytes)
        self.dirs = {}              # url prefix -> directory


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "smcp-net-test"

    def log_message(self, *a):
        pass

    def _send(self, code, ctype, data):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        st = self.server.st
        path = self.path.split("?", 1)[0]
        with st.lock:
            st.hits.append((self.client_address[0], path, self.headers.get("Host", "")))
        if path == "/":
            return self._send(200, "text/plain", st.body.encode())
        if path == "/slow":
            rec = {"started": time.time(), "sent": 0, "ended": None, "why": None}
            with st.lock:
                st.slow.append(rec)
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                self.wfile.flush()
                for _ in range(600):          # one byte per 100 ms for 60 s
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    rec["sent"] += 1
                    time.sleep(0.1)
                rec["why"] = "complete"
            except OSError as e:
                rec["why"] = "closed: %s" % e
            rec["ended"] = time.time()
            return None
        if path in st.files:
            ctype, data = st.files[path]
            return self._send(200, ctype, data)
        for prefix, d in st.dirs.items():
            if path.startswith(prefix):
                rel = path[len(prefix):]
                full = os.path.realpath(os.path.join(d, rel))
                if (full == d or full.startswith(d + "/")) and os.path.isfile(full):
                    with open(full, "rb") as f:
                        return self._send(200, "application/octet-stream", f.read())
        return self._send(404, "text/plain", b"not here\n")


class HostServer:
    def __init__(self, host, label, token):
        self.st = HostState(label, token)
        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.st = self.st
        self.host = host
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        try:
            self.httpd.shutdown()
            self.httpd.server_close()
        except Exception:  # noqa: BLE001
            pass


class UdpSink:
    """A UDP socket on the host counting datagrams it receives."""

    def __init__(self, host):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((host, 0))
        self.port = self.s.getsockname()[1]
        self.got = []
        self.s.settimeout(0.5)
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop:
            try:
                data, peer = self.s.recvfrom(2048)
                self.got.append((peer, data[:64]))
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.stop = True
        try:
            self.s.close()
        except OSError:
            pass


# --- fixtures for git, pip and npm ---------------------------------------------------------
WHEEL_NAME = "smcpnet_probe"
WHEEL_PROJECT = "smcpnet-probe"
WHEEL_VERSION = "0.1"
NPM_NAME = "smcpnet-probe"
NPM_VERSION = "1.2.3"


def build_git_repo(base, token):
    """A bare repository served over dumb HTTP: base/repo.git; None when git is missing."""
    if not shutil.which("git"):
        return None
    work = os.path.join(base, "gitwork")
    bare = os.path.join(base, "repo.git")
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=base, GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    os.makedirs(work)
    with open(os.path.join(work, "README"), "w") as f:
        f.write("git-over-relay %s\n" % token)
    for cmd in (["git", "init", "-q", "-b", "main", work],
                ["git", "-C", work, "add", "README"],
                ["git", "-C", work, "commit", "-q", "-m", "one"],
                ["git", "clone", "-q", "--bare", work, bare],
                ["git", "-C", bare, "update-server-info"]):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        if r.returncode != 0:
            return None
    return bare


def build_wheel(token):
    """A tiny pure-python wheel written by hand: (file name, bytes)."""
    dist = "%s-%s.dist-info" % (WHEEL_NAME, WHEEL_VERSION)
    files = {
        "%s/__init__.py" % WHEEL_NAME: ("TOKEN = %r\n" % token).encode(),
        "%s/METADATA" % dist: ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
                               "Summary: sandbox-mcp network test\n" %
                               (WHEEL_PROJECT, WHEEL_VERSION)).encode(),
        "%s/WHEEL" % dist: b"Wheel-Version: 1.0\nGenerator: handmade\nRoot-Is-Purelib: true\n"
                           b"Tag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, h, len(data)))
    record.append("%s/RECORD,," % dist)
    files["%s/RECORD" % dist] = ("\n".join(record) + "\n").encode()
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return "%s-%s-py3-none-any.whl" % (WHEEL_NAME, WHEEL_VERSION), bio.getvalue()


def serve_fixtures(hs, base, token):
    """Puts the git repository, a PEP 503 index and an npm registry document on hs."""
    bare = build_git_repo(base, token)
    if bare:
        hs.st.dirs["/repo.git/"] = os.path.realpath(bare)
    wname, wdata = build_wheel(token)
    sha = hashlib.sha256(wdata).hexdigest()
    hs.st.files["/files/" + wname] = ("application/octet-stream", wdata)
    idx = ('<!DOCTYPE html><html><body><a href="/simple/%s/">%s</a></body></html>\n' %
           (WHEEL_PROJECT, WHEEL_PROJECT)).encode()
    hs.st.files["/simple/"] = ("text/html", idx)
    page = ('<!DOCTYPE html><html><body><a href="/files/%s#sha256=%s">%s</a></body></html>\n' %
            (wname, sha, wname)).encode()
    hs.st.files["/simple/%s/" % WHEEL_PROJECT] = ("text/html", page)
    hs.st.files["/simple/%s" % WHEEL_PROJECT] = ("text/html", page)
    doc = {"name": NPM_NAME, "dist-tags": {"latest": NPM_VERSION},
           "versions": {NPM_VERSION: {
               "name": NPM_NAME, "version": NPM_VERSION, "description": token,
               "dist": {"tarball": "http://npm.test:%d/%s/-/%s-%s.tgz" %
                        (hs.port, NPM_NAME, NPM_NAME, NPM_VERSION),
                        "shasum": "0" * 40}}},
           "time": {NPM_VERSION: "2024-01-01T00:00:00.000Z",
                    "created": "2024-01-01T00:00:00.000Z",
                    "modified": "2024-01-01T00:00:00.000Z"}}
    hs.st.files["/" + NPM_NAME] = ("application/json", json.dumps(doc).encode())
    return bare is not None


# --- programs run inside --------------------------------------------------------------------
CURL_FN = ("probe() { n=$1; shift; echo \"@@ $n\"; curl -sS -m 5 "
           "-w '\\nCODE=%{http_code} T=%{time_total}\\n' \"$@\" 2>&1; echo \"RC=$?\"; }; ")

PROBE_PY = r'''
import select, socket, struct, sys, time

def tcp(host, port, path="/"):
    t0 = time.time()
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.settimeout(5)
        s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        print("TCP-OK %.2f %s" % (time.time() - t0, data[-300:].decode(errors="replace")))
    except OSError as e:
        print("TCP-ERR %.2f %s %s" % (time.time() - t0, e.errno, e))

def udp_send(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
             b"\x07example\x03com\x00\x00\x01\x00\x01")
        for _ in range(3):
            s.sendto(q, (host, int(port)))
        print("UDP-SENT")
        try:
            data, peer = s.recvfrom(2048)
            print("UDP-REPLY %s %d" % (peer, len(data)))
        except OSError as e:
            print("UDP-NOREPLY %s" % e)
    except OSError as e:
        print("UDP-ERR %s %s" % (e.errno, e))

def udp_connect(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((host, int(port)))
        s.send(b"\x1b" + 47 * b"\0")
        print("UDP-CONNECTED")
    except OSError as e:
        print("UDP-ERR %s %s" % (e.errno, e))

def abstract(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("\0" + name)
        s.send(b"hello")
        print("ABS-CONNECTED")
    except OSError as e:
        print("ABS-ERR %s %s" % (e.errno, e))

def icmp(host):
    for kind, args in (("dgram", (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)),
                       ("raw", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))):
        try:
            s = socket.socket(*args)
        except OSError as e:
            print("ICMP-%s-ERR socket %s" % (kind, e.errno))
            continue
        pkt = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + b"smcp"
        c = 0
        for i in range(0, len(pkt), 2):
            c += (pkt[i] << 8) + (pkt[i + 1] if i + 1 < len(pkt) else 0)
        c = (c >> 16) + (c & 0xffff)
        c = ~(c + (c >> 16)) & 0xffff
        pkt = pkt[:2] + struct.pack("!H", c) + pkt[4:]
        try:
            s.sendto(pkt, (host, 0))
        except OSError as e:
            print("ICMP-%s-ERR send %s" % (kind, e.errno))
            continue
        r, _, _ = select.select([s], [], [], 2)
        print("ICMP-%s-%s" % (kind, "REPLY" if r else "NOREPLY"))

def slow(host, port, out, via_proxy):
    t0 = time.time()
    n = 0
    why = "eof"
    try:
        if via_proxy == "proxy":
            s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
            s.sendall(("CONNECT %s:%s HTTP/1.1\r\nHost: %s:%s\r\n\r\n" %
                       (host, port, host, port)).encode())
            head = b""
            while b"\r\n\r\n" not in head:
                b = s.recv(1)
                if not b:
                    raise OSError(0, "proxy closed")
                head += b
            if b" 200" not in head.split(b"\r\n")[0]:
                raise OSError(0, "proxy said " + head.split(b"\r\n")[0].decode(errors="replace"))
        else:
            s = socket.create_connection((host, int(port)), timeout=10)
        s.settimeout(90)
        s.sendall(("GET /slow HTTP/1.0\r\nHost: %s\r\n\r\n" % host).encode())
        while True:
            b = s.recv(4096)
            if not b:
                break
            n += len(b)
            with open(out + ".progress", "w") as f:
                f.write("%d %.1f\n" % (n, time.time() - t0))
    except OSError as e:
        why = "err %s" % e
    with open(out + ".done", "w") as f:
        f.write("DONE %d %.1f %s\n" % (n, time.time() - t0, why))

cmd = sys.argv[1]
globals()[cmd](*sys.argv[2:])
'''

LOOP_SH = (": > /tmp/loop.log; i=0; while true; do i=$((i+1)); "
           "if curl -s -m 2 --noproxy '*' -o /dev/null -w '%%{http_code}' http://allowed.test:%d/ "
           "| grep -q 200; then echo \"D OK $i\"; else echo \"D FAIL $i\"; fi >> /tmp/loop.log; "
           "if curl -s -m 2 -o /dev/null -w '%%{http_code}' http://allowed.test:%d/ "
           "| grep -q 200; then echo \"P OK $i\"; else echo \"P FAIL $i\"; fi >> /tmp/loop.log; "
           "sleep 0.2; done")


# --- the server, started as root or through setpriv ------------------------------------------
class Run:
    def __init__(self, mode, lan):
        self.m = mode
        self.P = mode.P
        self.lan = lan
        self.servers = []
        self.hosts = []
        self.sinks = []
        self.listeners = []
        self.markers = []
        self.t0 = time.time()
        self.tok = secrets.token_hex(6)

    def note(self, what):
        print("# %s%s (%.0f s into this mode)" % (self.P, what, time.time() - self.t0),
              flush=True)

    def ok(self, cond, desc, diag=None):
        return t.ok(bool(cond), self.P + desc, diag)

    def skip(self, desc, why):
        t.skip(self.P + desc, why)

    def host_server(self, host, label):
        hs = HostServer(host, label, self.tok)
        self.hosts.append(hs)
        return hs

    def srv(self, args, what):
        root = self.m.tmpdir("smcp-net-root-")
        s = ModeServer(self.m, args, root)
        self.servers.append(s)
        up = s.started()
        self.ok(up, "server starts (%s)" % what,
                (" ".join(args), s.stderr[-1500:] if not up else ""))
        return s

    def create(self, s, what, network=None):
        a = {"timeout_s": 600}
        if network is not None:
            a["network"] = network
        r = s.call("sandbox_create", a)
        sid = structured(r).get("sandbox_id") if not is_error(r) else None
        self.ok(sid, "sandbox_create (%s)" % what, (r, s.stderr[-800:]))
        return sid

    def ex(self, s, sid, cmd, timeout=EXEC_T, stdin=None, background=False):
        """exec in sandbox sid: (structured result, stdout, stderr, network_denied). Without
        a sandbox (its creation failed) nothing runs: the default sandbox would be a
        different one."""
        if not sid:
            return {}, "", "(no sandbox)", []
        args = {"sandbox_id": sid, "command": cmd, "timeout_s": timeout}
        if stdin is not None:
            args["stdin"] = stdin
        if background:
            args["background"] = True
        r = s.call("exec", args, timeout=timeout + 60)
        sc = structured(r)
        if r is not None and not sc and is_error(r):
            sc = {"error": text_of(r)}
        return sc, sc.get("stdout", "") or "", sc.get("stderr", "") or "", \
            sc.get("network_denied") or []

    def put_probe(self, s, sid):
        self.ex(s, sid, "cat > /tmp/probe.py", stdin=PROBE_PY)

    def cleanup(self):
        for s in self.servers:
            try:
                if s.p.poll() is None and not s.dead:
                    lst = structured(s.call("sandbox_list", {}, timeout=30)).get("sandboxes", [])
                    for x in lst:
                        s.call("sandbox_kill", {"sandbox_id": x.get("sandbox_id")}, timeout=30)
                    s.close(timeout=20)
            except Exception:  # noqa: BLE001
                pass
            try:
                if s.p.poll() is None:
                    s.p.kill()
                s.p.wait(timeout=10)
            except Exception:  # noqa: BLE001
                pass
        for mk in self.markers:
            kill_pids(host_pids_with(mk))
        for s in self.servers:
            kill_pids(procs_under(s.root))
        for hs in self.hosts:
            hs.close()
        for u in self.sinks:
            u.close()
        for ls in self.listeners:
            try:
                ls.close()
            except OSError:
                pass


# --- the sections ------------------------------------------------------------------------------
def section_default(R):
    """Sections 1, 6, 7 and 8: one server without network flags, one default sandbox."""
    lo = R.host_server("127.0.0.1", "lo")
    lan = R.host_server(R.lan, "lan") if R.lan else None
    s = R.srv([], "no network flags")
    A = R.create(s, "A, default policy")
    R.put_probe(s, A)

    # ================= 1. the host is out of reach =================
    R.note("1. the host is out of reach from a default sandbox")
    targets = [("127.0.0.1", lo)] + ([(R.lan, lan)] if lan else [])
    for host, hs in targets:
        hp = "%s:%d" % (host, hs.port)
        cmd = (CURL_FN +
               "probe curl-env http://%s/; probe curl-noproxy --noproxy '*' http://%s/; "
               "echo '@@ python'; %s /tmp/probe.py tcp %s %d; "
               "echo '@@ devtcp'; timeout 6 bash -c 'exec 3<>/dev/tcp/%s/%d && "
               "printf \"GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n\" >&3 && cat <&3' 2>&1; "
               "echo RC=$?" % (hp, hp, PY, host, hs.port, host, hs.port))
        before = len(hs.st.hits)
        sc, out, err, nd = R.ex(s, A, cmd)
        ch = chunks(out)
        for name, what in (("curl-env", "curl with the proxy environment"),
                           ("curl-noproxy", "curl --noproxy '*'"),
                           ("python", "a python socket"), ("devtcp", "bash /dev/tcp")):
            got = ch.get(name)
            # (today the sandbox shares the host's network: each of these gets the body)
            R.ok(got is not None and hs.st.token not in got,
                 "the host's server on %s (%s) is unreachable by %s" %
                 ("loopback" if host == "127.0.0.1" else "the LAN address", hp, what),
                 (got, err[-300:]))
        R.ok(len(hs.st.hits) == before,
             "... and that server saw no request from the sandbox", hs.st.hits[before:])
        if host != "127.0.0.1":
            # connect() to an address of the host is captured and refused (the sandbox's own
            # loopback, where 127.0.0.1 lands, is not the relay's business)
            R.ok(denied_has(nd, [hp], KW_HOSTADDR),
                 "... and exec's network_denied names %s with a reason" % hp, (nd, sc))
    if not lan:
        for what in ("curl with the proxy environment", "curl --noproxy '*'", "a python socket",
                     "bash /dev/tcp"):
            R.skip("the host's server on the LAN address is unreachable by %s" % what,
                   "this machine has no non-loopback IPv4 address")
        R.skip("... and that server saw no request from the sandbox", "no LAN address")
        R.skip("... and exec's network_denied names it", "no LAN address")

    # the host's abstract unix socket
    aname = "smcp-net-" + R.tok
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind("\0" + aname)
    ls.listen(4)
    ls.setblocking(False)
    R.listeners.append(ls)
    sc, out, err, nd = R.ex(s, A, "%s /tmp/probe.py abstract %s" % (PY, aname))
    try:
        c, _ = ls.accept()
        c.close()
        accepted = True
    except OSError:
        accepted = False
    # PASSES TODAY: abstract sockets outside the sandbox are already refused (seccomp or
    # Landlock scoping); a network namespace of its own keeps it so
    R.ok("ABS-ERR" in out and not accepted,
         "the host's abstract unix socket is unreachable (connect fails, nothing accepted)",
         (out, err, accepted))

    # the cloud metadata address and a private address: refused at once and reported
    for host, port, kw, what in (("169.254.169.254", 80, KW_METADATA, "cloud metadata"),
                                 ("10.0.0.5", 5432, KW_PRIVATE, "private")):
        hp = "%s:%d" % (host, port)
        cmd = (CURL_FN + "probe direct --noproxy '*' http://%s/; probe proxy http://%s/; "
               "echo '@@ python'; %s /tmp/probe.py tcp %s %d" % (hp, hp, PY, host, port))
        sc, out, err, nd = R.ex(s, A, cmd)
        ch = chunks(out)
        dcode, dsecs, _ = curl_result(ch.get("direct", ""))
        pcode, psecs, _ = curl_result(ch.get("proxy", ""))
        py = ch.get("python", "")
        m = re.search(r"TCP-ERR ([0-9.]+)", py)
        # (today: an answer from whatever this machine's network puts there, or a 5 s hang)
        R.ok(dcode == "000" and dsecs is not None and dsecs < 4 and
             pcode is not None and not pcode.startswith(("2", "3")) and psecs is not None and
             psecs < 4 and m and float(m.group(1)) < 4,
             "%s (%s) is refused at once: curl --noproxy, curl through the proxy, a python "
             "socket" % (hp, what), ch)
        R.ok(denied_has(nd, [hp], kw), "... and exec's network_denied says %s %s" % (hp, what),
             (nd, sc.get("error")))

    # nothing refused: no network_denied at all
    sc, out, err, nd = R.ex(s, A, "echo quiet")
    # PASSES TODAY (there is no such field yet)
    R.ok(out.strip() == "quiet" and "network_denied" not in sc,
         "an exec that touches no network has no network_denied field", sc)

    # ================= 6. no UDP but DNS, no ICMP; resolv.conf; the proxy environment ======
    R.note("6. UDP, ICMP, resolv.conf, proxy environment")
    sc, out, err, nd = R.ex(s, A, "cat /etc/resolv.conf")
    ns = re.findall(r"^\s*nameserver\s+(\S+)", out, re.M)
    R.ok(ns == ["127.0.0.1"], "/etc/resolv.conf inside names nameserver 127.0.0.1 only", out)
    sc, out, err, nd = R.ex(s, A, "env | grep -i '_proxy=' | sort")
    envs = dict(x.split("=", 1) for x in out.splitlines() if "=" in x)
    want = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
    nop = envs.get("NO_PROXY", "").split(",")
    R.ok(all(envs.get(k, "").rstrip("/") == PROXY for k in want) and
         {"localhost", "127.0.0.1", "::1"} <= set(nop) and
         set(envs.get("no_proxy", "").split(",")) == set(nop),
         "HTTP_PROXY, HTTPS_PROXY, ALL_PROXY (and lowercase) are %s, NO_PROXY has localhost, "
         "127.0.0.1 and ::1" % PROXY, out)
    sc, out, err, nd = R.ex(s, A, "%s /tmp/probe.py udp_send 8.8.8.8 53; "
                                  "%s /tmp/probe.py udp_send 1.1.1.1 123" % (PY, PY))
    R.ok(out.count("UDP-ERR") == 2 and "UDP-REPLY" not in out,
         "UDP sendto 8.8.8.8:53 and 1.1.1.1:123 fail at once (no route out)", out)
    sc, out, err, nd = R.ex(s, A, "%s /tmp/probe.py udp_connect 1.1.1.1 123" % PY)
    R.ok("UDP-ERR" in out, "UDP connect to 1.1.1.1:123 fails", out)
    sinks = [UdpSink("127.0.0.1")] + ([UdpSink(R.lan)] if R.lan else [])
    R.sinks.extend(sinks)
    cmd = "; ".join("%s /tmp/probe.py udp_send %s %d" % (PY, u.s.getsockname()[0], u.port)
                    for u in sinks)
    sc, out, err, nd = R.ex(s, A, cmd)
    time.sleep(0.5)
    # (today: the host's sockets receive them)
    R.ok(out.count("UDP-") >= len(sinks) and all(not u.got for u in sinks),
         "UDP datagrams to the host's 127.0.0.1%s listeners arrive nowhere" %
         (" and LAN" if R.lan else ""), ([u.got for u in sinks], out))
    icmp_to = R.lan or "1.1.1.1"
    if shutil.which("ping"):
        sc, out, err, nd = R.ex(s, A, "ping -c1 -W2 %s; echo RC=$?" % icmp_to)
        R.ok("RC=0" not in out and " 0% packet loss" not in out,
             "ping -c1 -W2 %s fails" % icmp_to, out)
    else:
        sc, out, err, nd = R.ex(s, A, "%s /tmp/probe.py icmp %s" % (PY, icmp_to))
        # PASSES TODAY where ping sockets are not allowed to this group (no ping installed)
        R.ok("ICMP-" in out and "REPLY" not in out.replace("NOREPLY", ""),
             "an ICMP echo to %s (python ping and raw sockets; no ping here) gets no reply" %
             icmp_to, out)

    # ================= 8. DNS rebinding through the proxy =================
    R.note("8. names of this machine through the proxy")
    hp = "localhost:%d" % lo.port
    for flag, what in (("", "absolute-form http://localhost"), ("-p", "CONNECT localhost")):
        # --noproxy '': NO_PROXY (localhost) would otherwise send curl straight to the
        # sandbox's own loopback instead of the proxy under test.
        cmd = CURL_FN + "probe x %s --noproxy '' -x %s http://%s/" % (flag, PROXY, hp)
        before = len(lo.st.hits)
        sc, out, err, nd = R.ex(s, A, cmd)
        R.ok(lo.st.token not in out and len(lo.st.hits) == before and
             denied_has(nd, [hp, "127.0.0.1:%d" % lo.port, "[::1]:%d" % lo.port], KW_LOOPBACK),
             "through the proxy, %s:%d (a name resolving to this machine's loopback) is "
             "refused and reported" % (what, lo.port), (out, nd))
    if lan:
        hp = "%s:%d" % (R.lan, lan.port)
        cmd = CURL_FN + "probe x -x %s http://%s/" % (PROXY, hp)
        before = len(lan.st.hits)
        sc, out, err, nd = R.ex(s, A, cmd)
        R.ok(lan.st.token not in out and len(lan.st.hits) == before and
             denied_has(nd, [hp], KW_HOSTADDR),
             "through the proxy, the host's LAN address %s is refused and reported" % hp,
             (out, nd))
    else:
        R.skip("through the proxy, the host's LAN address is refused", "no LAN address")

    # ================= 7. sandbox_url is the only way in =================
    R.note("7. a server inside, reached through sandbox_url only")
    # (a sandbox of the previous mode may still be dying, on today's shared network)
    port = 8000 if wait_until(lambda: port_free("0.0.0.0", 8000), 3) else \
        random.randrange(20000, 30000)
    wtok = "inside-%s" % R.tok
    mk = "smcpnet%s" % R.tok
    R.markers.append(mk)
    R.ex(s, A, "mkdir -p /tmp/www && echo %s > /tmp/www/tok.txt" % wtok)
    R.ex(s, A, "exec -a %s %s -m http.server %d --bind 0.0.0.0 --directory /tmp/www "
               ">/tmp/www.log 2>&1" % (mk, PY, port), background=True)
    up = wait_until(lambda: wtok in R.ex(s, A, "curl -s -m 2 --noproxy '*' "
                                               "http://127.0.0.1:%d/tok.txt" % port)[1], 10, 0.3)
    # PASSES TODAY: the sandbox's own loopback works
    R.ok(up, "a server inside on 0.0.0.0:%d answers inside on 127.0.0.1" % port)
    st, body = host_get("http://127.0.0.1:%d/tok.txt" % port)
    R.ok(wtok not in body, "before sandbox_url, the host's 127.0.0.1:%d does not reach it" % port,
         (st, body[:200]))
    if R.lan:
        st, body = host_get("http://%s:%d/tok.txt" % (R.lan, port))
        R.ok(wtok not in body, "the host's LAN address %s:%d does not reach it" % (R.lan, port),
             (st, body[:200]))
    else:
        R.skip("the host's LAN address does not reach it", "no LAN address")
    r = s.call("sandbox_url", {"sandbox_id": A, "port": port}) if A else None
    u = structured(r)
    url = u.get("url") or ""
    m = re.match(r"^https?://(127\.0\.0\.1|localhost|\[::1\]):(\d+)(/.*)?$", url)
    R.ok(m and not is_error(r), "sandbox_url gives a URL on this machine's loopback (%s)" % url, r)
    st, body = host_get(url.rstrip("/") + "/tok.txt", headers=u.get("headers") or {}) if url \
        else (None, "")
    # PASSES TODAY (through the shared network)
    R.ok(wtok in body, "the host reaches the server inside through that URL", (st, body[:300]))
    if m and R.lan:
        st, body = host_get("http://%s:%s/tok.txt" % (R.lan, m.group(2)),
                            headers=u.get("headers") or {})
        R.ok(wtok not in body, "the forwarded port %s is on loopback only (not on %s)" %
             (m.group(2), R.lan), (st, body[:200]))
    else:
        R.skip("the forwarded port is on loopback only", "no URL or no LAN address")
    return s


def section_host_port(R):
    """Section 2: --local-host-port P opens exactly that port, as host.internal:P."""
    R.note("2. --local-host-port")
    opened = R.host_server("127.0.0.1", "opened")
    other = R.host_server("127.0.0.1", "other")
    s = R.srv(["--local-host-port", str(opened.port)], "--local-host-port %d" % opened.port)
    B = R.create(s, "B, default policy")
    R.put_probe(s, B)
    hp = "host.internal:%d" % opened.port
    sc, out, err, nd = R.ex(s, B, CURL_FN + "probe env http://%s/; probe direct --noproxy '*' "
                                            "http://%s/" % (hp, hp))
    ch = chunks(out)
    R.ok(opened.st.body.strip() in ch.get("env", ""),
         "curl http://%s/ (through the proxy) gets the host server's body" % hp, (ch, nd))
    R.ok(opened.st.body.strip() in ch.get("direct", ""),
         "curl --noproxy '*' http://%s/ (captured connect) gets it too" % hp, (ch, nd))
    hq = "host.internal:%d" % other.port
    before = len(other.st.hits)
    sc, out, err, nd = R.ex(s, B, CURL_FN + "probe env http://%s/; probe direct --noproxy '*' "
                                            "http://%s/; echo '@@ python'; %s /tmp/probe.py tcp "
                                            "host.internal %d" % (hq, hq, PY, other.port))
    R.ok(other.st.token not in out and len(other.st.hits) == before and
         denied_has(nd, [hq, "127.0.0.1:%d" % other.port]),
         "host.internal:%d (a port not opened) is refused by every route and reported" %
         other.port, (out, nd))
    before = len(opened.st.hits)
    sc, out, err, nd = R.ex(s, B, CURL_FN + "probe direct --noproxy '*' http://127.0.0.1:%d/; "
                                            "echo '@@ python'; %s /tmp/probe.py tcp 127.0.0.1 %d"
                                            % (opened.port, PY, opened.port))
    # (today 127.0.0.1 inside is the host's loopback)
    R.ok("TCP-" in out and opened.st.token not in out and len(opened.st.hits) == before,
         "127.0.0.1:%d inside is the sandbox's own loopback, not the host's" % opened.port, out)
    return s


def section_policy(R, have):
    """Sections 3, 4, 9 and the resolver part of 6: pinned names and a default-deny policy."""
    R.note("3. --local-resolve and an allow list")
    hs = R.host_server("127.0.0.1", "pinned")
    base = R.m.tmpdir("smcp-net-fix-")
    git_ok = serve_fixtures(hs, base, R.tok)
    names = ["allowed.test", "denied.test", "git.test", "gitdenied.test", "pypi.test", "npm.test"]
    args = []
    for n in names:
        args += ["--local-resolve", "%s=127.0.0.1" % n]
    s = R.srv(args, "--local-resolve for %s" % ", ".join(names))
    pol = {"default": "deny", "allow": ["allowed.test", "git.test", "pypi.test", "npm.test"]}
    C = R.create(s, "C, default deny, allow %s" % ", ".join(pol["allow"]), pol)
    R.put_probe(s, C)
    P = hs.port
    sc, out, err, nd = R.ex(s, C, CURL_FN + "probe env http://allowed.test:%d/; "
                                            "probe direct --noproxy '*' http://allowed.test:%d/"
                                            % (P, P))
    ch = chunks(out)
    for k, what in (("env", "through the proxy"), ("direct", "with --noproxy '*'")):
        code, _, _ = curl_result(ch.get(k, ""))
        R.ok(code == "200" and hs.st.body.strip() in ch.get(k, ""),
             "curl http://allowed.test:%d/ %s gets 200 and the host server's body" % (P, what),
             (ch.get(k), nd, sc.get("error")))
    sc, out, err, nd = R.ex(s, C, CURL_FN + "probe env http://denied.test:%d/; "
                                            "probe direct --noproxy '*' http://denied.test:%d/"
                                            % (P, P))
    ch = chunks(out)
    R.ok(hs.st.body.strip() not in out and
         all(curl_result(ch.get(k, ""))[0] not in (None, "200") for k in ("env", "direct")),
         "curl http://denied.test:%d/ fails, through the proxy and directly" % P, ch)
    R.ok(denied_has(nd, ["denied.test"], KW_POLICY),
         "... and exec's network_denied names denied.test and the policy", nd)
    for host, port, kw, what in (("1.1.1.1", 80, KW_POLICY, "a public address not allowed"),
                                 ("10.0.0.5", 5432, KW_PRIVATE, "a private address")):
        hp = "%s:%d" % (host, port)
        sc, out, err, nd = R.ex(s, C, CURL_FN + "probe direct --noproxy '*' http://%s/; "
                                                "echo '@@ python'; %s /tmp/probe.py tcp %s %d"
                                                % (hp, PY, host, port))
        ch = chunks(out)
        code, secs, _ = curl_result(ch.get("direct", ""))
        R.ok(code == "000" and secs is not None and secs < 4 and "TCP-ERR" in ch.get("python", "")
             and denied_has(nd, [hp], kw),
             "%s (%s) is refused at once and reported with the reason" % (hp, what), (ch, nd))
    # (6.) names resolve to the relay's fake addresses
    sc, out, err, nd = R.ex(s, C, "getent hosts allowed.test")
    addrs = re.findall(r"^(\S+)\s", out, re.M)
    inside = []
    for a in addrs:
        try:
            inside.append(ipaddress.ip_address(a) in FAKE_NET)
        except ValueError:
            inside.append(False)
    R.ok(addrs and all(inside), "getent hosts allowed.test gives an address in 198.18.0.0/15",
         (out, err))

    # ================= 4. policy changes on the fly =================
    R.note("4. policy changes apply to running processes")
    D = R.create(s, "D, default deny, allow allowed.test",
                 {"default": "deny", "allow": ["allowed.test"]})
    R.put_probe(s, D)
    sc, _, _, _ = R.ex(s, D, LOOP_SH % (P, P), background=True)
    loop_pid = str(sc.get("pid") or "")
    n_slow = len(hs.st.slow)
    R.ex(s, D, "%s /tmp/probe.py slow allowed.test %d /tmp/slowd direct" % (PY, P),
         background=True)
    R.ex(s, D, "%s /tmp/probe.py slow allowed.test %d /tmp/slowp proxy" % (PY, P),
         background=True)

    def loop_lines():
        return R.ex(s, D, "cat /tmp/loop.log")[1].splitlines()

    def results(lines, kind):
        return [x.split()[1] for x in lines if x.startswith(kind + " ")]

    wait = (lambda secs: secs) if D else (lambda secs: 0)   # no sandbox: no waiting
    lines = wait_until(lambda: (lambda ls: ls if results(ls, "D")[-2:] == ["OK", "OK"] and
                                results(ls, "P")[-2:] == ["OK", "OK"] else None)(loop_lines()),
                       wait(10), 0.4)
    R.ok(lines, "a background curl loop to allowed.test succeeds (directly and through the "
         "proxy)", loop_lines()[-6:] if D else "(no sandbox)")
    flowing = wait_until(lambda: len([x for x in hs.st.slow[n_slow:]
                                      if x["sent"] >= 3 and not x["ended"]]) >= 2, wait(8), 0.25)
    R.ok(flowing, "two slow streams from allowed.test are open (direct and through a CONNECT "
         "tunnel)", hs.st.slow[n_slow:])
    mark = len(loop_lines())
    r = s.call("network_policy", {"sandbox_id": D, "deny": ["allowed.test"]}) if D else None
    t_deny = time.time()
    R.ok(r and not is_error(r), "network_policy deny allowed.test is accepted", r)

    def failing():
        ls = loop_lines()[mark:]
        d, p = results(ls, "D"), results(ls, "P")
        return ls if d[-2:] == ["FAIL", "FAIL"] and p[-2:] == ["FAIL", "FAIL"] else None
    fl = wait_until(failing, wait(6), 0.4)
    R.ok(fl, "failures begin in the same loop within seconds (directly and through the proxy)",
         loop_lines()[mark:][-8:] if D else "(no sandbox)")

    def slow_done(which):
        return R.ex(s, D, "cat /tmp/slow%s.done 2>/dev/null" % which)[1].strip()
    for which, what in (("d", "direct"), ("p", "CONNECT-tunnelled")):
        done = wait_until(lambda: slow_done(which), wait(max(0.5, 5 - (time.time() - t_deny))),
                          0.3)
        host_end = [x for x in hs.st.slow[n_slow:] if x["ended"]]
        R.ok(done and flowing, "the open %s stream to the now denied allowed.test is closed "
             "promptly" % what, (done, hs.st.slow[n_slow:], "%.1f s after the deny" %
                                 (time.time() - t_deny), host_end))
    ro = s.call("process_output", {"sandbox_id": D, "pid": loop_pid, "offset": 0}) \
        if D and loop_pid else None
    R.ok(denied_has(structured(ro).get("network_denied"), ["allowed.test"]),
         "process_output of the loop carries network_denied naming allowed.test", ro)
    rg = s.call("network_policy", {"sandbox_id": D}) if D else None
    R.ok(denied_has(structured(rg).get("network_denied"), ["allowed.test"]),
         "network_policy without rules returns recent refusals naming allowed.test", rg)
    mark = len(loop_lines())
    r = s.call("network_policy", {"sandbox_id": D, "allow": ["allowed.test"]}) if D else None
    R.ok(r and not is_error(r), "network_policy allow allowed.test again is accepted", r)

    def passing():
        ls = loop_lines()[mark:]
        d, p = results(ls, "D"), results(ls, "P")
        return ls if d[-2:] == ["OK", "OK"] and p[-2:] == ["OK", "OK"] else None
    ok2 = wait_until(passing, wait(6), 0.4)
    ro = s.call("process_output", {"sandbox_id": D, "pid": loop_pid}) if D and loop_pid else None
    R.ok(ok2 and structured(ro).get("running") is True,
         "successes return in the same, still running loop", (loop_lines()[mark:][-8:]
                                                              if D else None, ro))

    # ================= 9. git, pip, npm through the relay =================
    R.note("9. git, pip and npm through the relay")
    if not have["git"] or not git_ok:
        R.skip("git clone http://git.test:%d/repo.git works inside" % P, "git is not installed")
        R.skip("git clone from a denied name fails and is reported", "git is not installed")
    else:
        sc, out, err, nd = R.ex(s, C, "cd /tmp && rm -rf clone && GIT_TERMINAL_PROMPT=0 "
                                      "git clone -q http://git.test:%d/repo.git clone 2>&1; "
                                      "cat clone/README" % P, timeout=60)
        R.ok("git-over-relay %s" % R.tok in out, "git clone http://git.test:%d/repo.git works "
             "inside (dumb HTTP through the proxy)" % P, (out[-600:], nd))
        sc, out, err, nd = R.ex(s, C, "cd /tmp && rm -rf clone2 && GIT_TERMINAL_PROMPT=0 "
                                      "timeout 20 git clone -q http://gitdenied.test:%d/repo.git "
                                      "clone2 2>&1; echo RC=$?; cat clone2/README 2>&1" % P,
                                timeout=60)
        R.ok("git-over-relay" not in out and "RC=0" not in out and
             denied_has(nd, ["gitdenied.test"]),
             "git clone http://gitdenied.test:%d/repo.git fails and network_denied names it" % P,
             (out[-600:], nd))
    if not have["pip"]:
        R.skip("pip download from a PEP 503 index at pypi.test works inside",
               "%s -m pip is not installed" % PY)
    else:
        sc, out, err, nd = R.ex(s, C, "rm -rf /tmp/x; PIP_CONFIG_FILE=/dev/null %s -m pip "
                                      "download --no-deps --no-cache-dir "
                                      "--disable-pip-version-check --retries 0 --timeout 10 "
                                      "--index-url http://pypi.test:%d/simple/ --trusted-host "
                                      "pypi.test %s -d /tmp/x 2>&1 | tail -n 15; ls /tmp/x"
                                % (PY, P, WHEEL_PROJECT), timeout=90)
        R.ok("%s-%s-py3-none-any.whl" % (WHEEL_NAME, WHEEL_VERSION) in out.splitlines(),
             "pip download --index-url http://pypi.test:%d/simple/ %s works inside" %
             (P, WHEEL_PROJECT), (out[-800:], nd))
    if not have["npm"]:
        R.skip("npm view --registry http://npm.test works inside", "npm is not installed")
    else:
        sc, out, err, nd = R.ex(s, C, "cd /tmp && NPM_CONFIG_UPDATE_NOTIFIER=false "
                                      "NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false "
                                      "timeout 60 npm view --registry http://npm.test:%d/ %s "
                                      "version 2>&1 | tail -n 15" % (P, NPM_NAME), timeout=90)
        R.ok(NPM_VERSION in out.split(), "npm view --registry http://npm.test:%d/ %s version "
             "prints %s inside" % (P, NPM_NAME, NPM_VERSION), (out[-800:], nd))
    return s


def section_ceiling(R):
    """Section 5: --local-egress is the operator's ceiling."""
    R.note("5. --local-egress deny")
    hs = R.host_server("127.0.0.1", "ceiling")
    P = hs.port
    s = R.srv(["--local-egress", "deny", "--local-resolve", "allowed.test=127.0.0.1"],
              "--local-egress deny")
    r = s.call("sandbox_create", {"timeout_s": 600, "network": {"default": "allow"}})
    R.ok(is_error(r) and "--local-egress" in text_of(r),
         "sandbox_create with network default allow is an error naming --local-egress", r)
    if r and not is_error(r) and structured(r).get("sandbox_id"):
        s.call("sandbox_kill", {"sandbox_id": structured(r)["sandbox_id"]})
    E = R.create(s, "E, no network argument, under --local-egress deny")
    r = s.call("network_policy", {"sandbox_id": E, "default": "allow"}) if E else None
    R.ok(is_error(r) and "--local-egress" in text_of(r),
         "network_policy default allow is an error naming --local-egress", r)
    sc, out, err, nd = R.ex(s, E, CURL_FN + "probe env http://allowed.test:%d/; probe direct "
                                            "--noproxy '*' http://allowed.test:%d/" % (P, P))
    R.ok(E and hs.st.token not in out and "CODE=200" not in out and
         denied_has(nd, ["allowed.test"]),
         "curl http://allowed.test:%d/ (pinned) fails under --local-egress deny and is "
         "reported" % P, (out, nd))

    R.note("5. --local-egress allowed.test (a list)")
    s2 = R.srv(["--local-egress", "allowed.test", "--local-resolve", "allowed.test=127.0.0.1"],
               "--local-egress allowed.test")
    F = R.create(s2, "F, no network argument, under --local-egress allowed.test")
    sc, out, err, nd = R.ex(s2, F, CURL_FN + "probe env http://allowed.test:%d/; probe direct "
                                             "--noproxy '*' http://allowed.test:%d/" % (P, P))
    ch = chunks(out)
    R.ok(all(hs.st.body.strip() in ch.get(k, "") for k in ("env", "direct")),
         "curl http://allowed.test:%d/ works under --local-egress allowed.test (proxy and "
         "direct)" % P, (ch, nd))
    r = s2.call("sandbox_create", {"timeout_s": 600,
                                   "network": {"default": "deny", "allow": ["other.test"]}})
    R.ok(is_error(r) and "--local-egress" in text_of(r),
         "sandbox_create with allow [other.test] is an error naming --local-egress", r)
    if r and not is_error(r) and structured(r).get("sandbox_id"):
        s2.call("sandbox_kill", {"sandbox_id": structured(r)["sandbox_id"]})
    r = s2.call("network_policy", {"sandbox_id": F, "allow": ["other.test"]}) if F else None
    R.ok(is_error(r) and "--local-egress" in text_of(r),
         "network_policy allow [other.test] is an error naming --local-egress", r)
    sc, out, err, nd = R.ex(s2, F, CURL_FN + "probe direct --noproxy '*' http://1.1.1.1/")
    code, secs, _ = curl_result(out)
    R.ok(code == "000" and denied_has(nd, ["1.1.1.1:80"]),
         "under --local-egress allowed.test, 1.1.1.1:80 is refused and reported", (out, nd))


MORE_PY = r'''
import socket, sys
def six(addr, port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((addr, int(port)))
        print("SIX-OK", addr)
    except OSError as e:
        print("SIX-ERR", addr, e.errno)
def relay_ports():
    """Every TCP listener inside but DNS and the proxy: connecting straight to the relay's
    own listeners must give nothing."""
    out = []
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for l in lines:
            x = l.split()
            if x[3] == "0A":
                port = int(x[1].rsplit(":", 1)[1], 16)
                if port not in (53, 3128):
                    out.append((f.endswith("6"), port))
    for v6, port in out:
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET)
        s.settimeout(3)
        try:
            s.connect(("::1" if v6 else "127.0.0.1", port))
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            d = s.recv(100)
            print("RELAY", port, "DATA" if d else "EOF")
        except OSError as e:
            print("RELAY", port, "ERR", e.errno)
    print("RELAYS", len(out))
globals()[sys.argv[1]](*sys.argv[2:])
'''


def section_more(R):
    """Further attacks: IPv6 forms of refused addresses, reconfiguring the namespace, the
    relay's own listeners, and a kept sandbox meeting a stricter server."""
    R.note("10. IPv6 forms, the namespace, the relay's listeners, a kept sandbox")
    hs = R.host_server("127.0.0.1", "more")
    P = hs.port
    root = R.m.tmpdir("smcp-net-root-")
    s = ModeServer(R.m, ["--keep", "--local-resolve", "allowed.test=127.0.0.1"], root)
    R.servers.append(s)
    R.ok(s.started(), "server starts (kept sandboxes, --local-resolve allowed.test)")
    K = R.create(s, "K, default policy")
    R.ex(s, K, "cat > /tmp/more.py", stdin=MORE_PY)
    sc, out, err, nd = R.ex(s, K, "for a in ::ffff:10.0.0.5 64:ff9b::a00:5 ::ffff:169.254.169.254 "
                                  "2002:a00:5::1; do %s /tmp/more.py six $a 80; done" % PY)
    R.ok(out.count("SIX-ERR") == 4 and "SIX-OK" not in out and
         denied_has(nd, ["10.0.0.5:80"], KW_PRIVATE) and
         denied_has(nd, ["169.254.169.254:80"], KW_METADATA),
         "IPv6 forms of private and metadata addresses (mapped, NAT64, 6to4) are refused and "
         "reported", (out, nd))
    sc, out, err, nd = R.ex(s, K, "%s /tmp/more.py six ::ffff:127.0.0.1 %d" % (PY, P))
    R.ok("SIX-ERR" in out and len(hs.st.hits) == 0,
         "::ffff:127.0.0.1 is the sandbox's own loopback, not this machine's", (out, nd))
    ipb = shutil.which("ip") or ("/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else None)
    if ipb:
        sc, out, err, nd = R.ex(s, K, "for c in 'link set lo down' 'addr add 10.9.9.9/32 dev lo' "
                                      "'route add default dev lo' 'link add d0 type dummy'; do "
                                      "ip $c 2>/dev/null && echo CHANGED $c || echo REFUSED; done; "
                                      "getent hosts allowed.test")
        R.ok("CHANGED" not in out and out.count("REFUSED") == 4 and "198.18." in out,
             "nothing inside can reconfigure the sandbox's network (lo stays up, no routes "
             "or addresses added, no new links)", out)
    else:
        R.skip("nothing inside can reconfigure the sandbox's network", "no ip command")
    sc, out, err, nd = R.ex(s, K, "%s /tmp/more.py relay_ports" % PY)
    lines = [x for x in out.splitlines() if x.startswith("RELAY ")]
    R.ok("RELAYS" in out and lines and all(x.endswith("EOF") or " ERR " in x for x in lines),
         "connecting straight to the relay's own listeners gets nothing (%d tried)" %
         len(lines), out)
    sc, out, err, nd = R.ex(s, K, CURL_FN + "probe direct --noproxy '*' http://allowed.test:%d/"
                            % P)
    R.ok(hs.st.body.strip() in out, "before: allowed.test works in kept sandbox K", out)
    s.close(timeout=20)
    R.servers.remove(s)
    s2 = ModeServer(R.m, ["--local-egress", "deny", "--local-resolve",
                         "allowed.test=127.0.0.1"], root)
    R.servers.append(s2)
    R.ok(s2.started(), "a second server on the same state root, with --local-egress deny")
    sc, out, err, nd = R.ex(s2, K, CURL_FN + "probe direct --noproxy '*' http://allowed.test:%d/"
                            % P)
    R.ok(hs.st.body.strip() not in out and denied_has(nd, ["allowed.test"]),
         "the kept sandbox is held to the new server's --local-egress deny at once",
         (sc, out, nd, s2.stderr[-800:]))


def run_mode(mode, have):
    R = Run(mode, have["lan"])
    try:
        section_default(R)
        section_host_port(R)
        section_policy(R, have)
        section_ceiling(R)
        section_more(R)
    finally:
        R.cleanup()
    return R


def main():
    if not os.path.exists(BIN):
        print("Bail out! %s is missing (make FLAVOR=test build/test/sandbox-mcp)" % BIN)
        sys.exit(1)
    have = {
        "curl": shutil.which("curl") is not None,
        "git": shutil.which("git") is not None,
        "pip": subprocess.run([PY, "-m", "pip", "--version"], capture_output=True).returncode
        == 0 if os.path.exists(PY) else False,
        "npm": shutil.which("npm") is not None and shutil.which("node") is not None,
        "lan": lan_ipv4(),
    }
    print("# host: LAN address %s; git %s, pip %s, npm %s" %
          (have["lan"], have["git"], have["pip"], have["npm"]), flush=True)
    start = time.time()
    names = [x for x in os.environ.get("SMCP_NET_MODES", "root,user").split(",")
             if x in ("root", "user")]
    for name in names:
        if not have["curl"] or not os.path.exists(PY):
            t.skip("[%s] network checks" % name, "curl or %s is not installed" % PY)
            continue
        if name == "root" and os.geteuid() != 0:
            t.skip("[root] network checks", "the suite is not running as root")
            continue
        if name == "user" and os.geteuid() == 0 and not shutil.which("setpriv"):
            t.skip("[user] network checks", "setpriv is not installed")
            continue
        mode = None
        try:
            mode = Mode(name, "net")
            avail, why = userns_available(mode.wrap)
            if not avail:
                t.skip("[%s] network checks" % name, "user namespaces are unavailable: %s" % why)
                continue
            try:
                run_mode(mode, have)
            except Exception:  # noqa: BLE001
                import traceback
                t.ok(False, "[%s] the run ended with an exception" % name, traceback.format_exc())
        finally:
            if mode is not None:
                mode.cleanup()
        print("# %s mode done after %.0f s" % (name, time.time() - start), flush=True)
    t.done()


if __name__ == "__main__":
    main()
