/**
 * The WebAssembly backend (wasm/llama_ts.wasm, the C kernels compiled to wasm32 + SIMD128)
 * against the reference kernels: every op on the native tests' cases (kernel-cases.ts), the
 * quantised products of every registry type on both paths, with 1 and 2 threads (workers
 * sharing the memory), and on the single-thread build (unshared memory); the weight cache and its invalidation; a model's logits, cached decoding
 * and greedy tokens against PyTorch, and training steps' losses against PyTorch.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { loadWasmBackend, nodeWorkerFactory, wasmModulePath } from "../../src/kernels/wasm-node.js";
import { instantiateWasmBackend, type WasmBackend } from "../../src/kernels/wasm.js";
import { QUANT_TYPES, quantize, quantMatmulReference } from "../../src/kernels/quant.js";
import { matvec as refMatvec } from "../../src/kernels/ops/matmul.js";
import { checked } from "../../src/kernels/checked.js";
import { getBackend, setBackend } from "../../src/kernels/backend.js";
import type { Backend } from "../../src/kernels/types.js";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { LlamaModel } from "../../src/model/llama.js";
import { generateTokens } from "../../src/generate/generate.js";
import { Trainer, PAPER_DEFAULTS, type WindowSource, type TrainHyperparameters } from "../../src/train/trainer.js";
import { assertClose, fixturesDir, randomArray } from "../helpers.js";
import { backendConformance, backendRejectsBadArguments } from "./conformance.js";

const TOL = 1e-5;

/** A backend with `threads` threads whose workers are all running. */
async function backendWith(threads: number): Promise<WasmBackend> {
  const be = loadWasmBackend(threads);
  await be.ready();
  assert.equal(be.threads, threads);
  return be;
}

for (const threads of [1, 2]) {
  const tag = `[wasm, ${threads}T]`;

  test(`wasm backend passes the kernel conformance suite ${tag}`, async () => {
    const be = await backendWith(threads);
    try {
      backendConformance(checked(be), tag);
      if (threads === 1) backendRejectsBadArguments(checked(be));
    } finally {
      be.dispose();
    }
  });

  test(`wasm qmatmul equals the reference for every weight type, m = 1 and m > 1 (both paths) ${tag}`, async () => {
    const be = await backendWith(threads);
    try {
      for (const type of QUANT_TYPES) {
        const block = type === "f16" ? 1 : type.endsWith("_K") ? 256 : 32;
        const k0 = type === "f16" ? 75 : block * 3;
        // m = 1 and 3 take block dot products; 4 and more widen weight panels into the packed gemm
        for (const [m, n, k] of [[1, 37, k0], [3, 67, k0], [1, 1, block], [5, 45, k0 * 2], [37, 129, k0]] as const) {
          const w = quantize(randomArray(n * k, n + k, 0.5), n, k, type);
          const a = randomArray(m * k, m * 7 + 1);
          const want = new Float32Array(m * n), got = new Float32Array(m * n).fill(NaN);
          quantMatmulReference(want, a, w, m);
          be.qmatmul(got, a, w, m);
          assertClose(got, want, 3e-6, `${type} ${m}x${n}x${k} ${tag}`);
        }
      }
    } finally {
      be.dispose();
    }
  });
}

/** An f16 bit pattern's value from the IEEE 754 binary16 definition. */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (e === 0 ? (m / 1024) * 2 ** -14 : (1 + m / 1024) * 2 ** (e - 15));
}

test("wasm f16 decode dot reads every half exactly: subnormals, zeros, infinities, NaN (its SIMD128 conversion)", async () => {
  const be = await backendWith(1);
  try {
    // row h: 8 copies of bit pattern h; activations all 1, so out[h] = 8 * value(h), exact in float32
    const n = 65536, k = 8;
    const bytes = new Uint8Array(n * k * 2);
    const view = new DataView(bytes.buffer);
    for (let h = 0; h < n; h++) for (let j = 0; j < k; j++) view.setUint16(2 * (h * k + j), h, true);
    const got = new Float32Array(n);
    be.qmatmul(got, new Float32Array(k).fill(1), { kind: "quant", type: "f16", rows: n, cols: k, data: bytes }, 1);
    for (let h = 0; h < n; h++) {
      const want = Math.fround(8 * halfValue(h));
      // (a sum starting from +0 gives +0 for -0, as any dot product does)
      assert.ok(got[h] === want || (Number.isNaN(want) && Number.isNaN(got[h]!)), `half 0x${h.toString(16)}: ${got[h]} != ${want}`);
    }
  } finally {
    be.dispose();
  }
});

test("wasm single-thread build (wasm/llama_ts_st.wasm, unshared memory): every op equals the reference, one thread whatever is asked", () => {
  const module = new WebAssembly.Module(fs.readFileSync(wasmModulePath("llama_ts_st.wasm")));
  const be = instantiateWasmBackend(module, { threads: 2, workerFactory: nodeWorkerFactory });
  try {
    assert.equal(be.threads, 1);
    const tag = "[wasm single-thread build]";
    backendConformance(checked(be), tag);
  } finally {
    be.dispose();
  }
});

