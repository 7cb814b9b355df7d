/**
 * The forward pass against the independent PyTorch reference (tools/llama_reference.py):
 * logits of every position and greedy continuations for three random models with odd sizes
 * (GQA, MQA, tied head; F32, BF16 and sharded F16 files) and two with RoPE scaling (Llama 3.1's
 * `llama3` rule across all three frequency bands, and `linear`; 40 positions), on every
 * available backend.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { LlamaModel } from "../../src/model/llama.js";
import { referenceBackend } from "../../src/kernels/backend.js";
import { loadNativeBackend } from "../../src/kernels/native.js";
import type { Backend } from "../../src/kernels/types.js";
import { generateTokens } from "../../src/generate/generate.js";
import { assertClose, fixturesDir } from "../helpers.js";

interface Expected {
  tokens: number[];
  logits: number[][];
  greedy_prompt: number[];
  greedy_tokens: number[];
}

const MODELS = ["gqa-f32", "tied-bf16", "mqa-f16-sharded", "llama3-rope", "linear-rope"];

function backends(): Backend[] {
  const list: Backend[] = [referenceBackend()];
  const native = loadNativeBackend();
  if (native.backend) list.push(native.backend);
  return list;
}

for (const name of MODELS) {
  const dir = path.join(fixturesDir, "models", name);
  const expected = JSON.parse(fs.readFileSync(path.join(fixturesDir, "models", `${name}.expected.json`), "utf8")) as Expected;
  const folder = loadModelFolder(dir);
  for (const backend of backends()) {
    const model = new LlamaModel(folder.config, folder.params, backend);

    test(`${name} [${backend.name}]: logits of every position match PyTorch (rel err <= 1e-4)`, () => {
      const logits = model.forward(expected.tokens, model.newCache(), true);
      assertClose(logits, expected.logits.flat(), 1e-4, `${name} logits`);
    });

    test(`${name} [${backend.name}]: token-by-token decoding with the KV cache equals the full pass`, () => {
      const cache = model.newCache();
      const rows: number[] = [];
      // Prefill 5 tokens, then one at a time: exercises pos0 > 0 in RoPE and attention.
      const first = model.forward(expected.tokens.slice(0, 5), cache, true);
      rows.push(...first);
      for (let t = 5; t < expected.tokens.length; t++) rows.push(...model.forward([expected.tokens[t]!], cache, false));
      assert.equal(cache.length, expected.tokens.length);
      assertClose(rows, expected.logits.flat(), 1e-4, `${name} cached logits`);
    });

    test(`${name} [${backend.name}]: greedy continuation equals PyTorch's`, () => {
      const got = [...generateTokens(model, expected.greedy_prompt, { maxTokens: expected.greedy_tokens.length, temperature: 0, topP: 1, seed: 0, stopAtEos: false })];
      assert.deepEqual(got, expected.greedy_tokens);
    });
  }
}
