/**
 * HfTokenizer (tokenizer.json) against Hugging Face's Rust tokenizers on real LLaMA-family
 * files: ids over a 2000-line corpus and tricky strings, BOS via the post-processor, added
 * special tokens, decode (HF's skip_special_tokens=True) and streaming decode.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { HfTokenizer } from "../../src/tokenizer/hf-json.js";
import { loadTokenizer } from "../../src/tokenizer/load.js";
import { UserError } from "../../src/util/errors.js";
import { rng } from "../helpers.js";
import { corpus, diffReport, llama2Dir, llama3Dir, loadRust, rustIds, rustWithoutSpecials, tricky } from "./hf-reference.js";

const files = [
  { name: "llama2-style (SentencePiece BPE, byte fallback)", file: path.join(llama2Dir, "tokenizer.json") },
  { name: "llama3 (byte-level BPE)", file: path.join(llama3Dir, "tokenizer.json") },
];
const texts = [...tricky, ...corpus];

for (const { name, file } of files) {
  const json = JSON.parse(readFileSync(file, "utf8")) as { added_tokens: { special?: boolean }[] };
  const ours = HfTokenizer.fromJson(json, { name: file });
  const rust = loadRust(file);

  test(`${name}: parseSpecial=true gives HF's encode(text, add_special_tokens=False) ids`, async () => {
    const want = await rustIds(rust, texts);
    const got = texts.map((t) => ours.encode(t, { parseSpecial: true }));
    assert.equal(diffReport(texts, got, want), "");
  });

  test(`${name}: the default (special tokens as text) gives HF's ids with split_special_tokens`, async () => {
    const want = await rustIds(rustWithoutSpecials(json), texts);
    const got = texts.map((t) => ours.encode(t));
    assert.equal(diffReport(texts, got, want), "");
  });

  test(`${name}: decode is HF's decode(ids, skip_special_tokens=True); decodeStream concatenates to it`, async () => {
    const seqs = (await rustIds(rust, texts, true)).slice(0, 600);
    // Random ids too: byte tokens that do not form UTF-8, specials in the middle, unknown pieces.
    const r = rng(7);
    for (let k = 0; k < 300; k++) {
      const len = 1 + Math.floor(r() * 12);
      seqs.push(Array.from({ length: len }, () => (r() < 0.5 ? Math.floor(r() * 300) : Math.floor(r() * ours.vocabSize))));
    }
    for (const ids of seqs) {
      const want = await rust.decode(ids, true);
      assert.equal(ours.decode(ids), want, `ids ${ids.join(",")}`);
      const s = ours.decodeStream();
      let streamed = "";
      for (const id of ids) streamed += s.push(id);
      assert.equal(streamed + s.flush(), want, `stream of ${ids.join(",")}`);
    }
    assert.throws(() => ours.decode([ours.vocabSize]), RangeError);
  });

  test(`${name}: encoding is never quadratic (256 KB of letters, spaces, one letter, CJK, newlines)`, () => {
    const r = rng(11);
    const n = 1 << 18;
    const letters = Array.from({ length: n }, () => "abcdefghijklmnopqrstuvwxyz"[Math.floor(r() * 26)]).join("");
    for (const s of [letters, " ".repeat(n), "a".repeat(n), "語".repeat(n / 2) + "x1".repeat(n / 4), " \n".repeat(n / 2)]) {
      const t0 = performance.now();
      const ids = ours.encode(s);
      const ms = performance.now() - t0;
      // ~0.2-1 s on a busy shared 2-core VM; a quadratic step would take minutes.
      assert.ok(ms < 8000, `${JSON.stringify(s.slice(0, 8))}…: ${ms.toFixed(0)} ms`);
      const back = ours.decode(ids);
      assert.ok(back === s || (ours.decoderKind === "pieces" && back === s.slice(1)), "round trip");
    }
  });

  test(`${name}: decode(encode(text)) gives the text back`, () => {
    for (const t of corpus.slice(0, 500)) {
      // '▁' in the text stands for a space in a SentencePiece-style vocabulary: not a round trip.
      if (ours.decoderKind === "pieces" && t.includes("\u2581")) continue;
      const norm = t.replace(/^ /, ""); // the Llama-2 style decoder strips one leading space
      const back = ours.decode(ours.encode(t));
      assert.ok(back === t || back === norm, `${JSON.stringify(t)} -> ${JSON.stringify(back)}`);
    }
  });
}

test("llama2-style: bos follows the TemplateProcessing post-processor (<s> $A)", async () => {
  const file = path.join(llama2Dir, "tokenizer.json");
  const ours = HfTokenizer.fromFile(file);
  const rust = loadRust(file);
  const sample = texts.slice(0, 300);
  const want = await rustIds(rust, sample, true);
  assert.equal(diffReport(sample, sample.map((t) => ours.encode(t, { bos: true, parseSpecial: true })), want), "");
  assert.equal(ours.bosId, 1);
  assert.equal(ours.eosId, 2);
  assert.ok(ours.templateAddsBos);
  assert.deepEqual(ours.encode("hi", { bos: true, eos: true }).slice(-1), [2]);
  assert.equal(ours.idToPiece(1), "<s>");
  assert.deepEqual([...ours.specialTokens()], [["<unk>", 0], ["<s>", 1], ["</s>", 2]]);
});

test("llama3: vocabulary, special tokens and BOS/EOS from tokenizer_config.json", () => {
  const tok = loadTokenizer(llama3Dir);
  assert.ok(tok instanceof HfTokenizer);
  assert.equal(tok.vocabSize, 128256);
  assert.equal(tok.bosId, 128000);
  assert.equal(tok.eosId, 128001);
  assert.equal(tok.specialTokens().get("<|eot_id|>"), 128009);
  assert.equal(tok.idToPiece(9906), "Hello");
  assert.equal(tok.idToPiece(1917), "Ġworld");
  assert.deepEqual(tok.encode("Hello world", { bos: true }), [128000, 9906, 1917]);
  // Without parseSpecial the chat markup is plain text; with it, one id each.
  assert.deepEqual(tok.encode("<|eot_id|>", { parseSpecial: true }), [128009]);
  assert.ok(tok.encode("<|eot_id|>").length > 1);
  assert.equal(tok.decode([128000, 9906, 1917, 128009]), "Hello world");
});

test("llama3: 128k vocabulary with 280k merges builds in a small multiple of JSON.parse's time", () => {
  const text = readFileSync(path.join(llama3Dir, "tokenizer.json"), "utf8");
  // Relative to JSON.parse of the same file, so that a loaded machine does not fail the test.
  const best = (f: () => void): number => {
    let min = Infinity;
    for (let k = 0; k < 2; k++) {
      const t0 = performance.now();
      f();
      min = Math.min(min, performance.now() - t0);
    }
    return min;
  };
  const objects: object[] = [];
  const parseMs = best(() => objects.push(JSON.parse(text) as object));
  const buildMs = best(() => HfTokenizer.fromJson(objects.pop()!));
  // Unloaded, JSON.parse of this 9 MB file takes ~0.1-0.2 s.
  assert.ok(buildMs < 3 * parseMs, `building the tokenizer took ${buildMs.toFixed(0)} ms, JSON.parse ${parseMs.toFixed(0)} ms`);
});

test("tokenizer.json outside the LLaMA family is one UserError naming what is unsupported", () => {
  const base = JSON.parse(readFileSync(path.join(llama2Dir, "tokenizer.json"), "utf8")) as Record<string, unknown>;
  const model = base.model as Record<string, unknown>;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, model: { type: "WordPiece", vocab: { a: 0 } } }, /model type "WordPiece" is not supported/],
    [{ ...base, model: { type: "Unigram", vocab: [["a", 0]] } }, /model type "Unigram" is not supported/],
    [{ ...base, normalizer: { type: "NFKC" } }, /normalizer type "NFKC" is not supported/],
    [{ ...base, pre_tokenizer: { type: "Whitespace" } }, /pre-tokenizer type "Whitespace" is not supported/],
    [{ ...base, pre_tokenizer: { type: "Split", pattern: { Regex: "\\w+" }, behavior: "Isolated", invert: false } }, /regex .* uses \\w/],
    [{ ...base, decoder: { type: "WordPiece", prefix: "##" } }, /decoder step "WordPiece"/],
    [{ ...base, post_processor: { type: "BertProcessing" } }, /post_processor type "BertProcessing" is not supported/],
    [{ ...base, model: { ...model, merges: ["▁ zzzz"] } }, /merge 0 .* not in the vocabulary/],
  ];
  for (const [json, re] of cases) {
    assert.throws(() => HfTokenizer.fromJson(JSON.stringify(json)), (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes("\n"));
  }
  assert.throws(() => HfTokenizer.fromJson("{not json"), (e: unknown) => e instanceof UserError && /not valid JSON/.test(e.message));
});
