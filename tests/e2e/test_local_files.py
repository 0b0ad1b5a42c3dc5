#!/usr/bin/env python3
"""Local backend, file helpers: the process that opens paths inside a sandbox for the file
tools persists per sandbox. What a persistent process inside a sandbox's namespaces must
not become is checked from the host, once with the server as root and once as an ordinary
user (uid 1000 via setpriv). TAP, every line prefixed "[root] " or "[user] ".

Checked:
  - file tools work, and the same helper answers call after call (one per sandbox);
  - a helper holds nothing of the server: fds 0-2 on /dev/null, its socket, a pidfd and
    nothing else (not the server's stdio, not another sandbox's helper socket); it is not
    dumpable (its /proc directory belongs to root), has no capabilities and no_new_privs;
    as root it is not root on the host;
  - nothing inside the sandbox sees it (no sandbox-mcp in the sandbox's /proc);
  - the sandbox's rules hold through a long-lived helper: writes outside the writable
    directories are refused, `..` does not leave the sandbox's root;
  - 16 calls at once on one sandbox all get their own file's bytes;
  - sandbox_kill ends that sandbox's helper; a sandbox whose supervisor dies (killed from
    the host) loses its helper without the server's help, and the next file call works
    (a new supervisor, a new helper);
  - at most 8 helpers are kept (the oldest goes); the server's exit ends them all.

SMCP_FILES_MODES=root or =user runs one of the two modes (both by default).
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcpclient import BIN, Tap, is_error, structured, text_of  # noqa: E402
from hostproc import (Mode, ModeServer, kill_pids, procs_under,  # noqa: E402
                      userns_available, wait_until)

t = Tap()


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return sorted(set(out))


def ns(pid, kind="user"):
    try:
        return os.readlink("/proc/%d/ns/%s" % (pid, kind))
    except OSError:
        return None


def helpers(server_pid):
    """The server's live children in another user namespace: its file helpers (one that
    exited stays a zombie until the server reaps it at its next file call)."""
    mine = ns(server_pid)
    return [p for p in children(server_pid) if ns(p) not in (None, mine) and
            not status(p).get("State", "Z").startswith("Z")]


def status(pid):
    d = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                d[k] = v.strip()
    except OSError:
        pass
    return d


def fds(pid):
    out = {}
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                out[int(fd)] = "?"
    except OSError:
        pass
    return out


def sup_pid(root, sid):
    try:
        with open(os.path.join(root, sid, "sup.json")) as f:
            return int(json.load(f)["pid"])
    except (OSError, ValueError, KeyError):
        return None


class Run:
    def __init__(self, mode):
        self.m = mode
        self.P = mode.P
        self.servers = []

    def ok(self, cond, desc, diag=None):
        return t.ok(bool(cond), self.P + desc, diag)

    def srv(self, args=()):
        root = self.m.tmpdir("smcp-files-root-")
        s = ModeServer(self.m, list(args), root)
        self.servers.append(s)
        up = s.started()
        self.ok(up, "server starts", s.stderr[-1500:] if not up else None)
        return s if up else None

    def create(self, s):
        r = s.call("sandbox_create", {"timeout_s": 600})
        sid = structured(r).get("sandbox_id") if not is_error(r) else None
        self.ok(sid, "sandbox_create", (r, s.stderr[-800:]))
        return sid

    def cleanup(self):
        for s in self.servers:
            try:
                if s.p.poll() is None:
                    for x in structured(s.call("sandbox_list", {}, timeout=30)).get(
                            "sandboxes", []):
                        s.call("sandbox_kill", {"sandbox_id": x.get("sandbox_id")}, timeout=30)
                    s.close(timeout=20)
            except Exception:  # noqa: BLE001
                pass
            if s.p.poll() is None:
                s.p.kill()
                s.p.wait(timeout=10)
            kill_pids(procs_under(s.root))


def write(s, sid, path, content):
    return s.call("file_write", {"sandbox_id": sid, "path": path, "content": content})


def read(s, sid, path):
    r = s.call("file_read", {"sandbox_id": sid, "path": path})
    return None if is_error(r) else structured(r).get("content")


def run_mode(R):
    m = R.m
    s = R.srv()
    if s is None:
        return
    spid = s.p.pid        # setpriv execs the server: the same pid
    a = R.create(s)
    b = R.create(s)
    if not (a and b):
        return

    # --- one helper per sandbox, reused ------------------------------------------------------
    R.ok(not is_error(write(s, a, "/workspace/a.txt", "alpha\n")), "file_write in A")
    R.ok(read(s, a, "/workspace/a.txt") == "alpha\n", "file_read in A")
    ha = helpers(spid)
    R.ok(len(ha) == 1, "one helper after file calls on one sandbox", ha)
    for i in range(20):
        read(s, a, "a.txt")
    R.ok(helpers(spid) == ha, "the same helper answers call after call", (ha, helpers(spid)))
    R.ok(not is_error(write(s, b, "/workspace/b.txt", "beta\n")), "file_write in B")
    hb = [p for p in helpers(spid) if p not in ha]
    R.ok(len(hb) == 1, "sandbox B gets its own helper", helpers(spid))
    if not (ha and hb):
        return
    ha, hb = ha[0], hb[0]

    # --- what a helper holds ------------------------------------------------------------------
    f = fds(ha)
    R.ok(sorted(f) == [0, 1, 2, 3, 4], "a helper keeps exactly fds 0-4", f)
    R.ok(all(f.get(i) == "/dev/null" for i in (0, 1, 2)), "its 0-2 are /dev/null (not the "
         "server's stdio)", f)
    R.ok(f.get(3, "").startswith("socket:") and "pidfd" in f.get(4, ""),
         "fd 3 is its socket and fd 4 a pidfd (of the supervisor)", f)
    sock_a = f.get(3)
    R.ok(sock_a not in fds(hb).values(), "B's helper does not hold A's helper socket",
         (sock_a, fds(hb)))
    st = status(ha)
    R.ok(st.get("CapEff", "").strip("0") == "" and st.get("CapPrm", "").strip("0") == "",
         "no capabilities", st.get("CapEff"))
    R.ok(st.get("NoNewPrivs") == "1", "no_new_privs is set", st.get("NoNewPrivs"))
    uids = st.get("Uid", "").split()
    if os.geteuid() == 0 and not m.wrap:
        R.ok(uids and all(u != "0" for u in uids), "as root, the helper is not root on the "
             "host", uids)
    else:
        R.ok(uids and all(u == str(m.uid or os.geteuid()) for u in uids),
             "as a user, the helper has that user's uid", uids)
    # A process that is not dumpable has its /proc files (not the directory) owned by root.
    R.ok(os.stat("/proc/%d/environ" % ha).st_uid == 0, "it is not dumpable (its /proc files "
         "are root's)", os.stat("/proc/%d/environ" % ha).st_uid)
    R.ok(ns(ha, "mnt") != ns(spid, "mnt"), "it is in the sandbox's mount namespace",
         (ns(ha, "mnt"), ns(spid, "mnt")))

    # --- invisible inside ---------------------------------------------------------------------
    r = s.call("exec", {"sandbox_id": a, "command":
                        "cat /proc/[0-9]*/comm 2>/dev/null | sort | uniq -c"})
    out = structured(r).get("stdout", "")
    R.ok(out and "sandbox-mcp" not in out, "no sandbox-mcp process is visible inside", out)

    # --- the sandbox's rules hold through it ----------------------------------------------------
    for path in ("/usr/bin/evil", "/etc/passwd", "/workspace/../usr/lib/evil"):
        r = write(s, a, path, "x")
        R.ok(is_error(r), "file_write %s is refused" % path, text_of(r))
    r = s.call("file_read", {"sandbox_id": a, "path": "/workspace/../../../../proc/1/root/etc/shadow"})
    R.ok(is_error(r) or "root:" not in (structured(r).get("content") or ""),
         "`..` does not reach the host's /etc/shadow", text_of(r)[:200])
    R.ok(not is_error(write(s, a, "/tmp/t.txt", "tmp\n")) and read(s, a, "/tmp/t.txt") ==
         "tmp\n", "writes in /tmp still work")

    # --- many calls at once ----------------------------------------------------------------------
    for i in range(16):
        write(s, a, "/workspace/c%d.txt" % i, "content %d\n" % i)
    ids = []
    for i in range(16):
        s.next_id += 1
        ids.append(s.next_id)
        s.send({"jsonrpc": "2.0", "id": s.next_id, "method": "tools/call",
                "params": {"name": "file_read", "arguments": {
                    "sandbox_id": a, "path": "/workspace/c%d.txt" % i}}})
    got = [s.response(rid, timeout=60) for rid in ids]
    good = sum(1 for i, r in enumerate(got) if r is not None and not is_error(r) and
               structured(r).get("content") == "content %d\n" % i)
    R.ok(good == 16, "16 file_reads at once on one sandbox all get their own file", good)

    # --- ends -----------------------------------------------------------------------------------
    s.call("sandbox_kill", {"sandbox_id": b})
    R.ok(wait_until(lambda: not os.path.exists("/proc/%d" % hb) or
                    status(hb).get("State", "").startswith("Z"), 5),
         "sandbox_kill ends that sandbox's helper", status(hb).get("State"))
    sp = sup_pid(s.root, a)
    R.ok(sp, "A's supervisor pid is on record")
    if sp:
        kill_pids([sp])
        R.ok(wait_until(lambda: ha not in helpers(spid), 5),
             "a helper whose supervisor died exits on its own", helpers(spid))
        r = s.call("file_read", {"sandbox_id": a, "path": "/workspace/a.txt"})
        R.ok(not is_error(r) and structured(r).get("content") == "alpha\n",
             "the next file call works (a new supervisor, a new helper)", text_of(r)[:300])
        R.ok(ha not in children(spid), "and the server has reaped the old helper",
             children(spid))

    many = [R.create(s) for _ in range(9)]
    for sid in many:
        if sid:
            read(s, sid, "/etc/hostname")
    n = len(helpers(spid))
    R.ok(0 < n <= 8, "at most 8 helpers are kept", n)
    left = helpers(spid)
    s.close(timeout=30)
    R.ok(wait_until(lambda: all(not os.path.exists("/proc/%d" % p) for p in left), 5),
         "the server's exit ends every helper", [p for p in left if os.path.exists("/proc/%d" % p)])


def main():
    if not os.path.exists(BIN):
        print("Bail out! %s is missing (make FLAVOR=test build/test/sandbox-mcp)" % BIN)
        sys.exit(1)
    for name in [x for x in os.environ.get("SMCP_FILES_MODES", "root,user").split(",")
                 if x in ("root", "user")]:
        if name == "root" and os.geteuid() != 0:
            t.skip("[root] file helper checks", "the suite is not running as root")
            continue
        if name == "user" and os.geteuid() == 0 and not shutil.which("setpriv"):
            t.skip("[user] file helper checks", "setpriv is not installed")
            continue
        mode = Mode(name, "files")
        R = Run(mode)
        try:
            avail, why = userns_available(mode.wrap)
            if not avail:
                t.skip("[%s] file helper checks" % name, "user namespaces are unavailable: %s"
                       % why)
                continue
            run_mode(R)
        except Exception:  # noqa: BLE001
            import traceback
            t.ok(False, "[%s] the run ended with an exception" % name, traceback.format_exc())
        finally:
            R.cleanup()
            mode.cleanup()
    t.done()


if __name__ == "__main__":
    main()
