import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { adamwStep, clipScale, globalNorm, learningRate, type LrSchedule } from "../../src/kernels/optim.js";
import { sumSquares } from "../../src/kernels/ops/sum-squares.js";
import { assertClose, fixturesDir } from "../helpers.js";

interface AdamWFixture {
  schedule: LrSchedule;
  beta1: number; beta2: number; eps: number; weightDecay: number; maxNorm: number;
  tensors: Array<{ name: string; size: number }>;
  decayRanges: Array<[number, number]>;
  init: number[];
  steps: Array<{ step: number; lr: number; grads: number[]; gradNorm: number; clipScale: number; params: number[]; m: number[]; v: number[] }>;
}
interface ScheduleFixture { cases: Array<{ schedule: LrSchedule; steps: number[]; lr: number[] }> }

function load<T>(name: string): T {
  return JSON.parse(readFileSync(path.join(fixturesDir, "optim", name), "utf8")) as T;
}

test("learningRate follows the contract: PyTorch-side fixture values", () => {
  const fx = load<ScheduleFixture>("schedule.json");
  for (const c of fx.cases) {
    c.steps.forEach((s, i) => {
      const got = learningRate(s, c.schedule);
      assert.ok(Math.abs(got - c.lr[i]!) <= 1e-15 * Math.abs(c.lr[i]!), `step ${s}: ${got} vs ${c.lr[i]}`);
    });
  }
  // Landmarks: warm-up ends at LR, cosine starts at LR, ends at LR_min and stays there.
  const sch = { lr: 3e-4, warmup: 2000, totalSteps: 10000, minLrRatio: 0.1 };
  assert.equal(learningRate(0, sch), 3e-4 / 2000);
  assert.ok(Math.abs(learningRate(1999, sch) - 3e-4) < 1e-18);
  assert.ok(Math.abs(learningRate(2000, sch) - 3e-4) < 1e-18);
  assert.ok(Math.abs(learningRate(6000, sch) - 0.55 * 3e-4) < 1e-18);
  assert.ok(Math.abs(learningRate(10000, sch) - 3e-5) < 1e-18);
  assert.ok(Math.abs(learningRate(50000, sch) - 3e-5) < 1e-18);
});

test("globalNorm and clipScale", () => {
  const g = new Float32Array([3, 4, 0, 0, 12]);
  assert.equal(sumSquares(g, 5), 169);
  assert.equal(globalNorm(g, 5), 13);
  assert.equal(globalNorm(g, 2), 5);
  assert.equal(clipScale(13, 1), 1 / (13 + 1e-6));
  assert.equal(clipScale(0.5, 1), 1);
  assert.equal(clipScale(1, 1), 1 / (1 + 1e-6)); // just below 1: scaled, as torch does
  assert.equal(clipScale(5, Infinity), 1);
  assert.ok(Number.isNaN(clipScale(NaN, 1)));
  assert.equal(clipScale(Infinity, 1), 0);
  // float32 gradients of float32 magnitude: accumulation in float64 (no overflow of the sum).
  const big = new Float32Array(1000).fill(1e20);
  assert.ok(Math.abs(globalNorm(big, 1000) / (1e20 * Math.sqrt(1000)) - 1) < 1e-6);
});

test("adamwStep + clipping + schedule reproduce torch.optim.AdamW steps (fixture from tools/gen_optim_fixtures.py)", () => {
  const fx = load<AdamWFixture>("adamw.json");
  const n = fx.init.length;
  const params = Float32Array.from(fx.init);
  const grads = new Float32Array(n);
  const m = new Float32Array(n), v = new Float32Array(n);
  for (const st of fx.steps) {
    grads.set(st.grads);
    const norm = globalNorm(grads, n);
    assert.ok(Math.abs(norm - st.gradNorm) <= 1e-6 * st.gradNorm, `step ${st.step} norm ${norm} vs ${st.gradNorm}`);
    const scale = clipScale(norm, fx.maxNorm);
    assert.ok(Math.abs(scale - st.clipScale) <= 1e-6, `step ${st.step} clip ${scale} vs ${st.clipScale}`);
    const lr = learningRate(st.step, fx.schedule);
    assert.ok(Math.abs(lr - st.lr) <= 1e-15 * st.lr);
    adamwStep(params, grads, m, v, fx.decayRanges, n, {
      lr, beta1: fx.beta1, beta2: fx.beta2, eps: fx.eps, weightDecay: fx.weightDecay, step: st.step + 1, gradScale: scale,
    });
    assertClose(params, st.params, 1e-6, `params after step ${st.step}`);
    assertClose(m, st.m, 1e-6, `m after step ${st.step}`);
    assertClose(v, st.v, 1e-6, `v after step ${st.step}`);
  }
  // Some steps clipped, some did not: both paths were exercised.
  assert.ok(fx.steps.some((s) => s.clipScale < 1) && fx.steps.some((s) => s.clipScale === 1));
});

test("adamwStep: Uint8Array mask equals ranges; no decay outside them; torch formula on one element", () => {
  const n = 23;
  const mk = (seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.3));
  const ranges: Array<[number, number]> = [[15, 20], [2, 9]]; // unsorted on purpose
  const mask = new Uint8Array(n);
  for (const [s, e] of ranges) mask.fill(1, s, e);
  const opts = { lr: 0.05, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 3, gradScale: 0.5 };
  const pA = mk(1), mA = mk(2).map(Math.abs), vA = mk(3).map((x) => x * x), g = mk(4);
  const pB = Float64Array.from(pA), mB = Float64Array.from(mA), vB = Float64Array.from(vA);
  const p0 = Float64Array.from(pA), m0 = Float64Array.from(mA), v0 = Float64Array.from(vA);
  adamwStep(pA, g, mA, vA, ranges, n, opts);
  adamwStep(pB, g, mB, vB, mask, n, opts);
  assert.deepEqual([...pA], [...pB]);
  assert.deepEqual([...mA], [...mB]);
  for (let i = 0; i < n; i++) {
    const gi = g[i]! * 0.5;
    const mi = 0.9 * m0[i]! + 0.1 * gi;
    const vi = 0.95 * v0[i]! + 0.05 * gi * gi;
    const mh = mi / (1 - 0.9 ** 3), vh = vi / (1 - 0.95 ** 3);
    const decay = mask[i] ? 1 - 0.05 * 0.1 : 1;
    const want = p0[i]! * decay - (0.05 * mh) / (Math.sqrt(vh) + 1e-8);
    assert.ok(Math.abs(pA[i]! - want) < 1e-14, `element ${i}`);
    assert.ok(Math.abs(mA[i]! - mi) < 1e-15 && Math.abs(vA[i]! - vi) < 1e-15);
  }
  assert.throws(() => adamwStep(pA, g, mA, vA, [[0, 5], [4, 8]], n, opts), /decay range/);
  assert.throws(() => adamwStep(pA, g, mA, vA, [[0, 24]], n, opts), /decay range/);
  assert.throws(() => adamwStep(pA, g, mA, vA, ranges, n, { ...opts, step: 0 }), /step/);
});
