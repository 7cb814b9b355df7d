/**
 * Several optimiser steps following the training contract (sequential windows, warm-up +
 * cosine, clipping, B=2 × A=2 accumulation, AdamW) against PyTorch (tools/train_reference.py);
 * save + resume gives the same losses as an uninterrupted run.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Trainer, PAPER_DEFAULTS, type WindowSource, type TrainHyperparameters } from "../../src/train/trainer.js";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { openSafetensors, readTensorF32 } from "../../src/formats/safetensors.js";
import { paramLayout } from "../../src/model/params.js";
import { assertClose, fixturesDir } from "../helpers.js";

interface Expected {
  batch: number; grad_accum: number; seq_len: number; lr: number; warmup: number; total_steps: number;
  min_lr_ratio: number; wd: number; clip: number;
  steps: Array<{ step: number; loss: number; grad_norm: number; lr: number }>;
}

const dir = path.join(fixturesDir, "train");
const exp = JSON.parse(fs.readFileSync(path.join(dir, "expected.json"), "utf8")) as Expected;
const raw = fs.readFileSync(path.join(dir, "tokens.bin"));
const tokens = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);

/** The contract, written out directly: row r is tokens[r·T : r·T + T + 1]. */
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

test("AdamW steps with warm-up, cosine, clipping and accumulation match PyTorch", () => {
  const folder = loadModelFolder(path.join(dir, "model"));
  const trainer = new Trainer(folder.config, folder.params, hp, source);
  for (const want of exp.steps) {
    const got = trainer.step();
    assert.ok(Math.abs(got.loss - want.loss) < 2e-5 * want.loss, `step ${want.step}: loss ${got.loss} vs ${want.loss}`);
    assert.ok(Math.abs(got.grad_norm - want.grad_norm) < 1e-4 * want.grad_norm, `step ${want.step}: grad norm ${got.grad_norm} vs ${want.grad_norm}`);
    assert.ok(Math.abs(got.lr - want.lr) < 1e-12, `step ${want.step}: lr ${got.lr} vs ${want.lr}`);
  }
  const final = openSafetensors(path.join(dir, "final.safetensors"));
  for (const s of paramLayout(folder.config).specs) {
    assertClose(folder.params.subarray(s.offset, s.offset + s.size), readTensorF32(final, s.name), 2e-4, s.name);
  }
  final.close();
});

test("save + resume continues with exactly the losses of an uninterrupted run", () => {
  const run = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-run-"));
  const a = loadModelFolder(path.join(dir, "model"));
  const straight = new Trainer(a.config, a.params, hp, source);
  const want = exp.steps.map(() => straight.step().loss);

  const b = loadModelFolder(path.join(dir, "model"));
  const first = new Trainer(b.config, b.params, hp, source);
  const got = [first.step().loss, first.step().loss, first.step().loss];
  first.save(run);
  const resumed = Trainer.load(run, source);
  assert.equal(resumed.state.step, 3);
  while (got.length < want.length) got.push(resumed.step().loss);
  assert.deepEqual(got, want);
  assert.deepEqual(fs.readdirSync(run).sort(), ["checkpoint", "config.json", "generation_config.json", "model.safetensors", "trainer_state.json"]);
  assert.deepEqual(fs.readdirSync(path.join(run, "checkpoint")), ["optimizer.safetensors"]);
});
