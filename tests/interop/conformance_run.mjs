// conformance_run.mjs -- runs the @modelcontextprotocol/conformance server scenarios that
// apply to sandbox-mcp and prints TAP, one line per scenario run (plus bridge hygiene).
// Started by test_conformance.sh, which installs the packages; configuration is in env:
//   SANDBOX_MCP_BIN   the server binary        CONF_DIR     npm project with the packages
//   CONF_STATE        --local-root for servers  CONF_OUT     where result files go
//   CONF_NODE_MODERN  a node >= 22 for the 0.2 alphas, or empty (then CONF_MODERN_ERR says why)
//
// The suite speaks HTTP only, so every run goes through a bridge:
//   - http_bridge.mjs (this directory) forwards each message to the server verbatim and
//     returns the server's own line, so the checks judge sandbox-mcp itself;
//   - mcp-proxy (npm), the bridge the brief names: it answers initialize, ping,
//     logging/setLevel and the 2026-07-28 envelope checks itself and forwards tools/list,
//     tools/call and server/discover, so those runs mostly check the proxy in front of us.
// Scenarios needing the suite's fixture tools (test_*), prompts or resources are not run;
// checks inside a run scenario that cannot apply are listed in NOT_APPLICABLE with the
// exact failure message they must show, so anything else failing is a real failure.
import { spawn, spawnSync } from "node:child_process";
import { createConnection, createServer } from "node:net";
import { existsSync, readdirSync, readFileSync, rmSync, mkdirSync, openSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(process.env.SANDBOX_MCP_BIN);
const DIR = process.env.CONF_DIR;
const STATE = process.env.CONF_STATE;
const OUT = process.env.CONF_OUT;
const NODE = process.execPath;
const NODE_MODERN = process.env.CONF_NODE_MODERN || "";
const MODERN_ERR = process.env.CONF_MODERN_ERR || "no node >= 22";
const pkgVersion = p => { try { return JSON.parse(readFileSync(join(DIR, "node_modules", p, "package.json"))).version; } catch { return "?"; } };
const CONF = join(DIR, "node_modules/@modelcontextprotocol/conformance/dist/index.js");
const CONF_NEXT = join(DIR, "node_modules/conformance-next/dist/index.js");
const PROXY = join(DIR, "node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs");
const STEP_TIMEOUT_MS = 60000;

const NOT_APPLICABLE = [
  { id: /^sep-2575-(server-rejects-undeclared-capability|missing-capability-http-400)$/,
    msg: /^Not testable: .*'test_missing_capability'/, why: "fixture tool test_missing_capability" },
  { id: /^sep-2575-http-server-no-independent-requests-on-stream$/,
    msg: /^Not testable: .*'test_streaming_elicitation'/, why: "fixture tool test_streaming_elicitation" },
  { id: /^sep-2575-server-no-log-without-loglevel$/,
    msg: /^Not testable: .*'test_logging_tool'/, why: "fixture tool test_logging_tool (tests/e2e covers it)" },
  { id: /^sep-2549-(prompts-list|resources-list|resources-templates-list)-caching-hints$/,
    msg: /^(prompts|resources|resources\/templates)\/list returned JSON-RPC error -32601/,
    why: "no prompts/resources capability, so -32601 is right" },
];

let n = 0, failed = 0;
const tap = (ok, desc, diag = []) => {
  n++;
  if (!ok) failed++;
  console.log(`${ok ? "ok" : "not ok"} ${n} - ${desc}`);
  for (const d of diag) console.log("#   " + String(d).replace(/\n/g, "\n#   ").slice(0, 1500));
};

// Processes we start; killed on any exit path.
const started = new Set();
function track(p) {
  started.add(p);
  p.on("exit", () => started.delete(p));
  return p;
}
process.on("exit", () => { for (const p of started) try { p.kill("SIGKILL"); } catch {} });
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(1));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function canConnect(port) {
  return new Promise(resolve => {
    const c = createConnection({ host: "127.0.0.1", port }, () => { c.destroy(); resolve(true); });
    c.on("error", () => resolve(false));
  });
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

function stopProcess(p, ms = 20000) {
  return new Promise(resolve => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve({ code: p.exitCode, signal: p.signalCode });
    const t = setTimeout(() => p.kill("SIGKILL"), ms);
    p.once("exit", (code, signal) => { clearTimeout(t); resolve({ code, signal }); });
    p.kill("SIGTERM");
  });
}

