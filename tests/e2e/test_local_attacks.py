#!/usr/bin/env python3
"""Local backend, attacked: the sandbox as a security boundary (issue 10), tried end to end
by a hostile command, once with the server running as root and once as an ordinary user
(uid 1000 via setpriv). TAP output, every line prefixed "[root] " or "[user] ".

What is attacked, in the order of the issue's promises:
  1. the file system is an allowlist: canaries planted on the host (home .ssh, /root/.ssh,
     /opt, /var/tmp, host /tmp, the state root, another sandbox's workspace) are read by no
     route (cat, /proc/1/root, /proc/self/root, /proc/1/cwd/.., /old_root, leaked fds,
     grep -r /, find /, after unmounting every mount point) and stay unchanged;
  2. locked: no capabilities, NoNewPrivs, seccomp, no mount/umount/unshare/nsenter, read-only
     system dirs, own session (no TIOCSTI into the server's terminal), fds closed,
     non-dumpable init;
  3. seccomp: each denied syscall by number (EPERM, ENOSYS for clone3), foreign arch and x32
     killed by SIGSYS;
  4. identity: never host uid 0, a named user whose home is $HOME;
  5. limits: memory killed and explained, a process limit, a fork bomb bounded, background
     output capped on disk;
  6. everyday work still works;
  7. lifetime: nothing survives a SIGKILLed server, expiry kills without a server;
  8. state out of reach, no downgrade by editing meta.json;
  9. operator mounts (--mount HOST:SANDBOX[:ro]);
 10. abstract unix sockets of the host are out of reach.

Beyond that list, the same attacker also drives the tools: file_read/file_list/file_write
of host paths, through ../ and through symlinks made inside; process_output and
process_kill with crafted pids; sandbox_ids that are paths; setuid modes; FIFOs and
/dev/zero given to file_read. And it looks for anything shared between two sandboxes
(/tmp, /dev/shm, processes, abstract sockets), for any writable directory outside
/workspace, /tmp, $HOME and /dev, and for the server's environment.

Notes:
  - SMCP_ATTACK_MODES=root or =user runs one of the two modes (both by default).
  - The fork bomb runs only when the fork loop met a process limit first: without one it
    would exhaust the host's pids (32768 here) for everyone; it is then reported as failed.
  - Canary contents never appear in diagnostics (redacted), and their names carry a random
    suffix, so concurrent runs of other suites do not collide.
  - Some kernels (this VM's among them) have no i386 entry: int $0x80 is SIGSEGV on the host
    itself and never reaches seccomp; that check then accepts SIGSEGV.
  - Cleanup kills only what this file started: processes carrying its markers, the pid
    namespaces they live in, and processes using its temporary state roots.

Written from the specification (issue 10, the brief), not from the code. On the binary
before the rewrite most of these fail; the ones that already pass say why in a comment
marked "PASSES TODAY" (regression guards).
"""
import base64
import errno
import fcntl
import hashlib
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
import queue

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcpclient import BIN, Server, Tap, is_error, structured, text_of  # noqa: E402
from hostproc import (chunks, host_pids_with, kill_pids, procs_under,  # noqa: E402
                      userns_available, wait_until)

t = Tap()
PY = "/usr/bin/python3"          # the host's pyenv python is not visible inside
USER_UID = 1000
EXEC_T = 60                      # exec timeout_s: the server is an ASan build

ALLOWED_TOP = {"bin", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "proc", "sbin",
               "sys", "tmp", "usr", "workspace"}
FORBIDDEN_TOP = ["root", "run", "var", "opt", "srv", "mnt", "media", "boot", "work", "farm",
                 "old_root"]


# --- host-side helpers -----------------------------------------------------------------------
def host_ids(pid):
    """(uids, gids) of a host process: lists of real, effective, saved, fs."""
    uids, gids = [], []
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Uid:"):
                    uids = [int(x) for x in line.split()[1:]]
                elif line.startswith("Gid:"):
                    gids = [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return uids, gids


def sandbox_init_of(pid):
    """The init of pid's pid namespace when that namespace is not ours (a sandbox's), else
    None: killing it ends every process of that sandbox (cleanup after today's leaks)."""
    try:
        ns = os.readlink("/proc/%d/ns/pid" % pid)
        if ns == os.readlink("/proc/self/ns/pid"):
            return None
    except OSError:
        return None
    for q in os.listdir("/proc"):
        if not q.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/ns/pid" % q) != ns:
                continue
            with open("/proc/%s/status" % q) as f:
                for line in f:
                    if line.startswith("NSpid:") and line.split()[-1] == "1":
                        return int(q)
        except OSError:
            pass
    return None


def kill_marked(marker):
    """SIGKILL the processes carrying marker and the inits of their sandboxes."""
    pids = host_pids_with(marker)
    inits = {sandbox_init_of(p) for p in pids} - {None}
    kill_pids(sorted(inits) + pids)


def new_procs_summary(before):
    """Counts of (uid, state, comm) of host processes not in the set before (diagnostics)."""
    counts = {}
    for p in os.listdir("/proc"):
        if not p.isdigit() or p in before:
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
            comm = st[st.index("(") + 1:st.rindex(")")]
            state = st[st.rindex(")") + 2]
            uid = host_ids(int(p))[0][:1]
            k = (uid[0] if uid else "?", state, comm)
            counts[k] = counts.get(k, 0) + 1
        except (OSError, ValueError):
            pass
    return sorted(counts.items(), key=lambda kv: -kv[1])[:10]


def host_proc_count():
    return sum(1 for p in os.listdir("/proc") if p.isdigit())


def disk_usage(path):
    """Bytes of disk used under path (st_blocks, like du), not following symlinks."""
    total = 0
    for dp, dns, fns in os.walk(path):
        for n in dns + fns:
            try:
                total += os.lstat(os.path.join(dp, n)).st_blocks * 512
            except OSError:
                pass
    return total


def dirs_named(root, part, depth=4):
    """Directories under root whose base name contains part."""
    out = []
    base = root.rstrip("/").count("/")
    for dp, dns, _ in os.walk(root):
        if dp.count("/") - base >= depth:
            dns[:] = []
        for d in dns:
            if part in d:
                out.append(os.path.join(dp, d))
    return out


def files_containing(root, needle, maxsize=65536):
    out = []
    for dp, _, fns in os.walk(root):
        for n in fns:
            p = os.path.join(dp, n)
            try:
                st = os.lstat(p)
                if not os.path.isfile(p) or os.path.islink(p) or st.st_size > maxsize:
                    continue
                with open(p, "rb") as f:
                    if needle in f.read():
                        out.append(p)
            except OSError:
                pass
    return out


def sha(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError as e:
        return "unreadable: %s" % e


# --- the server, started as root or through setpriv ---------------------------------------
class Mode:
    def __init__(self, name):
        self.name = name
        self.P = "[%s] " % name
        self.user = name == "user"
        self.uid = USER_UID if self.user else 0
        self.tmps = []
        self.env = {}
        self.wrap = []
        self.cwd = None
        self.bin = os.path.abspath(BIN)
        self.home = "/root"
        if self.user:
            try:
                self.home = pwd.getpwuid(USER_UID).pw_dir or "/home/cloudsdk"
                uname = pwd.getpwuid(USER_UID).pw_name
            except KeyError:
                self.home, uname = "/home/cloudsdk", "cloudsdk"
            self.made_home = not os.path.isdir(self.home)
            if self.made_home:
                os.makedirs(self.home, mode=0o755)
                os.chown(self.home, USER_UID, USER_UID)
            self.wrap = ["setpriv", "--reuid=%d" % USER_UID, "--regid=%d" % USER_UID, "--clear-groups"]
            self.env = {"HOME": self.home, "USER": uname, "LOGNAME": uname}
            # the build dir may not be traversable by uid 1000: a world-readable copy
            bindir = tempfile.mkdtemp(prefix="smcp-atk-bin-")
            os.chmod(bindir, 0o755)
            self.tmps.append(bindir)
            self.bin = os.path.join(bindir, "sandbox-mcp")
            shutil.copy2(BIN, self.bin)
            # owned by the user, as a user's own install is: only the sandbox, not file
            # permissions, protects it (see "the server binary is unchanged")
            os.chown(self.bin, USER_UID, USER_UID)
            os.chmod(self.bin, 0o755)
            self.cwd = bindir

    def tmpdir(self, prefix, base=None, mode=0o755):
        d = tempfile.mkdtemp(prefix=prefix, dir=base)
        os.chmod(d, mode)
        if self.uid:
            os.chown(d, self.uid, self.uid)
        self.tmps.append(d)
        return d

    def server(self, args=(), local_root=None, pass_fds=(), ctty=None, env=None):
        return AttackServer(self, args, local_root, pass_fds, ctty, env)

    def cleanup(self):
        for d in self.tmps:
            shutil.rmtree(d, ignore_errors=True)


class AttackServer(Server):
    """mcpclient.Server with an argv prefix (setpriv), its own env and cwd, extra inherited
    fds (to see whether they leak into sandboxes) and optionally a controlling terminal."""

    def __init__(self, mode, args=(), local_root=None, pass_fds=(), ctty=None, env=None):
        self.root = local_root or mode.tmpdir("smcp-atk-")
        e = dict(os.environ)
        for k in ("OPEN_SANDBOX_DOMAIN", "OPEN_SANDBOX_API_KEY", "X_API_KEY", "E2B_API_KEY",
                  "E2B_DOMAIN", "SANDBOX_MCP_BACKEND"):
            e.pop(k, None)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        e.update(mode.env)
        e.update(env or {})
        argv = mode.wrap + [mode.bin] + list(args) + ["--local-root", self.root]
        pre = None
        if ctty is not None:
            ttyname = os.ttyname(ctty)

            def pre():
                os.setsid()
                fd = os.open(ttyname, os.O_RDWR)
                fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
                os.close(fd)
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=e, cwd=mode.cwd,
                                  pass_fds=tuple(pass_fds), preexec_fn=pre)
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
            return Server.call(self, name, args, timeout=timeout, meta=meta)
        except (BrokenPipeError, OSError):
            self.dead = True
            return None

    def started(self):
        try:
            r = self.initialize()
        except (BrokenPipeError, OSError):
            r = None
        if not (r and "result" in r):
            self.dead = True
            return False
        return True


class Abort(Exception):
    pass


# --- one run mode -----------------------------------------------------------------------------
class Run:
    def __init__(self, mode):
        self.m = mode
        self.P = mode.P
        self.secrets = []          # strings never to print in diagnostics
        self.markers = []          # host cmdline markers of processes we started
        self.roots = []            # state roots (for stray-process cleanup)
        self.servers = []
        self.t0 = time.time()

    def note(self, what):
        print("# %s%s (%.0f s into this mode)" % (self.P, what, time.time() - self.t0), flush=True)

    # TAP with the mode prefix and canary contents redacted from diagnostics
    def red(self, x):
        s = x if isinstance(x, str) else repr(x)
        for sec in self.secrets:
            s = s.replace(sec, "<CANARY>")
        return s

    def ok(self, cond, desc, diag=None):
        return t.ok(bool(cond), self.P + desc, None if diag is None else self.red(diag))

    def srv(self, *a, **kw):
        s = self.m.server(*a, **kw)
        self.servers.append(s)
        self.roots.append(s.root)
        return s

    def ex(self, s, cmd, sid=None, timeout=EXEC_T, stdin=None, background=False, **extra):
        args = {"command": cmd, "timeout_s": timeout}
        if sid:
            args["sandbox_id"] = sid
        if stdin is not None:
            args["stdin"] = stdin
        if background:
            args["background"] = True
        args.update(extra)
        r = s.call("exec", args, timeout=timeout + 90)
        sc = structured(r)
        return r, sc, sc.get("stdout", "") or "", sc.get("stderr", "") or ""

    def create(self, s, what, args=None):
        a = {"timeout_s": 900}
        a.update(args or {})
        r = s.call("sandbox_create", a)
        sid = structured(r).get("sandbox_id")
        self.ok(sid and not is_error(r), "sandbox_create (%s)" % what, (r, s.stderr[-1500:]))
        return sid

    def marker(self):
        m = "1000.%06d%03d" % (random.randrange(10 ** 6), len(self.markers))
        self.markers.append(m)
        return m

    def cleanup(self):
        for s in self.servers:
            try:
                if s.p.poll() is None and not s.dead:
                    lst = structured(s.call("sandbox_list", {}, timeout=30)).get("sandboxes", [])
                    for x in lst:
                        s.call("sandbox_kill", {"sandbox_id": x.get("sandbox_id")}, timeout=30)
                    s.close(timeout=20)
            except Exception:
                pass
            try:
                if s.p.poll() is None:
                    s.p.kill()
                s.p.wait(timeout=10)
            except Exception:
                pass
        for mk in self.markers:
            kill_marked(mk)
        for r in self.roots:
            pids = procs_under(r)
            kill_pids(sorted({sandbox_init_of(p) for p in pids} - {None}) + pids)


def parse_marks(out, tag):
    """Lines 'TAG name rest...' → {name: rest}."""
    res = {}
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) >= 2 and parts[0] == tag:
            res[parts[1]] = parts[2] if len(parts) > 2 else ""
    return res


