import { after, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadModelFolder, saveModelFolder } from "../../src/formats/hf-folder.js";
import { openSafetensors, writeSafetensors } from "../../src/formats/safetensors.js";
import { presetConfig, configToHf } from "../../src/model/config.js";
import { paramLayout } from "../../src/model/params.js";
import { initParams } from "../../src/model/init.js";
import { UserError } from "../../src/util/errors.js";

const made: string[] = [];
after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-hf-"));
  made.push(d);
  return d;
}

const config = { ...presetConfig("tiny"), vocabSize: 37, hiddenSize: 24, intermediateSize: 40, numAttentionHeads: 6, numKeyValueHeads: 3, maxPositionEmbeddings: 16 };

test("save then load gives back the same config and parameters", () => {
  const dir = tmpDir();
  const params = initParams(config, 5);
  saveModelFolder(dir, config, params);
  const loaded = loadModelFolder(dir);
  assert.deepEqual(loaded.config, config);
  assert.deepEqual(loaded.params, params);
  assert.equal(loaded.tokenizerPath, undefined);
  // Nothing temporary left behind.
  assert.deepEqual(fs.readdirSync(dir).sort(), ["config.json", "generation_config.json", "model.safetensors"]);
});

/** Writes a folder with the given tensors (default: all, correct) and config overrides. */
function writeFolder(mutate: (tensors: Array<{ name: string; shape: number[]; data: Float32Array }>) => void, cfg = config): string {
  const dir = tmpDir();
  const layout = paramLayout(cfg);
  const params = initParams(cfg, 1);
  const tensors = layout.specs.map((s) => ({ name: s.name, shape: [...s.shape], data: params.slice(s.offset, s.offset + s.size) }));
  mutate(tensors);
  writeSafetensors(path.join(dir, "model.safetensors"), tensors);
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(configToHf(cfg)));
  return dir;
}

function assertUserError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof UserError && pattern.test(e.message), `expected UserError matching ${pattern}`);
}

test("a missing tensor is named", () => {
  const dir = writeFolder((t) => t.splice(t.findIndex((x) => x.name === "model.layers.1.mlp.up_proj.weight"), 1));
  assertUserError(() => loadModelFolder(dir), /tensor model\.layers\.1\.mlp\.up_proj\.weight is missing/);
});

test("a missing untied head suggests tie_word_embeddings", () => {
  const dir = writeFolder((t) => t.splice(t.findIndex((x) => x.name === "lm_head.weight"), 1));
  assertUserError(() => loadModelFolder(dir), /lm_head\.weight is missing.*tie_word_embeddings/);
});

test("a wrong shape is reported with both shapes", () => {
  const dir = writeFolder((t) => {
    const k = t.find((x) => x.name === "model.layers.0.self_attn.k_proj.weight")!;
    k.shape = [24, 12];
    k.data = new Float32Array(24 * 12);
  });
  assertUserError(() => loadModelFolder(dir), /k_proj\.weight has shape \[24, 12\], config\.json implies \[12, 24\]/);
});

test("NaN weights are refused", () => {
  const dir = writeFolder((t) => { t[3]!.data[2] = NaN; });
  assertUserError(() => loadModelFolder(dir), /non-finite value/);
});

test("unexpected tensors (e.g. biases) are refused, rotary inv_freq buffers ignored", () => {
  const dir = writeFolder((t) => t.push({ name: "model.layers.0.self_attn.q_proj.bias", shape: [24], data: new Float32Array(24) }));
  assertUserError(() => loadModelFolder(dir), /unexpected tensors.*q_proj\.bias/);
  const ok = writeFolder((t) => t.push({ name: "model.layers.0.self_attn.rotary_emb.inv_freq", shape: [2], data: new Float32Array(2) }));
  assert.equal(loadModelFolder(ok).config.hiddenSize, 24);
});

test("missing folder, missing config.json and broken JSON are one-line user errors", () => {
  assertUserError(() => loadModelFolder("/nonexistent/model"), /does not exist/);
  const dir = tmpDir();
  assertUserError(() => loadModelFolder(dir), /config\.json is missing/);
  fs.writeFileSync(path.join(dir, "config.json"), "{ nope");
  assertUserError(() => loadModelFolder(dir), /config\.json: not valid JSON/);
});

test("a truncated model.safetensors names the file", () => {
  const dir = writeFolder(() => {});
  const file = path.join(dir, "model.safetensors");
  const size = fs.statSync(file).size;
  fs.truncateSync(file, size - 100);
  assert.throws(() => loadModelFolder(dir), (e: unknown) => e instanceof UserError && e.message.includes("model.safetensors"));
  void openSafetensors;
});
