#!/usr/bin/env python3
"""Every tool end to end on the local backend: the binary over stdio, a real sandbox in
namespaces under a temporary state root. TAP output."""
import base64
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from mcpclient import Server, Tap, is_error, structured, text_of  # noqa: E402

t = Tap()
# A service on this machine's loopback: sandboxes reach it only as host.internal, because
# the server opens its port to them.
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(5)
port = lsock.getsockname()[1]
threading.Thread(target=lambda: [c.close() for c in iter(lambda: lsock.accept()[0], None)],
                 daemon=True).start()
s = Server(args=["--log-level", "info", "--local-host-port", str(port)])
s.initialize()


def call(name, args=None, **kw):
    return s.call(name, args or {}, **kw)


# --- lifecycle ---------------------------------------------------------------------------
r = call("sandbox_create", {"timeout_s": 600, "metadata": {"team": "e2e", "run": "1"}, "env": {"GREETING": "hi"}})
sc = structured(r)
sid = sc.get("sandbox_id")
t.ok(not is_error(r) and sid and sc.get("state") == "running" and sc.get("expires_at"),
     "sandbox_create returns id, running state and expiry", r)
r = call("exec", {"sandbox_id": sid, "command": "echo $GREETING; pwd; id -u; id -un; echo $HOME; "
                  "getent passwd $(id -un) | cut -d: -f6; test -w $HOME && echo home-writable"})
lines = structured(r).get("stdout", "").splitlines()
t.ok(len(lines) == 7 and lines[0] == "hi", "create-time env reaches commands", r)
t.ok(len(lines) == 7 and lines[2] != "0" and not lines[3].isdigit() and
     lines[4] == "/home/" + lines[3] == lines[5] and lines[6] == "home-writable",
     "commands run as a named, unprivileged user whose writable home is $HOME", lines)
r = call("sandbox_list", {"metadata": {"team": "e2e"}})
ids = [x["sandbox_id"] for x in structured(r).get("sandboxes", [])]
t.ok(sid in ids, "sandbox_list filters by metadata", r)
r = call("sandbox_list", {"metadata": {"team": "other"}})
t.ok(structured(r).get("sandboxes") == [], "a metadata filter that matches nothing gives an empty list", r)
r = call("sandbox_info", {"sandbox_id": sid})
t.ok(structured(r).get("sandbox_id") == sid and structured(r).get("state") == "running", "sandbox_info", r)
r = call("sandbox_set_timeout", {"sandbox_id": sid, "timeout_s": 1200})
t.ok(not is_error(r) and structured(r).get("expires_at"), "sandbox_set_timeout returns the new expiry", r)
r = call("sandbox_url", {"sandbox_id": sid, "port": 8000})
t.ok(structured(r).get("url", "").startswith("http://"), "sandbox_url gives a URL", r)
r = call("sandbox_metrics", {"sandbox_id": sid})
t.ok(not is_error(r), "sandbox_metrics", r)
r = call("sandbox_pause", {"sandbox_id": sid})
t.ok(structured(r).get("state") == "paused", "sandbox_pause", r)
r = call("sandbox_resume", {"sandbox_id": sid})
t.ok(structured(r).get("state") == "running", "sandbox_resume", r)

# --- exec -----------------------------------------------------------------------------------
r = call("exec", {"command": "cat; echo; echo $FOO; pwd", "stdin": "from-stdin", "env": {"FOO": "bar"}, "cwd": "/tmp"})
t.eq(structured(r).get("stdout"), "from-stdin\nbar\n/tmp\n", "exec passes stdin, env and cwd")
r = call("exec", {"command": "head -c 300000 /dev/zero | tr '\\0' a; echo; echo END", "max_output_bytes": 1000})
sc = structured(r)
out = sc.get("stdout", "")
t.ok(sc.get("truncated") is True and sc.get("stdout_bytes") == 300005 and len(out) < 1300 and
     out.startswith("aaa") and out.endswith("END\n") and "cut" in out,
     "output over max_output_bytes keeps head and tail with a marker and the total count",
     {k: sc.get(k) for k in ("truncated", "stdout_bytes")})
r = call("exec", {"command": "echo start; sleep 30", "timeout_s": 1})
sc = structured(r)
t.ok(sc.get("timed_out") is True and sc.get("exit_code") is None and sc.get("stdout") == "start\n" and is_error(r),
     "a command past its timeout is killed and its partial output returned", r)
