/**
 * RoPE scaling (Llama 3.1's `llama3` rule and `linear`) outside the forward pass, which
 * test/model/llama.test.ts checks against PyTorch: config.json keys as transformers writes
 * them, unknown types refused; the per-frequency divisors against tools/llama_reference.py;
 * GGUF round trip through `rope_freqs.weight` (also as llama.cpp writes it, without the
 * original context key) giving the same logits; the training graph's loss on a scaled model
 * against PyTorch's logits; Llama 3's 128k vocabulary and rope_theta 500000 on a small model.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { configFromHf, configToHf, type LlamaConfig } from "../../src/model/config.js";
import { llama3FromFreqFactors, ropeFreqFactors, type RopeScaling } from "../../src/model/rope.js";
import { LlamaModel } from "../../src/model/llama.js";
import { TrainGraph } from "../../src/model/train-graph.js";
import { referenceOps } from "../../src/kernels/ops/index.js";
import { initParams } from "../../src/model/init.js";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { loadGgufParams, saveGguf } from "../../src/formats/gguf-model.js";
import { GgufFile, gguf, writeGguf, type GgufValue } from "../../src/formats/gguf.js";
import { saveLlama2c } from "../../src/formats/llama2c.js";
import { UserError } from "../../src/util/errors.js";
import { assertClose, fixturesDir } from "../helpers.js";

interface Expected { tokens: number[]; logits: number[][]; rope_freq_factors?: number[] }
const modelsDir = path.join(fixturesDir, "models");
const expected = (name: string): Expected => JSON.parse(fs.readFileSync(path.join(modelsDir, `${name}.expected.json`), "utf8")) as Expected;

const base = {
  architectures: ["LlamaForCausalLM"], model_type: "llama", vocab_size: 128256, hidden_size: 4096, intermediate_size: 14336,
  num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, rms_norm_eps: 1e-5, rope_theta: 500000.0,
  max_position_embeddings: 131072, bos_token_id: 128000, eos_token_id: [128001, 128008, 128009],
};
const LLAMA31: RopeScaling = { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-rope-"));
}

test("config.json rope_scaling: Llama 3.1's llama3 block, linear under `type`, default and null are plain RoPE; round trip", () => {
  const c = configFromHf({
    ...base,
    rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
  }, "config.json");
  assert.deepEqual(c.ropeScaling, LLAMA31);
  assert.equal(c.ropeTheta, 500000);
  assert.equal(c.vocabSize, 128256);
  assert.deepEqual(configFromHf(configToHf(c), "x"), c);
  assert.deepEqual(configToHf(c)["rope_scaling"], { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 });
  const lin = configFromHf({ ...base, rope_scaling: { type: "linear", factor: 2.0 } }, "x");
  assert.deepEqual(lin.ropeScaling, { type: "linear", factor: 2 });
  assert.deepEqual(configFromHf(configToHf(lin), "x"), lin);
  assert.equal(configFromHf({ ...base, rope_scaling: null }, "x").ropeScaling, undefined);
  assert.equal(configFromHf({ ...base, rope_scaling: { rope_type: "default" } }, "x").ropeScaling, undefined);
  assert.equal("rope_scaling" in configToHf(configFromHf(base, "x")), false);
});

test("unknown or malformed rope_scaling is one line naming the problem", () => {
  for (const type of ["yarn", "dynamic", "longrope"]) {
    assert.throws(
      () => configFromHf({ ...base, rope_scaling: { rope_type: type, factor: 4 } }, "cfg.json"),
      (e: unknown) => e instanceof UserError && e.message === `cfg.json: rope_scaling type "${type}" is not supported (llama-ts implements "llama3" and "linear")`,
    );
  }
  assert.throws(() => configFromHf({ ...base, rope_scaling: { rope_type: "llama3", factor: 8 } }, "c"), /c: rope_scaling "low_freq_factor" must be a number, got undefined/);
  assert.throws(
    () => configFromHf({ ...base, rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8192 } }, "c"),
    /c: rope_scaling \(llama3\): high_freq_factor \(1\) must be greater than low_freq_factor \(4\)/,
  );
  assert.throws(() => configFromHf({ ...base, rope_scaling: { type: "linear", factor: 0 } }, "c"), /rope_scaling \(linear\): factor must be a positive number/);
});

test("llama3 frequency divisors equal the PyTorch reference's (all three bands), linear ones are the factor", () => {
  const e = expected("llama3-rope");
  const c = loadModelFolder(path.join(modelsDir, "llama3-rope")).config;
  const got = ropeFreqFactors(16, c.ropeTheta, c.ropeScaling);
  assertClose(got, e.rope_freq_factors!, 1e-6, "rope freq factors");
  assert.ok(got[0] === 1 && got[1]! > 1 && got[2]! < 8 && got[7] === 8, `bands: ${got.join(", ")}`);
  const lin = loadModelFolder(path.join(modelsDir, "linear-rope")).config;
  assert.deepEqual(ropeFreqFactors(16, lin.ropeTheta, lin.ropeScaling), expected("linear-rope").rope_freq_factors);
});

test("the llama3 parameters are recovered from frequency divisors (with and without the original context)", () => {
  for (const s of [LLAMA31, { ...LLAMA31, factor: 32 }, { type: "llama3" as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 }]) {
    for (const [hd, theta] of [[128, 500000], [64, 500000], [16, 10000]] as const) {
      const f = Array.from(new Float32Array(ropeFreqFactors(hd, theta, s)));
      const back = llama3FromFreqFactors(hd, theta, f);
      assert.ok(back, `hd ${hd} theta ${theta}: not recognised`);
      // Parameters that give the same divisors are the same rule even if not the same numbers.
      assertClose(ropeFreqFactors(hd, theta, back), f, 1e-6, `hd ${hd} theta ${theta}`);
      assert.deepEqual(llama3FromFreqFactors(hd, theta, f, s.originalMaxPositionEmbeddings), s);
    }
  }
  assert.deepEqual(llama3FromFreqFactors(128, 500000, Array.from(new Float32Array(ropeFreqFactors(128, 500000, LLAMA31)))), LLAMA31);
  assert.equal(llama3FromFreqFactors(16, 10000, new Array(8).fill(1)), null);
  assert.equal(llama3FromFreqFactors(16, 10000, [1, 2, 1, 2, 1, 2, 1, 2]), undefined);
});

/** A copy of a GGUF file without some metadata keys (as llama.cpp's converter writes llama3 files). */
function rewriteWithout(src: string, dst: string, drop: string[], add: Record<string, GgufValue> = {}): void {
  const f = GgufFile.open(src);
  try {
    const md = new Map([...f.metadata].filter(([k]) => !drop.includes(k)));
    for (const [k, v] of Object.entries(add)) md.set(k, v);
    writeGguf(dst, md, f.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: f.readTensorBytes(t.name) })));
  } finally {
    f.close();
  }
}

