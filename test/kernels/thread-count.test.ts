/**
 * The default thread count (src/kernels/thread-count.ts): every core only when a timed
 * decode-sized product is clearly faster on them than on one thread. A fake target whose
 * product advances a simulated clock by a chosen time per thread count stands in for the
 * machine (a real busy machine would make the margins below flaky).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { calibrateThreads, MIN_SPEEDUP, type ThreadCalibrationTarget } from "../../src/kernels/thread-count.js";
import type { QuantMatrix } from "../../src/kernels/quant.js";

/** A target whose qmatmul takes `usPerThreads(threads)` microseconds of `clock`; records what it was asked. */
function fakeTarget(usPerThreads: (t: number) => number): ThreadCalibrationTarget & { threads: number; shapes: string[]; clock: () => number } {
  let ms = 0;
  const target = {
    threads: 0,
    clock: () => ms,
    shapes: [] as string[],
    setThreads(n: number) { target.threads = n; },
    qmatmul(out: Float32Array, a: Float32Array, w: QuantMatrix, m: number) {
      target.shapes.push(`${w.type} ${w.rows}x${w.cols} m${m} out${out.length} a${a.length} ${w.data.length}B`);
      ms += usPerThreads(target.threads) / 1000;
    },
  };
  return target;
}

test("calibrateThreads keeps every core only when they are clearly faster, and leaves the target there", () => {
  const fast = fakeTarget((t) => (t === 1 ? 1000 : 100));
  assert.equal(calibrateThreads(fast, 2, fast.clock), 2);
  assert.equal(fast.threads, 2);
  assert.ok(fast.shapes.every((s) => s === "q8_0 2048x512 m1 out2048 a512 1114112B"), fast.shapes[0]);

  const slower = fakeTarget((t) => (t === 1 ? 100 : 1000));
  assert.equal(calibrateThreads(slower, 2, slower.clock), 1);
  assert.equal(slower.threads, 1);

  // barely faster (below MIN_SPEEDUP) is not worth the risk of stalls: 1 thread
  const barely = fakeTarget((t) => (t === 1 ? 300 : 300 / (MIN_SPEEDUP * 0.98)));
  assert.equal(calibrateThreads(barely, 4, barely.clock), 1);
  const enough = fakeTarget((t) => (t === 1 ? 300 : 300 / (MIN_SPEEDUP * 1.02)));
  assert.equal(calibrateThreads(enough, 4, enough.clock), 4);

  const single = fakeTarget(() => 100);
  assert.equal(calibrateThreads(single, 1, single.clock), 1);
  assert.equal(single.shapes.length, 0, "one core: nothing to measure");
});
