#!/usr/bin/env python3
"""fake OpenSandbox deployment for end-to-end tests: lifecycle server + execd + egress on one port.

Written from shared/reference/opensandbox/BRIEF.md (the real server's behaviour; it wins) and
the spec copies beside it (sandbox-lifecycle.yml, execd-api.yaml, egress-api.yaml). It does not
look at, and must not be adapted to, any client code. Python 3.11 standard library only.

Usage:  opensandbox.py --port 0 [--api-key K] [--exit-on-stdin-eof] ...   (--help lists all)
It prints exactly one line "PORT <n>" on stdout once listening; logs go to stderr.

WHAT IMPLEMENTS WHICH PART OF THE BRIEF
  §0.1 / §2.1   lifecycle auth (OPEN-SANDBOX-API-KEY, 401 bodies, exempt paths), error bodies
                {code,message}, FastAPI 422 {"detail":[...]}, 404 {"detail":"Not Found"}.
  §0.2 / §2.6   GET /v1/sandboxes/{id}/endpoints/{port}: endpoint without scheme, with a path
                prefix (server-proxy shape by default), headers only when non-empty.
  §0.3-§0.7 /   POST /command: text/event-stream, chunked, bare JSON + "\\n\\n" per event
  §3.2          (Go json.Marshal: '<' '>' '&' escaped as \\u003c...), one stdout/stderr event per
                line, terminators \\n \\r \\r\\n stripped, empty line = "\\n", partial line
                flushed at exit; init text = 32-hex id; ping every 3 s; final
                execution_complete or error (CommandExecError, evalue exit code / "-1" for
                signals, traceback "exit status N" / "signal: killed"); then the ~1 s tail;
                closing the stream does not stop the command; DELETE /command?id= (SIGTERM,
                3 s, SIGKILL); background mode; status; byte-cursor logs.
  §0.9 / §3.5   files and directories API, including the upload "metadata part must have a
                filename" quirk, Range downloads (first range only, Go ServeContent errors),
                base-name-only search, depth listing, mode as octal digits written in decimal.
  §0.10 / §2.2-§2.5  sandbox object, create 202, get, list (state/metadata filters, paging),
                delete 204 then 404, metadata merge patch, pause/resume 202 + 409s, renew.
  §0.11         metadata label rules -> 400 SANDBOX::INVALID_METADATA_LABEL.
  §0.13 / §4    egress sidecar: OPENSANDBOX-EGRESS-AUTH handed out by endpoints/18080, /policy
                GET/PATCH(merge)/DELETE/POST|PUT(replace, empty = deny-all reset), text/plain
                errors, JSON + "\\n" bodies; no networkPolicy => no sidecar => 502; {} => deny-all.
  §3.1          execd auth (X-EXECD-ACCESS-TOKEN, only with --execd-token), {"code","message"}
                errors, empty 200 bodies, "404 page not found" text for unknown routes.
  §3.3          bash sessions (/session): fresh bash per run restoring exported env and cwd,
                stderr merged into stdout, no tail, raw JSON appended on timeout.
  §3.4          code interpreting (/code, /code/context(s)) with a persistent python3 process
                per context ("kernel") in sandboxes whose image name contains "code-interpreter"
                (--code-interpreter always|never|auto). Without one, POST /code with a language
                answers 500 "language runtime server not configured" and POST /code/context
                hangs (up to 60 s), as the real execd does.
  §3.6          /metrics, /metrics/watch (JSON + single "\\n").
  §3.7 / §2.6   /proxy/{port}/... inside execd, the server proxy route, and any other port:
                forwarded to 127.0.0.1:{port} on this machine (the "sandbox" is this machine).

CHOICES WHERE THE BRIEF IS SILENT OR WHERE A FAKE MUST DIFFER (each also marked "CHOICE:" below)
  - Sandboxes are directories: every sandbox gets a temporary directory used as its "/" for
    the files API (absolute paths are taken relative to it; ".." cannot climb out; paths that
    resolve through a symlink to outside are refused with 400 INVALID_REQUEST_BODY). Commands
    run with `bash -c` on this machine with cwd inside that directory; absolute paths inside a
    command line are the host's, so tests should use relative paths (default cwd is the
    sandbox root) or $OPENSANDBOX_FAKE_ROOT. HOME and TMPDIR point into the sandbox; "~" in
    files-API paths means "/". The root starts with /workspace and /tmp.
  - Create: with --start-delay-ms > 0 (default 200) the create response and GETs report
    Pending (reason CONTAINER_STARTING) until the delay passes, then Running. With 0 the
    create answers Running at once, exactly like the Docker runtime. Status 202 either way.
  - --runtime docker (default) uses DOCKER:: codes, synchronous pause/resume, delete = gone.
    --runtime kubernetes uses KUBERNETES:: codes, Pausing/Resuming/Stopping/Terminated
    transitions lasting --transition-ms, and reasons CREATING/RUNNING/PAUSING/PAUSED/...
    (invented where the brief lists none).
  - execd of a Pending/Stopping sandbox answers 502 (nothing listening yet); execd of a
    Paused sandbox hangs (like a frozen container) until resumed or deleted, at most 60 s
    (then 504). Pause sends SIGSTOP to the sandbox's process groups, resume SIGCONT.
  - Messages the brief does not quote are invented but keep the documented codes and status.
  - Empty metadata values are rejected (stricter than Kubernetes) so clients stay safe.
  - GET/list always include "metadata" (maybe {}); the create response omits it when none
    was sent. Create also sets Location: /v1/sandboxes/{id}.
  - snapshotId and the snapshot routes answer 501 SANDBOX::API_NOT_SUPPORTED.
  - Endpoint strings: --endpoint-mode proxy (default) gives "<host>:<port>/sandboxes/<id>/proxy/<P>"
    (the real use_server_proxy shape; that route needs no API key); "uri" gives
    "<host>:<port>/<id>/<P>" (Kubernetes gateway uri mode); "header" gives "<host>:<port>" plus
    header OpenSandbox-Ingress-To: <id>-<P>. use_server_proxy=true always yields the proxy shape.
  - Logs cursor beyond the end returns an empty body and the end offset as the new cursor.
  - Lines longer than 64 KiB without a terminator are cut into 64 KiB events (UTF-8 safe).
  - execd GET /metrics samples CPU over 100 ms instead of 1 s.
  - /code: events init (context id), status "busy", execution_count, stdout/stderr chunks
    (newline-terminated pieces), result {"text": repr}, execution_complete | error; only
    python contexts exist (other languages: 500 RUNTIME_ERROR).
  - /credential-vault* answers 412 "credential proxy is not enabled"; /pty* is not provided.
  - Faults and the request log exclude /__fake/ itself.

TEST-CONTROL API (/__fake/, never recorded, never auth-checked)
  GET  /__fake/requests[?since=SEQ]  recorded requests: seq, time, method, path, query,
       headers [[k, v]], body (first 64 KiB as text), body_len, status, conn, fault, and for
       sandbox ports: service (execd|egress|proxy), sandbox_id, port, upstream_path, via
       (server_proxy|gateway); streams add stream_ended and closed_in_tail (the client closed
       during the tail after the final event, i.e. it did not wait for EOF).
  POST /__fake/reset {"keep_sandboxes"?}   delete sandboxes, clear requests and faults
  POST /__fake/fault {"match": "<METHOD|*> <path regex>", "kind": drop_mid_stream | status |
       slow | bad_json | close_before_headers, "status", "delay_ms", "count" (default 1,
       <= 0 unlimited), "body", "content_type"}   -> {"id"}
       drop_mid_stream: streams are cut after the first event, other bodies after half;
       bad_json: a broken line after the first stream event, or a broken JSON body.
  GET  /__fake/faults, DELETE /__fake/fault (clear all)
  POST /__fake/config {tail_ms, ping_ms, start_delay_ms, transition_ms, metrics_watch_ms,
       execd_ready_ms}
  GET  /__fake/sandboxes   internal view (state, root dir, commands, egress policy, contexts)
  POST /__fake/expire {"id", "in_ms"}   move a sandbox's expiry
  GET  /__fake/health
"""

import argparse
import datetime
import email.utils
import grp
import http.client
import json
import math
import os
import posixpath
import pwd
import queue
import re
import secrets
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXECD_PORT = 44772
EGRESS_PORT = 18080

# ----------------------------------------------------------------------------------------------
# small helpers: time, JSON flavours, logging
# ----------------------------------------------------------------------------------------------


def log(msg):
    sys.stderr.write("fake-opensandbox: %s\n" % msg)
    sys.stderr.flush()


def now_ms():
    return int(time.time() * 1000)


def rfc3339_us(t):
    """Lifecycle timestamps: RFC 3339 UTC, microseconds, 'Z' (brief §2.2)."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def go_time_ns(ns):
    """execd timestamps: Go's RFC3339Nano (trailing zeros of the fraction trimmed), UTC."""
    sec, frac = divmod(int(ns), 1_000_000_000)
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    if frac:
        s += "." + ("%09d" % frac).rstrip("0")
    return s + "Z"


def go_duration_ms(ms):
    """Go time.Duration.String() for a whole number of milliseconds."""
    if ms == 0:
        return "0s"
    if ms < 1000:
        return "%dms" % ms
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    secs = ("%.3f" % (rest / 1000)).rstrip("0").rstrip(".")
    out = ""
    if h:
        out += "%dh" % h
    if h or m:
        out += "%dm" % m
    return out + secs + "s"


def py_json(obj):
    """FastAPI/Starlette JSONResponse encoding (compact, UTF-8)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


_GO_ESC = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESC_RE = re.compile("[<>&\u2028\u2029]")
_JSTR_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\<>&]')


def go_json_str(obj):
    """Go encoding/json Marshal: compact, and HTML-escapes < > & (plus U+2028/2029)."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return _GO_ESC_RE.sub(lambda m: _GO_ESC[m.group()], s)


def go_json(obj):
    return go_json_str(obj).encode()


def jstr(s):
    """Fast path of go_json_str for one string (hot path of big outputs)."""
    if not _JSTR_UNSAFE.search(s):
        return '"' + s + '"'
    return go_json_str(s)


def go_float(x):
    """Go marshals float64 4.0 as 4."""
    x = round(float(x), 2)
    return int(x) if x == int(x) else x


class Reply(Exception):
    """A complete non-streamed response; raised by route code, sent by the dispatcher."""

    def __init__(self, status, body=b"", ctype=None, headers=()):
        super().__init__(status)
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.ctype = ctype
        self.headers = list(headers)


CT_JSON = "application/json"
CT_GO_JSON = "application/json; charset=utf-8"
CT_GO_TEXT = "text/plain; charset=utf-8"


def lc_error(status, code, message):
    """Lifecycle server error body (§2.1)."""
    return Reply(status, py_json({"code": code, "message": message}), CT_JSON)


def lc_422(details):
    return Reply(422, py_json({"detail": details}), CT_JSON)


def ex_error(status, code, message):
    """execd error body (§3.1): gin c.JSON with {code, message}."""
    return Reply(status, go_json({"code": code, "message": message}), CT_GO_JSON)


def go_http_error(status, text):
    """Go net/http http.Error: text/plain, message + newline, nosniff."""
    return Reply(status, text + "\n", CT_GO_TEXT, [("X-Content-Type-Options", "nosniff")])


def signal_text(signum):
    """Go's syscall.Signal.String() for the usual signals."""
    names = {1: "hangup", 2: "interrupt", 3: "quit", 4: "illegal instruction", 5: "trace/breakpoint trap",
             6: "aborted", 7: "bus error", 8: "floating point exception", 9: "killed",
             10: "user defined signal 1", 11: "segmentation fault", 12: "user defined signal 2",
             13: "broken pipe", 14: "alarm clock", 15: "terminated"}
    return names.get(signum, "signal %d" % signum)


# ----------------------------------------------------------------------------------------------
# configuration and global state
# ----------------------------------------------------------------------------------------------

CFG = None          # argparse namespace, set in main(); a few fields are tunable via /__fake/config
TUNABLE = ("tail_ms", "ping_ms", "start_delay_ms", "transition_ms", "metrics_watch_ms", "execd_ready_ms")


class Store:
    """Every sandbox, the request log and the pending faults, under one lock."""

    def __init__(self):
        self.lock = threading.RLock()
        self.sandboxes = {}
        self.requests = []
        self.faults = []
        self.req_seq = 0
        self.conn_seq = 0
        self.fault_seq = 0
        self.base = None
        self.port = 0

    def next_conn(self):
        with self.lock:
            self.conn_seq += 1
            return self.conn_seq

    def record(self, rec):
        with self.lock:
            self.req_seq += 1
            rec["seq"] = self.req_seq
            self.requests.append(rec)
            return rec

    def add(self, sb):
        with self.lock:
            self.sandboxes[sb.id] = sb

    def get(self, sid):
        """The sandbox, after applying due transitions and expiry; None when gone."""
        with self.lock:
            sb = self.sandboxes.get(sid)
            if sb is not None:
                sb.refresh()
                if sb.gone:
                    return None
            return sb

    def all(self):
        with self.lock:
            out = []
            for sb in list(self.sandboxes.values()):
                sb.refresh()
                if not sb.gone:
                    out.append(sb)
            return out

    def remove(self, sb):
        with self.lock:
            if self.sandboxes.get(sb.id) is sb:
                del self.sandboxes[sb.id]
        sb.destroy()

    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f["count"] == 0:
                    continue
                if f["method"] not in ("*", method):
                    continue
                if not f["re"].search(path):
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                f["hits"] += 1
                return dict(f)
        return None


