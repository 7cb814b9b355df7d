/**
 * The kernel cases every fast backend is compared on (native.test.ts, native-train.test.ts,
 * wasm.test.ts): each op against its TypeScript reference on odd sizes and on sizes that reach
 * the blocked and threaded paths. A case computes its reference once and runs on any object
 * with the backend ops (`KernelsUnderTest`).
 */
import assert from "node:assert/strict";
import * as ref from "../../src/kernels/reference.js";
import type { NativeBackend } from "../../src/kernels/native.js";
import {
  crossEntropyForwardBackward, rmsnormApply, rmsnormBackward, rmsnormForwardStats, ropeBackward, swigluBackward,
} from "../../src/kernels/backward-reference.js";
import { attentionBackwardTrain, attentionForwardTrain } from "../../src/kernels/attention-train.js";
import { adamwSegment, sumSquares } from "../../src/kernels/optim.js";
import { nativeTrainKernels } from "../../src/kernels/train-kernels.js";
import { assertClose, randomArray } from "../helpers.js";

/** The ops a fast backend shares with the native one (same names and signatures). */
export type KernelsUnderTest = Pick<NativeBackend,
  | "matmul" | "matvec" | "rmsnorm" | "rope" | "attention" | "swiglu" | "addInPlace"
  | "matmulNN" | "matmulTN" | "attentionTrainForward" | "attentionTrainBackward" | "crossEntropy"
  | "rmsnormStats" | "rmsnormApply" | "rmsnormBackward" | "swigluBackward" | "adamwSegment" | "sumSquares">;

const TOL = 1e-5;

export function copy(a: Float32Array): Float32Array {
  return new Float32Array(a);
}

/** A case: inputs, the reference answer (computed once), and a run on a backend. */
export interface Case {
  name: string;
  expected: () => Float32Array;
  actual: (be: KernelsUnderTest) => Float32Array;
}

const cache = new Map<string, Float32Array>();
function once(key: string, f: () => Float32Array): () => Float32Array {
  return () => {
    let v = cache.get(key);
    if (!v) {
      v = f();
      cache.set(key, v);
    }
    return v;
  };
}

function matmulCase(m: number, n: number, k: number, seed: number): Case {
  const a = randomArray(m * k, seed);
  const w = randomArray(n * k, seed + 1);
  const name = `matmul ${m}x${n}x${k}`;
  return {
    name,
    expected: once(name, () => {
      const out = new Float32Array(m * n);
      ref.matmul(out, a, w, m, n, k);
      return out;
    }),
    actual: (be) => {
      const out = new Float32Array(m * n).fill(NaN); // every element must be written
      be.matmul(out, a, w, m, n, k);
      return out;
    },
  };
}

function matvecCase(n: number, k: number, seed: number): Case {
  const w = randomArray(n * k, seed);
  const x = randomArray(k, seed + 1);
  const name = `matvec ${n}x${k}`;
  return {
    name,
    expected: once(name, () => {
      const out = new Float32Array(n);
      ref.matvec(out, w, x, n, k);
      return out;
    }),
    actual: (be) => {
      const out = new Float32Array(n).fill(NaN);
      be.matvec(out, w, x, n, k);
      return out;
    },
  };
}

function rmsnormCase(rows: number, dim: number, seed: number): Case {
  const x = randomArray(rows * dim, seed, 3);
  const wt = randomArray(dim, seed + 1);
  const name = `rmsnorm ${rows}x${dim}`;
  return {
    name,
    expected: once(name, () => {
      const out = new Float32Array(rows * dim);
      ref.rmsnorm(out, x, wt, rows, dim, 1e-5);
      return out;
    }),
    actual: (be) => {
      const out = new Float32Array(rows * dim).fill(NaN);
      be.rmsnorm(out, x, wt, rows, dim, 1e-5);
      return out;
    },
  };
}

export function ropeTables(maxPos: number, headDim: number): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      const theta = p * Math.pow(10000, (-2 * i) / headDim);
      cos[p * half + i] = Math.cos(theta);
      sin[p * half + i] = Math.sin(theta);
    }
  }
  return { cos, sin };
}