t.ok("timeout" in text_of(r) or "timed out" in text_of(r) or "time" in json.dumps(sc), "the timeout is explained", r)
r = call("exec", {"command": "printf '\\xff\\xfe bad utf8 \\xe2\\x82'"})
t.ok(not is_error(r) and isinstance(structured(r).get("stdout"), str), "invalid UTF-8 output still gives valid JSON", r)
r = call("exec", {"command": "kill -9 $$"})
t.ok(structured(r).get("exit_code") in (137, -9, None) or structured(r).get("exit_code", 0) != 0,
     "a command killed by a signal reports it", r)
r = call("exec", {"command": "echo $$; cat /proc/1/cmdline | tr '\\0' ' '"})
t.ok(not is_error(r), "commands run in their own PID namespace", r)
r = call("exec", {"command": "touch /usr/should-fail 2>&1; echo rc=$?"})
t.ok("rc=0" not in structured(r).get("stdout", ""), "the host file system is read-only inside", r)
r = call("exec", {"command": "echo data > /tmp/x && cat /tmp/x"})
t.eq(structured(r).get("stdout"), "data\n", "/tmp is writable")

# --- background processes ------------------------------------------------------------------
r = call("exec", {"command": "for i in $(seq 1 5); do echo tick$i; sleep 0.2; done; read line; echo got:$line; exit 4",
                  "background": True})
pid = structured(r).get("pid")
t.ok(pid and structured(r).get("running") is True, "background exec returns a pid at once", r)
r = call("process_list")
t.ok(any(p.get("pid") == pid and p.get("running") for p in structured(r).get("processes", [])), "process_list shows it", r)
r = call("process_output", {"pid": pid, "offset": 0, "wait_s": 3})
first = structured(r)
t.ok("tick1" in first.get("output", ""), "process_output waits for output", r)
off = first.get("next_offset", 0)
time.sleep(1.5)
r = call("process_output", {"pid": pid, "offset": off})
t.ok("tick1" not in structured(r).get("output", "x") and structured(r).get("next_offset", 0) >= off,
     "process_output from an offset returns only newer output", r)
r = call("process_send_stdin", {"pid": pid, "data": "hello\n"})
t.ok(not is_error(r), "process_send_stdin", r)
r = call("process_output", {"pid": pid, "offset": 0, "wait_s": 5})
sc = structured(r)
deadline = time.time() + 10
while sc.get("running") and time.time() < deadline:
    sc = structured(call("process_output", {"pid": pid, "offset": 0, "wait_s": 2}))
t.ok("got:hello" in sc.get("output", "") and sc.get("running") is False and sc.get("exit_code") == 4,
     "stdin reaches the process; its exit code is reported", sc)
r = call("exec", {"command": "sleep 100", "background": True})
pid2 = structured(r).get("pid")
r = call("process_kill", {"pid": pid2, "signal": "SIGKILL"})
t.ok(not is_error(r), "process_kill", r)
sc = structured(call("process_output", {"pid": pid2, "wait_s": 3}))
t.ok(sc.get("running") is False, "a killed process stops", sc)
r = call("exec", {"command": "head -c 3000000 /dev/urandom | base64 -w 100", "background": True})
pid3 = structured(r).get("pid")
total, off, end = 0, 0, time.time() + 30
while time.time() < end:
    sc = structured(call("process_output", {"pid": pid3, "offset": off, "wait_s": 1, "max_bytes": 1000000}))
    total += len(sc.get("output", "").encode())
    off = sc.get("next_offset", off)
    if not sc.get("running") and not sc.get("output"):
        break
t.ok(total == off and total >= 4000000, "large background output is kept whole on disk and paged by offset (%d bytes)" % total)
r = call("process_output", {"pid": "99999999"})
t.ok(is_error(r) and text_of(r), "an unknown pid is an error sentence", r)

# --- files -------------------------------------------------------------------------------------
r = call("file_write", {"path": "dir/sub/a.txt", "content": "one\ntwo\nthree\nfour\n"})
t.ok(structured(r).get("bytes_written") == 19, "file_write creates parents", r)
r = call("file_read", {"path": "dir/sub/a.txt", "offset": 1, "limit": 2})
t.eq(structured(r).get("content"), "two\nthree\n", "file_read with line offset and limit")
r = call("exec", {"command": "cat dir/sub/a.txt | wc -l"})
t.eq(structured(r).get("stdout", "").strip(), "4", "files written by tools are seen by commands")
raw = bytes(range(256))
r = call("file_write", {"path": "bin.dat", "content": base64.b64encode(raw).decode(), "encoding": "base64", "mode": "0600"})
t.ok(structured(r).get("bytes_written") == 256, "file_write base64", r)
r = call("file_read", {"path": "bin.dat", "encoding": "base64", "offset": 16, "limit": 32})
t.eq(base64.b64decode(structured(r).get("content", "")), raw[16:48], "file_read base64 byte range")
r = call("file_stat", {"path": "bin.dat"})
sc = structured(r)
t.ok(sc.get("exists") is True and sc.get("size") == 256 and sc.get("mode") in (0o600, "0600", "600"),
     "file_stat reports size and mode", sc)
