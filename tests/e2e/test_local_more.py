#!/usr/bin/env python3
"""Local backend, the harder paths: concurrency within and across sandboxes, isolation from
host processes, hostile symlinks, huge output, restart survival with --keep, no stray
processes after exit, and --local-isolation none. TAP output."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from mcpclient import BIN, Server, Tap, is_error, structured, text_of  # noqa: E402
from hostproc import Mode, ModeServer, userns_available  # noqa: E402

t = Tap()


def procs_under(root):
    """Host processes whose cwd is inside root (a stray sandbox process would be)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if cwd.startswith(os.path.realpath(root)):
            found.append((pid, cwd))
    return found


root = tempfile.mkdtemp(prefix="smcp-more-")
s = Server(local_root=root)
s.initialize()

# concurrency: several execs at once in one sandbox and across two sandboxes
a = structured(s.call("sandbox_create", {})).get("sandbox_id")
b = structured(s.call("sandbox_create", {})).get("sandbox_id")
t.ok(a and b and a != b, "two sandboxes", (a, b))
ids = []
for i in range(6):
    rid = "c%d" % i
    sb = a if i % 2 == 0 else b
    s.send({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
            "params": {"name": "exec", "arguments": {"sandbox_id": sb,
                       "command": "sleep 0.5; echo n%d > f%d; cat f%d" % (i, i, i)}}})
    ids.append(rid)
res = {rid: s.response(rid, timeout=60) for rid in ids}
t.ok(all(structured(res["c%d" % i]).get("stdout") == "n%d\n" % i for i in range(6)),
     "six concurrent execs across two sandboxes all complete with their own output",
     {k: structured(v).get("stdout") for k, v in res.items()})
la = structured(s.call("file_list", {"sandbox_id": a, "path": "."})).get("entries", [])
lb = structured(s.call("file_list", {"sandbox_id": b, "path": "."})).get("entries", [])
na = sorted(e["name"] for e in la)
nb = sorted(e["name"] for e in lb)
t.ok(na == ["f0", "f2", "f4"] and nb == ["f1", "f3", "f5"], "each sandbox sees only its own files", (na, nb))

# isolation: host processes are invisible, other sandboxes too
r = s.call("exec", {"sandbox_id": a, "command": "ls /proc | grep -E '^[0-9]+$' | wc -l; kill -0 %d 2>/dev/null && echo visible || echo invisible" % os.getpid()})
out = structured(r).get("stdout", "").split()
t.ok(len(out) == 2 and int(out[0]) < 20 and out[1] == "invisible", "host processes are invisible inside", r)
r = s.call("exec", {"sandbox_id": a, "command": "cat /proc/self/uid_map; hostname"})
t.ok(structured(r).get("stdout", "").split()[-1] == a or a.startswith(structured(r).get("stdout", "").split()[-1]),
     "the sandbox has its own host name", r)

# hostile symlinks
s.call("exec", {"sandbox_id": a, "command": "ln -s /etc/passwd pw; ln -s ../../../../../../ up; ln -s /root rootdir; mkdir -p d && ln -s /etc d/etc"})
# The host file system is part of the sandbox's view, read-only: reading through a symlink
# gives what `cat` inside would give, and writing never lands on the host.
inside = structured(s.call("exec", {"sandbox_id": a, "command": "cat /etc/hostname"})).get("stdout")
r = s.call("file_read", {"sandbox_id": a, "path": "d/etc/hostname"})
t.eq(structured(r).get("content"), inside, "file_read through a symlink sees the sandbox's view, as cat inside would")
for path in ["pw", "d/etc/evil"]:
    r = s.call("file_write", {"sandbox_id": a, "path": path, "content": "x"})
    t.ok(is_error(r), "file_write through hostile symlink %s into read-only host paths is refused" % path, r)
r = s.call("file_write", {"sandbox_id": a, "path": "up/tmp/owned", "content": "mine"})
inside = structured(s.call("exec", {"sandbox_id": a, "command": "cat /tmp/owned"})).get("stdout")
t.ok(not os.path.exists("/tmp/owned") and (is_error(r) or inside == "mine"),
     "a write through ../ lands in the sandbox's own /tmp, never the host's", (r, inside))
t.ok(not os.path.exists("/etc/evil"), "nothing was written in host /etc")
with open("/etc/passwd") as f:
    before = f.read()