STORE = Store()


def reaper():
    """Applies scheduled transitions and TTL expiry even when nobody asks (§2.4, §0.10)."""
    while True:
        time.sleep(0.1)
        try:
            STORE.all()
        except Exception:  # never let the reaper die
            log("reaper: " + traceback.format_exc())


# ----------------------------------------------------------------------------------------------
# sandboxes
# ----------------------------------------------------------------------------------------------


def runtime_prefix():
    return "KUBERNETES" if CFG.runtime == "kubernetes" else "DOCKER"


def not_found(sid):
    return lc_error(404, runtime_prefix() + "::SANDBOX_NOT_FOUND", "Sandbox %s not found." % sid)


class Egress:
    """The egress sidecar's policy state (§4)."""

    def __init__(self, policy):
        self.token = secrets.token_hex(16)
        self.default = "deny"
        self.rules = None
        self.replace(policy or {})

    @staticmethod
    def norm_rules(rules, what):
        out = []
        for r in rules:
            if not isinstance(r, dict):
                raise ValueError("%s: rule must be an object" % what)
            action = str(r.get("action") or "").strip().lower() or "deny"
            target = str(r.get("target") or "").strip()
            if action not in ("allow", "deny"):
                raise ValueError("%s: invalid action %r" % (what, action))
            if not target:
                raise ValueError("%s: empty target" % what)
            out.append({"action": action, "target": target})
        if len(out) > CFG.egress_max_rules:
            raise ValueError("%s: too many rules (max %d)" % (what, CFG.egress_max_rules))
        return out

    def replace(self, policy):
        default = str(policy.get("defaultAction") or "deny").lower()
        if default not in ("allow", "deny"):
            raise ValueError("invalid policy: invalid defaultAction %r" % default)
        egress = policy.get("egress")
        if egress is not None and not isinstance(egress, list):
            raise ValueError("invalid policy: egress must be an array")
        self.rules = None if egress is None else self.norm_rules(egress, "invalid policy")
        self.default = default

    def mode(self):
        if not self.rules:
            return "allow_all" if self.default == "allow" else "deny_all"
        return "enforcing"

    def policy(self):
        return {"egress": self.rules, "defaultAction": self.default}


