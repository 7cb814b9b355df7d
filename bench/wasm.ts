/**
 * Benchmark section `wasm`: the WebAssembly backend (wasm/llama_ts.wasm, the C kernels compiled
 * to wasm32 + SIMD128) against the native addon in Node, 1 and 2 threads: sgemm GFLOP/s (x·Wᵀ,
 * operands copied into the wasm heap per call, as the backend does), decode tokens/s of a random
 * stories15M-shape model (dim 288, 6 layers, vocab 32000), and training tokens/s (the train
 * section's worker, LLAMA_TS_BACKEND=wasm|native, each its own process). Same process, A/B
 * alternated per measurement, best of several runs: on a shared machine compare the ratios.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { presetConfig } from "../src/model/config.js";
import { initParams } from "../src/model/init.js";
import { LlamaModel } from "../src/model/llama.js";
import { loadNativeBackend } from "../src/kernels/native.js";
import { loadWasmBackend } from "../src/kernels/wasm-node.js";
import type { Backend } from "../src/kernels/types.js";
import { generateTokens, type GenerateStats } from "../src/generate/generate.js";

const here = path.dirname(fileURLToPath(import.meta.url));

function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

/** Best seconds per call of f over `runs` runs of `reps` calls. */
function best(runs: number, reps: number, f: () => void): number {
  let t = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) f();
    t = Math.min(t, (performance.now() - t0) / 1000 / reps);
  }
  return t;
}

function gflops(be: Backend, m: number, n: number, k: number): number {
  const a = random(m * k, 1), w = random(n * k, 2), out = new Float32Array(m * n);
  const f = (): void => be.matmul(out, a, w, m, n, k);
  f();
  return (2 * m * n * k) / best(5, 3, f) / 1e9;
}

function decodeTps(be: Backend, params: Float32Array, tokens: number): number {
  const model = new LlamaModel(presetConfig("stories15M"), params, be);
  let rate = 0;
  for (let r = 0; r < 2; r++) {
    const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919) % model.config.vocabSize);
    const gen = generateTokens(model, prompt, { maxTokens: tokens, temperature: 0, topP: 1, seed: 0, stopAtEos: false });
    let x = gen.next();
    while (!x.done) x = gen.next();
    const s: GenerateStats = x.value;
    rate = Math.max(rate, (s.generatedTokens - 1) / s.decodeSeconds);
  }
  return rate;
}

function trainTps(backend: string, threads: number): number | string {
  const r = spawnSync(process.execPath, [path.join(here, "train-worker.js"), "2", "2", "128"], {
    encoding: "utf8", env: { ...process.env, LLAMA_TS_BACKEND: backend, LLAMA_TS_THREADS: String(threads) }, timeout: 600_000,
  });
  if (r.status !== 0) return `failed: ${(r.stderr || "").trim().split("\n").pop()}`;
  return (JSON.parse(r.stdout.trim().split("\n").pop()!) as { tokens_per_s: number }).tokens_per_s;
}

const fmt = (x: number | string, d = 1): string => (typeof x === "number" ? x.toFixed(d) : x);
const ratio = (w: number | string, n: number | string): string => (typeof w === "number" && typeof n === "number" ? (w / n).toFixed(2) : "-");

export async function bench(): Promise<string> {
  const native = loadNativeBackend().backend;
  const rows: string[] = [];
  const params = initParams(presetConfig("stories15M"), 1);
  for (const threads of [1, 2]) {
    const wasm = loadWasmBackend(threads);
    await wasm.ready();
    native?.setThreads(threads);
    for (const [m, n, k] of [[256, 768, 288], [512, 512, 512]] as const) {
      const w = gflops(wasm, m, n, k), nat = native ? gflops(native, m, n, k) : NaN;
      rows.push(`| sgemm ${m}×${n}×${k} GFLOP/s | ${threads} | ${fmt(w)} | ${fmt(nat)} | ${ratio(w, nat)} |`);
    }
    const wd = decodeTps(wasm, params, 48), nd = native ? decodeTps(native, params, 48) : NaN;
    rows.push(`| decode tokens/s (stories15M shape, f32) | ${threads} | ${fmt(wd)} | ${fmt(nd)} | ${ratio(wd, nd)} |`);
    wasm.dispose();
    const wt = trainTps("wasm", threads), nt = native ? trainTps("native", threads) : "no addon";
    rows.push(`| training tokens/s (stories15M shape, batch 2 × 128) | ${threads} | ${fmt(wt, 0)} | ${fmt(nt, 0)} | ${ratio(wt, nt)} |`);
  }
  return [
    "## WebAssembly backend vs native (Node)",
    "",
    "wasm/llama_ts.wasm (the native C kernels compiled to wasm32 + SIMD128, no FMA) against the native addon; operands are copied into the wasm heap per call (decode weights are cached there).",
    "",
    "| measure | threads | wasm | native | wasm/native |",
    "|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}
