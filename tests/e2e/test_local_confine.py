#!/usr/bin/env python3
"""Local sandbox confinement on machines unlike this one, and the operator's knobs. TAP.

- An old kernel without mount_setattr (before 5.12): tests/prog/nosys makes the syscall
  ENOSYS for the server and everything it starts; the sandbox must still come up with every
  mount but the writable ones read-only (the remount-every-submount path), or not at all.
- Docker's default seccomp profile (no user namespaces): sandbox creation and doctor must say
  why and what to do, not fail with a raw errno.
- A FROM scratch image (no /usr, no shell): a chroot holding only the static binary.
- --mount HOST:SANDBOX[:ro]: read-write and read-only host directories inside; bad values
  are refused at start with a sentence.
Each runs with the server as root and, where it applies, as uid 1000 (setpriv).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from mcpclient import BIN, Tap  # noqa: E402

t = Tap()
TESTBIN = os.environ.get("SANDBOX_MCP_TESTBIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "test", "tests")
NOSYS = os.path.join(TESTBIN, "nosys")
RELEASE = os.environ.get("SANDBOX_MCP_RELEASE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "release", "sandbox-mcp")
USER = ["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups"]
WRITABLE = {"/workspace", "/tmp", "/dev/shm", "/dev/pts", "/proc"}


def userns_ok():
    r = subprocess.run(["unshare", "-Ur", "true"], capture_output=True)
    return r.returncode == 0


def world_copy(path, tmp):
    """A copy of a binary a uid-1000 process can run (the build tree may not be)."""
    dst = os.path.join(tmp, os.path.basename(path))
    shutil.copy(path, dst)
    os.chmod(dst, 0o755)
    return dst


def run_call(prefix, binp, root, tool, args, env=None, timeout=120, extra=()):
    """`sandbox-mcp call TOOL JSON`: (exit code, parsed stdout or None, stderr)."""
    e = dict(os.environ)
    for k in ("OPEN_SANDBOX_DOMAIN", "OPEN_SANDBOX_API_KEY", "X_API_KEY", "E2B_API_KEY",
              "E2B_DOMAIN", "SANDBOX_MCP_BACKEND"):
        e.pop(k, None)
    e.update(env or {})
    r = subprocess.run(prefix + [binp, "--local-root", root] + list(extra) +
                       ["call", tool, json.dumps(args)],
                       capture_output=True, text=True, env=e, timeout=timeout)
    try:
        out = json.loads(r.stdout) if r.stdout.strip() else None
    except ValueError:
        out = None
    return r.returncode, out, r.stderr


def owned_dir(tmp, name, uid):
    d = os.path.join(tmp, name)
    os.mkdir(d)
    os.chmod(d, 0o755)
    if uid:
        os.chown(d, uid, uid)
    return d


def mode_runs(tmp):
    """(label, argv prefix, uid, binary) for root and, when possible, uid 1000."""
    runs = [("root", [], 0, BIN)]
    if os.geteuid() == 0 and shutil.which("setpriv"):
        runs.append(("user", USER, 1000, world_copy(BIN, tmp)))
    return runs


def mounts_of(out):
    """{mount point: options} from `awk '{print $5, $6}' /proc/self/mountinfo` output."""
    res = {}
    for line in (out or {}).get("stdout", "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            res[parts[0]] = parts[1]
    return res


tmp = tempfile.mkdtemp(prefix="smcp-confine-")
os.chmod(tmp, 0o755)
try:
    have_ns = userns_ok()
    nosys = world_copy(NOSYS, tmp) if os.path.exists(NOSYS) else None
    for label, prefix, uid, binp in mode_runs(tmp):
        env = {"HOME": tmp}
        # --- an old kernel: no mount_setattr -------------------------------------------
        root = owned_dir(tmp, "old-" + label, uid)
        if not have_ns or nosys is None:
            t.skip("[%s] old kernel: read-only by remounting every submount" % label,
                   "no user namespaces here" if not have_ns else "tests/prog/nosys missing")
        else:
            cmd = ("awk '{print $5, $6}' /proc/self/mountinfo; touch /usr/x 2>/dev/null && "
                   "echo WROTE-USR; mount -o remount,rw /usr 2>/dev/null && echo REMOUNTED; true")
            rc, out, err = run_call(prefix + [nosys, "-n", "442", "--"], binp, root, "exec",
                                    {"command": cmd}, env)
            ms = mounts_of(out)
            home = [m for m in ms if m.startswith("/home/")]
            rw = sorted(m for m, o in ms.items() if o.split(",")[0] != "ro")
            t.ok(rc == 0 and out and out.get("exit_code") == 0 and len(ms) > 10,
                 "[%s] without mount_setattr (kernels before 5.12) the sandbox still starts" % label,
                 (rc, out, err[-800:]))
            t.ok(ms and set(rw) <= WRITABLE | set(home),
                 "[%s] ... and every mount but the writable set is read-only: %s" % (label, rw), ms)
            t.ok(out and "WROTE-USR" not in out.get("stdout", "") and
                 "REMOUNTED" not in out.get("stdout", ""),
                 "[%s] ... /usr can neither be written nor remounted" % label, out)
        # --- Docker's default seccomp profile: no user namespaces ----------------------
        root = owned_dir(tmp, "docker-" + label, uid)
        if nosys is None:
            t.skip("[%s] no user namespaces: a sentence with the fix" % label, "nosys missing")
        else:
            rc, out, err = run_call(prefix + [nosys, "-u", "--"], binp, root, "exec",
                                    {"command": "true"}, env)
            t.ok(rc != 0 and "user namespaces" in err and "--local-isolation none" in err and
                 "--backend" in err and "Invalid argument" not in err,
                 "[%s] where user namespaces are forbidden, exec says so and what to do" % label,
                 err[-600:])
            e = dict(os.environ, HOME=tmp)
            r = subprocess.run(prefix + [nosys, "-u", "--", binp, "--local-root", root, "doctor"],
                               capture_output=True, text=True, env=e, timeout=120)
            t.ok(r.returncode != 0 and "problem:" in r.stdout and "user namespaces" in r.stdout,
                 "[%s] ... and so does doctor (exit status %d)" % (label, r.returncode),
                 r.stdout[-800:])
        # --- isolation none: still no process survives its sandbox -------------------------
        root = owned_dir(tmp, "none-" + label, uid)
        mark = "%d.%s" % (os.getpid() % 1000 + 1000, label == "root" and "31" or "37")
        rc, out, err = run_call(prefix, binp, root, "exec",
                                {"command": "setsid sleep %s1 & (sleep %s2 &) ; sleep %s3 &"
                                 " echo started" % (mark, mark, mark)}, env, timeout=60,
                                extra=["--local-isolation", "none"])
        # `call` used the session's default sandbox and killed it on exit.
        time.sleep(0.5)
        left = subprocess.run(["pgrep", "-f", "sleep %s" % mark], capture_output=True,
                              text=True).stdout.split()
        t.ok(rc == 0 and not left, "[%s] --local-isolation none: no process of a killed sandbox "
             "survives, setsid or double-forked ones included" % label, (rc, out, err[-300:], left))
        for pid in left:
            subprocess.run(["kill", "-9", pid])
        # --- doctor on this machine -------------------------------------------------------
        root = owned_dir(tmp, "doctor-" + label, uid)
        r = subprocess.run(prefix + [binp, "--local-root", root, "doctor"], capture_output=True,
                           text=True, env=dict(os.environ, HOME=tmp), timeout=120)
        lines = r.stdout
        t.ok(("seccomp:" in lines and "landlock:" in lines and "limits:" in lines and
              "sandbox user:" in lines) and (r.returncode == 0 or not have_ns),
             "[%s] doctor says how sandboxes are confined here" % label, lines)
        # --- operator mounts ------------------------------------------------------------------
        if not have_ns:
            t.skip("[%s] --mount" % label, "no user namespaces here")
            continue
        # As root, sandboxes run as nobody on this machine: the operator hands a writable
        # directory to that uid (README, Security model).
        rwdir = owned_dir(tmp, "rw-" + label, uid or 65534)
        rodir = owned_dir(tmp, "ro-" + label, uid)
        with open(os.path.join(rodir, "given.txt"), "w") as f:
            f.write("from the operator\n")
        root = owned_dir(tmp, "mnt-" + label, uid)
        cmd = ("echo made-inside > /project/out.txt && echo RW-OK; cat /data/given.txt; "
               "touch /data/x 2>/dev/null && echo RO-WRITTEN; "
               "mount -o remount,rw /data 2>/dev/null && echo RO-REMOUNTED; "
               "ls -d /workspace/ref && cat /workspace/ref/given.txt")
        e = dict(os.environ, HOME=tmp)
        r = subprocess.run(prefix + [binp, "--local-root", root, "--mount", rwdir + ":/project",
                                     "--mount", rodir + ":/data:ro",
                                     "--mount", rodir + ":/workspace/ref:ro",
                                     "call", "exec", json.dumps({"command": cmd})],
                           capture_output=True, text=True, env=e, timeout=120)
        try:
            out = json.loads(r.stdout).get("stdout", "")
        except ValueError:
            out = ""
        t.ok("RW-OK" in out and os.path.exists(os.path.join(rwdir, "out.txt")),
             "[%s] --mount HOST:/project is writable and the host sees the file" % label,
             (r.stdout, r.stderr[-400:]))
        t.ok(out.count("from the operator") == 2 and "RO-WRITTEN" not in out and
             "RO-REMOUNTED" not in out,
             "[%s] --mount HOST:/data:ro is readable, not writable, not remountable, also "
             "under /workspace" % label, out)
        for bad, why in ((rwdir + ":/usr/x", "system view"), (rwdir + ":relative", "absolute"),
                         (rwdir + ":/p/../q", ". or .."), ("/no/such/dir:/x", "not a directory"),
                         (rwdir + ":/x:rx", "option"), (tmp + ":/x", "state directory")):
            r = subprocess.run(prefix + [binp, "--local-root", os.path.join(tmp, "mnt-" + label),
                                         "--mount", bad, "call", "sandbox_list", "{}"],
                               capture_output=True, text=True, env=e, timeout=60)
            t.ok(r.returncode != 0 and why in r.stderr,
                 "[%s] --mount %s is refused at start (%s)" % (label, bad.replace(tmp, "T"), why),
                 r.stderr[-400:])
    # --- a FROM scratch image: nothing but the static binary ---------------------------------
    if os.geteuid() != 0 or not os.path.exists(RELEASE):
        t.skip("FROM scratch: a sentence pointing to the platforms", "needs root for chroot")
    else:
        scratch = os.path.join(tmp, "scratch")
        os.mkdir(scratch)
        shutil.copy(RELEASE, os.path.join(scratch, "sandbox-mcp"))
        r = subprocess.run(["chroot", scratch, "/sandbox-mcp", "--local-root", "/state", "call",
                            "exec", '{"command":"true"}'], capture_output=True, text=True,
                           timeout=60)
        t.ok(r.returncode != 0 and "/usr and a shell" in r.stderr and "--backend" in r.stderr and
             "chown" not in r.stderr,
             "FROM scratch: the first tool result says local sandboxes need a root file system",
             r.stderr[-600:])
        t.ok(r.stderr.count("/usr and a shell") >= 2,
             "FROM scratch: ... and the server says so at startup too", r.stderr[-900:])
        r = subprocess.run(["chroot", scratch, "/sandbox-mcp", "--local-root", "/state", "doctor"],
                           capture_output=True, text=True, timeout=60)
        t.ok(r.returncode != 0 and "/usr and a shell" in r.stdout,
             "FROM scratch: doctor names the problem", r.stdout[-600:])
finally:
    subprocess.run(["rm", "-rf", tmp])
t.done()