r = s.call("file_remove", {"sandbox_id": a, "path": "up/etc"})
t.ok(is_error(r) or structured(r).get("removed") is False or os.path.exists("/etc/passwd"), "file_remove cannot delete through a symlink", r)
t.ok(os.path.exists("/etc/passwd"), "host /etc is intact")
r = s.call("file_move", {"sandbox_id": a, "source": "f0", "destination": "up/tmp/moved"})
t.ok(not os.path.exists("/tmp/moved"), "file_move through a symlink never reaches the host", r)
r = s.call("file_move", {"sandbox_id": a, "source": "pw", "destination": "up/etc/passwd2"})
t.ok(is_error(r) and not os.path.exists("/etc/passwd2"), "file_move into read-only host paths is refused", r)
with open("/etc/passwd") as f:
    t.ok(f.read() == before, "host /etc/passwd is unchanged")
r = s.call("file_list", {"sandbox_id": a, "path": "up", "depth": 2})
t.ok(is_error(r) or all(not e.get("path", "").startswith("/etc") for e in structured(r).get("entries", [])),
     "file_list does not follow a symlink to the host", r)

# huge output: 50 MB through exec stays bounded, totals are exact
r = s.call("exec", {"sandbox_id": b, "command": "head -c 50000000 /dev/zero | tr '\\0' x"}, timeout=120)
sc = structured(r)
t.ok(sc.get("stdout_bytes") == 50000000 and sc.get("truncated") is True and len(sc.get("stdout", "")) < 70000,
     "50 MB of output: exact byte count, head and tail kept", {k: sc.get(k) for k in ("stdout_bytes", "truncated")})
with open("/proc/%d/status" % s.p.pid) as f:
    hwm = [int(x.split()[1]) for x in f if x.startswith("VmHWM:")][0]
t.ok(hwm < 400 * 1024, "the server's peak memory stays bounded (%d KiB under ASan)" % hwm)

# a killed sandbox leaves nothing behind
s.call("exec", {"sandbox_id": b, "command": "sleep 1000", "background": True})
s.call("sandbox_kill", {"sandbox_id": b})
t.ok(not os.path.exists(os.path.join(root, b)), "sandbox_kill removes the sandbox directory")
t.ok(not [p for p in procs_under(root) if b in p[1]], "sandbox_kill leaves no processes", procs_under(root))

# keep + restart: sandbox survives and can be used again
s2root = tempfile.mkdtemp(prefix="smcp-keep-")
k = Server(args=["--keep"], local_root=s2root)
k.initialize()
r = k.call("exec", {"command": "echo persisted > p.txt", "background": False})
kid = structured(k.call("sandbox_list", {})).get("sandboxes", [{}])[0].get("sandbox_id")
t.eq(k.close(), 0, "first server exits")
k = Server(local_root=s2root)
k.initialize()
lst = [x["sandbox_id"] for x in structured(k.call("sandbox_list", {})).get("sandboxes", [])]
t.ok(kid in lst, "with --keep the sandbox survives a restart and is listed", lst)
r = k.call("exec", {"sandbox_id": kid, "command": "cat p.txt"})
t.eq(structured(r).get("stdout"), "persisted\n", "a restarted server reattaches to the kept sandbox")
k.call("sandbox_kill", {"sandbox_id": kid})
k.close()

# exit leaves no stray processes
s.call("exec", {"sandbox_id": a, "command": "sleep 1000", "background": True})
s.call("exec", {"command": "sleep 1000 &"})
t.eq(s.close(), 0, "server exits")
time.sleep(1)
t.ok(not procs_under(root), "no processes survive the server's exit for its default sandbox", procs_under(root))
subprocess.run(["pkill", "-f", "sleep 1000"], check=False)

# --local-isolation none says so loudly
n = Server(args=["--local-isolation", "none"], local_root=tempfile.mkdtemp(prefix="smcp-none-"))
n.initialize()
r = n.call("sandbox_create", {})
txt = json.dumps(structured(r)) + text_of(r)
t.ok("isolation" in txt.lower() and not is_error(r), "--local-isolation none warns in every sandbox_create result", r)
r = n.call("exec", {"command": "echo plain"})
t.eq(structured(r).get("stdout"), "plain\n", "--local-isolation none still runs commands")
n.close()


