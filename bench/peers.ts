/**
 * llama-ts against llama.cpp (node-llama-cpp, installed on demand: see bench/peers/llama-cpp.ts
 * and docs/peers.md) on the same GGUF files: decode and prefill (512-token prompt) tokens/s,
 * f32 / q8_0 / q4_0, 1 and 2 threads, at the stories15M shape and a ~110M shape, random weights;
 * and the K-quant files q4_K_M and q6_K at the ~110M shape (its dims are multiples of 256: at
 * dim 288 the K-quant rows would fall back to q8_0/f16). LLAMA_TS_PEERS_TYPES=q4_K_M,q6_K (a
 * comma list) runs only those types, e.g. for a quick look at the K-quant ratios.
 *
 * llama.cpp's numbers are its own performance counters (llama_perf_context: "prompt eval" for the
 * prefill, "eval" for one-token decode steps), so node-llama-cpp's JavaScript overhead is not
 * counted against it. llama-ts's are wall-clock around `LlamaModel.forward` (plus the argmax
 * for decoding). Both sides get one warm-up pass first; then best of two.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { LlamaConfig } from "../src/model/config.js";
import { ffnHiddenSize } from "../src/model/config.js";
import { initParams } from "../src/model/init.js";
import { saveGguf, type GgufExportType } from "../src/formats/gguf-model.js";
import { loadModelSync } from "../src/runtime/load.js";
import { loadNativeBackend } from "../src/kernels/native.js";
import type { LlamaModel } from "../src/model/llama.js";
import { INSTALL_HINT, openLlamaCpp, peerStatus, repoRoot, type LlamaCppSession } from "./peers/llama-cpp.js";

const PREFILL = 512;
const DECODE_PROMPT = 16;

function shape(dim: number, heads: number, layers: number): LlamaConfig {
  return {
    vocabSize: 32000, hiddenSize: dim, intermediateSize: ffnHiddenSize(dim), numHiddenLayers: layers,
    numAttentionHeads: heads, numKeyValueHeads: heads, rmsNormEps: 1e-5, ropeTheta: 10000,
    maxPositionEmbeddings: 1024, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
  };
}

const SHAPES = [
  { name: "stories15M (dim 288, 6 layers, 6 heads)", config: shape(288, 6, 6), decodeTokens: 64, types: ["f32", "q8_0", "q4_0"] },
  { name: "110M (dim 768, 12 layers, 12 heads)", config: shape(768, 12, 12), decodeTokens: 24, types: ["f32", "q8_0", "q4_0", "q4_K_M", "q6_K"] },
] satisfies Array<{ name: string; config: LlamaConfig; decodeTokens: number; types: GgufExportType[] }>;
const ONLY_TYPES = process.env.LLAMA_TS_PEERS_TYPES?.split(",").map((t) => t.trim()).filter((t) => t !== "");
const THREADS = [1, 2];

export function tokens(n: number, vocab: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (i === 0 ? 1 : (i * 7919 + seed * 104729) % vocab));
}

export function argmax(a: Float32Array): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[b]!) b = i;
  return b;
}

function oursPrefill(model: LlamaModel, prompt: number[]): number {
  const cache = model.newCache(PREFILL + 8);
  const t0 = performance.now();
  model.forward(prompt, cache);
  return prompt.length / ((performance.now() - t0) / 1000);
}

function oursDecode(model: LlamaModel, prompt: number[], n: number): number {
  const cache = model.newCache(prompt.length + n + 8);
  let next = argmax(model.forward(prompt, cache));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) next = argmax(model.forward([next], cache));
  return n / ((performance.now() - t0) / 1000);
}

export async function peerPrefill(s: LlamaCppSession, prompt: number[]): Promise<number> {
  await s.perf(); // resets the counters
  await s.prefill(prompt);
  const p = await s.perf();
  if (!p || p.promptTokens !== prompt.length) throw new Error(`llama.cpp prefill timings not found (${JSON.stringify(p)})`);
  return p.promptTokens / (p.promptMs / 1000);
}

export async function peerDecode(s: LlamaCppSession, prompt: number[], n: number): Promise<number> {
  await s.perf();
  await s.greedy(prompt, n);
  const p = await s.perf();
  if (!p || p.evalTokens < n - 2) throw new Error(`llama.cpp decode timings not found (${JSON.stringify(p)})`);
  return p.evalTokens / (p.evalMs / 1000);
}

/** The LLaMA tokenizer when ../shared has it, else the committed small test tokenizer (padded to 32000 by the writer). */
export function tokenizerPath(): string {
  const root = repoRoot();
  const llama = path.resolve(root, "..", "shared", "fixtures", "llama-tokenizer.model");
  return fs.existsSync(llama) ? llama : path.join(root, "test", "fixtures", "tokenizer", "small-bpe.model");
}

