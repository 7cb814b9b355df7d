/**
 * The native training kernels against their TypeScript references, on odd sizes and on sizes
 * that reach the blocked and threaded paths, on every instruction set this CPU has, with 1 and
 * 2 threads; bad arguments throw before C reads or writes anything.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NativeBackend } from "../../src/kernels/native.js";
import {
  crossEntropyForwardBackward, rmsnormApply, rmsnormBackward, rmsnormForwardStats, ropeBackward, swigluBackward,
} from "../../src/kernels/backward-reference.js";
import { attentionBackwardTrain, attentionForwardTrain } from "../../src/kernels/attention-train.js";
import { adamwSegment, sumSquares } from "../../src/kernels/optim.js";
import { nativeTrainKernels } from "../../src/kernels/train-kernels.js";
import { assertClose, randomArray } from "../helpers.js";
import { native, SKIP, testEveryConfig } from "./native-helpers.js";

const TOL = 1e-5;

/** A check: runs the native kernel and compares with the reference (computed inside). */
type Check = (be: NativeBackend, tag: string) => void;

/** out[m×n] (+)= A·B where A[i][p] = a(i, p), B[p][j] = b(p, j), float64 sums. */
function refProduct(out: Float32Array, m: number, n: number, k: number, a: (i: number, p: number) => number, b: (p: number, j: number) => number, acc: boolean): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a(i, p) * b(p, j);
      out[i * n + j] = (acc ? out[i * n + j]! : 0) + s;
    }
  }
}

function matmulVariantCheck(kind: "NN" | "TN", m: number, n: number, k: number, accumulate: boolean, seed: number): Check {
  const a = randomArray(m * k, seed);
  const b = randomArray(k * n, seed + 1);
  const init = randomArray(m * n, seed + 2);
  const expected = new Float32Array(init);
  if (kind === "NN") refProduct(expected, m, n, k, (i, p) => a[i * k + p]!, (p, j) => b[p * n + j]!, accumulate);
  else refProduct(expected, m, n, k, (i, p) => a[p * m + i]!, (p, j) => b[p * n + j]!, accumulate);
  return (be, tag) => {
    const out = accumulate ? new Float32Array(init) : new Float32Array(m * n).fill(NaN);
    if (kind === "NN") be.matmulNN(out, a, b, m, n, k, accumulate);
    else be.matmulTN(out, a, b, m, n, k, accumulate);
    assertClose(out, expected, TOL, `matmul${kind} ${m}x${n}x${k} acc=${accumulate} ${tag}`);
  };
}

function attentionCheck(B: number, T: number, nH: number, nKv: number, hd: number, accumulate: boolean, seed: number): Check {
  const qs = T * nH * hd, ks = T * nKv * hd;
  const q = randomArray(B * qs, seed, 2);
  const k = randomArray(B * ks, seed + 1, 2);
  const v = randomArray(B * ks, seed + 2);
  const dOut = randomArray(B * qs, seed + 3);
  const out = new Float32Array(B * qs);
  const lse = new Float32Array(B * T * nH);
  const init = { dq: randomArray(B * qs, seed + 4), dk: randomArray(B * ks, seed + 5), dv: randomArray(B * ks, seed + 6) };
  const dq = new Float32Array(init.dq), dk = new Float32Array(init.dk), dv = new Float32Array(init.dv);
  for (let b = 0; b < B; b++) {
    const Q = (a: Float32Array) => a.subarray(b * qs, (b + 1) * qs);
    const K = (a: Float32Array) => a.subarray(b * ks, (b + 1) * ks);
    const L = lse.subarray(b * T * nH, (b + 1) * T * nH);
    attentionForwardTrain(Q(out), L, Q(q), K(k), K(v), T, nH, nKv, hd);
    attentionBackwardTrain(Q(dq), K(dk), K(dv), Q(dOut), Q(q), K(k), K(v), Q(out), L, T, nH, nKv, hd, undefined, accumulate);
  }
  const name = `attention B=${B} T=${T} heads=${nH}/${nKv} hd=${hd} acc=${accumulate}`;
  return (be, tag) => {
    const o = new Float32Array(B * qs).fill(NaN);
    const l = new Float32Array(B * T * nH).fill(NaN);
    be.attentionTrainForward(o, l, q, k, v, B, T, nH, nKv, hd);
    assertClose(o, out, TOL, `${name} out ${tag}`);
    assertClose(l, lse, TOL, `${name} lse ${tag}`);
    const fill = (a: Float32Array, n: number) => (accumulate ? new Float32Array(a) : new Float32Array(n).fill(NaN));
    const gq = fill(init.dq, B * qs), gk = fill(init.dk, B * ks), gv = fill(init.dv, B * ks);
    // from the reference forward's out and lse, so the backward is checked on its own
    be.attentionTrainBackward(gq, gk, gv, dOut, q, k, v, out, lse, B, T, nH, nKv, hd, accumulate);
    assertClose(gq, dq, TOL, `${name} dq ${tag}`);
    assertClose(gk, dk, TOL, `${name} dk ${tag}`);
    assertClose(gv, dv, TOL, `${name} dv ${tag}`);
  };
}

