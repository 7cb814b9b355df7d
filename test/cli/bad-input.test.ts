/**
 * Bad input found by fuzzing (issue 12 §5) and the safe-writing rules of §2, each rebuilt here
 * in a temp folder and run through the CLI as a user would: every mistake is exactly one
 * stderr line `llama-ts: error: ...` with exit code 2, allocation bombs fail at once (the test
 * simply runs them: a process killed for memory or running for minutes fails the suite), and
 * nothing existing is replaced without --overwrite.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { assertClose, fixturesDir, randomArray, repoRoot } from "../helpers.js";
import { GgufFile, gguf, writeGguf, type GgufTensorToWrite, type GgufValue } from "../../src/formats/gguf.js";
import { saveGguf } from "../../src/formats/gguf-model.js";
import { saveModelFolder } from "../../src/formats/hf-folder.js";
import type { LlamaConfig } from "../../src/model/config.js";
import { paramLayout } from "../../src/model/params.js";
import { parseModelProto, PieceType } from "../../src/tokenizer/model-proto.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-bad-input-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

interface Run { code: number; stdout: string; stderr: string }

function run(args: string[]): Run {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Exactly one stderr line with the prefix, exit code 2, matching `re`. */
function assertUserError(r: Run, re: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr ${r.stderr}`);
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `${what}: ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0]!, /^llama-ts: error: /, what);
  assert.match(lines[0]!, re, what);
  assert.ok(!/\x1b/.test(r.stderr), `${what}: raw escape character on stderr`);
}

const gqa = path.join(fixturesDir, "models", "gqa-f32");
const tiedBf16 = path.join(fixturesDir, "models", "tied-bf16");
const smallTokenizer = path.join(fixturesDir, "tokenizer", "small-bpe.model");

function copyDir(src: string, dst: string): string {
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  return dst;
}

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const file = path.join(dir, "config.json");
  const c = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  edit(c);
  fs.writeFileSync(file, JSON.stringify(c));
}

/** A small model whose matrices have rows of whole 32-blocks (so q8_0/q4_0 really quantise). */
const blockConfig: LlamaConfig = {
  vocabSize: 40, hiddenSize: 64, intermediateSize: 96, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1,
  rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 32, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
};
const blockParams = randomArray(paramLayout(blockConfig).total, 7, 0.1);

/** Copies a GGUF with its metadata and tensors changed by `edit`. */
function rewriteGguf(src: string, dst: string, edit: (md: Map<string, GgufValue>, tensors: GgufTensorToWrite[]) => void): void {
  const f = GgufFile.open(src);
  const md = new Map(f.metadata);
  const tensors: GgufTensorToWrite[] = f.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: f.readTensorBytes(t.name) }));
  f.close();
  edit(md, tensors);
  writeGguf(dst, md, tensors);
}

/** A GGUF header (v3) with the given tensor infos and no metadata, followed by `dataBytes` zero bytes. */
function craftedGguf(tensors: Array<{ name: string; elements: number; offset: number }>, dataBytes: number): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number): void => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v: number): void => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s: string): void => { const b = Buffer.from(s, "utf8"); u64(b.length); parts.push(b); };
  parts.push(Buffer.from("GGUF", "latin1"));
  u32(3);
  u64(tensors.length);
  u64(0);
  for (const t of tensors) {
    str(t.name);
    u32(1);
    u64(t.elements);
    u32(0); // F32
    u64(t.offset);
  }
  const head = Buffer.concat(parts);
  const padded = Math.ceil(head.length / 32) * 32;
  return Buffer.concat([head, Buffer.alloc(padded - head.length + dataBytes)]);
}

function legacyHeader(ints: number[]): Buffer {
  const b = Buffer.alloc(28);
  ints.forEach((v, i) => b.writeInt32LE(v, 4 * i));
  return b;
}