function logitsOf(config: LlamaConfig, params: Float32Array, tokens: number[]): Float32Array {
  const m = new LlamaModel(config, params);
  return Float32Array.from(m.forward(tokens, m.newCache(tokens.length), true));
}

test("GGUF round trip: llama3 as rope_freqs.weight, linear as rope.scaling.type/factor; same config and logits", () => {
  const dir = tmpDir();
  try {
    for (const name of ["llama3-rope", "linear-rope"]) {
      const e = expected(name);
      const folder = loadModelFolder(path.join(modelsDir, name));
      const file = path.join(dir, `${name}.gguf`);
      saveGguf(file, folder.config, folder.params, { type: "f32" });
      const f = GgufFile.open(file);
      if (name === "llama3-rope") {
        assert.deepEqual([...f.tensorsByName.get("rope_freqs.weight")!.dims], [8]);
        assertClose(new Float32Array(f.readTensorBytes("rope_freqs.weight").buffer), e.rope_freq_factors!, 1e-6, "stored rope_freqs");
        assert.equal(f.getString("llama.rope.scaling.type"), undefined);
      } else {
        assert.equal(f.getString("llama.rope.scaling.type"), "linear");
        assert.equal(f.getNumber("llama.rope.scaling.factor"), 4);
        assert.equal(f.tensorsByName.has("rope_freqs.weight"), false);
      }
      f.close();
      const back = loadGgufParams(file);
      assert.deepEqual(back.config.ropeScaling, folder.config.ropeScaling);
      const got = logitsOf(back.config, back.params, e.tokens);
      assertClose(got, e.logits.flat(), 1e-4, `${name} logits from GGUF`);
      assert.deepEqual(got, logitsOf(folder.config, folder.params, e.tokens));
    }
    // llama.cpp's converter writes only rope_freqs (no original context): the rule is fitted.
    const bare = path.join(dir, "bare.gguf");
    rewriteWithout(path.join(dir, "llama3-rope.gguf"), bare, ["llama.rope.scaling.original_context_length"]);
    const b = loadGgufParams(bare);
    assert.deepEqual(b.config.ropeScaling, loadModelFolder(path.join(modelsDir, "llama3-rope")).config.ropeScaling);
    // Scaling types we do not implement, and divisors no llama3 rule gives, are refused in one line.
    const yarn = path.join(dir, "yarn.gguf");
    rewriteWithout(path.join(dir, "linear-rope.gguf"), yarn, ["llama.rope.scaling.type"], { "llama.rope.scaling.type": gguf.str("yarn") });
    assert.throws(() => loadGgufParams(yarn), (err: unknown) => err instanceof UserError && /RoPE scaling "yarn" is not supported/.test(err.message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a rope_freqs.weight no llama3 rule gives is refused", () => {
  const dir = tmpDir();
  try {
    const folder = loadModelFolder(path.join(modelsDir, "llama3-rope"));
    const file = path.join(dir, "a.gguf");
    saveGguf(file, folder.config, folder.params, { type: "f32" });
    const f = GgufFile.open(file);
    const md = new Map(f.metadata);
    const tensors = f.tensors.map((t) => ({
      name: t.name, dims: t.dims, type: t.type,
      data: t.name === "rope_freqs.weight" ? new Uint8Array(new Float32Array([1, 3, 1, 3, 1, 3, 1, 3]).buffer) : f.readTensorBytes(t.name),
    }));
    f.close();
    writeGguf(file, md, tensors);
    assert.throws(() => loadGgufParams(file), /rope_freqs\.weight does not follow Llama 3's RoPE scaling rule/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("training graph on a scaled model: its loss equals the cross-entropy of PyTorch's logits", () => {
  for (const name of ["llama3-rope", "linear-rope"]) {
    const e = expected(name);
    const folder = loadModelFolder(path.join(modelsDir, name));
    const T = e.tokens.length - 1;
    const graph = new TrainGraph<Float32Array>(folder.config, 1, T, referenceOps(), (n) => new Float32Array(n));
    const V = folder.config.vocabSize;
    let want = 0;
    for (let t = 0; t < T; t++) {
      const row = e.logits[t]!;
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0));
      want += (lse - row[e.tokens[t + 1]!]!) / T;
    }
    assert.equal(e.logits[0]!.length, V);
    const got = graph.evalLoss(folder.params, e.tokens);
    assert.ok(Math.abs(got - want) <= 1e-4 * Math.abs(want), `${name}: loss ${got}, PyTorch ${want}`);
  }
});

test("Llama 3 shapes on a small model: 128256-token vocabulary, rope_theta 500000, llama3 scaling", () => {
  const c: LlamaConfig = {
    vocabSize: 128256, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1,
    rmsNormEps: 1e-5, ropeTheta: 500000, ropeScaling: LLAMA31, maxPositionEmbeddings: 512, tieWordEmbeddings: true,
    bosTokenId: 128000, eosTokenId: 128009,
  };
  const params = initParams(c, 1);
  const m = new LlamaModel(c, params);
  const logits = m.forward([128000, 9906, 128255], m.newCache(3), false);
  assert.equal(logits.length, 128256);
  assert.ok(Array.from(logits).every(Number.isFinite));
  assert.throws(() => saveLlama2c(path.join(os.tmpdir(), "never-written.bin"), { ...c, ropeTheta: 10000 }, params), /llama2\.c checkpoints have no RoPE scaling/);
});
