/** The BPE trainer: LLaMA layout, SentencePiece's piece rules, determinism, round trips, errors. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import {
  BpeTrainer,
  PieceType,
  SentencePieceTokenizer,
  TrainError,
  isValidPiece,
  serializeModelProto,
  type BpeTrainerOptions,
} from "../../src/tokenizer/index.js";
import { fixturesDir } from "../helpers.js";

const lines = (JSON.parse(gunzipSync(readFileSync(path.join(fixturesDir, "tokenizer", "lines.json.gz"))).toString("utf8")) as { lines: string[] }).lines;
// The fixture lines hold many one-off characters (random code points); 0.98 keeps the common ones.
const base: BpeTrainerOptions = { vocabSize: 1500, characterCoverage: 0.98 };

function train(opts: BpeTrainerOptions, input: readonly string[] = lines) {
  const t = new BpeTrainer(opts);
  // Multi-line fixture strings are several sentences, as in a text file.
  for (const s of input) for (const line of s.split("\n")) t.addSentence(line);
  return t.train();
}

const rules = {
  maxSentencepieceLength: 16,
  splitDigits: true,
  splitByNumber: true,
  splitByUnicodeScript: true,
  splitByWhitespace: true,
  allowWhitespaceOnlyPieces: true,
};
const cps = (s: string): number[] => Array.from(s, (c) => c.codePointAt(0)!);

test("isValidPiece follows SentencePiece's rules", () => {
  const ok = (s: string, o = rules) => isValidPiece(cps(s), o);
  assert.ok(ok("▁the"));
  assert.ok(ok("ing"));
  assert.ok(ok("▁▁▁"));
  assert.ok(!ok("a▁"), "'▁' only at the start");
  assert.ok(!ok("▁▁a"), "whitespace-only exception needs all '▁'");
  assert.ok(ok("▁▁a", { ...rules, allowWhitespaceOnlyPieces: false }) === false);
  assert.ok(!ok("▁▁", { ...rules, allowWhitespaceOnlyPieces: false }));
  assert.ok(ok("7"));
  assert.ok(!ok("12"), "split_digits");
  assert.ok(ok("12", { ...rules, splitDigits: false, splitByNumber: false }));
  assert.ok(!ok("a1", { ...rules, splitDigits: false }), "split_by_number: digits are Common");
  assert.ok(!ok("a."), "Latin + Common");
  assert.ok(!ok("aб"), "Latin + Cyrillic");
  assert.ok(ok("aб", { ...rules, splitByUnicodeScript: false }));
  assert.ok(ok("東京タワー"), "Katakana and the long vowel mark count as Han");
  assert.ok(ok("e\u0301t"), "combining marks (Inherited) take the previous script");
  assert.ok(!ok("abcdefghijklmnopq"), "longer than 16");
});

test("trained model: LLaMA layout, valid pieces, descending scores, SentencePiece-loadable", () => {
  const { model, stats } = train(base);
  assert.equal(model.pieces.length, 1500);
  assert.deepEqual(model.pieces.slice(0, 3).map((p) => [p.piece, p.type]), [["<unk>", PieceType.UNKNOWN], ["<s>", PieceType.CONTROL], ["</s>", PieceType.CONTROL]]);
  for (let b = 0; b < 256; b++) {
    assert.equal(model.pieces[3 + b]!.piece, `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    assert.equal(model.pieces[3 + b]!.type, PieceType.BYTE);
  }
  const normal = model.pieces.slice(259);
  assert.equal(normal.length, stats.merges + stats.requiredChars);
  normal.forEach((p, i) => {
    assert.equal(p.type, PieceType.NORMAL);
    assert.equal(p.score, -i);
    assert.ok(isValidPiece(cps(p.piece), rules), `invalid piece ${JSON.stringify(p.piece)}`);
  });
  // Every character of every piece is itself a piece (so BPE can build each piece).
  const all = new Set(normal.map((p) => p.piece));
  for (const p of normal) for (const ch of p.piece) assert.ok(all.has(ch), `character ${JSON.stringify(ch)} of ${p.piece} is no piece`);
  assert.equal(model.trainerSpec.vocabSize, 1500);
  assert.equal(model.normalizerSpec.name, "identity");

  const tok = SentencePieceTokenizer.fromBytes(serializeModelProto(model));
  let tokens = 0;
  let chars = 0;
  for (const s of lines) {
    const ids = tok.encode(s);
    assert.equal(tok.decode(ids), s.replaceAll("\u2581", " "), JSON.stringify(s));
    tokens += ids.length;
    chars += s.length;
  }
  assert.ok(tokens / chars < 0.6, `compression ${tokens / chars} tokens/char`);
});

test("training is deterministic", () => {
  const a = serializeModelProto(train({ ...base, vocabSize: 900 }).model);
  const b = serializeModelProto(train({ ...base, vocabSize: 900 }).model);
  assert.ok(Buffer.from(a).equals(Buffer.from(b)));
});

test("options: no byte fallback, user-defined and control symbols, other special ids", () => {
  const { model } = train({ ...base, vocabSize: 800, byteFallback: false, userDefinedSymbols: ["<tool>"], controlSymbols: ["<ctl>"], padId: 3 });
  const head = model.pieces.slice(0, 6).map((p) => [p.piece, p.type]);
  assert.deepEqual(head, [["<unk>", PieceType.UNKNOWN], ["<s>", PieceType.CONTROL], ["</s>", PieceType.CONTROL], ["<pad>", PieceType.CONTROL], ["<ctl>", PieceType.CONTROL], ["<tool>", PieceType.USER_DEFINED]]);
  assert.ok(!model.pieces.some((p) => p.type === PieceType.BYTE));
  const tok = SentencePieceTokenizer.fromBytes(serializeModelProto(model));
  assert.equal(tok.padId, 3);
  assert.deepEqual(tok.encodeAsPieces("a<tool>b").includes("<tool>"), true);
  // Unknown characters collapse into one <unk>.
  assert.deepEqual(tok.encode("\u{10900}\u{10901}\u{10902}").filter((id) => id === 0).length, 1);
});

test("training errors are TrainErrors with advice", () => {
  assert.throws(() => train({ vocabSize: 300, characterCoverage: 1 }), (e: unknown) => e instanceof TrainError && /too small.*raise the vocab size/.test(e.message));
  assert.throws(() => train(base, []), (e: unknown) => e instanceof TrainError && /no text/.test(e.message));
  assert.throws(() => train({ ...base, vocabSize: 100_000 }, lines.slice(0, 50)), (e: unknown) => e instanceof TrainError && /only supports \d+ pieces/.test(e.message));
  const { model } = train({ ...base, vocabSize: 100_000, hardVocabLimit: false }, lines.slice(0, 50));
  assert.ok(model.pieces.length < 100_000);
  assert.throws(() => new BpeTrainer({ vocabSize: 10, characterCoverage: 2 }), TrainError);
});

test("sentences over max_sentence_length bytes are skipped; sampling keeps inputSentenceSize lines", () => {
  const t = new BpeTrainer({ ...base, vocabSize: 400, maxSentenceLength: 20, hardVocabLimit: false });
  t.addSentence("short line one");
  t.addSentence("this line is much longer than twenty bytes");
  t.addSentence("ééééééééééé"); // 11 characters, 22 bytes
  const { stats } = t.train();
  assert.equal(stats.sentences, 1);
  assert.equal(stats.skippedTooLong, 2);
  const s = new BpeTrainer({ ...base, vocabSize: 2000, inputSentenceSize: 100, hardVocabLimit: false });
  for (const l of lines) s.addSentence(l.split("\n")[0]!);
  assert.equal(s.train().stats.sentences, 100);
});
