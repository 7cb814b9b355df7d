/**
 * Decode speed (tokens/s) of a random model with the stories15M shape (dim 288, 6 layers,
 * 6 heads, vocab 32000) on the reference and native backends, 1 and 2 threads.
 */
import { presetConfig } from "../src/model/config.js";
import { initParams } from "../src/model/init.js";
import { LlamaModel } from "../src/model/llama.js";
import { referenceBackend } from "../src/kernels/backend.js";
import { loadNativeBackend } from "../src/kernels/native.js";
import type { Backend } from "../src/kernels/types.js";
import { generateTokens, type GenerateStats } from "../src/generate/generate.js";

function decodeRate(model: LlamaModel, tokens: number): { tps: number; prefillTps: number } {
  const prompt = Array.from({ length: 32 }, (_, i) => (i * 7919) % model.config.vocabSize);
  const gen = generateTokens(model, prompt, { maxTokens: tokens, temperature: 0, topP: 1, seed: 0, stopAtEos: false });
  let r = gen.next();
  while (!r.done) r = gen.next();
  const s: GenerateStats = r.value;
  return { tps: (s.generatedTokens - 1) / s.decodeSeconds, prefillTps: s.promptTokens / s.prefillSeconds };
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
  return [
    "## Decode: stories15M shape (dim 288, 6 layers, 6 heads, vocab 32000), f32, random weights",
    "",
    "Greedy decoding after a 32-token prompt; best of 3 runs.",
    "",
    "| backend | threads | decode tokens/s | prefill tokens/s (32-token prompt) |",
    "|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}