const best = (a: number, b: number): number => Math.max(a, b);
const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

export async function bench(): Promise<string> {
  const head = "## Against llama.cpp (node-llama-cpp), same GGUF file, random weights\n";
  const st = peerStatus();
  if (!st.installed) return `${head}\nSkipped: ${st.reason}.\n\nInstall the peer (into the git-ignored .bench/node-llama-cpp/, not into the project's dependencies) with\n\n    ${INSTALL_HINT}\n\nthen run \`npm run bench -- peers\`.\n`;
  const native = loadNativeBackend();
  if (!native.backend) return `${head}\nSkipped: the native backend is not available (${native.error}).\n`;
  const backend = native.backend;
  const peer = await openLlamaCpp();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-bench-peers-"));
  const rows: string[] = [];
  const started = performance.now();
  try {
    for (const sh of SHAPES) {
      if (ONLY_TYPES && !sh.types.some((t) => ONLY_TYPES.includes(t))) continue;
      const params = initParams(sh.config, 1);
      const prompt = tokens(PREFILL, sh.config.vocabSize, 1);
      const dprompt = tokens(DECODE_PROMPT, sh.config.vocabSize, 2);
      for (const type of sh.types) {
        if (ONLY_TYPES && !ONLY_TYPES.includes(type)) continue;
        const file = path.join(tmp, `${type}.gguf`);
        // With tokenizer keys: node-llama-cpp aborts on a no_vocab file (llama.cpp asserts in tokenize).
        saveGguf(file, sh.config, params, { type, name: sh.name, tokenizer: fs.readFileSync(tokenizerPath()) });
        const { model } = loadModelSync(file, { backend });
        for (const threads of THREADS) {
          backend.setThreads(threads);
          // warm-up (V8 tiers, thread pool, page cache), then best of two
          oursPrefill(model, prompt.slice(0, 64));
          oursDecode(model, dprompt, 4);
          const oPre = best(oursPrefill(model, prompt), oursPrefill(model, prompt));
          const oDec = best(oursDecode(model, dprompt, sh.decodeTokens), oursDecode(model, dprompt, sh.decodeTokens));
          const s = await peer.open(file, { threads, contextSize: sh.config.maxPositionEmbeddings, batchSize: PREFILL });
          try {
            await peerPrefill(s, prompt.slice(0, 64));
            await peerDecode(s, dprompt, 4);
            const pPre = best(await peerPrefill(s, prompt), await peerPrefill(s, prompt));
            const pDec = best(await peerDecode(s, dprompt, sh.decodeTokens), await peerDecode(s, dprompt, sh.decodeTokens));
            rows.push(`| ${sh.name} | ${type} | ${threads} | ${fmt(oDec)} | ${fmt(pDec)} | **${(oDec / pDec).toFixed(2)}** | ${fmt(oPre)} | ${fmt(pPre)} | **${(oPre / pPre).toFixed(2)}** |`);
          } finally {
            await s.dispose();
          }
        }
        fs.rmSync(file, { force: true });
      }
    }
  } finally {
    await peer.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const secs = (performance.now() - started) / 1000;
  return [
    head,
    `node-llama-cpp ${peer.version} (prebuilt CPU binary), flash attention off, F32 KV cache, exact thread counts; llama-ts native backend. ` +
      `Decode: greedy, ${DECODE_PROMPT}-token prompt, tokens/s over the following steps; prefill: one ${PREFILL}-token prompt. ` +
      `llama.cpp figures are its own perf counters (node-llama-cpp's JS overhead excluded). Ratio = llama-ts / llama.cpp (> 1: llama-ts faster). Best of 2 after a warm-up; ${secs.toFixed(0)} s in all.`,
    "",
    "| shape | type | threads | llama-ts decode tok/s | llama.cpp decode tok/s | decode ratio | llama-ts prefill tok/s | llama.cpp prefill tok/s | prefill ratio |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}