// mcp-proxy needs its port up front: pick a free one, retry if another process took it.
async function startProxy(label, extra) {
  const logFile = join(OUT, `${label}.log`);
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const p = track(spawn(NODE, [PROXY, "--host", "127.0.0.1", "--port", String(port), "--server", "stream",
      ...extra, "--", BIN, "--local-root", STATE], { stdio: ["ignore", openSync(logFile, "a"), openSync(logFile, "a")] }));
    for (let i = 0; i < 150 && p.exitCode === null; i++) {
      if (await canConnect(port)) return { p, url: `http://127.0.0.1:${port}/mcp`, logFile };
      await sleep(100);
    }
    await stopProcess(p, 2000);
  }
  return { p: null, logFile };
}

async function startBridge(label) {
  const logFile = join(OUT, `${label}.log`);
  const p = track(spawn(NODE, [join(here, "http_bridge.mjs"), "--", BIN, "--local-root", STATE],
    { stdio: ["ignore", "pipe", openSync(logFile, "a")] }));
  const port = await new Promise(resolve => {
    let buf = "";
    const t = setTimeout(() => resolve(null), 15000);
    p.stdout.on("data", d => {
      buf += d;
      const m = /LISTENING (\d+)/.exec(buf);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    });
    p.on("exit", () => { clearTimeout(t); resolve(null); });
  });
  return port ? { p, url: `http://127.0.0.1:${port}/mcp`, logFile } : { p: null, logFile };
}

const tail = (file, lines = 15) => {
  try { return readFileSync(file, "utf8").trim().split("\n").slice(-lines); } catch { return []; }
};

