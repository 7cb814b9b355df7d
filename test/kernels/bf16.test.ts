/**
 * bf16 weights (GGML type 30, src/kernels/quant/bf16.ts, native/quant_bf16.c): the stored bits are
 * the upper half of the float32 (round to nearest even, exact widening), and the native products
 * (row dot products and the widened-panel gemm) equal the TypeScript reference on odd sizes for
 * every instruction set the CPU has, on 1 and 2 threads.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { dequantize, quantize, quantMatmulReference, rowBytes, type QuantMatrix } from "../../src/kernels/quant.js";
import { loadNativeBackend } from "../../src/kernels/native.js";
import { assertClose, randomArray } from "../helpers.js";

test("bf16 layout: 2 bytes per value, the upper 16 bits of the float32 (ties to even), widened exactly", () => {
  assert.equal(rowBytes("bf16", 7), 14);
  const x = new Float32Array([1, -2.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.140625]);
  const q = quantize(x, 1, 5, "bf16");
  const bits = Array.from(new Uint16Array(q.data.buffer, 0, 5));
  assert.deepEqual(bits, [0x3f80, 0xc020, 0x3f80, 0x3f82, 0x4049]); // 1+2^-8 ties down to 1, 1+3·2^-8 up
  assert.deepEqual(Array.from(dequantize(q)), [1, -2.5, 1, 1 + 2 ** -6, 3.140625]);
});

const native = loadNativeBackend().backend;

test("native bf16 qmatmul equals the reference on odd sizes, every ISA, 1 and 2 threads, both paths", { skip: !native }, () => {
  const nb = native!;
  const isa0 = nb.isa;
  const threads0 = nb.threads;
  const gemmMin = nb.qGemmMinRows();
  try {
    for (const isa of nb.supportedIsas) {
      nb.setIsa(isa);
      for (const threads of [1, 2]) {
        nb.setThreads(threads);
        for (const [m, n, k] of [[1, 37, 75], [1, 64, 256], [2, 19, 33], [gemmMin, 19, 75], [23, 45, 300], [9, 130, 17]] as const) {
          const w: QuantMatrix = quantize(randomArray(n * k, n + k, 0.5), n, k, "bf16");
          const a = randomArray(m * k, m * 7 + 1);
          const want = new Float32Array(m * n);
          const got = new Float32Array(m * n).fill(NaN);
          quantMatmulReference(want, a, w, m);
          nb.qmatmul(got, a, w, m);
          assertClose(got, want, 1e-5, `bf16 ${isa} threads=${threads} m=${m} n=${n} k=${k}`);
        }
      }
    }
  } finally {
    nb.setIsa(isa0);
    nb.setThreads(threads0);
  }
});
