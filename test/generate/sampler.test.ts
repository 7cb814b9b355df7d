import { test } from "node:test";
import assert from "node:assert/strict";
import { argmax, nucleus, sampleToken, softmaxWithTemperature } from "../../src/generate/sampler.js";
import { Rng } from "../../src/util/rng.js";

function logitsOf(probs: number[]): Float32Array {
  return Float32Array.from(probs.map((p) => Math.log(p)));
}

test("argmax picks the first of equal maxima (as torch.argmax)", () => {
  assert.equal(argmax(Float32Array.from([1, 3, 3, 2])), 1);
});

test("top-p keeps the smallest set whose probability reaches p (Meta's rule)", () => {
  const probs = Float64Array.from([0.1, 0.4, 0.3, 0.15, 0.05]);
  // sorted: 0.4 (1), 0.3 (2), 0.15 (3), 0.1 (0), 0.05 (4)
  assert.deepEqual(nucleus(probs, 0.5).ids, [1, 2]); // 0.4 < 0.5, so 0.3 is needed
  assert.deepEqual(nucleus(probs, 0.7).ids, [1, 2]); // 0.4 + 0.3 = 0.7 reaches p: stop
  assert.deepEqual(nucleus(probs, 0.71).ids, [1, 2, 3]);
  assert.deepEqual(nucleus(probs, 0.3).ids, [1]);
  assert.deepEqual(nucleus(probs, 1).ids, [1, 2, 3, 0, 4]);
});

test("temperature sharpens and flattens softmax", () => {
  const l = Float32Array.from([0, 1]);
  const p1 = softmaxWithTemperature(l, 1);
  const pHalf = softmaxWithTemperature(l, 0.5);
  assert.ok(Math.abs(p1[1]! - 1 / (1 + Math.exp(-1))) < 1e-12);
  assert.ok(Math.abs(pHalf[1]! - 1 / (1 + Math.exp(-2))) < 1e-12);
});

test("sampling frequencies follow the renormalised nucleus; seeded runs repeat", () => {
  const probs = [0.1, 0.4, 0.3, 0.15, 0.05];
  const logits = logitsOf(probs);
  const rng = new Rng(7);
  const counts = [0, 0, 0, 0, 0];
  const n = 20000;
  for (let i = 0; i < n; i++) counts[sampleToken(logits, { temperature: 1, topP: 0.8 }, rng)]!++;
  // nucleus at 0.8: {1, 2, 3} with mass 0.85
  assert.equal(counts[0], 0);
  assert.equal(counts[4], 0);
  for (const [id, p] of [[1, 0.4], [2, 0.3], [3, 0.15]] as const) {
    const expected = p / 0.85;
    const sd = Math.sqrt((expected * (1 - expected)) / n);
    assert.ok(Math.abs(counts[id]! / n - expected) < 5 * sd, `token ${id}: ${counts[id]! / n} vs ${expected}`);
  }
  const a = new Rng(3), b = new Rng(3);
  const seqA = Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 0.8, topP: 0.9 }, a));
  const seqB = Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 0.8, topP: 0.9 }, b));
  assert.deepEqual(seqA, seqB);
});

test("temperature 0 is greedy regardless of the RNG", () => {
  const logits = Float32Array.from([0.1, 2, 0.3]);
  assert.equal(sampleToken(logits, { temperature: 0, topP: 0.9 }, new Rng(1)), 1);
});
