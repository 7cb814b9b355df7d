/**
 * The in-browser page served by `llama-ts web`, in headless Chromium (slow end-to-end test, a
 * few seconds): with `--model X.gguf` the page loads the model on its own, is cross-origin
 * isolated (COOP/COEP), and a greedy completion computed in the page gives the same token ids
 * as `llama-ts generate --temperature 0 --json` on the same GGUF and prompt, for an f32 and a
 * q8_0 model. The page also loads a model picked with its file input.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Page } from "puppeteer-core";
import { repoRoot } from "../helpers.js";
import { browserSkipReason, launchBrowser, openPage } from "../helpers/browser.js";
import { cliPath, spawnServer } from "../helpers/server-process.js";
import { writeTestGguf } from "./fixture.js";

const bundleBuilt = fs.existsSync(path.join(repoRoot, "dist", "browser", "llama-ts.js"));
const skip = browserSkipReason() ?? (bundleBuilt ? undefined : "dist/browser/llama-ts.js is not built (npm run build)");
const PROMPT = "Once upon a time, there was a";
const MAX_TOKENS = 20;

/** `llama-ts generate --temperature 0 --json`: the independent reference for the page's ids. */
function cliGreedy(model: string): number[] {
  const r = spawnSync(process.execPath, [cliPath, "generate", "--model", model, "--prompt", PROMPT, "--max-tokens", String(MAX_TOKENS), "--temperature", "0", "--json"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { tokens: number[] }).tokens;
}

async function waitState(page: Page, states: string[]): Promise<string> {
  await page.waitForFunction((s: string[]) => s.includes(document.body.dataset.state ?? ""), { timeout: 60_000 }, states);
  return page.$eval("body", (b) => b.dataset.state ?? "");
}

/** Types the prompt, sets greedy sampling, clicks Generate, and returns the ids the page generated. */
async function pageGreedy(page: Page): Promise<number[]> {
  await page.$eval("#prompt", (el, v) => ((el as HTMLTextAreaElement).value = v), PROMPT);
  await page.$eval("#temperature", (el) => ((el as HTMLInputElement).value = "0"));
  await page.$eval("#max-tokens", (el, v) => ((el as HTMLInputElement).value = v), String(MAX_TOKENS));
  await page.click("#generate");
  await page.waitForFunction(() => document.body.dataset.state === "ready" && document.getElementById("output")!.dataset.tokens !== undefined, { timeout: 60_000 });
  const ids = await page.$eval("#output", (el) => (el as HTMLElement).dataset.tokens!);
  return ids.split(",").map(Number);
}

test("llama-ts web --model: the page's greedy ids equal llama-ts generate --temperature 0 (f32 and q8_0 GGUF)", { skip, timeout: 240_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-web-"));
  const browser = await launchBrowser();
  try {
    for (const type of ["f32", "q8_0"] as const) {
      const model = path.join(dir, `tiny-${type}.gguf`);
      writeTestGguf(model, type);
      const want = cliGreedy(model);
      assert.equal(want.length, MAX_TOKENS);
      const server = await spawnServer(["web", "--port", "0", "--model", model]);
      try {
        const { page, problems } = await openPage(browser, `${server.url}/`);
        assert.equal(await waitState(page, ["ready", "error"]), "ready", await page.$eval("#error", (e) => e.textContent));
        assert.equal(await page.evaluate(() => crossOriginIsolated), true, "the page is cross-origin isolated (COOP/COEP)");
        assert.match(await page.$eval("#model-info", (e) => e.textContent ?? ""), new RegExp(`^tiny-${type} \\(gguf\\)`));
        assert.deepEqual(await pageGreedy(page), want, `${type}: page vs CLI`);
        const stats = await page.$eval("#stats", (e) => e.textContent ?? "");
        assert.match(stats, /\d+(\.\d+)? tokens\/s/);
        // The default backend of an isolated page: the C kernels compiled to WebAssembly, on Web Workers.
        assert.match(stats, /backend wasm/);
        assert.match(await page.$eval("#backend", (e) => e.textContent ?? ""), /^wasm \(\d+ threads\)$/);
        assert.deepEqual(problems, []);
        await page.close();
      } finally {
        await server.stop();
      }
    }
    // Without --model: nothing loads until a file is picked; the picked file runs the same.
    const model = path.join(dir, "tiny-q8_0.gguf");
    const server = await spawnServer(["web", "--port", "0"]);
    try {
      const { page, problems } = await openPage(browser, `${server.url}/`);
      assert.equal(await waitState(page, ["no-model"]), "no-model");
      const input = await page.$("#file");
      await (input as unknown as { uploadFile(f: string): Promise<void> }).uploadFile(model);
      assert.equal(await waitState(page, ["ready", "error"]), "ready");
      assert.deepEqual(await pageGreedy(page), cliGreedy(model));
      assert.deepEqual(problems, []);
    } finally {
      await server.stop();
    }
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
