/**
 * The native training kernels against their TypeScript references, on odd sizes and on sizes
 * that reach the blocked and threaded paths, on every instruction set this CPU has, with 1 and
 * 2 threads; bad arguments throw before C reads or writes anything.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { native, SKIP, testEveryConfig } from "./native-helpers.js";
import { checks } from "./kernel-cases.js";

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
