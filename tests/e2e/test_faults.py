#!/usr/bin/env python3
"""End-to-end: sandbox-mcp under network faults, through tests/net/faultproxy.py.

The proxy sits between the binary and each fake platform (opensandbox via --domain, e2b via
--api-url/--sandbox-url). Checks: byte-by-byte delivery still gives correct results; a reset
or clean close mid-response is an isError result with one sentence and the server keeps
answering; a stall is ended by --timeout-s (or exec's timeout_s) with a sentence naming the
timeout; a stale pooled connection is replaced transparently; notifications/cancelled during
a stalled request frees the server and sends no response; no sanitizer report. TAP, stdlib.
"""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "net"))
from mcpclient import BIN, Server, Tap, is_error, structured, text_of  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

ROOT = os.path.join(HERE, "..", "..")
KEY = "sk-FAULTS-key-5d1e"
T = Tap()
TOOLS_BOUND = 30  # generous bound (s) for any faulted call to come back


class Fake:
    def __init__(self, kind, *args):
        path = os.path.join(ROOT, "tests", "fake", kind + ".py")
        extra = ["--start-delay-ms", "0"] if kind == "opensandbox" else []
        self.p = subprocess.Popen([sys.executable, path, "--port", "0", "--api-key", KEY, "--quiet",
                                   "--exit-on-stdin-eof"] + extra + list(args),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        while True:
            line = self.p.stdout.readline().decode()
            if not line:
                raise RuntimeError("the fake exited before printing its port")
            if line.startswith("PORT "):
                self.port = int(line.split()[1])
                break

    def stop(self):
        try:
            self.p.stdin.close()
            self.p.wait(10)
        except Exception:
            self.p.kill()


def one_sentence(text):
    t = text.strip()
    return bool(t) and "\n" not in t and len(t) < 1000 and not t.startswith("{")


def sanitizer_free(s):
    err = s.stderr
    return "Sanitizer" not in err and "runtime error" not in err


def alive(s, label):
    r = s.request("ping", timeout=15)
    tl = s.request("tools/list", timeout=15)
    T.ok(r is not None and "result" in r and tl is not None and tl.get("result", {}).get("tools"),
         "%s: the server still answers ping and tools/list" % label, (r, s.stderr[-1500:]))


def timed_call(s, name, args, timeout=TOOLS_BOUND + 30):
    t0 = time.monotonic()
    r = s.call(name, args, timeout=timeout)
    return r, time.monotonic() - t0


def fresh(px, mode, **kw):
    """New connections get `mode`; pooled ones are closed so the next request reconnects."""
    px.set(mode, **kw)
    px.kill_all()
    time.sleep(0.05)


def run_backend(label, px, s, sid):
    probes = [
        ("sandbox_list", {}),
        ("file_write", {"sandbox_id": sid, "path": "/tmp/f.txt", "content": "fault-free\n" * 50}),
        ("file_read", {"sandbox_id": sid, "path": "/tmp/f.txt"}),
        ("exec", {"sandbox_id": sid, "command": "echo one; echo two >&2; echo three"}),
    ]

    # (a) byte-by-byte delivery
    fresh(px, "bytewise", both=True)
    r, _ = timed_call(s, "sandbox_list", {})
    T.ok(not is_error(r) and sid in [x.get("sandbox_id") for x in structured(r).get("sandboxes", [])],
         "%s bytewise: sandbox_list" % label, r)
    r, _ = timed_call(s, "file_write", probes[1][1])
    T.ok(not is_error(r) and structured(r).get("bytes_written") == 550, "%s bytewise: file_write" % label, r)
    r, _ = timed_call(s, "file_read", probes[2][1])
    T.ok(not is_error(r) and structured(r).get("content") == "fault-free\n" * 50, "%s bytewise: file_read" % label, r)
    r = s.call("exec", probes[3][1], meta={"progressToken": "bw-1"})
    sc = structured(r)
    s.pending = [m for m in s.pending if m.get("method") != "notifications/progress"]
    T.ok(not is_error(r) and sc.get("exit_code") == 0 and sc.get("stdout") == "one\nthree\n" and
         sc.get("stderr") == "two\n", "%s bytewise: streaming exec" % label, r)
    fresh(px, "delay", delay_ms=30)
    r, _ = timed_call(s, "exec", {"sandbox_id": sid, "command": "for i in 1 2 3; do echo t$i; done"})
    T.ok(structured(r).get("stdout") == "t1\nt2\nt3\n", "%s delayed chunks: exec" % label, r)

    # (b) reset / clean close mid-response
    for mode, n in (("reset", 0), ("reset", 40), ("close", 40), ("close", 0)):
        for name, args in probes:
            fresh(px, mode, n=n)
            r, dt = timed_call(s, name, args)
            txt = text_of(r)
            T.ok(r is not None and is_error(r) and one_sentence(txt) and dt < TOOLS_BOUND,
                 "%s %s after %d bytes: %s is an error sentence" % (label, mode, n, name), (r, dt))
        fresh(px, "pass")
        alive(s, "%s after %s/%d" % (label, mode, n))
    T.ok(KEY not in s.stderr, "%s: the key is in no fault message" % label)

    # (c) stalls end with --timeout-s (2 s here) and a sentence naming the timeout
    for n in (0, 40):
        for name, args in probes[:3]:
            fresh(px, "stall", n=n)
            r, dt = timed_call(s, name, args)
            txt = text_of(r)
            T.ok(is_error(r) and one_sentence(txt) and re.search(r"time|deadline", txt, re.I) and dt < TOOLS_BOUND,
                 "%s stall after %d bytes: %s ends with a timeout sentence (%.1fs)" % (label, n, name, dt), (r, dt))
    # exec streams are bounded by their own timeout_s
    fresh(px, "stall", n=40)
    r, dt = timed_call(s, "exec", {"sandbox_id": sid, "command": "echo x", "timeout_s": 3})
    T.ok(is_error(r) and dt < TOOLS_BOUND and re.search(r"time|deadline", text_of(r), re.I),
         "%s stalled exec stream ends by its timeout_s (%.1fs)" % (label, dt), (r, dt))
    fresh(px, "pass")
    alive(s, "%s after stalls" % label)

    # (d) a stale pooled connection is replaced transparently for a GET
    r, _ = timed_call(s, "sandbox_list", {})
    px.kill_all()  # the pooled connection dies (FIN) while idle
    time.sleep(0.1)
    r, _ = timed_call(s, "sandbox_list", {})
    T.ok(not is_error(r), "%s: sandbox_list after the pooled connection was closed" % label, r)
    r, _ = timed_call(s, "sandbox_list", {})
    px.kill_all(rst=True)
    time.sleep(0.1)
    r, _ = timed_call(s, "sandbox_list", {})
    T.ok(not is_error(r), "%s: sandbox_list after the pooled connection was reset" % label, r)

    # (e) cancellation during a stalled request
    fresh(px, "stall", n=0)
    s.next_id += 1
    rid = s.next_id
    before = len(px.conns)
    s.send({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
            "params": {"name": "sandbox_list", "arguments": {}}})
    end = time.monotonic() + 10
    while len(px.conns) == before and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.3)
    s.notify("notifications/cancelled", {"requestId": rid, "reason": "test"})
    p = s.request("ping", timeout=10)
    T.ok(p is not None and "result" in p, "%s: ping answered right after a cancel" % label, p)
    stalled = px.conns[before:] if len(px.conns) > before else []
    end = time.monotonic() + 10
    while stalled and stalled[0]["closed"] == "stalled" and time.monotonic() < end:
        time.sleep(0.05)
    T.ok(stalled and stalled[0]["closed"] not in (None, "stalled"),
         "%s: the cancelled request's connection was closed" % label, stalled)
    fresh(px, "pass")
    r, dt = timed_call(s, "sandbox_list", {}, timeout=20)
    T.ok(r is not None and not is_error(r), "%s: the next call works after a cancel" % label, r)
    T.ok(s.response(rid, timeout=3) is None, "%s: no response for the cancelled id" % label)