class Sandbox:
    def __init__(self, req):
        self.id = str(uuid.uuid4())
        self.lock = threading.RLock()
        self.image = req.get("image")
        self.snapshot_id = req.get("snapshotId")
        self.entrypoint = req.get("entrypoint") or ["tail", "-f", "/dev/null"]
        self.metadata_sent = "metadata" in req and req["metadata"] is not None
        self.metadata = dict(req.get("metadata") or {})
        self.env = {k: v for k, v in (req.get("env") or {}).items() if v is not None}
        self.platform = req.get("platform")
        self.extensions = dict(req.get("extensions") or {})
        self.renew_extend = int(self.extensions["access.renew.extend.seconds"]) \
            if "access.renew.extend.seconds" in self.extensions else None
        self.created_at = time.time()
        timeout = req.get("timeout")
        self.expires_at = self.created_at + int(timeout) if timeout is not None else None
        np = req.get("networkPolicy")
        self.egress = Egress(np) if np is not None else None
        self.secure_token = secrets.token_hex(16) if req.get("secureAccess") else None
        self.gone = False
        self.schedule = []          # [(time, fn)] applied by refresh()
        self.commands = {}          # id -> Command
        self.sessions = {}          # id -> BashSession
        self.contexts = {}          # id -> CodeContext
        self.default_ctx = {}       # language -> CodeContext
        self.base = tempfile.mkdtemp(prefix=self.id[:8] + "-", dir=STORE.base)
        self.root = os.path.join(self.base, "root")
        self.state_dir = os.path.join(self.base, "state")
        for d in (self.root, self.state_dir, os.path.join(self.root, "workspace"), os.path.join(self.root, "tmp")):
            os.makedirs(d, exist_ok=True)
        self.root_real = os.path.realpath(self.root)
        self.ready_at = 0.0
        k8s = CFG.runtime == "kubernetes"
        delay = CFG.start_delay_ms / 1000.0
        if delay > 0:
            self.set_state("Pending", "CREATING" if k8s else "CONTAINER_STARTING",
                           "Sandbox is being created." if k8s else "Sandbox container is starting.",
                           self.created_at)
            self.at(self.created_at + delay, self.become_running)
            self.create_message = None
        else:
            self.become_running(self.created_at)
            self.create_message = "Sandbox container started successfully."

    # state machine ------------------------------------------------------------------------
    def set_state(self, state, reason, message, t=None):
        self.state, self.reason, self.message = state, reason, message
        self.last_transition = t if t is not None else time.time()

    def become_running(self, t=None):
        k8s = CFG.runtime == "kubernetes"
        self.set_state("Running", "RUNNING" if k8s else "CONTAINER_RUNNING",
                       "Sandbox is running." if k8s else "Sandbox container is running.", t)
        self.ready_at = (t or time.time()) + CFG.execd_ready_ms / 1000.0

    def at(self, t, fn):
        self.schedule.append((t, fn))
        self.schedule.sort(key=lambda e: e[0])

    def refresh(self):
        """Apply due scheduled transitions and TTL expiry. Caller holds STORE.lock."""
        if self.gone:
            return
        now = time.time()
        while self.schedule and self.schedule[0][0] <= now and not self.gone:
            t, fn = self.schedule.pop(0)
            fn(t)
        if not self.gone and self.expires_at is not None and now >= self.expires_at:
            log("sandbox %s expired" % self.id)
            STORE.remove(self)

    def destroy(self):
        """Kill everything and remove the directory; the next lookup is a 404."""
        if self.gone:
            return
        self.gone = True
        self.kill_all(signal.SIGKILL)
        if not CFG.keep_dirs:
            shutil.rmtree(self.base, ignore_errors=True)

    def process_groups(self):
        pgs = [c.proc.pid for c in list(self.commands.values()) if c.proc is not None and c.running]
        pgs += [c.proc.pid for c in list(self.contexts.values()) if c.proc is not None and c.proc.poll() is None]
        return pgs

    def kill_all(self, sig):
        for pg in self.process_groups():
            try:
                os.killpg(pg, signal.SIGCONT)
                os.killpg(pg, sig)
            except OSError:
                pass

    def freeze(self, t=None):
        k8s = CFG.runtime == "kubernetes"
        self.set_state("Paused", "PAUSED" if k8s else "CONTAINER_PAUSED",
                       "Sandbox is paused." if k8s else "Sandbox container is paused.", t)
        for pg in self.process_groups():
            try:
                os.killpg(pg, signal.SIGSTOP)
            except OSError:
                pass

    def thaw(self, t=None):
        for pg in self.process_groups():
            try:
                os.killpg(pg, signal.SIGCONT)
            except OSError:
                pass
        self.become_running(t)

    # rendering ------------------------------------------------------------------------------
    def status_json(self):
        return {"state": self.state, "reason": self.reason, "message": self.message,
                "lastTransitionAt": rfc3339_us(self.last_transition)}

    def to_json(self):
        d = {"id": self.id}
        if self.image is not None:
            d["image"] = {"uri": self.image.get("uri")}
        if self.snapshot_id is not None:
            d["snapshotId"] = self.snapshot_id
        d["status"] = self.status_json()
        d["metadata"] = dict(self.metadata)
        d["entrypoint"] = list(self.entrypoint)
        if self.expires_at is not None:
            d["expiresAt"] = rfc3339_us(self.expires_at)
        d["createdAt"] = rfc3339_us(self.created_at)
        if self.platform is not None:
            d["platform"] = self.platform
        return d

    def create_json(self):
        d = {"id": self.id, "status": self.status_json()}
        if self.create_message and self.state == "Running":
            d["status"]["message"] = self.create_message
        if self.metadata_sent:
            d["metadata"] = dict(self.metadata)
        if self.expires_at is not None:
            d["expiresAt"] = rfc3339_us(self.expires_at)
        d["createdAt"] = rfc3339_us(self.created_at)
        d["entrypoint"] = list(self.entrypoint)
        if self.platform is not None:
            d["platform"] = self.platform
        return d

    # in-sandbox environment -------------------------------------------------------------------
    def virtual_env(self):
        """Environment as seen by files-API path expansion ($VAR)."""
        env = {"HOME": "/", "TMPDIR": "/tmp", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env.update(self.env)
        return env

    def process_env(self, extra=None):
        env = dict(os.environ)
        env.update({"HOME": self.root, "TMPDIR": os.path.join(self.root, "tmp"),
                    "OPENSANDBOX_FAKE_ROOT": self.root, "OPENSANDBOX_SANDBOX_ID": self.id})
        env.update(self.env)
        for k, v in (extra or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def to_host(self, vpath):
        return os.path.join(self.root, vpath.lstrip("/")) if vpath != "/" else self.root

    def to_virtual(self, host):
        rel = os.path.relpath(host, self.root)
        return "/" if rel == "." else "/" + rel


# ----------------------------------------------------------------------------------------------
# files-API path mapping (§3.1 "Paths", §3.5)
# ----------------------------------------------------------------------------------------------

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def resolve(sb, p, follow=True):
    """Map an execd path onto the sandbox directory; returns (virtual, host).

    '~' and $VAR / ${VAR} are expanded (unknown variable -> 400), relative paths are taken
    from "/" (execd's working directory), '..' cannot leave "/". CHOICE: a path whose real
    location (following symlinks; for follow=False only the parent's) is outside the sandbox
    is refused with 400 INVALID_REQUEST_BODY.
    """
    if p is None or p == "":
        raise ex_error(400, "MISSING_QUERY", "missing query parameter: path")
    if p == "~" or p.startswith("~/"):
        p = "/" + p[1:]
    env = sb.virtual_env()

    def sub(m):
        name = m.group(1) or m.group(2)
        if name not in env:
            raise ex_error(400, "INVALID_REQUEST_BODY", "environment variable %s is not set in path %s" % (name, p))
        return env[name]
    p2 = _VAR_RE.sub(sub, p)
    v = posixpath.normpath("/" + p2.lstrip("/")) if not p2.startswith("/") else posixpath.normpath(p2)
    v = "/" + v.lstrip("/")
    host = sb.to_host(v)
    check = host if follow else os.path.dirname(host)
    if v == "/":
        check = host
    real = os.path.realpath(check)
    if real != sb.root_real and not real.startswith(sb.root_real + os.sep):
        raise ex_error(400, "INVALID_REQUEST_BODY", "path escapes the sandbox root: %s" % p)
    return v, host


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def file_info(vpath, host):
    st = os.lstat(host)
    if stat.S_ISDIR(st.st_mode):
        typ = "directory"
    elif stat.S_ISREG(st.st_mode):
        typ = "file"
    elif stat.S_ISLNK(st.st_mode):
        typ = "symlink"
    else:
        typ = "other"
    return {"path": vpath, "type": typ, "size": st.st_size,
            "modified_at": go_time_ns(st.st_mtime_ns), "created_at": go_time_ns(st.st_ctime_ns),
            "owner": user_name(st.st_uid), "group": group_name(st.st_gid),
            "mode": int(oct(st.st_mode & 0o777)[2:])}


def parse_mode(mode):
    """'mode' is octal digits written as a decimal integer (644 means 0o644)."""
    if mode is None:
        return 0
    if isinstance(mode, bool) or not isinstance(mode, int) or mode < 0:
        raise ex_error(400, "INVALID_REQUEST_BODY", "invalid mode: %r" % (mode,))
    try:
        return int(str(mode), 8)
    except ValueError:
        raise ex_error(400, "INVALID_REQUEST_BODY", "invalid mode: %r" % (mode,))


def apply_owner(host, owner, group):
    """Owner/group by name; unknown names are ignored; only attempted when we are root."""
    if os.geteuid() != 0 or (not owner and not group):
        return
    uid = gid = -1
    try:
        if owner:
            uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        pass
    try:
        if group:
            gid = grp.getgrnam(group).gr_gid
    except KeyError:
        pass
    os.chown(host, uid, gid)


# ----------------------------------------------------------------------------------------------
# processes: line splitting, commands, bash sessions, python "kernels"
# ----------------------------------------------------------------------------------------------

_LINE_RE = re.compile(rb"\r\n|\r|\n")
MAX_LINE = 65536


def _decode_line(b):
    return b.decode("utf-8", "replace") if b else "\n"


class LineSplitter:
    """execd's per-line output: \\n, \\r and \\r\\n end a line (also across reads)."""

    def __init__(self):
        self.pending = b""
        self.skip_lf = False

    def feed(self, data):
        if self.skip_lf:
            self.skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        buf = self.pending + data if self.pending else data
        parts = _LINE_RE.split(buf)
        self.pending = parts.pop()
        if buf[-1:] == b"\r":
            self.skip_lf = True
        out = [_decode_line(p) for p in parts]
        while len(self.pending) > MAX_LINE:     # CHOICE: cut very long lines, UTF-8 safe
            cut = MAX_LINE
            while cut > MAX_LINE - 4 and (self.pending[cut] & 0xC0) == 0x80:
                cut -= 1
            out.append(_decode_line(self.pending[:cut]))
            self.pending = self.pending[cut:]
        return out

    def finish(self):
        rest, self.pending = self.pending, b""
        return [_decode_line(rest)] if rest else []


def bash_path():
    return shutil.which("bash") or "/bin/sh"


class Command:
    """One execd command (foreground, background, session run or /code shell run).

    Foreground output flows reader threads -> bounded queue -> the HTTP handler, so a slow
    client slows the command down instead of the fake buffering it. If the client goes away
    the command keeps running and its output is discarded (§0.7).
    """

    def __init__(self, sb, content, background=False, kind="command"):
        self.id = uuid.uuid4().hex
        self.sb = sb
        self.content = content
        self.background = background
        self.kind = kind
        self.proc = None
        self.running = False
        self.started_at = time.time_ns()
        self.finished_at = None
        self.exit_code = None
        self.error = None
        self.rc = None
        self.timed_out = False
        self.discard = False
        self.closed = False
        self.done = threading.Event()
        self.q = queue.Queue(maxsize=64)
        self.timer = None
        self.log_path = os.path.join(sb.state_dir, self.id + ".log") if background else None

    def launch(self, argv, cwd, env, timeout_ms=None, merge=False, uid=None, gid=None):
        """Start the process; raises OSError when it cannot start."""
        kw = dict(cwd=cwd, env=env, stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        if uid is not None and uid != os.geteuid():
            kw["user"] = uid
        if gid is not None and gid != os.getegid():
            kw["group"] = gid
        if self.background:
            with open(self.log_path, "ab") as f:
                self.proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, **kw)
            readers = []
        else:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT if merge else subprocess.PIPE, **kw)
            readers = [threading.Thread(target=self._reader, args=(self.proc.stdout, "stdout"), daemon=True)]
            if not merge:
                readers.append(threading.Thread(target=self._reader, args=(self.proc.stderr, "stderr"), daemon=True))
        self.running = True
        self.started_at = time.time_ns()
        if self.sb.state in ("Paused", "Pausing"):
            os.killpg(self.proc.pid, signal.SIGSTOP)
        for t in readers:
            t.start()
        if timeout_ms:
            self.timer = threading.Timer(timeout_ms / 1000.0, self._on_timeout)
            self.timer.daemon = True
            self.timer.start()
        threading.Thread(target=self._waiter, args=(readers,), daemon=True).start()

    def fail_start(self, err):
        self.running = False
        self.exit_code = -1
        self.error = err
        self.finished_at = time.time_ns()
        self.done.set()

    def _put(self, item):
        while not (self.discard or self.closed):
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _reader(self, pipe, name):
        fd = pipe.fileno()
        splitter = LineSplitter()
        try:
            while True:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                if self.discard or self.closed:
                    continue
                lines = splitter.feed(data)
                if lines:
                    self._put(("out", name, lines))
            rest = splitter.finish()
            if rest:
                self._put(("out", name, rest))
        finally:
            pipe.close()

    def _on_timeout(self):
        self.timed_out = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass

    def _waiter(self, readers):
        rc = self.proc.wait()
        if self.timer:
            self.timer.cancel()
        deadline = time.monotonic() + 0.5     # grandchildren may keep the pipes open
        for t in readers:
            t.join(max(0.0, deadline - time.monotonic()))
        self.rc = rc
        self.finished_at = time.time_ns()
        if rc >= 0:
            self.exit_code = rc
            self.error = None if rc == 0 else "exit status %d" % rc
        else:
            self.exit_code = -1
            self.error = "signal: " + signal_text(-rc)
        self.running = False
        self._put(("exit", rc))
        self.closed = True
        self.done.set()

    def interrupt(self):
        """DELETE /command?id=: SIGTERM to the group, up to 3 s, then SIGKILL (§3.2)."""
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except OSError:
                pass
            if self.done.wait(wait):
                return

    def status_json(self):
        d = {"id": self.id, "content": self.content, "running": self.running}
        if not self.running and self.exit_code is not None:
            d["exit_code"] = self.exit_code
        if self.error:
            d["error"] = self.error
        d["started_at"] = go_time_ns(self.started_at)
        if self.finished_at is not None:
            d["finished_at"] = go_time_ns(self.finished_at)
        return d


class BashSession:
    """§3.3: each run is a fresh bash that restores exported env and cwd, then saves them."""

    def __init__(self, sb, cwd_host):
        self.id = str(uuid.uuid4())
        self.sb = sb
        self.cwd = cwd_host
        self.env_file = os.path.join(sb.state_dir, "session-%s.env" % self.id)
        self.cwd_file = os.path.join(sb.state_dir, "session-%s.cwd" % self.id)
        self.current = None

    def script(self, command, cwd_host):
        q = lambda s: "'" + s.replace("'", "'\\''") + "'"
        return "\n".join([
            "[ -f %s ] && source %s >/dev/null 2>&1" % (q(self.env_file), q(self.env_file)),
            "cd %s || exit 1" % q(cwd_host),
            "__osb_save() { export -p > %s; pwd > %s; }" % (q(self.env_file), q(self.cwd_file)),
            "trap __osb_save EXIT",
            command,
            "",
        ])

    def after_run(self):
        try:
            with open(self.cwd_file) as f:
                cwd = f.read().strip()
            real = os.path.realpath(cwd)
            if os.path.isdir(cwd) and (real == self.sb.root_real or real.startswith(self.sb.root_real + os.sep)):
                self.cwd = cwd
        except OSError:
            pass

    def close(self):
        c = self.current
        if c is not None and c.running:
            try:
                os.killpg(c.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        for p in (self.env_file, self.cwd_file):
            try:
                os.unlink(p)
            except OSError:
                pass


KERNEL_SRC = r'''
import ast, json, os, sys, traceback
_out = os.fdopen(int(sys.argv[1]), "w", buffering=1, encoding="utf-8", errors="replace")
def _send(**m):
    _out.write(json.dumps(m) + "\n")
    _out.flush()
class _W:
    encoding = "utf-8"
    def __init__(self, name):
        self.name, self.buf = name, ""
    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        self.buf += s
        if "\n" in self.buf:
            i = self.buf.rindex("\n") + 1
            _send(t=self.name, text=self.buf[:i])
            self.buf = self.buf[i:]
        return len(s)
    def flush(self):
        if self.buf:
            _send(t=self.name, text=self.buf)
            self.buf = ""
    def isatty(self):
        return False
sys.stdout, sys.stderr = _W("stdout"), _W("stderr")
_ns = {"__name__": "__main__", "__builtins__": __builtins__}
def _run(code):
    tree = ast.parse(code, "<cell>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, "<cell>", "exec"), _ns)
    if last is not None:
        v = eval(compile(last, "<cell>", "eval"), _ns)
        if v is not None:
            _ns["_"] = v
            return repr(v)
    return None
while True:
    try:
        line = sys.stdin.readline()
    except KeyboardInterrupt:
        continue
    if not line:
        break
    try:
        r = _run(json.loads(line)["code"])
        sys.stdout.flush(); sys.stderr.flush()
        if r is not None:
            _send(t="result", text=r)
        _send(t="done")
    except BaseException as e:
        try:
            sys.stdout.flush(); sys.stderr.flush()
        except BaseException:
            pass
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        _send(t="error", ename=type(e).__name__, evalue=str(e), traceback=[l.rstrip("\n") for l in tb])
'''


class CodeContext:
    """A python "kernel": one persistent python3 process per context (§3.4)."""

    def __init__(self, sb, language, cwd_host):
        self.id = uuid.uuid4().hex
        self.sb = sb
        self.language = language
        self.cwd = cwd_host
        self.count = 0
        self.busy = threading.Lock()
        self.proc = None
        self.q = None
        self.spawn()

    def spawn(self):
        r, w = os.pipe()
        try:
            self.proc = subprocess.Popen([sys.executable, "-u", "-c", KERNEL_SRC, str(w)],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, pass_fds=(w,), cwd=self.cwd,
                                         env=self.sb.process_env(), start_new_session=True)
        finally:
            os.close(w)
        self.q = queue.Queue()
        threading.Thread(target=self._reader, args=(os.fdopen(r, "rb"), self.q), daemon=True).start()

    @staticmethod
    def _reader(f, q):
        with f:
            for line in f:
                try:
                    q.put(json.loads(line))
                except ValueError:
                    pass
        q.put({"t": "eof"})

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send(self, code):
        if not self.alive():
            self.spawn()
        self.proc.stdin.write((json.dumps({"code": code}) + "\n").encode())
        self.proc.stdin.flush()

    def interrupt(self):
        if self.alive() and self.busy.locked():
            os.kill(self.proc.pid, signal.SIGINT)

    def close(self):
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass


# ----------------------------------------------------------------------------------------------
# HTTP plumbing: one handler for every service, replies, chunked streams, faults, request log
# ----------------------------------------------------------------------------------------------

FAULT_KINDS = ("drop_mid_stream", "status", "slow", "bad_json", "close_before_headers")


def peer_closed(sock):
    """True when the peer closed (EOF or reset); never blocks (the socket has a timeout,
    so a plain recv would wait for it)."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class StreamWriter:
    """A chunked text/event-stream response with pings (§3.2 framing)."""

    def __init__(self, h, sb=None):
        self.h = h
        self.sb = sb
        self.dead = False
        self.events = 0
        self.next_ping = time.monotonic() + CFG.ping_ms / 1000.0

    def begin(self, ctype="text/event-stream"):
        h = self.h
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Cache-Control", "no-cache")
        if h.close_connection:
            h.send_header("Connection", "close")
        else:
            h.send_header("Connection", "keep-alive")
        h.send_header("X-Accel-Buffering", "no")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.headers_sent = True
        h.rec["status"] = 200

    def raw(self, data):
        if self.dead or not data:
            return
        try:
            self.h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except OSError:
            self.dead = True

    def after_event(self):
        """Stream faults act after the first event (so the client has the id)."""
        self.events += 1
        f = self.h.fault
        if self.events != 1 or not f:
            return
        if f["kind"] == "drop_mid_stream":
            time.sleep(f["delay_ms"] / 1000.0)
            self.h.abort()
            self.dead = True
        elif f["kind"] == "bad_json":
            self.raw(b'{"type":"stdout","text":"broken\n\n')

    def event(self, obj):
        self.raw(go_json(obj) + b"\n\n")
        self.after_event()

    def lines(self, typ, texts):
        ts = b',"timestamp":%d}\n\n' % now_ms()
        prefix = b'{"type":"' + typ.encode() + b'","text":'
        self.raw(b"".join(prefix + jstr(t).encode() + ts for t in texts))

    def ping_due(self):
        return max(0.0, self.next_ping - time.monotonic())

    def maybe_ping(self):
        if time.monotonic() >= self.next_ping:
            self.next_ping = time.monotonic() + CFG.ping_ms / 1000.0
            if self.sb is None or self.sb.state != "Paused":
                self.raw(go_json({"type": "ping", "text": "pong", "timestamp": now_ms()}) + b"\n\n")

    def client_gone(self):
        """True when the client closed its side (EOF or reset), without blocking."""
        return peer_closed(self.h.connection)

    def tail(self, ms):
        """§0.6: the stream stays open ~1 s after the last event (pings may still come).

        Records in the request log whether the client closed the connection during the
        tail ("closed_in_tail"), i.e. stopped at the final event instead of reading to EOF.
        """
        end = time.monotonic() + ms / 1000.0
        self.h.rec["closed_in_tail"] = False
        while not self.dead:
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, self.ping_due() + 0.001, 0.05))
            if self.client_gone():
                self.h.rec["closed_in_tail"] = True
                self.dead = True
                break
            self.maybe_ping()

    def end(self):
        self.h.rec["stream_ended"] = True
        if not self.dead:
            try:
                self.h.wfile.write(b"0\r\n\r\n")
            except OSError:
                self.dead = True
        if self.dead:
            self.h.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-opensandbox/1.0"
    sys_version = ""
    timeout = 300

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        self.conn_id = STORE.next_conn()
        self.conn_requests = 0

    def log_message(self, fmt, *args):
        if not CFG.quiet:
            log("%s %s" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # request body ----------------------------------------------------------------------------
    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    # responses -------------------------------------------------------------------------------
    def abort(self):
        """Drop the connection now (faults)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reply(self, status, body=b"", ctype=None, headers=()):
        if isinstance(body, str):
            body = body.encode()
        f = self.fault
        if f and f["kind"] == "bad_json":
            status = f.get("status") or status
            body, ctype = b'{"broken": tr', "application/json"
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in list(headers) + self.extra_headers:
            self.send_header(k, v)
        if status != 204 and status >= 200:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.headers_sent = True
        self.rec["status"] = status
        if self.command == "HEAD" or status == 204:
            return
        if f and f["kind"] == "drop_mid_stream":
            self.wfile.write(body[: len(body) // 2])
            time.sleep(f["delay_ms"] / 1000.0)
            self.abort()
            return
        self.wfile.write(body)

    def reply_file(self, status, fobj, length, headers):
        """Stream `length` bytes of an open file with Content-Length (downloads)."""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.headers_sent = True
        self.rec["status"] = status
        left = length
        f = self.fault
        if f and f["kind"] == "drop_mid_stream":
            left = length // 2
        while left > 0:
            chunk = fobj.read(min(65536, left))
            if not chunk:
                break
            self.wfile.write(chunk)
            left -= len(chunk)
        if f and f["kind"] == "drop_mid_stream":
            self.abort()

    # dispatch --------------------------------------------------------------------------------
    def dispatch(self):
        self.conn_requests += 1
        self.headers_sent = False
        self.extra_headers = []
        self.fault = None
        u = urllib.parse.urlsplit(self.path)
        path = u.path or "/"
        self.query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.rawquery = u.query
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.rec = {}
            return
        self.body = body
        control = path.startswith("/__fake/")
        self.rec = {"method": self.command, "path": path, "query": u.query,
                    "headers": [[k, v] for k, v in self.headers.items()],
                    "time": time.time(), "conn": self.conn_id, "conn_request": self.conn_requests,
                    "client_port": self.client_address[1], "body_len": len(body),
                    "body": body[:65536].decode("utf-8", "replace"), "status": None}
        if not control:
            STORE.record(self.rec)
        try:
            if control:
                return control_api(self, path)
            f = STORE.take_fault(self.command, path)
            if f:
                self.rec["fault"] = f["kind"]
                self.fault = f
                if f["kind"] in ("slow", "status", "close_before_headers"):
                    time.sleep(f["delay_ms"] / 1000.0)
                if f["kind"] == "close_before_headers":
                    self.abort()
                    return
                if f["kind"] == "status":
                    self.fault = None
                    body = f.get("body")
                    if body is None:
                        body = py_json({"code": "FAKE::INJECTED_FAULT", "message": "fault injected by the test"})
                    return self.reply(f["status"], body, f.get("content_type") or CT_JSON)
            route(self, path)
        except Reply as r:
            if self.headers_sent:
                log("reply after headers were sent: %s" % r.status)
                self.close_connection = True
            else:
                self.reply(r.status, r.body, r.ctype, r.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            log("internal error on %s %s:\n%s" % (self.command, self.path, traceback.format_exc()))
            if not self.headers_sent:
                self.reply(500, go_json({"code": "UNKNOWN", "message": "fake internal error"}), CT_GO_JSON)
            else:
                self.close_connection = True


def json_body(h, on_error):
    """Parse the request body as JSON; on_error(exc) returns the Reply to raise."""
    try:
        return json.loads(h.body.decode("utf-8")) if h.body.strip() else None
    except (ValueError, UnicodeDecodeError) as e:
        raise on_error(e)


# ----------------------------------------------------------------------------------------------
# routing: control API, server proxy, gateway shapes, lifecycle
# ----------------------------------------------------------------------------------------------

_PROXY_RE = re.compile(r"^(?:/v1)?/sandboxes/([^/]+)/proxy/(\d+)(/.*)?$")
_URI_RE = re.compile(r"^/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/(\d+)(/.*)?$")
_AUTH_EXEMPT = ("/health", "/docs", "/redoc", "/openapi.json", "/v1/health")


def route(h, path):
    """Sends the request to the service the path (or the ingress header) addresses."""
    ingress = h.headers.get("OpenSandbox-Ingress-To")
    if ingress:
        m = re.match(r"^(.+)-(\d+)$", ingress)
        if not m:
            raise lc_error(400, "GENERAL::UNKNOWN_ERROR", "malformed OpenSandbox-Ingress-To header")
        return to_port(h, m.group(1), int(m.group(2)), path, via="gateway")
    m = _PROXY_RE.match(path)
    if m:
        return to_port(h, m.group(1), int(m.group(2)), m.group(3) or "/", via="server_proxy")
    m = _URI_RE.match(path)
    if m:
        return to_port(h, m.group(1), int(m.group(2)), m.group(3) or "/", via="gateway")
    h.rec["service"] = "lifecycle"
    h.extra_headers.append(("X-Request-ID", h.headers.get("X-Request-ID") or str(uuid.uuid4())))
    lifecycle(h, path)


def to_port(h, sid, port, sub, via):
    """A request for port `port` of sandbox `sid` (execd, egress, or a user service)."""
    h.rec.update({"sandbox_id": sid, "port": port, "upstream_path": sub, "via": via,
                  "service": {EXECD_PORT: "execd", EGRESS_PORT: "egress"}.get(port, "proxy")})
    sb = STORE.get(sid)
    if sb is None:
        if via == "server_proxy":
            raise not_found(sid)
        raise go_http_error(502, "Bad Gateway")
    if not (1 <= port <= 65535):
        raise lc_error(400, runtime_prefix() + "::INVALID_PORT", "Port %d is out of range." % port)
    if port == EGRESS_PORT:
        if sb.egress is None:
            raise upstream_down(via, sb)
        return egress(h, sb, sub)
    wait_until_reachable(sb, via)
    if port == EXECD_PORT:
        return execd(h, sb, sub)
    return forward(h, port, sub, via, sb)


def upstream_down(via, sb):
    if via == "server_proxy":
        return lc_error(502, "GENERAL::UNKNOWN_ERROR",
                        "Could not connect to the backend sandbox %s." % sb.id)
    return go_http_error(502, "Bad Gateway")


def wait_until_reachable(sb, via):
    """CHOICE: nothing listens before Running + execd_ready_ms; Paused hangs (frozen)."""
    deadline = time.monotonic() + 60
    while True:
        with STORE.lock:
            sb.refresh()
            state, gone, ready_at = sb.state, sb.gone, sb.ready_at
        if gone:
            raise upstream_down(via, sb)
        if state in ("Paused", "Pausing"):
            if time.monotonic() > deadline:
                raise go_http_error(504, "Gateway Timeout")
            time.sleep(0.05)
            continue
        if state not in ("Running", "Resuming") or time.time() < ready_at:
            raise upstream_down(via, sb)
        return


def forward(h, port, sub, via, sb):
    """execd's /proxy/{port}: reverse proxy to 127.0.0.1:{port} (the sandbox is this host)."""
    q = ("?" + h.rawquery) if h.rawquery else ""
    hop = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection",
           "host", "content-length", "open-sandbox-api-key", "authorization", "cookie"}
    headers = {k: v for k, v in h.headers.items() if k.lower() not in hop}
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request(h.command, sub + q, body=h.body or None, headers=headers)
        r = c.getresponse()
        body = r.read()
        rh = [(k, v) for k, v in r.getheaders() if k.lower() not in hop]
        c.close()
    except OSError:
        raise upstream_down(via, sb)
    raise Reply(r.status, body, None, rh)


def control_api(h, path):
    """The test-control API (never recorded, never auth-checked)."""
    m = h.command
    try:
        body = json.loads(h.body) if h.body.strip() else {}
    except ValueError:
        return h.reply(400, py_json({"error": "bad JSON"}), CT_JSON)
    if path == "/__fake/health":
        return h.reply(200, py_json({"ok": True}), CT_JSON)
    if path == "/__fake/requests" and m == "GET":
        since = int((h.query.get("since") or ["0"])[0] or 0)
        with STORE.lock:
            data = [r for r in STORE.requests if r["seq"] > since]
            return h.reply(200, json.dumps(data).encode(), CT_JSON)
    if path == "/__fake/reset" and m == "POST":
        with STORE.lock:
            STORE.requests.clear()
            STORE.faults.clear()
            sbs = [] if body.get("keep_sandboxes") else list(STORE.sandboxes.values())
        for sb in sbs:
            STORE.remove(sb)
        return h.reply(200, py_json({"ok": True}), CT_JSON)
    if path == "/__fake/fault" and m == "DELETE":
        with STORE.lock:
            STORE.faults.clear()
        return h.reply(200, py_json({"ok": True}), CT_JSON)
    if path == "/__fake/fault" and m == "POST":
        try:
            meth, rx = body["match"].split(" ", 1)
            kind = body.get("kind", "status")
            if kind not in FAULT_KINDS:
                raise ValueError("kind must be one of " + ", ".join(FAULT_KINDS))
            f = {"method": meth.upper(), "re": re.compile(rx), "match": body["match"], "kind": kind,
                 "status": int(body.get("status") or (500 if kind == "status" else 0)),
                 "delay_ms": int(body.get("delay_ms") or 0), "count": int(body.get("count", 1)),
                 "body": body.get("body"), "content_type": body.get("content_type"), "hits": 0}
            if f["count"] <= 0:
                f["count"] = -1
        except (KeyError, ValueError, re.error) as e:
            return h.reply(400, py_json({"error": str(e)}), CT_JSON)
        with STORE.lock:
            STORE.fault_seq += 1
            f["id"] = STORE.fault_seq
            STORE.faults.append(f)
        return h.reply(200, py_json({"id": f["id"]}), CT_JSON)
    if path == "/__fake/faults" and m == "GET":
        with STORE.lock:
            out = [{k: v for k, v in f.items() if k != "re"} for f in STORE.faults]
        return h.reply(200, py_json(out), CT_JSON)
    if path == "/__fake/config" and m == "POST":
        for k, v in body.items():
            if k not in TUNABLE:
                return h.reply(400, py_json({"error": "not tunable: " + k}), CT_JSON)
            setattr(CFG, k, int(v))
        return h.reply(200, py_json({k: getattr(CFG, k) for k in TUNABLE}), CT_JSON)
    if path == "/__fake/sandboxes" and m == "GET":
        out = []
        for sb in STORE.all():
            out.append({"id": sb.id, "state": sb.state, "root": sb.root, "metadata": sb.metadata,
                        "env": sb.env, "commands": {c.id: c.status_json() for c in list(sb.commands.values())},
                        "egress": sb.egress.policy() if sb.egress else None,
                        "contexts": [c.id for c in list(sb.contexts.values())]})
        return h.reply(200, py_json(out), CT_JSON)
    if path == "/__fake/expire" and m == "POST":
        sb = STORE.get(body.get("id", ""))
        if sb is None:
            return h.reply(404, py_json({"error": "no such sandbox"}), CT_JSON)
        with STORE.lock:
            sb.expires_at = time.time() + int(body.get("in_ms", 0)) / 1000.0
        return h.reply(200, py_json({"ok": True}), CT_JSON)
    return h.reply(404, py_json({"error": "unknown control route"}), CT_JSON)


# ----------------------------------------------------------------------------------------------
# lifecycle server (§2)
# ----------------------------------------------------------------------------------------------

_LABEL_VALUE_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_auth(h):
    """§2.1: OPEN-SANDBOX-API-KEY, only when the server has a key configured."""
    if not CFG.api_key:
        return
    got = h.headers.get("OPEN-SANDBOX-API-KEY")
    if got is None or got == "":
        raise lc_error(401, "MISSING_API_KEY", "Authentication credentials are missing. "
                       "Provide API key via OPEN-SANDBOX-API-KEY header.")
    if not secrets.compare_digest(got.encode(), CFG.api_key.encode()):
        raise lc_error(401, "INVALID_API_KEY", "Authentication credentials are invalid. "
                       "Check your API key and try again.")


def label_error(msg):
    return lc_error(400, "SANDBOX::INVALID_METADATA_LABEL", msg)


def check_metadata(md, patch=False):
    """§0.11: Kubernetes label rules, no opensandbox.io/ prefix."""
    if not isinstance(md, dict):
        raise lc_422([{"type": "dict_type", "loc": ["body", "metadata"], "msg": "Input should be a valid dictionary",
                       "input": md}])
    for k, v in md.items():
        if k.startswith("opensandbox.io/"):
            raise label_error("Metadata key '%s' uses the reserved prefix 'opensandbox.io/'." % k)
        prefix, _, name = k.rpartition("/")
        if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix))) or \
                not name or len(name) > 63 or not _LABEL_NAME_RE.match(name):
            raise label_error("Metadata key '%s' is not a valid label key." % k)
        if v is None and patch:
            continue
        if not isinstance(v, str):
            raise lc_422([{"type": "string_type", "loc": ["body", "metadata", k],
                           "msg": "Input should be a valid string", "input": v}])
        if len(v) > 63 or not _LABEL_VALUE_RE.match(v):
            raise label_error("Metadata value '%s' for key '%s' is not a valid label value: at most 63 "
                              "characters matching [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?." % (v, k))


def missing(loc, body):
    return {"type": "missing", "loc": ["body", loc], "msg": "Field required", "input": body}


def read_json_422(h):
    """FastAPI body parsing: bad JSON -> 422 json_invalid (§0.12)."""
    try:
        return json.loads(h.body.decode("utf-8")) if h.body.strip() else None
    except (ValueError, UnicodeDecodeError) as e:
        pos = getattr(e, "pos", 0)
        raise lc_422([{"type": "json_invalid", "loc": ["body", pos], "msg": "JSON decode error",
                       "input": {}, "ctx": {"error": getattr(e, "msg", str(e))}}])


def lifecycle(h, path):
    if path in ("/health", "/v1/health"):
        raise Reply(200, py_json({"status": "healthy"}), CT_JSON)
    if path not in _AUTH_EXEMPT:
        check_auth(h)
    p = path[3:] if path.startswith("/v1/") else path
    m = h.command
    parts = [x for x in p.split("/") if x]
    if parts[:1] == ["snapshots"] or (len(parts) == 3 and parts[0] == "sandboxes" and parts[2] == "snapshots"):
        raise lc_error(501, "SANDBOX::API_NOT_SUPPORTED", "Snapshots are not supported by this runtime.")
    if parts == ["sandboxes"]:
        if m == "GET":
            return list_sandboxes(h)
        if m == "POST":
            return create_sandbox(h)
        raise Reply(405, py_json({"detail": "Method Not Allowed"}), CT_JSON)
    if len(parts) >= 2 and parts[0] == "sandboxes":
        sid = parts[1]
        rest = parts[2:]
        if rest == [] and m == "GET":
            sb = STORE.get(sid) or raise_(not_found(sid))
            raise Reply(200, py_json(sb.to_json()), CT_JSON)
        if rest == [] and m == "DELETE":
            return delete_sandbox(h, sid)
        if rest == ["metadata"] and m == "PATCH":
            return patch_metadata(h, sid)
        if rest == ["pause"] and m == "POST":
            return pause_resume(h, sid, True)
        if rest == ["resume"] and m == "POST":
            return pause_resume(h, sid, False)
        if rest == ["renew-expiration"] and m == "POST":
            return renew(h, sid)
        if len(rest) == 2 and rest[0] == "endpoints" and m == "GET":
            return endpoint(h, sid, rest[1])
    raise Reply(404, py_json({"detail": "Not Found"}), CT_JSON)


def raise_(r):
    raise r


def create_sandbox(h):
    req = read_json_422(h)
    if not isinstance(req, dict):
        raise lc_422([{"type": "model_attributes_type", "loc": ["body"],
                       "msg": "Input should be a valid dictionary or object to extract fields from",
                       "input": req}])
    has_image, has_snap = req.get("image") is not None, req.get("snapshotId") is not None
    if has_image == has_snap:
        raise lc_422([{"type": "value_error", "loc": ["body"], "input": req,
                       "msg": "Value error, Exactly one of image or snapshotId must be provided"}])
    errs = []
    if has_image:
        img = req["image"]
        if not isinstance(img, dict) or not isinstance(img.get("uri"), str) or not img.get("uri"):
            errs.append(missing("image", req) if not isinstance(img, dict) else
                        {"type": "missing", "loc": ["body", "image", "uri"], "msg": "Field required", "input": img})
        ep = req.get("entrypoint")
        if ep is None:
            errs.append(missing("entrypoint", req))
        elif not isinstance(ep, list) or not ep or not all(isinstance(x, str) for x in ep):
            errs.append({"type": "too_short", "loc": ["body", "entrypoint"], "input": ep,
                         "msg": "List should have at least 1 item after validation"})
    rl = req.get("resourceLimits")
    if rl is None and "poolRef" not in (req.get("extensions") or {}):
        errs.append(missing("resourceLimits", req))
    elif rl is not None and (not isinstance(rl, dict) or not all(isinstance(v, str) for v in rl.values())):
        errs.append({"type": "dict_type", "loc": ["body", "resourceLimits"], "input": rl,
                     "msg": "Input should be a valid dictionary"})
    t = req.get("timeout")
    if t is not None:
        if isinstance(t, bool) or not isinstance(t, int):
            errs.append({"type": "int_type", "loc": ["body", "timeout"], "input": t,
                         "msg": "Input should be a valid integer"})
        elif t < 60:
            errs.append({"type": "greater_than_equal", "loc": ["body", "timeout"], "input": t,
                         "msg": "Input should be greater than or equal to 60", "ctx": {"ge": 60}})
    env = req.get("env")
    if env is not None and (not isinstance(env, dict) or
                            not all(v is None or isinstance(v, str) for v in env.values())):
        errs.append({"type": "dict_type", "loc": ["body", "env"], "input": env,
                     "msg": "Input should be a valid dictionary"})
    np = req.get("networkPolicy")
    if np is not None:
        if not isinstance(np, dict):
            errs.append({"type": "model_type", "loc": ["body", "networkPolicy"], "input": np,
                         "msg": "Input should be a valid dictionary or instance of NetworkPolicy"})
        else:
            da = np.get("defaultAction")
            if da is not None and da not in ("allow", "deny"):
                errs.append({"type": "literal_error", "loc": ["body", "networkPolicy", "defaultAction"],
                             "input": da, "msg": "Input should be 'allow' or 'deny'"})
            for i, r in enumerate(np.get("egress") or []):
                if not isinstance(r, dict) or r.get("action") not in ("allow", "deny") or \
                        not isinstance(r.get("target"), str):
                    errs.append({"type": "value_error", "loc": ["body", "networkPolicy", "egress", i],
                                 "input": r, "msg": "Value error, invalid egress rule"})
    if errs:
        raise lc_422(errs)
    if has_snap:
        raise lc_error(501, "SANDBOX::API_NOT_SUPPORTED", "Snapshot restore is not supported by this runtime.")
    if t is not None and t > CFG.max_timeout:
        raise lc_error(400, "SANDBOX::INVALID_PARAMETER",
                       "Sandbox timeout %ds exceeds the configured maximum of %ds." % (t, CFG.max_timeout))
    if req.get("secureAccess") and CFG.runtime == "docker":
        raise lc_error(400, "SANDBOX::INVALID_PARAMETER", "secureAccess is only supported by the Kubernetes gateway.")
    if (req.get("credentialProxy") or {}).get("enabled") and np is None:
        raise lc_error(400, "SANDBOX::INVALID_PARAMETER", "credentialProxy requires networkPolicy.")
    if req.get("metadata") is not None:
        check_metadata(req["metadata"])
    if np is not None and CFG.no_egress:
        raise lc_error(400, "SANDBOX::INVALID_PARAMETER",
                       "networkPolicy requires egress.image to be configured on the server.")
    try:
        sb = Sandbox(req)
    except ValueError as e:
        raise lc_error(400, "SANDBOX::INVALID_PARAMETER", str(e))
    STORE.add(sb)
    log("created sandbox %s (%s)" % (sb.id, (sb.image or {}).get("uri")))
    raise Reply(202, py_json(sb.create_json()), CT_JSON, [("Location", "/v1/sandboxes/" + sb.id)])


def list_sandboxes(h):
    q = h.query
    errs = []

    def int_param(name, default, lo, hi):
        vals = q.get(name)
        if not vals:
            return default
        try:
            v = int(vals[-1])
        except ValueError:
            errs.append({"type": "int_parsing", "loc": ["query", name], "input": vals[-1],
                         "msg": "Input should be a valid integer, unable to parse string as an integer"})
            return default
        if v < lo:
            errs.append({"type": "greater_than_equal", "loc": ["query", name], "input": vals[-1],
                         "msg": "Input should be greater than or equal to %d" % lo, "ctx": {"ge": lo}})
        elif hi is not None and v > hi:
            errs.append({"type": "less_than_equal", "loc": ["query", name], "input": vals[-1],
                         "msg": "Input should be less than or equal to %d" % hi, "ctx": {"le": hi}})
        return v
    page = int_param("page", 1, 1, None)
    size = int_param("pageSize", 20, 1, 200)
    if errs:
        raise lc_422(errs)
    states = {s.lower() for s in q.get("state", []) if s}
    want = {}
    for raw in q.get("metadata", []):
        for seg in raw.split("&"):
            if not seg:
                continue
            if "=" not in seg:
                raise lc_error(400, "INVALID_METADATA_FORMAT",
                               "Invalid metadata filter segment '%s': expected key=value." % seg)
            k, v = seg.split("=", 1)
            want[urllib.parse.unquote(k)] = urllib.parse.unquote(v)
    items = [sb for sb in STORE.all()
             if (not states or sb.state.lower() in states)
             and all(sb.metadata.get(k) == v for k, v in want.items())]
    items.sort(key=lambda sb: sb.created_at, reverse=True)
    total = len(items)
    pages = math.ceil(total / size) if total else 0
    chunk = items[(page - 1) * size: page * size]
    raise Reply(200, py_json({"items": [sb.to_json() for sb in chunk],
                              "pagination": {"page": page, "pageSize": size, "totalItems": total,
                                             "totalPages": pages, "hasNextPage": page < pages}}), CT_JSON)


def delete_sandbox(h, sid):
    sb = STORE.get(sid)
    if sb is None:
        raise not_found(sid)
    if CFG.runtime == "kubernetes":
        with STORE.lock:
            if sb.state not in ("Stopping", "Terminated"):
                sb.kill_all(signal.SIGKILL)
                sb.set_state("Stopping", "STOPPING", "Sandbox is being deleted.")
                t0 = time.time() + CFG.transition_ms / 1000.0
                sb.at(t0, lambda t: sb.set_state("Terminated", "TERMINATED", "Sandbox was deleted.", t))
                sb.at(t0 + CFG.transition_ms / 1000.0, lambda t: STORE.remove(sb))
    else:
        STORE.remove(sb)
    log("deleted sandbox %s" % sid)
    raise Reply(204)


def patch_metadata(h, sid):
    body = read_json_422(h)
    sb = STORE.get(sid) or raise_(not_found(sid))
    if not isinstance(body, dict):
        raise lc_422([{"type": "dict_type", "loc": ["body"], "msg": "Input should be a valid dictionary",
                       "input": body}])
    check_metadata(body, patch=True)
    with STORE.lock:
        for k, v in body.items():
            if v is None:
                sb.metadata.pop(k, None)
            else:
                sb.metadata[k] = v
        sb.metadata_sent = True
    raise Reply(200, py_json(sb.to_json()), CT_JSON)


def pause_resume(h, sid, pause):
    sb = STORE.get(sid) or raise_(not_found(sid))
    k8s = CFG.runtime == "kubernetes"
    with STORE.lock:
        if pause:
            if sb.state != "Running":
                raise lc_error(409, "KUBERNETES::INVALID_STATE" if k8s else "DOCKER::SANDBOX_NOT_RUNNING",
                               "Sandbox is not in a running state.")
            if k8s:
                sb.set_state("Pausing", "PAUSING", "Sandbox is pausing.")
                sb.at(time.time() + CFG.transition_ms / 1000.0, sb.freeze)
            else:
                sb.freeze()
        else:
            if sb.state != "Paused":
                raise lc_error(409, "KUBERNETES::INVALID_STATE" if k8s else "DOCKER::SANDBOX_NOT_PAUSED",
                               "Sandbox is not in a paused state.")
            if k8s:
                sb.set_state("Resuming", "RESUMING", "Sandbox is resuming.")
                sb.at(time.time() + CFG.transition_ms / 1000.0, sb.thaw)
            else:
                sb.thaw()
    raise Reply(202)


def parse_rfc3339(s):
    if not isinstance(s, str):
        raise ValueError("not a string")
    s2 = s.strip()
    if s2.endswith("Z") or s2.endswith("z"):
        s2 = s2[:-1] + "+00:00"
    m = re.match(r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}:\d{2})?$", s2)
    if not m:
        raise ValueError("bad datetime")
    frac = (m.group(2) or "")[:7]
    dt = datetime.datetime.fromisoformat(m.group(1).replace("t", "T") + frac + (m.group(3) or "+00:00"))
    return dt.timestamp()


