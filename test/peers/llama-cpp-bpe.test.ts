/**
 * llama.cpp (node-llama-cpp, installed on demand; see test/peers/llama-cpp.test.ts) tokenising
 * from the gpt2 / llama-bpe vocabulary our GGUF writer stores for Llama 3's tokenizer.json gives
 * the ids of HfTokenizer (itself checked against HF's tokenizers). Skips when not installed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { saveGguf } from "../../src/formats/gguf-model.js";
import { initParams } from "../../src/model/init.js";
import type { LlamaConfig } from "../../src/model/config.js";
import { HfTokenizer } from "../../src/tokenizer/hf-json.js";
import { loadTokenizer } from "../../src/tokenizer/load.js";
import { peerStatus, openLlamaCpp } from "../../bench/peers/llama-cpp.js";
import { corpus, llama3Dir, tricky } from "../tokenizer/hf-reference.js";

const status = peerStatus();
const skip = status.installed ? false : status.reason;

test("llama.cpp tokenises like HfTokenizer from our Llama 3 (gpt2, llama-bpe) GGUF vocabulary", { skip, timeout: 300_000 }, async () => {
  const tok = loadTokenizer(llama3Dir) as HfTokenizer;
  const config: LlamaConfig = { vocabSize: tok.vocabSize, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 500000, maxPositionEmbeddings: 64, tieWordEmbeddings: true, bosTokenId: tok.bosId, eosTokenId: tok.eosId };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-peer-bpe-"));
  const peer = await openLlamaCpp();
  try {
    const file = path.join(dir, "llama3-vocab.gguf");
    saveGguf(file, config, initParams(config, 3), { type: "f32", hfTokenizer: tok });
    const s = await peer.open(file, { threads: 1, contextSize: 64 });
    try {
      let bad = 0;
      const report: string[] = [];
      const texts = [...tricky, ...corpus.slice(0, 1000)].filter((t) => t.length > 0);
      for (const t of texts) {
        const want = tok.encode(t);
        const got = s.tokenize(t);
        if (got.join() !== want.join()) {
          bad++;
          if (report.length < 4) report.push(`${JSON.stringify(t.slice(0, 60))}\n  llama.cpp ${got.slice(0, 20).join(",")}\n  ours      ${want.slice(0, 20).join(",")}`);
        }
      }
      assert.equal(bad, 0, `${bad}/${texts.length} differ:\n${report.join("\n")}`);
    } finally {
      await s.dispose();
    }
  } finally {
    await peer.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
