/**
 * Meta release folders (tools/gen_pth_fixtures.py): params.json -> config, the model-parallel
 * merge (2 bf16 shards give exactly the parameters of the same model saved as one shard),
 * forward logits against the fixture's from-scratch Meta-math reference, and broken folders.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadMetaCheckpoint, metaCheckpointDir } from "../../src/formats/meta.js";
import { ffnHiddenSize } from "../../src/model/config.js";
import { LlamaModel } from "../../src/model/llama.js";
import { UserError } from "../../src/util/errors.js";
import { assertClose, fixturesDir } from "../helpers.js";

const dir = path.join(fixturesDir, "meta");
interface Expected { tokens: number[]; ffn_hidden: number; vocab: number; logits: number[][] }
const expected = (name: string): Expected => JSON.parse(fs.readFileSync(path.join(dir, `${name}.expected.json`), "utf8")) as Expected;

test("FFN hidden size follows Meta's model.py (multiple_of, ffn_dim_multiplier)", () => {
  // Published intermediate sizes: LLaMA 7B, Llama 2 70B, Llama 3 8B and 70B.
  assert.equal(ffnHiddenSize(4096, 256), 11008);
  assert.equal(ffnHiddenSize(8192, 4096, 1.3), 28672);
  assert.equal(ffnHiddenSize(4096, 1024, 1.3), 14336);
  assert.equal(ffnHiddenSize(8192, 1024, 1.3), 28672);
});

test("params.json becomes our config (vocab_size -1 taken from tok_embeddings)", () => {
  const a = loadMetaCheckpoint(path.join(dir, "single-f16"));
  assert.deepEqual(
    { ...a.config },
    {
      vocabSize: expected("single-f16").vocab, hiddenSize: 48, intermediateSize: expected("single-f16").ffn_hidden, numHiddenLayers: 2,
      numAttentionHeads: 4, numKeyValueHeads: 4, rmsNormEps: 1e-6, ropeTheta: 10000, maxPositionEmbeddings: 2048,
      tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
    },
  );
  assert.equal(a.tokenizerPath, undefined);
  const b = loadMetaCheckpoint(path.join(dir, "mp2-bf16-gqa"));
  assert.equal(b.config.numKeyValueHeads, 2);
  assert.equal(b.config.intermediateSize, expected("mp2-bf16-gqa").ffn_hidden);
  assert.equal(b.config.ropeTheta, 50000);
  assert.equal(b.config.maxPositionEmbeddings, 4096); // norm_eps 1e-5: Llama 2's context
  const c = loadMetaCheckpoint(path.join(dir, "mp2-vocab-parallel")); // row-split embedding, vocab_size -1
  assert.equal(c.config.vocabSize, expected("mp2-vocab-parallel").vocab);
  assert.equal(c.config.maxPositionEmbeddings, 8192); // rope_theta 500000: Llama 3's context
});

for (const name of ["mp2-bf16-gqa", "mp2-vocab-parallel"]) {
  test(`${name}: 2 model-parallel shards merge to exactly the single-shard parameters`, () => {
    const merged = loadMetaCheckpoint(path.join(dir, name));
    const single = loadMetaCheckpoint(path.join(dir, `${name}-merged`));
    assert.deepEqual(merged.config, single.config);
    assert.equal(merged.params.length, single.params.length);
    assert.ok(merged.params.every((v, i) => v === single.params[i]), "merged parameters differ");
  });
}

for (const name of ["single-f16", "mp2-bf16-gqa", "mp2-vocab-parallel"]) {
  test(`${name}: our forward matches Meta's interleaved-RoPE reference logits`, () => {
    const e = expected(name);
    const m = loadMetaCheckpoint(path.join(dir, name));
    const model = new LlamaModel(m.config, m.params);
    assertClose(model.forward(e.tokens, model.newCache(e.tokens.length), true), e.logits.flat(), 1e-4, `${name} logits`);
  });
}

test("a release folder is recognised from the folder or one of its shards, not from other paths", () => {
  const d = path.join(dir, "mp2-bf16-gqa");
  assert.equal(metaCheckpointDir(d), d);
  assert.equal(metaCheckpointDir(path.join(d, "consolidated.01.pth")), d);
  assert.equal(metaCheckpointDir(path.join(d, "params.json")), undefined);
  assert.equal(metaCheckpointDir(path.join(dir, "tensors.pth")), undefined);
  assert.equal(metaCheckpointDir(path.join(fixturesDir, "models", "gqa-f32")), undefined);
});

test("broken folders: replicated norms that differ, a missing shard; tokenizer.model one level up or tiktoken", () => {
  assert.throws(() => loadMetaCheckpoint(path.join(dir, "broken", "norm-mismatch")), /consolidated\.01\.pth: layers\.0\.ffn_norm\.weight differs from shard 0's copy/);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-meta-"));
  try {
    const d = path.join(tmp, "7B");
    fs.mkdirSync(d);
    const src = path.join(dir, "mp2-bf16-gqa");
    fs.copyFileSync(path.join(src, "params.json"), path.join(d, "params.json"));
    fs.copyFileSync(path.join(src, "consolidated.01.pth"), path.join(d, "consolidated.01.pth"));
    assert.throws(() => loadMetaCheckpoint(d), (e: unknown) => e instanceof UserError && /consolidated\.00\.pth is missing/.test(e.message));
    fs.copyFileSync(path.join(src, "consolidated.00.pth"), path.join(d, "consolidated.00.pth"));
    fs.writeFileSync(path.join(tmp, "tokenizer.model"), "");
    assert.equal(loadMetaCheckpoint(d).tokenizerPath, path.join(tmp, "tokenizer.model"));
    fs.writeFileSync(path.join(d, "tokenizer.model"), "IQ== 0\nIg== 1\n"); // Llama 3's tiktoken format: not SentencePiece
    assert.equal(loadMetaCheckpoint(d).tokenizerPath, undefined);
    fs.writeFileSync(path.join(d, "params.json"), JSON.stringify({ dim: 48, n_layers: 2, n_heads: 6, n_kv_heads: 2, vocab_size: 66, multiple_of: 16, norm_eps: 1e-5 }));
    // Without ffn_dim_multiplier the FFN is 128 wide, not the 176 in the files.
    assert.throws(() => loadMetaCheckpoint(d), /feed_forward\.w1\.weight has shape \[88, 48\], expected \[64, 48\] \(shard 0 of 2\)/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