test("allocation bombs: 28-byte llama2.c files, configs and GGUFs claiming huge sizes fail at once", () => {
  const bin = path.join(tmp, "bomb.bin");
  fs.writeFileSync(bin, legacyHeader([288, 768, 2_000_000_000, 6, 6, 32000, 256]));
  assertUserError(run(["convert", "--from", bin, "--to", path.join(tmp, "bomb-out"), "--no-vocab"]), /num_hidden_layers 2000000000 is beyond any real model/, "llama2.c 2e9 layers");
  // every size plausible (LLaMA 65B), the file 28 bytes: refused by the size check, not by allocating 260 GB
  fs.writeFileSync(bin, legacyHeader([8192, 22016, 80, 64, 64, -32000, 2048]));
  assertUserError(run(["convert", "--from", bin, "--to", path.join(tmp, "bomb-out")]), /implies \d+ bytes, the file has 28/, "llama2.c 65B header");

  const dir = copyDir(gqa, path.join(tmp, "cfg-bomb"));
  editConfig(dir, (c) => (c["num_hidden_layers"] = 2_000_000_000));
  assertUserError(run(["logits", "--model", dir, "--tokens", "1"]), /num_hidden_layers 2000000000 is beyond any real model/, "config 2e9 layers");
  editConfig(dir, (c) => { c["num_hidden_layers"] = 2; c["vocab_size"] = 10_000_000; });
  assertUserError(run(["logits", "--model", dir, "--tokens", "1"]), /config\.json: the config .* implies \d+ parameters, more than the \d+ bytes/, "config huge vocab");
  editConfig(dir, (c) => { c["vocab_size"] = 97; c["max_position_embeddings"] = 1e12; });
  assertUserError(run(["logits", "--model", dir, "--tokens", "1"]), /max_position_embeddings 1000000000000 is beyond any real model/, "config huge context");

  const good = path.join(tmp, "block.gguf");
  saveGguf(good, blockConfig, blockParams, { type: "f32" });
  const bad = path.join(tmp, "bomb.gguf");
  rewriteGguf(good, bad, (md) => md.set("llama.block_count", gguf.u32(2_000_000_000)));
  assertUserError(run(["logits", "--model", bad, "--tokens", "1"]), /llama\.block_count" is 2000000000, outside \[1, 4096\]/, "GGUF 2e9 layers");
  rewriteGguf(good, bad, (md) => md.set("llama.vocab_size", gguf.u32(16_000_000)));
  assertUserError(run(["logits", "--model", bad, "--tokens", "1"]), /implies \d+ parameters, more than the \d+ bytes/, "GGUF huge vocab");
});

test("a huge max_position_embeddings allocates nothing up front: logits and generate run and agree", () => {
  const dir = copyDir(gqa, path.join(tmp, "long-context"));
  editConfig(dir, (c) => (c["max_position_embeddings"] = 16_000_000));
  const tokens = ["--tokens", "1,5,9,13"];
  const want = run(["logits", "--model", gqa, ...tokens]);
  const got = run(["logits", "--model", dir, ...tokens]);
  assert.equal(got.code, 0, got.stderr);
  assert.deepEqual(JSON.parse(got.stdout), JSON.parse(want.stdout));
  const g = run(["generate", "--model", dir, "--tokens", "1,5", "--max-tokens", "4", "--temperature", "0", "--json"]);
  assert.equal(g.code, 0, g.stderr);
});

test("wrong types, directories, FIFOs and devices: one line, no stack, no hang", () => {
  const good = path.join(tmp, "types.gguf");
  saveGguf(good, blockConfig, blockParams, { type: "f32" });
  const bad = path.join(tmp, "float-bos.gguf");
  rewriteGguf(good, bad, (md) => md.set("tokenizer.ggml.bos_token_id", gguf.f32(1.5)));
  assertUserError(run(["logits", "--model", bad, "--tokens", "1"]), /bos_token_id" must be an integer, but it is stored as FLOAT32/, "float bos");

  const dirGguf = path.join(tmp, "x.gguf");
  fs.mkdirSync(dirGguf, { recursive: true });
  assertUserError(run(["logits", "--model", dirGguf, "--tokens", "1"]), /x\.gguf(: it is a directory, not a regular file|\/config\.json is missing)/, "directory x.gguf");

  const fifoDir = copyDir(gqa, path.join(tmp, "fifo-config"));
  fs.rmSync(path.join(fifoDir, "config.json"));
  execFileSync("mkfifo", [path.join(fifoDir, "config.json")]);
  assertUserError(run(["logits", "--model", fifoDir, "--tokens", "1"]), /config\.json: it is a FIFO/, "FIFO config.json");
  const fifoModel = path.join(tmp, "model-fifo");
  execFileSync("mkfifo", [fifoModel]);
  assertUserError(run(["logits", "--model", fifoModel, "--tokens", "1"]), /model-fifo is not a folder/, "FIFO as --model (not opened to sniff it)");
  const fifoTok = path.join(tmp, "tokenizer-fifo.model");
  execFileSync("mkfifo", [fifoTok]);
  assertUserError(run(["convert", "--from", gqa, "--to", path.join(tmp, "t1"), "--tokenizer", fifoTok]), /it is a FIFO/, "FIFO tokenizer");
  assertUserError(run(["convert", "--from", gqa, "--to", path.join(tmp, "t2"), "--tokenizer", "/dev/zero"]), /\/dev\/zero: it is a device/, "/dev/zero tokenizer");
});

test("write failures (missing folder, read-only, full disk) are one line and leave no temporary file", () => {
  assertUserError(run(["convert", "--from", gqa, "--to", path.join(tmp, "no-such-dir", "m.gguf"), "--no-vocab"]), /cannot write .*m\.gguf: no such file or folder/, "missing parent");
  assertUserError(run(["quantize", "--model", gqa, "--type", "q8_0", "--out", "/proc/llama-ts-test.gguf", "--no-vocab"]), /cannot write \/proc\/llama-ts-test\.gguf: /, "read-only /proc");
  assertUserError(run(["convert", "--from", gqa, "--to", "/proc/llama-ts-test.bin"]), /cannot write \/proc\/llama-ts-test\.bin: /, "read-only /proc .bin");
  // A full disk: the temporary file the writer opens is a symlink to /dev/full (ENOSPC on write).
  for (const out of [path.join(tmp, "full.gguf"), path.join(tmp, "full.bin")]) {
    const script =
      `import fs from "node:fs"; fs.symlinkSync("/dev/full", ${JSON.stringify(out)} + ".tmp-" + process.pid);` +
      `process.argv = [process.execPath, ${JSON.stringify(cli)}, "convert", "--from", ${JSON.stringify(gqa)}, "--to", ${JSON.stringify(out)}, "--no-vocab"];` +
      `await import(${JSON.stringify(new URL(`file://${cli}`).href)});`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assertUserError({ code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }, /cannot write .*full\.(gguf|bin): no space left on the device/, `ENOSPC ${out}`);
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.startsWith(path.basename(out))), [], "temporary file removed, nothing written");
  }
  // An existing directory named like the output file
  const d = path.join(tmp, "isdir.gguf");
  fs.mkdirSync(d, { recursive: true });
  assertUserError(run(["convert", "--from", gqa, "--to", d, "--no-vocab", "--overwrite"]), /cannot write .*isdir\.gguf: is a directory|cannot write .*isdir\.gguf: /, "EISDIR");
});

