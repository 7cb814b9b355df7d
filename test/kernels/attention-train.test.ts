import { test } from "node:test";
import assert from "node:assert/strict";
import * as ref from "../../src/kernels/ops/attention.js";
import {
  attentionBackwardReference, attentionBackwardTrain, attentionForwardReference, attentionForwardTrain,
  causalTileCount, createAttentionTrainScratch,
} from "../../src/kernels/ops/attention-train.js";
import { assertClose, rng } from "../helpers.js";

function rand64(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}
function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
function numericGrad(x: Float64Array, f: () => number, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i]!;
    x[i] = x0 + h; const fp = f();
    x[i] = x0 - h; const fm = f();
    x[i] = x0;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

interface Case { T: number; nHeads: number; nKv: number; hd: number }

/** q, k scaled up (×2.5) so attention is far from uniform: mask and GQA bugs show. */
function inputs(c: Case, seed: number) {
  return {
    q: rand64(c.T * c.nHeads * c.hd, seed, 2.5),
    k: rand64(c.T * c.nKv * c.hd, seed + 1, 2.5),
    v: rand64(c.T * c.nKv * c.hd, seed + 2),
    dOut: rand64(c.T * c.nHeads * c.hd, seed + 3),
  };
}

test("reference training attention: forward equals the inference kernel; lse is the row's log-sum-exp", () => {
  const c = { T: 9, nHeads: 6, nKv: 2, hd: 4 };
  const { q, k, v } = inputs(c, 1);
  const out = new Float64Array(q.length), lse = new Float64Array(c.T * c.nHeads), want = new Float64Array(q.length);
  attentionForwardReference(out, lse, q, k, v, c.T, c.nHeads, c.nKv, c.hd);
  ref.attention(want, q, k, v, c.T, 0, c.nHeads, c.nKv, c.hd);
  assertClose(out, want, 1e-14, "out");
  // Row 0 sees only key 0: lse = score(0, 0).
  for (let h = 0; h < c.nHeads; h++) {
    const kvh = Math.floor(h / 3);
    let s = 0;
    for (let d = 0; d < c.hd; d++) s += q[h * c.hd + d]! * k[kvh * c.hd + d]!;
    assert.ok(Math.abs(lse[h]! - s / 2) < 1e-14);
  }
});

for (const c of [{ T: 7, nHeads: 6, nKv: 2, hd: 4 }, { T: 6, nHeads: 3, nKv: 3, hd: 5 }]) {
  test(`reference attention backward matches finite differences (T=${c.T}, nHeads=${c.nHeads}, nKv=${c.nKv})`, () => {
    const { q, k, v, dOut } = inputs(c, 10);
    const out = new Float64Array(q.length), lse = new Float64Array(c.T * c.nHeads);
    const f = (): number => { attentionForwardReference(out, lse, q, k, v, c.T, c.nHeads, c.nKv, c.hd); return dot(out, dOut); };
    const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
    attentionBackwardReference(dq, dk, dv, dOut, q, k, v, c.T, c.nHeads, c.nKv, c.hd);
    assertClose(dq, numericGrad(q, f), 1e-7, "dq");
    assertClose(dk, numericGrad(k, f), 1e-7, "dk");
    assertClose(dv, numericGrad(v, f), 1e-7, "dv");
  });
}

test("tiled attention backward matches finite differences directly (float64, T=11, blocks 4×3)", () => {
  const c = { T: 11, nHeads: 4, nKv: 2, hd: 3 };
  const { q, k, v, dOut } = inputs(c, 20);
  const sc = createAttentionTrainScratch(c.hd, 4, 3);
  const out = new Float64Array(q.length), lse = new Float64Array(c.T * c.nHeads);
  const f = (): number => { attentionForwardTrain(out, lse, q, k, v, c.T, c.nHeads, c.nKv, c.hd, sc); return dot(out, dOut); };
  f();
  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  attentionBackwardTrain(dq, dk, dv, dOut, q, k, v, out, lse, c.T, c.nHeads, c.nKv, c.hd, sc);
  assertClose(dq, numericGrad(q, f), 1e-7, "dq");
  assertClose(dk, numericGrad(k, f), 1e-7, "dk");
  assertClose(dv, numericGrad(v, f), 1e-7, "dv");
});

const tiled: Array<Case & { bq: number; bk: number }> = [
  { T: 37, nHeads: 6, nKv: 2, hd: 8, bq: 8, bk: 5 },
  { T: 37, nHeads: 6, nKv: 2, hd: 8, bq: 5, bk: 16 },
  { T: 37, nHeads: 4, nKv: 4, hd: 7, bq: 10, bk: 10 },
  { T: 37, nHeads: 6, nKv: 2, hd: 8, bq: 64, bk: 64 }, // one tile
  { T: 37, nHeads: 3, nKv: 1, hd: 6, bq: 1, bk: 1 }, // row-by-key tiles
];

