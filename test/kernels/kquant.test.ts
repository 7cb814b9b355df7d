/**
 * K-quants (q2_K, q3_K, q4_K, q5_K, q6_K) and the quantisation registry: hand-built super-blocks decode
 * like an independent numpy decoder written from the GGML layouts (tools/gen_kquant_fixtures.py),
 * our quantisers are at least as accurate as a numpy implementation of ggml's reference
 * quantisers (and beat plain min/max quantisation), the 8-bit activation quantiser (Q8_K idea)
 * behaves as stated, the native products equal the reference on odd sizes on every ISA (prefill
 * and one-row decoding agree), and llama.cpp's mixture rules pick the right type per tensor.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  GGML_TYPE_ID,
  QUANT_FORMATS,
  dequantize,
  nonFiniteHalfAt,
  quantFormatById,
  quantize,
  quantFormat,
  quantMatmulReference,
  rowBytes,
  type QuantMatrix,
} from "../../src/kernels/quant.js";
import { quantizeActivationsK } from "../../src/kernels/quant/q8-k.js";
import { GGML_TYPES } from "../../src/formats/gguf.js";
import { GGUF_FILE_TYPE_ID, ggufTensorType, useMoreBits } from "../../src/formats/gguf-mixture.js";
import { loadNativeBackend } from "../../src/kernels/native.js";
import { assertClose, fixturesDir, randomArray } from "../helpers.js";

interface Fixture {
  dequant: Record<string, { bytes: string; values: string }>;
  quant: Record<string, { x: string; rms: Record<string, number>; rmsMinMax: Record<string, number> }>;
}
const fx = JSON.parse(readFileSync(path.join(fixturesDir, "kquants.json"), "utf8")) as Fixture;
const bytesOf = (b64: string): Uint8Array => new Uint8Array(Buffer.from(b64, "base64"));
const floatsOf = (b64: string): Float32Array => {
  const b = bytesOf(b64);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
};
const KTYPES = ["q4_K", "q5_K", "q6_K", "q3_K", "q2_K"] as const;

test("registry: GGML ids, block sizes and bytes of the K-quants; GGUF's type table derives from it", () => {
  assert.deepEqual([GGML_TYPE_ID.q2_K, GGML_TYPE_ID.q3_K, GGML_TYPE_ID.q4_K, GGML_TYPE_ID.q5_K, GGML_TYPE_ID.q6_K], [10, 11, 12, 13, 14]);
  assert.deepEqual([rowBytes("q2_K", 256), rowBytes("q3_K", 512)], [84, 220]);
  assert.deepEqual([rowBytes("q4_K", 512), rowBytes("q5_K", 256), rowBytes("q6_K", 768)], [288, 176, 630]);
  assert.throws(() => rowBytes("q4_K", 288), /multiple of 256/);
  for (const f of QUANT_FORMATS) {
    assert.deepEqual(GGML_TYPES[f.ggmlId], { name: f.ggmlName, blockSize: f.blockSize, typeSize: f.blockBytes }, f.name);
    assert.equal(quantFormatById(f.ggmlId), f);
  }
});

test("hand-built K-quant super-blocks decode as numpy's decoder of the GGML layouts", () => {
  for (const t of KTYPES) {
    const data = bytesOf(fx.dequant[t]!.bytes);
    const want = floatsOf(fx.dequant[t]!.values);
    const w: QuantMatrix = { kind: "quant", type: t, rows: 1, cols: want.length, data };
    const got = dequantize(w);
    // numpy rounds d·sc·q − dmin·m in two float32 steps where we may fuse them
    for (let b = 0; b < want.length / 256; b++) assertClose(got.subarray(256 * b, 256 * b + 256), want.subarray(256 * b, 256 * b + 256), 1e-6, `${t} block ${b}`);
  }
});

function rms(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s / a.length);
}

test("K-quant quantisers: RMS error ≤ numpy's implementation of ggml's reference quantisers (+1 %) and < min/max quantisation", () => {
  for (const [dist, q] of Object.entries(fx.quant)) {
    const x = floatsOf(q.x);
    for (const t of KTYPES) {
      const back = dequantize(quantize(x, x.length / 256, 256, t));
      const e = rms(back, x);
      assert.ok(e <= q.rms[t]! * 1.01, `${t} ${dist}: RMS ${e} > reference ${q.rms[t]}`);
      assert.ok(e < q.rmsMinMax[t]!, `${t} ${dist}: RMS ${e} ≥ min/max quantisation ${q.rmsMinMax[t]}`);
    }
  }
});

test("K-quant quantisers: all-zero and constant super-blocks, and codes within range", () => {
  for (const t of KTYPES) {
    const z = quantize(new Float32Array(256), 1, 256, t);
    assert.ok(dequantize(z).every((v) => v === 0), `${t} zeros`);
    const c = dequantize(quantize(new Float32Array(256).fill(0.75), 1, 256, t));
    for (const v of c) assert.ok(Math.abs(v - 0.75) < 0.75 * 0.02, `${t} constant: ${v}`);
    const x = randomArray(512, 9, 4);
    x[3] = 40; // an outlier: the other values keep their sub-block scales
    const back = dequantize(quantize(x, 2, 256, t));
    assert.ok(Math.abs(back[3]! - 40) < 1, `${t} outlier ${back[3]}`);
  }
});

test("Q8_K activation quantiser: scale from the first value of largest |x|, round half to even, zero blocks", () => {
  const x = new Float32Array(512);
  // max = −3.96875 (the first of |±3.96875|): iscale = −127/max = 32 exactly, d = 1/32
  x[0] = 2; x[1] = -3.96875; x[2] = 3.96875; x[3] = 0.5 / 32; x[4] = -1.5 / 32; x[5] = 2.5 / 32; x[6] = 0.5;
  // block 1 stays all zero
  const q = new Int8Array(512), d = new Float32Array(2);
  quantizeActivationsK(x, 512, q, d);
  assert.equal(d[0], 1 / 32);
  // 0.5 → 0, −1.5 → −2, 2.5 → 2 (ties to even)
  assert.deepEqual(Array.from(q.subarray(0, 8)), [64, -127, 127, 0, -2, 2, 16, 0]);
  assert.equal(d[1], 0);
  assert.ok(q.subarray(256).every((v) => v === 0));
  // a positive maximum: its value quantises to −127 (iscale = −127/max)
  const y = randomArray(256, 5);
  y[100] = 3;
  quantizeActivationsK(y, 256, q, d);
  assert.equal(q[100], -127);
  assert.equal(d[0], Math.fround(1 / Math.fround(-127 / 3)));
  for (let j = 0; j < 256; j++) assert.ok(Math.abs(q[j]! * d[0]! - y[j]!) <= Math.abs(d[0]!) * 0.5 + 1e-7, `value ${j}`);
});

test("K-quant reference product: exact integer sums with the 8-bit activations per 256 values", () => {
  const m = 2, n = 5, k = 512;
  const a = randomArray(m * k, 3);
  for (const t of KTYPES) {
    const w = quantize(randomArray(n * k, 4), n, k, t);
    const wd = dequantize(w);
    const out = new Float32Array(m * n);
    quantMatmulReference(out, a, w, m);
    // the activations as the products see them: d·q per 256 values
    const act = new Float32Array(m * k);
    assert.equal(quantFormat(t).activations, "q8_K", t);
    for (let i = 0; i < m; i++) {
      const q = new Int8Array(k), d = new Float32Array(k / 256);
      quantizeActivationsK(a.subarray(i * k, (i + 1) * k), k, q, d);
      for (let p = 0; p < k; p++) act[i * k + p] = d[p >> 8]! * q[p]!;
    }
    const exact = new Float32Array(m * n), float = new Float32Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0, f = 0;
      for (let p = 0; p < k; p++) { s += act[i * k + p]! * wd[j * k + p]!; f += a[i * k + p]! * wd[j * k + p]!; }
      exact[i * n + j] = s;
      float[i * n + j] = f;
    }
    assertClose(out, exact, 1e-6, t);
    // and the 8-bit activations cost little against float ones
    assertClose(out, float, 2e-2, `${t} vs float activations`);
  }
});

const native = loadNativeBackend().backend;

test("native qmatmul with K-quants equals the reference on odd sizes, every ISA, 1 and 2 threads, both paths", { skip: !native }, () => {
  const nb = native!;
  const isa0 = nb.isa, threads0 = nb.threads;
  const gemmMin = nb.qGemmMinRows();
  // k = 768: depth blocks of the gemm (256 or others) need not hold whole super-blocks
  const sizes: Array<[number, number, number]> = [[1, 37, 256], [1, 1, 768], [2, 301, 512], [gemmMin, 45, 768], [gemmMin + 1, 33, 256], [37, 129, 1280]];
  try {
    for (const isa of nb.supportedIsas) {
      nb.setIsa(isa);
      for (const threads of [1, 2]) {
        nb.setThreads(threads);
        for (const t of KTYPES) {
          for (const [m, n, k] of sizes) {
            const w = quantize(randomArray(n * k, n + k, 0.5), n, k, t);
            const a = randomArray(m * k, m * 7 + 1);
            const want = new Float32Array(m * n);
            const got = new Float32Array(m * n).fill(NaN);
            quantMatmulReference(want, a, w, m);
            nb.qmatmul(got, a, w, m);
            assertClose(got, want, 3e-6, `${isa} ${t} t${threads} ${m}x${n}x${k}`);
            if (k < 512) continue;
            // activations far from zero mean (the −32 of q6_K and the mins cancel large sums) and an all-zero super-block
            for (let p = 0; p < a.length; p++) a[p] = p % k < 256 ? 0 : a[p]! + 3;
            quantMatmulReference(want, a, w, m);
            nb.qmatmul(got, a, w, m);
            // float32 rounding of the terms, which no longer cancel in float: |error| <= 3e-6 · Σ|a|·|w|
            const wd = dequantize(w);
            for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
              let mag = 0;
              for (let p = 0; p < k; p++) mag += Math.abs(a[i * k + p]! * wd[j * k + p]!);
              const err = Math.abs(got[i * n + j]! - want[i * n + j]!);
              assert.ok(err <= 3e-6 * mag, `${isa} ${t} t${threads} ${m}x${n}x${k} offset (${i}, ${j}): error ${err} > 3e-6 · ${mag}`);
            }
          }
        }
      }
    }
  } finally {
    nb.setIsa(isa0);
    nb.setThreads(threads0);
  }
  const w = quantize(randomArray(4 * 256, 1), 4, 256, "q4_K");
  assert.throws(() => nb.qmatmul(new Float32Array(4), new Float32Array(288), { ...w, cols: 288, data: new Uint8Array(2000) }, 1), /multiple of 256/);
});

test("nonFiniteHalfAt finds an Inf/NaN f16 field in any block of every registry type, and nothing in finite data", () => {
  for (const f of QUANT_FORMATS) {
    const k = Math.max(f.blockSize, 32) * 2;
    const q = quantize(randomArray(3 * k, 5), 3, k, f.name);
    assert.equal(nonFiniteHalfAt(f.name, q.data), -1, f.name);
    for (const o of f.halfOffsets) {
      const bad = q.data.slice();
      const at = bad.length - f.blockBytes + o; // the last block
      bad[at] = 0x00;
      bad[at + 1] = 0x7e; // f16 NaN
      assert.equal(nonFiniteHalfAt(f.name, bad), at, `${f.name} offset ${o}`);
    }
  }
});

test("llama.cpp's mixture rules: use_more_bits, _M types, output head, fallbacks", () => {
  // use_more_bits for 32 layers: 0..3, 28..31 and every third from 6 (i - 4) % 3 == 2
  const more = Array.from({ length: 32 }, (_, i) => i).filter((i) => useMoreBits(i, 32));
  assert.deepEqual(more, [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
  const type = (ft: Parameters<typeof ggufTensorType>[0], name: string, shape: number[], tied = false): string => ggufTensorType(ft, name, shape, 32, tied);
  assert.equal(type("q4_K_M", "blk.6.attn_v.weight", [256, 512]), "q6_K");
  assert.equal(type("q4_K_M", "blk.7.attn_v.weight", [256, 512]), "q4_K");
  assert.equal(type("q5_K_M", "blk.31.ffn_down.weight", [512, 1024]), "q6_K");
  assert.equal(type("q5_K_M", "blk.8.ffn_down.weight", [512, 1024]), "q5_K");
  assert.equal(type("q4_K_M", "blk.0.attn_q.weight", [512, 512]), "q4_K");
  assert.equal(type("q4_K", "blk.0.attn_v.weight", [256, 512]), "q4_K");
  assert.equal(type("q4_K_M", "output.weight", [1000, 512]), "q6_K");
  assert.equal(type("q5_K", "token_embd.weight", [1000, 512]), "q5_K");
  assert.equal(type("q5_K", "token_embd.weight", [1000, 512], true), "q6_K");
  assert.equal(type("q4_0", "output.weight", [1000, 512]), "q8_0");
  assert.equal(type("q4_K_M", "blk.0.attn_norm.weight", [512]), "f32");
  assert.equal(type("q4_K_M", "blk.0.attn_q.weight", [288, 288]), "q8_0");
  assert.equal(type("q6_K", "blk.0.attn_q.weight", [30, 30]), "f16");
  assert.deepEqual([GGUF_FILE_TYPE_ID.q4_K_M, GGUF_FILE_TYPE_ID.q5_K_M, GGUF_FILE_TYPE_ID.q6_K], [15, 17, 18]);
});

test("native qmatmul with K-quants: m rows at once equal m one-row calls (prefill = decoding), every ISA", { skip: !native }, () => {
  const nb = native!;
  const isa0 = nb.isa, threads0 = nb.threads;
  try {
    for (const isa of nb.supportedIsas) {
      nb.setIsa(isa);
      for (const threads of [1, 2]) {
        nb.setThreads(threads);
        for (const t of KTYPES) {
          for (const [m, n, k] of [[nb.qGemmMinRows(), 67, 256], [19, 41, 768]] as const) {
            const w = quantize(randomArray(n * k, n * 3 + k, 0.5), n, k, t);
            const a = randomArray(m * k, m + 11);
            const all = new Float32Array(m * n).fill(NaN);
            nb.qmatmul(all, a, w, m);
            const rows = new Float32Array(m * n).fill(NaN);
            for (let i = 0; i < m; i++) nb.qmatmul(rows.subarray(i * n, (i + 1) * n), a.subarray(i * k, (i + 1) * k), w, 1);
            assertClose(all, rows, 3e-6, `${isa} ${t} t${threads} ${m}x${n}x${k}: m rows vs one at a time`);
          }
        }
      }
    }
  } finally {
    nb.setIsa(isa0);
    nb.setThreads(threads0);
  }
});