def finish(label, s):
    T.ok(not s.bad_lines, "%s: stdout carried only JSON-RPC lines" % label, s.bad_lines[:3])
    rc = s.close()
    T.ok(rc == 0 and sanitizer_free(s), "%s: clean exit, no sanitizer report" % label, s.stderr[-3000:])
    T.ok(KEY not in s.stderr, "%s: the API key is not on stderr" % label)


def test_opensandbox():
    f = Fake("opensandbox", "--tail-ms", "200")
    px = FaultProxy(("127.0.0.1", f.port))
    s = None
    try:
        s = Server(["--backend", "opensandbox", "--domain", "127.0.0.1:%d" % px.port, "--api-key", KEY,
                    "--timeout-s", "2"])
        s.initialize("2025-06-18")
        r = s.call("sandbox_create", {})
        sid = structured(r).get("sandbox_id")
        T.ok(sid, "opensandbox: sandbox created through the proxy", r)
        run_backend("opensandbox", px, s, sid)
        finish("opensandbox", s)
        s = None
        # a dropped first connection on a GET
        px2 = FaultProxy(("127.0.0.1", f.port), "drop_first")
        s = Server(["--backend", "opensandbox", "--domain", "127.0.0.1:%d" % px2.port, "--api-key", KEY,
                    "--timeout-s", "2"])
        s.initialize("2025-06-18")
        r, dt = timed_call(s, "sandbox_list", {})
        T.ok(r is not None and (not is_error(r) or one_sentence(text_of(r))) and dt < TOOLS_BOUND,
             "opensandbox: a dropped first connection gives a result or one sentence", r)
        print("# dropped first connection on a fresh pool: %s" % ("retried" if not is_error(r) else text_of(r)))
        r, _ = timed_call(s, "sandbox_list", {})
        T.ok(not is_error(r), "opensandbox: the next GET works", r)
        finish("opensandbox drop_first", s)
        px2.stop()
        s = None
    finally:
        if s is not None:
            s.close()
        px.stop()
        f.stop()


def test_e2b():
    f = Fake("e2b")
    px = FaultProxy(("127.0.0.1", f.port))
    s = None
    try:
        s = Server(["--backend", "e2b", "--api-key", KEY, "--api-url", px.url + "/kruise/api",
                    "--sandbox-url", px.url + "/kruise/{id}/{port}", "--timeout-s", "2"],
                   env={"HOME": os.environ.get("TMPDIR", "/tmp")})
        s.initialize("2025-06-18")
        r = s.call("sandbox_create", {})
        sid = structured(r).get("sandbox_id")
        T.ok(sid, "e2b: sandbox created through the proxy", r)
        run_backend("e2b", px, s, sid)
        finish("e2b", s)
        s = None
    finally:
        if s is not None:
            s.close()
        px.stop()
        f.stop()


def main():
    if not os.path.exists(BIN):
        T.skip("fault injection end-to-end", "no binary at %s" % BIN)
        T.done()
    test_opensandbox()
    test_e2b()
    T.done()


if __name__ == "__main__":
    main()
