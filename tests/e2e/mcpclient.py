"""mcpclient.py -- a small MCP stdio client and TAP helpers for the end-to-end tests.

Starts the binary under test ($SANDBOX_MCP_BIN) as a child, writes JSON-RPC lines to its
stdin and reads its stdout on a thread, checking that every stdout line is one JSON
object (stdout must carry protocol messages only). Written from the MCP specification,
not from the server's code.
"""
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.environ.get("SANDBOX_MCP_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "test", "sandbox-mcp")


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        if not cond:
            self.failed += 1
        print(("ok" if cond else "not ok") + " %d - %s" % (self.n, desc), flush=True)
        if not cond and diag is not None:
            for line in str(diag).splitlines()[:40]:
                print("#   " + line, flush=True)
        return cond

    def eq(self, got, want, desc):
        return self.ok(got == want, desc, "got:  %r\nwant: %r" % (got, want))

    def skip(self, desc, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, desc, why), flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


class Server:
    """One running sandbox-mcp process speaking MCP over stdio."""

    def __init__(self, args=(), env=None, local_root=None):
        self.root = local_root or tempfile.mkdtemp(prefix="smcp-e2e-")
        e = dict(os.environ)
        for k in ("OPEN_SANDBOX_DOMAIN", "OPEN_SANDBOX_API_KEY", "X_API_KEY", "E2B_API_KEY",
                  "E2B_DOMAIN", "SANDBOX_MCP_BACKEND"):
            e.pop(k, None)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        if env:
            e.update(env)
        argv = [BIN] + list(args)
        if not any(a.startswith("--backend") for a in args) and "SANDBOX_MCP_BACKEND" not in (env or {}):
            argv += ["--local-root", self.root]
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=e)
        self.q = queue.Queue()
        self.bad_lines = []
        self.stderr_chunks = []
        self.next_id = 100
        self.pending = []   # messages read but not yet consumed
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for line in self.p.stdout:
            try:
                msg = json.loads(line)
                if not isinstance(msg, (dict, list)):
                    raise ValueError("not an object")
                self.q.put(msg)
            except ValueError:
                self.bad_lines.append(line)
        self.q.put(None)

    def _read_err(self):
        for chunk in iter(lambda: self.p.stderr.read1(65536), b""):
            self.stderr_chunks.append(chunk)

    @property
    def stderr(self):
        return b"".join(self.stderr_chunks).decode("utf-8", "replace")

    def send(self, obj):
        data = obj if isinstance(obj, (bytes, bytearray)) else json.dumps(obj).encode()
        self.p.stdin.write(data + b"\n")
        self.p.stdin.flush()

    def recv(self, timeout=30):
        if self.pending:
            return self.pending.pop(0)
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None

    def wait_for(self, pred, timeout=30, keep=True):
        """Returns the first message matching pred; others are kept (in order) for later."""
        end = time.time() + timeout
        skipped = []
        found = None
        while True:
            left = end - time.time()
            if left <= 0:
                break
            m = self.recv(timeout=left)
            if m is None:
                break
            if pred(m):
                found = m
                break
            skipped.append(m)
        if keep:
            self.pending = skipped + self.pending
        return found

    def response(self, rid, timeout=60):
        return self.wait_for(lambda m: isinstance(m, dict) and m.get("id") == rid and
                             "method" not in m, timeout)

    def request(self, method, params=None, rid=None, timeout=60):
        if rid is None:
            self.next_id += 1
            rid = self.next_id
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.response(rid, timeout)

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def initialize(self, version="2025-11-25"):
        r = self.request("initialize", {"protocolVersion": version, "capabilities": {},
                                        "clientInfo": {"name": "e2e", "version": "1"}})
        self.notify("notifications/initialized")
        return r

    def call(self, name, args=None, timeout=120, meta=None):
        params = {"name": name, "arguments": args or {}}
        if meta:
            params["_meta"] = meta
        r = self.request("tools/call", params, timeout=timeout)
        return r

    def close(self, timeout=30):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None


def structured(resp):
    """structuredContent of a tools/call response (or {} when missing)."""
    if not resp or "result" not in resp:
        return {}
    return resp["result"].get("structuredContent") or {}


def text_of(resp):
    if not resp or "result" not in resp:
        return ""
    return "".join(c.get("text", "") for c in resp["result"].get("content", [])
                   if c.get("type") == "text")


def is_error(resp):
    return bool(resp and resp.get("result", {}).get("isError"))
