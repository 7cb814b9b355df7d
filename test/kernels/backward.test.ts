import { test } from "node:test";
import assert from "node:assert/strict";
import * as mm from "../../src/kernels/ops/matmul.js";
import * as rms from "../../src/kernels/ops/rmsnorm.js";
import * as rp from "../../src/kernels/ops/rope.js";
import * as sw from "../../src/kernels/ops/swiglu.js";
import * as emb from "../../src/kernels/ops/embedding.js";
import { crossEntropy } from "../../src/kernels/ops/cross-entropy.js";
import { assertClose, rng } from "../helpers.js";

/** Random float64 array in [-scale, scale). */
function rand64(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/**
 * Central finite differences of a scalar function f with respect to every entry of x
 * (x is perturbed in place and restored): (f(x + h e_i) − f(x − h e_i)) / 2h.
 */
function numericGrad(x: Float64Array, f: () => number, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i]!;
    x[i] = x0 + h;
    const fp = f();
    x[i] = x0 - h;
    const fm = f();
    x[i] = x0;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

const TOL = 1e-7;

/** A linear layer's backward (out = a · wᵀ): dA (+)= dOut · w with matmulNN, dW += dOutᵀ · a with matmulTN. */
function matmulBackward(
  dA: Float64Array | null, dW: Float64Array | null, dOut: Float64Array, a: Float64Array, w: Float64Array,
  m: number, n: number, k: number, accumulate: boolean,
): void {
  if (dA !== null) mm.matmulNN(dA, dOut, w, m, k, n, accumulate);
  if (dW !== null) mm.matmulTN(dW, dOut, a, n, k, m, true);
}

test("matmulNN / matmulTN give the linear layer's gradients (finite differences, odd sizes); dW accumulates, dA honours `accumulate`", () => {
  const m = 5, n = 7, k = 3;
  const a = rand64(m * k, 1), w = rand64(n * k, 2), R = rand64(m * n, 3);
  const out = new Float64Array(m * n);
  const f = (): number => { mm.matmul(out, a, w, m, n, k); return dot(out, R); };
  const dA = new Float64Array(m * k), dW = new Float64Array(n * k);
  matmulBackward(dA, dW, R, a, w, m, n, k, false);
  assertClose(dA, numericGrad(a, f), TOL, "dA");
  assertClose(dW, numericGrad(w, f), TOL, "dW");

  // Second call: dW doubles (always +=); dA is overwritten without the flag, doubled with it.
  const dW1 = Float64Array.from(dW), dA1 = Float64Array.from(dA);
  matmulBackward(dA, dW, R, a, w, m, n, k, false);
  assertClose(dW, dW1.map((x) => 2 * x), 1e-15, "dW accumulates");
  assertClose(dA, dA1, 1e-15, "dA overwritten");
  matmulBackward(dA, null, R, a, w, m, n, k, true);
  assertClose(dA, dA1.map((x) => 2 * x), 1e-15, "dA accumulates");
  matmulBackward(null, dW, R, a, w, m, n, k, true);
  assertClose(dW, dW1.map((x) => 3 * x), 1e-15, "dW accumulates (dA skipped)");
});

test("rmsnormStats equals the forward rmsnorm; rmsnormApply recomputes it from invRms", () => {
  const rows = 3, dim = 11, eps = 1e-5;
  const x = rand64(rows * dim, 4), w = rand64(dim, 5);
  const want = new Float64Array(rows * dim), got = new Float64Array(rows * dim), again = new Float64Array(rows * dim);
  const inv = new Float64Array(rows);
  rms.rmsnorm(want, x, w, rows, dim, eps);
  rms.rmsnormStats(got, inv, x, w, rows, dim, eps);
  rms.rmsnormApply(again, x, w, inv, rows, dim);
  assertClose(got, want, 1e-15, "out");
  assertClose(again, want, 1e-15, "recomputed");
});

test("rmsnormBackward matches finite differences in x and weight", () => {
  const rows = 3, dim = 13, eps = 1e-5;
  const x = rand64(rows * dim, 6), w = rand64(dim, 7, 2), R = rand64(rows * dim, 8);
  const out = new Float64Array(rows * dim), inv = new Float64Array(rows);
  const f = (): number => { rms.rmsnormStats(out, inv, x, w, rows, dim, eps); return dot(out, R); };
  f();
  const dx = new Float64Array(rows * dim), dWeight = new Float64Array(dim);
  rms.rmsnormBackward(dx, dWeight, R, x, w, inv, rows, dim);
  assertClose(dx, numericGrad(x, f), TOL, "dx");
  assertClose(dWeight, numericGrad(w, f), TOL, "dWeight");
  // accumulate flag on dx, dWeight always +=
  const dx1 = Float64Array.from(dx), dw1 = Float64Array.from(dWeight);
  rms.rmsnormBackward(dx, dWeight, R, x, w, inv, rows, dim, true);
  assertClose(dx, dx1.map((v) => 2 * v), 1e-15, "dx accumulates");
  assertClose(dWeight, dw1.map((v) => 2 * v), 1e-15, "dWeight accumulates");
});

test("ropeBackward (in place) matches finite differences and inverts the forward", () => {
  const rows = 5, nHeads = 3, headDim = 6, pos0 = 2, half = headDim / 2, maxPos = pos0 + rows;
  const cos = new Float64Array(maxPos * half), sin = new Float64Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      const ang = p * Math.pow(10000, (-2 * i) / headDim);
      cos[p * half + i] = Math.cos(ang);
      sin[p * half + i] = Math.sin(ang);
    }
  }
  const n = rows * nHeads * headDim;
  const x = rand64(n, 9), R = rand64(n, 10);
  const y = new Float64Array(n);
  const f = (): number => { y.set(x); rp.rope(y, rows, nHeads, headDim, pos0, cos, sin); return dot(y, R); };
  const dx = Float64Array.from(R);
  rp.ropeBackward(dx, rows, nHeads, headDim, pos0, cos, sin);
  assertClose(dx, numericGrad(x, f), TOL, "dx");
  // Orthogonal: the backward applied to rope(x) gives x back.
  y.set(x);
  rp.rope(y, rows, nHeads, headDim, pos0, cos, sin);
  rp.ropeBackward(y, rows, nHeads, headDim, pos0, cos, sin);
  assertClose(y, x, 1e-14, "R^T R x = x");
});