// Runs one scenario and turns its checks.json into one TAP line.
function scenario(label, node, conf, url, name, specVersion) {
  const outDir = join(OUT, label, name);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const args = [conf, "server", "--url", url, "--scenario", name, "-o", outDir];
  if (specVersion) args.push("--spec-version", specVersion);
  const r = spawnSync(node, args, { encoding: "utf8", timeout: STEP_TIMEOUT_MS, killSignal: "SIGKILL",
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" } });
  const desc = `${label}: ${name}`;
  const runs = existsSync(outDir) ? readdirSync(outDir).filter(d => existsSync(join(outDir, d, "checks.json"))) : [];
  if (r.error || runs.length === 0) {
    const why = r.error?.code === "ETIMEDOUT" ? `timed out after ${STEP_TIMEOUT_MS / 1000} s` : `no results (exit ${r.status})`;
    tap(false, `${desc}: ${why}`, [...(r.stdout || "").trim().split("\n").slice(-10), ...(r.stderr || "").trim().split("\n").slice(-10)]);
    return;
  }
  const checks = JSON.parse(readFileSync(join(outDir, runs.sort().at(-1), "checks.json"), "utf8"));
  const bad = [], na = [], warn = [];
  let passed = 0;
  for (const c of checks) {
    if (c.status === "FAILURE") {
      const rule = NOT_APPLICABLE.find(x => x.id.test(c.id) && x.msg.test(c.errorMessage || ""));
      if (rule) na.push(`${c.id} (${rule.why})`);
      else bad.push(`${c.id}: ${c.errorMessage || c.description}`);
    } else if (c.status === "WARNING") {
      warn.push(`${c.id}: ${c.errorMessage || c.description}`);
    } else if (c.status === "SUCCESS") {
      passed++;
    }
  }
  const note = [`${passed}/${checks.length} checks passed`];
  if (na.length) note.push(`${na.length} not applicable`);
  if (warn.length) note.push(`${warn.length} warnings`);
  tap(bad.length === 0 && passed > 0, `${desc} (${note.join(", ")})`,
    [...bad.map(b => "FAILED " + b), ...warn.map(w => "warning " + w), ...na.map(x => "n/a " + x)]);
}

const LEGACY = ["server-initialize", "ping", "tools-list", "logging-set-level"];
const MODERN = ["server-stateless", "caching", "tools-list"];
const stable = `conformance ${pkgVersion("@modelcontextprotocol/conformance")}`;
const next = `conformance ${pkgVersion("conformance-next")}`;
const proxyName = `mcp-proxy ${pkgVersion("mcp-proxy")}`;
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

// 1. The bridge that forwards verbatim: the server itself is judged.
{
  const b = await startBridge("bridge");
  if (!b.p) {
    tap(false, "http_bridge.mjs starts and listens", tail(b.logFile));
  } else {
    for (const s of LEGACY) scenario(`${stable} via http_bridge (node ${process.versions.node})`, NODE, CONF, b.url, s);
    if (NODE_MODERN) {
      for (const v of ["2025-11-25", "2025-06-18"])
        for (const s of LEGACY) scenario(`${next} via http_bridge, ${v}`, NODE_MODERN, CONF_NEXT, b.url, s, v);
      for (const s of MODERN) scenario(`${next} via http_bridge, 2026-07-28`, NODE_MODERN, CONF_NEXT, b.url, s, "2026-07-28");
    }
    const st = await stopProcess(b.p);
    const lines = tail(b.logFile, 400);
    const sanitizer = lines.filter(l => /Sanitizer|runtime error:/.test(l));
    tap(st.code === 0 && sanitizer.length === 0,
      "every server behind http_bridge answered on stdout only and exited 0 at stdin EOF, without sanitizer reports",
      st.code === 0 && sanitizer.length === 0 ? [] : [...sanitizer.slice(0, 10), ...lines.filter(l => l.startsWith("[bridge]")).slice(-10)]);
  }
}

// 2. mcp-proxy, legacy upstream (the proxy answers initialize/ping/setLevel itself).
{
  const pr = await startProxy("proxy-legacy", []);
  if (!pr.p) {
    tap(false, `${proxyName} starts and listens`, tail(pr.logFile));
  } else {
    for (const s of LEGACY) scenario(`${stable} via ${proxyName}`, NODE, CONF, pr.url, s);
    await stopProcess(pr.p);
  }
}

// 3. mcp-proxy with --upstreamProtocol auto: its 2026-07-28 leg in front of our server/discover.
if (NODE_MODERN) {
  const pr = await startProxy("proxy-auto", ["--upstreamProtocol", "auto"]);
  if (!pr.p) {
    tap(false, `${proxyName} --upstreamProtocol auto starts and listens`, tail(pr.logFile));
  } else {
    for (const s of MODERN) scenario(`${next} via ${proxyName} --upstreamProtocol auto, 2026-07-28`, NODE_MODERN, CONF_NEXT, pr.url, s, "2026-07-28");
    await stopProcess(pr.p);
  }
} else {
  tap(false, `2025-11-25/2026-07-28 scenarios (conformance 0.2 needs node >= 22): ${MODERN_ERR}`);
}

// No server process may outlive its bridge.
if (existsSync("/proc")) {
  await sleep(300);
  const left = [];
  for (const pid of readdirSync("/proc").filter(d => /^\d+$/.test(d))) {
    let cmd = "";
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8"); } catch { continue; }
    if (cmd.includes(STATE) && cmd.split("\0")[0] === BIN) left.push(Number(pid));
  }
  tap(left.length === 0, "no server process outlives its bridge", left.map(p => `left running: pid ${p}`));
  for (const pid of left) try { process.kill(pid, "SIGKILL"); } catch {}
}

console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
