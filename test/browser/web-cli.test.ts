/**
 * `llama-ts web` as a process and a server: the headers that make the page cross-origin
 * isolated on every response, the routes (page, bundle, model, app config, 404 outside the
 * folders), and the one-line user errors (busy port, missing / folder / non-GGUF model, no
 * bundle built).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { cliPath } from "../helpers/server-process.js";
import { startWebServer } from "../../src/serve/web.js";
import { UserError } from "../../src/util/errors.js";
import { writeTestGguf } from "./fixture.js";

function runCli(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: "utf8", timeout: 30_000 });
  return { status: r.status, stderr: r.stderr };
}

function oneLineError(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^llama-ts: error: /);
  assert.match(lines[0]!, pattern);
}

test("web serves the page, bundle, model and config with COOP/COEP on every response", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-web-"));
  const model = path.join(dir, "my model.gguf");
  writeTestGguf(model, "q8_0");
  const bundleDir = path.join(dir, "bundle");
  fs.mkdirSync(bundleDir);
  fs.writeFileSync(path.join(bundleDir, "llama-ts.js"), "export const x = 1;\n");
  const server = await startWebServer(0, "127.0.0.1", { model, bundleDir });
  try {
    assert.equal(server.modelPath, "/model/my%20model.gguf");
    const get = async (p: string, method = "GET"): Promise<Response> => fetch(new URL(p, server.url), { method });
    const cases: [string, number, string | undefined][] = [
      ["/", 200, "text/html; charset=utf-8"],
      ["/run.js", 200, "text/javascript; charset=utf-8"],
      ["/dist/llama-ts.js", 200, "text/javascript; charset=utf-8"],
      ["/app-config.json", 200, "application/json; charset=utf-8"],
      [server.modelPath!, 200, "application/octet-stream"],
      ["/dist/../../package.json", 404, undefined],
      ["/%2e%2e/%2e%2e/package.json", 404, undefined],
      ["/no-such-file.js", 404, undefined],
    ];
    for (const [p, status, type] of cases) {
      const r = await get(p);
      assert.equal(r.status, status, p);
      assert.equal(r.headers.get("cross-origin-opener-policy"), "same-origin", p);
      assert.equal(r.headers.get("cross-origin-embedder-policy"), "require-corp", p);
      if (type) assert.equal(r.headers.get("content-type"), type, p);
      await r.arrayBuffer();
    }
    assert.deepEqual(await (await get("/app-config.json")).json(), { model: "/model/my%20model.gguf" });
    const bytes = new Uint8Array(await (await get(server.modelPath!)).arrayBuffer());
    assert.deepEqual(bytes, new Uint8Array(fs.readFileSync(model)));
    assert.equal((await get("/", "POST")).status, 405);
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("web user errors are one line with exit code 2: busy port, bad --model; a missing bundle says to build", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-web-"));
  const busy = http.createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  try {
    const port = String((busy.address() as AddressInfo).port);
    oneLineError(runCli(["web", "--port", port]), new RegExp(`port ${port} .*in use.*--port`));
    oneLineError(runCli(["web", "--port", "0", "--model", path.join(dir, "absent.gguf")]), /absent\.gguf.*no such file/);
    oneLineError(runCli(["web", "--port", "0", "--model", dir]), /is a folder/);
    const notGguf = path.join(dir, "model.bin");
    fs.writeFileSync(notGguf, "not a gguf at all");
    oneLineError(runCli(["web", "--port", "0", "--model", notGguf]), /not a GGUF file/);
    oneLineError(runCli(["web", "--port", "70000"]), /--port/);
    await assert.rejects(
      startWebServer(0, "127.0.0.1", { bundleDir: path.join(dir, "nothing-built") }),
      (e: unknown) => e instanceof UserError && /llama-ts\.js is missing: run "npm run build"/.test(e.message),
    );
  } finally {
    busy.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
