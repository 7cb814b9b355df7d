/** Loading tokenizer.model files: protobuf round trip, validation, special ids, UTF-8 rules, speed. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  ModelType,
  PieceType,
  SentencePieceTokenizer,
  parseModelProto,
  serializeModelProto,
  type ModelProto,
} from "../../src/tokenizer/index.js";
import { decodeUtf8Spm } from "../../src/tokenizer/utf8.js";
import { UserError } from "../../src/util/errors.js";
import { fixturesDir, rng, sharedFixturesDir } from "../helpers.js";

const dir = path.join(fixturesDir, "tokenizer");
const llamaPath = path.join(sharedFixturesDir, "llama-tokenizer.model");
const haveLlama = existsSync(llamaPath);
const smallBytes = readFileSync(path.join(dir, "small-bpe.model"));

test("parse + serialise is byte-identical (LLaMA and spm_train models)", () => {
  const files = [path.join(dir, "small-bpe.model"), path.join(dir, "small-rules.model"), path.join(dir, "small-unused.model")];
  if (haveLlama) files.push(llamaPath);
  for (const f of files) {
    const buf = readFileSync(f);
    const out = serializeModelProto(parseModelProto(buf));
    assert.ok(Buffer.from(out).equals(buf), `${f} does not round-trip`);
  }
});

test("the LLaMA tokenizer: 32000 pieces, specials, byte pieces at 3..258, spec fields", { skip: haveLlama ? false : "LLaMA tokenizer absent" }, () => {
  const tok = SentencePieceTokenizer.fromFile(llamaPath);
  assert.equal(tok.vocabSize, 32000);
  assert.deepEqual([tok.unkId, tok.bosId, tok.eosId, tok.padId], [0, 1, 2, -1]);
  assert.equal(tok.idToPiece(3), "<0x00>");
  assert.equal(tok.idToPiece(258), "<0xFF>");
  assert.ok(tok.isByte(13) && tok.isControl(1) && tok.isUnknown(0));
  assert.equal(tok.pieceToId("▁the"), 278);
  assert.equal(tok.pieceToId("no such piece"), 0);
  const spec = tok.model.trainerSpec;
  assert.equal(spec.modelType, ModelType.BPE);
  assert.equal(spec.splitDigits, true);
  assert.equal(spec.byteFallback, true);
  assert.equal(tok.model.normalizerSpec.name, "identity");
  assert.equal(tok.model.normalizerSpec.addDummyPrefix, true);
  assert.equal(tok.model.normalizerSpec.removeExtraWhitespaces, false);
  assert.deepEqual(tok.encode("Hello world", { bos: true, eos: true }), [1, 15043, 3186, 2]);
  assert.deepEqual(tok.encodeAsPieces("Hi 42"), ["▁Hi", "▁", "4", "2"]);
  assert.throws(() => tok.decode([32000]), RangeError);
  assert.throws(() => tok.idToPiece(-1), RangeError);
});

function expectUserError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof UserError && re.test(err.message));
}

function mutate(f: (m: ModelProto) => void): Uint8Array {
  const m = parseModelProto(smallBytes);
  f(m);
  return serializeModelProto(m);
}

test("malformed or unsupported models are rejected with a clear UserError", () => {
  expectUserError(() => SentencePieceTokenizer.fromFile("/nonexistent/tokenizer.model"), /cannot read tokenizer .*no such file/);
  expectUserError(() => SentencePieceTokenizer.fromBytes(smallBytes.subarray(0, smallBytes.length - 7), "cut.model"), /cut\.model is not a SentencePiece model/);
  expectUserError(() => SentencePieceTokenizer.fromBytes(new TextEncoder().encode("{\"not\": \"a model\"}"), "x.json"), /x\.json is not a SentencePiece model/);
  expectUserError(() => SentencePieceTokenizer.fromBytes(new Uint8Array(0), "empty.model"), /no pieces/);
  expectUserError(() => SentencePieceTokenizer.fromBytes(mutate((m) => (m.trainerSpec.modelType = ModelType.UNIGRAM)), "uni.model"), /UNIGRAM; only BPE/);
  expectUserError(() => SentencePieceTokenizer.fromBytes(mutate((m) => (m.pieces[0]!.type = PieceType.NORMAL))), /no unknown piece/);
  expectUserError(() => SentencePieceTokenizer.fromBytes(mutate((m) => (m.pieces[500]!.piece = m.pieces[501]!.piece))), /defined twice/);
  expectUserError(() => SentencePieceTokenizer.fromBytes(mutate((m) => (m.pieces[500]!.piece = ""))), /piece 500 is empty/);
  expectUserError(() => SentencePieceTokenizer.fromBytes(mutate((m) => m.pieces.splice(10, 1))), /byte piece <0x07> is missing/);
  expectUserError(() => SentencePieceTokenizer.fromBytes(mutate((m) => (m.trainerSpec.byteFallback = false))), /byte_fallback is false/);
});

test("decodeUtf8Spm replaces each malformed byte by U+FFFD, like SentencePiece (not like TextDecoder)", () => {
  const b = (...xs: number[]): number[] => xs;
  assert.equal(decodeUtf8Spm(b(0xe3, 0x81, 0x82)), "あ");
  assert.equal(decodeUtf8Spm(b(0xe3, 0x81)), "\uFFFD\uFFFD"); // TextDecoder gives one U+FFFD
  assert.equal(decodeUtf8Spm(b(0xed, 0xa0, 0x80)), "\uFFFD\uFFFD\uFFFD"); // surrogate
  assert.equal(decodeUtf8Spm(b(0xc0, 0x80)), "\uFFFD\uFFFD"); // overlong
  assert.equal(decodeUtf8Spm(b(0xf4, 0x90, 0x80, 0x80)), "\uFFFD\uFFFD\uFFFD\uFFFD"); // > U+10FFFF
  assert.equal(decodeUtf8Spm(b(0x41, 0xf0, 0x9f, 0x98, 0x80, 0x80)), "A😀\uFFFD");
});

test("lone surrogates in JS strings are encoded as U+FFFD (the only lossy input)", { skip: haveLlama ? false : "LLaMA tokenizer absent" }, () => {
  const tok = SentencePieceTokenizer.fromFile(llamaPath);
  assert.deepEqual(tok.encode("a\uD800b"), tok.encode("a\uFFFDb"));
  assert.equal(tok.decode(tok.encode("x\uDC00")), "x\uFFFD");
});

test("encoding is never quadratic: 1 MB lines without spaces, of spaces, and of one letter", { skip: haveLlama ? false : "LLaMA tokenizer absent" }, () => {
  const tok = SentencePieceTokenizer.fromFile(llamaPath);
  const r = rng(7);
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const parts: string[] = [];
  for (let i = 0; i < 1 << 20; i++) parts.push(letters[Math.floor(r() * 26)]!);
  const inputs = [parts.join(""), " ".repeat(1 << 20), "a".repeat(1 << 20), "語".repeat(1 << 19) + "x1".repeat(1 << 18)];
  // Linear, not quadratic: 4x the text costs about 4x the time (16x if quadratic). A ratio of
  // two timings in the same conditions, not an absolute time, so a loaded machine does not fail it.
  const encodeMs = (s: string): number => {
    const t0 = performance.now();
    tok.encode(s);
    return performance.now() - t0;
  };
  for (const s of inputs) {
    const ids = tok.encode(s);
    assert.equal(tok.decode(ids), s);
    const quarter = s.slice(0, s.length >> 2);
    const small = Math.min(encodeMs(quarter), encodeMs(quarter));
    const large = encodeMs(s);
    assert.ok(large < 10 * small + 50, `1/4 of the text: ${small.toFixed(0)} ms, all of it: ${large.toFixed(0)} ms`);
  }
});

test("encoding the same text again (segment cache warm) gives the same ids", { skip: haveLlama ? false : "LLaMA tokenizer absent" }, () => {
  const tok = SentencePieceTokenizer.fromFile(llamaPath);
  const s = "The quick brown fox, the quick brown fox!  And   again\tthe fox 12345 😀.";
  const a = tok.encode(s);
  const b = tok.encode(s);
  assert.deepEqual(a, b);
  // A fresh tokenizer (cold cache) agrees.
  assert.deepEqual(SentencePieceTokenizer.fromFile(llamaPath).encode(s), a);
});

test("a model without BOS refuses encode({ bos: true })", () => {
  const bytes = mutate((m) => {
    m.pieces[1]!.type = PieceType.NORMAL;
  });
  const tok = SentencePieceTokenizer.fromBytes(bytes);
  assert.equal(tok.bosId, -1);
  expectUserError(() => tok.encode("x", { bos: true }), /no BOS piece/);
});
