/**
 * Cross-implementation check against llama.cpp (through node-llama-cpp, installed on demand
 * into .bench/node-llama-cpp/; see docs/peers.md). Skips, saying why, when it is not installed:
 * `npm test` never installs or downloads it.
 *
 * Small random models are exported by our GGUF writer (f32, f16, q8_0, q4_0, with the tokenizer
 * keys), loaded in llama.cpp (flash attention off, F32 KV cache, 1 thread) and in llama-ts from
 * the same file, and compared on
 *   (a) tokenisation of awkward strings (llama.cpp tokenising from our tokenizer.ggml.* keys),
 *   (b) the greedy continuation of a prompt,
 *   (c) the log-probabilities of every vocabulary entry after every prompt position.
 * q_proj/k_proj are scaled ×6 (DESIGN.md, testing notes): with 0.02-scale weights attention is
 * almost uniform and an un-permuted q/k would still pass. With ×6 an un-permuted export moves
 * log-probabilities by ~2 here; the f32 files agree to ~1e-5.
 *
 * Quantised files. llama.cpp rounds the activations to the weight's "vec_dot type" before each
 * product: to f16 for F16 weights, and to q8_0 blocks with an f16 scale for Q8_0/Q4_0 weights
 * (llama-ts keeps f32 activations for f16 and a float32 q8 scale). The comparison model wraps the
 * backend so that llama-ts rounds its activations the same way; what remains is float summation
 * order, amplified where it flips a rounding. The criterion is then relative to the error the
 * quantisation itself causes (llama-ts quantised vs llama-ts f32 on the same weights): llama.cpp
 * must agree with llama-ts to within a third of it (measured: q8_0 <= 0.06, q4_0 ~0.05; a q/k
 * layout or block-layout bug gives ratios above 1). f16 keeps an unexplained systematic residual
 * (ratio 0.2-0.34) after position 1, so its log-probability check is a TODO (see below).
 * K-quants (q6_K, q5_K, q4_K, q4_K_M, q3_K, q2_K) run on a model with rows of whole 256-value super-blocks;
 * llama.cpp rounds their activations to q8_K (blocks of 256, float32 scale), as llama-ts's own
 * K-quant products do (src/kernels/quant/q8-k.ts), so nothing is emulated for them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { saveGguf, type GgufExportType } from "../../src/formats/gguf-model.js";
import { loadModelSync } from "../../src/runtime/load.js";
import { initParams } from "../../src/model/init.js";
import { paramLayout } from "../../src/model/params.js";
import type { LlamaConfig } from "../../src/model/config.js";
import { getBackend } from "../../src/kernels/backend.js";
import type { Backend } from "../../src/kernels/types.js";
import { quantFormat, quantMatmulReference, quantizeActivations, type QuantMatrix } from "../../src/kernels/quant.js";
import { f16ToF32, f32ToF16 } from "../../src/formats/half.js";
import { SentencePieceTokenizer } from "../../src/tokenizer/index.js";
import { peerStatus, openLlamaCpp, type LlamaCppPeer } from "../../bench/peers/llama-cpp.js";
import { fixturesDir, sharedFixturesDir } from "../helpers.js";

const status = peerStatus();
const skip = status.installed ? false : status.reason;

const TOKENIZERS = [
  path.join(fixturesDir, "tokenizer", "small-bpe.model"),
  path.join(sharedFixturesDir, "llama-tokenizer.model"),
].filter((p) => fs.existsSync(p));

const STRINGS = [
  "Hello world",
  "Once upon a time, there was a little girl named Lily.",
  " leading space",
  "two  spaces and\ttab\nnew line\n\n",
  "digits 1234567 and 3.14159",
  "ünïcödé, 日本語, emoji 🦙🔥",
  "   ",
  "a",
  "",
];

const PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play outside.";

function scaleQK(config: LlamaConfig, params: Float32Array): void {
  for (const [name, s] of paramLayout(config).byName) {
    if (/self_attn\.(q|k)_proj/.test(name)) for (let i = s.offset; i < s.offset + s.size; i++) params[i]! *= 6;
  }
}

/** A backend that rounds the activations of quantised products as llama.cpp's CPU backend does. */
function llamaCppRounding(inner: Backend): Backend {
  const b = Object.create(inner) as Backend;
  const q = inner.qmatmul?.bind(inner);
  b.qmatmul = (out: Float32Array, a: Float32Array, w: QuantMatrix, m: number): void => {
    const k = w.cols;
    const r = new Float32Array(m * k);
    if (w.type === "f16") {
      for (let i = 0; i < m * k; i++) r[i] = f16ToF32(f32ToF16(a[i]!));
    } else if (quantFormat(w.type).activations === "q8_K") {
      // K-quants: llama-ts's products round the activations to 8 bits per 256 values themselves,
      // by llama.cpp's rule for its vec_dot type q8_K (src/kernels/quant/q8-k.ts)
      r.set(a.subarray(0, m * k));
    } else {
      // q8_0 blocks: q = round(x / d) with d = amax/127, then the scale stored as f16. Feeding
      // q·f16(d) to llama-ts's own quantiser reproduces the same q and (to an ulp) the same scale.
      const qa = new Int8Array(k);
      const sa = new Float32Array(k / 32);
      for (let i = 0; i < m; i++) {
        quantizeActivations(a.subarray(i * k, (i + 1) * k), k, qa, sa);
        for (let j = 0; j < k; j++) r[i * k + j] = Math.fround(qa[j]! * f16ToF32(f32ToF16(sa[j >> 5]!)));
      }
    }
    if (q) q(out, r, w, m);
    else quantMatmulReference(out, r, w, m);
  };
  // The model runs q/k/v and gate/up as one qmatmulMany: each matrix through the rounding above.
  b.qmatmulMany = (outs: readonly Float32Array[], a: Float32Array, ws: readonly QuantMatrix[], m: number): void => {
    ws.forEach((w, i) => b.qmatmul(outs[i]!, a, w, m));
  };
  return b;
}

