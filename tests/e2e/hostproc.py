"""Host-side helpers the local e2e suites share: finding and killing processes a sandbox
left on this machine, waiting for a condition, whether user namespaces work, splitting
a command's marked output, and running the server as root or as uid 1000 (Mode)."""
import os
import pwd
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from mcpclient import BIN, Server

USER_UID = 1000


def host_pids_with(marker):
    """Host processes whose command line contains marker (sandbox processes we started)."""
    found = []
    m = marker.encode()
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if m in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def kill_pids(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def procs_under(root):
    """Host processes that use the state root: cwd, root or an open file inside it, or a
    mount of it (stray sandbox processes and supervisors of ours, for cleanup)."""
    found = []
    real = os.path.realpath(root)

    def inside(p):
        return p == real or p.startswith(real + "/")
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        links = []
        for what in ("cwd", "root"):
            try:
                links.append(os.readlink("/proc/%s/%s" % (pid, what)))
            except OSError:
                pass
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                try:
                    links.append(os.readlink("/proc/%s/fd/%s" % (pid, fd)))
                except OSError:
                    pass
        except OSError:
            pass
        hit = any(inside(x) for x in links)
        if not hit:
            try:
                with open("/proc/%s/mountinfo" % pid) as f:
                    hit = (" " + real + "/") in f.read()
            except OSError:
                pass
        if hit:
            found.append(int(pid))
    return found


def wait_until(pred, timeout, step=0.25):
    end = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() >= end:
            return v
        time.sleep(step)


def userns_available(wrap):
    """Whether unprivileged user namespaces work for the wrapped user: (bool, why)."""
    try:
        r = subprocess.run(wrap + ["unshare", "-Ur", "true"], cwd="/", capture_output=True,
                           timeout=20)
        return r.returncode == 0, (r.stderr or b"").decode(errors="replace").strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)


def chunks(out, tag="@@ "):
    """Split output at lines starting with tag: {header: text}."""
    res, cur, buf = {}, None, []
    for line in out.splitlines():
        if line.startswith(tag):
            if cur is not None:
                res[cur] = res.get(cur, "") + "\n".join(buf)
            cur, buf = line[len(tag):].strip(), []
        else:
            buf.append(line)
    if cur is not None:
        res[cur] = res.get(cur, "") + "\n".join(buf)
    return res


class Mode:
    """How a suite runs the server: "root", or "user" (uid 1000 through setpriv when the
    suite runs as root, with its own HOME and a copy of the binary it can execute)."""

    def __init__(self, name, tag):
        self.name = name
        self.P = "[%s] " % name
        self.user = name == "user"
        self.tmps = []
        self.wrap = []
        self.env = {}
        self.cwd = None
        self.bin = os.path.abspath(BIN)
        self.uid = 0
        if self.user and os.geteuid() == 0:
            self.uid = USER_UID
            self.wrap = ["setpriv", "--reuid=%d" % USER_UID, "--regid=%d" % USER_UID,
                         "--clear-groups"]
            home = self.tmpdir("smcp-%s-home-" % tag)
            try:
                uname = pwd.getpwuid(USER_UID).pw_name
            except KeyError:
                uname = "user"
            self.env = {"HOME": home, "USER": uname, "LOGNAME": uname}
            bindir = self.tmpdir("smcp-%s-bin-" % tag)
            self.bin = os.path.join(bindir, "sandbox-mcp")
            shutil.copy2(BIN, self.bin)
            os.chmod(self.bin, 0o755)
            self.cwd = bindir
        elif self.user:
            self.uid = os.geteuid()

    def tmpdir(self, prefix):
        d = tempfile.mkdtemp(prefix=prefix)
        os.chmod(d, 0o755)
        if self.uid and os.geteuid() == 0:
            os.chown(d, self.uid, self.uid)
        self.tmps.append(d)
        return d

    def cleanup(self):
        for d in self.tmps:
            shutil.rmtree(d, ignore_errors=True)


class ModeServer(Server):
    """mcpclient.Server with an argv prefix (setpriv), env and cwd; calls on a dead server
    answer None instead of raising."""

    def __init__(self, mode, args, root):
        self.root = root
        e = dict(os.environ)
        for k in ("OPEN_SANDBOX_DOMAIN", "OPEN_SANDBOX_API_KEY", "X_API_KEY", "E2B_API_KEY",
                  "E2B_DOMAIN", "SANDBOX_MCP_BACKEND", "HTTP_PROXY", "HTTPS_PROXY",
                  "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                  "no_proxy"):
            e.pop(k, None)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        e.update(mode.env)
        self.argv = [mode.bin] + list(args) + ["--local-root", root]
        self.p = subprocess.Popen(mode.wrap + self.argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                                  cwd=mode.cwd)
        self.q = queue.Queue()
        self.bad_lines = []
        self.stderr_chunks = []
        self.next_id = 100
        self.pending = []
        self.dead = False
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def call(self, name, args=None, timeout=120, meta=None):
        if self.dead:
            return None
        try:
            r = Server.call(self, name, args, timeout=timeout, meta=meta)
        except (BrokenPipeError, OSError):
            self.dead = True
            return None
        if r is None and self.p.poll() is not None:
            self.dead = True
        return r

    def started(self):
        try:
            r = self.initialize()
        except (BrokenPipeError, OSError):
            r = None
        if not (r and "result" in r):
            self.dead = True
            return False
        return True
