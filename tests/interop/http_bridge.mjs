// http_bridge.mjs -- a minimal Streamable HTTP front for a stdio MCP server, so that the
// HTTP-only conformance suite talks to sandbox-mcp itself. Unlike mcp-proxy (which answers
// initialize, ping, logging/setLevel and the 2026-07-28 _meta/version checks on its own
// and forwards only a few methods), this bridge forwards every JSON-RPC message verbatim
// and returns the server's own response line verbatim. It only adds what HTTP owns:
//   - legacy sessions: an initialize POST without Mcp-Session-Id starts a new server
//     process and a session id; DELETE ends it (stdin closed); unknown ids get 404;
//   - 2026-07-28 (stateless) requests share one server process; the HTTP status follows
//     the transport rules (-32601 -> 404; -32600/-32700/-32020/-32021/-32022 -> 400;
//     -32602 -> 400 when the request's _meta envelope is incomplete), and an
//     MCP-Protocol-Version or Mcp-Method header that disagrees with the body is answered
//     here with 400 / -32020 (those checks test this bridge, not the server);
//   - notifications the server sends while a request is open go to that request as SSE
//     (progress by token, others to every open request of that process).
// Usage: node http_bridge.mjs [--port N] -- COMMAND ARGS...   (prints "LISTENING <port>")
// On SIGTERM/SIGINT it closes every server's stdin, waits for them (SIGKILL after 15 s),
// prints one line per server exit on stderr and exits 1 if any exited abnormally.
import http from "node:http";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
if (dash < 0 || dash === argv.length - 1) {
  console.error("usage: node http_bridge.mjs [--port N] -- COMMAND ARGS...");
  process.exit(2);
}
const portArg = argv.indexOf("--port");
const port = portArg >= 0 && portArg < dash ? Number(argv[portArg + 1]) : 0;
const cmd = argv.slice(dash + 1);
const log = (...a) => console.error("[bridge]", ...a);

const children = [];
let abnormal = 0;

class Child {
  constructor(tag) {
    this.tag = tag;
    this.waiters = new Map();	// JSON text of the id -> [waiter, ...]
    this.closed = false;
    this.p = spawn(cmd[0], cmd.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
    this.done = new Promise(resolve => {
      this.p.on("exit", (code, signal) => {
        // Normal: status 0 after we closed its stdin (ASan reports make the status non-zero).
        const ok = code === 0 && !this.killed && this.closed;
        if (!ok) abnormal++;
        log(`server ${this.tag} (pid ${this.p.pid}) exited with ${signal ? "signal " + signal : "status " + code}` +
            (this.closed ? "" : " before its stdin was closed") + (ok ? "" : " ABNORMAL"));
        for (const list of this.waiters.values())
          for (const w of list) w.fail(502, "the MCP server process exited");
        this.waiters.clear();
        resolve();
      });
    });
    this.p.stdin.on("error", () => {});
    createInterface({ input: this.p.stdout, crlfDelay: Infinity }).on("line", l => this.onLine(l));
    children.push(this);
  }

  send(line) {
    if (!this.closed) this.p.stdin.write(line + "\n");
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.p.stdin.end();
  }

  wait(key, w) {
    if (!this.waiters.has(key)) this.waiters.set(key, []);
    this.waiters.get(key).push(w);
  }

  unwait(key, w) {
    const list = this.waiters.get(key);
    if (!list) return;
    const i = list.indexOf(w);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.waiters.delete(key);
  }

  onLine(line) {
    if (line.trim() === "") return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      log(`server ${this.tag} wrote a line that is not JSON: ${line.slice(0, 200)}`);
      abnormal++;
      return;
    }
    if (Array.isArray(msg)) {
      log(`server ${this.tag} sent a batch; batches are not bridged`);
      return;
    }
    if (msg.id !== undefined && (msg.result !== undefined || msg.error !== undefined)) {
      const key = JSON.stringify(msg.id);
      const list = this.waiters.get(key);
      if (!list || list.length === 0) {
        log(`server ${this.tag}: response to id ${key} that nobody waits for (dropped)`);
        return;
      }
      const w = list.shift();
      if (list.length === 0) this.waiters.delete(key);
      w.respond(msg, line);
      return;
    }
    if (msg.id !== undefined) {
      log(`server ${this.tag} sent a request (${msg.method}); not bridged`);
      return;
    }
    const token = msg.method === "notifications/progress" ? JSON.stringify(msg.params?.progressToken) : null;
    for (const list of this.waiters.values())
      for (const w of list)
        if (token === null || w.token === token) w.notify(line);
  }
}

const sessions = new Map();	// Mcp-Session-Id -> Child
let stateless = null;

function jsonError(res, status, id, code, message, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ jsonrpc: "2.0", id: id ?? null, error: { code, message } }));
}

function envelopeIncomplete(params) {
  const meta = params?._meta;
  return !meta || typeof meta !== "object" ||
    typeof meta["io.modelcontextprotocol/protocolVersion"] !== "string" ||
    typeof meta["io.modelcontextprotocol/clientCapabilities"] !== "object" ||
    meta["io.modelcontextprotocol/clientCapabilities"] === null;
}

