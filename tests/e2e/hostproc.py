"""Host-side helpers the local e2e suites share: finding and killing processes a sandbox
left on this machine, waiting for a condition, whether user namespaces work, and splitting
a command's marked output."""
import os
import signal
import subprocess
import time


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
