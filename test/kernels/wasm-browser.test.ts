/**
 * The wasm backend in a real browser (headless Chromium): the library's own ES modules
 * (dist/src/kernels/wasm.js, its Web Worker wasm-worker.js) served as is, the committed .wasm
 * files fetched. On a cross-origin isolated page (COOP/COEP) it runs the threaded build with 2
 * Web Workers sharing the memory; without isolation it falls back to the single-thread build.
 * Either way a packed (threaded) matmul and an attention call equal the reference kernels run
 * in Node on the same inputs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { matmul as refMatmul } from "../../src/kernels/ops/matmul.js";
import { attention as refAttention } from "../../src/kernels/ops/attention.js";
import { assertClose, randomArray, repoRoot } from "../helpers.js";
import { browserSkipReason, launchBrowser, openPage } from "../helpers/browser.js";

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import { createWasmBackend } from "/dist/src/kernels/wasm.js";
window.runWasm = async (threads, mm, att) => {
  const bytes = (f) => fetch("/wasm/" + f).then((r) => r.arrayBuffer());
  const be = await createWasmBackend({
    wasm: await bytes("llama_ts.wasm"), singleThreadWasm: await bytes("llama_ts_st.wasm"), threads,
    workerFactory: (onMessage) => {
      const w = new Worker("/dist/src/kernels/wasm-worker.js", { type: "module" });
      w.onmessage = (e) => onMessage(e.data);
      return w;
    },
  });
  await be.ready();
  const out = new Float32Array(mm.m * mm.n);
  be.matmul(out, new Float32Array(mm.a), new Float32Array(mm.w), mm.m, mm.n, mm.k);
  const o2 = new Float32Array(att.rows * att.nH * att.hd);
  be.attention(o2, new Float32Array(att.q), new Float32Array(att.k), new Float32Array(att.v), att.rows, att.pos0, att.nH, att.nKv, att.hd);
  const threadsUsed = be.threads;
  be.dispose();
  return { isolated: self.crossOriginIsolated, threads: threadsUsed, matmul: Array.from(out), attention: Array.from(o2) };
};
window.ready = true;
</script>`;

const TYPES: Record<string, string> = { ".js": "text/javascript", ".wasm": "application/wasm", ".map": "application/json" };

/** Serves the page and the repository's dist/ and wasm/ files; COOP/COEP headers when `isolate`. */
function serve(isolate: boolean): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const headers: Record<string, string> = isolate
      ? { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" }
      : {};
    if (url.pathname === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === "/") {
      res.writeHead(200, { ...headers, "content-type": "text/html" }).end(PAGE);
      return;
    }
    const file = path.join(repoRoot, path.normalize(url.pathname));
    if (!(url.pathname.startsWith("/dist/") || url.pathname.startsWith("/wasm/")) || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { ...headers, "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" }).end(fs.readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const mm = { m: 129, n: 257, k: 300, a: [...randomArray(129 * 300, 1)], w: [...randomArray(257 * 300, 2)] };
const att = { rows: 5, pos0: 70, nH: 6, nKv: 2, hd: 22, q: [...randomArray(5 * 6 * 22, 3)], k: [...randomArray(75 * 2 * 22, 4)], v: [...randomArray(75 * 2 * 22, 5)] };

function expected(): { matmul: Float32Array; attention: Float32Array } {
  const matmul = new Float32Array(mm.m * mm.n);
  refMatmul(matmul, new Float32Array(mm.a), new Float32Array(mm.w), mm.m, mm.n, mm.k);
  const attention = new Float32Array(att.rows * att.nH * att.hd);
  refAttention(attention, new Float32Array(att.q), new Float32Array(att.k), new Float32Array(att.v), att.rows, att.pos0, att.nH, att.nKv, att.hd);
  return { matmul, attention };
}

for (const isolate of [true, false]) {
  const what = isolate ? "cross-origin isolated: threaded build, 2 Web Workers" : "not isolated: single-thread build";
  test(`wasm backend in Chromium (${what}) equals the reference kernels`, { skip: browserSkipReason() }, async () => {
    const server = await serve(isolate);
    const browser = await launchBrowser();
    try {
      const { page, problems } = await openPage(browser, `http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.waitForFunction("window.ready === true");
      const got = (await page.evaluate("window.runWasm(2, " + JSON.stringify(mm) + ", " + JSON.stringify(att) + ")")) as {
        isolated: boolean; threads: number; matmul: number[]; attention: number[];
      };
      assert.equal(got.isolated, isolate);
      assert.equal(got.threads, isolate ? 2 : 1);
      const want = expected();
      assertClose(got.matmul, want.matmul, 1e-5, "matmul in the browser");
      assertClose(got.attention, want.attention, 1e-5, "attention in the browser");
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      server.close();
    }
  });
}