test("wasm: matvec's weight cache is kept per array, dropped by invalidate() and by adamwSegment over it", async () => {
  const be = await backendWith(1);
  try {
    const n = 19, k = 33;
    const params = randomArray(3 * n * k, 5);
    const w = params.subarray(n * k, 2 * n * k); // a weight inside a flat parameter vector
    const x = randomArray(k, 6);
    const run = (): Float32Array => {
      const out = new Float32Array(n);
      be.matvec(out, w, x, n, k);
      return out;
    };
    const want = (): Float32Array => {
      const out = new Float32Array(n);
      refMatvec(out, w, x, n, k);
      return out;
    };
    assertClose(run(), want(), TOL, "first call");
    assert.equal(be.cachedBytes, n * k * 4);
    const before = run();
    w[0] = w[0]! + 10; // an in-place write the cache cannot see...
    assert.deepEqual(run(), before, "the cached copy is used until invalidated");
    be.invalidate(w); // ...until told
    assert.equal(be.cachedBytes, 0);
    assertClose(run(), want(), TOL, "after invalidate(w)");
    // an optimiser step over a range that covers part of the weight drops its copy
    const g = randomArray(params.length, 7), m = new Float32Array(params.length), v = new Float32Array(params.length);
    be.adamwSegment(params, g, m, v, 2 * n * k - 5, 3 * n * k, 1, 1, 0.9, 0.95, 1e-8, 0.1, 1);
    assert.equal(be.cachedBytes, 0);
    assertClose(run(), want(), TOL, "after adamwSegment");
    // a range elsewhere keeps it
    be.adamwSegment(params, g, m, v, 0, n * k, 1, 1, 0.9, 0.95, 1e-8, 0.1, 1);
    assert.equal(be.cachedBytes, n * k * 4);
    be.invalidate();
    assert.equal(be.cachedBytes, 0);
  } finally {
    be.dispose();
  }
});

test("wasm: a call that reads past an array throws instead of reading the heap", async () => {
  const be = await backendWith(1);
  try {
    assert.throws(() => be.matmul(new Float32Array(6), new Float32Array(5), new Float32Array(9), 2, 3, 3), /a has 5 elements/);
    assert.throws(() => be.matvec(new Float32Array(3), new Float32Array(8), new Float32Array(3), 3, 3), /w has 8 elements/);
  } finally {
    be.dispose();
  }
});

interface ExpectedLogits {
  tokens: number[];
  logits: number[][];
  greedy_prompt: number[];
  greedy_tokens: number[];
}

for (const name of ["gqa-f32", "mqa-f16-sharded"]) {
  test(`${name} [wasm, 2T]: logits, cached decoding and greedy tokens match PyTorch`, async () => {
    const dir = path.join(fixturesDir, "models", name);
    const expected = JSON.parse(fs.readFileSync(path.join(fixturesDir, "models", `${name}.expected.json`), "utf8")) as ExpectedLogits;
    const folder = loadModelFolder(dir);
    const be = await backendWith(2);
    try {
      const model = new LlamaModel(folder.config, folder.params, be);
      assertClose(model.forward(expected.tokens, model.newCache(), true), expected.logits.flat(), 1e-4, `${name} logits`);
      const cache = model.newCache();
      const rows = [...model.forward(expected.tokens.slice(0, 5), cache, true)];
      for (let t = 5; t < expected.tokens.length; t++) rows.push(...model.forward([expected.tokens[t]!], cache, false));
      assertClose(rows, expected.logits.flat(), 1e-4, `${name} cached logits`);
      const got = [...generateTokens(model, expected.greedy_prompt, { maxTokens: expected.greedy_tokens.length, temperature: 0, topP: 1, seed: 0, stopAtEos: false })];
      assert.deepEqual(got, expected.greedy_tokens);
    } finally {
      be.dispose();
    }
  });
}

interface ExpectedTrain {
  batch: number; grad_accum: number; seq_len: number; lr: number; warmup: number; total_steps: number;
  min_lr_ratio: number; wd: number; clip: number;
  steps: Array<{ step: number; loss: number; grad_norm: number; lr: number }>;
}

test("training on the wasm backend (2 threads): every step's loss and gradient norm match PyTorch", async () => {
  const dir = path.join(fixturesDir, "train");
  const exp = JSON.parse(fs.readFileSync(path.join(dir, "expected.json"), "utf8")) as ExpectedTrain;
  const raw = fs.readFileSync(path.join(dir, "tokens.bin"));
  const tokens = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
  const source: WindowSource = {
    description: "fixture tokens",
    fill(out, firstRow, rows, T) {
      for (let r = 0; r < rows; r++) for (let i = 0; i <= T; i++) out[r * (T + 1) + i] = tokens[(firstRow + r) * T + i]!;
    },
  };
  const hp: TrainHyperparameters = {
    ...PAPER_DEFAULTS,
    batch: exp.batch, gradAccum: exp.grad_accum, seqLen: exp.seq_len, lr: exp.lr, warmup: exp.warmup,
    totalSteps: exp.total_steps, minLrRatio: exp.min_lr_ratio, weightDecay: exp.wd, clip: exp.clip, seed: 0,
  };
  const previous: Backend = getBackend();
  const be = await backendWith(2);
  setBackend(checked(be));
  try {
    const folder = loadModelFolder(path.join(dir, "model"));
    const trainer = new Trainer(folder.config, folder.params, hp, source);
    for (const want of exp.steps) {
      const got = trainer.step();
      assert.ok(Math.abs(got.loss - want.loss) < 2e-5 * want.loss, `step ${want.step}: loss ${got.loss} vs ${want.loss}`);
      assert.ok(Math.abs(got.grad_norm - want.grad_norm) < 1e-4 * want.grad_norm, `step ${want.step}: grad norm ${got.grad_norm} vs ${want.grad_norm}`);
    }
  } finally {
    setBackend(previous);
    be.dispose();
  }
});