function logSoftmax(row: Float32Array): Float64Array {
  let mx = -Infinity;
  for (const v of row) mx = Math.max(mx, v);
  let z = 0;
  for (const v of row) z += Math.exp(v - mx);
  const lz = mx + Math.log(z);
  return Float64Array.from(row, (v) => v - lz);
}

function argmax(a: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[b]!) b = i;
  return b;
}

interface Case { name: string; config: LlamaConfig; tokenizer: string; types: readonly GgufExportType[] }

function cases(): Case[] {
  const out: Case[] = [];
  const llamaTok = TOKENIZERS.find((t) => t.endsWith("llama-tokenizer.model"));
  const smallTok = TOKENIZERS[0]!;
  const vocab = (t: string): number => SentencePieceTokenizer.fromFile(t).vocabSize;
  // The stories15M shape with 2 of its 6 layers (vocab 32000 when the LLaMA tokenizer is there).
  const storiesTok = llamaTok ?? smallTok;
  out.push({
    name: "stories15M-like",
    tokenizer: storiesTok,
    config: { vocabSize: vocab(storiesTok), hiddenSize: 288, intermediateSize: 768, numHiddenLayers: 2, numAttentionHeads: 6, numKeyValueHeads: 6, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 256, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2 },
    types: TYPES,
  });
  // Grouped-query attention (k permuted with the kv head count) and a tied output head.
  out.push({
    name: "gqa-tied",
    tokenizer: smallTok,
    config: { vocabSize: vocab(smallTok), hiddenSize: 128, intermediateSize: 352, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, rmsNormEps: 1e-6, ropeTheta: 10000, maxPositionEmbeddings: 256, tieWordEmbeddings: true, bosTokenId: 1, eosTokenId: 2 },
    types: TYPES,
  });
  // K-quants need rows of whole 256-value super-blocks: widths of 256 and 512, GQA; every
  // matrix is K-quantised (q4_K_M: layer 1's attn_v and ffn_down q6_K, output q6_K).
  out.push({
    name: "k-quant widths",
    tokenizer: storiesTok,
    config: { vocabSize: vocab(storiesTok), hiddenSize: 256, intermediateSize: 512, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 256, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2 },
    types: K_TYPES,
  });
  // RoPE scaling: Llama 3.1's rule as rope_freqs.weight (head dim 32, original context 64: one
  // band kept, three interpolated, the rest divided by 8) and linear as rope.scaling.type/factor.
  const scaled = { vocabSize: vocab(smallTok), hiddenSize: 128, intermediateSize: 352, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 512, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2 };
  out.push({ name: "llama3-rope", tokenizer: smallTok, config: { ...scaled, ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 } }, types: TYPES });
  out.push({ name: "linear-rope", tokenizer: smallTok, config: { ...scaled, ropeScaling: { type: "linear", factor: 4 } }, types: TYPES });
  return out;
}

const TYPES: GgufExportType[] = ["f32", "f16", "q8_0", "q4_0"];
const K_TYPES: GgufExportType[] = ["f32", "q6_K", "q5_K", "q4_K", "q4_K_M", "q3_K", "q2_K"];