def renew(h, sid):
    body = read_json_422(h)
    if not isinstance(body, dict) or "expiresAt" not in body:
        raise lc_422([missing("expiresAt", body)])
    try:
        t = parse_rfc3339(body["expiresAt"])
    except ValueError:
        raise lc_422([{"type": "datetime_from_date_parsing", "loc": ["body", "expiresAt"],
                       "input": body["expiresAt"], "msg": "Input should be a valid datetime"}])
    sb = STORE.get(sid) or raise_(not_found(sid))
    pre = runtime_prefix()
    if sb.expires_at is None:
        raise lc_error(409, pre + "::INVALID_EXPIRATION",
                       "Sandbox %s does not have automatic expiration enabled." % sid)
    if t <= time.time():
        raise lc_error(400, pre + "::INVALID_EXPIRATION", "New expiration time must be in the future.")
    with STORE.lock:
        sb.expires_at = t
    raise Reply(200, py_json({"expiresAt": rfc3339_us(t)}), CT_JSON)


def endpoint(h, sid, port_s):
    try:
        port = int(port_s)
    except ValueError:
        raise lc_422([{"type": "int_parsing", "loc": ["path", "port"], "input": port_s,
                       "msg": "Input should be a valid integer, unable to parse string as an integer"}])
    sb = STORE.get(sid) or raise_(not_found(sid))
    pre = runtime_prefix()
    if not (1 <= port <= 65535):
        raise lc_error(400, pre + "::INVALID_PORT", "Port %d is out of range (1-65535)." % port)
    usp = (h.query.get("use_server_proxy") or ["false"])[-1].lower() in ("1", "true", "yes", "on")
    if h.query.get("expires"):
        if usp:
            raise lc_error(400, "SANDBOX::INVALID_PARAMETER", "expires cannot be combined with use_server_proxy.")
        raise lc_error(400, "SANDBOX::API_NOT_SUPPORTED", "Signed endpoints are not supported by this runtime.")
    host = CFG.public_host or h.headers.get("Host") or "127.0.0.1:%d" % STORE.port
    headers = {}
    mode = "proxy" if usp else CFG.endpoint_mode
    if mode == "proxy":
        ep = "%s/sandboxes/%s/proxy/%d" % (host, sid, port)
    elif mode == "uri":
        ep = "%s/%s/%d" % (host, sid, port)
    else:
        ep = host
        headers["OpenSandbox-Ingress-To"] = "%s-%d" % (sid, port)
    if port == EGRESS_PORT and sb.egress is not None:
        headers["OPENSANDBOX-EGRESS-AUTH"] = sb.egress.token
    if sb.secure_token:
        headers["OpenSandbox-Secure-Access"] = sb.secure_token
    d = {"endpoint": ep}
    if headers:
        d["headers"] = headers
    raise Reply(200, py_json(d), CT_JSON)


