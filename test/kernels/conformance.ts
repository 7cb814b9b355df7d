/**
 * The conformance suite every backend passes: each op of the kernel contract against the
 * reference implementation (or an independent product, for matmulNN / matmulTN), on odd sizes
 * and on sizes that reach blocked and threaded paths, on subarray views (writing only inside
 * them), and the argument checks (bad sizes and arrays throw "<backend> <op>: ..." before
 * anything is read or written). A backend's test runs `backendConformance(be, tag)` in each of
 * its configurations (ISA, threads) and `backendRejectsBadArguments(be)` once:
 * native.test.ts does for the native backend, reference.test.ts for the reference backend.
 */
import assert from "node:assert/strict";
import type { Backend } from "../../src/kernels/types.js";
import { attention } from "../../src/kernels/ops/attention.js";
import { matmul, matvec } from "../../src/kernels/ops/matmul.js";
import { rmsnorm, rmsnormApply, rmsnormBackward, rmsnormStats } from "../../src/kernels/ops/rmsnorm.js";
import { rope, ropeBackward } from "../../src/kernels/ops/rope.js";
import { swiglu, swigluBackward } from "../../src/kernels/ops/swiglu.js";
import { addInPlace } from "../../src/kernels/ops/add.js";
import { crossEntropy } from "../../src/kernels/ops/cross-entropy.js";
import { adamwSegment } from "../../src/kernels/ops/adamw.js";
import { sumSquares } from "../../src/kernels/ops/sum-squares.js";
import { attentionBackwardTrain, attentionForwardTrain } from "../../src/kernels/ops/attention-train.js";
import { assertClose, randomArray } from "../helpers.js";

const TOL = 1e-5;

/** A check: runs the backend's op and compares with the reference (computed once, inside). */
export type Check = (be: Backend, tag: string) => void;

function copy(a: Float32Array): Float32Array {
  return new Float32Array(a);
}

/** A case: inputs, the reference answer (computed once), and a run on a backend. */
interface Case {
  name: string;
  expected: () => Float32Array;
  actual: (be: Backend) => Float32Array;
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
      matmul(out, a, w, m, n, k);
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
      matvec(out, w, x, n, k);
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
      rmsnorm(out, x, wt, rows, dim, 1e-5);
      return out;
    }),
    actual: (be) => {
      const out = new Float32Array(rows * dim).fill(NaN);
      be.rmsnorm(out, x, wt, rows, dim, 1e-5);
      return out;
    },
  };
}

function ropeTables(maxPos: number, headDim: number): { cos: Float32Array; sin: Float32Array } {
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
      rope(out, rows, nHeads, headDim, pos0, cos, sin);
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
      attention(out, q, k, v, rows, pos0, nHeads, nKv, headDim);
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
      swiglu(out, gate, up, n);
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
      addInPlace(out, y, n);
      return out;
    }),
    actual: (be) => {
      const out = copy(x);
      be.addInPlace(out, y, n);
      return out;
    },
  };
}