def shq(s):
    return "'" + s.replace("'", "'\"'\"'") + "'"


# --- inside programs ---------------------------------------------------------------------------
SECCOMP_PY = r'''
import ctypes, errno, fcntl, os, socket, termios
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def arg(x):
    return ctypes.c_char_p(x) if isinstance(x, bytes) else ctypes.c_long(x)

def probe(name, nr, *args, fork_like=False, setup=None):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            extra = setup() if setup else ()
            ctypes.set_errno(0)
            ret = libc.syscall(ctypes.c_long(nr), *[arg(a) for a in (tuple(extra) + args)])
            e = ctypes.get_errno()
            if fork_like and ret == 0:
                os._exit(0)
            os.write(w, b"%d %d" % (ret, e))
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        c = os.read(r, 64)
        if not c:
            break
        data += c
    os.close(r)
    _, st = os.waitpid(pid, 0)
    if data:
        ret, e = data.split()
        print("SC %s %s %s" % (name, ret.decode(), e.decode()), flush=True)
    else:
        print("SC %s killed %d" % (name, os.WTERMSIG(st) if os.WIFSIGNALED(st) else -1), flush=True)

NEWUSER, NEWNS, NEWNET, NEWPID, SIGCHLD = 0x10000000, 0x20000, 0x40000000, 0x20000000, 17
# Arguments are chosen so that, without the filter, most calls give a different answer
# (success, EFAULT, EINVAL, EBADF) than the filter's EPERM.
probe("mount", 165, 0, b"/", 1, 0, 0)
probe("umount2", 166, b"/", 0x80000000)
probe("pivot_root", 155, b"/", b"/")
probe("move_mount", 429, -1, b"", -1, b"", 0xffffffff)
probe("open_tree", 428, -1, b"/", 0xffffffff)
probe("fsopen", 430, b"tmpfs", 0)
probe("fsconfig", 431, -1, 0xffff, 0, 0, 0)
probe("fsmount", 432, -1, 0, 0)
probe("fspick", 433, -1, b"/", 0xffffffff)
probe("mount_setattr", 442, -1, b"/", 0xffffffff, 0, 0)
probe("setns", 308, -1, 0)
probe("unshare_newuser", 272, NEWUSER)
probe("unshare_newns", 272, NEWNS)
probe("unshare_newnet", 272, NEWNET)
probe("clone_newuser", 56, NEWUSER | SIGCHLD, 0, 0, 0, 0, fork_like=True)
probe("clone_newns", 56, NEWNS | SIGCHLD, 0, 0, 0, 0, fork_like=True)
probe("clone_newpid", 56, NEWPID | SIGCHLD, 0, 0, 0, 0, fork_like=True)
probe("clone3", 435, 0, 0)
probe("ptrace_traceme", 101, 0, 0, 0, 0)
probe("process_vm_readv", 310, os.getpid(), 0, 0, 0, 0, 0)
probe("process_vm_writev", 311, os.getpid(), 0, 0, 0, 0, 0)
probe("kexec_load", 246, 0, 0, 0, 0)
probe("kexec_file_load", 320, -1, -1, 0, 0, 0)
probe("bpf", 321, 0, 0, 0)
probe("keyctl", 250, 0, -3, 0)
probe("add_key", 248, 1, 0, 0, 0, 0)
probe("request_key", 249, 1, 1, 0, 0)
probe("userfaultfd", 323, 1)
probe("perf_event_open", 298, 0, 0, -1, -1, 0)
probe("io_uring_setup", 425, 1, 0)
probe("io_uring_enter", 426, -1, 0, 0, 0, 0, 0)
probe("io_uring_register", 427, -1, 0, 0, 0)
probe("init_module", 175, 0, 0, b"")
probe("finit_module", 313, -1, b"", 0)
probe("delete_module", 176, b"smcp_no_such_module", 0)
probe("open_by_handle_at", 304, -1, 0, 0)
probe("name_to_handle_at", 303, -100, b"/", 0, 0, 0)
# socket(2) through the raw syscall, also with high bits set in the 64-bit domain register
# (the kernel reads an int): a filter comparing 64 bits would let these through.
probe("socket_vsock", 41, 40, 1, 0)
probe("socket_packet", 41, 17, 3, 0)
probe("socket_vsock_hibits", 41, (1 << 32) | 40, 1, 0)
probe("socket_packet_hibits", 41, (1 << 32) | 17, 3, 0)

def pty_setup(ctty):
    def f():
        m, s = os.openpty()
        if ctty:
            os.setsid()
            fcntl.ioctl(s, termios.TIOCSCTTY, 0)
        buf = ctypes.create_string_buffer(b"x\x06", 64)
        f.keep = buf
        return (s,)
    return f

def ioctl_probe(name, cmd, ctty):
    setup = pty_setup(ctty)
    def s2():
        fd, = setup()
        return (fd, cmd, ctypes.addressof(setup.keep))
    probe(name, 16, setup=s2)

ioctl_probe("tiocsti_pty", 0x5412, False)
ioctl_probe("tiocsti_ctty", 0x5412, True)
ioctl_probe("tiocsti_ctty_hibits", (1 << 32) | 0x5412, True)
ioctl_probe("tioclinux", 0x541C, True)
# positive controls: the same machinery on allowed calls
probe("ok_getpid", 39)
probe("ok_fork", 56, SIGCHLD, 0, 0, 0, 0, fork_like=True)
probe("ok_socket_inet", 41, 2, 1, 0)
probe("ok_socket_unix", 41, 1, 1, 0)
ioctl_probe("ok_tiocgwinsz", 0x5413, True)
print("SC done 0 0", flush=True)
'''

I386_C = r'''
int main(void) {
    long r;
    __asm__ volatile ("int $0x80" : "=a"(r) : "a"(20L) : "memory");  /* i386 getpid */
    return r > 0 ? 0 : 3;
}
'''

X32_C = r'''
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {
    long r = syscall(39 | 0x40000000L);  /* x32 getpid */
    return r > 0 ? 0 : 4;
}
'''

SESSION_PY = r'''
import os, fcntl, termios
def sid(p):
    try:
        return os.getsid(p)
    except OSError as e:
        return "err%d" % e.errno
print("SID", sid(0), sid(1))
try:
    fd = os.open("/dev/tty", os.O_RDWR)
    n = 0
    for ch in b"smcp-injected\n":
        try:
            fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))
            n += 1
        except OSError as e:
            print("STIERR", e.errno)
            break
    print("TTY open sent", n)
except OSError as e:
    print("TTY err", e.errno, e.strerror)
'''

MULTI_MEM_PY = r'''
import os, time
kids = []
for i in range(4):
    pid = os.fork()
    if pid == 0:
        a = bytearray(100 * 1024 * 1024)
        for j in range(0, len(a), 4096):
            a[j] = 1
        time.sleep(6)
        os._exit(0)
    kids.append(pid)
ok = 0
for k in kids:
    _, st = os.waitpid(k, 0)
    ok += os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0
print("DONE %d" % ok, flush=True)
'''

FORK_PY = r'''
import os, time, signal
kids, n, res = [], 0, None
try:
    while n < 6000:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        kids.append(pid)
        n += 1
    res = "NOLIMIT %d 0" % n
except OSError as e:
    res = "LIMIT %d %d" % (n, e.errno)
for k in kids:
    try:
        os.kill(k, signal.SIGKILL)
    except OSError:
        pass
for k in kids:
    try:
        os.waitpid(k, 0)
    except OSError:
        pass
print("FORK", res, flush=True)
'''

