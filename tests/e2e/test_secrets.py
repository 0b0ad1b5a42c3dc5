#!/usr/bin/env python3
"""End-to-end: secrets (API key, access token, --header values) never leave the binary.

Runs sandbox-mcp with --log-level debug against both fakes with distinctive secrets, through
working tools, failing ones (401 with a wrong key, error bodies that echo the key back as a
server might echo request headers), `doctor` and `call`, and asserts the secrets appear in
no stdout line, no stderr byte and no tool result. TAP, stdlib only.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mcpclient import BIN, Server, Tap, is_error, structured, text_of  # noqa: E402

ROOT = os.path.join(HERE, "..", "..")
KEY = "sk-SECRET-abc123xyz"
WRONG = "sk-SECRET-wrong777qq"
TOKEN = "tok-SECRET-envd4242"
HDR = "sk-SECRET-hdr9x8y7"
SECRETS = (KEY, WRONG, TOKEN, HDR)
T = Tap()


class Fake:
    def __init__(self, kind, *args):
        path = os.path.join(ROOT, "tests", "fake", kind + ".py")
        self.p = subprocess.Popen([sys.executable, path, "--port", "0", "--quiet", "--exit-on-stdin-eof"] +
                                  list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        while True:
            line = self.p.stdout.readline().decode()
            if not line:
                raise RuntimeError("the fake exited before printing its port")
            if line.startswith("PORT "):
                self.port = int(line.split()[1])
                break
        self.base = "http://127.0.0.1:%d" % self.port

    def ctl(self, method, path, body=None):
        import urllib.request
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.base + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def stop(self):
        try:
            self.p.stdin.close()
            self.p.wait(10)
        except Exception:
            self.p.kill()


def leaks(text):
    return [s for s in SECRETS if s in text]


def env():
    return {"HOME": tempfile.mkdtemp(prefix="secrets-home-"), "ASAN_OPTIONS": "detect_leaks=1"}


def session(label, args, calls):
    """Serves MCP, runs calls [(tool, args)], checks every byte that came out."""
    s = Server(args + ["--log-level", "debug"], env=env())
    seen = [s.initialize("2025-06-18")]
    results = []
    for name, a in calls:
        r = s.call(name, a, timeout=60)
        seen.append(r)
        results.append(r)
    seen.append(s.request("tools/list"))
    rc = s.close()
    out = json.dumps(seen) + json.dumps(s.pending) + "".join(x.decode("utf-8", "replace") if isinstance(x, bytes)
                                                              else str(x) for x in s.bad_lines)
    T.ok(not leaks(out), "%s: no secret in stdout / tool results" % label, leaks(out))
    T.ok(not leaks(s.stderr), "%s: no secret in the debug log" % label,
         [ln for ln in s.stderr.splitlines() if leaks(ln)][:5])
    T.ok(rc == 0 and "Sanitizer" not in s.stderr and "runtime error" not in s.stderr,
         "%s: clean exit" % label, s.stderr[-2000:])
    T.ok(len(s.stderr) > 0, "%s: the debug log is not empty (the check means something)" % label)
    return results, s.stderr


def cli(label, args, expect_rc=None):
    p = subprocess.run([BIN, "--log-level", "debug"] + args, input=b"", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=90, env=dict(os.environ, **env()))
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    T.ok(not leaks(out) and not leaks(err), "%s: no secret in stdout/stderr" % label,
         [ln for ln in (out + err).splitlines() if leaks(ln)][:5])
    T.ok("Sanitizer" not in err and "runtime error" not in err, "%s: no sanitizer report" % label, err[-2000:])
    return p.returncode, out, err


def test_opensandbox():
    f = Fake("opensandbox", "--api-key", KEY, "--start-delay-ms", "0", "--execd-token", TOKEN)
    dom = "127.0.0.1:%d" % f.port
    base = ["--backend", "opensandbox", "--domain", dom, "--header", "Authorization=Bearer " + HDR]
    try:
        res, err = session("opensandbox good key", base + ["--api-key", KEY, "--access-token", TOKEN], [
            ("sandbox_create", {}),
            ("sandbox_list", {}),
            ("exec", {"command": "echo hello"}),
            ("file_write", {"path": "/tmp/s.txt", "content": "x"}),
            ("file_read", {"path": "/tmp/s.txt"}),
            ("file_read", {"path": "/no/such/file"}),
            ("sandbox_info", {"sandbox_id": "does-not-exist"}),
        ])
        T.ok(not is_error(res[0]) and structured(res[2]).get("stdout") == "hello\n",
             "opensandbox: the tools worked (secrets were really sent)", res[:3])
        T.ok("Authorization: [redacted]" in err and "OPEN-SANDBOX-API-KEY: [redacted]" in err,
             "opensandbox: the debug log shows the --header Authorization and the key as [redacted]", err[-1500:])
        # a server that echoes the key back in its error body
        f.ctl("POST", "/__fake/fault", {"match": "GET /v1/sandboxes$", "kind": "status", "status": 400,
                                        "count": 0, "body": json.dumps({"code": "BAD_HEADER", "message":
                                        "bad header OPEN-SANDBOX-API-KEY: %s, Authorization: Bearer %s" % (KEY, HDR)})})
        res, _ = session("opensandbox echoed key", base + ["--api-key", KEY], [("sandbox_list", {})])
        T.ok(is_error(res[0]), "opensandbox: the echoing 400 is an error", res[0])
        f.ctl("DELETE", "/__fake/fault")
        res, _ = session("opensandbox wrong key", base + ["--api-key", WRONG], [
            ("sandbox_list", {}), ("sandbox_create", {}), ("exec", {"command": "true"})])
        T.ok(all(is_error(r) for r in res) and "401" in text_of(res[0]), "opensandbox: wrong key -> 401 errors",
             [text_of(r) for r in res])
        rc, out, err = cli("opensandbox doctor", base + ["--api-key", KEY, "doctor"])
        rc, out, err = cli("opensandbox doctor (wrong key)", base + ["--api-key", WRONG, "doctor"])
        rc, out, err = cli("opensandbox call", base + ["--api-key", KEY, "call", "sandbox_list", "{}"])
        T.ok(rc == 0 and "sandboxes" in out, "opensandbox call: result on stdout", (rc, out[-500:], err[-500:]))
        rc, out, err = cli("opensandbox call (wrong key)", base + ["--api-key", WRONG, "call", "sandbox_list"])
        T.ok(rc != 0 or "401" in out + err, "opensandbox call with a wrong key fails", (rc, out[-500:]))
        rc, out, err = cli("opensandbox env key", ["--backend", "opensandbox", "--domain", dom, "call", "sandbox_list"])
        with_env = subprocess.run([BIN, "--log-level", "debug", "doctor"], input=b"", capture_output=True, timeout=90,
                                  env=dict(os.environ, OPEN_SANDBOX_API_KEY=KEY, OPEN_SANDBOX_DOMAIN=dom, **env()))
        T.ok(not leaks(with_env.stdout.decode() + with_env.stderr.decode()),
             "opensandbox: key from OPEN_SANDBOX_API_KEY not shown by doctor")
    finally:
        f.stop()


def test_e2b():
    f = Fake("e2b", "--api-key", KEY, "--access-token", TOKEN)
    base = ["--backend", "e2b", "--api-url", f.base + "/kruise/api", "--sandbox-url", f.base + "/kruise/{id}/{port}",
            "--header", "X-Gateway-Auth=Bearer " + HDR]
    try:
        # envd takes Authorization itself (Basic user); a forced one is sent but may break envd calls
        res, _ = session("e2b Authorization header", base + ["--api-key", KEY, "--header", "Authorization=Bearer " + HDR],
                         [("sandbox_list", {}), ("exec", {"command": "true"})])
        res, err = session("e2b good key", base + ["--api-key", KEY], [
            ("sandbox_create", {}),
            ("sandbox_list", {}),
            ("exec", {"command": "echo hello"}),
            ("file_write", {"path": "/tmp/s.txt", "content": "x"}),
            ("file_read", {"path": "/tmp/s.txt"}),
            ("file_read", {"path": "/no/such/file"}),
            ("sandbox_info", {"sandbox_id": "does-not-exist"}),
        ])
        T.ok(not is_error(res[0]) and structured(res[2]).get("stdout") == "hello\n",
             "e2b: the tools worked (secrets were really sent)", res[:3])
        res, _ = session("e2b wrong key", base + ["--api-key", WRONG], [("sandbox_list", {}), ("sandbox_create", {})])
        T.ok(all(is_error(r) for r in res) and "401" in text_of(res[0]), "e2b: wrong key -> 401 errors",
             [text_of(r) for r in res])
        j = f.ctl("POST", "/__fake/sandbox", {"template": "base", "apiKey": KEY, "shortId": True})
        sid = j["sandboxID"]
        direct = ["--backend", "e2b", "--sandbox", sid, "--domain", "127.0.0.1:%d" % f.port]
        res, _ = session("e2b runtime-direct wrong token", direct + ["--access-token", WRONG],
                         [("exec", {"command": "true"}), ("file_read", {"path": "/etc/hostname"})])
        T.ok(all(is_error(r) for r in res), "e2b: wrong runtime token -> errors", [text_of(r) for r in res])
        rc, out, err = cli("e2b doctor", base + ["--api-key", KEY, "doctor"])
        rc, out, err = cli("e2b doctor (wrong key)", base + ["--api-key", WRONG, "doctor"])
        rc, out, err = cli("e2b call", base + ["--api-key", KEY, "call", "sandbox_list", "{}"])
        T.ok(rc == 0 and "sandboxes" in out, "e2b call: result on stdout", (rc, out[-500:], err[-500:]))
        rc, out, err = cli("e2b call (runtime token)", direct + ["--access-token", TOKEN, "call", "exec",
                                                                 '{"command":"echo hi"}'])
        T.ok(rc == 0 and "hi" in out, "e2b call exec with the runtime token", (rc, out[-500:], err[-800:]))
    finally:
        f.stop()


def main():
    if not os.path.exists(BIN):
        T.skip("secrets end-to-end", "no binary at %s" % BIN)
        T.done()
    test_opensandbox()
    test_e2b()
    T.done()


if __name__ == "__main__":
    main()
