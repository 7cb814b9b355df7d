/**
 * tokenizer.json written from a SentencePiece model: Hugging Face's Rust tokenizers loading it
 * give SentencePiece's ids (our SentencePieceTokenizer, itself checked against SentencePiece in
 * parity.test.ts), on the small fixture models and on the real LLaMA tokenizer when present.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Tokenizer as HfRust } from "@anush008/tokenizers";
import { HfTokenizer } from "../../src/tokenizer/hf-json.js";
import { modelProtoToTokenizerJson, specialTokensMapFor, tokenizerConfigFor, tokenizerJsonToModelProto } from "../../src/tokenizer/hf-write.js";
import { SentencePieceTokenizer } from "../../src/tokenizer/index.js";
import { UserError } from "../../src/util/errors.js";
import { fixturesDir, sharedFixturesDir } from "../helpers.js";
import { corpus, diffReport, llama2Dir, llama3Dir, rustIds, rustWithoutSpecials, tricky } from "./hf-reference.js";

const dir = path.join(fixturesDir, "tokenizer");
const models = [
  { name: "small-bpe", file: path.join(dir, "small-bpe.model") },
  { name: "ts-trained", file: path.join(dir, "ts-trained.model") },
  { name: "llama", file: path.join(sharedFixturesDir, "llama-tokenizer.model") },
];
const texts = [...tricky, ...corpus];

for (const { name, file } of models) {
  const skip = existsSync(file) ? false : `${file} is absent`;

  test(`${name}: HF tokenizers on the written tokenizer.json give SentencePiece's ids`, { skip }, async () => {
    const spm = SentencePieceTokenizer.fromFile(file);
    const json = modelProtoToTokenizerJson(spm.model) as { added_tokens: { special?: boolean }[] };
    const want = texts.map((t) => spm.encode(t));
    // Special-token strings are plain text to SentencePiece: compare with HF's split_special_tokens.
    assert.equal(diffReport(texts, await rustIds(rustWithoutSpecials(json), texts), want), "");
    const ours = HfTokenizer.fromJson(JSON.stringify(json));
    assert.equal(diffReport(texts, texts.map((t) => ours.encode(t)), want), "");
    // HF's default (added tokens recognised, BOS from the template) equals ours with parseSpecial + bos.
    const rust = HfRust.fromString(JSON.stringify(json));
    assert.equal(diffReport(texts, texts.map((t) => ours.encode(t, { bos: true, parseSpecial: true })), await rustIds(rust, texts, true)), "");
    assert.equal(ours.vocabSize, spm.vocabSize);
    assert.equal(ours.bosId, spm.bosId);
    assert.equal(ours.eosId, spm.eosId);
    // Decoding the ids of ordinary text gives SentencePiece's text, in HF and in ours.
    for (const ids of want.slice(0, 300)) {
      const text = spm.decode(ids);
      assert.equal(await rust.decode(ids, true), text);
      assert.equal(ours.decode(ids), text);
    }
  });
}

test("tokenizer_config.json and special_tokens_map.json say what LlamaTokenizer expects", () => {
  const spm = SentencePieceTokenizer.fromFile(path.join(dir, "small-bpe.model"));
  const cfg = tokenizerConfigFor(spm.model, { chatTemplate: "{{ bos_token }}", modelMaxLength: 2048 });
  assert.equal(cfg.add_bos_token, true);
  assert.equal(cfg.add_eos_token, false);
  assert.equal(cfg.bos_token, "<s>");
  assert.equal(cfg.eos_token, "</s>");
  assert.equal(cfg.unk_token, "<unk>");
  assert.equal(cfg.pad_token, null);
  assert.equal(cfg.tokenizer_class, "LlamaTokenizer");
  assert.equal(cfg.chat_template, "{{ bos_token }}");
  assert.equal(cfg.model_max_length, 2048);
  assert.deepEqual(Object.keys(cfg.added_tokens_decoder as object), ["0", "1", "2"]);
  const map = specialTokensMapFor(spm.model);
  assert.deepEqual(Object.keys(map), ["bos_token", "eos_token", "unk_token"]);
  assert.deepEqual(map.bos_token, { content: "<s>", lstrip: false, normalized: false, rstrip: false, single_word: false });
});

test("models a tokenizer.json cannot express exactly are refused with one line", () => {
  for (const [name, re] of [
    ["small-rules", /normaliser "user_defined" is not the identity/],
    ["small-unused", /UNUSED pieces/],
  ] as const) {
    const spm = SentencePieceTokenizer.fromFile(path.join(dir, `${name}.model`));
    assert.throws(() => modelProtoToTokenizerJson(spm.model), (e: unknown) => e instanceof UserError && re.test(e.message));
  }
});

test("a Llama 2-style tokenizer.json as a SentencePiece model gives HF's ids (for GGUF llama vocabularies)", async () => {
  const json = JSON.parse(readFileSync(path.join(llama2Dir, "tokenizer.json"), "utf8")) as Record<string, unknown>;
  const proto = tokenizerJsonToModelProto(json);
  const spm = SentencePieceTokenizer.fromModel(proto);
  const want = await rustIds(rustWithoutSpecials(json as { added_tokens?: { special?: boolean }[] }), texts);
  assert.equal(diffReport(texts, texts.map((t) => spm.encode(t)), want), "");
  assert.equal(spm.vocabSize, 32000);
  assert.equal(spm.bosId, 1);
  assert.equal(spm.eosId, 2);
  assert.ok(spm.isByte(3) && spm.isUnknown(0) && spm.isControl(1));
  // And back: the written tokenizer.json is the same tokenizer.
  const again = HfTokenizer.fromJson(JSON.stringify(modelProtoToTokenizerJson(proto)));
  assert.equal(diffReport(texts, texts.map((t) => again.encode(t)), want), "");
  const llama3 = JSON.parse(readFileSync(path.join(llama3Dir, "tokenizer.json"), "utf8")) as Record<string, unknown>;
  assert.throws(() => tokenizerJsonToModelProto(llama3), (e: unknown) => e instanceof UserError && /pre-tokenizer/.test(e.message));
});
