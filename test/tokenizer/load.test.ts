/** loadTokenizer (tokenizer.model, tokenizer.json, a folder) and readTokenizerConfig. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { HfTokenizer } from "../../src/tokenizer/hf-json.js";
import { modelProtoToTokenizerJson } from "../../src/tokenizer/hf-write.js";
import { SentencePieceTokenizer } from "../../src/tokenizer/index.js";
import { loadTokenizer, readTokenizerConfig } from "../../src/tokenizer/load.js";
import { UserError } from "../../src/util/errors.js";
import { fixturesDir } from "../helpers.js";
import { llama2Dir, llama3Dir } from "./hf-reference.js";

const spmFile = path.join(fixturesDir, "tokenizer", "small-bpe.model");

test("loadTokenizer: .model, .json, a folder (SentencePiece tokenizer.model preferred, else tokenizer.json), or sniffed content", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "llama-ts-load-"));
  try {
    const spm = SentencePieceTokenizer.fromFile(spmFile);
    assert.ok(loadTokenizer(spmFile) instanceof SentencePieceTokenizer);
    copyFileSync(spmFile, path.join(dir, "tokenizer.model"));
    assert.ok(loadTokenizer(dir) instanceof SentencePieceTokenizer);
    writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(modelProtoToTokenizerJson(spm.model)));
    assert.ok(loadTokenizer(dir) instanceof SentencePieceTokenizer);
    // A tokenizer.model that is not SentencePiece (Llama 3's is tiktoken text) gives way to tokenizer.json.
    writeFileSync(path.join(dir, "tokenizer.model"), "SGVsbG8= 0\nIHdvcmxk 1\n");
    const tok = loadTokenizer(dir);
    assert.ok(tok instanceof HfTokenizer);
    assert.deepEqual(tok.encode("Hello world 123", { bos: true }), spm.encode("Hello world 123", { bos: true }));
    copyFileSync(spmFile, path.join(dir, "tokenizer.model"));
    copyFileSync(path.join(dir, "tokenizer.json"), path.join(dir, "vocab-file"));
    copyFileSync(spmFile, path.join(dir, "model-file"));
    assert.ok(loadTokenizer(path.join(dir, "vocab-file")) instanceof HfTokenizer);
    assert.ok(loadTokenizer(path.join(dir, "model-file")) instanceof SentencePieceTokenizer);
    assert.throws(() => loadTokenizer(path.join(dir, "nothing")), (e: unknown) => e instanceof UserError && /no such file or folder/.test(e.message));
    const empty = mkdtempSync(path.join(dir, "empty-"));
    assert.throws(() => loadTokenizer(empty), (e: unknown) => e instanceof UserError && /neither tokenizer\.json nor tokenizer\.model/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("readTokenizerConfig: bos/eos (strings or AddedToken objects), add_bos_token, chat_template", () => {
  const l3 = readTokenizerConfig(llama3Dir)!;
  assert.equal(l3.bosToken, "<|begin_of_text|>");
  assert.equal(l3.eosToken, "<|end_of_text|>");
  assert.match(l3.chatTemplate!, /<\|start_header_id\|>/);
  const l2 = readTokenizerConfig(llama2Dir)!;
  assert.equal(l2.addBosToken, true);
  assert.equal(l2.addEosToken, false);
  assert.equal(l2.bosToken, "<s>");
  assert.equal(l2.padToken, undefined);
  const dir = mkdtempSync(path.join(tmpdir(), "llama-ts-cfg-"));
  try {
    assert.equal(readTokenizerConfig(dir), undefined);
    writeFileSync(
      path.join(dir, "tokenizer_config.json"),
      JSON.stringify({ bos_token: { content: "<s>", lstrip: false }, chat_template: [{ name: "tool_use", template: "T" }, { name: "default", template: "D" }] }),
    );
    assert.deepEqual(readTokenizerConfig(dir), { bosToken: "<s>", chatTemplate: "D" });
    writeFileSync(path.join(dir, "tokenizer_config.json"), "{oops");
    assert.throws(() => readTokenizerConfig(dir), (e: unknown) => e instanceof UserError && /tokenizer_config\.json is not valid JSON/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