test("swigluBackward matches finite differences; dGate may alias dOut", () => {
  const n = 29;
  const gate = rand64(n, 11, 4), up = rand64(n, 12, 2), R = rand64(n, 13);
  const out = new Float64Array(n);
  const f = (): number => { sw.swiglu(out, gate, up, n); return dot(out, R); };
  const dGate = new Float64Array(n), dUp = new Float64Array(n);
  sw.swigluBackward(dGate, dUp, R, gate, up, n);
  assertClose(dGate, numericGrad(gate, f), TOL, "dGate");
  assertClose(dUp, numericGrad(up, f), TOL, "dUp");
  const alias = Float64Array.from(R), dUp2 = new Float64Array(n);
  sw.swigluBackward(alias, dUp2, alias, gate, up, n);
  assertClose(alias, dGate, 1e-15, "aliased dGate");
  assertClose(dUp2, dUp, 1e-15, "aliased dUp");
});

test("embeddingForward picks rows; embeddingBackward scatter-adds (repeated ids) and matches finite differences", () => {
  const vocab = 7, dim = 5, n = 9;
  const ids = new Int32Array([3, 0, 6, 3, 3, 1, 6, 2, 0]);
  const table = rand64(vocab * dim, 14), R = rand64(n * dim, 15);
  const out = new Float64Array(n * dim);
  emb.embeddingForward(out, table, ids, n, dim);
  for (let t = 0; t < n; t++) for (let i = 0; i < dim; i++) assert.equal(out[t * dim + i], table[ids[t]! * dim + i]);
  const f = (): number => { emb.embeddingForward(out, table, ids, n, dim); return dot(out, R); };
  const dTable = new Float64Array(vocab * dim);
  emb.embeddingBackward(dTable, R, ids, n, dim);
  assertClose(dTable, numericGrad(table, f), TOL, "dTable");
  for (let i = 0; i < dim; i++) assert.equal(dTable[4 * dim + i], 0, "unused row 4 has no gradient");
  const once = Float64Array.from(dTable);
  emb.embeddingBackward(dTable, R, new Uint16Array(ids), n, dim);
  assertClose(dTable, once.map((v) => 2 * v), 1e-15, "dTable accumulates");
});

test("crossEntropy: loss and dLogits match finite differences; ignored targets", () => {
  const rows = 5, vocab = 11, total = 13;
  const logits = rand64(rows * vocab, 16, 3);
  const targets = new Int32Array([4, 0, 10, -1, 7]);
  const scratch = new Float64Array(rows * vocab);
  const f = (): number => { scratch.set(logits); return crossEntropy(scratch, targets, rows, vocab, total); };
  const d = Float64Array.from(logits);
  const rowLoss = new Float64Array(rows);
  const loss = crossEntropy(d, targets, rows, vocab, total, rowLoss);
  // Direct loss: Σ −log softmax(z)[y] / total.
  let want = 0;
  for (let r = 0; r < rows; r++) {
    if (targets[r]! < 0) { assert.equal(rowLoss[r], 0); continue; }
    let s = 0;
    for (let i = 0; i < vocab; i++) s += Math.exp(logits[r * vocab + i]!);
    const l = Math.log(s) - logits[r * vocab + targets[r]!]!;
    assert.ok(Math.abs(rowLoss[r]! - l) < 1e-12, `row ${r} loss`);
    want += l;
  }
  assert.ok(Math.abs(loss - want / total) < 1e-12, `loss ${loss} vs ${want / total}`);
  assertClose(d, numericGrad(logits, f), TOL, "dLogits");
  for (let i = 0; i < vocab; i++) assert.equal(d[3 * vocab + i], 0, "ignored row has zero gradient");
});

test("crossEntropy in chunks equals one call over all rows (sum of returns = mean loss)", () => {
  const rows = 10, vocab = 9;
  const logits = rand64(rows * vocab, 17, 5);
  const r = rng(18);
  const targets = Int32Array.from({ length: rows }, () => Math.floor(r() * vocab));
  const whole = Float64Array.from(logits);
  const lossWhole = crossEntropy(whole, targets, rows, vocab, rows);
  let lossChunks = 0;
  const chunked = new Float64Array(rows * vocab);
  for (const [r0, r1] of [[0, 3], [3, 7], [7, 10]] as const) {
    const buf = Float64Array.from(logits.subarray(r0 * vocab, r1 * vocab));
    lossChunks += crossEntropy(buf, targets.subarray(r0, r1), r1 - r0, vocab, rows);
    chunked.set(buf, r0 * vocab);
  }
  assert.ok(Math.abs(lossWhole - lossChunks) < 1e-13);
  assertClose(chunked, whole, 1e-15, "chunked dLogits");
  // Large logits do not overflow (max subtraction), in float32 too.
  const big = new Float32Array([1000, 0, -1000, 999]);
  const l = crossEntropy(big, [3], 1, 4, 1);
  assert.ok(Math.abs(l - (Math.log(1 + Math.exp(-1)) + 1)) < 1e-6, `loss ${l}`);
  assert.throws(() => crossEntropy(new Float64Array(4), [4], 1, 4, 1), /outside the vocabulary/);
});