/** A GGUF of `type` whose first block scale (or first value) of blk.0.attn_q.weight is `bits`. */
function poisonedGguf(type: "f16" | "q8_0" | "q4_0", bits: number): string {
  const file = path.join(tmp, `poison-${type}-${bits.toString(16)}.gguf`);
  saveGguf(file, blockConfig, blockParams, { type });
  const f = GgufFile.open(file);
  const info = f.tensorsByName.get("blk.0.attn_q.weight")!;
  f.close();
  const fd = fs.openSync(file, "r+");
  const b = Buffer.alloc(2);
  b.writeUInt16LE(bits);
  fs.writeSync(fd, b, 0, 2, info.fileOffset + (type === "f16" ? 6 : 0));
  fs.closeSync(fd);
  return file;
}

test("NaN/Inf in F16 values and Q8_0/Q4_0 block scales: logits and convert refuse the same way", () => {
  // +Inf in an f16 value, NaN in a q8_0 block scale, -Inf in a q4_0 block scale
  for (const [type, bits] of [["f16", 0x7c00], ["q8_0", 0x7e00], ["q4_0", 0xfc00]] as const) {
    {
      const file = poisonedGguf(type, bits);
      const re = /tensor "?blk\.0\.attn_q\.weight"? holds a non-finite value/;
      assertUserError(run(["logits", "--model", file, "--tokens", "1"]), re, `logits ${type} ${bits.toString(16)}`);
      assertUserError(run(["convert", "--from", file, "--to", path.join(tmp, "poison-out")]), re, `convert ${type} ${bits.toString(16)}`);
    }
  }
});

