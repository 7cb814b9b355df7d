/**
 * K-quant GGUF files (q6_K, q5_K, q4_K, q4_K_M, q5_K_M): the tensor types llama.cpp's mixture
 * rules give, the matrices kept quantised in memory, logits close to f32 on both backends,
 * decoding equal to prefill, dequantised parameters equal to what the quantised model uses, and
 * a clear error for a type llama-ts does not read.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GgufFile, writeGguf } from "../../src/formats/gguf.js";
import { loadGgufParams, loadGgufTensors, saveGguf } from "../../src/formats/gguf-model.js";
import { LlamaModel } from "../../src/model/llama.js";
import { paramLayout } from "../../src/model/params.js";
import type { LlamaConfig } from "../../src/model/config.js";
import { dequantize, type QuantMatrix } from "../../src/kernels/quant.js";
import { referenceBackend } from "../../src/kernels/backend.js";
import { loadNativeBackend } from "../../src/kernels/native.js";
import { UserError } from "../../src/util/errors.js";
import { assertClose, randomArray } from "../helpers.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-gguf-k-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const backends = [referenceBackend(), ...(loadNativeBackend().backend ? [loadNativeBackend().backend!] : [])];

// Rows of whole 256-value super-blocks: hidden 256, ffn 512 (ffn_down rows 512), 3 layers.
const config: LlamaConfig = {
  vocabSize: 64, hiddenSize: 256, intermediateSize: 512, numHiddenLayers: 3, numAttentionHeads: 4, numKeyValueHeads: 2,
  rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 32, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
};
const layout = paramLayout(config);
const params = randomArray(layout.total, 17, 0.08);
// q/k are not scaled up here: chaotic attention would drown the differences between the types
// (with ×6: q8_0 8.7e-2, q6_K 0.31, q5_K 0.68, q4_K 0.74); the q/k row layout is type-independent
// and covered by gguf.test.ts and the llama.cpp peer test.
for (const s of layout.specs) if (s.shape.length === 1) params.fill(1, s.offset, s.offset + s.size);
const tokens = [1, 5, 9, 33, 60, 2, 17, 41, 40, 3, 61, 12];

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return d / m;
}

test("q4_K_M file: llama.cpp's per-tensor types (3 layers: attn_v/ffn_down q6_K in layer 2 only)", () => {
  const file = path.join(tmp, "m.gguf");
  saveGguf(file, config, params, { type: "q4_K_M" });
  const f = GgufFile.open(file);
  try {
    const types = Object.fromEntries(f.tensors.map((t) => [t.name, t.type]));
    assert.equal(f.getNumber("general.file_type"), 15);
    assert.equal(types["output.weight"], 14);
    assert.equal(types["token_embd.weight"], 12);
    assert.equal(types["output_norm.weight"], 0);
    // use_more_bits(i, 3): i < 0 or i >= 2 or (i − 0) % 3 == 2 -> layer 2 only
    assert.deepEqual([0, 1, 2].map((i) => types[`blk.${i}.attn_v.weight`]), [12, 12, 14]);
    assert.deepEqual([0, 1, 2].map((i) => types[`blk.${i}.ffn_down.weight`]), [12, 12, 14]);
    assert.deepEqual([0, 1, 2].map((i) => types[`blk.${i}.attn_q.weight`]), [12, 12, 12]);
  } finally {
    f.close();
  }
});

test("K-quant GGUF inference stays close to f32 on both backends; decode = prefill; dequantised params match", () => {
  const ref = new LlamaModel(config, params, referenceBackend());
  const want = ref.forward(tokens, ref.newCache(), true);
  // Relative logit error bounds, ~2× the measured errors (relative to the largest logit; uniform
  // random weights): measured f16 7.7e-4, q8_0 2.1e-2, q6_K 5.5e-2, q5_K 9.8e-2, q4_K 0.20,
  // q4_0 0.19, q4_K_M 0.21, q5_K_M 0.10.
  const bounds = { q6_K: 0.11, q5_K: 0.2, q4_K: 0.4, q4_K_M: 0.4, q5_K_M: 0.2 } as const;
  const errs: Record<string, number> = {};
  for (const type of ["q6_K", "q5_K", "q4_K", "q4_K_M", "q5_K_M"] as const) {
    const file = path.join(tmp, `rand-${type}.gguf`);
    saveGguf(file, config, params, { type });
    const g = loadGgufTensors(file);
    const wq = g.tensors.layers[0]!.wq as QuantMatrix;
    assert.equal(wq.type, type.slice(0, 4), "matrices stay quantised in memory");
    assert.equal((g.tensors.lmHead as QuantMatrix).type, "q6_K");
    const outs = backends.map((b) => {
      const m = new LlamaModel(g.config, g.tensors, b);
      const all = m.forward(tokens, m.newCache(), true);
      // Decoding (integer products with 8-bit activations per 256 values) equals the prefill
      // (dequantise-on-pack float gemm on the same 8-bit activations) up to float summation
      // order, and a 1e-7 difference upstream can flip one activation rounding (as for q8_0,
      // test/formats/gguf.test.ts): moving a logit by about one quantisation step.
      const cache = m.newCache();
      const rows: number[] = [...m.forward(tokens.slice(0, 5), cache, true)];
      for (let t = 5; t < tokens.length; t++) rows.push(...m.forward([tokens[t]!], cache));
      // (measured: reference 0, native ≤ 6e-7 but 8.9e-4 for q4_K_M)
      assertClose(rows, all, 2e-3, `${type} [${b.name}] decode vs prefill`);
      return all;
    });
    errs[type] = relErr(outs[0]!, want);
    outs.forEach((o, i) => assert.ok(relErr(o, want) < bounds[type], `${type} [${backends[i]!.name}]: relative logit error ${relErr(o, want).toExponential(2)}`));
    // The kernels agree to 1e-6 (test/kernels/kquant.test.ts); through the model, rounding flips
    // of the 8-bit activations (from float-order differences upstream) move logits by up to a
    // quantisation step. Here the first layer's inputs lie on the q6_K embedding's lattice (norm
    // weights 1), where many activations sit exactly on rounding ties: a 1e-7 perturbation of the
    // norms alone moves the reference's logits by 3e-2 (measured native vs reference: q6_K 2.6e-2,
    // q5_K_M 7.2e-4, the others < 1e-6).
    if (outs.length > 1) assertClose(outs[1]!, outs[0]!, 6e-2, `${type} native vs reference`);
    const deq = loadGgufParams(file);
    const dm = new LlamaModel(deq.config, deq.params, referenceBackend());
    const actErr = relErr(outs[0]!, dm.forward(tokens, dm.newCache(), true));
    // the 8-bit activations against float ones (measured 1.8e-2 .. 2.6e-2)
    assert.ok(actErr < 6e-2, `${type}: block products vs dequantised f32 products ${actErr.toExponential(2)}`);
    const s = layout.byName.get("model.layers.0.self_attn.q_proj.weight")!;
    assert.deepEqual(deq.params.subarray(s.offset, s.offset + s.size), dequantize(wq));
  }
  assert.ok(errs.q6_K! < errs.q5_K! && errs.q5_K! < errs.q4_K!, JSON.stringify(errs));
});

test("a type llama-ts does not read (Q5_0) gives one clear error naming what it reads", () => {
  const file = path.join(tmp, "base.gguf");
  saveGguf(file, config, params, { type: "f32" });
  const f = GgufFile.open(file);
  const md = new Map(f.metadata);
  const tensors = f.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: f.readTensorBytes(t.name) as Uint8Array }));
  f.close();
  const out = path.join(tmp, "q5_0.gguf");
  writeGguf(out, md, tensors.map((t) => (t.name === "blk.0.attn_q.weight" ? { ...t, type: 6, data: new Uint8Array((256 * 256 / 32) * 22) } : t)));
  assert.throws(() => loadGgufParams(out), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match((e as Error).message, /blk\.0\.attn_q\.weight is Q5_0; llama-ts reads F32, F16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q3_K, Q2_K, BF16 tensors/);
    return true;
  });
});