test("llama.cpp peer: tokenisation, greedy continuation and log-probabilities on our GGUF files", { skip, timeout: 600_000 }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-peer-"));
  let peer: LlamaCppPeer | undefined;
  try {
    peer = await openLlamaCpp();
    for (const c of cases()) {
      const tokBytes = fs.readFileSync(c.tokenizer);
      const ours = SentencePieceTokenizer.fromBytes(tokBytes, c.tokenizer);
      const params = initParams(c.config, 7);
      scaleQK(c.config, params);
      const prompt = [c.config.bosTokenId, ...ours.encode(PROMPT)];
      const V = c.config.vocabSize;
      let f32LogProbs: Float64Array[] | undefined;
      for (const type of c.types) {
        await t.test(`${c.name} ${type} (${path.basename(c.tokenizer)}, vocab ${V})`, async (st) => {
          const file = path.join(tmp, `${c.name}-${type}.gguf`);
          saveGguf(file, c.config, params, { type, tokenizer: tokBytes });
          const s = await peer!.open(file, { threads: 1, contextSize: c.config.maxPositionEmbeddings });
          try {
            assert.deepEqual(peer!.warnings(), [], "llama.cpp warnings while loading");
            assert.equal(s.threads, 1);
            // (a) tokenisation from the tokenizer.ggml.* keys
            if (type === "f32") {
              for (const str of STRINGS) assert.deepEqual(s.tokenize(str), ours.encode(str), `tokenisation of ${JSON.stringify(str)}`);
            }
            // llama-ts on the same file; for quantised files with llama.cpp's activation rounding
            const exact = loadModelSync(file).model;
            const emulated = type === "f32" ? exact : loadModelSync(file, { backend: llamaCppRounding(getBackend()) }).model;
            const all = emulated.forward(prompt, emulated.newCache(), true);
            const ourLp = prompt.map((_, i) => logSoftmax(all.subarray(i * V, (i + 1) * V)));

            // (c) log-probabilities of the whole vocabulary after each prompt position
            const probs = await s.nextTokenProbs(prompt);
            let diff = 0;
            for (let i = 0; i < prompt.length; i++) {
              assert.equal(probs[i]!.size, V, `llama.cpp gave ${probs[i]!.size} probabilities, not ${V}`);
              for (const [id, p] of probs[i]!) diff = Math.max(diff, Math.abs(Math.log(p) - ourLp[i]![id]!));
            }
            let tol: number;
            let quantErr = 0;
            if (type === "f32") {
              f32LogProbs = ourLp;
              tol = 1e-4; // f32 vs f32 with an F32 KV cache and no flash attention: ~1e-5 measured
            } else {
              const q = exact.forward(prompt, exact.newCache(), true);
              for (let i = 0; i < prompt.length; i++) {
                const lp = logSoftmax(q.subarray(i * V, (i + 1) * V));
                for (let j = 0; j < V; j++) quantErr = Math.max(quantErr, Math.abs(lp[j]! - f32LogProbs![i]![j]!));
              }
              tol = quantErr / 3;
            }
            st.diagnostic(`${c.name} ${type}: max |Δ log p| llama.cpp vs llama-ts ${diff.toExponential(2)} (tolerance ${tol.toExponential(2)}${type === "f32" ? "" : `; ${type} vs f32 ${quantErr.toExponential(2)}, ratio ${(diff / quantErr).toFixed(3)}`})`);
            // f16: with the activation rounding emulated, positions 0 and 1 agree to ~4e-6 but later
            // positions keep a systematic ~5e-4 (ratio 0.2-0.34 where q8_0/q4_0 give <= 0.06): some
            // other f16 rounding inside llama.cpp is not modelled yet. Reported as TODO, not hidden.
            await st.test(`${c.name} ${type} log-probabilities`, { todo: type === "f16" ? "llama.cpp's f16 path differs systematically after position 1; not modelled yet" : false }, () => {
              assert.ok(diff <= tol, `${type}: llama.cpp and llama-ts log-probabilities differ by ${diff.toExponential(3)} > ${tol.toExponential(3)}`);
            });

            // (b) greedy continuation: llama.cpp's tokens, teacher-forced through llama-ts. In f32
            // each must be our argmax; in quantised files within the log-prob tolerance of it
            // (random models have near-ties that a rounding difference may swap).
            const n = 16;
            const g = await s.greedy(prompt, n);
            assert.equal(g.length, n);
            const cache = exact.newCache();
            let logits = (type === "f32" ? exact : emulated).forward(prompt, cache);
            const m = type === "f32" ? exact : emulated;
            const mine: number[] = [];
            for (let i = 0; i < n; i++) {
              const lp = logSoftmax(logits);
              const best = argmax(lp);
              mine.push(best);
              if (type === "f32") assert.equal(g[i], best, `greedy token ${i}: llama.cpp ${g[i]}, llama-ts ${best} (llama.cpp: ${g.join(",")})`);
              else assert.ok(lp[best]! - lp[g[i]!]! <= 2 * tol, `greedy token ${i}: llama.cpp chose ${g[i]} at ${(lp[best]! - lp[g[i]!]!).toExponential(2)} below llama-ts's best ${best}`);
              logits = m.forward([g[i]!], cache);
            }
            const same = mine.filter((x, i) => x === g[i]).length;
            st.diagnostic(`${c.name} ${type}: greedy ${same}/${n} tokens identical`);
          } finally {
            await s.dispose();
          }
        });
      }
    }
  } finally {
    await peer?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