function crossEntropyCheck(rows: number, vocab: number, seed: number): Check {
  const logits = randomArray(rows * vocab, seed, 6);
  const targets = new Int32Array(rows).map((_, r) => (r === 1 ? -1 : (r * 7919 + seed) % vocab));
  const expected = new Float32Array(logits);
  const loss = crossEntropyForwardBackward(expected, targets, rows, vocab, rows * 3);
  return (be, tag) => {
    const z = new Float32Array(logits);
    const l = be.crossEntropy(z, targets, rows, vocab, rows * 3);
    assert.ok(Math.abs(l - loss) <= 1e-6 * Math.abs(loss), `crossEntropy ${rows}x${vocab} loss ${l} vs ${loss} ${tag}`);
    assertClose(z, expected, TOL, `crossEntropy ${rows}x${vocab} gradient ${tag}`);
  };
}

function rmsnormCheck(rows: number, dim: number, accumulate: boolean, withWeight: boolean, seed: number): Check {
  const x = randomArray(rows * dim, seed, 3);
  const w = randomArray(dim, seed + 1);
  const dOut = randomArray(rows * dim, seed + 2);
  const dx0 = randomArray(rows * dim, seed + 3);
  const dw0 = randomArray(dim, seed + 4);
  const out = new Float32Array(rows * dim);
  const inv = new Float32Array(rows);
  rmsnormForwardStats(out, inv, x, w, rows, dim, 1e-5);
  const applied = new Float32Array(rows * dim);
  rmsnormApply(applied, x, w, inv, rows, dim);
  const dx = new Float32Array(dx0), dw = new Float32Array(dw0);
  rmsnormBackward(dx, withWeight ? dw : null, dOut, x, w, inv, rows, dim, accumulate);
  const name = `rmsnorm ${rows}x${dim} acc=${accumulate} dW=${withWeight}`;
  return (be, tag) => {
    const o = new Float32Array(rows * dim).fill(NaN), iv = new Float32Array(rows).fill(NaN);
    be.rmsnormStats(o, iv, x, w, rows, dim, 1e-5);
    assertClose(o, out, TOL, `${name} out ${tag}`);
    assertClose(iv, inv, TOL, `${name} invRms ${tag}`);
    const a = new Float32Array(rows * dim).fill(NaN);
    be.rmsnormApply(a, x, w, inv, rows, dim);
    assertClose(a, applied, TOL, `${name} apply ${tag}`);
    const gx = accumulate ? new Float32Array(dx0) : new Float32Array(rows * dim).fill(NaN);
    const gw = new Float32Array(dw0);
    be.rmsnormBackward(gx, withWeight ? gw : null, dOut, x, w, inv, rows, dim, accumulate);
    assertClose(gx, dx, TOL, `${name} dx ${tag}`);
    assertClose(gw, dw, TOL, `${name} dWeight ${tag}`);
  };
}