png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
call("file_write", {"path": "img.png", "content": base64.b64encode(png).decode(), "encoding": "base64"})
r = call("file_read", {"path": "img.png"})
imgs = [c for c in r.get("result", {}).get("content", []) if c.get("type") == "image"]
t.ok(len(imgs) == 1 and imgs[0].get("mimeType") == "image/png" and base64.b64decode(imgs[0]["data"]) == png,
     "an image comes back as MCP image content", r.get("result", {}).get("content"))
# 1 MiB of text comes back in one file_read; beyond it the continuation logic takes over.
line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
r = call("exec", {"command": "yes %s | head -c 1048576 > mib.txt; yes %s | head -c 1500000 > big.txt"
                  % (line.strip(), line.strip())})
r = call("file_read", {"path": "mib.txt"})
sc = structured(r)
t.ok(sc.get("content") == (line * 20000)[:1048576] and sc.get("truncated") is False and
     sc.get("lines") == -(-1048576 // len(line)),
     "a 1 MiB text file comes back whole in one file_read", {k: v for k, v in sc.items() if k != "content"})
r = call("file_read", {"path": "big.txt"})
sc = structured(r)
got = sc.get("content", "")
t.ok(sc.get("truncated") is True and got == line * (1048576 // len(line)) and
     sc.get("next_offset") == 1048576 // len(line) and "1 MiB" in sc.get("note", ""),
     "past 1 MiB the text stops at a line end with next_offset and a note",
     {k: v for k, v in sc.items() if k != "content"})
r = call("file_read", {"path": "big.txt", "offset": sc.get("next_offset", 0)})
t.eq(len(structured(r).get("content", "")), 1500000 - len(got), "the rest comes from next_offset")
# NUL bytes in data arguments are carried whole; in a path they are refused.
r = call("file_edit", {"path": "dir/sub/a.txt", "old_text": "four\n", "new_text": "four\n\u0000five\n"})
r = call("exec", {"command": "od -An -c dir/sub/a.txt | tr -s ' ' | tail -2"})
t.ok("\\0   f   i   v   e" in structured(r).get("stdout", "").replace("  ", "   ") or
     "\\0 f i v e" in structured(r).get("stdout", ""), "file_edit writes a NUL from new_text", r)
r = call("file_edit", {"path": "dir/sub/a.txt", "old_text": "\u0000five\n", "new_text": ""})
t.ok(structured(r).get("replacements") == 1, "file_edit finds old_text holding a NUL", r)
r = call("exec", {"command": "cat > nul_in.txt; sleep 30", "background": True})
bpid = structured(r).get("pid")
r = call("process_send_stdin", {"pid": bpid, "data": "a\u0000b\n", "close": True})
t.ok(structured(r).get("bytes_sent") == 4, "process_send_stdin sends a NUL as data", r)
time.sleep(0.5)
r = call("exec", {"command": "wc -c < nul_in.txt"})
t.eq(structured(r).get("stdout", "").strip(), "4", "and the process reads every byte")
call("process_kill", {"pid": bpid, "signal": "SIGKILL"})
r = call("file_write", {"path": "dir/x\u0000.txt", "content": "x"})
t.ok(is_error(r) and "'path'" in text_of(r) and not os.path.exists("dir/x"), "a NUL in a path is refused", r)
r = call("file_edit", {"path": "dir/sub/a.txt", "old_text": "two", "new_text": "2"})
t.ok(structured(r).get("replacements") == 1, "file_edit replaces unique text", r)
call("file_write", {"path": "dup.txt", "content": "x x x"})
r = call("file_edit", {"path": "dup.txt", "old_text": "x", "new_text": "y"})
t.ok(is_error(r) and "3" in text_of(r), "file_edit refuses ambiguous text and says how often it occurs", r)
r = call("file_edit", {"path": "dup.txt", "old_text": "x", "new_text": "y", "replace_all": True})
t.ok(structured(r).get("replacements") == 3, "file_edit replace_all", r)
r = call("file_edit", {"path": "dup.txt", "old_text": "zzz", "new_text": "y"})
t.ok(is_error(r) and "not found" in text_of(r), "file_edit with absent text fails clearly", r)
r = call("file_list", {"path": ".", "depth": 3})
paths = [e.get("path", "") for e in structured(r).get("entries", [])]
t.ok(any(p.endswith("dir/sub/a.txt") for p in paths), "file_list with depth reaches nested files", paths)
r = call("file_search", {"path": ".", "pattern": "**/*.txt"})
m = structured(r).get("matches", [])
t.ok(any(x.endswith("dir/sub/a.txt") for x in m) and any(x.endswith("dup.txt") for x in m), "file_search with **", m)
r = call("file_mkdir", {"path": "made/here"})
t.ok(structured(r).get("created") is True, "file_mkdir", r)
r = call("file_mkdir", {"path": "made/here"})
t.ok(structured(r).get("created") is False, "file_mkdir of an existing directory says so", r)
r = call("file_move", {"source": "dup.txt", "destination": "made/here/dup2.txt"})
t.ok(not is_error(r), "file_move", r)
t.ok(structured(call("file_stat", {"path": "made/here/dup2.txt"})).get("exists") is True, "the moved file exists")
r = call("file_remove", {"path": "made"})
t.ok(structured(r).get("removed") is True, "file_remove removes directories", r)
r = call("file_remove", {"path": "made"})
t.ok(structured(r).get("removed") is False, "file_remove of a missing path says removed false", r)
r = call("file_read", {"path": "no/such/file"})
t.ok(is_error(r) and "no/such/file" in text_of(r), "reading a missing file names it", r)
r = call("file_read", {"path": "../../../../etc/shadow"})
t.ok(is_error(r) or "root:" not in json.dumps(structured(r)), "paths cannot escape the sandbox", r)
r = call("exec", {"command": "ln -sf / escape"})
r = call("file_write", {"path": "escape/etc/evil", "content": "x"})
t.ok(is_error(r) and not os.path.exists("/etc/evil"), "writing through a symlink out of the sandbox is refused", r)

# --- network policy -----------------------------------------------------------------------------
probe = "(exec 3<>/dev/tcp/host.internal/%d) 2>/dev/null && echo open || echo closed" % port
own = "(exec 3<>/dev/tcp/127.0.0.1/%d) 2>/dev/null && echo open || echo closed" % port
r = call("network_policy")
t.eq(structured(r).get("default"), "allow", "network_policy reads the default policy")
r = call("exec", {"command": own})
t.eq(structured(r).get("stdout"), "closed\n", "127.0.0.1 inside is the sandbox's own loopback, "
     "not this machine's")
r = call("exec", {"command": probe})
t.eq(structured(r).get("stdout"), "open\n", "with egress allowed a command reaches "
     "host.internal:%d (--local-host-port)" % port)
r = call("network_policy", {"default": "deny"})
t.eq(structured(r).get("default"), "deny", "network_policy sets deny")
r = call("exec", {"command": probe})
t.eq(structured(r).get("stdout"), "closed\n", "with egress denied the command is refused")
t.ok(any("host.internal:%d" % port in d for d in structured(r).get("network_denied", [])),
     "... and exec's network_denied says what was refused", r)
r = call("network_policy", {"allow": ["example.com"]})
t.ok(not is_error(r) and structured(r).get("allow") == ["example.com"] and
     structured(r).get("default") == "deny", "per-host rules merge into the policy", r)
r = call("exec", {"command": probe})
t.eq(structured(r).get("stdout"), "closed\n", "a name outside the allow list stays refused")
r = call("network_policy", {"allow": ["host.internal"]})
r = call("exec", {"command": probe})
t.eq(structured(r).get("stdout"), "open\n", "allowing host.internal by name lets it through")
r = call("network_policy", {"default": "allow", "replace": True})
r = call("exec", {"command": probe})
t.eq(structured(r).get("stdout"), "open\n", "allowing egress again restores the network")

# --- errors and cleanup ---------------------------------------------------------------------------
r = call("exec", {"sandbox_id": "sbx-doesnotexist", "command": "true"})
t.ok(is_error(r) and "sbx-doesnotexist" in text_of(r), "an unknown sandbox id is an error naming it", r)
r = call("sandbox_kill", {"sandbox_id": sid})
t.eq(structured(r).get("state"), "killed", "sandbox_kill")
r = call("sandbox_info", {"sandbox_id": sid})
t.ok(is_error(r), "a killed sandbox is gone", r)
r = call("sandbox_create", {"timeout_s": 1})
short = structured(r).get("sandbox_id")
time.sleep(2.5)
r = call("exec", {"sandbox_id": short, "command": "true"})
t.ok(is_error(r), "a sandbox expires at its timeout", r)
t.ok(not s.bad_lines, "stdout carried only JSON-RPC", s.bad_lines[:3])
t.eq(s.close(), 0, "clean exit")
left = [d for d in os.listdir(s.root) if d.startswith("sbx")] if os.path.isdir(s.root) else []
t.ok(not left, "nothing is left in the state root after exit", left)
t.done()