const cases: Case[] = [
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
  const loss = crossEntropy(expected, targets, rows, vocab, rows * 3);
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
  rmsnormStats(out, inv, x, w, rows, dim, 1e-5);
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
  const { cos, sin } = ropeTables(rows, hd);
  const g = randomArray(rows * nH * hd, seed);
  const expected = new Float32Array(g);
  ropeBackward(expected, rows, nH, hd, 0, cos, sin);
  const negSin = sin.map((v) => -v);
  return (be, tag) => {
    const x = new Float32Array(g);
    // RoPE's backward is the forward with the sin table negated (ops/rope.ts)
    be.rope(x, rows, nH, hd, 0, cos, negSin);
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

const trainChecks: Check[] = [
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

/** Empty products: k = 0 gives zeros; m = 0 or n = 0 touches nothing. */
const emptyCheck: Check = (be, tag) => {
  const out = new Float32Array(6).fill(7);
  be.matmul(out, new Float32Array(0), new Float32Array(0), 2, 3, 0);
  assert.deepEqual([...out], [0, 0, 0, 0, 0, 0], `matmul k = 0 ${tag}`);
  const keep = new Float32Array(4).fill(7);
  be.matmul(keep, new Float32Array(0), new Float32Array(9), 0, 3, 3);
  be.matvec(keep, new Float32Array(0), new Float32Array(3), 0, 3);
  assert.deepEqual([...keep], [7, 7, 7, 7], `matmul m = 0 ${tag}`);
};

/** Subarray views at odd offsets: the right values, nothing written outside the view. */
const viewsCheck: Check = (be, tag) => {
  /** a view of `src` at an odd offset inside a larger buffer filled with a guard value */
  const view = (src: Float32Array, guard = 12345): { view: Float32Array; whole: Float32Array } => {
    const whole = new Float32Array(src.length + 10).fill(guard);
    const v = whole.subarray(3, 3 + src.length);
    v.set(src);
    return { view: v, whole };
  };
  const guardOk = (whole: Float32Array, len: number, what: string): void => {
    for (let i = 0; i < 3; i++) assert.equal(whole[i], 12345, `${what}: wrote before the view`);
    for (let i = 3 + len; i < whole.length; i++) assert.equal(whole[i], 12345, `${what}: wrote past the view`);
  };
  for (const [m, n, k] of [[37, 53, 71], [3, 29, 19], [129, 257, 300]] as const) {
    const a = randomArray(m * k, 81), w = randomArray(n * k, 82);
    const want = new Float32Array(m * n);
    matmul(want, a, w, m, n, k);
    const A = view(a), W = view(w), O = view(new Float32Array(m * n));
    be.matmul(O.view, A.view, W.view, m, n, k);
    assertClose(O.view, want, TOL, `matmul view ${m}x${n}x${k} ${tag}`);
    guardOk(O.whole, m * n, "matmul");
  }
  {
    const n = 77, k = 45;
    const w = randomArray(n * k, 83), x = randomArray(k, 84);
    const want = new Float32Array(n);
    matvec(want, w, x, n, k);
    const W = view(w), X = view(x), O = view(new Float32Array(n));
    be.matvec(O.view, W.view, X.view, n, k);
    assertClose(O.view, want, TOL, `matvec view ${tag}`);
    guardOk(O.whole, n, "matvec");
  }
  {
    const rows = 3, dim = 37;
    const x = randomArray(rows * dim, 85), wt = randomArray(dim, 86);
    const want = new Float32Array(rows * dim);
    rmsnorm(want, x, wt, rows, dim, 1e-6);
    const X = view(x), Wt = view(wt), O = view(new Float32Array(rows * dim));
    be.rmsnorm(O.view, X.view, Wt.view, rows, dim, 1e-6);
    assertClose(O.view, want, TOL, `rmsnorm view ${tag}`);
    guardOk(O.whole, rows * dim, "rmsnorm");
    // in place (out === x) is allowed
    const inPlace = copy(x);
    be.rmsnorm(inPlace, inPlace, wt, rows, dim, 1e-6);
    assertClose(inPlace, want, TOL, `rmsnorm in place ${tag}`);
  }
  {
    const rows = 2, heads = 3, hd = 10, pos0 = 4;
    const x = randomArray(rows * heads * hd, 87);
    const { cos, sin } = ropeTables(pos0 + rows, hd);
    const want = copy(x);
    rope(want, rows, heads, hd, pos0, cos, sin);
    const X = view(x), C = view(cos), S = view(sin);
    be.rope(X.view, rows, heads, hd, pos0, C.view, S.view);
    assertClose(X.view, want, TOL, `rope view ${tag}`);
    guardOk(X.whole, x.length, "rope");
  }
  {
    const rows = 3, pos0 = 2, heads = 4, kv = 2, hd = 12;
    const q = randomArray(rows * heads * hd, 88), k = randomArray((pos0 + rows) * kv * hd, 89), v = randomArray((pos0 + rows) * kv * hd, 90);
    const want = new Float32Array(rows * heads * hd);
    attention(want, q, k, v, rows, pos0, heads, kv, hd);
    const Q = view(q), K = view(k), V = view(v), O = view(new Float32Array(want.length));
    be.attention(O.view, Q.view, K.view, V.view, rows, pos0, heads, kv, hd);
    assertClose(O.view, want, TOL, `attention view ${tag}`);
    guardOk(O.whole, want.length, "attention");
  }
  {
    const n = 53;
    const g = randomArray(n, 91, 5), u = randomArray(n, 92);
    const want = new Float32Array(n);
    swiglu(want, g, u, n);
    const G = view(g), U = view(u), O = view(new Float32Array(n));
    be.swiglu(O.view, G.view, U.view, n);
    assertClose(O.view, want, TOL, `swiglu view ${tag}`);
    guardOk(O.whole, n, "swiglu");
    const X = view(g), Y = view(u);
    const sum = copy(g);
    addInPlace(sum, u, n);
    be.addInPlace(X.view, Y.view, n);
    assertClose(X.view, sum, TOL, `addInPlace view ${tag}`);
    guardOk(X.whole, n, "addInPlace");
  }
};

/** Every value check, in the order they run. */
export const conformanceChecks: readonly Check[] = [
  ...cases.map((c): Check => (be, tag) => assertClose(c.actual(be), c.expected(), TOL, `${c.name} ${tag}`)),
  ...trainChecks,
  emptyCheck,
  viewsCheck,
];

/** Runs every value check on `be` in its current configuration (`tag` names it in failures). */
export function backendConformance(be: Backend, tag: string): void {
  for (const c of conformanceChecks) c(be, tag);
}

/** Bad sizes and arrays throw "<backend> <op>: ..." before anything is read or written. */
export function backendRejectsBadArguments(be: Backend): void {
  const f = (n: number): Float32Array => new Float32Array(n);
  const label = new RegExp(`^${be.name} \\w+: `);
  const bad = (what: string, fn: () => void, need?: RegExp): void => {
    assert.throws(fn, (e: unknown) => e instanceof Error && label.test(e.message) && (!need || need.test(e.message)), what);
  };
  // matmul: 2x3 · (4x3)ᵀ needs out 8, a 6, w 12
  bad("short out", () => be.matmul(f(7), f(6), f(12), 2, 4, 3));
  bad("short a", () => be.matmul(f(8), f(5), f(12), 2, 4, 3));
  bad("short w", () => be.matmul(f(8), f(6), f(11), 2, 4, 3));
  bad("fractional m", () => be.matmul(f(8), f(6), f(12), 1.5, 4, 3));
  bad("negative n", () => be.matmul(f(8), f(6), f(12), 2, -4, 3));
  bad("NaN k", () => be.matmul(f(8), f(6), f(12), 2, 4, NaN));
  bad("huge k", () => be.matmul(f(8), f(6), f(12), 2, 4, 2 ** 60));
  bad("Float64Array", () => be.matmul(new Float64Array(8) as unknown as Float32Array, f(6), f(12), 2, 4, 3));
  bad("short view", () => be.matmul(f(100).subarray(95), f(6), f(12), 2, 4, 3));
  bad("matvec short x", () => be.matvec(f(4), f(12), f(2), 4, 3));
  bad("matvec short w", () => be.matvec(f(4), f(11), f(3), 4, 3));
  bad("rmsnorm short weight", () => be.rmsnorm(f(6), f(6), f(2), 2, 3, 1e-5));
  bad("rmsnorm negative eps", () => be.rmsnorm(f(6), f(6), f(3), 2, 3, -1));
  bad("rope odd headDim", () => be.rope(f(6), 1, 2, 3, 0, f(10), f(10)));
  bad("rope short table", () => be.rope(f(8), 1, 2, 4, 4, f(9), f(10)));
  bad("attention heads not a multiple of kv heads", () => be.attention(f(12), f(12), f(8), f(8), 1, 0, 3, 2, 4));
  bad("attention zero kv heads", () => be.attention(f(12), f(12), f(8), f(8), 1, 0, 3, 0, 4));
  bad("attention short cache", () => be.attention(f(16), f(16), f(15), f(16), 2, 0, 2, 2, 4));
  bad("swiglu short up", () => be.swiglu(f(5), f(5), f(4), 5));
  bad("addInPlace short y", () => be.addInPlace(f(5), f(4), 5));
  bad("setThreads 0", () => be.setThreads(0));
  bad("matmulNN short out", () => be.matmulNN(f(5), f(6), f(6), 2, 3, 3, false), /out has 5 elements/);
  bad("matmulTN short a", () => be.matmulTN(f(6), f(5), f(9), 2, 3, 3, false), /a has 5 elements/);
  bad("matmulNN accumulate not a boolean", () => be.matmulNN(f(6), f(6), f(6), 2, 3, 3, 1 as unknown as boolean), /accumulate must be a boolean/);
  bad("attentionTrainForward short k", () => be.attentionTrainForward(f(24), f(4), f(24), f(11), f(12), 1, 2, 2, 1, 6), /k has 11 elements/);
  bad("attentionTrainForward short lse", () => be.attentionTrainForward(f(24), f(3), f(24), f(12), f(12), 1, 2, 2, 1, 6), /lse has 3 elements/);
  bad("attentionTrainForward heads", () => be.attentionTrainForward(f(24), f(4), f(24), f(12), f(12), 1, 2, 3, 2, 4), /multiple of nKvHeads/);
  bad(
    "attentionTrainBackward short dOut",
    () => be.attentionTrainBackward(f(24), f(12), f(12), f(23), f(24), f(12), f(12), f(24), f(4), 1, 2, 2, 1, 6, false),
    /dOut has 23 elements/,
  );
  bad("crossEntropy target outside the vocabulary", () => be.crossEntropy(f(10), new Int32Array([1, 5]), 2, 5, 2), /target 5/);
  bad("crossEntropy short logits", () => be.crossEntropy(f(9), new Int32Array([1, 2]), 2, 5, 2), /logits has 9 elements/);
  bad("crossEntropy short targets", () => be.crossEntropy(f(10), new Int32Array([1]), 2, 5, 2), /targets has 1 elements/);
  bad("rmsnormBackward short dWeight", () => be.rmsnormBackward(f(6), f(2), f(6), f(6), f(3), f(2), 2, 3, false), /dWeight has 2 elements/);
  bad("rmsnormStats short invRms", () => be.rmsnormStats(f(6), f(1), f(6), f(3), 2, 3, 1e-5), /invRms has 1 elements/);
  bad("swigluBackward short dOut", () => be.swigluBackward(f(4), f(4), f(3), f(4), f(4), 4), /dOut has 3 elements/);
  bad("adamwSegment short m", () => be.adamwSegment(f(4), f(4), f(3), f(4), 0, 4, 1, 1, 0.9, 0.95, 1e-8, 1e-3, 1), /m has 3 elements/);
  bad("adamwSegment end < start", () => be.adamwSegment(f(4), f(4), f(4), f(4), 3, 2, 1, 1, 0.9, 0.95, 1e-8, 1e-3, 1), /end \(2\) < start/);
  bad("sumSquares short x", () => be.sumSquares(f(3), 4), /x has 3 elements/);
  bad("sumSquares Float64Array", () => be.sumSquares(new Float64Array(4) as unknown as Float32Array, 4), /Float32Array/);
  const w = { kind: "quant", type: "q8_0", rows: 2, cols: 32, data: new Uint8Array(67) } as const;
  bad("qmatmul short weight data", () => be.qmatmul(f(2), f(32), w, 1), /w\.data has 67 bytes/);
  // nothing was written by the rejected calls
  const out = f(8).fill(3);
  bad("short w, out kept", () => be.matmul(out, f(6), f(11), 2, 4, 3));
  assert.deepEqual([...out], new Array(8).fill(3));
}
