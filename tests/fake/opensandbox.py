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
                per context ("kernel"); --no-code-interpreter turns every /code* route into 404.
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

    def tail(self, ms):
        """§0.6: the stream stays open ~1 s after the last event (pings may still come)."""
        end = time.monotonic() + ms / 1000.0
        while not self.dead:
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, self.ping_due() + 0.001))
            self.maybe_ping()

    def end(self):
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
