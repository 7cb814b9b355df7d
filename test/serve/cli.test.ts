/** `llama-ts serve` as a process: the "listening on" line with --port 0, --alias, SIGTERM drains and exits 0, user errors. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { repoRoot } from "../helpers.js";
import { evalModel } from "./helpers.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");

test("serve --port 0 prints its address, answers, and exits 0 on SIGTERM after finishing in-flight work", async () => {
  const child = spawn(process.execPath, [cli, "serve", "--model", evalModel, "--port", "0", "--alias", "tiny"], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on("exit", () => reject(new Error(`exited before listening: ${stderr}`)));
  });
  const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> };
  assert.equal(models.data[0]!.id, "tiny");
  // A request in flight when SIGTERM arrives still completes.
  const inFlight = fetch(`${url}/v1/completions`, { method: "POST", body: JSON.stringify({ model: "tiny", prompt: "Once", max_tokens: 200, ignore_eos: true, temperature: 0 }) });
  await new Promise((r) => setTimeout(r, 20));
  child.kill("SIGTERM");
  const res = await inFlight;
  assert.equal(res.status, 200);
  const body = (await res.json()) as { usage: { completion_tokens: number } };
  assert.equal(body.usage.completion_tokens, 200);
  assert.equal(await exited, 0, stderr);
});

test("serve user mistakes are one line and exit 2", () => {
  const r = spawnSync(process.execPath, [cli, "serve", "--model", evalModel, "--port", "70000"], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^llama-ts: error: --port: 70000 is above the maximum 65535\n$/);
  const m = spawnSync(process.execPath, [cli, "serve", "--model", "/nonexistent/model"], { encoding: "utf8" });
  assert.equal(m.status, 2);
  assert.match(m.stderr, /^llama-ts: error: /);
});
