/**
 * GGUF gpt2 (byte-level BPE) vocabularies: Llama 3's tokenizer.json -> tokenizer.ggml.* keys
 * in a GGUF file -> tokenizer.json again gives the same ids as the original, in our tokenizer
 * and in Hugging Face's Rust tokenizers. (llama.cpp itself reading such a file is checked in
 * test/peers/llama-cpp-bpe.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Tokenizer as HfRust } from "@anush008/tokenizers";
import { GgufFile, writeGguf } from "../../src/formats/gguf.js";
import { bpeTokenizerMetadata, llamaCppPreName, tokenizerJsonFromGguf } from "../../src/formats/gguf-bpe-vocab.js";
import { loadGgufParams, saveGguf } from "../../src/formats/gguf-model.js";
import { HfTokenizer } from "../../src/tokenizer/hf-json.js";
import { loadTokenizer } from "../../src/tokenizer/load.js";
import { initParams } from "../../src/model/init.js";
import type { LlamaConfig } from "../../src/model/config.js";
import { UserError } from "../../src/util/errors.js";
import { corpus, diffReport, llama2Dir, llama3Dir, rustIds, tricky } from "../tokenizer/hf-reference.js";

test("Llama 3 tokenizer.json -> GGUF (gpt2, llama-bpe) -> tokenizer.json: same ids in ours and in HF tokenizers", async () => {
  const tok = loadTokenizer(llama3Dir) as HfTokenizer;
  const vocabSize = 128256 + 8; // a model's embedding may be larger than the vocabulary
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-bpe-gguf-"));
  try {
    const file = path.join(dir, "vocab.gguf");
    writeGguf(file, bpeTokenizerMetadata(tok, vocabSize), []);
    const f = GgufFile.open(file);
    let json: Record<string, unknown>;
    try {
      assert.equal(f.getString("tokenizer.ggml.model"), "gpt2");
      assert.equal(f.getString("tokenizer.ggml.pre"), "llama-bpe");
      const types = f.get("tokenizer.ggml.token_type") as number[];
      assert.equal(types.length, vocabSize);
      assert.deepEqual([types[0], types[128000], types[128009], types[vocabSize - 1]], [1, 3, 3, 5]);
      assert.equal((f.get("tokenizer.ggml.merges") as string[]).length, 280147);
      assert.equal(f.getNumber("tokenizer.ggml.bos_token_id"), 128000);
      json = tokenizerJsonFromGguf(f)!;
    } finally {
      f.close();
    }
    const back = HfTokenizer.fromJson(json);
    const texts = [...tricky, ...corpus.slice(0, 300)];
    const want = texts.map((t) => tok.encode(t, { parseSpecial: true }));
    assert.equal(diffReport(texts, texts.map((t) => back.encode(t, { parseSpecial: true })), want), "");
    assert.equal(diffReport(texts, await rustIds(HfRust.fromString(JSON.stringify(json)), texts), want), "");
    assert.equal(back.vocabSize, tok.vocabSize);
    assert.equal(back.decode(want[3]!), tok.decode(want[3]!));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("saveGguf takes an HfTokenizer; the GGUF loader hands its tokenizer.json on", () => {
  // A small byte-level vocabulary (Llama 3's file cut to its bytes and first merges) keeps this quick.
  const full = JSON.parse(fs.readFileSync(path.join(llama3Dir, "tokenizer.json"), "utf8")) as { model: { vocab: Record<string, number>; merges: string[] }; added_tokens: unknown[] };
  const vocab = Object.fromEntries(Object.entries(full.model.vocab).filter(([, id]) => id < 2000));
  const merges = full.model.merges.filter((m) => {
    const [a, b] = m.split(" ");
    return vocab[a!] !== undefined && vocab[b!] !== undefined && vocab[a! + b!] !== undefined;
  });
  const tok = HfTokenizer.fromJson({ ...full, model: { ...full.model, vocab, merges }, added_tokens: [{ id: 2000, content: "<|begin_of_text|>", special: true }] });
  const config: LlamaConfig = { vocabSize: 2001, hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 500000, maxPositionEmbeddings: 64, tieWordEmbeddings: true, bosTokenId: 2000, eosTokenId: 2000 };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-bpe-gguf-"));
  try {
    const file = path.join(dir, "m.gguf");
    saveGguf(file, config, initParams(config, 1), { type: "f32", hfTokenizer: tok });
    const json = loadGgufParams(file).tokenizerJson;
    assert.ok(json);
    const back = HfTokenizer.fromJson(json);
    for (const t of tricky) assert.deepEqual(back.encode(t), tok.encode(t));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("GGUF gpt2 vocabularies: only byte-level BPE with a pre-tokenizer llama.cpp knows", () => {
  const llama2 = HfTokenizer.fromFile(path.join(llama2Dir, "tokenizer.json"));
  assert.throws(() => bpeTokenizerMetadata(llama2, 32000), (e: unknown) => e instanceof UserError && /SentencePiece-style.*tokenizerJsonToModelProto/.test(e.message));
  assert.equal(llamaCppPreName({ type: "ByteLevel", add_prefix_space: false, use_regex: true }), "gpt-2");
  assert.equal(llamaCppPreName({ type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: "\\s+" } }, { type: "ByteLevel", use_regex: false }] }), undefined);
});
