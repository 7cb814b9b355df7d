/**
 * Dataset manifests that are damaged or crafted: each is refused with one line naming the
 * field (readManifest), stored paths stay inside the dataset folder, and `train` on such a
 * dataset exits 2 with one line, copying nothing into the run.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { prepareDataset } from "../../src/data/prepare.js";
import { readManifest, manifestTokenizerPath, MANIFEST_FILE } from "../../src/data/shards.js";
import { UserError } from "../../src/util/errors.js";
import { repoRoot } from "../helpers.js";
import { ByteTokenizer, tempDir } from "./helpers.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");

/** A small prepared dataset (byte tokenizer, one source) in a temp folder. */
async function dataset(tag: string): Promise<{ root: string; data: string; cleanup: () => void }> {
  const t = tempDir(tag);
  const corpus = path.join(t.dir, "corpus.txt");
  fs.writeFileSync(corpus, Array.from({ length: 60 }, (_, i) => `Paragraph ${i}: the quick brown fox jumps over the lazy dog number ${i * 7}.`).join("\n\n"));
  const tok = path.join(t.dir, "tok.model");
  fs.writeFileSync(tok, "tokenizer bytes");
  const data = path.join(t.dir, "data");
  await prepareDataset(
    { sources: [{ name: "text", paths: [corpus], format: "text", weight: 1, split: "paragraphs", chunkChars: 200 }], valFraction: 0.1, seed: 1 },
    { outDir: data, tokenizer: new ByteTokenizer(), tokenizerPath: tok, shardTokens: 1024 },
  );
  return { root: t.dir, data, cleanup: t.cleanup };
}

function editManifest(dir: string, edit: (m: Record<string, any>) => void): void {
  const file = path.join(dir, MANIFEST_FILE);
  const m = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, any>;
  edit(m);
  fs.writeFileSync(file, JSON.stringify(m));
}

test("a prepared dataset stores its tokenizer and shards relative to itself and reads from any working directory", async () => {
  const d = await dataset("rel");
  try {
    const m = readManifest(d.data);
    assert.equal(m.tokenizer.path, "tokenizer.model");
    for (const sh of m.sources[0]!.train.shards) assert.ok(!path.isAbsolute(sh.file) && !sh.file.startsWith(".."), sh.file);
    assert.equal(manifestTokenizerPath(d.data, m), path.join(d.data, "tokenizer.model"));
    // Moving the dataset keeps it valid.
    const moved = path.join(d.root, "moved");
    fs.renameSync(d.data, moved);
    assert.equal(readManifest(moved).sources[0]!.train.tokens, m.sources[0]!.train.tokens);
  } finally {
    d.cleanup();
  }
});

test("damaged or crafted manifests: one line naming the problem each", async () => {
  const d = await dataset("bad");
  const original = fs.readFileSync(path.join(d.data, MANIFEST_FILE), "utf8");
  const cases: Array<[string, (m: Record<string, any>) => void, RegExp]> = [
    ["missing shard entry", (m) => { m.sources[0].train.shards[0] = null; }, /train shard 0 is null, not an object/],
    ["negative tokens", (m) => { m.sources[0].train.shards[0].tokens = -5; }, /"tokens" must be a non-negative integer \(got -5\)/],
    ["non-string file", (m) => { m.sources[0].train.shards[0].file = 42; }, /"file" must be a string \(got 42\)/],
    ["missing shard file", (m) => { m.sources[0].train.shards[0].file = "text/train-09999.bin"; }, /file "text\/train-09999.bin" is missing/],
    ["zero weights", (m) => { m.sources[0].weight = 0; }, /every source has weight 0/],
    ["null weight", (m) => { m.sources[0].weight = null; }, /weight must be a finite number >= 0 \(got null\)/],
    ["null source", (m) => { m.sources[0] = null; }, /sources\[0\] is null, not an object/],
    ["null manifest", (m) => { for (const k of Object.keys(m)) delete m[k]; }, /not a llama-ts shard manifest/],
    ["shard outside", (m) => { m.sources[0].train.shards[0].file = "../outside.bin"; }, /file "\.\.\/outside\.bin" is outside the dataset folder/],
    ["absolute shard", (m) => { m.sources[0].train.shards[0].file = "/etc/passwd"; }, /file "\/etc\/passwd" is outside the dataset folder/],
    ["tokenizer outside", (m) => { m.tokenizer.path = "/etc/passwd"; }, /tokenizer.path "\/etc\/passwd" is outside the dataset folder/],
    ["tokens sum", (m) => { m.sources[0].train.tokens += 1; }, /train.tokens is \d+ but its shards hold \d+ tokens/],
  ];
  try {
    fs.writeFileSync(path.join(d.root, "outside.bin"), Buffer.alloc(2048));
    for (const [name, edit, want] of cases) {
      fs.writeFileSync(path.join(d.data, MANIFEST_FILE), original);
      editManifest(d.data, edit);
      assert.throws(() => readManifest(d.data), (e: unknown) => e instanceof UserError && want.test(e.message) && !e.message.includes("\n"), name);
    }
    // A symlinked shard pointing outside the folder is refused too.
    fs.writeFileSync(path.join(d.data, MANIFEST_FILE), original);
    const m = readManifest(d.data);
    const shard = path.join(d.data, m.sources[0]!.train.shards[0]!.file);
    fs.rmSync(shard);
    fs.symlinkSync(path.join(d.root, "outside.bin"), shard);
    assert.throws(() => readManifest(d.data), /is outside the dataset folder/);
  } finally {
    d.cleanup();
  }
});

test("train on a crafted manifest: exit 2, one line, nothing copied into the run", async () => {
  const d = await dataset("train");
  try {
    editManifest(d.data, (m) => { m.tokenizer.path = "../../../../../../../etc/passwd"; });
    const out = path.join(d.root, "run");
    const r = spawnSync(process.execPath, [cli, "train", "--data", d.data, "--config", "tiny", "--out", out, "--steps", "2", "--batch", "2", "--seq-len", "16"], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^llama-ts: error: .*tokenizer.path ".*etc\/passwd" is outside the dataset folder/);
    assert.ok(!fs.existsSync(out), "the run folder is not created");
  } finally {
    d.cleanup();
  }
});

test("prepare into an --out that cannot be created: exit 2, one line naming the path", () => {
  const t = tempDir("ro");
  try {
    const corpus = path.join(t.dir, "c.txt");
    fs.writeFileSync(corpus, "Some text for a source.\n");
    const mixture = path.join(t.dir, "mixture.json");
    fs.writeFileSync(mixture, JSON.stringify({ sources: [{ name: "a", paths: ["c.txt"], format: "text", weight: 1 }], valFraction: 0, seed: 1 }));
    const tok = path.join(repoRoot, "test", "fixtures", "tokenizer", "small-bpe.model");
    const r = spawnSync(process.execPath, [cli, "prepare", "--mixture", mixture, "--tokenizer", tok, "--out", path.join(corpus, "data")], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^llama-ts: error: prepare into .*c\.txt\/data: ENOTDIR/);
  } finally {
    t.cleanup();
  }
});
