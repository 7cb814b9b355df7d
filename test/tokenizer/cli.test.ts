/** The tokenize / detokenize / tokenizer train commands, run as a user would. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { SentencePieceTokenizer } from "../../src/tokenizer/index.js";
import { fixturesDir, repoRoot } from "../helpers.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
const model = path.join(fixturesDir, "tokenizer", "small-bpe.model");
const tok = SentencePieceTokenizer.fromFile(model);

function run(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function oneLineError(r: { code: number; stderr: string }, re: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, re);
}

test("tokenize --text prints comma-separated ids; --json prints {ids}", () => {
  const text = "Hello  world 2024 😀";
  const r = run("tokenize", "--tokenizer", model, "--text", text, "--bos", "--eos");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, tok.encode(text, { bos: true, eos: true }).join(",") + "\n");
  const j = run("tokenize", "--tokenizer", model, "--text", text, "--json");
  assert.deepEqual(JSON.parse(j.stdout), { ids: tok.encode(text) });
});

test("tokenize --file: one line of ids per input line; --json nests arrays", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "llama-ts-cli-"));
  try {
    const file = path.join(dir, "in.txt");
    const lines = ["first line", "", "  third\tline  "];
    writeFileSync(file, lines.join("\n") + "\n");
    const r = run("tokenize", "--tokenizer", model, "--file", file, "--bos");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, lines.map((l) => tok.encode(l, { bos: true }).join(",")).join("\n") + "\n");
    const j = run("tokenize", "--tokenizer", model, "--file", file, "--json");
    assert.deepEqual(JSON.parse(j.stdout), { ids: lines.map((l) => tok.encode(l)) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("detokenize --ids decodes (BOS skipped); round trip with tokenize", () => {
  const text = "Round trip: naïve café, 12 apples.";
  const ids = run("tokenize", "--tokenizer", model, "--text", text, "--bos").stdout.trim();
  const r = run("detokenize", "--tokenizer", model, "--ids", ids);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, text + "\n");
  assert.deepEqual(JSON.parse(run("detokenize", "--tokenizer", model, "--ids", ids, "--json").stdout), { text });
});

test("user mistakes give one line on stderr and exit code 2", () => {
  oneLineError(run("tokenize", "--tokenizer", model), /exactly one of --text TEXT or --file FILE/);
  oneLineError(run("tokenize", "--tokenizer", model, "--text", "a", "--file", "b"), /exactly one of/);
  oneLineError(run("tokenize", "--tokenizer", "/no/such.model", "--text", "a"), /cannot read tokenizer \/no\/such\.model: no such file/);
  oneLineError(run("tokenize", "--tokenizer", cli, "--text", "a"), /is not a SentencePiece model/);
  oneLineError(run("tokenize", "--tokenizer", model, "--file", "/no/such.txt"), /--file: cannot read/);
  oneLineError(run("detokenize", "--tokenizer", model, "--ids", "1,x"), /--ids: "x" is not an integer/);
  oneLineError(run("detokenize", "--tokenizer", model, "--ids", `1,${tok.vocabSize}`), /outside the tokenizer's vocabulary/);
  oneLineError(run("tokenizer", "train", "--input", "/no/such.txt", "--vocab-size", "300", "--out", "/tmp/x.model"), /--input: no such file/);
});

test("tokenizer train writes a loadable model; too small a vocab is a user error", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "llama-ts-cli-"));
  try {
    const lines = (JSON.parse(gunzipSync(readFileSync(path.join(fixturesDir, "tokenizer", "lines.json.gz"))).toString("utf8")) as { lines: string[] }).lines;
    const corpus = path.join(dir, "corpus.txt");
    writeFileSync(corpus, lines.slice(0, 1200).join("\n") + "\n");
    const out = path.join(dir, "tok.model");
    const r = run("tokenizer", "train", "--input", corpus, "--vocab-size", "1000", "--character-coverage", "0.98", "--out", out, "--json");
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { pieces: number; merges: number };
    assert.equal(summary.pieces, 1000);
    const trained = SentencePieceTokenizer.fromFile(out);
    assert.equal(trained.vocabSize, 1000);
    assert.equal(trained.decode(trained.encode("Hello there, 42 times.")), "Hello there, 42 times.");
    oneLineError(run("tokenizer", "train", "--input", corpus, "--vocab-size", "300", "--out", out), /vocab size 300 is too small/);
    oneLineError(run("tokenizer", "train", "--input", corpus, "--vocab-size", "abc", "--out", out), /--vocab-size: "abc" is not a number/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tokenize / detokenize with a tokenizer.json (Llama 3): same output shape, BOS only with --bos", () => {
  const file = path.join(repoRoot, "node_modules", "@lenml", "tokenizer-llama3", "models", "tokenizer.json");
  const text = "Hello world<|eot_id|>";
  const plain = run("tokenize", "--tokenizer", file, "--text", text, "--json");
  assert.equal(plain.code, 0, plain.stderr);
  const ids = (JSON.parse(plain.stdout) as { ids: number[] }).ids;
  assert.deepEqual(ids.slice(0, 2), [9906, 1917]);
  assert.ok(!ids.includes(128009), "special-token text is encoded as text");
  const withBos = run("tokenize", "--tokenizer", file, "--text", text, "--bos");
  assert.equal(withBos.stdout, [128000, ...ids].join(",") + "\n");
  const back = run("detokenize", "--tokenizer", file, "--ids", [128000, ...ids].join(","));
  assert.equal(back.stdout, text + "\n");
});
