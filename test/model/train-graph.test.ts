/**
 * The hand-written backward of the whole decoder: against central finite differences in
 * float64 (reference kernels), and against PyTorch autograd (tools/train_reference.py) in
 * float32 on the fast path.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { TrainGraph } from "../../src/model/train-graph.js";
import { paramLayout } from "../../src/model/params.js";
import { initParams } from "../../src/model/init.js";
import { getBackend } from "../../src/kernels/backend.js";
import { referenceOps } from "../../src/kernels/ops/index.js";
import type { KernelOps } from "../../src/kernels/types.js";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { openSafetensors, readTensorF32 } from "../../src/formats/safetensors.js";
import type { LlamaConfig } from "../../src/model/config.js";
import { assertClose, fixturesDir, rng } from "../helpers.js";
import fs from "node:fs";

const tiny: LlamaConfig = {
  vocabSize: 23, hiddenSize: 12, intermediateSize: 20, numHiddenLayers: 2, numAttentionHeads: 6, numKeyValueHeads: 2,
  rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 16, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
};

function windowsFor(c: LlamaConfig, B: number, T: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: B * (T + 1) }, () => Math.floor(r() * c.vocabSize));
}

for (const tied of [false, true]) {
  test(`backward equals central finite differences in float64 (GQA, ${tied ? "tied" : "untied"} head, tiles smaller than T)`, () => {
    const c = { ...tiny, tieWordEmbeddings: tied };
    const B = 2, T = 7;
    const layout = paramLayout(c);
    const p32 = initParams(c, 3, 0.3);
    const params = Float64Array.from(p32);
    // Norm weights away from 1 so their gradients are exercised.
    const r = rng(9);
    for (const s of layout.specs) if (s.shape.length === 1) for (let i = 0; i < s.size; i++) params[s.offset + i] = 0.5 + r();
    const graph = new TrainGraph<Float64Array>(c, B, T, referenceOps<Float64Array>({ blockQ: 3, blockK: 2 }), (n) => new Float64Array(n), { lossChunkRows: 5 });
    const windows = windowsFor(c, B, T, 4);
    const grads = new Float64Array(layout.total);
    graph.step(params, grads, windows, B * T);
    const h = 1e-5;
    const pick = rng(17);
    let checked = 0;
    for (const s of layout.specs) {
      for (let j = 0; j < 6; j++) {
        const i = s.offset + Math.floor(pick() * s.size);
        const keep = params[i]!;
        params[i] = keep + h;
        const lp = graph.evalLoss(params, windows);
        params[i] = keep - h;
        const lm = graph.evalLoss(params, windows);
        params[i] = keep;
        const fd = (lp - lm) / (2 * h);
        const err = Math.abs(fd - grads[i]!) / Math.max(1e-6, Math.abs(fd) + Math.abs(grads[i]!));
        assert.ok(err < 1e-6, `${s.name}[${i - s.offset}]: analytic ${grads[i]} vs finite difference ${fd}`);
        checked++;
      }
    }
    assert.ok(checked > 50);
  });
}

interface TrainExpected { batch: number; grad_accum: number; seq_len: number; steps: Array<{ loss: number }> }

const kernelSets: Array<[string, () => KernelOps<Float32Array>]> = [
  ["reference kernels", () => referenceOps<Float32Array>()],
  ["backend kernels", () => getBackend()],
];

for (const [kname, kernels] of kernelSets) test(`loss and every gradient match PyTorch autograd (float32, fast path, ${kname})`, () => {
  const dir = path.join(fixturesDir, "train");
  const exp = JSON.parse(fs.readFileSync(path.join(dir, "expected.json"), "utf8")) as TrainExpected;
  const folder = loadModelFolder(path.join(dir, "model"));
  const c = folder.config;
  const raw = fs.readFileSync(path.join(dir, "tokens.bin"));
  const tokens = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
  const rows = exp.batch * exp.grad_accum;
  const T = exp.seq_len;
  const windows: number[] = [];
  for (let r = 0; r < rows; r++) windows.push(...tokens.subarray(r * T, r * T + T + 1));
  const graph = new TrainGraph<Float32Array>(c, rows, T, kernels(), (n) => new Float32Array(n));
  const layout = paramLayout(c);
  const grads = new Float32Array(layout.total);
  const loss = graph.step(folder.params, grads, windows, rows * T);
  assert.ok(Math.abs(loss - exp.steps[0]!.loss) < 1e-5 * exp.steps[0]!.loss, `loss ${loss} vs ${exp.steps[0]!.loss}`);
  const gfile = openSafetensors(path.join(dir, "grads.safetensors"));
  for (const s of layout.specs) {
    assertClose(grads.subarray(s.offset, s.offset + s.size), readTensorF32(gfile, s.name), 1e-4, s.name);
  }
  gfile.close();
});

test("B=4,A=1 and B=2,A=2 accumulate the same gradient", () => {
  const c = tiny;
  const T = 9;
  const layout = paramLayout(c);
  const params = initParams(c, 8, 0.2);
  const windows = windowsFor(c, 4, T, 12);
  const backend = getBackend();
  const g4 = new Float32Array(layout.total);
  const l4 = new TrainGraph<Float32Array>(c, 4, T, backend, (n) => new Float32Array(n)).step(params, g4, windows, 4 * T);
  const g22 = new Float32Array(layout.total);
  const half = new TrainGraph<Float32Array>(c, 2, T, backend, (n) => new Float32Array(n));
  let l22 = half.step(params, g22, windows.slice(0, 2 * (T + 1)), 4 * T);
  l22 += half.step(params, g22, windows.slice(2 * (T + 1)), 4 * T);
  assert.ok(Math.abs(l4 - l22) < 1e-5 * l4);
  assertClose(g22, g4, 1e-5, "accumulated gradient");
});