# ----------------------------------------------------------------------------------------------
# execd (§3)
# ----------------------------------------------------------------------------------------------


def execd(h, sb, sub):
    if sb.secure_token and h.headers.get("OpenSandbox-Secure-Access") != sb.secure_token:
        raise go_http_error(401, "Unauthorized")
    if CFG.execd_token and h.headers.get("X-EXECD-ACCESS-TOKEN") != CFG.execd_token:
        raise Reply(401, go_json({"error": "Unauthorized: invalid or missing header X-EXECD-ACCESS-TOKEN"}),
                    CT_GO_JSON)
    m = h.command
    if sub.startswith("/proxy/"):
        mm = re.match(r"^/proxy/(\d+)(/.*)?$", sub)
        if mm:
            return forward(h, int(mm.group(1)), mm.group(2) or "/", "execd", sb)
    key = (m, sub)
    simple = {
        ("GET", "/ping"): lambda: Reply(200),
        ("POST", "/command"): lambda: run_command(h, sb),
        ("DELETE", "/command"): lambda: interrupt(h, sb, "command"),
        ("DELETE", "/code"): lambda: interrupt(h, sb, "code"),
        ("POST", "/session"): lambda: create_session(h, sb),
        ("POST", "/code/context"): lambda: create_context(h, sb),
        ("GET", "/code/contexts"): lambda: list_contexts(h, sb),
        ("DELETE", "/code/contexts"): lambda: delete_contexts(h, sb),
        ("POST", "/code"): lambda: run_code(h, sb),
        ("GET", "/files/info"): lambda: files_info(h, sb),
        ("DELETE", "/files"): lambda: files_delete(h, sb),
        ("POST", "/files/permissions"): lambda: files_permissions(h, sb),
        ("POST", "/files/mv"): lambda: files_move(h, sb),
        ("GET", "/files/search"): lambda: files_search(h, sb),
        ("POST", "/files/replace"): lambda: files_replace(h, sb),
        ("POST", "/files/upload"): lambda: files_upload(h, sb),
        ("GET", "/files/download"): lambda: files_download(h, sb),
        ("GET", "/directories/list"): lambda: dirs_list(h, sb),
        ("POST", "/directories"): lambda: dirs_create(h, sb),
        ("DELETE", "/directories"): lambda: dirs_delete(h, sb),
        ("GET", "/metrics"): lambda: metrics(h, sb),
        ("GET", "/metrics/watch"): lambda: metrics_watch(h, sb),
    }
    fn = simple.get(key)
    if fn is not None:
        r = fn()
        if isinstance(r, Reply):
            raise r
        return
    mm = re.match(r"^/command/status/([^/]+)$", sub)
    if mm and m == "GET":
        return command_status(h, sb, mm.group(1))
    mm = re.match(r"^/command/([^/]+)/logs$", sub)
    if mm and m == "GET":
        return command_logs(h, sb, mm.group(1))
    mm = re.match(r"^/session/([^/]+)/run$", sub)
    if mm and m == "POST":
        return session_run(h, sb, mm.group(1))
    mm = re.match(r"^/session/([^/]+)$", sub)
    if mm and m == "DELETE":
        return delete_session(h, sb, mm.group(1))
    mm = re.match(r"^/code/contexts/([^/]+)$", sub)
    if mm and m in ("GET", "DELETE"):
        return context_by_id(h, sb, mm.group(1), m == "DELETE")
    raise Reply(404, "404 page not found", "text/plain")