test("overlapping GGUF tensors are refused, and names from the file are escaped in the message", () => {
  const file = path.join(tmp, "overlap.gguf");
  fs.writeFileSync(file, craftedGguf([{ name: "a", elements: 16, offset: 0 }, { name: "evil\x1b[2J\nname", elements: 8, offset: 32 }], 192));
  const r = run(["logits", "--model", file, "--tokens", "1"]);
  assertUserError(r, /tensors "a" \(bytes 0\.\.64\) and "evil\\u001b\[2J\\nname" \(from byte 32\) overlap/, "overlap");
  const dir = copyDir(gqa, path.join(tmp, "escaped-config"));
  editConfig(dir, (c) => (c["model_type"] = "\x1b]0;pwned\x07\u202ellama"));
  assertUserError(run(["logits", "--model", dir, "--tokens", "1"]), /model_type "\\u001b\]0;pwned\\u0007\\u202ellama" is not "llama"/, "escaped config value");
});

test("a safetensors file symlinked outside the model folder is refused (the HF cache's blobs are allowed)", () => {
  const outside = copyDir(gqa, path.join(tmp, "outside"));
  const dir = path.join(tmp, "linked");
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(gqa, "config.json"), path.join(dir, "config.json"));
  fs.symlinkSync(path.join(outside, "model.safetensors"), path.join(dir, "model.safetensors"));
  assertUserError(run(["logits", "--model", dir, "--tokens", "1"]), /model\.safetensors resolves to .*outside the folder/, "symlink outside");
  // models--org--name/snapshots/<rev>/model.safetensors -> ../../blobs/<hash>, as huggingface_hub lays it out
  const repo = path.join(tmp, "hub", "models--org--tiny");
  const snap = path.join(repo, "snapshots", "abc123");
  fs.mkdirSync(path.join(repo, "blobs"), { recursive: true });
  fs.mkdirSync(snap, { recursive: true });
  for (const [f, blob] of [["config.json", "1111"], ["model.safetensors", "2222"]] as const) {
    fs.copyFileSync(path.join(gqa, f), path.join(repo, "blobs", blob));
    fs.symlinkSync(path.join("..", "..", "blobs", blob), path.join(snap, f));
  }
  const r = run(["logits", "--model", snap, "--tokens", "1"]);
  assert.equal(r.code, 0, r.stderr);
});

