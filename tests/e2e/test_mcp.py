#!/usr/bin/env python3
"""MCP protocol end to end: the binary over stdio, both protocol eras, framing, errors,
pagination, progress, cancellation, concurrency, shutdown. TAP output."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from mcpclient import BIN, Server, Tap, is_error, structured, text_of  # noqa: E402

t = Tap()
MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {}}

# --- command line ---------------------------------------------------------------------
r = subprocess.run([BIN, "--version"], capture_output=True, text=True)
t.ok(r.returncode == 0 and r.stdout.startswith("sandbox-mcp "), "--version prints the version")
r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
flags = ["--backend", "--api-key", "--domain", "--scheme", "--routing", "--api-url", "--sandbox-url",
         "--use-server-proxy", "--sandbox", "--access-token", "--k8s", "--user", "--header",
         "--timeout-s", "--ca-file", "--insecure", "--tools", "--keep", "--local-root",
         "--local-isolation", "--log-level"]
missing = [f for f in flags if f not in r.stdout]
t.ok(r.returncode == 0 and not missing, "--help lists every flag", missing)
for env in ["OPEN_SANDBOX_API_KEY", "OPEN_SANDBOX_DOMAIN", "X_API_KEY", "E2B_API_KEY", "SANDBOX_MCP_LOG",
            "HTTPS_PROXY", "SSL_CERT_FILE"]:
    t.ok(env in r.stdout, "--help names environment variable " + env)
r = subprocess.run([BIN, "--no-such-flag"], capture_output=True, text=True)
t.ok(r.returncode == 2 and "unknown option '--no-such-flag'" in r.stderr and r.stdout == "",
     "unknown flag: exit 2, one sentence on stderr, nothing on stdout", r.stderr)
r = subprocess.run([BIN, "--backend", "nope"], capture_output=True, text=True)
t.ok(r.returncode == 2 and "unknown backend" in r.stderr, "unknown backend is refused", r.stderr)
r = subprocess.run([BIN, "--header", "X-Token=s3cret\r\nX-Evil: 1"], capture_output=True, text=True)
t.ok(r.returncode == 2 and "control character" in r.stderr and "X-Token" in r.stderr and
     "s3cret" not in r.stderr and r.stdout == "",
     "a header with a line break is refused without repeating its value", r.stderr)
r = subprocess.run([BIN, "--timeout-s", "abc"], capture_output=True, text=True)
t.ok(r.returncode == 2 and "--timeout-s" in r.stderr, "bad flag value is refused", r.stderr)

# --- legacy initialize ----------------------------------------------------------------
s = Server()
pong = s.request("ping")
t.ok(pong is not None and pong.get("result") == {}, "ping works before initialize", pong)
early = s.request("tools/list")
t.ok(early is not None and early.get("error", {}).get("code") == -32602,
     "tools/list before initialize and without _meta is -32602", early)
init = s.initialize("2025-06-18")
res = (init or {}).get("result", {})
t.eq(res.get("protocolVersion"), "2025-06-18", "initialize echoes a known version")
t.ok("tools" in res.get("capabilities", {}) and "logging" in res.get("capabilities", {}),
     "capabilities include tools and logging", res)
t.eq(res.get("serverInfo", {}).get("name"), "sandbox-mcp", "serverInfo names the server")
t.ok(isinstance(res.get("instructions"), str), "initialize result has instructions")

lst = s.request("tools/list")
tools = lst["result"]["tools"]
names = [x["name"] for x in tools]
t.ok(len(tools) >= 20, "tools/list lists the whole catalogue by default (%d tools)" % len(tools))
for need in ["sandbox_create", "sandbox_list", "sandbox_info", "sandbox_kill", "exec", "process_output",
             "file_read", "file_write", "file_edit", "file_list", "file_search", "network_policy"]:
    t.ok(need in names, "tool %s is listed" % need)
bad = [x["name"] for x in tools if not (x.get("description") and x.get("inputSchema", {}).get("type") == "object"
                                        and x.get("outputSchema", {}).get("type") == "object"
                                        and "annotations" in x and x.get("title"))]
t.ok(not bad, "every tool has title, description, object input and output schemas, annotations", bad)
t.ok(all(len(n) <= 64 and all(c.isalnum() or c in "_-." for c in n) for n in names),
     "tool names are short [A-Za-z0-9_.-]")

# parse errors, invalid requests, unknown methods: answered and the server goes on
s.send(b'{"jsonrpc":"2.0","id":5,"method":')
m = s.recv()
t.ok(m and m.get("error", {}).get("code") == -32700 and "id" in m and m["id"] is None,
     "broken JSON gets -32700 with \"id\": null (JSON-RPC 2.0 section 5)", m)
s.send(b'{"jsonrpc":"2.0","id":1,"method":"ping",}')
m = s.recv()
t.ok(m and m.get("error", {}).get("code") == -32700, "trailing comma is a parse error (strict JSON)", m)
s.send(b'{"id":6,"method":"ping"}')
m = s.response(6)
t.ok(m and m.get("error", {}).get("code") == -32600, "missing jsonrpc is -32600", m)
s.send(b'{"jsonrpc":"2.0","id":null,"method":"ping"}')
m = s.recv()
t.ok(m and m.get("error", {}).get("code") == -32600 and "id" in m and m["id"] is None,
     "null id is -32600 with id null", m)
s.send(b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}')
m = s.recv()
t.ok(m and m.get("error", {}).get("code") == -32600 and "id" in m and m["id"] is None,
     "an id that cannot be read (a fraction) is -32600 with id null", m)
s.send(b'{"jsonrpc":"2.0"}')
m = s.recv()
t.ok(m and m.get("error", {}).get("code") == -32600 and "id" in m and m["id"] is None,
     "a message that is no request (no id, no method) is -32600 with id null", m)
s.send(b'[1]')
m = s.recv()
t.ok(isinstance(m, dict) and m.get("error", {}).get("code") == -32600 and "id" in m and m["id"] is None,
     "a refused batch is -32600 with id null", m)
m = s.request("no/such/method")
t.ok(m and m.get("error", {}).get("code") == -32601, "unknown method is -32601", m)
s.notify("notifications/whatever")
m = s.request("ping", rid="after-junk")
t.ok(m and m.get("result") == {} and m.get("id") == "after-junk", "string ids work; unknown notifications get no reply")
big = b'{"jsonrpc":"2.0","id":9,"method":"ping","params":{"x":"' + b"a" * (17 * 1024 * 1024) + b'"}}'
s.send(big)
m = s.recv(timeout=60)
t.ok(m and m.get("error", {}).get("code") == -32700 and "id" in m and m["id"] is None,
     "a line over 16 MiB is refused with -32700 and id null", m)
m = s.request("ping", rid=10)
t.ok(m and m.get("result") == {}, "the server goes on after an over-long line")
s.send([{"jsonrpc": "2.0", "id": 11, "method": "ping"}])
m = s.recv()
t.ok(isinstance(m, dict) and m.get("error", {}).get("code") == -32600, "batches are refused in 2025-06-18", m)
m = s.call("no_such_tool", {})
t.ok(m and m.get("error", {}).get("code") == -32602, "unknown tool is -32602", m)
m = s.call("exec", {"command": "true", "bogus": 1})
t.ok(is_error(m) and "bogus" in text_of(m), "unknown argument gives an isError result naming it", m)
m = s.call("exec", {"command": 5})
t.ok(is_error(m) and "command" in text_of(m), "wrong argument type gives an isError result", m)
m = s.request("tools/list", {"cursor": "garbage"})
t.ok(m and m.get("error", {}).get("code") == -32602, "invalid cursor is -32602", m)
m = s.request("logging/setLevel", {"level": "loud"})
t.ok(m and m.get("error", {}).get("code") == -32602, "unknown log level is -32602", m)

m = s.request("logging/setLevel", {"level": "debug"})
t.ok(m and m.get("result") == {}, "logging/setLevel debug is accepted")

# exec through MCP
m = s.call("exec", {"command": "echo hello; echo oops >&2; exit 3"})
sc = structured(m)
t.eq((sc.get("exit_code"), sc.get("stdout"), sc.get("stderr")), (3, "hello\n", "oops\n"),
     "exec returns exit code, stdout and stderr")
try:
    mirror = json.loads(text_of(m))
except ValueError:
    mirror = None
t.ok(mirror == sc, "the text content mirrors structuredContent for older clients")
msgs = [x for x in iter(lambda: s.recv(timeout=0.5), None) if x.get("method") == "notifications/message"]
t.ok(len(msgs) > 0 and all(x["params"].get("level") in ("debug", "info", "notice", "warning", "error")
                           for x in msgs), "after setLevel debug the server sends notifications/message")
s.request("logging/setLevel", {"level": "error"})

# duplicate member names: the whole message is refused, so no two parsers can disagree
s.send(b'{"jsonrpc":"2.0","id":70,"method":"tools/call","params":{"name":"exec","name":"file_read",'
       b'"arguments":{"command":"echo pwned > dup_marker","path":"x"}}}')
m = s.response(70)
t.ok(m and m.get("error", {}).get("code") == -32600 and m.get("id") == 70 and
     '"name"' in m["error"].get("message", "") and "params" in m["error"].get("message", ""),
     "a duplicate tool name is -32600 naming the member and where it is, with the id", m)
m = s.call("file_stat", {"path": "dup_marker"})
t.ok(structured(m).get("exists") is False, "and nothing of it ran (neither reading ran exec)", m)
s.send(b'{"jsonrpc":"2.0","id":71,"method":"tools/call","params":{"name":"file_read",'
       b'"arguments":{"path":"/tmp/allowed","path":"/etc/shadow"}}}')
m = s.response(71)
t.ok(m and m.get("error", {}).get("code") == -32600 and "params.arguments" in m["error"].get("message", ""),
     "a duplicate argument is -32600 naming params.arguments", m)
s.send(b'{"jsonrpc":"2.0","id":72,"id":73,"method":"ping"}')
m = s.recv()
t.ok(m and m.get("error", {}).get("code") == -32600 and "id" in m and m["id"] is None,
     "a duplicate id is -32600 with id null (which id would be right?)", m)
s.send(b'{"jsonrpc":"2.0","id":74,"method":"ping","method":"tools/list"}')
m = s.response(74)
t.ok(m and m.get("error", {}).get("code") == -32600, "a duplicate method is -32600", m)
s.send(b'{"jsonrpc":"2.0","id":75,"method":"ping","params":{"_meta":{"a\\u0000b":1}}}')
m = s.response(75)
t.ok(m and m.get("error", {}).get("code") == -32600 and "U+0000" in m["error"].get("message", ""),
     "a member name holding U+0000 is -32600", m)
m = s.call("exec", {"command": "true", "env": {"A\u0000B": "1"}})
t.ok(m and m.get("error", {}).get("code") == -32600 and "params.arguments.env" in m["error"].get("message", ""),
     "a NUL in an env name (a member name in map form) is -32600", m)
s.send(b'{"jsonrpc":"2.0","id":76,"method":"ping\\u0000x"}')
m = s.response(76)
t.ok(m and m.get("error", {}).get("code") == -32600, "a method name holding U+0000 does not run the method", m)
m = s.request("tools/call", {"name": "exec\u0000x", "arguments": {"command": "true"}})
t.ok(m and m.get("error", {}).get("code") == -32602, "a tool name holding U+0000 is an unknown tool", m)

# U+0000 in arguments: refused in paths, commands, cwd, env and ids with a sentence
for tool, args, arg in [("file_read", {"path": "/etc/passwd\u0000/x"}, "path"),
                        ("exec", {"command": "true", "cwd": "/tmp\u0000/x"}, "cwd"),
                        ("exec", {"command": "true\u0000; false"}, "command"),
                        ("exec", {"command": "true", "env": [{"name": "A", "value": "x\u0000"}]}, "env"),
                        ("sandbox_info", {"sandbox_id": "sbx\u0000-1"}, "sandbox_id")]:
    m = s.call(tool, args)
    t.ok(is_error(m) and arg in text_of(m) and ("U+0000" in text_of(m) or "control character" in text_of(m)),
         "%s refuses U+0000 in %s with a sentence naming it" % (tool, arg), m)
m = s.call("exec", {"command": "printf '%s' \"$A$B\"", "env": [{"name": "A", "value": "x"},
                                                                {"name": "B", "value": "y"}]})
t.eq(structured(m).get("stdout"), "xy", "env as the schema's [{name, value}] array works")
m = s.call("exec", {"command": "wc -c", "stdin": "a\u0000b\u0000c"})
t.eq(structured(m).get("stdout", "").strip(), "5", "stdin keeps its NUL bytes (data is not cut)")
m = s.call("file_write", {"path": "nul.bin", "content": "a\u0000b"})
t.ok(structured(m).get("bytes_written") == 3, "file_write writes text content with a NUL whole", m)
m = s.call("file_read", {"path": "nul.bin", "encoding": "base64"})
t.eq(structured(m).get("content"), "YQBi", "and file_read gives the same bytes back")
m = s.call("exec", {"command": "true", "timeout_s": None, "cwd": None, "env": None, "stdin": None,
                    "background": None, "max_output_bytes": None, "sandbox_id": None})
t.ok(not is_error(m) and structured(m).get("exit_code") == 0,
     "null for every optional argument means not given (OpenAI strict mode sends them)", m)

# progress: output streams as notifications/progress before the response
s.next_id += 1
rid = s.next_id
s.send({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
        "params": {"name": "exec", "_meta": {"progressToken": "tok-1"},
                   "arguments": {"command": "for i in 1 2 3; do echo line$i; sleep 0.4; done"}}})
seen = []
resp = None
while True:
    m = s.recv(timeout=60)
    if m is None:
        break
    if m.get("method") == "notifications/progress":
        seen.append(m["params"])
    elif m.get("id") == rid:
        resp = m
        break
vals = [p["progress"] for p in seen]
t.ok(len(seen) >= 2 and all(p["progressToken"] == "tok-1" for p in seen), "progress notifications carry the token", seen)
t.ok(vals == sorted(vals) and len(set(vals)) == len(vals), "progress values strictly increase", vals)
t.ok("line1" in "".join(p.get("message", "") for p in seen), "progress messages carry the live output", seen)
t.eq(structured(resp).get("stdout"), "line1\nline2\nline3\n", "the response still has the whole output")
late = s.wait_for(lambda x: x.get("method") == "notifications/progress", timeout=1, keep=False)
t.ok(late is None, "no progress after the response", late)

# cancellation: no response, the process is killed, other requests keep working
s.send({"jsonrpc": "2.0", "id": "long-1", "method": "tools/call",
        "params": {"name": "exec", "arguments": {"command": "sleep 3; echo done > cancel-marker"}}})
time.sleep(0.8)
pong = s.request("ping", rid="while-busy", timeout=10)
t.ok(pong is not None and pong.get("result") == {}, "ping is answered while a call runs")
s.notify("notifications/cancelled", {"requestId": "long-1", "reason": "test"})
got = s.wait_for(lambda x: x.get("id") == "long-1", timeout=5, keep=False)
t.ok(got is None, "a cancelled request gets no response", got)
time.sleep(3)
st = s.call("file_stat", {"path": "cancel-marker"})
t.ok(structured(st).get("exists") is False, "cancelling killed the command (its marker file never appeared)", st)

# concurrency: a quick call finishes while a slow one runs
s.send({"jsonrpc": "2.0", "id": "slow", "method": "tools/call",
        "params": {"name": "exec", "arguments": {"command": "sleep 2; echo slow"}}})
s.send({"jsonrpc": "2.0", "id": "fast", "method": "tools/call",
        "params": {"name": "exec", "arguments": {"command": "echo fast"}}})
first = s.wait_for(lambda x: x.get("id") in ("slow", "fast"), timeout=30, keep=False)
t.ok(first and first.get("id") == "fast", "a fast call is not blocked behind a slow one", first)
second = s.response("slow", timeout=30)
t.eq(structured(second).get("stdout"), "slow\n", "the slow call completes too")
t.ok(not s.bad_lines, "stdout carried only JSON-RPC messages", s.bad_lines[:3])
code = s.close()
t.eq(code, 0, "EOF on stdin ends the server with status 0")
left = [d for d in os.listdir(s.root) if d.startswith("sbx")] if os.path.isdir(s.root) else []
t.ok(not left, "the default sandbox is removed at exit", left)

# --- version negotiation and batches --------------------------------------------------
for v in ["2025-11-25", "2025-03-26", "2024-11-05"]:
    s = Server()
    r = s.initialize(v)
    t.eq(r["result"]["protocolVersion"], v, "initialize echoes %s" % v)
    lst = s.request("tools/list")["result"]["tools"]
    if v == "2024-11-05":
        t.ok(all("outputSchema" not in x and "annotations" not in x for x in lst),
             "2024-11-05 tools have no outputSchema or annotations")
        m = s.call("exec", {"command": "echo x"})
        t.ok("structuredContent" not in m["result"] and json.loads(text_of(m))["stdout"] == "x\n",
             "2024-11-05 results carry text only")
    if v == "2025-03-26":
        t.ok(all("annotations" in x and "outputSchema" not in x for x in lst),
             "2025-03-26 tools have annotations but no outputSchema")
        s.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}])
        m = s.recv()
        t.ok(isinstance(m, list) and sorted(x["id"] for x in m) == [1, 2], "2025-03-26 batch gets an array of responses", m)
        s.send([])
        m = s.recv()
        t.ok(isinstance(m, dict) and m.get("error", {}).get("code") == -32600, "an empty batch is -32600", m)
    s.close()
s = Server()
r = s.initialize("1999-01-01")
t.eq(r["result"]["protocolVersion"], "2025-11-25", "an unknown version is answered with the newest")
s.close()

# --- pagination -----------------------------------------------------------------------
s = Server(env={"SANDBOX_MCP_PAGE_SIZE": "4"})
s.initialize()
allnames, cursor, pages = [], None, 0
while True:
    r = s.request("tools/list", {"cursor": cursor} if cursor else {})
    allnames += [x["name"] for x in r["result"]["tools"]]
    pages += 1
    cursor = r["result"].get("nextCursor")
    if not cursor or pages > 50:
        break
t.ok(pages > 2 and allnames == names and len(set(allnames)) == len(allnames),
     "tools/list pages with nextCursor cover every tool once, in order", (pages, allnames))
s.close()

# --- tool profiles --------------------------------------------------------------------
s = Server(args=["--tools", "core"])
s.initialize()
core = [x["name"] for x in s.request("tools/list")["result"]["tools"]]
t.ok(0 < len(core) <= 10 and "exec" in core, "--tools core lists at most ten tools", core)
s.close()
s = Server(args=["--tools", "exec,file_read"])
s.initialize()
two = [x["name"] for x in s.request("tools/list")["result"]["tools"]]
t.eq(sorted(two), ["exec", "file_read"], "--tools a,b lists exactly those")
m = s.call("file_write", {"path": "x", "content": "y"})
t.ok(m and m.get("error", {}).get("code") == -32602, "a tool outside the profile cannot be called", m)
s.close()
r = subprocess.run([BIN, "--tools", "exec,nope"], capture_output=True, text=True, input="")
t.ok(r.returncode != 0 and "nope" in r.stderr, "an unknown tool name in --tools is an error", r.stderr)

# --- modern era -----------------------------------------------------------------------
s = Server()
d = s.request("server/discover", {"_meta": META})
res = (d or {}).get("result", {})
t.ok(res.get("supportedVersions") == [MODERN],
     "server/discover lists the per-request version (legacy ones go through initialize)", res)
m = s.request("server/discover")
t.ok(m and m.get("error", {}).get("code") == -32602, "server/discover without _meta is -32602", m)
t.ok(res.get("resultType") == "complete" and "tools" in res.get("capabilities", {}) and
     res.get("_meta", {}).get("io.modelcontextprotocol/serverInfo", {}).get("name") == "sandbox-mcp",
     "server/discover has resultType, capabilities and serverInfo in _meta", res)
m = s.request("tools/list", {"_meta": META})
res = (m or {}).get("result", {})
t.ok(res.get("resultType") == "complete" and isinstance(res.get("ttlMs"), int) and
     res.get("cacheScope") in ("public", "private") and len(res.get("tools", [])) == len(names),
     "modern tools/list has resultType, ttlMs and cacheScope", {k: res.get(k) for k in ("resultType", "ttlMs", "cacheScope")})
m2 = s.request("tools/list", {"_meta": META})
t.ok([x["name"] for x in m2["result"]["tools"]] == [x["name"] for x in res["tools"]], "modern tools/list order is deterministic")
m = s.request("tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01",
                                       "io.modelcontextprotocol/clientCapabilities": {}}})
err = (m or {}).get("error", {})
t.ok(err.get("code") == -32022 and MODERN in err.get("data", {}).get("supported", []) and
     err.get("data", {}).get("requested") == "2099-01-01", "unknown modern version is -32022 with the supported list", m)
m = s.request("tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}})
t.ok(m and m.get("error", {}).get("code") == -32602, "missing clientCapabilities is -32602", m)
for meth in ["ping", "logging/setLevel", "initialize"]:
    m = s.request(meth, {"_meta": META, "level": "info", "protocolVersion": MODERN, "capabilities": {},
                         "clientInfo": {"name": "x", "version": "1"}})
    t.ok(m and m.get("error", {}).get("code") == -32601, "%s is -32601 in the modern era" % meth, m)
m = s.call("exec", {"command": "echo modern"}, meta=META)
res = (m or {}).get("result", {})
t.ok(res.get("resultType") == "complete" and res.get("structuredContent", {}).get("stdout") == "modern\n",
     "modern tools/call works statelessly with resultType", m)
notes = [x for x in iter(lambda: s.recv(timeout=0.3), None) if x.get("method") == "notifications/message"]
t.ok(not notes, "no notifications/message for modern requests without a logLevel")
s.close()

# --- signals ---------------------------------------------------------------------------
s = Server()
s.initialize()
s.send({"jsonrpc": "2.0", "id": "sleeper", "method": "tools/call",
        "params": {"name": "exec", "arguments": {"command": "sleep 60"}}})
time.sleep(1)
s.p.send_signal(signal.SIGTERM)
try:
    code = s.p.wait(timeout=20)
except subprocess.TimeoutExpired:
    code = None
t.eq(code, 0, "SIGTERM during a long call: the call is cancelled and the server exits 0")
left = [d for d in os.listdir(s.root) if d.startswith("sbx")] if os.path.isdir(s.root) else []
t.ok(not left, "SIGTERM also removes the default sandbox", left)

# --- piped use: requests then EOF still get answers -------------------------------------
import tempfile  # noqa: E402
root = tempfile.mkdtemp(prefix="smcp-pipe-")
lines = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "p", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "exec", "arguments": {"command": "echo piped"}}},
]
r = subprocess.run([BIN, "--local-root", root], input="".join(json.dumps(x) + "\n" for x in lines),
                   capture_output=True, text=True, timeout=60)
outs = [json.loads(x) for x in r.stdout.splitlines()]
t.ok(r.returncode == 0 and any(o.get("id") == 2 and o["result"]["structuredContent"]["stdout"] == "piped\n" for o in outs),
     "requests piped before EOF are answered before exit", r.stdout[-500:] + r.stderr[-500:])

# --- CLI: call ----------------------------------------------------------------------------
r = subprocess.run([BIN, "--local-root", root, "call", "exec", '{"command":"echo live; echo err >&2"}'],
                   capture_output=True, text=True, timeout=60)
try:
    out = json.loads(r.stdout)
except ValueError:
    out = {}
t.ok(r.returncode == 0 and out.get("stdout") == "live\n" and "live" in r.stderr,
     "`call exec` shows output live on stderr and prints the result JSON", (r.stdout, r.stderr))
r = subprocess.run([BIN, "--local-root", root, "tools"], capture_output=True, text=True, timeout=60)
t.ok(r.returncode == 0 and "exec" in r.stdout and "file_read" in r.stdout, "`tools` lists the tools")
r = subprocess.run([BIN, "--local-root", root, "call", "exec", "not json"], capture_output=True, text=True, timeout=60)
t.ok(r.returncode == 2 and "JSON" in r.stderr, "`call` with bad JSON says so", r.stderr)
r = subprocess.run([BIN, "--local-root", root, "doctor"], capture_output=True, text=True, timeout=60)
t.ok(r.returncode == 0 and "ok: a command ran" in r.stdout, "`doctor` runs a command in a throwaway sandbox", r.stdout + r.stderr)
r = subprocess.run([BIN, "--backend", "opensandbox", "--domain", "127.0.0.1:1", "--api-key", "sekrit-key-123", "doctor"],
                   capture_output=True, text=True, timeout=60)
t.ok(r.returncode == 1 and "connection refused" in r.stdout and "sekrit-key-123" not in r.stdout + r.stderr,
     "`doctor` explains an unreachable platform in words and never shows the key", r.stdout + r.stderr)
t.done()