function swigluCheck(n: number, seed: number): Check {
  const gate = randomArray(n, seed, 8);
  const up = randomArray(n, seed + 1);
  const dOut = randomArray(n, seed + 2);
  const dg = new Float32Array(n), du = new Float32Array(n);
  swigluBackward(dg, du, dOut, gate, up, n);
  return (be, tag) => {
    const g = new Float32Array(n).fill(NaN), u = new Float32Array(n).fill(NaN);
    be.swigluBackward(g, u, dOut, gate, up, n);
    assertClose(g, dg, TOL, `swigluBackward ${n} dGate ${tag}`);
    assertClose(u, du, TOL, `swigluBackward ${n} dUp ${tag}`);
  };
}

function ropeBackwardCheck(rows: number, nH: number, hd: number, seed: number): Check {
  const half = hd / 2;
  const cos = new Float32Array(rows * half), sin = new Float32Array(rows * half);
  for (let p = 0; p < rows; p++) {
    for (let i = 0; i < half; i++) {
      const th = p * Math.pow(10000, (-2 * i) / hd);
      cos[p * half + i] = Math.cos(th);
      sin[p * half + i] = Math.sin(th);
    }
  }
  const g = randomArray(rows * nH * hd, seed);
  const expected = new Float32Array(g);
  ropeBackward(expected, rows, nH, hd, 0, cos, sin);
  return (be, tag) => {
    const x = new Float32Array(g);
    nativeTrainKernels(be).ropeBackward(x, rows, nH, hd, 0, cos, sin);
    assertClose(x, expected, TOL, `ropeBackward ${rows}x${nH}x${hd} ${tag}`);
  };
}

function adamwCheck(n: number, start: number, end: number, seed: number): Check {
  const p0 = randomArray(n, seed), g = randomArray(n, seed + 1, 3), m0 = randomArray(n, seed + 2, 0.1);
  const v0 = randomArray(n, seed + 3, 0.1).map(Math.abs);
  const args = [0.999, 0.7, 0.9, 0.95, 1e-8, 1e-3 / (1 - 0.9 ** 3), Math.sqrt(1 - 0.95 ** 3)] as const;
  const p = new Float32Array(p0), m = new Float32Array(m0), v = new Float32Array(v0);
  adamwSegment(p, g, m, v, start, end, ...args);
  return (be, tag) => {
    const P = new Float32Array(p0), M = new Float32Array(m0), V = new Float32Array(v0);
    be.adamwSegment(P, g, M, V, start, end, ...args);
    // the same float64 arithmetic per element: equal to the last bit
    assert.deepEqual(P, p, `adamw params ${tag}`);
    assert.deepEqual(M, m, `adamw m ${tag}`);
    assert.deepEqual(V, v, `adamw v ${tag}`);
  };
}

function sumSquaresCheck(n: number, seed: number): Check {
  const x = randomArray(n, seed, 2);
  const expected = sumSquares(x, n);
  return (be, tag) => {
    const s = be.sumSquares(x, n);
    assert.ok(Math.abs(s - expected) <= 1e-12 * expected, `sumSquares ${n}: ${s} vs ${expected} ${tag}`);
  };
}

