import { test } from "node:test";
import assert from "node:assert/strict";
import { referenceOps } from "../../src/kernels/ops/index.js";
import { assertClose, randomArray } from "../helpers.js";
import { referenceBackend } from "../../src/kernels/backend.js";
import { backendConformance, backendRejectsBadArguments } from "./conformance.js";

const ref = referenceOps<Float32Array | Float64Array>();

test("reference matmul equals a hand-computed 2x3 · (2x3)ᵀ", () => {
  const a = new Float64Array([1, 2, 3, 4, 5, 6]);
  const w = new Float64Array([1, 0, -1, 2, 1, 0]);
  const out = new Float64Array(4);
  ref.matmul(out, a, w, 2, 2, 3);
  assert.deepEqual([...out], [1 - 3, 2 + 2, 4 - 6, 8 + 5]);
});

test("reference rmsnorm normalises to unit RMS before scaling", () => {
  const x = randomArray(7 * 13, 1);
  const w = new Float32Array(13).fill(1);
  const out = new Float32Array(x.length);
  ref.rmsnorm(out, x, w, 7, 13, 0);
  for (let r = 0; r < 7; r++) {
    let ss = 0;
    for (let i = 0; i < 13; i++) ss += out[r * 13 + i]! ** 2;
    assert.ok(Math.abs(ss / 13 - 1) < 1e-5);
  }
});

test("reference attention: one key gives back its value; GQA maps head h to kv head h / group", () => {
  const headDim = 4;
  const q = randomArray(4 * headDim, 2);
  const k = randomArray(2 * headDim, 3);
  const v = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const out = new Float32Array(4 * headDim);
  ref.attention(out, q, k, v, 1, 0, 4, 2, headDim);
  assertClose(out, [1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8], 1e-7);
});

test("reference rope rotates pairs (i, i + half) by pos·θ", () => {
  const x = new Float64Array([1, 0, 0, 1]); // one head of dim 4 at position 1
  const cos = new Float64Array([1, 1, Math.cos(0.5), Math.cos(0.25)]);
  const sin = new Float64Array([0, 0, Math.sin(0.5), Math.sin(0.25)]);
  ref.rope(x, 1, 1, 4, 1, cos, sin);
  assertClose(x, [Math.cos(0.5), -Math.sin(0.25), Math.sin(0.5), Math.cos(0.25)], 1e-12);
});

test("the reference backend passes the conformance suite and checks every op's arguments", () => {
  const be = referenceBackend();
  backendConformance(be, "[reference]");
  backendRejectsBadArguments(be);
});
