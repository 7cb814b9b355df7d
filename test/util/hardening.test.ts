/**
 * The small pieces behind the bad-input fixes: terminal-safe quoting, the closed-form parameter
 * count used to check headers before allocating, path containment for model folders, and the
 * KV cache / RoPE tables that grow on demand instead of being sized by max_position_embeddings.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { assertClose, randomArray } from "../helpers.js";
import { oneLine, quoteForTerminal, UserError } from "../../src/util/errors.js";
import { resolveInside } from "../../src/util/files.js";
import { PRESETS, type LlamaConfig } from "../../src/model/config.js";
import { parameterCount, paramLayout } from "../../src/model/params.js";
import { LlamaModel } from "../../src/model/llama.js";

test("quoteForTerminal escapes every control, separator and bidi character; oneLine keeps one line", () => {
  assert.equal(quoteForTerminal('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(quoteForTerminal("x\x1b[31m\ny\r\t\x07\x7f\x9b\u2028\u202e\u2066\ufeffz"), '"x\\u001b[31m\\ny\\r\\t\\u0007\\u007f\\u009b\\u2028\\u202e\\u2066\\ufeffz"');
  assert.equal(quoteForTerminal("héllo ▁ 日本"), '"héllo ▁ 日本"');
  const long = quoteForTerminal("a".repeat(1000), 100);
  assert.ok(long.length < 110 && long.includes("…"), long);
  assert.equal(oneLine("two\nlines \x1b[2J\u2029end\n"), "two\\nlines \\u001b[2J\\u2029end");
});

test("parameterCount (closed form) equals the parameter layout's total", () => {
  const configs: LlamaConfig[] = Object.values(PRESETS).flatMap((c) => [c, { ...c, tieWordEmbeddings: true }, { ...c, numKeyValueHeads: 1 }]);
  for (const c of configs) assert.equal(parameterCount(c), paramLayout(c).total, JSON.stringify(c));
});

test("resolveInside keeps files inside their folder (symlinks followed), allowing the HF cache's blobs", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-inside-"));
  try {
    const dir = path.join(tmp, "model");
    fs.mkdirSync(path.join(dir, "sub"), { recursive: true });
    fs.writeFileSync(path.join(dir, "sub", "a.bin"), "a");
    fs.writeFileSync(path.join(tmp, "secret"), "s");
    assert.equal(resolveInside(dir, "sub/a.bin"), fs.realpathSync(path.join(dir, "sub", "a.bin")));
    fs.symlinkSync(path.join("..", "secret"), path.join(dir, "link"));
    fs.symlinkSync(path.join("sub", "a.bin"), path.join(dir, "inner-link"));
    assert.throws(() => resolveInside(dir, "link"), (e: unknown) => e instanceof UserError && /outside the folder/.test(e.message));
    assert.throws(() => resolveInside(dir, "../secret"), (e: unknown) => e instanceof UserError && /outside the folder/.test(e.message));
    assert.equal(resolveInside(dir, "inner-link"), fs.realpathSync(path.join(dir, "sub", "a.bin")));
    const snap = path.join(tmp, "models--a--b", "snapshots", "rev");
    fs.mkdirSync(snap, { recursive: true });
    fs.mkdirSync(path.join(tmp, "models--a--b", "blobs"));
    fs.writeFileSync(path.join(tmp, "models--a--b", "blobs", "h"), "w");
    fs.symlinkSync(path.join("..", "..", "blobs", "h"), path.join(snap, "model.safetensors"));
    assert.equal(resolveInside(snap, "model.safetensors"), fs.realpathSync(path.join(tmp, "models--a--b", "blobs", "h")));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("KV cache and RoPE tables grow on demand: token-by-token decoding past the first allocation matches one pass", () => {
  const c: LlamaConfig = {
    vocabSize: 50, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
    rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 10_000_000, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
  };
  const params = randomArray(paramLayout(c).total, 11, 0.2);
  const model = new LlamaModel(c, params);
  const tokens = Array.from({ length: 300 }, (_, i) => (i * 7) % c.vocabSize);
  const whole = model.forward(tokens, model.newCache(), true);
  const cache = model.newCache();
  assert.ok(cache.allocated < 1000, `the default cache starts small (${cache.allocated} positions), not at max_position_embeddings`);
  const rows: number[] = [];
  for (const t of tokens) rows.push(...model.forward([t], cache));
  assert.ok(cache.allocated >= 300 && cache.allocated <= 512, `grown to ${cache.allocated}`);
  assertClose(rows, whole, 1e-5, "incremental vs one-pass logits");
});