const checks: Check[] = [
  matmulVariantCheck("NN", 1, 1, 1, false, 1),
  matmulVariantCheck("NN", 37, 53, 71, false, 3),
  matmulVariantCheck("NN", 37, 53, 71, true, 5),
  matmulVariantCheck("NN", 5, 45, 17, true, 7),
  matmulVariantCheck("NN", 129, 257, 300, true, 9), // several k blocks, partial tiles
  matmulVariantCheck("NN", 21, 1100, 24, false, 11), // several column blocks
  matmulVariantCheck("NN", 3, 7, 0, false, 12), // k = 0 zeroes
  matmulVariantCheck("TN", 1, 1, 1, true, 13),
  matmulVariantCheck("TN", 37, 53, 71, false, 15),
  matmulVariantCheck("TN", 61, 29, 300, true, 17),
  matmulVariantCheck("TN", 150, 35, 19, false, 19),
  matmulVariantCheck("TN", 3, 7, 0, true, 20), // k = 0 leaves out as is
  attentionCheck(1, 1, 1, 1, 4, false, 21),
  attentionCheck(2, 70, 4, 2, 12, false, 23), // a partial second block, GQA
  attentionCheck(1, 130, 6, 3, 13, true, 25), // odd head size, three blocks, accumulate
  attentionCheck(3, 17, 5, 1, 48, false, 27), // one kv head for five query heads
  attentionCheck(1, 64, 2, 2, 66, false, 29), // exactly one block; head size past 64
  crossEntropyCheck(1, 1, 31),
  crossEntropyCheck(5, 1003, 33),
  crossEntropyCheck(9, 3001, 35),
  rmsnormCheck(7, 53, false, true, 41),
  rmsnormCheck(300, 531, true, true, 43),
  rmsnormCheck(5, 17, true, false, 45),
  swigluCheck(1001, 51),
  swigluCheck(100003, 53),
  ropeBackwardCheck(9, 3, 10, 55),
  adamwCheck(1001, 0, 1001, 61),
  adamwCheck(200003, 17, 150001, 63),
  sumSquaresCheck(1, 71),
  sumSquaresCheck(300007, 73),
];

testEveryConfig("native training kernels equal the references", (be, tag) => {
  for (const c of checks) c(be, tag);
});

test("native training kernels reject bad arguments before touching memory", { skip: SKIP }, () => {
  const be = native!;
  const f = (n: number) => new Float32Array(n);
  assert.throws(() => be.matmulNN(f(5), f(6), f(6), 2, 3, 3, false), /out has 5 elements/);
  assert.throws(() => be.matmulTN(f(6), f(5), f(9), 2, 3, 3, false), /a has 5 elements/);
  assert.throws(() => be.matmulNN(f(6), f(6), f(6), 2, 3, 3, 1 as unknown as boolean), /accumulate must be a boolean/);
  assert.throws(() => be.attentionTrainForward(f(24), f(4), f(24), f(11), f(12), 1, 2, 2, 1, 6), /k has 11 elements/);
  assert.throws(() => be.attentionTrainForward(f(24), f(3), f(24), f(12), f(12), 1, 2, 2, 1, 6), /lse has 3 elements/);
  assert.throws(() => be.attentionTrainForward(f(24), f(4), f(24), f(12), f(12), 1, 2, 3, 2, 4), /multiple of nKvHeads/);
  assert.throws(
    () => be.attentionTrainBackward(f(24), f(12), f(12), f(23), f(24), f(12), f(12), f(24), f(4), 1, 2, 2, 1, 6, false),
    /dOut has 23 elements/,
  );
  assert.throws(() => be.crossEntropy(f(10), new Int32Array([1, 5]), 2, 5, 2), /target 5/);
  assert.throws(() => be.crossEntropy(f(9), new Int32Array([1, 2]), 2, 5, 2), /logits has 9 elements/);
  assert.throws(() => be.crossEntropy(f(10), new Int32Array([1]), 2, 5, 2), /targets has 1 elements/);
  assert.throws(() => be.rmsnormBackward(f(6), f(2), f(6), f(6), f(3), f(2), 2, 3, false), /dWeight has 2 elements/);
  assert.throws(() => be.rmsnormStats(f(6), f(1), f(6), f(3), 2, 3, 1e-5), /invRms has 1 elements/);
  assert.throws(() => be.swigluBackward(f(4), f(4), f(3), f(4), f(4), 4), /dOut has 3 elements/);
  assert.throws(() => be.adamwSegment(f(4), f(4), f(3), f(4), 0, 4, 1, 1, 0.9, 0.95, 1e-8, 1e-3, 1), /m has 3 elements/);
  assert.throws(() => be.adamwSegment(f(4), f(4), f(4), f(4), 3, 2, 1, 1, 0.9, 0.95, 1e-8, 1e-3, 1), /end \(2\) < start/);
  assert.throws(() => be.sumSquares(f(3), 4), /x has 3 elements/);
  assert.throws(() => be.sumSquares(new Float64Array(4) as unknown as Float32Array, 4), /Float32Array/);
});