# bulk output, as root and as uid 1000: a command writing 50 MB to stdout and 3 MB to
# stderr at once gets exact byte counts, and the head and tail it keeps are the stream's
# own first and last bytes; the same stream in the background reads back at both ends; a
# command that never stops writing is still stopped at its timeout.
def seq_stream(fmt, n):
    return "".join(fmt % i + "\n" for i in range(1, n + 1))


def head_tail_ok(text, total, first, last):
    """text is head + "[... N bytes cut ...]" + tail of a stream of total bytes that starts
    with first and ends with last (each longer than what is kept)."""
    m = re.search(r"\n\[\.\.\. (\d+) bytes cut \.\.\.\]\n", text)
    if m is None:
        return False
    head, tail = text[:m.start()], text[m.end():]
    return (first.startswith(head) and last.endswith(tail) and len(head) > 1000 and
            len(tail) > 1000 and len(head) + int(m.group(1)) + len(tail) == total)


def bulk_output(name):
    mode = Mode(name, "more")
    P = mode.P
    try:
        avail, why = userns_available(mode.wrap)
        if not avail:
            t.skip(P + "bulk output", "user namespaces are unavailable: %s" % why)
            return
        bs = ModeServer(mode, [], mode.tmpdir("smcp-more-root-"))
        if not bs.started():
            t.ok(False, P + "server starts", bs.stderr[-1500:])
            return
        out_first = seq_stream("%09d", 5000)
        out_last = seq_stream("%09d", 5000000)[-50000:]
        err_first = seq_stream("e%08d", 5000)
        err_last = seq_stream("e%08d", 300000)[-50000:]
        r = bs.call("exec", {"command": "seq -f '%09.0f' 1 5000000 & seq -f 'e%08.0f' 1 300000 >&2; "
                             "wait", "timeout_s": 120}, timeout=180)
        sc = structured(r) if r else {}
        t.ok(sc.get("exit_code") == 0 and sc.get("stdout_bytes") == 50000000 and
             sc.get("stderr_bytes") == 3000000 and sc.get("truncated") is True,
             P + "50 MB on stdout and 3 MB on stderr at once: exact byte counts",
             {k: sc.get(k) for k in ("exit_code", "stdout_bytes", "stderr_bytes", "note")})
        t.ok(head_tail_ok(sc.get("stdout", ""), 50000000, out_first, out_last),
             P + "stdout keeps the stream's first and last bytes, and the cut adds up",
             (sc.get("stdout", "")[:60], sc.get("stdout", "")[-60:]))
        t.ok(head_tail_ok(sc.get("stderr", ""), 3000000, err_first, err_last),
             P + "stderr keeps its own first and last bytes, and the cut adds up",
             (sc.get("stderr", "")[:60], sc.get("stderr", "")[-60:]))
        r = bs.call("exec", {"command": "seq -f '%09.0f' 1 5000000", "background": True})
        pid = structured(r).get("pid") if r else None
        o = {}
        for _ in range(60):
            o = structured(bs.call("process_output", {"pid": pid, "offset": 0, "max_bytes": 100,
                                                      "wait_s": 2}) or {})
            if o.get("running") is False:
                break
            time.sleep(0.5)
        start = o.get("output")
        o = structured(bs.call("process_output", {"pid": pid, "offset": 50000000 - 100}) or {})
        t.ok(start == out_first[:100] and o.get("output") == out_last[-100:] and
             o.get("next_offset") == 50000000 and o.get("exit_code") == 0,
             P + "50 MB in the background: the record's first and last bytes, and its length",
             (start, o))
        r = bs.call("exec", {"command": "yes", "timeout_s": 2}, timeout=120)
        sc = structured(r) if r else {}
        t.ok(sc.get("timed_out") is True and sc.get("exit_code") is None and
             (sc.get("stdout_bytes") or 0) > 0,
             P + "a command that never stops writing is still killed at its timeout",
             {k: sc.get(k) for k in ("timed_out", "exit_code", "stdout_bytes")})
        bs.close()
    finally:
        mode.cleanup()


for mode_name in ("root", "user"):
    if mode_name == "user" and os.geteuid() == 0 and not shutil.which("setpriv"):
        t.skip("[user] bulk output", "setpriv is not installed")
        continue
    bulk_output(mode_name)
t.done()