for (const c of tiled) {
  test(`tiled attention = reference, float64 (T=${c.T}, nHeads=${c.nHeads}, nKv=${c.nKv}, blocks ${c.bq}×${c.bk}); masked tiles skipped`, () => {
    const { q, k, v, dOut } = inputs(c, 30 + c.bq);
    const sc = createAttentionTrainScratch(c.hd, c.bq, c.bk);
    const out = new Float64Array(q.length), lse = new Float64Array(c.T * c.nHeads);
    const outR = new Float64Array(q.length), lseR = new Float64Array(c.T * c.nHeads);
    const tilesF = attentionForwardTrain(out, lse, q, k, v, c.T, c.nHeads, c.nKv, c.hd, sc);
    attentionForwardReference(outR, lseR, q, k, v, c.T, c.nHeads, c.nKv, c.hd);
    assertClose(out, outR, 1e-13, "out");
    assertClose(lse, lseR, 1e-13, "lse");

    const dq = new Float64Array(q.length).fill(NaN), dk = new Float64Array(k.length).fill(NaN), dv = new Float64Array(v.length).fill(NaN);
    const dqR = new Float64Array(q.length), dkR = new Float64Array(k.length), dvR = new Float64Array(v.length);
    const tilesB = attentionBackwardTrain(dq, dk, dv, dOut, q, k, v, out, lse, c.T, c.nHeads, c.nKv, c.hd, sc);
    attentionBackwardReference(dqR, dkR, dvR, dOut, q, k, v, c.T, c.nHeads, c.nKv, c.hd);
    assertClose(dq, dqR, 1e-12, "dq");
    assertClose(dk, dkR, 1e-12, "dk");
    assertClose(dv, dvR, 1e-12, "dv");

    // Tile accounting: exactly the tiles on or below the diagonal, fewer than the full grid.
    const want = causalTileCount(c.T, c.nHeads, c.bq, c.bk);
    let brute = 0;
    for (let i0 = 0; i0 < c.T; i0 += c.bq) {
      for (let j0 = 0; j0 < c.T; j0 += c.bk) if (j0 <= Math.min(c.T, i0 + c.bq) - 1) brute++;
    }
    assert.equal(want, brute * c.nHeads);
    assert.equal(tilesF, want, "forward tiles");
    assert.equal(tilesB, want, "backward tiles");
    const full = Math.ceil(c.T / c.bq) * Math.ceil(c.T / c.bk) * c.nHeads;
    if (full > c.nHeads) assert.ok(want < full, `causal ${want} < full ${full}`);

    // accumulate = true adds to existing gradients.
    attentionBackwardTrain(dq, dk, dv, dOut, q, k, v, out, lse, c.T, c.nHeads, c.nKv, c.hd, sc, true);
    assertClose(dq, dqR.map((x) => 2 * x), 1e-12, "dq accumulates");
    assertClose(dk, dkR.map((x) => 2 * x), 1e-12, "dk accumulates");
    assertClose(dv, dvR.map((x) => 2 * x), 1e-12, "dv accumulates");
  });
}

test("tiled attention in float32 matches the float64 reference to float32 precision", () => {
  const c = { T: 37, nHeads: 6, nKv: 2, hd: 8 };
  const { q, k, v, dOut } = inputs(c, 50);
  const q32 = Float32Array.from(q), k32 = Float32Array.from(k), v32 = Float32Array.from(v), d32 = Float32Array.from(dOut);
  const sc = createAttentionTrainScratch(c.hd, 16, 8);
  const out = new Float32Array(q.length), lse = new Float32Array(c.T * c.nHeads);
  attentionForwardTrain(out, lse, q32, k32, v32, c.T, c.nHeads, c.nKv, c.hd, sc);
  const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(v.length);
  attentionBackwardTrain(dq, dk, dv, d32, q32, k32, v32, out, lse, c.T, c.nHeads, c.nKv, c.hd, sc);
  // Reference on the same (float32-rounded) inputs, in float64.
  const q64 = Float64Array.from(q32), k64 = Float64Array.from(k32), v64 = Float64Array.from(v32), d64 = Float64Array.from(d32);
  const outR = new Float64Array(q.length), lseR = new Float64Array(c.T * c.nHeads);
  attentionForwardReference(outR, lseR, q64, k64, v64, c.T, c.nHeads, c.nKv, c.hd);
  const dqR = new Float64Array(q.length), dkR = new Float64Array(k.length), dvR = new Float64Array(v.length);
  attentionBackwardReference(dqR, dkR, dvR, d64, q64, k64, v64, c.T, c.nHeads, c.nKv, c.hd);
  assertClose(out, outR, 1e-6, "out");
  assertClose(lse, lseR, 1e-6, "lse");
  assertClose(dq, dqR, 1e-5, "dq");
  assertClose(dk, dkR, 1e-5, "dk");
  assertClose(dv, dvR, 1e-5, "dv");
});

test("attention-train rejects a head count that is not a multiple of the kv heads, and a mismatched scratch", () => {
  const sc = createAttentionTrainScratch(4);
  const z = new Float64Array(64);
  assert.throws(() => attentionForwardTrain(z, z, z, z, z, 2, 3, 2, 4, sc), /multiple of nKvHeads/);
  assert.throws(() => attentionForwardTrain(z, z, z, z, z, 2, 2, 2, 8, sc), /headDim/);
});
