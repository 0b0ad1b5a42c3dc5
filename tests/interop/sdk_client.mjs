// sdk_client.mjs -- drives sandbox-mcp with the official TypeScript SDK client
// (@modelcontextprotocol/sdk) over stdio and prints TAP. The SDK validates every
// structuredContent against the tool's outputSchema, so this also checks our schemas.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [bin, root] = process.argv.slice(2);
let n = 0, failed = 0;
const ok = (c, d, diag) => {
  n++; if (!c) failed++;
  console.log(`${c ? "ok" : "not ok"} ${n} - ${d}`);
  if (!c && diag !== undefined) console.log("#   " + JSON.stringify(diag).slice(0, 2000));
};

const transport = new StdioClientTransport({ command: bin, args: ["--local-root", root], stderr: "pipe" });
const client = new Client({ name: "interop", version: "1.0.0" }, { capabilities: {} });
await client.connect(transport);
ok(client.getServerVersion()?.name === "sandbox-mcp", "SDK client initializes");
ok(!!client.getServerCapabilities()?.tools, "server advertises tools");

const { tools } = await client.listTools();
ok(tools.length >= 20, `SDK lists ${tools.length} tools`);

async function call(name, args, opts) {
  try {
    return await client.callTool({ name, arguments: args }, undefined, opts);
  } catch (e) {
    return { thrown: e.message };
  }
}

let progress = 0;
let r = await call("exec", { command: "for i in 1 2 3; do echo step$i; sleep 0.3; done" },
  { onprogress: () => progress++, timeout: 60000, resetTimeoutOnProgress: true });
ok(!r.thrown && r.structuredContent?.exit_code === 0 && r.structuredContent?.stdout === "step1\nstep2\nstep3\n",
  "exec result passes the SDK's outputSchema validation", r);
ok(progress >= 1, `SDK received ${progress} progress notifications`);

r = await call("file_write", { path: "hello.txt", content: "hi there\nline 2\n" });
ok(!r.thrown && !r.isError && r.structuredContent?.bytes_written === 16, "file_write validates", r);
r = await call("file_read", { path: "hello.txt" });
ok(!r.thrown && r.structuredContent?.content === "hi there\nline 2\n", "file_read validates", r);
r = await call("file_edit", { path: "hello.txt", old_text: "hi there", new_text: "hello" });
ok(!r.thrown && r.structuredContent?.replacements === 1, "file_edit validates", r);
r = await call("file_list", { path: "." });
ok(!r.thrown && Array.isArray(r.structuredContent?.entries), "file_list validates", r);
r = await call("file_stat", { path: "nope.txt" });
ok(!r.thrown && r.structuredContent?.exists === false, "file_stat of a missing file validates", r);
r = await call("file_search", { path: ".", pattern: "**/*.txt" });
ok(!r.thrown && r.structuredContent?.matches?.length === 1, "file_search validates", r);
r = await call("file_mkdir", { path: "d/e" });
ok(!r.thrown && r.structuredContent?.created === true, "file_mkdir validates", r);
r = await call("file_move", { source: "hello.txt", destination: "d/e/h.txt" });
ok(!r.thrown && !r.isError, "file_move validates", r);
r = await call("file_remove", { path: "d" });
ok(!r.thrown && r.structuredContent?.removed === true, "file_remove validates", r);
r = await call("exec", { command: "sleep 30; echo hi > bg.txt", background: true });
ok(!r.thrown && r.structuredContent?.pid && r.structuredContent?.running === true, "background exec validates", r);
const pid = r.structuredContent?.pid;
r = await call("process_list", {});
ok(!r.thrown && r.structuredContent?.processes?.some(p => p.pid === pid), "process_list validates", r);
r = await call("process_output", { pid, offset: 0 });
ok(!r.thrown && typeof r.structuredContent?.next_offset === "number", "process_output validates", r);
r = await call("process_kill", { pid });
ok(!r.thrown && !r.isError, "process_kill validates", r);
r = await call("network_policy", {});
ok(!r.thrown && ["allow", "deny"].includes(r.structuredContent?.default), "network_policy validates", r);
r = await call("sandbox_list", {});
ok(!r.thrown && r.structuredContent?.sandboxes?.length >= 1, "sandbox_list validates", r);
const sid = r.structuredContent?.sandboxes?.[0]?.sandbox_id;
for (const name of ["sandbox_info", "sandbox_metrics", "sandbox_pause", "sandbox_resume"]) {
  r = await call(name, { sandbox_id: sid });
  ok(!r.thrown && !r.isError, `${name} validates`, r);
}
r = await call("sandbox_set_timeout", { sandbox_id: sid, timeout_s: 600 });
ok(!r.thrown && !r.isError, "sandbox_set_timeout validates", r);
r = await call("sandbox_url", { sandbox_id: sid, port: 8080 });
ok(!r.thrown && typeof r.structuredContent?.url === "string", "sandbox_url validates", r);
r = await call("exec", { command: "exit 1" });
ok(!r.thrown && r.structuredContent?.exit_code === 1, "a failing command is a normal result", r);
r = await call("file_read", { path: "/definitely/missing" });
ok(!r.thrown && r.isError === true && r.content?.[0]?.text?.length > 0, "a tool error is an isError result with a sentence", r);

const ac = new AbortController();
setTimeout(() => ac.abort("test cancel"), 500);
r = await call("exec", { command: "sleep 20" }, { signal: ac.signal });
ok(!!r.thrown, "SDK cancellation ends the call", r);
ok((await client.ping()) !== undefined, "ping after a cancel");
await client.close();
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