def bad_body(msg):
    return ex_error(400, "INVALID_REQUEST_BODY", msg)


def ex_json_body(h):
    return json_body(h, lambda e: bad_body("invalid request body: %s" % e))


def event_ts(obj):
    obj["timestamp"] = now_ms()
    return obj


def final_event(cmd, started):
    """§0.5: execution_complete for exit 0, else error with evalue = exit code or -1."""
    if cmd.rc == 0:
        return {"type": "execution_complete", "execution_time": int((time.time() - started) * 1000),
                "timestamp": now_ms()}
    if cmd.rc is None or cmd.rc < 0:
        evalue, tb = "-1", [cmd.error or "signal: killed"]
    else:
        evalue, tb = str(cmd.rc), ["exit status %d" % cmd.rc]
    return {"type": "error", "timestamp": now_ms(),
            "error": {"ename": "CommandExecError", "evalue": evalue, "traceback": tb}}


def pump(sw, cmd, kind_map=None):
    """Relays a foreground command's output until it exits; False when the client left."""
    while True:
        if sw.dead:
            cmd.discard = True
            return False
        try:
            item = cmd.q.get(timeout=max(0.01, sw.ping_due()))
        except queue.Empty:
            sw.maybe_ping()
            if sw.dead:
                cmd.discard = True
                return False
            continue
        sw.maybe_ping()
        if item[0] == "out":
            sw.lines(kind_map.get(item[1], item[1]) if kind_map else item[1], item[2])
        elif item[0] == "exit":
            return not sw.dead
        if sw.dead:
            cmd.discard = True
            return False


def check_cwd(sb, cwd):
    if cwd is None or cwd == "":
        return sb.root
    if not isinstance(cwd, str):
        raise bad_body("invalid request, validation error: cwd must be a string")
    _, host = resolve(sb, cwd)
    if not os.path.isdir(host):
        raise bad_body("working directory does not exist: %s" % cwd)
    return host


def run_command(h, sb):
    req = ex_json_body(h)
    if not isinstance(req, dict) or not isinstance(req.get("command"), str) or not req.get("command"):
        raise bad_body("invalid request, validation error: Key: 'RunCommandRequest.Command' Error:"
                       "Field validation for 'Command' failed on the 'required' tag")
    timeout = req.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1):
        raise bad_body("invalid request, validation error: timeout must be >= 1")
    uid, gid = req.get("uid"), req.get("gid")
    if gid is not None and uid is None:
        raise bad_body("invalid request, validation error: gid requires uid")
    envs = req.get("envs") or {}
    if not isinstance(envs, dict):
        raise bad_body("invalid request, validation error: envs must be an object")
    cwd = check_cwd(sb, req.get("cwd"))
    bg = bool(req.get("background"))
    cmd = Command(sb, req["command"], background=bg)
    sw = StreamWriter(h, sb)
    started = time.time()
    try:
        cmd.launch([bash_path(), "-c", req["command"]], cwd, sb.process_env(envs), timeout_ms=timeout,
                   uid=uid, gid=gid)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        cmd.fail_start(str(e))
        sb.commands[cmd.id] = cmd
        sw.begin()
        sw.event(event_ts({"type": "init", "text": cmd.id}))
        sw.event({"type": "error", "timestamp": now_ms(),
                  "error": {"ename": "CommandExecError", "evalue": str(e), "traceback": [str(e)]}})
        sw.tail(CFG.tail_ms)
        return sw.end()
    sb.commands[cmd.id] = cmd
    sw.begin()
    sw.event(event_ts({"type": "init", "text": cmd.id}))
    if bg:
        if not sw.dead:
            sw.event({"type": "execution_complete", "execution_time": int((time.time() - started) * 1000),
                      "timestamp": now_ms()})
    elif pump(sw, cmd):
        sw.event(final_event(cmd, started))
    if sw.dead:
        return sw.end()
    sw.tail(CFG.tail_ms)
    sw.end()


def interrupt(h, sb, what):
    """§3.2: DELETE /command?id= (also /code?id= and bash-session ids)."""
    ids = h.query.get("id") or [""]
    cid = ids[0]
    if not cid:
        raise ex_error(400, "MISSING_QUERY", "missing query parameter: id")
    cmd = sb.commands.get(cid)
    if cmd is not None:
        if not cmd.running or cmd.proc is None:
            raise ex_error(500, "RUNTIME_ERROR", "error interruptting code context. command session %s is not running" % cid)
        cmd.interrupt()
        raise Reply(200)
    sess = sb.sessions.pop(cid, None)
    if sess is not None:
        sess.close()
        raise Reply(200)
    ctx = sb.contexts.get(cid)
    if ctx is not None:
        ctx.interrupt()
        raise Reply(200)
    raise ex_error(500, "RUNTIME_ERROR", "error interruptting code context. %s: no such session" % cid)


def command_status(h, sb, cid):
    cmd = sb.commands.get(cid)
    if cmd is None:
        raise ex_error(404, "INVALID_REQUEST_BODY", "command not found: %s" % cid)
    raise Reply(200, go_json(cmd.status_json()), CT_GO_JSON)


def command_logs(h, sb, cid):
    """§0.8: byte cursor into the combined output of a background command."""
    cmd = sb.commands.get(cid)
    if cmd is None or not cmd.background:
        raise bad_body("command not found or not a background command: %s" % cid)
    try:
        cursor = int((h.query.get("cursor") or ["0"])[0] or 0)
        if cursor < 0:
            raise ValueError
    except ValueError:
        raise bad_body("invalid cursor")
    try:
        with open(cmd.log_path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            start = min(cursor, size)
            f.seek(start)
            data = f.read(size - start)
    except OSError:
        data, size = b"", 0
    end = max(cursor, size) if cursor > size else size
    raise Reply(200, data, CT_GO_TEXT, [("EXECD-COMMANDS-TAIL-CURSOR", str(end))])


# bash sessions (§3.3) -----------------------------------------------------------------------

def create_session(h, sb):
    req = ex_json_body(h) or {}
    cwd = req.get("cwd") if isinstance(req, dict) else None
    if cwd:
        _, host = resolve(sb, cwd)
        os.makedirs(host, exist_ok=True)
    else:
        host = sb.root
    sess = BashSession(sb, host)
    sb.sessions[sess.id] = sess
    raise Reply(200, go_json({"session_id": sess.id}), CT_GO_JSON)


def delete_session(h, sb, sid):
    sess = sb.sessions.pop(sid, None)
    if sess is None:
        raise ex_error(404, "CONTEXT_NOT_FOUND", "session %s not found" % sid)
    sess.close()
    raise Reply(200)


def session_run(h, sb, sid):
    req = ex_json_body(h)
    if not isinstance(req, dict) or not isinstance(req.get("command"), str) or not req["command"]:
        raise bad_body("invalid request, validation error: command is required")
    sess = sb.sessions.get(sid)
    if sess is None:
        raise ex_error(500, "RUNTIME_ERROR", "error running in session. context not found")
    timeout = req.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0):
        raise bad_body("invalid request, validation error: timeout must be >= 0")
    cwd = check_cwd(sb, req["cwd"]) if req.get("cwd") else sess.cwd
    cmd = Command(sb, req["command"], kind="session")
    sw = StreamWriter(h, sb)
    started = time.time()
    cmd.launch([bash_path(), "--noprofile", "--norc", "-c", sess.script(req["command"], cwd)], cwd,
               sb.process_env(), timeout_ms=None, merge=True)
    sess.current = cmd
    timer = None
    if timeout:
        timer = threading.Timer(timeout / 1000.0, cmd._on_timeout)
        timer.daemon = True
        timer.start()
    sw.begin()
    sw.event(event_ts({"type": "init", "text": sess.id}))
    ok = pump(sw, cmd)
    if timer:
        timer.cancel()
    sess.after_run()
    if ok:
        if cmd.timed_out:
            sw.raw(go_json({"code": "RUNTIME_ERROR",
                            "message": "error running in session. timeout after %s" % go_duration_ms(timeout)}))
        else:
            sw.event(final_event(cmd, started))
    sw.end()     # no tail for sessions (§3.3)


