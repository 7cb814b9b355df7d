/**
 * Benchmark section `browser` (only when named: `npm run bench -- browser`): llama-ts's
 * WebAssembly backend (dist/browser/llama-ts.js with wasm/llama_ts.wasm, Web Worker threads)
 * against wllama (@wllama/wllama, llama.cpp compiled to WebAssembly), both in headless Chromium
 * on the SAME random-weight GGUF files: greedy decode tokens/s after a short prompt, and that
 * prompt's prefill tokens/s, at 1 and 2 threads.
 *
 * The page is served by `llama-ts web`'s server (src/serve/web.ts, COOP/COEP: cross-origin
 * isolated, so both engines may use SharedArrayBuffer threads) from a temporary folder holding
 * the bench page, a copy of wllama's ESM build and .wasm, and the model files. Each (model,
 * engine, threads) runs in a fresh page: llama-ts chooses its backend and thread count once per
 * page (`initBackend`), wllama once per `loadModel`.
 *
 * Timing: llama-ts is wall-clock in the page around `LlamaModel.forward` (the prompt in one
 * call; then one call per generated token, plus the argmax), as the `peers` section does in
 * Node. wllama's numbers are llama.cpp's own (llama-server's `timings`: prompt_n/prompt_ms,
 * predicted_n/predicted_ms of a `createCompletion` with temperature 0, top_k 1, ignore_eos,
 * cache_prompt off), so its JavaScript/worker messaging is not counted against it. wllama runs
 * on the CPU (n_gpu_layers 0), flash attention off, F32 KV cache, like llama-ts. Each engine gets
 * one short warm-up generation per page, then best of two; LLAMA_TS_BROWSER_ROUNDS=N repeats the
 * engines' pages alternately N times (best over all) for a noisy machine.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Page } from "puppeteer-core";
import { presetConfig, type LlamaConfig } from "../src/model/config.js";
import { initParams } from "../src/model/init.js";
import { saveGguf, type GgufExportType } from "../src/formats/gguf-model.js";
import { startWebServer } from "../src/serve/web.js";
import { browserSkipReason, launchBrowser, openPage } from "../test/helpers/browser.js";
import { repoRoot } from "./peers/llama-cpp.js";
import { tokenizerPath } from "./peers.js";

const PROMPT =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. " +
  "One day, she saw a big red ball under a tall tree.";
const THREADS = [1, 2];
const RUNS = 2;
const WARMUP_TOKENS = 4;
/** A/B rounds (a fresh page per engine each round; best over all): LLAMA_TS_BROWSER_ROUNDS, default 1. */
const ROUNDS = Math.max(1, Number.parseInt(process.env.LLAMA_TS_BROWSER_ROUNDS ?? "1", 10) || 1);

const MODELS = [
  { name: "stories15M (dim 288, 6 layers)", config: presetConfig("stories15M"), types: ["f32", "q8_0"], decodeTokens: 64 },
  { name: "110M (dim 768, 12 layers)", config: presetConfig("stories110M"), types: ["q8_0"], decodeTokens: 32 },
] satisfies Array<{ name: string; config: LlamaConfig; types: GgufExportType[]; decodeTokens: number }>;

/** One measured generation: the prompt's prefill and the decode steps after it. */
interface Run {
  promptTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMs: number;
}

/** What a page's bench function returns. */
interface EngineResult {
  /** The threads the engine reports it runs with. */
  threads: number;
  runs: Run[];
}

interface BenchArgs {
  model: string;
  threads: number;
  prompt: string;
  n: number;
  runs: number;
  warmup: number;
  nCtx: number;
}

/**
 * The bench page: window.benchLlamaTs and window.benchWllama each load the model given by URL,
 * run a warm-up generation, then `runs` measured ones, and return an EngineResult.
 */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>llama-ts vs wllama</title></head>
<body>
<script type="module">
const argmax = (a) => { let b = 0; for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i; return b; };

window.benchLlamaTs = async ({ model, threads, prompt, n, runs, warmup }) => {
  const lt = await import("/dist/llama-ts.js");
  const backend = await lt.initBackend({ backend: "wasm", threads });
  const lm = await lt.loadModel(model);
  const ids = lm.tokenizer.encode(prompt, { bos: true });
  const once = (steps) => {
    const cache = lm.model.newCache(ids.length + steps + 8);
    let t0 = performance.now();
    let next = argmax(lm.model.forward(ids, cache));
    const prefillMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < steps; i++) next = argmax(lm.model.forward([next], cache));
    return { promptTokens: ids.length, prefillMs, decodeTokens: steps, decodeMs: performance.now() - t0 };
  };
  once(warmup);
  const out = [];
  for (let r = 0; r < runs; r++) out.push(once(n));
  return { threads: backend.threads, runs: out };
};

