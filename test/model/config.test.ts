import { test } from "node:test";
import assert from "node:assert/strict";
import { configFromHf, configToHf, ffnHiddenSize, PRESETS, presetConfig } from "../../src/model/config.js";
import { parameterCount } from "../../src/model/params.js";
import { UserError } from "../../src/util/errors.js";

test("the paper's FFN rule gives Meta's hidden sizes", () => {
  assert.equal(ffnHiddenSize(4096), 11008);
  assert.equal(ffnHiddenSize(5120), 13824);
  assert.equal(ffnHiddenSize(6656), 17920);
  assert.equal(ffnHiddenSize(8192), 22016);
  assert.equal(PRESETS["7B"]!.intermediateSize, 11008);
});

test("presets have the paper's shapes and parameter counts", () => {
  // LLaMA-7B has 6,738,415,616 parameters (untied 32000-vocab head).
  assert.equal(parameterCount(presetConfig("7B")), 6738415616);
  assert.equal(parameterCount(presetConfig("13B")), 13015864320);
  for (const name of ["7B", "13B", "33B", "65B"]) {
    const c = presetConfig(name);
    assert.equal(c.hiddenSize / c.numAttentionHeads, 128, `${name} head dim`);
  }
  assert.throws(() => presetConfig("3B"), UserError);
});

test("HF config round-trips and defaults num_key_value_heads to the head count", () => {
  const c = presetConfig("tiny");
  assert.deepEqual(configFromHf(configToHf(c), "x"), c);
  const raw = configToHf(c);
  delete raw["num_key_value_heads"];
  assert.equal(configFromHf(raw, "x").numKeyValueHeads, c.numAttentionHeads);
});

test("bad configs are user errors naming the file and the key", () => {
  const c = configToHf(presetConfig("tiny"));
  assert.throws(() => configFromHf({ ...c, hidden_size: 65 }, "cfg.json"), /cfg\.json: hidden_size 65 is not divisible/);
  assert.throws(() => configFromHf({ ...c, num_key_value_heads: 3 }, "cfg.json"), /not a multiple of num_key_value_heads/);
  assert.throws(() => configFromHf({ ...c, vocab_size: "big" }, "cfg.json"), /"vocab_size" must be a number/);
  assert.throws(() => configFromHf({ ...c, model_type: "mistral" }, "cfg.json"), /model_type "mistral"/);
  const missing: Record<string, unknown> = { ...c };
  delete missing["hidden_size"];
  assert.throws(() => configFromHf(missing, "cfg.json"), /cfg\.json: missing "hidden_size"/);
  assert.throws(() => configFromHf([], "cfg.json"), UserError);
});