# code interpreting (§3.4) -------------------------------------------------------------------

def has_interpreter(sb):
    if CFG.code_interpreter == "always":
        return True
    if CFG.code_interpreter == "never":
        return False
    return "code-interpreter" in ((sb.image or {}).get("uri") or "")


def create_context(h, sb):
    req = ex_json_body(h) or {}
    if not isinstance(req, dict):
        raise bad_body("invalid request body")
    lang = req.get("language") or "python"
    if not has_interpreter(sb):
        # Real execd retries the Jupyter connection with an uncapped backoff: the request
        # hangs. CHOICE: hang until the client leaves or 60 s pass, then 500.
        end = time.monotonic() + 60
        while time.monotonic() < end:
            time.sleep(0.2)
            if peer_closed(h.connection):
                h.close_connection = True
                return
        raise ex_error(500, "RUNTIME_ERROR", "error creating context: jupyter server not reachable")
    if lang != "python":
        raise ex_error(500, "RUNTIME_ERROR", "error creating context: language %s is not available" % lang)
    cwd = check_cwd(sb, req.get("cwd"))
    ctx = CodeContext(sb, lang, cwd)
    sb.contexts[ctx.id] = ctx
    raise Reply(200, go_json({"id": ctx.id, "language": lang}), CT_GO_JSON)


def list_contexts(h, sb):
    lang = (h.query.get("language") or [""])[0]
    if lang in ("command", "background-command", "sql"):
        raise ex_error(500, "RUNTIME_ERROR", "error listing contexts: unsupported language %s" % lang)
    out = [{"id": c.id, "language": c.language} for c in list(sb.contexts.values())
           if not lang or c.language == lang]
    raise Reply(200, go_json(out), CT_GO_JSON)


def delete_contexts(h, sb):
    lang = (h.query.get("language") or [""])[0]
    if not lang:
        raise ex_error(400, "MISSING_QUERY", "missing query parameter: language")
    for cid, c in list(sb.contexts.items()):
        if c.language == lang:
            c.close()
            sb.contexts.pop(cid, None)
            if sb.default_ctx.get(lang) is c:
                del sb.default_ctx[lang]
    raise Reply(200)


def context_by_id(h, sb, cid, delete):
    c = sb.contexts.get(cid)
    if c is None:
        raise ex_error(404, "CONTEXT_NOT_FOUND", "context %s not found" % cid)
    if delete:
        c.close()
        sb.contexts.pop(cid, None)
        for k, v in list(sb.default_ctx.items()):
            if v is c:
                del sb.default_ctx[k]
        raise Reply(200)
    raise Reply(200, go_json({"id": c.id, "language": c.language}), CT_GO_JSON)


def run_code(h, sb):
    req = ex_json_body(h)
    if not isinstance(req, dict) or not isinstance(req.get("code"), str):
        raise bad_body("invalid request, validation error: code is required")
    ctxreq = req.get("context") or {}
    if not isinstance(ctxreq, dict):
        raise bad_body("invalid request, validation error: context must be an object")
    cid, lang = ctxreq.get("id"), ctxreq.get("language")
    if not cid and not lang:
        return run_shell_code(h, sb, req["code"])
    if not has_interpreter(sb):
        raise ex_error(500, "RUNTIME_ERROR", "error running codes language runtime server not configured, "
                       "please check your image runtime")
    if cid:
        ctx = sb.contexts.get(cid)
        if ctx is None:
            raise ex_error(404, "CONTEXT_NOT_FOUND", "context %s not found" % cid)
    else:
        if lang != "python":
            raise ex_error(500, "RUNTIME_ERROR", "error running codes: language %s is not available" % lang)
        ctx = sb.default_ctx.get(lang)
        if ctx is None or ctx.id not in sb.contexts:
            ctx = CodeContext(sb, lang, sb.root)
            sb.contexts[ctx.id] = ctx
            sb.default_ctx[lang] = ctx
    if not ctx.busy.acquire(blocking=False):
        raise ex_error(500, "RUNTIME_ERROR", "error running codes: session is busy")
    released = []

    def release():
        # The kernel is idle once it answered: free it before the final event goes out,
        # so a client that closes at that event can run the next cell at once.
        if not released:
            released.append(True)
            ctx.busy.release()
    try:
        run_cell(h, sb, ctx, req["code"], release)
    finally:
        release()


def run_cell(h, sb, ctx, code, release=lambda: None):
    sw = StreamWriter(h, sb)
    started = time.time()
    while not ctx.q.empty():       # drop leftovers of an interrupted cell
        try:
            ctx.q.get_nowait()
        except queue.Empty:
            break
    ctx.send(code)
    ctx.count += 1
    sw.begin()
    sw.event(event_ts({"type": "init", "text": ctx.id}))
    sw.event(event_ts({"type": "status", "text": "busy"}))
    sw.event(event_ts({"type": "execution_count", "execution_count": ctx.count}))
    while not sw.dead:
        try:
            m = ctx.q.get(timeout=max(0.01, sw.ping_due()))
        except queue.Empty:
            sw.maybe_ping()
            continue
        t = m.get("t")
        if t in ("stdout", "stderr"):
            sw.event(event_ts({"type": t, "text": m["text"]}))
        elif t == "result":
            sw.event({"type": "result", "timestamp": now_ms(), "results": {"text": m["text"]}})
        elif t == "done":
            release()
            sw.event({"type": "execution_complete", "execution_time": int((time.time() - started) * 1000),
                      "timestamp": now_ms()})
            break
        elif t == "error":
            release()
            sw.event({"type": "error", "timestamp": now_ms(),
                      "error": {"ename": m.get("ename", "Error"), "evalue": m.get("evalue", ""),
                                "traceback": m.get("traceback", [])}})
            break
        elif t == "eof":
            sw.event({"type": "error", "timestamp": now_ms(),
                      "error": {"ename": "DeadKernelError", "evalue": "kernel died", "traceback": []}})
            break
    sw.end()


def run_shell_code(h, sb, code):
    """POST /code without a language: a shell command, foreground semantics, no tail."""
    cmd = Command(sb, code)
    sw = StreamWriter(h, sb)
    started = time.time()
    cmd.launch([bash_path(), "-c", code], sb.root, sb.process_env())
    sb.commands[cmd.id] = cmd
    sw.begin()
    sw.event(event_ts({"type": "init", "text": cmd.id}))
    if pump(sw, cmd):
        sw.event(final_event(cmd, started))
    sw.end()


# files and directories (§3.5) ---------------------------------------------------------------

def q_paths(h):
    paths = [p for p in h.query.get("path", []) if p != ""]
    if not paths:
        raise ex_error(400, "MISSING_QUERY", "missing query parameter: path")
    return paths


def not_found_file(p):
    return ex_error(404, "FILE_NOT_FOUND", "file not found: %s" % p)


def files_info(h, sb):
    out = {}
    for p in q_paths(h):
        v, host = resolve(sb, p, follow=False)
        if not os.path.lexists(host):
            raise not_found_file(p)
        out[p] = file_info(v, host)
    raise Reply(200, go_json(out), CT_GO_JSON)


def files_delete(h, sb):
    for p in q_paths(h):
        _, host = resolve(sb, p, follow=False)
        if not os.path.lexists(host):
            continue
        if os.path.isdir(host) and not os.path.islink(host):
            raise ex_error(500, "RUNTIME_ERROR", "error removing file %s: path is a directory" % p)
        os.unlink(host)
    raise Reply(200)


def files_permissions(h, sb):
    req = ex_json_body(h)
    if not isinstance(req, dict):
        raise bad_body("invalid request body: expected an object keyed by path")
    for p, spec in req.items():
        if not isinstance(spec, dict):
            raise bad_body("invalid request body: permission for %s must be an object" % p)
        mode = parse_mode(spec.get("mode"))
        _, host = resolve(sb, p)
        if not os.path.lexists(host):
            raise ex_error(500, "RUNTIME_ERROR", "error changing permissions of %s: no such file or directory" % p)
        if mode:
            os.chmod(host, mode)
        apply_owner(host, spec.get("owner"), spec.get("group"))
    raise Reply(200)


def files_move(h, sb):
    req = ex_json_body(h)
    if not isinstance(req, list):
        raise bad_body("invalid request body: expected an array of {src, dest}")
    for item in req:
        if not isinstance(item, dict) or not item.get("src") or not item.get("dest"):
            raise bad_body("invalid request body: src and dest are required")
        _, src = resolve(sb, item["src"], follow=False)
        _, dst = resolve(sb, item["dest"], follow=False)
        if not os.path.lexists(src):
            raise not_found_file(item["src"])
        if os.path.lexists(dst):
            raise ex_error(500, "RUNTIME_ERROR", "error moving %s: destination path already exists" % item["src"])
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.rename(src, dst)
    raise Reply(200)


def glob_regex(pat):
    """doublestar syntax: ** crosses separators, * and ? do not, [..] classes, {a,b} alternatives."""
    out, i = "", 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pat.startswith("**", i):
            out, i = out + ".*", i + 2
        elif c == "*":
            out, i = out + "[^/]*", i + 1
        elif c == "?":
            out, i = out + "[^/]", i + 1
        elif c == "[":
            j = pat.find("]", i + 2)
            if j < 0:
                raise ValueError("syntax error in pattern")
            cls = pat[i + 1:j]
            neg = cls[:1] in ("!", "^")
            if neg:
                cls = cls[1:]
            out, i = out + "[" + ("^" if neg else "") + cls.replace("\\", "\\\\") + "]", j + 1
        elif c == "{":
            j = pat.find("}", i)
            if j < 0:
                raise ValueError("syntax error in pattern")
            alts = [glob_regex(a)[1:-1] for a in pat[i + 1:j].split(",")]
            out, i = out + "(?:" + "|".join(alts) + ")", j + 1
        elif c == "\\" and i + 1 < len(pat):
            out, i = out + re.escape(pat[i + 1]), i + 2
        else:
            out, i = out + re.escape(c), i + 1
    return "^" + out + "$"


def files_search(h, sb):
    """Files only, matched on base names, symlinks not followed (§3.5)."""
    paths = q_paths(h)
    pattern = (h.query.get("pattern") or ["**"])[0] or "**"
    v, host = resolve(sb, paths[0])
    if not os.path.isdir(host):
        raise not_found_file(paths[0])
    try:
        rx = re.compile(glob_regex(pattern))
    except (ValueError, re.error):
        raise ex_error(500, "RUNTIME_ERROR", "error searching files: syntax error in pattern")
    out = []
    for dirpath, dirnames, filenames in os.walk(host, followlinks=False, onerror=lambda e: None):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            full = os.path.join(dirpath, name)
            if os.path.isdir(full) and not os.path.islink(full):
                continue
            if rx.match(name):
                out.append(file_info(sb.to_virtual(full), full))
    raise Reply(200, go_json(out), CT_GO_JSON)


def files_replace(h, sb):
    req = ex_json_body(h)
    if not isinstance(req, dict):
        raise bad_body("invalid request body: expected an object keyed by path")
    verbose = (h.query.get("verbose") or ["false"])[0].lower() == "true"
    counts = {}
    for p, spec in req.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("old"), str) or spec.get("old") == "":
            raise bad_body("invalid request body: old must be a non-empty string for %s" % p)
        new = spec.get("new") or ""
        _, host = resolve(sb, p)
        if not os.path.isfile(host):
            raise not_found_file(p)
        with open(host, "rb") as f:
            data = f.read()
        old_b, new_b = spec["old"].encode(), new.encode()
        counts[p] = {"replacedCount": data.count(old_b)}
        with open(host, "wb") as f:
            f.write(data.replace(old_b, new_b))
    if verbose:
        raise Reply(200, go_json(counts), CT_GO_JSON)
    raise Reply(200)


def parse_multipart(h):
    ctype = h.headers.get("Content-Type", "")
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    if not ctype.lower().startswith("multipart/form-data") or not m:
        raise ex_error(400, "INVALID_FILE", "request Content-Type isn't multipart/form-data")
    sep = b"--" + m.group(1).encode()
    segs = h.body.split(sep)
    parts = []
    for seg in segs[1:]:
        if seg.startswith(b"--"):
            break
        if seg.startswith(b"\r\n"):
            seg = seg[2:]
        head, brk, data = seg.partition(b"\r\n\r\n")
        if not brk:
            raise ex_error(400, "INVALID_FILE", "malformed multipart body")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        hdrs = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        cd = hdrs.get("content-disposition", "")
        name = re.search(r'(?:^|;)\s*name="([^"]*)"', cd)
        fname = re.search(r'(?:^|;)\s*filename="([^"]*)"', cd)
        parts.append({"name": name.group(1) if name else None,
                      "filename": fname.group(1) if fname else None, "data": data})
    return parts