window.benchWllama = async ({ model, threads, prompt, n, runs, warmup, nCtx }) => {
  const { Wllama } = await import("/wllama/index.js");
  // absolute: the wasm is fetched from wllama's worker, a blob: URL
  const w = new Wllama({ default: new URL("/wllama/wllama.wasm", location.href).href }, { suppressNativeLog: true });
  const bytes = await (await fetch(model)).blob();
  await w.loadModel([new File([bytes], "model.gguf")], {
    n_threads: threads, n_ctx: nCtx, n_gpu_layers: 0, n_parallel: 1,
    flash_attn: false, cache_type_k: "f32", cache_type_v: "f32",
  });
  const once = async (steps) => {
    const r = await w.createCompletion({
      prompt, max_tokens: steps, temperature: 0, top_k: 1, ignore_eos: true, cache_prompt: false,
    });
    const t = r.timings;
    if (!t) throw new Error("wllama returned no timings: " + JSON.stringify(r).slice(0, 300));
    return { promptTokens: t.prompt_n, prefillMs: t.prompt_ms, decodeTokens: t.predicted_n, decodeMs: t.predicted_ms };
  };
  await once(warmup);
  const out = [];
  for (let r = 0; r < runs; r++) out.push(await once(n));
  const result = { threads: w.getNumThreads(), runs: out };
  await w.exit();
  return result;
};
document.body.dataset.state = "ready";
</script>
</body></html>
`;

type Engine = "llama-ts" | "wllama";

/** Runs one engine's bench function in `page` (a fresh one per call). */
async function measure(page: Page, engine: Engine, args: BenchArgs, problems: string[]): Promise<EngineResult> {
  await page.waitForFunction(() => document.body.dataset.state === "ready");
  try {
    return await page.evaluate(
      (e: Engine, a: BenchArgs) => {
        const w = window as unknown as Record<string, (a: BenchArgs) => Promise<EngineResult>>;
        return w[e === "llama-ts" ? "benchLlamaTs" : "benchWllama"]!(a);
      },
      engine,
      args,
    );
  } catch (err) {
    const why = problems.length > 0 ? ` (page: ${problems.slice(0, 3).join("; ")})` : "";
    throw new Error(`${engine}, ${args.threads} thread(s): ${(err as Error).message}${why}`);
  }
}

const perSecond = (tokens: number, ms: number): number => tokens / (ms / 1000);
const bestRate = (runs: Run[], pick: (r: Run) => number): number => Math.max(...runs.map(pick));
const decodeRate = (r: EngineResult): number => bestRate(r.runs, (x) => perSecond(x.decodeTokens, x.decodeMs));
const prefillRate = (r: EngineResult): number => bestRate(r.runs, (x) => perSecond(x.promptTokens, x.prefillMs));
const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

function wllamaDir(): string {
  return path.join(repoRoot(), "node_modules", "@wllama", "wllama");
}

/** Why the section cannot run here, or undefined. */
function skipReason(): string | undefined {
  let reason: string | undefined;
  try {
    reason = browserSkipReason();
  } catch (e) {
    reason = (e as Error).message;
  }
  if (reason !== undefined) return reason;
  if (!fs.existsSync(path.join(repoRoot(), "dist", "browser", "llama-ts.js"))) return "dist/browser/llama-ts.js is not built (npm run build)";
  for (const f of ["esm/index.js", "esm/wasm/wllama.wasm"]) {
    if (!fs.existsSync(path.join(wllamaDir(), f))) return `@wllama/wllama is not installed (no ${f}; it is a devDependency: npm ci)`;
  }
  return undefined;
}

/** The served folder: the bench page, wllama's ESM build and .wasm, and (later) the models. */
function prepareSite(dir: string): void {
  fs.writeFileSync(path.join(dir, "index.html"), PAGE);
  fs.mkdirSync(path.join(dir, "wllama"));
  fs.copyFileSync(path.join(wllamaDir(), "esm", "index.js"), path.join(dir, "wllama", "index.js"));
  fs.copyFileSync(path.join(wllamaDir(), "esm", "wasm", "wllama.wasm"), path.join(dir, "wllama", "wllama.wasm"));
  fs.mkdirSync(path.join(dir, "models"));
}

export async function bench(): Promise<string> {
  const head = "## In Chromium: llama-ts (WebAssembly backend) against wllama, same GGUF file, random weights\n";
  const skip = skipReason();
  if (skip !== undefined) return `${head}\nSkipped: ${skip}.\n`;
  const wllamaVersion = (JSON.parse(fs.readFileSync(path.join(wllamaDir(), "package.json"), "utf8")) as { version: string }).version;
  const site = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-bench-browser-"));
  const rows: string[] = [];
  const notes = new Set<string>();
  const started = performance.now();
  const browser = await launchBrowser();
  const browserVersion = await browser.version();
  try {
    prepareSite(site);
    const server = await startWebServer(0, "127.0.0.1", { appDir: site });
    try {
      const tokenizer = fs.readFileSync(tokenizerPath());
      for (const m of MODELS) {
        const params = initParams(m.config, 1);
        for (const type of m.types) {
          const file = path.join(site, "models", `${type}.gguf`);
          saveGguf(file, m.config, params, { type, name: m.name, tokenizer });
          for (const threads of THREADS) {
            const args: BenchArgs = {
              model: `/models/${type}.gguf`, threads, prompt: PROMPT, n: m.decodeTokens, runs: RUNS,
              warmup: WARMUP_TOKENS, nCtx: m.config.maxPositionEmbeddings,
            };
            const results: Record<Engine, EngineResult> = { "llama-ts": { threads, runs: [] }, wllama: { threads, runs: [] } };
            for (let round = 0; round < ROUNDS; round++) {
              for (const engine of ["llama-ts", "wllama"] as const) {
                const { page, problems } = await openPage(browser, server.url, 120_000);
                try {
                  if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error("the bench page is not cross-origin isolated");
                  const r = await measure(page, engine, args, problems);
                  results[engine].runs.push(...r.runs);
                  if (r.threads !== threads) notes.add(`${engine} ran ${r.threads} thread(s) when asked for ${threads}.`);
                } finally {
                  await page.close();
                }
              }
            }
            const o = results["llama-ts"], w = results.wllama;
            const oPrompt = o.runs[0]!.promptTokens, wPrompt = w.runs[0]!.promptTokens;
            if (oPrompt !== wPrompt) notes.add(`prompt tokens: llama-ts ${oPrompt}, wllama ${wPrompt}.`);
            const oDec = decodeRate(o), wDec = decodeRate(w), oPre = prefillRate(o), wPre = prefillRate(w);
            rows.push(
              `| ${m.name} | ${type} | ${threads} | ${fmt(oDec)} | ${fmt(wDec)} | **${(oDec / wDec).toFixed(2)}** | ` +
                `${fmt(oPre)} | ${fmt(wPre)} | **${(oPre / wPre).toFixed(2)}** |`,
            );
          }
          fs.rmSync(file, { force: true });
        }
      }
    } finally {
      await server.close();
    }
  } finally {
    await browser.close();
    fs.rmSync(site, { recursive: true, force: true });
  }
  const secs = (performance.now() - started) / 1000;
  return [
    head,
    `Headless ${browserVersion}, page served with COOP/COEP (cross-origin isolated), a fresh page per engine and thread count. ` +
      `llama-ts: dist/browser/llama-ts.js, \`initBackend({ backend: "wasm", threads })\`, wall-clock in the page around \`LlamaModel.forward\` ` +
      `(the prompt in one call, then one call + argmax per token). wllama ${wllamaVersion}: \`createCompletion\` greedy (temperature 0, top_k 1, ignore_eos), ` +
      `CPU only (n_gpu_layers 0), flash attention off, F32 KV cache; its figures are llama.cpp's own timings (prompt_ms, predicted_ms), worker messaging excluded. ` +
      `Decode: tokens/s over the generated tokens after a ${PROMPT.split(" ").length}-word prompt; prefill: that prompt. ` +
      `Ratio = llama-ts / wllama (> 1: llama-ts faster). Best of ${RUNS * ROUNDS} (${ROUNDS} A/B round(s) of a fresh page per engine, ${RUNS} runs each after a warm-up); ${secs.toFixed(0)} s in all.` +
      (notes.size > 0 ? ` Notes: ${[...notes].join(" ")}` : ""),
    "",
    "| shape | type | threads | llama-ts decode tok/s | wllama decode tok/s | decode ratio | llama-ts prefill tok/s | wllama prefill tok/s | prefill ratio |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}