test("convert and quantize never replace existing outputs without --overwrite", () => {
  const out = path.join(tmp, "keep.gguf");
  fs.writeFileSync(out, "precious");
  assertUserError(run(["convert", "--from", gqa, "--to", out, "--no-vocab"]), /keep\.gguf already exists; pass --overwrite to replace it/, "convert existing");
  assertUserError(run(["quantize", "--model", gqa, "--type", "q8_0", "--out", out, "--no-vocab"]), /already exists; pass --overwrite/, "quantize existing");
  assert.equal(fs.readFileSync(out, "utf8"), "precious");
  const folder = copyDir(tiedBf16, path.join(tmp, "keep-folder"));
  assertUserError(run(["convert", "--from", gqa, "--to", folder]), /config\.json already exists; pass --overwrite/, "folder existing");
  const r = run(["quantize", "--model", gqa, "--type", "q8_0", "--out", out, "--no-vocab", "--overwrite"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(out).subarray(0, 4).toString("latin1"), "GGUF");
});

test("GGUF without a tokenizer needs --no-vocab; dotted folder names are folders; quantize --type f32 and requantising", () => {
  assertUserError(run(["convert", "--from", gqa, "--to", path.join(tmp, "novocab.gguf")]), /no tokenizer.*node-llama-cpp.*--no-vocab/, "no vocab");
  const dotted = path.join(tmp, "TinyLlama-1.1B-Chat");
  const c = run(["convert", "--from", gqa, "--to", dotted]);
  assert.equal(c.code, 0, c.stderr);
  assert.ok(fs.existsSync(path.join(dotted, "config.json")));

  const f32 = path.join(tmp, "q-f32.gguf");
  const q = run(["quantize", "--model", gqa, "--type", "f32", "--out", f32, "--no-vocab"]);
  assert.equal(q.code, 0, q.stderr);
  const want = JSON.parse(run(["logits", "--model", gqa, "--tokens", "1,2,3"]).stdout) as unknown;
  assert.deepEqual(JSON.parse(run(["logits", "--model", f32, "--tokens", "1,2,3"]).stdout), want);

  const base = path.join(tmp, "block-f32.gguf");
  saveGguf(base, blockConfig, blockParams, { type: "f32" });
  const q8 = path.join(tmp, "block-q8.gguf");
  assert.equal(run(["quantize", "--model", base, "--type", "q8_0", "--out", q8, "--no-vocab"]).code, 0);
  const q4 = path.join(tmp, "block-q4.gguf");
  assertUserError(run(["quantize", "--model", q8, "--type", "q4_0", "--out", q4, "--no-vocab"]), /already quantised \(Q8_0\).*--allow-requantize/, "requantize");
  assert.ok(!fs.existsSync(q4));
  const r = run(["quantize", "--model", q8, "--type", "q4_0", "--out", q4, "--no-vocab", "--allow-requantize"]);
  assert.equal(r.code, 0, r.stderr);
  // dequantising to f32 loses nothing more: allowed
  assert.equal(run(["convert", "--from", q8, "--to", path.join(tmp, "block-deq.gguf"), "--no-vocab"]).code, 0);
});

/** An independent reader of llama2.c's tokenizer.bin, written from the format description. */
function readTokenizerBin(file: string): { maxLen: number; tokens: Array<{ score: number; bytes: Buffer }> } {
  const b = fs.readFileSync(file);
  const maxLen = b.readUInt32LE(0);
  const tokens: Array<{ score: number; bytes: Buffer }> = [];
  let o = 4;
  while (o < b.length) {
    const score = b.readFloatLE(o);
    const len = b.readUInt32LE(o + 4);
    tokens.push({ score, bytes: b.subarray(o + 8, o + 8 + len) });
    o += 8 + len;
  }
  assert.equal(o, b.length, "tokenizer.bin ends exactly after the last token");
  return { maxLen, tokens };
}

test("convert to llama2.c writes run.c's tokenizer.bin beside the .bin, and refuses to drop rms_norm_eps without --force", () => {
  const proto = parseModelProto(fs.readFileSync(smallTokenizer));
  const vocab = proto.pieces.length + 3; // padded entries at the end
  const config: LlamaConfig = { ...blockConfig, vocabSize: vocab, hiddenSize: 16, intermediateSize: 32, numAttentionHeads: 2, numKeyValueHeads: 2 };
  const src = path.join(tmp, "tok-model");
  saveModelFolder(src, config, randomArray(paramLayout(config).total, 3, 0.1), { tokenizerPath: smallTokenizer });
  const outDir = path.join(tmp, "l2c");
  fs.mkdirSync(outDir);
  const r = run(["convert", "--from", src, "--to", path.join(outDir, "model.bin")]);
  assert.equal(r.code, 0, r.stderr);
  const { maxLen, tokens } = readTokenizerBin(path.join(outDir, "tokenizer.bin"));
  assert.equal(tokens.length, vocab);
  proto.pieces.forEach((p, i) => {
    const want = p.type === PieceType.CONTROL && p.piece === "<s>" ? "\n<s>\n" : p.type === PieceType.CONTROL && p.piece === "</s>" ? "\n</s>\n" : p.piece.replaceAll("\u2581", " ");
    assert.equal(tokens[i]!.bytes.toString("utf8"), want, `piece ${i}`);
    assert.equal(tokens[i]!.score, Math.fround(p.score), `score ${i}`);
  });
  assert.equal(tokens[3]!.bytes.toString("utf8"), "<0x00>", "byte pieces stay <0xHH> text (run.c parses them)");
  for (let i = proto.pieces.length; i < vocab; i++) assert.ok(tokens[i]!.bytes.length > 0, "padding entries are non-empty");
  assert.equal(maxLen, Math.max(...tokens.map((t) => t.bytes.length)));
  // converting again would replace tokenizer.bin too
  assertUserError(run(["convert", "--from", src, "--to", path.join(outDir, "model2.bin")]), /tokenizer\.bin already exists/, "tokenizer.bin exists");

  // rms_norm_eps 1e-6 (LLaMA 1's value) cannot be held by a .bin
  const epsModel = path.join(tmp, "eps-model");
  saveModelFolder(epsModel, { ...blockConfig, rmsNormEps: 1e-6 }, blockParams);
  const eps = path.join(tmp, "eps.bin");
  assertUserError(run(["convert", "--from", epsModel, "--to", eps]), /cannot store rms_norm_eps .* uses 0\.000001.*--force/, "eps");
  assert.ok(!fs.existsSync(eps));
  const forced = run(["convert", "--from", epsModel, "--to", eps, "--force"]);
  assert.equal(forced.code, 0, forced.stderr);
});

test("argument errors from commander are one `llama-ts: error:` line with exit 2; --help still works", () => {
  assertUserError(run(["convert", "--to", "x.gguf"]), /^llama-ts: error: required option '--from <path>' not specified \(see llama-ts convert --help\)$/, "missing option");
  assertUserError(run(["convert", "--from", gqa, "--to", "x", "--bogus"]), /unknown option '--bogus'/, "unknown option");
  assertUserError(run(["convrt"]), /unknown command 'convrt'.*\(see llama-ts --help\)/, "unknown command");
  const h = run(["convert", "--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--overwrite/);
  assert.match(h.stdout, /Examples:/);
  assert.equal(h.stderr, "");
});

test("logits stay exact through GGUF f32 with every hardening check on (guards do not change results)", () => {
  const file = path.join(tmp, "exact.gguf");
  assert.equal(run(["convert", "--from", gqa, "--to", file, "--no-vocab"]).code, 0);
  const a = JSON.parse(run(["logits", "--model", gqa, "--tokens", "1,2,3,4"]).stdout) as { logits: number[][] };
  const b = JSON.parse(run(["logits", "--model", file, "--tokens", "1,2,3,4"]).stdout) as { logits: number[][] };
  assertClose(b.logits.flat(), a.logits.flat(), 0, "logits");
});