function ropeCase(rows: number, nHeads: number, headDim: number, pos0: number, seed: number): Case {
  const x = randomArray(rows * nHeads * headDim, seed);
  const { cos, sin } = ropeTables(pos0 + rows + 3, headDim);
  const name = `rope ${rows}x${nHeads}x${headDim}@${pos0}`;
  return {
    name,
    expected: once(name, () => {
      const out = copy(x);
      ref.rope(out, rows, nHeads, headDim, pos0, cos, sin);
      return out;
    }),
    actual: (be) => {
      const out = copy(x);
      be.rope(out, rows, nHeads, headDim, pos0, cos, sin);
      return out;
    },
  };
}

function attentionCase(rows: number, pos0: number, nHeads: number, nKv: number, headDim: number, seed: number): Case {
  const q = randomArray(rows * nHeads * headDim, seed, 2);
  const k = randomArray((pos0 + rows) * nKv * headDim, seed + 1, 2);
  const v = randomArray((pos0 + rows) * nKv * headDim, seed + 2);
  const name = `attention rows=${rows} pos0=${pos0} heads=${nHeads}/${nKv} hd=${headDim}`;
  return {
    name,
    expected: once(name, () => {
      const out = new Float32Array(rows * nHeads * headDim);
      ref.attention(out, q, k, v, rows, pos0, nHeads, nKv, headDim);
      return out;
    }),
    actual: (be) => {
      const out = new Float32Array(rows * nHeads * headDim).fill(NaN);
      be.attention(out, q, k, v, rows, pos0, nHeads, nKv, headDim);
      return out;
    },
  };
}

function swigluCase(n: number, seed: number): Case {
  const gate = randomArray(n, seed, 8);
  const up = randomArray(n, seed + 1);
  const name = `swiglu ${n}`;
  return {
    name,
    expected: once(name, () => {
      const out = new Float32Array(n);
      ref.swiglu(out, gate, up, n);
      return out;
    }),
    actual: (be) => {
      const out = new Float32Array(n).fill(NaN);
      be.swiglu(out, gate, up, n);
      return out;
    },
  };
}

function addCase(n: number, seed: number): Case {
  const x = randomArray(n, seed);
  const y = randomArray(n, seed + 1);
  const name = `addInPlace ${n}`;
  return {
    name,
    expected: once(name, () => {
      const out = copy(x);
      ref.addInPlace(out, y, n);
      return out;
    }),
    actual: (be) => {
      const out = copy(x);
      be.addInPlace(out, y, n);
      return out;
    },
  };
}

export const cases: Case[] = [
  // odd sizes: not multiples of 16 or 8
  matmulCase(37, 53, 71, 1),
  // small m (dot-product tiles), around the switch to packed panels
  matmulCase(1, 53, 71, 3),
  matmulCase(3, 67, 33, 5),
  matmulCase(5, 45, 17, 7),
  matmulCase(19, 45, 20, 9),
  matmulCase(20, 33, 17, 11),
  // blocked and threaded: several k blocks, several column blocks, partial tiles everywhere
  matmulCase(129, 257, 300, 13),
  matmulCase(61, 1100, 40, 15),
  matmulCase(25, 37, 529, 17),
  matmulCase(35, 63, 47, 19), // row and column tails of 11 and 31
  matmulCase(21, 2100, 24, 21), // several column blocks on every ISA
  matvecCase(53, 71, 21),
  matvecCase(7, 1, 23),
  matvecCase(1001, 300, 25),
  matvecCase(288, 288, 27),
  rmsnormCase(7, 53, 31),
  rmsnormCase(300, 531, 33),
  ropeCase(5, 3, 22, 7, 41),
  ropeCase(70, 16, 128, 0, 43),
  attentionCase(1, 0, 2, 1, 6, 51),
  attentionCase(5, 3, 6, 2, 22, 53),
  attentionCase(1, 130, 4, 4, 48, 55), // several key blocks, one query (decode)
  attentionCase(40, 90, 8, 2, 40, 57), // prefill after a cache, threaded
  attentionCase(3, 0, 3, 1, 17, 59),
  attentionCase(3, 5, 12, 2, 20, 61), // GQA groups of 6: query heads taken 4 + 2 at a time
  attentionCase(2, 70, 10, 1, 100, 63), // group of 10, headDim past one 64-wide value chunk
  swigluCase(1001, 61),
  swigluCase(40001, 63),
  addCase(1001, 71),
  addCase(600011, 73),
];

/** A check: runs the native kernel and compares with the reference (computed inside). */
export type Check = (be: KernelsUnderTest, tag: string) => void;

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
    nativeTrainKernels(be as NativeBackend).ropeBackward(x, rows, nH, hd, 0, cos, sin);
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

export const checks: Check[] = [
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
