// agents_client.mjs -- the OpenAI Agents SDK (JS, @openai/agents-core) as a client of
// sandbox-mcp over stdio, with convertSchemasToStrict: every tool of every backend must come
// out as a strict function tool (no fallback to non-strict), and a model's strict-mode call,
// which sends every property (null for those it leaves out), must run. TAP on stdout.
// Usage: node agents_client.mjs <sandbox-mcp binary> <state dir>
import { MCPServerStdio, getAllMcpTools, mcpToFunctionTool, RunContext } from '@openai/agents-core';

const [bin, state] = process.argv.slice(2);
let n = 0, failed = 0;
function ok(cond, desc, diag) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${desc}`);
  if (!cond && diag !== undefined)
    for (const l of String(typeof diag === 'string' ? diag : JSON.stringify(diag)).split('\n').slice(0, 20))
      console.log(`#   ${l}`);
}

// What a model in strict mode sends: every property of the converted schema, null unless set.
function strictArgs(tool, set) {
  const args = {};
  for (const k of Object.keys(tool.parameters.properties)) args[k] = null;
  return JSON.stringify(Object.assign(args, set));
}

function text(out) {
  const c = Array.isArray(out) ? out[0] : out;
  return c && c.type === 'text' ? c.text : JSON.stringify(out);
}

const plat = ['--api-key', 'k', '--domain', '127.0.0.1:9'];
const backends = {
  local: ['--local-root', `${state}/root`],
  opensandbox: ['--backend', 'opensandbox', ...plat],
  e2b: ['--backend', 'e2b', ...plat],
};
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
  !/^(OPEN_SANDBOX_|E2B_|X_API_KEY|SANDBOX_MCP_BACKEND)/.test(k)));
const ctx = new RunContext();

for (const [name, args] of Object.entries(backends)) {
  const server = new MCPServerStdio({ name: `sbx-${name}`, command: bin, args, env });
  try {
    await server.connect();
    const tools = await getAllMcpTools({ mcpServers: [server], convertSchemasToStrict: true });
    const loose = tools.filter((t) => t.strict !== true).map((t) => t.name);
    ok(tools.length >= 20 && loose.length === 0,
      `${name}: all ${tools.length} tools convert to strict function tools`, loose);
    if (name !== 'local')
      continue;
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    let out = await byName.exec.invoke(ctx, strictArgs(byName.exec,
      { command: 'printf "%s" "$A"', env: [{ name: 'A', value: 'strict-ok' }] }));
    let sc = JSON.parse(text(out));
    ok(sc.exit_code === 0 && sc.stdout === 'strict-ok',
      'exec runs from a strict-mode call (nulls for the rest, env as {name, value})', out);
    out = await byName.file_write.invoke(ctx, strictArgs(byName.file_write,
      { path: 'agents.txt', content: 'one\ntwo\n' }));
    ok(JSON.parse(text(out)).bytes_written === 8, 'file_write from a strict-mode call', out);
    out = await byName.file_read.invoke(ctx, strictArgs(byName.file_read, { path: 'agents.txt', offset: 1 }));
    ok(JSON.parse(text(out)).content === 'two\n', 'file_read from a strict-mode call', out);
    out = await byName.sandbox_list.invoke(ctx, strictArgs(byName.sandbox_list, {}));
    ok(Array.isArray(JSON.parse(text(out)).sandboxes), 'sandbox_list with every argument null', out);
  } catch (e) {
    ok(false, `${name}: the Agents SDK connects and lists the tools`, e && e.stack);
  } finally {
    await server.close().catch(() => {});
  }
}

// The check can fail: a schema with an open map (what this server listed before) falls back.
const open = mcpToFunctionTool({ name: 'old', description: 'x', inputSchema: { type: 'object',
  properties: { env: { type: 'object', additionalProperties: { type: 'string' } } } } },
{ name: 'old' }, true);
ok(open.strict === false, 'an open map makes the SDK fall back to a non-strict tool');
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
