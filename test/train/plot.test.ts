/**
 * The loss picture's numbers (bias-corrected EMA, ticks, the schedule panel) and the
 * training memory estimate against what TrainGraph actually allocates.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { emaBeta, emaSmooth, formatCount, niceTicks, trainingCurveSvg } from "../../src/train/plot.js";
import { checkTrainingMemory, trainingMemoryBytes } from "../../src/train/run.js";
import { trainGraphFloats, TrainGraph } from "../../src/model/train-graph.js";
import { presetConfig } from "../../src/model/config.js";
import { parameterCount } from "../../src/model/params.js";
import { referenceOps } from "../../src/kernels/ops/index.js";
import { UserError } from "../../src/util/errors.js";

test("EMA: bias-corrected, written out by hand for three values; constant input stays constant", () => {
  const b = 0.5;
  // m1 = 0.5·2 = 1, w1 = 0.5 -> 2; m2 = 0.5·1 + 0.5·4 = 2.5, w2 = 0.75 -> 3.333...; m3 = 1.25 + 3 = 4.25, w3 = 0.875 -> 4.857...
  const got = emaSmooth([2, 4, 6], b);
  assert.deepEqual(got.map((v) => Number(v.toFixed(6))), [2, Number((2.5 / 0.75).toFixed(6)), Number((4.25 / 0.875).toFixed(6))]);
  assert.ok(emaSmooth(Array(50).fill(3.25), 0.97).every((v) => Math.abs(v - 3.25) < 1e-12));
  assert.equal(emaBeta(10), 0); // span 1: no smoothing for a short run
  assert.ok(Math.abs(emaBeta(3000) - (1 - 2 / 101)) < 1e-15);
});

test("ticks and counts", () => {
  assert.deepEqual(niceTicks(0, 1000, 5), [0, 200, 400, 600, 800, 1000]);
  assert.deepEqual(niceTicks(2.7, 7.9, 6), [3, 4, 5, 6, 7]);
  assert.equal(formatCount(3_276_800), "3.28M");
  assert.equal(formatCount(2048), "2.05k");
  assert.equal(formatCount(12), "12");
});

test("the picture: units, tokens axis, smoothed and raw loss, validation, learning-rate panel", () => {
  const losses = Array.from({ length: 120 }, (_, i) => 6 * Math.exp(-i / 40) + 2 + 0.1 * Math.sin(i));
  const svg = trainingCurveSvg({
    title: "t <x>", losses, valLosses: [{ step: 60, loss: 3.1 }, { step: 120, loss: 2.6 }], tokensPerStep: 2048,
    schedule: { lr: 2e-3, warmup: 10, totalSteps: 200, minLrRatio: 0.1 },
  });
  for (const s of ["loss (nats/token)", "tokens seen (2.05k per step)", "train (raw)", "train (smoothed)", "validation: 2.600", "learning rate", "t &lt;x&gt;", "stroke-dasharray"]) {
    assert.ok(svg.includes(s), s);
  }
  assert.equal((svg.match(/<polyline/g) ?? []).length, 5); // raw, smoothed, validation, lr done, lr to come
});

test("the memory estimate counts what TrainGraph allocates; a 7B model is refused on a 24 GiB machine", () => {
  const c = { ...presetConfig("tiny"), vocabSize: 300 };
  for (const [B, T] of [[2, 16], [3, 40], [1, 200]] as const) {
    let floats = 0;
    new TrainGraph<Float32Array>(c, B, T, referenceOps<Float32Array>(), (n) => { floats += n; return new Float32Array(n); });
    assert.equal(trainGraphFloats(c, B, T), floats, `B ${B} T ${T}`);
  }
  const need = trainingMemoryBytes(presetConfig("7B"), 8, 128);
  assert.equal(need.params, 16 * parameterCount(presetConfig("7B")));
  assert.throws(() => checkTrainingMemory(presetConfig("7B"), 8, 128, 24 * 2 ** 30), (e: unknown) =>
    e instanceof UserError && /needs about 10\d\.\d GiB .* this machine has 24\.0 GiB in total/.test(e.message));
  checkTrainingMemory(presetConfig("small"), 16, 128, 24 * 2 ** 30);
});