function modernStatus(msg, incomplete) {
  const code = msg.error?.code;
  if (code === undefined) return 200;
  if (code === -32601) return 404;
  if ([-32700, -32600, -32020, -32021, -32022].includes(code)) return 400;
  if (code === -32602 && incomplete) return 400;
  return 200;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let n = 0;
    req.on("data", c => {
      n += c.length;
      if (n > 16 * 1024 * 1024) reject(new Error("body too large"));
      else parts.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

async function handle(req, res) {
  const url = new URL(req.url, "http://x");
  if (url.pathname !== "/mcp") return jsonError(res, 404, null, -32601, "not found: use /mcp");
  const sid = req.headers["mcp-session-id"];
  if (req.method === "DELETE") {
    const c = sid && sessions.get(sid);
    if (!c) return jsonError(res, 404, null, -32001, "session not found");
    sessions.delete(sid);
    c.close();
    res.writeHead(200).end();
    return;
  }
  if (req.method !== "POST") {
    res.writeHead(405, { allow: "POST, DELETE" }).end();
    return;
  }
  let text;
  try {
    text = await readBody(req);
  } catch (e) {
    return jsonError(res, 413, null, -32600, e.message);
  }
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return jsonError(res, 400, null, -32700, "parse error: the body is not JSON");
  }
  if (Array.isArray(msg) || msg === null || typeof msg !== "object")
    return jsonError(res, 400, null, -32600, "the bridge forwards single JSON-RPC messages only");
  // One line on the server's stdin: forward the body as is unless it spans lines.
  const line = /[\r\n]/.test(text) ? JSON.stringify(msg) : text;

  // Era: a request in a session is legacy; outside one, an initialize without the
  // 2026-07-28 _meta starts a session; everything else goes to the stateless server.
  const bodyVersion = msg.params?._meta?.["io.modelcontextprotocol/protocolVersion"];
  let child, modern = false, newSid = null;
  if (sid !== undefined) {
    child = sessions.get(sid);
    if (!child) return jsonError(res, 404, msg.id, -32001, "session not found");
  } else if (msg.method === "initialize" && bodyVersion === undefined) {
    newSid = randomUUID();
    child = new Child("session " + newSid.slice(0, 8));
    sessions.set(newSid, child);
  } else {
    modern = true;
    if (!stateless) stateless = new Child("stateless");
    child = stateless;
    const hv = req.headers["mcp-protocol-version"];
    const bv = bodyVersion;
    if (hv !== undefined && typeof bv === "string" && hv !== bv)
      return jsonError(res, 400, msg.id, -32020,
        `MCP-Protocol-Version header '${hv}' does not match _meta protocol version '${bv}'`);
    const hm = req.headers["mcp-method"];
    if (hm !== undefined && typeof msg.method === "string" && hm !== msg.method)
      return jsonError(res, 400, msg.id, -32020, `Mcp-Method header '${hm}' does not match method '${msg.method}'`);
  }
  const headers = newSid ? { "mcp-session-id": newSid } : {};

  if (msg.method === undefined || msg.id === undefined || msg.id === null) {
    child.send(line);	// notification or a client response: no reply body
    res.writeHead(202, headers).end();
    return;
  }

  const key = JSON.stringify(msg.id);
  const incomplete = modern && envelopeIncomplete(msg.params);
  const sseOk = String(req.headers.accept ?? "").includes("text/event-stream");
  const w = {
    token: msg.params?._meta?.progressToken !== undefined ? JSON.stringify(msg.params._meta.progressToken) : undefined,
    sse: false,
    finished: false,
    notify(l) {
      if (this.finished || !sseOk) return;
      if (!this.sse) {
        this.sse = true;
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", ...headers });
      }
      res.write(`event: message\ndata: ${l}\n\n`);
    },
    respond(m, l) {
      if (this.finished) return;
      this.finished = true;
      if (this.sse) {
        res.end(`event: message\ndata: ${l}\n\n`);
        return;
      }
      res.writeHead(modern ? modernStatus(m, incomplete) : 200, { "content-type": "application/json", ...headers });
      res.end(l);
    },
    fail(status, message) {
      if (this.finished) return;
      this.finished = true;
      if (this.sse) res.end();
      else jsonError(res, status, msg.id, -32603, message);
    },
  };
  child.wait(key, w);
  res.on("close", () => {
    if (w.finished) return;
    // The client went away: the request is cancelled, as closing the stream means on HTTP.
    w.finished = true;
    child.unwait(key, w);
    child.send(JSON.stringify({ jsonrpc: "2.0", method: "notifications/cancelled",
      params: { requestId: msg.id, reason: "HTTP client disconnected" } }));
  });
  child.send(line);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch(e => {
    log("internal error:", e);
    if (!res.headersSent) jsonError(res, 500, null, -32603, String(e));
    else res.end();
  });
});
server.keepAliveTimeout = 1000;

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections?.();
  for (const c of children) c.close();
  const timer = setTimeout(() => {
    for (const c of children) {
      if (c.p.exitCode === null && c.p.signalCode === null) {
        c.killed = true;
        log(`server ${c.tag} did not exit within 15 s of stdin EOF; killing it`);
        c.p.kill("SIGKILL");
      }
    }
  }, 15000);
  await Promise.all(children.map(c => c.done));
  clearTimeout(timer);
  log(`${children.length} server process(es), ${abnormal} abnormal`);
  process.exit(abnormal ? 1 : 0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

server.listen(port, "127.0.0.1", () => {
  console.log(`LISTENING ${server.address().port}`);
});