EVERYDAY = [
    # (name, bash body, regex the output must match)
    ("python3", "%s -c 'print(1+1)'" % PY, "^2$"),
    ("gcc hello in /tmp", "cd /tmp && printf '#include <stdio.h>\\nint main(void){puts(\"hello\");return 0;}\\n' > h.c"
     " && gcc -O1 -o h h.c && ./h", "^hello$"),
    ("gcc hello in /workspace", "cd /workspace && printf '#include <stdio.h>\\nint main(void){puts(\"hello\");return 0;}\\n'"
     " > h.c && gcc -o h h.c && ./h && rm -f h h.c", "^hello$"),
    ("make", "rm -rf /tmp/mk && mkdir /tmp/mk && cd /tmp/mk && printf 'all:\\n\\t@echo made\\n' > Makefile && make",
     "^made$"),
    ("git init, commit, log", "cd /workspace && rm -rf repo && mkdir repo && cd repo && git init -q"
     " && git config user.email a@example.com && git config user.name tester && echo hi > f"
     " && git add f && git commit -qm first-commit && git log --oneline", "first-commit"),
    ("tar round trip", "rm -rf /tmp/tr && mkdir -p /tmp/tr/src/sub && echo a > /tmp/tr/src/a"
     " && head -c 100000 /dev/urandom > /tmp/tr/src/sub/b && tar czf /tmp/tr/x.tgz -C /tmp/tr src"
     " && mkdir /tmp/tr/dst && tar xzf /tmp/tr/x.tgz -C /tmp/tr/dst && diff -r /tmp/tr/src /tmp/tr/dst/src"
     " && echo same", "^same$"),
    ("node", "node -e 'console.log(2+2)'", "^4$"),
    ("python3 -m venv", "rm -rf /tmp/v && %s -m venv /tmp/v && /tmp/v/bin/python -c 'import sys; print(sys.prefix)'"
     " && /tmp/v/bin/pip --version" % PY, "^/tmp/v$"),
    ("write to $HOME", "echo home-ok > \"$HOME/.smcp-w\" && cat \"$HOME/.smcp-w\"", "^home-ok$"),
    ("write to /tmp", "echo tmp-ok > /tmp/.smcp-w && cat /tmp/.smcp-w", "^tmp-ok$"),
    ("write to /workspace", "echo ws-ok > /workspace/.smcp-w && cat /workspace/.smcp-w && rm /workspace/.smcp-w",
     "^ws-ok$"),
    ("ls /usr/bin | head", "ls /usr/bin | head -3 | wc -l", "^3$"),
    ("pipes and sort", "seq 1 1000 | sort -rn | head -1", "^1000$"),
    ("ps lists processes", "ps -e -o pid= | wc -l", "^ *[0-9]+$"),
]


def everyday_script():
    lines = ["set +e"]
    for i, (_, body, _) in enumerate(EVERYDAY):
        lines.append("t_%d() {\n%s\n}" % (i, body))
    for i, (_, _, want) in enumerate(EVERYDAY):
        lines.append('o=$(t_%d 2>&1); rc=$?; if [ $rc -eq 0 ] && printf "%%s\\n" "$o" | grep -Eq %s; then echo "OK %d"; '
                     'else o=${o//$\'\\n\'/ | }; echo "FAIL %d rc=$rc ${o: -400}"; fi' % (i, shq(want), i, i))
    return "\n".join(lines)


