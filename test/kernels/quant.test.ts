/**
 * Quantised blocks (q8_0, q4_0, f16 in the GGUF layouts): the byte layouts, ggml's rounding
 * rules, and the native kernels (block dot products for few rows, widened weight panels in the
 * packed gemm for many) against the TypeScript reference on odd sizes, for every instruction set
 * the CPU has, on 1 and 2 threads.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { dequantize, dequantizeRows, quantize, quantMatmulReference, rowBytes, type QuantMatrix, type QuantType } from "../../src/kernels/quant.js";
import { f32ToF16, f16ToF32 } from "../../src/formats/half.js";
import { loadNativeBackend } from "../../src/kernels/native.js";
import { assertClose, randomArray } from "../helpers.js";

test("row sizes: q8_0 34 B and q4_0 18 B per 32 values, f16 2 B per value; blocks need multiples of 32", () => {
  assert.equal(rowBytes("q8_0", 64), 68);
  assert.equal(rowBytes("q4_0", 96), 54);
  assert.equal(rowBytes("f16", 7), 14);
  assert.throws(() => rowBytes("q8_0", 48), /multiple of 32/);
});

test("q8_0 layout and rounding: d = amax/127 as f16, q = round half away from zero", () => {
  const x = new Float32Array(32);
  x[0] = 127; x[1] = -127; x[2] = 2.5; x[3] = -2.5; x[4] = 0.49; x[5] = 100.5;
  const q = quantize(x, 1, 32, "q8_0");
  assert.equal(q.data.length, 34);
  const dv = new DataView(q.data.buffer);
  assert.equal(dv.getUint16(0, true), f32ToF16(1));
  const ints = Array.from(new Int8Array(q.data.buffer, 2, 32));
  assert.deepEqual(ints.slice(0, 6), [127, -127, 3, -3, 0, 101]);
  assert.deepEqual(Array.from(dequantize(q).subarray(0, 6)), [127, -127, 3, -3, 0, 101]);
  // all-zero block: d = 0, q = 0
  const z = quantize(new Float32Array(32), 1, 32, "q8_0");
  assert.ok(z.data.every((b) => b === 0));
});

test("q4_0 layout and rounding: d = max/-8 (signed), q = min(15, trunc(x/d + 8.5)), low nibbles 0..15, high 16..31", () => {
  const x = new Float32Array(32);
  for (let j = 0; j < 32; j++) x[j] = j - 16; // max magnitude -16 at j=0 -> d = 2
  const q = quantize(x, 1, 32, "q4_0");
  assert.equal(q.data.length, 18);
  assert.equal(f16ToF32(new DataView(q.data.buffer).getUint16(0, true)), 2);
  const nib = (j: number): number => (j < 16 ? q.data[2 + j]! & 15 : q.data[2 + j - 16]! >> 4);
  // x/d + 8.5 = (j-16)/2 + 8.5 -> trunc
  for (let j = 0; j < 32; j++) assert.equal(nib(j), Math.min(15, Math.trunc((j - 16) / 2 + 8.5)), `element ${j}`);
  assert.equal(nib(0), 0); // the extreme maps to q = 0, i.e. -8·d
  const back = dequantize(q);
  for (let j = 0; j < 32; j++) assert.ok(Math.abs(back[j]! - x[j]!) <= 1 + 1e-6, `element ${j}`);
});

test("hand-made blocks decode as the layout says (independent of the quantiser)", () => {
  const q8 = new Uint8Array(34);
  new DataView(q8.buffer).setUint16(0, f32ToF16(0.5), true);
  for (let j = 0; j < 32; j++) q8[2 + j] = (j - 16) & 0xff;
  assert.deepEqual(Array.from(dequantize({ kind: "quant", type: "q8_0", rows: 1, cols: 32, data: q8 })), Array.from({ length: 32 }, (_, j) => 0.5 * (j - 16)));
  const q4 = new Uint8Array(18);
  new DataView(q4.buffer).setUint16(0, f32ToF16(0.25), true);
  for (let j = 0; j < 16; j++) q4[2 + j] = j | ((15 - j) << 4);
  const want = [...Array.from({ length: 16 }, (_, j) => 0.25 * (j - 8)), ...Array.from({ length: 16 }, (_, j) => 0.25 * (15 - j - 8))];
  assert.deepEqual(Array.from(dequantize({ kind: "quant", type: "q4_0", rows: 1, cols: 32, data: q4 })), want);
});

test("quantisation error: half a step (+ f16 rounding of d; q4_0: one step at the clamped end); dequantizeRows picks rows", () => {
  const rows = 5, cols = 96;
  const x = randomArray(rows * cols, 3, 2);
  for (const type of ["q8_0", "q4_0", "f16"] as const) {
    const q = quantize(x, rows, cols, type);
    const back = dequantize(q);
    for (let b = 0; b < (rows * cols) / 32; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
      const step = type === "q8_0" ? amax / 127 : type === "q4_0" ? amax / 8 : amax / 1024;
      for (let j = 0; j < 32; j++) assert.ok(Math.abs(back[b * 32 + j]! - x[b * 32 + j]!) <= step * (type === "q4_0" ? 1.01 : 0.6) + 1e-6, `${type} block ${b}`);
    }
    assert.deepEqual(dequantizeRows(q, 2, 2), back.subarray(2 * cols, 4 * cols));
  }
});

test("reference block product equals the float product of dequantised weights and 8-bit activations", () => {
  const m = 3, n = 7, k = 64;
  const a = randomArray(m * k, 5);
  const w = quantize(randomArray(n * k, 6), n, k, "q8_0");
  const out = new Float32Array(m * n);
  quantMatmulReference(out, a, w, m);
  const wd = dequantize(w);
  const exact = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) { let s = 0; for (let p = 0; p < k; p++) s += a[i * k + p]! * wd[j * k + p]!; exact[i * n + j] = s; }
  assertClose(out, exact, 2e-2, "8-bit activation error");
});

const native = loadNativeBackend().backend;

// Sizes for both native paths: block dot products row by row (m < qGemmMinRows) and weight
// panels widened into the packed float32 gemm (m >= qGemmMinRows); k above the gemm's depth
// block (256) so partial sums carry across blocks, n not a multiple of any panel width.
function qSizes(gemmMin: number): Array<[number, number, number]> {
  const sizes: Array<[number, number, number]> = [[1, 37, 96], [1, 1, 32], [1, 301, 1024], [3, 67, 160], [2, 1000, 288]];
  if (gemmMin > 1) sizes.push([gemmMin - 1, 45, 288]);
  sizes.push([gemmMin, 45, 288], [gemmMin + 1, 33, 32], [21, 129, 64], [37, 301, 544], [130, 70, 288]);
  return sizes;
}

test("native qmatmul equals the reference on odd sizes, every ISA, m = 1 (matvec) and m > 1 (both paths)", { skip: !native }, () => {
  const nb = native!;
  const isa0 = nb.isa;
  const threads0 = nb.threads;
  const variants: string[] = [];
  const gemmMin = nb.qGemmMinRows();
  assert.ok(gemmMin >= 1 && gemmMin <= 21, `qGemmMinRows ${gemmMin}: the sizes below must reach the gemm path`);
  try {
    for (const isa of nb.supportedIsas) {
      nb.setIsa(isa);
      variants.push(nb.qVariant());
      for (const threads of [1, 2]) {
        nb.setThreads(threads);
        for (const type of ["q8_0", "q4_0", "f16"] as const) {
          const sizes = qSizes(gemmMin);
          // f16 rows need not hold whole blocks: k with a tail past the vector widths
          if (type === "f16") sizes.push([1, 37, 75], [gemmMin, 19, 75], [23, 45, 300]);
          for (const [m, n, k] of sizes) {
            const w: QuantMatrix = quantize(randomArray(n * k, n + k, 0.5), n, k, type);
            const a = randomArray(m * k, m * 7 + 1);
            const want = new Float32Array(m * n);
            const got = new Float32Array(m * n).fill(NaN);
            quantMatmulReference(want, a, w, m);
            nb.qmatmul(got, a, w, m);
            assertClose(got, want, 2e-6, `${isa} ${type} t${threads} ${m}x${n}x${k}`);
          }
          // subarray views at odd offsets work (the model passes views of its scratch)
          const k = 64, n = 9;
          const w = quantize(randomArray(n * k, 1), n, k, type);
          const a = randomArray(k + 3, 2).subarray(3);
          const want = new Float32Array(n), got = new Float32Array(n + 1).subarray(1);
          quantMatmulReference(want, a, w, 1);
          nb.qmatmul(got, a, w, 1);
          assertClose(got, want, 2e-6, `${isa} ${type} views`);
        }
      }
    }
  } finally {
    nb.setIsa(isa0);
    nb.setThreads(threads0);
  }
  assert.ok(variants.includes("scalar"));
});

test("native qmatmul: m rows at once equal m one-row calls (prefill = token-by-token decoding), every ISA", { skip: !native }, () => {
  // Both paths quantise each activation row by the same rule, so the gemm path (widened
  // weights, float sums) and the row-by-row block products differ by float rounding only.
  const nb = native!;
  const isa0 = nb.isa;
  const threads0 = nb.threads;
  const gemmMin = nb.qGemmMinRows();
  try {
    for (const isa of nb.supportedIsas) {
      nb.setIsa(isa);
      for (const threads of [1, 2]) {
        nb.setThreads(threads);
        for (const type of ["q8_0", "q4_0", "f16"] as const) {
          for (const [m, n, k] of [[gemmMin, 67, 288], [29, 101, 544]] as const) {
            const w = quantize(randomArray(n * k, n * 3 + k, 0.5), n, k, type);
            const a = randomArray(m * k, m + 11);
            const all = new Float32Array(m * n).fill(NaN);
            nb.qmatmul(all, a, w, m);
            const rows = new Float32Array(m * n).fill(NaN);
            for (let i = 0; i < m; i++) nb.qmatmul(rows.subarray(i * n, (i + 1) * n), a.subarray(i * k, (i + 1) * k), w, 1);
            assertClose(all, rows, 2e-6, `${isa} ${type} t${threads} ${m}x${n}x${k}: m rows vs one at a time`);
          }
        }
      }
    }
  } finally {
    nb.setIsa(isa0);
    nb.setThreads(threads0);
  }
});

test("native qmatmul checks its arguments", { skip: !native }, () => {
  const nb = native!;
  const w = quantize(randomArray(4 * 32, 1), 4, 32, "q8_0");
  assert.throws(() => nb.qmatmul(new Float32Array(3), new Float32Array(32), w, 1), /out has 3 elements/);
  assert.throws(() => nb.qmatmul(new Float32Array(4), new Float32Array(31), w, 1), /a has 31 elements/);
  assert.throws(() => nb.qmatmul(new Float32Array(4), new Float32Array(32), { ...w, data: w.data.subarray(1) }, 1), /bytes/);
  assert.throws(() => nb.qmatmul(new Float32Array(4), new Float32Array(32), { ...w, cols: 31, data: new Uint8Array(1000) }, 1), /multiple of 32/);
});

test("native qmatmulMany (activations quantised once for several matrices) equals one qmatmul per matrix exactly; qmatmul is bit-identical on 1, 2 and 3 threads", { skip: !native }, () => {
  const nb = native!;
  const isa0 = nb.isa;
  const threads0 = nb.threads;
  const gemmMin = nb.qGemmMinRows();
  // k = 512 holds whole blocks of every type; the mixes put q8_0 and q4_0 (different prepared
  // activations) and float-activation types (f16, K-quants) in one call, as GGUF files mix them
  const mixes: QuantType[][] = [["q8_0", "q8_0", "q8_0"], ["q4_0", "q8_0", "f16"], ["q4_K", "q6_K", "q4_0", "q5_K"], ["q2_K", "q3_K"]];
  const k = 512;
  try {
    for (const isa of nb.supportedIsas) {
      nb.setIsa(isa);
      for (const m of [1, 2, gemmMin, 29]) {
        const a = randomArray(m * k, m + 5);
        for (const types of mixes) {
          const ns = types.map((_, i) => [1000, 37, 200, 129][i]!);
          const ws = types.map((t, i) => quantize(randomArray(ns[i]! * k, i * 13 + m, 0.5), ns[i]!, k, t));
          const per: Float32Array[][] = [];
          for (const threads of [1, 2, 3]) {
            nb.setThreads(threads);
            const one = ws.map((w) => {
              const out = new Float32Array(m * w.rows).fill(NaN);
              nb.qmatmul(out, a, w, m);
              return out;
            });
            per.push(one);
            const many = ws.map((w) => new Float32Array(m * w.rows).fill(NaN));
            nb.qmatmulMany(many, a, ws, m);
            many.forEach((got, i) => assert.deepEqual(got, one[i], `${isa} t${threads} m${m} ${types.join("+")}: matrix ${i} (${types[i]})`));
          }
          for (let t = 1; t < per.length; t++) {
            per[t]!.forEach((got, i) => assert.deepEqual(got, per[0]![i], `${isa} m${m} ${types[i]}: ${t + 1} threads vs 1`));
          }
        }
      }
    }
  } finally {
    nb.setIsa(isa0);
    nb.setThreads(threads0);
  }
});

test("native qmatmulMany checks its arguments", { skip: !native }, () => {
  const nb = native!;
  const w = quantize(randomArray(4 * 32, 1), 4, 32, "q8_0");
  const w64 = quantize(randomArray(4 * 64, 1), 4, 64, "q8_0");
  const a = new Float32Array(32);
  assert.throws(() => nb.qmatmulMany([new Float32Array(4)], a, [w, w], 1), /1 outputs for 2 weight matrices/);
  assert.throws(() => nb.qmatmulMany([new Float32Array(4), new Float32Array(4)], a, [w, w64], 1), /weight 1 has 64 columns/);
  assert.throws(() => nb.qmatmulMany([new Float32Array(4), new Float32Array(3)], a, [w, w], 1), /out has 3 elements/);
  assert.throws(() => nb.qmatmulMany([new Float32Array(4)], new Float32Array(31), [w], 1), /a has 31 elements/);
  nb.qmatmulMany([], a, [], 1); // nothing to do
});
