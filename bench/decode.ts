/**
 * Decode speed (tokens/s) of a random model with the stories15M shape (dim 288, 6 layers,
 * 6 heads, vocab 32000) on the reference and native backends, 1 and 2 threads; then prefill
 * (128- and 512-token prompts) and decode tokens/s of the native backend with f32, f16, q8_0
 * and q4_0 weights, all in one process.
 *
 * `node dist/bench/decode.js quant` runs only the quantised section.
 */
import { presetConfig } from "../src/model/config.js";
import { initParams } from "../src/model/init.js";
import { LlamaModel } from "../src/model/llama.js";
import { referenceBackend } from "../src/kernels/backend.js";
import { loadNativeBackend } from "../src/kernels/native.js";
import type { Backend } from "../src/kernels/types.js";
import { generateTokens, type GenerateStats } from "../src/generate/generate.js";
import { paramLayout, tensorViews, type ModelTensors } from "../src/model/params.js";
import { quantize, type QuantType, type Weight } from "../src/kernels/quant.js";
import type { LlamaConfig } from "../src/model/config.js";

function decodeRate(model: LlamaModel, tokens: number): { tps: number; prefillTps: number } {
  const prompt = Array.from({ length: 32 }, (_, i) => (i * 7919) % model.config.vocabSize);
  const gen = generateTokens(model, prompt, { maxTokens: tokens, temperature: 0, topP: 1, seed: 0, stopAtEos: false });
  let r = gen.next();
  while (!r.done) r = gen.next();
  const s: GenerateStats = r.value;
  return { tps: (s.generatedTokens - 1) / s.decodeSeconds, prefillTps: s.promptTokens / s.prefillSeconds };
}

/** The model's matrices stored as `type` (as a GGUF of that type holds them: q4_0 keeps the head at q8_0). */
export function quantisedTensorsForBench(config: LlamaConfig, params: Float32Array, type: QuantType): ModelTensors<Weight> {
  const v = tensorViews(config, paramLayout(config), params);
  const q = (w: Float32Array, rows: number, cols: number, t: QuantType = type): Weight => quantize(w, rows, cols, t);
  const d = config.hiddenSize, F = config.intermediateSize, kv = config.numKeyValueHeads * (d / config.numAttentionHeads);
  return {
    embedTokens: q(v.embedTokens, config.vocabSize, d),
    layers: v.layers.map((L) => ({
      ...L,
      wq: q(L.wq, d, d), wk: q(L.wk, kv, d), wv: q(L.wv, kv, d), wo: q(L.wo, d, d),
      wGate: q(L.wGate, F, d), wUp: q(L.wUp, F, d), wDown: q(L.wDown, d, F),
    })),
    finalNorm: v.finalNorm,
    lmHead: q(v.lmHead, config.vocabSize, d, type === "q4_0" ? "q8_0" : type),
  };
}

function seconds(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

/** Prefill tokens/s for each prompt length and decode tokens/s (after a 32-token prompt), best of `reps`. */
export function quantRatesForBench(model: LlamaModel, prompts: number[], decodeTokens: number, reps: number): { prefill: number[]; decode: number } {
  const V = model.config.vocabSize;
  const ids = (n: number): number[] => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % V);
  const prefill = prompts.map(() => 0);
  let decode = 0;
  for (let r = 0; r < reps; r++) {
    prompts.forEach((n, i) => {
      const cache = model.newCache();
      const s = seconds(() => model.forward(ids(n), cache));
      prefill[i] = Math.max(prefill[i]!, n / s);
    });
    const cache = model.newCache();
    model.forward(ids(32), cache);
    const s = seconds(() => {
      for (let t = 0; t < decodeTokens; t++) model.forward([(t * 31 + 7) % V], cache);
    });
    decode = Math.max(decode, decodeTokens / s);
  }
  return { prefill, decode };
}

export async function benchQuant(): Promise<string> {
  const native = loadNativeBackend().backend;
  if (!native) return "## Quantised prefill and decode\n\nnative backend not available\n";
  const config = { ...presetConfig("stories15M"), maxPositionEmbeddings: 1024 };
  const params = initParams(config, 1);
  const prompts = [128, 512];
  const rows: string[] = [];
  const models = (["f32", "f16", "q8_0", "q4_0"] as const).map((type) => ({
    type,
    model: new LlamaModel(config, type === "f32" ? params : quantisedTensorsForBench(config, params, type), native),
  }));
  for (const threads of [1, 2]) {
    native.setThreads(threads);
    for (const { type, model } of models) {
      quantRatesForBench(model, [32], 8, 1); // warm-up
      const r = quantRatesForBench(model, prompts, 100, 3);
      rows.push(`| ${type} | ${threads} | ${r.prefill.map((x) => x.toFixed(0)).join(" | ")} | ${r.decode.toFixed(1)} |`);
    }
  }
  return [
    "## Quantised weights: stories15M shape (dim 288, 6 layers, 6 heads, vocab 32000), native backend",
    "",
    `Random weights stored as each type (q4_0 keeps the head at q8_0, as our GGUF files do); ISA ${native.isa}` +
      ` (quantised kernels: ${native.qVariant()}). Prefill: one forward over the prompt (last row's logits);` +
      " decode: 100 single-token steps after a 32-token prompt. Best of 3 runs.",
    "",
    `| weights | threads | ${prompts.map((n) => `prefill ${n} tok/s`).join(" | ")} | decode tok/s |`,
    `|---|---|${prompts.map(() => "---|").join("")}---|`,
    ...rows,
    "",
  ].join("\n");
}

export async function bench(): Promise<string> {
  const config = presetConfig("stories15M");
  const params = initParams(config, 1);
  const rows: string[] = [];
  const runs: Array<{ label: string; backend: Backend; threads: number; tokens: number }> = [
    { label: "reference (TypeScript)", backend: referenceBackend(), threads: 1, tokens: 12 },
  ];
  const native = loadNativeBackend();
  if (native.backend) {
    runs.push({ label: "native", backend: native.backend, threads: 1, tokens: 200 });
    runs.push({ label: "native", backend: native.backend, threads: 2, tokens: 200 });
  }
  for (const run of runs) {
    run.backend.setThreads(run.threads);
    const model = new LlamaModel(config, params, run.backend);
    decodeRate(model, 4); // warm-up (V8 tiers, thread pool start)
    let best = { tps: 0, prefillTps: 0 };
    for (let i = 0; i < 3; i++) {
      const r = decodeRate(model, run.tokens);
      if (r.tps > best.tps) best = r;
    }
    rows.push(`| ${run.label} | ${run.threads} | ${best.tps.toFixed(1)} | ${best.prefillTps.toFixed(1)} |`);
  }
  if (!native.backend) rows.push(`| native | - | not available: ${native.error} | |`);
  const head = [
    "## Decode: stories15M shape (dim 288, 6 layers, 6 heads, vocab 32000), f32, random weights",
    "",
    "Greedy decoding after a 32-token prompt; best of 3 runs.",
    "",
    "| backend | threads | decode tokens/s | prefill tokens/s (32-token prompt) |",
    "|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
  return head + "\n" + (await benchQuant());
}

if (process.argv[1]?.endsWith("decode.js") && process.argv[2] === "quant") {
  process.stdout.write(await benchQuant());
}