# --- the attacks --------------------------------------------------------------------------------
def run_mode(mode):
    R = Run(mode)
    m = mode
    rnd = secrets.token_hex(5)
    token = "smcp-canary-" + rnd
    R.secrets.append(token)
    canaries = {}     # name -> host path
    contents = {}     # name -> content
    made = []         # host paths we created (to remove)
    fds = []
    master = slave = None
    listener = None

    def plant(name, path, owner=0):
        c = "%s-%s-%s\n" % (token, name, secrets.token_hex(8))
        with open(path, "w") as f:
            f.write(c)
        os.chmod(path, 0o644)
        if owner:
            os.chown(path, owner, owner)
        canaries[name] = path
        contents[name] = c
        R.secrets.append(c.strip())
        made.append(path)

    def mkdir_for(path, owner=0):
        if not os.path.isdir(path):
            os.mkdir(path)
            os.chmod(path, 0o755)
            if owner:
                os.chown(path, owner, owner)
            made.append(path)
        else:
            os.chmod(path, os.stat(path).st_mode | 0o055)

    try:
        # ---- canaries, planted before the server starts (0644 files in 0755 dirs: only the
        # sandbox's view protects them)
        try:
            uhome = pwd.getpwuid(USER_UID).pw_dir or "/home/cloudsdk"
        except KeyError:
            uhome = "/home/cloudsdk"
        if not os.path.isdir(uhome):
            os.makedirs(uhome, mode=0o755)
            os.chown(uhome, USER_UID, USER_UID)
        mkdir_for(os.path.join(uhome, ".ssh"), USER_UID)
        # (a random suffix everywhere: other runs of this or other suites may plant canaries too)
        plant("home_ssh", os.path.join(uhome, ".ssh", "id_canary_" + rnd), USER_UID)
        if not m.user:
            mkdir_for("/root/.ssh")
            plant("root_ssh", "/root/.ssh/id_canary_" + rnd)
        optdir = "/opt/canary-" + rnd
        mkdir_for(optdir)
        plant("opt", optdir + "/secret")
        plant("var_tmp", "/var/tmp/canary-" + rnd)
        plant("host_tmp", "/tmp/canary-" + rnd)
        # the state root lives under /var/tmp (like the default ~/.local/state, on a host path
        # that a sandbox seeing the host would see)
        root = m.tmpdir("smcp-atk-root-", base="/var/tmp")
        plant("state_root", os.path.join(root, "canary-" + rnd), m.uid)
        hashes = {k: sha(p) for k, p in canaries.items()}
        bin_hash = sha(m.bin)

        # fds the server inherits: a directory and a file of the host (must not reach commands)
        fds = [os.open(optdir, os.O_RDONLY | os.O_DIRECTORY), os.open(canaries["var_tmp"], os.O_RDONLY)]
        # a controlling terminal for the server: a command that is not in its own session
        # could open /dev/tty and push input into it with TIOCSTI (CVE-2017-5226)
        master, slave = os.openpty()
        tty.setraw(slave)

        # a secret in the server's environment (API keys live there) must not reach commands
        envsec = "%s-server_env-%s" % (token, secrets.token_hex(6))
        R.secrets.append(envsec)
        s = R.srv(local_root=root, pass_fds=fds, ctty=slave, env={"SMCP_ATTACK_SECRET": envsec})
        if not R.ok(s.started(), "server starts (state root %s)" % root, s.stderr[-2000:]):
            raise Abort()
        for fd in fds:
            os.close(fd)
        fds = []

        A = R.create(s, "A, the attacker")
        B = R.create(s, "B, the victim")
        r = s.call("file_write", {"sandbox_id": B, "path": "/workspace/secret", "content": "will be replaced"})
        bsecret = "%s-other_sandbox-%s\n" % (token, secrets.token_hex(8))
        R.secrets.append(bsecret.strip())
        r = s.call("file_write", {"sandbox_id": B, "path": "/workspace/secret", "content": bsecret})
        contents["other_sandbox"] = bsecret
        bpaths = files_containing(root, bsecret.encode())
        R.ok(not is_error(r) and bpaths, "B's /workspace/secret is written and found on the host under the state root",
             (r, bpaths))
        canaries["other_sandbox"] = bpaths[0] if bpaths else os.path.join(root, B or "x", "workspace", "secret")
        hashes["other_sandbox"] = sha(canaries["other_sandbox"])

        names = sorted(canaries)
        paths_sh = " ".join(shq(canaries[n]) for n in names)

        def leaked(text):
            return [n for n in names if contents[n].strip() in text]

        # ================= 1. the file system is an allowlist =================
        R.note("1. the file system is an allowlist")
        routes = [("direct cat of the host path", ""), ("/proc/1/root", "/proc/1/root"),
                  ("/proc/self/root", "/proc/self/root"), ("/old_root", "/old_root"),
                  ("/proc/1/cwd/../..", "/proc/1/cwd/../../../../../../../../..")]
        script = []
        for i, (_, pre) in enumerate(routes):
            for n in names:
                script.append('echo "@@ %d %s"; cat %s 2>&1 | head -c 400' % (i, n, shq(pre + canaries[n])))
        r, sc, out, err = R.ex(s, "\n".join(script), A)
        parts = chunks(out)
        R.ok(sc.get("exit_code") is not None, "the read-route probe ran", r)
        # the /old_root route PASSES TODAY: this host's own /old_root is an empty directory
        for i, (desc, _) in enumerate(routes):
            bad = [n for n in names if contents[n].strip() in parts.get("%d %s" % (i, n), "")]
            R.ok(not bad, "no canary is readable via %s (%s)" % (desc, ", ".join(names)),
                 {"leaked": bad, "out": {k: v for k, v in parts.items() if k.startswith("%d " % i)}})

        # leaked file descriptors: the server was started holding fds on host /opt/canary-*
        # and /var/tmp/canary-*
        r, sc, out, err = R.ex(s, "ls /proc/self/fd | tr '\\n' ' '; echo; for f in /proc/$$/fd/*; do n=${f##*/}; "
                                  "[ \"$n\" -le 2 ] && continue; echo \"@@ fd $n $(readlink $f)\"; "
                                  "timeout 2 cat \"$f\" 2>&1 | head -c 300; ls -A \"$f/\" 2>&1 | head; done", A)
        fdl = (out.splitlines() or [""])[0].split()
        # PASSES TODAY if the server already closes inherited fds for commands
        R.ok(sorted(fdl) == ["0", "1", "2", "3"], "only fds 0, 1, 2 (and ls's own) are open in a command", out)
        R.ok(not leaked(out) and "secret" not in out.split("\n", 1)[-1],
             "no inherited server fd gives access to host files", out)

        # grep -r over / for the canary token, built at run time inside; a control file
        # inside the sandbox proves the search works
        half = len(token) // 2
        cmd = ("a=%s; b=%s; printf '%%s%%s\\n' \"$a\" \"$b\" > /workspace/ctl.txt; "
               "grep -rIl -s -D skip --exclude-dir=proc --exclude-dir=sys -e \"$a$b\" / 2>/dev/null; "
               "echo \"@@END $?\"; rm -f /workspace/ctl.txt" % (shq(token[:half]), shq(token[half:])))
        r, sc, out, err = R.ex(s, cmd, A, timeout=240)
        found = [x for x in out.splitlines() if x.startswith("/")]
        R.ok("/workspace/ctl.txt" in found, "grep -r / finds the control file (the search works)", (r, found))
        R.ok(not [x for x in found if x != "/workspace/ctl.txt"],
             "grep -rIl for the canary token over / finds nothing of the host", found)

        cmd = "find / \\( -path /proc -o -path /sys \\) -prune -o -name '*canary*' -print 2>/dev/null; echo @@END"
        r, sc, out, err = R.ex(s, cmd, A, timeout=180)
        found = [x for x in out.splitlines() if x.startswith("/")]
        R.ok("@@END" in out and not found, "find / -name '*canary*' finds nothing", (found, err[-500:]))

        # ls / and /home: only the allowlist
        r, sc, out, err = R.ex(s, "ls -A /; echo @@; ls -A /home; echo @@; id -un", A)
        secs = out.split("@@\n")
        top = set(secs[0].split()) if secs else set()
        homes = set(secs[1].split()) if len(secs) > 1 else set()
        me = secs[2].strip() if len(secs) > 2 else ""
        R.ok(top and top <= ALLOWED_TOP, "ls / shows only allowlisted names", sorted(top - ALLOWED_TOP))
        for name in FORBIDDEN_TOP:
            R.ok(top and name not in top, "no /%s inside" % name, sorted(top))
        R.ok(homes <= {me}, "/home holds only the sandbox user's home", (homes, me))

        # /etc: a short allowlist, stub passwd and group naming the sandbox user
        r, sc, out, err = R.ex(s, "ls -A /etc | tr '\\n' ' '; echo; for f in shadow gshadow sudoers ssh machine-id "
                                  "ssl/private; do [ -e /etc/$f ] && echo \"PRESENT $f\"; done; "
                                  "echo \"ME $(id -un) $(id -gn)\"; echo @@P; cat /etc/passwd; echo @@G; cat /etc/group", A)
        etc = (out.splitlines() or [""])[0].split()
        present = parse_marks(out, "PRESENT")
        for f in ["shadow", "gshadow", "sudoers", "ssh", "machine-id", "ssl/private"]:
            # sudoers does not exist on this host: that check only guards other hosts
            R.ok(f not in present and out, "/etc/%s is absent inside" % f, present)
        # PASS TODAY: the two checks below (the host's passwd and group name root)
        R.ok(0 < len(etc) <= 40, "/etc holds a short list (%d entries)" % len(etc), " ".join(etc))
        meline = [x for x in out.splitlines() if x.startswith("ME ")]
        un, gn = (meline[0].split() + ["", ""])[1:3] if meline else ("", "")
        passwd = out.split("@@P\n", 1)[-1].split("@@G\n", 1)[0]
        group = out.split("@@G\n", 1)[-1]
        R.ok(un and any(l.split(":")[0] == un for l in passwd.splitlines()),
             "/etc/passwd exists and names the sandbox user (%s)" % un, passwd)
        R.ok(gn and any(l.split(":")[0] == gn for l in group.splitlines()),
             "/etc/group exists and names the sandbox user's group (%s)" % gn, group)
        # the host's own accounts are not the sandbox's business (a stub, not the host file)
        hostonly = [u.pw_name for u in pwd.getpwall() if u.pw_name not in ("root", "nobody", un)
                    and u.pw_uid not in (0, 65534)]
        seen = [u for u in hostonly if any(l.split(":")[0] == u for l in passwd.splitlines())]
        R.ok(passwd and len(seen) <= 1, "/etc/passwd is a stub, not the host's account list", seen)

        # the server's environment does not leak (PASSES TODAY: commands get a fresh environment)
        r, sc, out, err = R.ex(s, "env; cat /proc/1/environ /proc/self/environ 2>/dev/null | tr '\\0' '\\n'", A)
        R.ok(sc.get("exit_code") is not None and envsec not in out + err,
             "the server's environment (SMCP_ATTACK_SECRET) is not visible to commands", out[-600:])

        # the file tools are a route too: absolute host paths, /proc/1/root, ../ traversal and
        # symlinks planted inside must all resolve in the sandbox's view (or be refused)
        lns = "; ".join("ln -sf %s /workspace/l_%s; ln -sf %s /workspace/p_%s" %
                        (shq(canaries[n]), n, shq("/proc/1/root" + canaries[n]), n) for n in names)
        R.ex(s, lns, A)
        got = {}
        for n in names:
            for path in [canaries[n], "/proc/1/root" + canaries[n], "../../../../../../../.." + canaries[n],
                         "l_" + n, "p_" + n]:
                rr = s.call("file_read", {"sandbox_id": A, "path": path})
                txt = json.dumps(rr)
                if contents[n].strip() in txt:
                    got.setdefault(n, []).append(path)
        # (today file_read follows the sandbox's view, which holds the host: these fail)
        R.ok(not got, "file_read reaches no canary (absolute, /proc/1/root, ../, symlinks made inside)", got)
        listed = []
        for d in [os.path.dirname(canaries["opt"]), "/var/tmp", os.path.join(uhome, ".ssh"), root]:
            rr = s.call("file_list", {"sandbox_id": A, "path": d})
            ents = [str(e.get("name", "")) + " " + str(e.get("path", ""))
                    for e in structured(rr).get("entries", []) if isinstance(e, dict)]
            bad = [e for e in ents if "canary" in e or e.split()[0] == "secret"]
            if bad:
                listed.append((d, bad))
        R.ok(not listed, "file_list shows none of the host's directories holding canaries", listed)
        for n in names:
            # their effect is judged by the hash checks at the end
            s.call("file_write", {"sandbox_id": A, "path": canaries[n], "content": "pwned"})
            s.call("file_write", {"sandbox_id": A, "path": "l_" + n, "content": "pwned"})
        # new files through a symlinked directory: an authorized_keys planted on the host
        # (PASSES TODAY: the old file tools resolve in the sandbox's view, where these are
        # read-only binds)
        sshdirs = [os.path.join(uhome, ".ssh")] + ([] if m.user else ["/root/.ssh"])
        R.ex(s, "ln -sfn /var/tmp /workspace/vt; " + "; ".join(
            "ln -sfn %s /workspace/sd%d" % (shq(d), i) for i, d in enumerate(sshdirs)) +
            "; echo x > /workspace/mv-src", A)
        newpaths = ["/var/tmp/smcp-atk-new-" + rnd, "/var/tmp/smcp-atk-dir-" + rnd, "/var/tmp/smcp-atk-mv-" + rnd]
        s.call("file_write", {"sandbox_id": A, "path": "vt/smcp-atk-new-" + rnd, "content": "pwned"})
        s.call("file_mkdir", {"sandbox_id": A, "path": "vt/smcp-atk-dir-" + rnd})
        s.call("file_move", {"sandbox_id": A, "source": "mv-src", "destination": "vt/smcp-atk-mv-" + rnd})
        for i, d in enumerate(sshdirs):
            newpaths.append(os.path.join(d, "authorized_keys_" + rnd))
            s.call("file_write", {"sandbox_id": A, "path": "sd%d/authorized_keys_%s" % (i, rnd),
                                  "content": "ssh-ed25519 AAAA attacker"})
        made_new = [x for x in newpaths if os.path.lexists(x)]
        for x in made_new:
            shutil.rmtree(x, ignore_errors=True) if os.path.isdir(x) else os.unlink(x)
        R.ok(not made_new, "file_write, file_mkdir and file_move through symlinked directories create nothing "
             "on the host (e.g. ~/.ssh/authorized_keys)", made_new)

        # process tools: another sandbox's process output through a crafted pid, and a host
        # process through process_kill (both PASS TODAY: pids are validated)
        r, sc, out, err = R.ex(s, "cat /workspace/secret; sleep 600", B, background=True)
        bpid = str(sc.get("pid", ""))
        time.sleep(1)
        seen_b = []
        for pid in [bpid, "../%s/procs/%s" % (B, bpid), "../../%s/procs/%s" % (B, bpid),
                    "../../../%s/procs/%s" % (B, bpid), "%s/../../%s/procs/%s" % (bpid, B, bpid)]:
            rr = s.call("process_output", {"sandbox_id": A, "pid": pid, "offset": 0})
            if bsecret.strip() in json.dumps(rr):
                seen_b.append(pid)
        R.ok(bpid and not seen_b, "process_output of A never returns B's process output (crafted pids)", seen_b)
        victim = subprocess.Popen(["sleep", R.marker()])
        for pid in [str(victim.pid), "../../../../../proc/%d" % victim.pid]:
            s.call("process_kill", {"sandbox_id": A, "pid": pid, "signal": "SIGKILL"})
        time.sleep(0.5)
        R.ok(victim.poll() is None, "process_kill cannot kill a host process by its host pid", victim.returncode)
        victim.kill()
        victim.wait()

        # a minimal /dev: no block devices, no mknod (PASSES TODAY: no CAP_MKNOD in the init namespace)
        r, sc, out, err = R.ex(s, "find /dev -type b 2>/dev/null; mknod /tmp/sda b 8 0 2>/dev/null; echo \"RC mknod $?\"", A)
        R.ok(parse_marks(out, "RC").get("mknod", "0") != "0" and not [x for x in out.splitlines() if x.startswith("/")],
             "/dev has no block devices and mknod fails", out)

        # ================= 2. locked =================
        R.note("2. locked")
        r, sc, out, err = R.ex(s, "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status", A)
        st = {}
        for line in out.splitlines():
            k, _, v = line.partition(":")
            st[k.strip()] = v.strip()
        for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]:
            # CapInh and CapAmb PASS TODAY: they are already empty (only Prm/Eff/Bnd are full)
            R.ok(st.get(cap) == "0000000000000000", "%s is empty" % cap, out)
        R.ok(st.get("NoNewPrivs") == "1", "NoNewPrivs: 1", out)
        R.ok(st.get("Seccomp") == "2", "Seccomp: 2 (filter)", out)

        # writes to the system directories (PASS TODAY: read-only binds)
        wr = "; ".join("touch %s/.smcp-atk-%s 2>&1; echo \"RC %s $?\"" % (d, rnd, d) for d in ["/usr", "/etc", "/bin", "/lib"])
        r, sc, out, err = R.ex(s, wr, A)
        rcs = parse_marks(out, "RC")
        for d in ["/usr", "/etc", "/bin", "/lib"]:
            R.ok(rcs.get(d, "0") != "0" and ("Read-only" in out or "Permission denied" in out),
                 "touch in %s fails (read-only or permission denied)" % d, out)

        # the masked /proc and /sys (kcore PASSES TODAY: root-only on the host)
        r, sc, out, err = R.ex(s, "%s -c \"open('/proc/sysrq-trigger', 'w')\" 2>/dev/null; echo \"RC sysrq $?\"; "
                                  "head -c 16 /proc/kcore >/dev/null 2>&1; echo \"RC kcore $?\"; "
                                  "mkdir /sys/fs/cgroup/smcp-atk-%s 2>/dev/null; echo \"RC cgroup $?\"" % (PY, rnd), A)
        rcs = parse_marks(out, "RC")
        R.ok(rcs.get("sysrq", "0") != "0", "/proc/sysrq-trigger cannot be opened for writing", out)
        R.ok(rcs.get("kcore", "0") != "0", "/proc/kcore cannot be read", out)
        R.ok(rcs.get("cgroup", "0") != "0", "no cgroup can be created under /sys", out)

        # pid 1 is a non-dumpable init
        r, sc, out, err = R.ex(s, "ls /proc/1/root/ >/dev/null 2>&1; echo \"RC root $?\"; "
                                  "cat /proc/1/environ >/dev/null 2>&1; echo \"RC environ $?\"; "
                                  "ls /proc/1/fd >/dev/null 2>&1; echo \"RC fd $?\"; "
                                  "ls /proc/1/cwd/ >/dev/null 2>&1; echo \"RC cwd $?\"; "
                                  "head -c 4 /proc/1/exe >/dev/null 2>&1; echo \"RC exe $?\"; "
                                  "%s -c \"open('/proc/1/mem', 'rb')\" 2>/dev/null; echo \"RC mem $?\"" % PY, A)
        rcs = parse_marks(out, "RC")
        # (exe: the sandbox's init may be the server's own binary, which a user owns)
        for k in ["root", "environ", "fd", "cwd", "exe", "mem"]:
            R.ok(rcs.get(k, "0") != "0", "/proc/1/%s is not readable (non-dumpable init)" % k, out)

        # own session: no controlling terminal, nothing pushed into the server's terminal
        os.set_blocking(slave, False)
        try:
            os.read(slave, 65536)       # drain
        except OSError:
            pass
        r, sc, out, err = R.ex(s, "%s -" % PY, A, stdin=SESSION_PY)
        sidl = [x.split() for x in out.splitlines() if x.startswith("SID ")]
        # PASSES TODAY: commands already get their own session inside (sid 2 vs init's 1)
        R.ok(sidl and sidl[0][1] not in ("0", sidl[0][2]) and not sidl[0][1].startswith("err"),
             "the command runs in its own session (getsid(0) is a visible leader, not init's)", out)
        R.ok("TTY err %d" % errno.ENXIO in out or "TTY err %d" % errno.ENOENT in out,
             "/dev/tty cannot be opened (no controlling terminal: No such device or address)", out + err)
        time.sleep(0.3)
        try:
            injected = os.read(slave, 65536)
        except (BlockingIOError, OSError):
            injected = b""
        R.ok(b"injected" not in injected, "nothing was pushed into the server's terminal with TIOCSTI",
             (injected, out))

        # mount attacks, in a throwaway sandbox (on today's code they succeed and would spoil A)
        M = R.create(s, "M, for mount attacks")
        steps = [("mount -t tmpfs none /tmp/x", "mount -t tmpfs none /tmp/x"),
                 ("mount --bind /workspace /tmp/y", "mount --bind /workspace /tmp/y"),
                 ("mount -o remount,rw /usr", "mount -o remount,rw /usr"),
                 ("mount -o remount,rw,bind /usr", "mount -o remount,rw,bind /usr"),
                 ("touch /usr after the remounts", "touch /usr/.smcp-atk-%s" % rnd),
                 ("unshare -U true", "unshare -U true"),
                 ("unshare -Ur true", "unshare -Ur true"),
                 ("unshare -m true", "unshare -m true"),
                 ("unshare -n true", "unshare -n true"),
                 ("nsenter -t 1 -m true", "nsenter -t 1 -m true"),
                 ("mount --move /workspace /mnt2", "mount --move /workspace /tmp/m2")]
        lines = ["mkdir -p /tmp/x /tmp/y /tmp/m2", "before=$(< /proc/self/mountinfo)",
                 "t() { local n=$1; shift; local o rc; o=$(\"$@\" 2>&1); rc=$?; o=${o//$'\\n'/ }; "
                 "echo \"RC $n $rc ${o:0:200}\"; }"]
        for i, (_, c) in enumerate(steps):
            lines.append("t s%d %s" % (i, c))
        # try to make the canaries' directories writable, then append to every canary: the
        # final hash check sees any change on the host
        for d in ["/var", "/var/tmp", "/opt", "/home", uhome, "/root", "/tmp"]:
            lines.append("mount -o remount,rw,bind %s 2>/dev/null" % d)
        for n in names:
            lines.append("echo pwned >> %s 2>/dev/null" % shq(canaries[n]))
        lines.append("after=$(< /proc/self/mountinfo); [ \"$before\" = \"$after\" ] && echo 'MI same' || echo 'MI changed'")
        lines.append("t u0 umount /usr")
        lines.append("t u1 umount -l /tmp")
        lines.append("after=$(< /proc/self/mountinfo); [ \"$before\" = \"$after\" ] && echo 'MI2 same' || echo 'MI2 changed'")
        r, sc, out, err = R.ex(s, "\n".join(lines), M)
        rcs = parse_marks(out, "RC")
        # PASS TODAY: "remount,rw /usr" (the host mount's locked flags), "touch /usr after the
        # remounts" (sandbox root is host nobody, /usr is root's), "umount /usr" (busy)
        for i, (desc, _) in enumerate(steps):
            v = rcs.get("s%d" % i, "0 (no output)")
            R.ok(not v.startswith("0"), "%s fails" % desc, v)
        R.ok("MI same" in out, "the mount table is unchanged after the attempts", out[-1500:])
        for k, desc in [("u0", "umount /usr"), ("u1", "umount -l /tmp")]:
            v = rcs.get(k, "0 (no output)")
            R.ok(not v.startswith("0"), "%s fails" % desc, v)
        R.ok("MI2 same" in out, "the mount table is unchanged after the umount attempts", out[-800:])

        # umount every mount point (deepest first, the system dirs last) and, after each one,
        # read every canary with shell builtins only (cat is gone once /usr is)
        U = R.create(s, "U, for unmounting everything")
        rd = ("rd() { local l; while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\"; done < \"$1\"; }\n"
              "probe() { for p in " + paths_sh + "; do echo \"@@ $1 $p\"; rd \"$p\" 2>/dev/null; "
              "rd \"/proc/1/root$p\" 2>/dev/null; rd \"/proc/self/root$p\" 2>/dev/null; done; }\n")
        cmd = (rd + "mps=$(awk '{print $5}' /proc/self/mountinfo | awk '{ s = ($0 ~ /^\\/(usr|bin|sbin|lib[^\\/]*)(\\/|$)/"
               " || $0 == \"/\") ? 1 : 0; print s, length($0), $0 }' | sort -k1,1n -k2,2nr | cut -d' ' -f3-)\n"
               "probe start\nfor m in $mps; do umount -l \"$m\" 2>/dev/null && echo \"UMOUNTED $m\"; probe \"$m\"; done\n"
               "echo \"@@ ls\"; echo /* /home/* /home/*/.ssh/*\n")
        r, sc, out, err = R.ex(s, cmd, U)
        um = [x for x in out.splitlines() if x.startswith("UMOUNTED ")]
        R.ok("@@ ls" in out and not um, "umount -l fails on every mount point", (um, err[-400:]))
        R.ok(not leaked(out), "no canary is readable after the umount attempts", (leaked(out), um))
        s.call("sandbox_kill", {"sandbox_id": U})
        s.call("sandbox_kill", {"sandbox_id": M})

        # ================= 3. seccomp =================
        R.note("3. seccomp")
        r, sc, out, err = R.ex(s, "%s -" % PY, A, stdin=SECCOMP_PY, timeout=120)
        res = {}
        for line in out.splitlines():
            p = line.split()
            if len(p) >= 3 and p[0] == "SC":
                res[p[1]] = p[2:]
        R.ok("done" in res, "the syscall probe ran to its end", (out[-1500:], err[-1500:]))

        def show(v):
            if not v:
                return "no result"
            if v[0] == "killed":
                return "killed by signal %s" % v[1]
            return "ret=%s errno=%s (%s)" % (v[0], v[1], errno.errorcode.get(int(v[1]), "?"))

        eperm = ["mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
                 "fspick", "mount_setattr", "setns", "unshare_newuser", "unshare_newns", "unshare_newnet",
                 "clone_newuser", "clone_newns", "clone_newpid", "ptrace_traceme", "process_vm_readv",
                 "process_vm_writev", "kexec_load", "kexec_file_load", "bpf", "keyctl", "add_key", "request_key",
                 "userfaultfd", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register",
                 "init_module", "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at",
                 "socket_vsock", "socket_packet", "socket_vsock_hibits", "socket_packet_hibits",
                 "tiocsti_pty", "tiocsti_ctty", "tiocsti_ctty_hibits", "tioclinux"]
        # PASSES TODAY (the kernel says EPERM without any filter, for lack of a capability in the
        # initial namespace): kexec_load, kexec_file_load, init_module, finit_module,
        # delete_module, open_by_handle_at, bpf (unprivileged_bpf_disabled), tiocsti_pty
        # (not the caller's terminal), socket_packet and socket_packet_hibits (today the sandbox
        # shares the host's network namespace, where it has no CAP_NET_RAW). They still guard
        # the filter against a regression.
        for name in eperm:
            v = res.get(name)
            R.ok(v and v[0] == "-1" and v[1] == str(errno.EPERM), "%s is denied with EPERM" % name, show(v))
        v = res.get("clone3")
        R.ok(v and v[0] == "-1" and v[1] == str(errno.ENOSYS), "clone3 answers ENOSYS (libc falls back to clone)",
             show(v))
        for name in ["ok_getpid", "ok_fork", "ok_socket_inet", "ok_socket_unix", "ok_tiocgwinsz"]:
            v = res.get(name)
            # PASS TODAY: positive controls (allowed calls must keep working)
            R.ok(v and v[0] != "-1", "allowed call %s still works" % name[3:], show(v))

        # foreign architecture (i386 int 0x80) and x32 are killed (SIGSYS: 128+31 = 159)
        b64a = base64.b64encode(I386_C.encode()).decode()
        b64x = base64.b64encode(X32_C.encode()).decode()
        cmd = ("cd /tmp && echo %s | base64 -d > i386.c && echo %s | base64 -d > x32.c && gcc -o i386 i386.c && "
               "gcc -o x32 x32.c && echo COMPILED; ./i386; echo \"RC i386 $?\"; ./x32; echo \"RC x32 $?\"" % (b64a, b64x))
        r, sc, out, err = R.ex(s, cmd, A)
        rcs = parse_marks(out, "RC")
        R.ok("COMPILED" in out, "gcc compiles the probes inside", (out, err))
        if HOST_I386:
            R.ok(rcs.get("i386") == "159", "an i386 int $0x80 syscall kills the process with SIGSYS (exit 159)",
                 (out, err[-300:]))
        else:
            # This kernel has no i386 entry (int $0x80 is SIGSEGV on the host itself, it never
            # reaches seccomp), so SIGSEGV (139) is accepted; PASSES TODAY on such a kernel.
            R.ok(rcs.get("i386") in ("159", "139"),
                 "an i386 int $0x80 syscall kills the process (SIGSYS; SIGSEGV: this kernel has no i386 entry)",
                 (out, err[-300:]))
        R.ok(rcs.get("x32") == "159", "an x32 syscall (nr | 0x40000000) kills the process with SIGSYS (exit 159)",
             (out, err[-300:]))

        # ================= 4. identity =================
        R.note("4. identity")
        mk = R.marker()
        r, sc, out, err = R.ex(s, "sleep %s" % mk, A, background=True)
        pids = wait_until(lambda: host_pids_with(mk), 10)
        R.ok(pids, "the sandbox's sleep is found on the host by its marker", r)
        ids = [host_ids(p) for p in pids]
        if m.user:
            # PASSES TODAY: an unprivileged server can only map its own uid
            R.ok(ids and all(u and set(u) == {USER_UID} for u, _ in ids),
                 "as uid %d, sandbox processes run as host uid %d" % (USER_UID, USER_UID), ids)
        else:
            # PASSES TODAY: sandbox root is mapped to host nobody (65534) already
            R.ok(ids and all(u and 0 not in u and 0 not in g for u, g in ids),
                 "as root, sandbox processes are not host uid/gid 0", ids)
        s.call("process_kill", {"sandbox_id": A, "pid": str(sc.get("pid", "")), "signal": "SIGKILL"})
        r, sc, out, err = R.ex(s, "id -un; id -u; echo \"$HOME\"; [ -d \"$HOME\" ] && echo HOMEDIR; "
                                  "touch \"$HOME/.smcp-id\" && echo HOMEW; "
                                  "getent passwd \"$(id -un)\" || grep \"^$(id -un):\" /etc/passwd", A)
        lines = out.splitlines() + [""] * 6
        name, uid, home = lines[0], lines[1], lines[2]
        # PASS TODAY: "id -un" (root), "$HOME exists and is writable" and the passwd entry
        # (root's /root); uid 0 and $HOME=/root fail
        R.ok(name and not name.isdigit(), "id -un prints a name (%s)" % name, r)
        R.ok(uid.isdigit() and uid != "0", "id -u is not 0 (%s)" % uid, out)
        R.ok(home == "/home/%s" % name, "$HOME is /home/<user> (%s)" % home, out)
        R.ok("HOMEDIR" in out and "HOMEW" in out, "$HOME exists and is writable", (out, err))
        pw = [x for x in out.splitlines() if x.startswith(name + ":")]
        R.ok(pw and pw[0].split(":")[5] == home, "the passwd entry of the user names $HOME as its home", out)

        # ================= 10. abstract unix socket of the host =================
        R.note("10. abstract unix socket of the host")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        aname = "smcp-attack-" + rnd
        listener.bind("\0" + aname)
        listener.listen(8)
        listener.setblocking(False)
        code = ("import socket, errno\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                "try:\n    s.connect('\\0%s'); s.send(b'hello'); print('CONNECTED')\n"
                "except OSError as e:\n    print('ERR', e.errno)\n" % aname)
        r, sc, out, err = R.ex(s, "%s -" % PY, A, stdin=code)
        R.ok("ERR %d" % errno.EPERM in out or "ERR %d" % errno.ECONNREFUSED in out,
             "connecting to the host's abstract unix socket fails (EPERM or ECONNREFUSED)", (out, err))
        try:
            c, _ = listener.accept()
            c.close()
            accepted = True
        except (BlockingIOError, OSError):
            accepted = False
        # (today the sandbox shares the host's network namespace: it connects)
        R.ok(not accepted, "the host's abstract socket listener accepted nothing", out)

        # ================= 8. state out of reach, no downgrade =================
        R.note("8. state out of reach, no downgrade")
        r, sc, out, err = R.ex(s, "find / \\( -path /proc -o -path /sys \\) -prune -o -name meta.json -print "
                                  "2>/dev/null; echo @@END", A, timeout=180)
        found = [x for x in out.splitlines() if x.startswith("/")]
        # PASSES TODAY: the state root is hidden under a tmpfs mask (which umount removes: see
        # "no canary is readable after the umount attempts")
        R.ok("@@END" in out and not found, "find / -name meta.json finds nothing inside", found)
        T = R.create(s, "T, for the meta.json downgrade")
        R.ex(s, "echo hi > /workspace/t.txt", T)
        metas = []
        for sd in dirs_named(root, T or "-none-") + [root]:
            for dp, _, fns in os.walk(sd):
                for fn in fns:
                    if fn.endswith(".json"):
                        p = os.path.join(dp, fn)
                        try:
                            with open(p) as f:
                                d = json.load(f)
                        except (OSError, ValueError):
                            continue
                        if isinstance(d, dict) and (T in json.dumps(d) or "isolation" in d) and (
                                sd != root or T in p):
                            if p not in metas:
                                metas.append(p)
        changed = []
        for p in metas:
            try:
                with open(p) as f:
                    d = json.load(f)
                d["isolation"] = "none"
                with open(p, "w") as f:
                    json.dump(d, f)
                changed.append(p)
            except (OSError, ValueError):
                pass
        R.ok(changed, "the host side's meta.json of T is found and edited to isolation none", (metas, changed))
        r, sc, out, err = R.ex(s, "grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; echo @@; ls -A /", T)
        head, _, lsout = out.partition("@@\n")
        R.ok("NoNewPrivs:\t1" in head and "Seccomp:\t2" in head and "CapEff:\t0000000000000000" in head,
             "after the edit, commands still run with NoNewPrivs, seccomp and no capabilities", (r, head))
        tl = set(lsout.split())
        R.ok(tl and "root" not in tl and "var" not in tl and tl <= ALLOWED_TOP,
             "after the edit, ls / still shows the sandbox's view only", sorted(tl))
        mk = R.marker()
        R.ex(s, "sleep %s" % mk, T, background=True)
        seen = wait_until(lambda: host_pids_with(mk), 5)
        s.call("sandbox_kill", {"sandbox_id": T})
        left = wait_until(lambda: not host_pids_with(mk), 5)
        # PASSES TODAY: even unconfined, the process is tracked and killed
        R.ok(seen and left, "after the edit, sandbox_kill still kills the sandbox's processes",
             (seen, host_pids_with(mk)))
        kill_marked(mk)
        r, sc, out, err = R.ex(s, "ls -A /workspace", A)
        # PASSES TODAY: each sandbox has its own /workspace bind
        R.ok(sc.get("exit_code") == 0 and "secret" not in out.split(), "B's files are not in A's /workspace", out)

        # nothing else is shared between sandboxes: /tmp, /dev/shm, processes, abstract sockets
        # (files and processes PASS TODAY: own binds and pid namespace; the abstract socket
        # fails today: all sandboxes share the host's network namespace)
        bsec2 = "%s-b_tmp-%s" % (token, secrets.token_hex(6))
        R.secrets.append(bsec2)
        bname = "smcp-b-" + rnd
        R.ex(s, "echo %s > /tmp/smcp-b; echo %s > /dev/shm/smcp-b" % (bsec2, bsec2), B)
        lcode = ("import socket, time\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                 "s.bind('\\0%s'); s.listen(4); s.settimeout(30); print('LISTENING', flush=True)\n"
                 "try:\n    c, _ = s.accept(); print('ACCEPTED', flush=True)\nexcept OSError:\n    print('NONE')\n"
                 % bname)
        r, sc, out, err = R.ex(s, "%s -c %s" % (PY, shq(lcode)), B, background=True)
        lpid = str(sc.get("pid", ""))
        time.sleep(1.5)
        code = ("import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                "try:\n    s.connect('\\0%s'); print('CONNECTED')\nexcept OSError as e:\n    print('ERR', e.errno)\n"
                % bname)
        r, sc, out, err = R.ex(s, "cat /tmp/smcp-b /dev/shm/smcp-b 2>&1; ps -eo args; %s -c %s" % (PY, shq(code)), A)
        R.ok(sc.get("exit_code") is not None and bsec2 not in out,
             "B's /tmp and /dev/shm files are not visible in A", out[-600:])
        R.ok(sc.get("exit_code") is not None and "sleep 600" not in out,
             "B's processes are not visible in A", out[-1200:])
        ro = s.call("process_output", {"sandbox_id": B, "pid": lpid, "offset": 0})
        ol = out.splitlines()
        R.ok("LISTENING" in json.dumps(ro) and "CONNECTED" not in ol and any(x.startswith("ERR ") for x in ol),
             "A cannot connect to an abstract unix socket B listens on", (out[-300:], structured(ro).get("output")))

        # Landlock and read-only mounts: no directory outside /workspace, /tmp, $HOME and /dev
        # takes a new file (access() first, then a real create, since Landlock does not
        # answer access())
        cmd = ("find / \\( -path /proc -o -path /sys -o -path /workspace -o -path /tmp -o -path /dev -o "
               "-path \"$HOME\" \\) -prune -o -type d -writable -print 2>/dev/null | while IFS= read -r d; do "
               "if ( : > \"$d/.smcp-w-$$\" ) 2>/dev/null; then echo \"WRITABLE $d\"; rm -f \"$d/.smcp-w-$$\"; fi; done; "
               "echo @@END")
        r, sc, out, err = R.ex(s, cmd, A, timeout=120)
        wr = [x[9:] for x in out.splitlines() if x.startswith("WRITABLE ")]
        R.ok("@@END" in out and not wr, "no directory outside /workspace, /tmp, $HOME and /dev is writable", wr)

        # ================= 6. everyday work =================
        R.note("6. everyday work")
        r, sc, out, err = R.ex(s, everyday_script(), A, timeout=180)
        res = parse_marks(out, "OK")
        fails = parse_marks(out, "FAIL")
        for i, (desc, _, _) in enumerate(EVERYDAY):
            R.ok(str(i) in res, "everyday work: %s" % desc, fails.get(str(i), (out[-800:], err[-800:])))

        # ================= 5. limits =================
        R.note("5. limits")
        L = R.create(s, "L, memory 256Mi", {"resources": {"memory": "256Mi", "cpu": "1"}})
        r, sc, out, err = R.ex(s, "%s -c \"a = b'x' * (1 << 30); print(len(a))\"" % PY, L)
        said = (str(sc.get("note", "")) + " " + err + " " + text_of(r)).lower()
        R.ok(sc.get("exit_code") != 0 and "1073741824" not in out, "a 1 GiB allocation under memory 256Mi fails", r)
        R.ok("out of memory" in said, "the result says the command ran out of memory", r)
        R.ok("256mi" in said, "the result names the 256Mi limit", r)
        r = s.call("sandbox_info", {"sandbox_id": L})
        lim = structured(r).get("limits")
        R.ok(isinstance(lim, dict) and lim, "sandbox_info has a limits field", r)
        memj = json.dumps((lim or {}).get("memory", "")) if isinstance(lim, dict) else ""
        R.ok("256Mi" in memj and ("cgroup" in memj.lower() or "supervisor" in memj.lower()),
             "limits.memory names 256Mi and what enforces it (cgroup or supervisor)", lim)
        # unsure: the key name of the process limit is not specified; any key about processes
        R.ok(isinstance(lim, dict) and any("proc" in k.lower() or "pid" in k.lower() for k in lim),
             "limits also reports the process limit", lim)
        R.ok(isinstance(lim, dict) and "cpu" in lim, "limits reports the requested cpu limit", lim)
        # the limit is the sandbox's, not each process's: four processes of 100 MB each
        r, sc, out, err = R.ex(s, "%s -" % PY, L, stdin=MULTI_MEM_PY)
        done = parse_marks(out, "DONE")
        R.ok(sc.get("exit_code") != 0 or done.get("4") is None,
             "four processes of 100 MB each (400 MB) under 256Mi do not all survive", (out, err[-400:], sc.get("note")))
        s.call("sandbox_kill", {"sandbox_id": L})

        F = R.create(s, "F, for the process limit")
        r, sc, out, err = R.ex(s, "%s -" % PY, F, stdin=FORK_PY, timeout=120)
        fl = [x.split() for x in out.splitlines() if x.startswith("FORK ")]
        limited = bool(fl and fl[0][1] == "LIMIT" and int(fl[0][2]) < 6000)
        cnt = fl[0][2] if fl else "?"
        R.ok(limited and fl[0][3] == str(errno.EAGAIN),
             "a fork loop stops with EAGAIN before 6000 processes (stopped at %s)" % cnt, (out, err[-500:]))
        s.call("sandbox_kill", {"sandbox_id": F})

        # the fork bomb: only where a process limit exists. This host has pid_max 32768; without a
        # limit the bomb would take the machine down for everyone, so it is then reported as a
        # failure without being run.
        if limited:
            base = host_proc_count()
            before = set(p for p in os.listdir("/proc") if p.isdigit())
            F2 = R.create(s, "F2, for the fork bomb")
            peak, stop = [base], threading.Event()

            def sample():
                while not stop.is_set():
                    peak[0] = max(peak[0], host_proc_count())
                    time.sleep(0.2)
            threading.Thread(target=sample, daemon=True).start()
            t0 = time.time()
            # the bomb's first ":" returns at once; the exec then waits, so the bomb runs ~8 s
            s.send({"jsonrpc": "2.0", "id": "bomb", "method": "tools/call",
                    "params": {"name": "exec", "arguments": {"sandbox_id": F2, "timeout_s": 10,
                                                             "command": ":(){ :|:& };:; sleep 8"}}})
            time.sleep(4)
            r2, sc2, o2, e2 = R.ex(s, "echo alive", A)
            R.ok(o2 == "alive\n", "the server and another sandbox still work during the bomb", r2)
            try:
                rb = s.response("bomb", timeout=90)
            except Exception:
                rb = None
            took = time.time() - t0
            stop.set()
            scb = structured(rb)
            # a real exec result (killed at its timeout, or ended), not a tool error
            R.ok(rb is not None and took < 90 and ("timed_out" in scb or "exit_code" in scb),
                 "the fork bomb's exec returns a result (%.0f s, exit %s, timed out %s)" %
                 (took, scb.get("exit_code"), scb.get("timed_out")), (rb, s.stderr[-800:]))
            R.ok(peak[0] - base > 20, "the bomb did run (host processes rose by %d)" % (peak[0] - base))
            R.ok(peak[0] - base < 5000, "the host's process count stays bounded during the bomb (peak +%d)" %
                 (peak[0] - base))
            s.call("sandbox_kill", {"sandbox_id": F2})
            back = wait_until(lambda: host_proc_count() <= base + 15, 10)
            R.ok(back, "the host's process count is back to normal within 10 s of sandbox_kill (%d vs %d)" %
                 (host_proc_count(), base), None if back else new_procs_summary(before))
        else:
            for d in ["the server and another sandbox still work during the bomb", "the fork bomb's exec returns",
                      "the bomb did run", "the host's process count stays bounded during the bomb",
                      "the host's process count is back to normal after the bomb"]:
                R.ok(False, d, "not run: no process limit inside (a bomb would exhaust the host's pids)")

        # background output capped on disk, head and tail kept
        O = R.create(s, "O, for background output")
        r, sc, out, err = R.ex(s, "yes | head -c 300000000", O, background=True)
        bpid = sc.get("pid")

        def finished():
            rr = s.call("process_list", {"sandbox_id": O})
            for p in structured(rr).get("processes", []):
                if str(p.get("pid")) == str(bpid):
                    return not p.get("running")
            return False
        done = wait_until(finished, 120, step=0.5)
        R.ok(bpid and done, "300 MB of background output: the process ends", r)
        odirs = dirs_named(root, O or "-none-")
        used = sum(disk_usage(d) for d in odirs) if odirs else disk_usage(root)
        R.ok(used < 64 * 1024 * 1024, "the sandbox's directory on the host stays far below 300 MB (%.1f MB)" %
             (used / 1e6), odirs)
        r = s.call("process_output", {"sandbox_id": O, "pid": bpid, "offset": 0, "max_bytes": 65536})
        first = structured(r).get("output", "")
        # PASS TODAY, with the next one: all 300 MB are kept
        R.ok(first.startswith("y\ny\ny\n"), "process_output from offset 0 returns the beginning", first[:100])
        last, off, calls, end_seen = "", structured(r).get("next_offset", 0), 0, False
        while calls < 30:
            calls += 1
            if calls == 10 and off < 300000000 - (1 << 20):
                off = 300000000 - (1 << 20)    # jump near the end (offsets of the original stream)
            rr = s.call("process_output", {"sandbox_id": O, "pid": bpid, "offset": off, "max_bytes": 1 << 20})
            sco = structured(rr)
            o = sco.get("output", "")
            if is_error(rr) or rr is None:
                break
            if not o:
                end_seen = True
                break
            last = o
            off = sco.get("next_offset", off + len(o))
        R.ok(end_seen and last.endswith("y\ny\n"), "process_output still returns the end of the output",
             (calls, off, last[-40:]))
        s.call("sandbox_kill", {"sandbox_id": O})

        # PASS TODAY, with the setuid and special-file checks below: ids are validated, files are
        # written as the sandbox's user, reads are bounded.
        # the state layer: a sandbox_id is not a path. Crafted ids must not reach a host
        # directory (sandbox_kill would delete it, file_write would write in it)
        victim = m.tmpdir("smcp-atk-victim-", base="/var/tmp")
        with open(os.path.join(victim, "keep.txt"), "w") as f:
            f.write("keep\n")
        os.makedirs(os.path.join(victim, "workspace"))
        rel = os.path.relpath(victim, root)
        ids = [rel, "../../../../../../../.." + victim, victim, "sbx-0/../" + rel, rel + "/", rel + "/."]
        for sid in ids:
            s.call("file_write", {"sandbox_id": sid, "path": "pwn.txt", "content": "pwned"}, timeout=30)
            s.call("exec", {"sandbox_id": sid, "command": "echo pwned > pwn2.txt"}, timeout=60)
            s.call("sandbox_kill", {"sandbox_id": sid}, timeout=30)
        left = sorted(os.listdir(victim)) if os.path.isdir(victim) else None
        R.ok(left == ["keep.txt", "workspace"] and not os.listdir(os.path.join(victim, "workspace")),
             "crafted sandbox_ids (../, absolute paths) neither delete nor write a host directory", left)
        # (not "..", "/": on a vulnerable build those would delete /var/tmp or worse; not "",
        # which names the session's default sandbox, here A)
        for sid in [".", "./", "sbx-0/.."]:
            s.call("sandbox_kill", {"sandbox_id": sid}, timeout=30)
        r = s.call("exec", {"sandbox_id": A, "command": "echo still-here"})
        R.ok(structured(r).get("stdout") == "still-here\n" and os.path.exists(canaries["state_root"]),
             "sandbox_kill of '.', './', 'sbx-0/..' removes neither the state root nor other sandboxes", r)

        # a setuid file written through the server must not become a setuid-root host file
        for mode_s, nm in (("4755", "suid"), ("6755", "sgid")):
            s.call("file_write", {"sandbox_id": A, "path": nm, "content": "#!/bin/sh\nid\n", "mode": mode_s})
        bad = []
        for dp, _, fns in os.walk(root):
            for fn in fns:
                if fn in ("suid", "sgid"):
                    st_ = os.lstat(os.path.join(dp, fn))
                    if st_.st_mode & 0o6000 and (st_.st_uid == 0 or st_.st_gid == 0):
                        bad.append((os.path.join(dp, fn), oct(st_.st_mode), st_.st_uid))
        R.ok(not bad, "file_write with mode 4755/6755 creates no setuid/setgid root file on the host", bad)

        # ================= 1 (end). the host and the other sandbox are unchanged =================
        R.note("1 (end). the host and the other sandbox are unchanged")
        # PASS TODAY: the old binds of the host are read-only (and sandbox root is host nobody in
        # the root run)
        for n in names:
            R.ok(sha(canaries[n]) == hashes[n], "canary %s is unchanged on the host" % n)
        r = s.call("file_read", {"sandbox_id": B, "path": "/workspace/secret"})
        R.ok(structured(r).get("content") == bsecret, "B's /workspace/secret is unchanged inside B")
        sysfiles = ["/usr/.smcp-atk-%s" % rnd, "/etc/.smcp-atk-%s" % rnd, "/usr/bin/.smcp-atk-%s" % rnd,
                    "/usr/lib/.smcp-atk-%s" % rnd, "/bin/.smcp-atk-%s" % rnd, "/lib/.smcp-atk-%s" % rnd,
                    "/sys/fs/cgroup/smcp-atk-%s" % rnd]
        created = [p for p in sysfiles if os.path.lexists(p)]
        for p in created:
            try:
                os.rmdir(p) if os.path.isdir(p) else os.unlink(p)
            except OSError:
                pass
        R.ok(not created, "nothing was created in the host's /usr, /etc or cgroups", created)
        R.ok(sha(m.bin) == bin_hash, "the server binary is unchanged", m.bin)    # PASSES TODAY

        # the file tools against special files made inside: a FIFO and /dev/zero must not
        # hang or exhaust the server
        R.ex(s, "mkfifo /workspace/fifo; ln -sf /dev/zero /workspace/zero; ln -sf /dev/urandom /workspace/rnd", A)
        hung = []
        for path, enc in (("fifo", "text"), ("zero", "text"), ("zero", "base64"), ("rnd", "text")):
            t0 = time.time()
            rr = s.call("file_read", {"sandbox_id": A, "path": path, "encoding": enc}, timeout=30)
            if rr is None or time.time() - t0 > 25:
                hung.append((path, enc))
        R.ok(not hung, "file_read of a FIFO, /dev/zero or /dev/urandom made inside returns promptly", hung)
        r = s.call("exec", {"sandbox_id": A, "command": "echo alive"}, timeout=60)
        R.ok(structured(r).get("stdout") == "alive\n", "the server still answers after the special-file reads", r)
        # the server is closed by R.cleanup, after it killed every sandbox it created
    except Abort:
        pass    # reported; the lifetime and operator-mount servers are still tried
    finally:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if listener is not None:
            listener.close()
        R.cleanup()
        for fd in (master, slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        for p in reversed(made):
            try:
                os.rmdir(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
            except OSError:
                pass

    # ================= 7. lifetime =================
    R.note("7. lifetime")
    R2 = Run(mode)
    try:
        lr = m.tmpdir("smcp-atk-life-")
        s = R2.srv(local_root=lr)
        if R.ok(s.started(), "a server without --keep starts", s.stderr[-1500:]):
            mk = R2.marker()
            r, sc, out, err = R.ex(s, "setsid sleep %s & sleep %s" % (mk, mk), background=True)
            sid = sc.get("sandbox_id") or (structured(s.call("sandbox_list", {})).get("sandboxes") or [{}])[0].get(
                "sandbox_id")
            seen = wait_until(lambda: len(host_pids_with(mk)) >= 2, 10)
            R.ok(seen, "the default sandbox's two sleeps (one setsid) run", (r, host_pids_with(mk)))
            s.p.kill()
            s.p.wait()
            gone = wait_until(lambda: not host_pids_with(mk), 6)
            R.ok(gone, "within 5 s of SIGKILL of the server no process of its default sandbox is left",
                 [(p, host_ids(p)) for p in host_pids_with(mk)])
            dgone = wait_until(lambda: not dirs_named(lr, sid or "-none-"), 6)
            R.ok(sid and dgone, "the default sandbox's directory is removed after SIGKILL of the server",
                 (sid, dirs_named(lr, sid or "-none-")))
        R2.cleanup()

        lr2 = m.tmpdir("smcp-atk-exp-")
        s = R2.srv(args=["--keep"], local_root=lr2)
        if R.ok(s.started(), "a server with --keep starts", s.stderr[-1500:]):
            mk = R2.marker()
            r = s.call("sandbox_create", {"timeout_s": 3})
            sid = structured(r).get("sandbox_id")
            R.ex(s, "sleep %s" % mk, sid, background=True)
            seen = wait_until(lambda: host_pids_with(mk), 5)
            R.ok(sid and seen, "a sandbox with timeout_s 3 runs a background sleep", r)
            t_exp = time.time() + 3
            s.close(timeout=30)
            gone = wait_until(lambda: time.time() > t_exp and not host_pids_with(mk), 16)
            R.ok(gone, "with no server running, the sandbox's processes are gone within 10 s of its expiry",
                 [(p, host_ids(p)) for p in host_pids_with(mk)])
            # unsure: the issue says "killed when its timeout passes, by its supervisor"; a killed
            # sandbox's directory is removed by sandbox_kill, so expiry is expected to do the same
            dgone = wait_until(lambda: not dirs_named(lr2, sid or "-none-"), 5)
            R.ok(sid and dgone, "the expired sandbox's directory is removed without a server", dirs_named(lr2, sid or "-"))
    finally:
        R2.cleanup()

    # ================= 9. operator mounts =================
    R.note("9. operator mounts")
    R3 = Run(mode)
    try:
        base = m.tmpdir("smcp-atk-mnt-", base="/var/tmp")
        rw, ro = os.path.join(base, "rw"), os.path.join(base, "ro")
        os.mkdir(rw)
        os.mkdir(ro)
        outside = os.path.join(base, "outside-" + rnd + ".txt")
        osec = "%s-outside-%s" % (token, secrets.token_hex(6))
        R.secrets.append(osec)
        R3.secrets = R.secrets
        with open(outside, "w") as f:
            f.write(osec + "\n")
        os.chmod(outside, 0o644)
        rodata = "ro-data-" + rnd
        with open(os.path.join(ro, "data.txt"), "w") as f:
            f.write(rodata + "\n")
        os.chmod(os.path.join(ro, "data.txt"), 0o644)
        os.symlink(outside, os.path.join(rw, "escape-abs"))
        os.symlink("../outside-%s.txt" % rnd, os.path.join(rw, "escape-rel"))
        if m.user:
            for d in (rw, ro):
                os.chown(d, USER_UID, USER_UID)
            os.chmod(rw, 0o755)
        else:
            # unsure: as root the sandbox runs as an unprivileged host uid, so the operator's
            # writable dir is made writable for everyone here
            os.chmod(rw, 0o777)
        os.chmod(ro, 0o755)
        s = R3.srv(args=["--mount", "%s:/project" % rw, "--mount", "%s:/data:ro" % ro])
        up = s.started()
        descs = ["/project is writable and the host sees the file", "/data is readable",
                 "writing to /data fails", "mount -o remount,rw /data fails",
                 "after the remount attempt /data is still read-only", "ls / shows /project and /data",
                 "a host file outside the mounts stays invisible (path, symlinks, find)"]
        if m.user:
            descs.append("a file written in /project belongs to uid %d on the host" % USER_UID)
        if not R.ok(up, "a server with --mount HOST:/project and HOST:/data:ro starts", s.stderr[-1500:]):
            for d in descs:
                R.ok(False, d, "server did not start")
        else:
            X = R.create(s, "X, with operator mounts")
            cmd = ("echo proj-%s > /project/new.txt; echo \"RC w $?\"; cat /data/data.txt; "
                   "touch /data/x 2>&1; echo \"RC rox $?\"; mount -o remount,rw /data 2>&1; echo \"RC rem $?\"; "
                   "mount -o remount,rw,bind /data 2>&1; touch /data/y 2>&1; echo \"RC roy $?\"; "
                   "echo \"LS $(ls -A / | tr '\\n' ' ')\"; cat /project/escape-abs /project/escape-rel %s 2>&1; "
                   "echo @@FIND; find / \\( -path /proc -o -path /sys \\) -prune -o -name 'outside-*' -print 2>/dev/null"
                   % (rnd, shq(outside)))
            r, sc, out, err = R.ex(s, cmd, X)
            rcs = parse_marks(out, "RC")
            hp = os.path.join(rw, "new.txt")
            try:
                with open(hp) as f:
                    hv = f.read()
            except OSError as e:
                hv = str(e)
            R.ok(rcs.get("w") == "0" and hv == "proj-%s\n" % rnd, descs[0], (out, hv))
            R.ok(rodata in out, descs[1], out)
            R.ok(rcs.get("rox", "0") != "0" and not os.path.exists(os.path.join(ro, "x")), descs[2], out)
            R.ok(rcs.get("rem", "0") != "0", descs[3], out)
            R.ok(rcs.get("roy", "0") != "0" and not os.path.exists(os.path.join(ro, "y")), descs[4], out)
            lsl = [x for x in out.splitlines() if x.startswith("LS ")]
            lst = set(lsl[0].split()[1:]) if lsl else set()
            R.ok({"project", "data"} <= lst, descs[5], lst)
            ff = [x for x in out.partition("@@FIND")[2].splitlines() if x.startswith("/")]
            R.ok("@@FIND" in out and osec not in out and not ff, descs[6], (out, ff))
            if m.user:
                try:
                    R.ok(os.stat(hp).st_uid == USER_UID, descs[7], os.stat(hp))
                except OSError as e:
                    R.ok(False, descs[7], e)
    finally:
        R3.cleanup()


HOST_I386 = True


def host_has_i386():
    """Whether int $0x80 works on the host (some kernels and VMs disable the i386 entry)."""
    d = tempfile.mkdtemp(prefix="smcp-atk-i386-")
    try:
        with open(os.path.join(d, "i.c"), "w") as f:
            f.write(I386_C)
        if subprocess.run(["gcc", "-o", os.path.join(d, "i"), os.path.join(d, "i.c")],
                          capture_output=True).returncode != 0:
            return True
        return subprocess.run([os.path.join(d, "i")], capture_output=True).returncode == 0
    except OSError:
        return True
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    if not os.path.exists(BIN):
        print("Bail out! %s is missing (make FLAVOR=test build/test/sandbox-mcp)" % BIN)
        sys.exit(1)
    if os.geteuid() != 0:
        # the suite plants canaries in /root and /opt and drops to uid 1000 with setpriv
        t.skip("[root] all attacks", "the suite needs to start as root")
        t.skip("[user] all attacks", "the suite needs to start as root")
        t.done()
    start = time.time()
    global HOST_I386
    HOST_I386 = host_has_i386()
    if not HOST_I386:
        print("# this kernel has no i386 syscall entry (int $0x80 faults on the host itself)", flush=True)
    # SMCP_ATTACK_MODES=root (or user) runs one mode only, for quicker iterations
    for name in [x for x in os.environ.get("SMCP_ATTACK_MODES", "root,user").split(",") if x in ("root", "user")]:
        mode = None
        try:
            mode = Mode(name)
            avail, why = userns_available(mode.wrap)
            if not avail:
                t.skip("[%s] all attacks" % name, "user namespaces are unavailable: %s" % why)
                continue
            try:
                run_mode(mode)
            except Exception:
                import traceback
                t.ok(False, "[%s] the attack run ended with an exception" % name, traceback.format_exc())
        finally:
            if mode is not None:
                mode.cleanup()
        print("# %s mode done after %.0f s" % (name, time.time() - start), flush=True)
    t.done()


if __name__ == "__main__":
    main()
