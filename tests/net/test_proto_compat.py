#!/usr/bin/env python3
"""Wire compatibility of our nanopb code (proto/*.proto + src/backends/e2b/envd/) with the
upstream envd schema (shared/reference/e2b/envd/{process,filesystem}/*.proto).

Both directions, through the real encoders/decoders of envd/ driven by
$SANDBOX_MCP_TESTBIN/pbtool:
  ours -> upstream: pbtool encode ... | protoc --decode=<upstream type>  (text compared)
  upstream -> ours: protoc --encode=<upstream type> < text | pbtool decode ...
plus the literal bytes of BRIEF.md §6 (start pid 14999, stdin "20 00"). TAP output.
"""

import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.environ.get("SANDBOX_MCP_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTBIN = os.environ.get("SANDBOX_MCP_TESTBIN") or os.path.join(ROOT, "build", "test", "tests")
PBTOOL = os.path.join(TESTBIN, "pbtool")
REF = os.path.abspath(os.path.join(ROOT, "..", "shared", "reference", "e2b", "envd"))
if not os.path.isdir(REF):
    REF = "/work/shared/reference/e2b/envd"

N = 0
FAILED = 0


def ok(cond, desc, diag=None):
    global N, FAILED
    N += 1
    if not cond:
        FAILED += 1
    print("%sok %d - %s" % ("" if cond else "not ", N, desc))
    if not cond and diag is not None:
        for line in str(diag).splitlines()[:30]:
            print("#   " + line)
    sys.stdout.flush()
    return cond


def skip(desc, why):
    global N
    N += 1
    print("ok %d - %s # SKIP %s" % (N, desc, why))


# google/protobuf/timestamp.proto for machines without libprotobuf-dev's include tree:
# the well-known type's definition (package, name, fields and numbers are fixed).
TIMESTAMP = b'''syntax = "proto3";
package google.protobuf;
message Timestamp {
  int64 seconds = 1;
  int32 nanos = 2;
}
'''

INC = None


def protoc(mode, typ, data):
    proto = "process/process.proto" if typ.startswith("process.") else "filesystem/filesystem.proto"
    p = subprocess.run(["protoc", "--%s=%s" % (mode, typ), "-I", REF, "-I", INC, proto],
                       input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("protoc --%s=%s failed: %s" % (mode, typ, p.stderr.decode()))
    return p.stdout


def pbtool(*args, data=None):
    p = subprocess.run([PBTOOL] + list(args), input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    return p.returncode, p.stdout, p.stderr.decode()


def ours_to_upstream(desc, typ, args, want_text):
    rc, out, err = pbtool("encode", *args)
    if not ok(rc == 0, desc + ": pbtool encodes", err):
        return None
    try:
        text = protoc("decode", typ, out).decode()
    except Exception as e:  # noqa: BLE001
        ok(False, desc + ": upstream decodes", e)
        return out
    ok(text.strip() == want_text.strip(), desc + ": upstream %s reads it back" % typ,
       "got:\n%s\nwant:\n%s" % (text, want_text))
    return out


def upstream_to_ours(desc, typ, kind, text, want):
    try:
        data = protoc("encode", typ, text.encode())
    except Exception as e:  # noqa: BLE001
        ok(False, desc + ": protoc encodes", e)
        return
    rc, out, err = pbtool("decode", kind, data=data)
    ok(rc == 0 and out.decode().strip() == want.strip(), desc,
       "rc=%d err=%s\ngot:\n%s\nwant:\n%s" % (rc, err, out.decode(), want))


def main():
    global INC
    if not shutil.which("protoc"):
        skip("proto compatibility", "protoc not installed (apt-get install protobuf-compiler)")
        print("1..%d" % N)
        return 0
    if not os.access(PBTOOL, os.X_OK):
        ok(False, "pbtool is built", "missing %s (make FLAVOR=test test-build)" % PBTOOL)
        print("1..%d" % N)
        return 1
    INC = tempfile.mkdtemp(prefix="pbinc-")
    os.makedirs(os.path.join(INC, "google", "protobuf"))
    with open(os.path.join(INC, "google", "protobuf", "timestamp.proto"), "wb") as f:
        f.write(TIMESTAMP)
    try:
        run()
    finally:
        shutil.rmtree(INC, ignore_errors=True)
    print("1..%d" % N)
    return 1 if FAILED else 0


def run():
    # --- ours -> upstream (protoc prints map entries sorted by key) ------------------
    out = ours_to_upstream("StartRequest", "process.StartRequest",
                           ["start", "echo hi; echo err >&2; exit 3", "/tmp", "tag-1", "FOO=bar", "A=b c"], '''
process {
  cmd: "/bin/bash"
  args: "-l"
  args: "-c"
  args: "echo hi; echo err >&2; exit 3"
  envs {
    key: "A"
    value: "b c"
  }
  envs {
    key: "FOO"
    value: "bar"
  }
  cwd: "/tmp"
}
tag: "tag-1"
stdin: false
''')
    ok(out is not None and out.endswith(b"\x20\x00"), "StartRequest: stdin=false is on the wire as 20 00 (BRIEF §11.1)",
       out and out.hex())
    out = ours_to_upstream("StartRequest minimal", "process.StartRequest", ["start", "true"], '''
process {
  cmd: "/bin/bash"
  args: "-l"
  args: "-c"
  args: "true"
}
stdin: false
''')
    ok(out is not None and b"\x22" not in out[:2], "StartRequest minimal: no cwd, no tag")
    ours_to_upstream("StartRequest stdin=true", "process.StartRequest", ["start-stdin", "cat"], '''
process {
  cmd: "/bin/bash"
  args: "-l"
  args: "-c"
  args: "cat"
}
stdin: true
''')
    ours_to_upstream("StartRequest argv", "process.StartRequest", ["argv", "chmod", "755", "--", "/a b"], '''
process {
  cmd: "chmod"
  args: "755"
  args: "--"
  args: "/a b"
}
stdin: false
''')
    ours_to_upstream("StartRequest UTF-8", "process.StartRequest", ["start", "echo \u00e9\u4e2d"], '''
process {
  cmd: "/bin/bash"
  args: "-l"
  args: "-c"
  args: "echo \\303\\251\\344\\270\\255"
}
stdin: false
''')
    ours_to_upstream("SendSignalRequest SIGTERM", "process.SendSignalRequest", ["signal", "4242", "15"], '''
process {
  pid: 4242
}
signal: SIGNAL_SIGTERM
''')
    out = ours_to_upstream("SendSignalRequest SIGKILL", "process.SendSignalRequest", ["signal", "7", "9"], '''
process {
  pid: 7
}
signal: SIGNAL_SIGKILL
''')
    ok(out == bytes.fromhex("0a020807") + b"\x10\x09", "SendSignal SIGKILL bytes: enum value 9 (BRIEF §11.3)",
       out and out.hex())
    ours_to_upstream("ConnectRequest", "process.ConnectRequest", ["selector", "14999"], '''
process {
  pid: 14999
}
''')
    ours_to_upstream("CloseStdinRequest", "process.CloseStdinRequest", ["selector", "1"], '''
process {
  pid: 1
}
''')
    ours_to_upstream("SendInputRequest binary", "process.SendInputRequest", ["input", "99", "00ff0a41"], '''
process {
  pid: 99
}
input {
  stdin: "\\000\\377\\nA"
}
''')
    ours_to_upstream("StatRequest", "filesystem.StatRequest", ["path", "/home/user/a b.txt"], '''
path: "/home/user/a b.txt"
''')
    ours_to_upstream("MakeDirRequest", "filesystem.MakeDirRequest", ["path", "rel/dir"], '''
path: "rel/dir"
''')
    ours_to_upstream("RemoveRequest", "filesystem.RemoveRequest", ["path", "/tmp/x"], '''
path: "/tmp/x"
''')
    ours_to_upstream("MoveRequest", "filesystem.MoveRequest", ["move", "/a", "/b/c"], '''
source: "/a"
destination: "/b/c"
''')
    ours_to_upstream("ListDirRequest", "filesystem.ListDirRequest", ["listdir", "/work", "3"], '''
path: "/work"
depth: 3
''')
    rc, _, err = pbtool("encode", "path", "/" + "x" * 5000)
    ok(rc == 1 and "at most" in err, "a path over the nanopb bound is refused with a sentence", err)

    # --- upstream -> ours ------------------------------------------------------------
    rc, out, err = pbtool("decode", "event", data=bytes.fromhex("0a050a03089775"))
    ok(rc == 0 and out.decode().strip() == "start pid=14999", "BRIEF §6 bytes 0a 05 0a 03 08 97 75 -> start pid 14999",
       (rc, out, err))
    upstream_to_ours("StartResponse start", "process.StartResponse", "event",
                     "event { start { pid: 4294967295 } }", "start pid=4294967295")
    upstream_to_ours("StartResponse stdout binary", "process.StartResponse", "event",
                     r'event { data { stdout: "a\000\377b\n" } }', r'stdout len=5 data="a\x00\xffb\x0a"')
    upstream_to_ours("StartResponse stderr", "process.StartResponse", "event",
                     'event { data { stderr: "err\\n" } }', r'stderr len=4 data="err\x0a"')
    upstream_to_ours("StartResponse pty", "process.StartResponse", "event",
                     'event { data { pty: "$ " } }', 'pty len=2 data="$ "')
    upstream_to_ours("EndEvent exit 3", "process.StartResponse", "event",
                     'event { end { exit_code: 3 exited: true status: "exit status 3" error: "exit status 3" } }',
                     'end exit_code=3 exited=1 status="exit status 3" error="exit status 3"')
    upstream_to_ours("EndEvent killed: sint32 -1 (zigzag)", "process.StartResponse", "event",
                     'event { end { exit_code: -1 exited: false status: "signal: killed" error: "signal: killed" } }',
                     'end exit_code=-1 exited=0 status="signal: killed" error="signal: killed"')
    upstream_to_ours("EndEvent exit 0 without error", "process.StartResponse", "event",
                     'event { end { exit_code: 0 exited: true status: "exit status 0" } }',
                     'end exit_code=0 exited=1 status="exit status 0" error=""')
    upstream_to_ours("EndEvent large negative", "process.ConnectResponse", "event",
                     'event { end { exit_code: -2147483648 exited: true status: "x" } }',
                     'end exit_code=-2147483648 exited=1 status="x" error=""')
    upstream_to_ours("keepalive", "process.StartResponse", "event", "event { keepalive { } }", "keepalive")
    upstream_to_ours("ConnectResponse stdout", "process.ConnectResponse", "event",
                     'event { data { stdout: "x" } }', 'stdout len=1 data="x"')
    # a big output chunk goes through the callback, not a fixed buffer
    big = "y" * 100000
    upstream_to_ours("StartResponse 100 KB stdout", "process.StartResponse", "event",
                     'event { data { stdout: "%s" } }' % big, 'stdout len=100000 data="%s"' % big)
    upstream_to_ours("StatResponse", "filesystem.StatResponse", "entry", '''
entry { name: "a.txt" type: FILE_TYPE_FILE path: "/home/user/a.txt" size: 1234 mode: 420
        permissions: "-rw-r--r--" owner: "user" group: "user"
        modified_time { seconds: 1700000000 nanos: 123456789 }
        metadata { key: "k" value: "v" } }''',
                     "name=a.txt type=file path=/home/user/a.txt size=1234 mode=644 mtime_ms=1700000000123 link=-")
    upstream_to_ours("StatResponse symlink (target type, symlink_target)", "filesystem.StatResponse", "entry", '''
entry { name: "l" type: FILE_TYPE_DIRECTORY path: "/l" size: 4 mode: 493 permissions: "Lrwxrwxrwx"
        symlink_target: "/real/dir" }''',
                     "name=l type=dir path=/l size=4 mode=755 mtime_ms=0 link=/real/dir")
    upstream_to_ours("MakeDirResponse", "filesystem.MakeDirResponse", "entry",
                     'entry { name: "d" type: FILE_TYPE_DIRECTORY path: "/d" mode: 511 }',
                     "name=d type=dir path=/d size=0 mode=777 mtime_ms=0 link=-")
    upstream_to_ours("MoveResponse int64 size", "filesystem.MoveResponse", "entry",
                     'entry { name: "big" type: FILE_TYPE_FILE path: "/big" size: 5000000000 }',
                     "name=big type=file path=/big size=5000000000 mode=0 mtime_ms=0 link=-")
    upstream_to_ours("ListDirResponse", "filesystem.ListDirResponse", "listdir", '''
entries { name: "a" type: FILE_TYPE_DIRECTORY path: "/w/a" mode: 493 }
entries { name: "b.txt" type: FILE_TYPE_FILE path: "/w/a/b.txt" size: 3 mode: 420 metadata { key: "x" value: "y" } }
entries { name: "s" type: FILE_TYPE_SYMLINK path: "/w/s" }''', '''
name=a type=dir path=/w/a size=0 mode=755 mtime_ms=0 link=-
name=b.txt type=file path=/w/a/b.txt size=3 mode=644 mtime_ms=0 link=-
name=s type=symlink path=/w/s size=0 mode=0 mtime_ms=0 link=-
count=3 truncated=0''')
    upstream_to_ours("ListDirResponse empty", "filesystem.ListDirResponse", "listdir", "", "count=0 truncated=0")
    upstream_to_ours("ListResponse", "process.ListResponse", "list", '''
processes { config { cmd: "/bin/bash" args: "-l" args: "-c" args: "sleep 100"
                     envs { key: "A" value: "1" } cwd: "/tmp" } pid: 12 tag: "t" }
processes { config { cmd: "/usr/bin/python3" args: "-m" args: "http.server" } pid: 13 }''', '''
pid=12 command="sleep 100" tag=t
pid=13 command="/usr/bin/python3 -m http.server" tag=-
count=2''')
    # a path longer than our bound fails to decode with a clear error (no overflow)
    try:
        data = protoc("encode", "filesystem.StatResponse", ('entry { path: "%s" }' % ("p" * 5000)).encode())
        rc, out, err = pbtool("decode", "entry", data=data)
        ok(rc == 1 and "does not decode" in err, "an over-long path from the peer is a decode error", err)
    except Exception as e:  # noqa: BLE001
        ok(False, "an over-long path from the peer is a decode error", e)
    # truncated input
    rc, out, err = pbtool("decode", "event", data=bytes.fromhex("0a050a030897"))
    ok(rc == 1 and "does not decode" in err, "a truncated event is a decode error", err)


if __name__ == "__main__":
    sys.exit(main())
