/**
 * Megatron-LM indexed datasets: the .idx/.bin pair written from a prepared mixture is read back
 * by tools/read_megatron_idx.py (an independent stdlib reader written from the format
 * description) and every document's tokens are compared; plus `prepare --format megatron`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { repoRoot, sharedFixturesDir } from "../helpers.js";
import { ByteTokenizer, tempDir } from "./helpers.js";
import { prepareDataset } from "../../src/data/prepare.js";
import { parseMixture } from "../../src/data/mixture.js";
import { loadTokens } from "../../src/data/shards.js";
import { megatronIndex, splitDocuments, writeMegatronDatasets } from "../../src/data/megatron.js";

interface PyRead { version: number; dtype_code: number; sequences: number; documents: number[][] }

function pyRead(prefix: string): PyRead {
  const r = spawnSync("/usr/bin/python3", [path.join(repoRoot, "tools", "read_megatron_idx.py"), prefix], { encoding: "utf8", maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as PyRead;
}

function corpus(dir: string): string {
  const texts = (name: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${name} document number ${i}: ${"lorem ipsum dolor sit amet ".repeat(1 + (i % 7))}the end of ${name} ${i}.`);
  fs.writeFileSync(path.join(dir, "web.jsonl"), texts("web", 40).map((t) => JSON.stringify({ text: t })).join("\n") + "\n");
  fs.writeFileSync(path.join(dir, "books.jsonl"), texts("books", 25).map((t) => JSON.stringify({ text: t })).join("\n") + "\n");
  const file = path.join(dir, "mixture.json");
  fs.writeFileSync(file, JSON.stringify({
    sources: [{ name: "web", paths: ["web.jsonl"], format: "jsonl", weight: 3 }, { name: "books", paths: ["books.jsonl"], format: "jsonl", weight: 1 }],
    valFraction: 0.2, seed: 2,
  }));
  return file;
}

test("the .idx layout: header fields, lengths, byte pointers, document indices", () => {
  const idx = megatronIndex([3, 5, 2], "uint16");
  const dv = new DataView(idx.buffer);
  assert.equal(Buffer.from(idx.subarray(0, 9)).toString("latin1"), "MMIDIDX\0\0");
  assert.equal(dv.getBigUint64(9, true), 1n);
  assert.equal(dv.getUint8(17), 8);
  assert.equal(dv.getBigUint64(18, true), 3n);
  assert.equal(dv.getBigUint64(26, true), 4n);
  assert.deepEqual([0, 1, 2].map((i) => dv.getInt32(34 + 4 * i, true)), [3, 5, 2]);
  assert.deepEqual([0, 1, 2].map((i) => dv.getBigInt64(46 + 8 * i, true)), [0n, 6n, 16n]);
  assert.deepEqual([0, 1, 2, 3].map((i) => dv.getBigInt64(70 + 8 * i, true)), [0n, 1n, 2n, 3n]);
  assert.equal(idx.length, 70 + 32);
  assert.equal(new DataView(megatronIndex([1], "int32").buffer).getUint8(17), 4);
});

test("every document of every source and split reads back identically with the independent Python reader", async () => {
  const t = tempDir("megatron");
  try {
    const file = corpus(t.dir);
    const out = path.join(t.dir, "prepared");
    const tok = new ByteTokenizer();
    const manifest = await prepareDataset(parseMixture(JSON.parse(fs.readFileSync(file, "utf8")), file), { outDir: out, tokenizer: tok, tokenizerPath: null, shardTokens: 1024 });
    const outputs = writeMegatronDatasets(out, manifest);
    assert.equal(outputs.length, 4);
    const inputs = new Set([...fs.readFileSync(path.join(t.dir, "web.jsonl"), "utf8").trim().split("\n"), ...fs.readFileSync(path.join(t.dir, "books.jsonl"), "utf8").trim().split("\n")].map((l) => (JSON.parse(l) as { text: string }).text));
    let total = 0;
    for (const o of outputs) {
      const s = manifest.sources.find((x) => x.name === o.source)!;
      const tokens = loadTokens(s[o.split].shards.map((sh) => ({ path: path.join(out, sh.file), tokens: sh.tokens })), manifest.dtype);
      const want = splitDocuments(tokens, 2).map(([a, b]) => Array.from(tokens.subarray(a, b)));
      const got = pyRead(o.prefix);
      assert.equal(got.version, 1);
      assert.equal(got.dtype_code, 8);
      assert.equal(got.documents.length, s[o.split].documents, `${o.prefix}: document count`);
      assert.deepEqual(got.documents, want, o.prefix);
      for (const d of got.documents) {
        assert.equal(d[0], 1);
        assert.equal(d[d.length - 1], 2);
        assert.ok(inputs.has(tok.decode(d.slice(1, -1))), `${o.prefix}: a document that is not an input text`);
      }
      total += got.documents.length;
    }
    assert.equal(total, manifest.sources.reduce((a, s) => a + s.train.documents + s.val.documents, 0));
    const blend = fs.readFileSync(path.join(out, "megatron", "blend.txt"), "utf8").trim().split(" ");
    assert.deepEqual([blend[0], path.basename(blend[1]!), blend[2], path.basename(blend[3]!)], ["0.75", "web_train", "0.25", "books_train"]);
  } finally {
    t.cleanup();
  }
});

const llamaTokenizer = path.join(sharedFixturesDir, "llama-tokenizer.model");

test("prepare --format megatron writes the pairs next to the shards", { skip: !fs.existsSync(llamaTokenizer) && "no shared LLaMA tokenizer" }, () => {
  const t = tempDir("megatron-cli");
  try {
    const file = corpus(t.dir);
    const out = path.join(t.dir, "prepared");
    const r = spawnSync(process.execPath, [path.join(repoRoot, "dist", "src", "cli", "main.js"), "prepare", "--mixture", file, "--tokenizer", llamaTokenizer, "--out", out, "--format", "megatron", "--json"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { megatron: Array<{ prefix: string; documents: number }> };
    assert.equal(rep.megatron.length, 4);
    for (const m of rep.megatron) {
      const got = pyRead(m.prefix);
      assert.equal(got.documents.length, m.documents);
      for (const d of got.documents) { assert.equal(d[0], 1); assert.equal(d[d.length - 1], 2); }
    }
    const bad = spawnSync(process.execPath, [path.join(repoRoot, "dist", "src", "cli", "main.js"), "prepare", "--mixture", file, "--tokenizer", llamaTokenizer, "--out", out, "--format", "arrow"], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--format must be llama-ts or megatron/);
  } finally {
    t.cleanup();
  }
});