def files_upload(h, sb):
    """§0.9: metadata/file pairs, both must be file parts (with a filename)."""
    parts = parse_multipart(h)
    metas = [p for p in parts if p["name"] == "metadata" and p["filename"] is not None]
    files = [p for p in parts if p["name"] == "file" and p["filename"] is not None]
    if not metas:
        raise ex_error(400, "INVALID_FILE_METADATA", "metadata file is missing")
    if not files:
        raise ex_error(400, "INVALID_FILE", "file is missing")
    if len(metas) != len(files):
        raise ex_error(400, "INVALID_FILE", "metadata and file count mismatch")
    for meta, f in zip(metas, files):
        try:
            md = json.loads(meta["data"])
        except ValueError as e:
            raise ex_error(400, "INVALID_FILE_METADATA", "invalid file metadata: %s" % e)
        if not isinstance(md, dict) or not md.get("path"):
            raise ex_error(400, "INVALID_FILE_METADATA", "invalid file metadata: path is required")
        mode = parse_mode(md.get("mode"))
        _, host = resolve(sb, md["path"])
        if os.path.isdir(host):
            raise ex_error(500, "RUNTIME_ERROR", "error writing file %s: is a directory" % md["path"])
        os.makedirs(os.path.dirname(host), exist_ok=True)
        fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o777)
        try:
            view = memoryview(f["data"])
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if mode:
            os.chmod(host, mode)
        apply_owner(host, md.get("owner"), md.get("group"))
    raise Reply(200)


def files_download(h, sb):
    p = q_paths(h)[0]
    v, host = resolve(sb, p)
    if not os.path.exists(host):
        raise not_found_file(p)
    if os.path.isdir(host):
        raise ex_error(500, "RUNTIME_ERROR", "error downloading %s: is a directory" % p)
    st = os.stat(host)
    size = st.st_size
    name = os.path.basename(host)
    try:
        name.encode("ascii")
        disp = 'attachment; filename="%s"' % name
    except UnicodeEncodeError:
        disp = "attachment; filename*=UTF-8''%s" % urllib.parse.quote(name)
    hdrs = [("Content-Type", "application/octet-stream"), ("Content-Disposition", disp),
            ("Accept-Ranges", "bytes"), ("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))]
    rng = h.headers.get("Range")
    start, length, status = 0, size, 200
    if rng:
        spec = rng.strip()
        first = spec[6:].split(",")[0].strip() if spec.startswith("bytes=") else ""
        a, dash, b = first.partition("-")
        a, b = a.strip(), b.strip()
        if not dash or (a and not a.isdigit()) or (b and not b.isdigit()) or (not a and not b) or \
                (a and b and int(b) < int(a)):
            raise Reply(416, go_json({"code": "UNKNOWN", "message": "invalid range %s" % rng}), CT_GO_JSON)
        if not a:
            n = int(b)
            if n == 0 or size == 0:
                raise Reply(416, "invalid range: failed to overlap\n", CT_GO_TEXT,
                            [("Content-Range", "bytes */%d" % size)])
            start = max(0, size - n)
            end = size - 1
        else:
            start = int(a)
            if start >= size:
                raise Reply(416, "invalid range: failed to overlap\n", CT_GO_TEXT,
                            [("Content-Range", "bytes */%d" % size)])
            end = min(int(b), size - 1) if b else size - 1
        length, status = end - start + 1, 206
        hdrs.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
    with open(host, "rb") as f:
        f.seek(start)
        h.reply_file(status, f, length, hdrs)


def dirs_list(h, sb):
    p = q_paths(h)[0]
    try:
        depth = int((h.query.get("depth") or ["1"])[0])
        if depth < 0:
            raise ValueError
    except ValueError:
        raise bad_body("invalid depth")
    v, host = resolve(sb, p, follow=False)
    if not os.path.lexists(host):
        raise not_found_file(p)
    if os.path.islink(host):
        raise bad_body("path is a symlink: %s" % p)
    if not os.path.isdir(host):
        raise bad_body("path is not a directory: %s" % p)
    out = []

    def walk(hdir, vdir, d):
        try:
            names = sorted(os.listdir(hdir))
        except OSError:
            return
        for name in names:
            hp, vp = os.path.join(hdir, name), posixpath.join(vdir, name)
            try:
                out.append(file_info(vp, hp))
            except OSError:
                continue
            if d > 1 and os.path.isdir(hp) and not os.path.islink(hp):
                walk(hp, vp, d - 1)
    if depth > 0:
        walk(host, v, depth)
    raise Reply(200, go_json(out), CT_GO_JSON)


def dirs_create(h, sb):
    req = ex_json_body(h)
    if not isinstance(req, dict):
        raise bad_body("invalid request body: expected an object keyed by path")
    for p, spec in req.items():
        spec = spec if isinstance(spec, dict) else {}
        mode = parse_mode(spec.get("mode"))
        _, host = resolve(sb, p)
        if os.path.lexists(host) and not os.path.isdir(host):
            raise ex_error(500, "RUNTIME_ERROR", "error creating directory %s: file exists" % p)
        os.makedirs(host, exist_ok=True)
        if mode:
            os.chmod(host, mode)
        apply_owner(host, spec.get("owner"), spec.get("group"))
    raise Reply(200)


def dirs_delete(h, sb):
    for p in q_paths(h):
        v, host = resolve(sb, p, follow=False)
        if v == "/":
            raise ex_error(500, "RUNTIME_ERROR", "error removing directory /: refusing to remove the root")
        if os.path.islink(host) or os.path.isfile(host):
            os.unlink(host)
        elif os.path.isdir(host):
            shutil.rmtree(host)
    raise Reply(200)


# metrics (§3.6) -----------------------------------------------------------------------------

def _cpu_times():
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals), idle


def sample_metrics():
    try:
        t1, i1 = _cpu_times()
        time.sleep(0.1)
        t2, i2 = _cpu_times()
        used = 100.0 * (1 - (i2 - i1) / max(1, t2 - t1)) * (os.cpu_count() or 1)
        mem = {}
        with open("/proc/meminfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                mem[k] = int(v.split()[0])
        total = mem.get("MemTotal", 0) / 1024.0
        avail = mem.get("MemAvailable", mem.get("MemFree", 0)) / 1024.0
        return {"cpu_count": os.cpu_count() or 1, "cpu_used_pct": go_float(used),
                "mem_total_mib": go_float(total), "mem_used_mib": go_float(total - avail),
                "timestamp": now_ms()}
    except (OSError, ValueError, IndexError) as e:
        return {"error": str(e)}


def metrics(h, sb):
    m = sample_metrics()
    if "error" in m:
        raise ex_error(500, "RUNTIME_ERROR", "error getting metrics: " + m["error"])
    raise Reply(200, go_json(m), CT_GO_JSON)


def metrics_watch(h, sb):
    sw = StreamWriter(h, sb)
    sw.begin()
    while not sw.dead:
        sw.raw(go_json(sample_metrics()) + b"\n")
        time.sleep(CFG.metrics_watch_ms / 1000.0)
    sw.end()


# ----------------------------------------------------------------------------------------------
# egress sidecar (§4)
# ----------------------------------------------------------------------------------------------

def egress_json(obj, status=200):
    return Reply(status, json.dumps(obj, separators=(",", ":")).encode() + b"\n", "application/json")


def egress(h, sb, sub):
    eg = sb.egress
    m = h.command
    if sub == "/healthz" and m == "GET":
        raise Reply(200, "ok", "text/plain; charset=utf-8")
    if eg.token and h.headers.get("OPENSANDBOX-EGRESS-AUTH") != eg.token:
        raise go_http_error(401, "unauthorized")
    if sub.startswith("/credential-vault"):
        raise go_http_error(412, "credential proxy is not enabled")
    if sub != "/policy":
        raise Reply(404, "404 page not found\n", CT_GO_TEXT)
    body = h.body.strip()
    with sb.lock:
        if m == "GET":
            raise egress_json({"status": "ok", "mode": eg.mode(), "enforcementMode": CFG.enforcement_mode,
                               "policy": eg.policy()})
        if m == "PATCH":
            if not body:
                raise go_http_error(400, "empty body")
            try:
                rules = json.loads(body)
                if not isinstance(rules, list):
                    raise ValueError("expected an array of rules")
                if not rules:
                    raise ValueError("empty array")
                incoming = Egress.norm_rules(rules, "invalid patch rules")
            except ValueError as e:
                msg = str(e)
                raise go_http_error(400, msg if msg.startswith("invalid patch rules") else "invalid patch rules: " + msg)
            merged, seen = [], set()
            for r in incoming + (eg.rules or []):
                t = r["target"].lower()
                if t not in seen:
                    seen.add(t)
                    merged.append(r)
            if len(merged) > CFG.egress_max_rules:
                raise go_http_error(400, "invalid patch rules: too many rules (max %d)" % CFG.egress_max_rules)
            eg.rules = merged
            raise egress_json({"status": "ok", "mode": eg.mode(), "enforcementMode": CFG.enforcement_mode})
        if m == "DELETE":
            try:
                targets = json.loads(body) if body else None
                if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                    raise ValueError
            except ValueError:
                raise go_http_error(400, "invalid delete body: expected an array of targets")
            drop = {t.strip().lower() for t in targets}
            before = eg.rules or []
            after = [r for r in before if r["target"].lower() not in drop]
            d = {"status": "ok"}
            eg.rules = after if eg.rules is not None else None
            d.update({"mode": eg.mode(), "enforcementMode": CFG.enforcement_mode})
            if len(after) == len(before):
                d["reason"] = "no matching targets found"
            raise egress_json(d)
        if m in ("POST", "PUT"):
            try:
                pol = json.loads(body) if body else None
            except ValueError as e:
                raise go_http_error(400, "invalid policy: %s" % e)
            if not pol:
                eg.default, eg.rules = "deny", None
                raise egress_json({"status": "ok", "mode": "deny_all", "reason": "policy reset to default deny-all"})
            if not isinstance(pol, dict):
                raise go_http_error(400, "invalid policy: expected an object")
            try:
                eg.replace(pol)
            except ValueError as e:
                raise go_http_error(400, str(e))
            raise egress_json({"status": "ok", "mode": eg.mode(), "enforcementMode": CFG.enforcement_mode})
    raise go_http_error(405, "method not allowed")


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description="fake OpenSandbox (lifecycle + execd + egress on one port)")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0 = ephemeral)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind")
    ap.add_argument("--api-key", default=None, help="require this OPEN-SANDBOX-API-KEY (default: no auth)")
    ap.add_argument("--execd-token", default=None, help="require this X-EXECD-ACCESS-TOKEN on execd")
    ap.add_argument("--runtime", choices=("docker", "kubernetes"), default="docker")
    ap.add_argument("--endpoint-mode", choices=("proxy", "uri", "header"), default="proxy")
    ap.add_argument("--public-host", default=None, help="host[:port] used in endpoints (default: Host header)")
    ap.add_argument("--start-delay-ms", type=int, default=200, help="Pending time after create (0 = Running at once)")
    ap.add_argument("--transition-ms", type=int, default=300, help="kubernetes Pausing/Resuming/Stopping time")
    ap.add_argument("--execd-ready-ms", type=int, default=0, help="execd answers 502 this long after Running")
    ap.add_argument("--tail-ms", type=int, default=1000, help="silence after the last event of POST /command")
    ap.add_argument("--ping-ms", type=int, default=3000, help="ping event interval")
    ap.add_argument("--metrics-watch-ms", type=int, default=2000)
    ap.add_argument("--max-timeout", type=int, default=86400, help="server.max_sandbox_timeout_seconds")
    ap.add_argument("--egress-max-rules", type=int, default=4096)
    ap.add_argument("--enforcement-mode", choices=("dns", "dns+nft"), default="dns")
    ap.add_argument("--no-egress", action="store_true", help="no egress.image configured: networkPolicy -> 400")
    ap.add_argument("--code-interpreter", choices=("auto", "always", "never"), default="auto",
                    help="which sandboxes have Jupyter: auto = images whose name contains 'code-interpreter'")
    ap.add_argument("--keep-dirs", action="store_true", help="keep sandbox directories after delete")
    ap.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin closes (parent died)")
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    return ap.parse_args(argv)


def main(argv=None):
    global CFG
    CFG = parse_args(sys.argv[1:] if argv is None else argv)
    STORE.base = tempfile.mkdtemp(prefix="fake-opensandbox-")
    srv = Server((CFG.host, CFG.port), Handler)
    STORE.port = srv.server_address[1]
    threading.Thread(target=reaper, daemon=True).start()

    def cleanup(*_):
        for sb in list(STORE.sandboxes.values()):
            try:
                sb.destroy()
            except Exception:
                pass
        shutil.rmtree(STORE.base, ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, cleanup)
    signal.signal(signal.SIGINT, cleanup)
    if CFG.exit_on_stdin_eof:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except OSError:
                pass
            cleanup()
        threading.Thread(target=watch_stdin, daemon=True).start()
    sys.stdout.write("PORT %d\n" % STORE.port)
    sys.stdout.flush()
    log("listening on %s:%d (runtime %s, endpoints %s)" % (CFG.host, STORE.port, CFG.runtime, CFG.endpoint_mode))
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
