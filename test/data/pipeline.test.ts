import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { parquetWriteFile } from "hyparquet-writer";
import { normalizeText } from "../../src/data/clean.js";
import { parseMixture } from "../../src/data/mixture.js";
import { prepareDataset, summarizeManifest } from "../../src/data/prepare.js";
import { MixtureSampler, openTrainingData, TokenFileSampler, validationWindows } from "../../src/data/sampler.js";
import { loadTokens, readManifest, type Manifest } from "../../src/data/shards.js";
import { UserError } from "../../src/util/errors.js";
import { ByteTokenizer, tempDir } from "./helpers.js";

const WORDS = "whale ship captain harbour morning storm lantern rope anchor island letter river garden window".split(" ");

/** A deterministic pseudo-English paragraph. */
function paragraph(seed: number, words = 30): string {
  const out: string[] = [];
  let x = seed * 2654435761;
  for (let i = 0; i < words; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push(WORDS[(x >>> 16) % WORDS.length]!);
  }
  return `Paragraph ${seed}: ` + out.join(" ") + ".";
}

interface Corpus {
  dir: string;
  mixtureFile: string;
}

function makeCorpus(dir: string): Corpus {
  const books = path.join(dir, "books");
  mkdirSync(path.join(books, "shelf"), { recursive: true });
  const book = (k: number): string => Array.from({ length: 12 }, (_, i) => paragraph(k * 100 + i)).join("\n\n");
  writeFileSync(path.join(books, "a.txt"), book(1));
  writeFileSync(path.join(books, "shelf", "b.txt"), book(2).replace(/\n/g, "\r\n"));
  writeFileSync(path.join(books, "shelf", "c.txt"), book(3));
  writeFileSync(path.join(books, "copy-of-a.txt"), book(1).toUpperCase()); // a duplicate after normalisation
  writeFileSync(path.join(books, "tiny.txt"), "Too short.");
  writeFileSync(path.join(books, "d.txt"), paragraph(7, 90)); // one chunk, repeated in web below

  const webLines: string[] = [];
  for (let i = 0; i < 40; i++) webLines.push(JSON.stringify({ text: paragraph(1000 + i, 25), url: `u${i}` }));
  webLines.splice(5, 0, "{ broken json");
  webLines.splice(9, 0, JSON.stringify({ url: "no text" }));
  webLines.push(JSON.stringify({ text: paragraph(7, 90) })); // duplicate of books/d.txt: cross-source de-duplication
  writeFileSync(path.join(dir, "web.jsonl.gz"), zlib.gzipSync(webLines.join("\n")));

  parquetWriteFile({
    filename: path.join(dir, "wiki.parquet"),
    columnData: [{ name: "article", data: Array.from({ length: 30 }, (_, i) => paragraph(5000 + i, 40)), type: "STRING" }],
    rowGroupSize: 8,
  });

  const mixtureFile = path.join(dir, "mixture.json");
  writeFileSync(
    mixtureFile,
    JSON.stringify({
      sources: [
        { name: "books", paths: ["books"], format: "text", weight: 6, split: "paragraphs", chunkChars: 400 },
        { name: "web", paths: ["web.jsonl.gz"], format: "jsonl", weight: 3 },
        { name: "wiki", paths: ["wiki.parquet"], format: "parquet", field: "article", weight: 1 },
      ],
      valFraction: 0.2,
      seed: 3,
    }),
  );
  return { dir, mixtureFile };
}

async function prepared(tag: string): Promise<{ dir: string; out: string; manifest: Manifest; warnings: string[]; cleanup: () => void }> {
  const t = tempDir(tag);
  const { mixtureFile } = makeCorpus(t.dir);
  const mixture = parseMixture(JSON.parse(readFileSync(mixtureFile, "utf8")), mixtureFile);
  const out = path.join(t.dir, "out");
  const warnings: string[] = [];
  const fakeModel = path.join(t.dir, "fake.model");
  writeFileSync(fakeModel, "the tokenizer's bytes");
  const manifest = await prepareDataset(mixture, { outDir: out, tokenizer: new ByteTokenizer(), tokenizerPath: fakeModel, shardTokens: 2048, onWarning: (w) => warnings.push(w) });
  return { dir: t.dir, out, manifest, warnings, cleanup: t.cleanup };
}

function stream(out: string, m: Manifest, name: string, split: "train" | "val"): Int32Array {
  const s = m.sources.find((x) => x.name === name)!;
  return Int32Array.from(loadTokens(s[split].shards.map((sh) => ({ path: path.join(out, sh.file), tokens: sh.tokens })), m.dtype));
}

/** Splits a token stream into documents at BOS ... EOS and decodes them. */
function documents(tokens: Int32Array): string[] {
  const tok = new ByteTokenizer();
  const docs: string[] = [];
  let start = -1;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === 1) {
      assert.equal(start, -1, "BOS inside a document");
      start = i + 1;
    } else if (tokens[i] === 2) {
      assert.notEqual(start, -1, "EOS without BOS");
      docs.push(tok.decode(tokens.subarray(start, i)));
      start = -1;
    }
  }
  assert.equal(start, -1, "stream ends inside a document");
  return docs;
}

test("prepare: manifest, counts (kept, dropped, duplicates, malformed) and shards that decode back to the cleaned documents", async () => {
  const p = await prepared("prepare");
  try {
    const m = p.manifest;
    assert.equal(m.dtype, "uint16");
    // The tokenizer is copied into the dataset and recorded relative to it.
    assert.deepEqual(m.tokenizer, { path: "tokenizer.model", vocabSize: 259, bosId: 1, eosId: 2 });
    assert.equal(readFileSync(path.join(p.out, "tokenizer.model"), "utf8"), "the tokenizer's bytes");
    assert.deepEqual(m.sources.map((s) => s.name), ["books", "web", "wiki"]);
    assert.deepEqual(m.sources.map((s) => s.weight), [0.6, 0.3, 0.1]);
    assert.deepEqual(readManifest(p.out), m);
    const [books, web, wiki] = m.sources;
    // books: paragraphs grouped in chunks of >= 400 chars; every chunk of the upper-case copy of a.txt is a duplicate; tiny.txt is too short
    assert.equal(books!.stats.files, 6);
    assert.equal(books!.stats.dropped.tooShort, 1);
    const aChunks = books!.stats.duplicateDocuments;
    assert.ok(aChunks >= 3);
    assert.equal(books!.stats.documents, books!.stats.kept + aChunks + 1);
    assert.equal(web!.stats.malformed, 2);
    assert.equal(web!.stats.duplicateDocuments, 1);
    assert.equal(web!.stats.kept, 40);
    assert.equal(wiki!.stats.kept, 30);
    assert.equal(p.warnings.length, 2);
    assert.match(p.warnings[0]!, /web\.jsonl\.gz:6: malformed JSON/);
    assert.match(p.warnings[1]!, /web\.jsonl\.gz:10: no string field "text"/);

    for (const s of m.sources) {
      const train = documents(stream(p.out, m, s.name, "train"));
      const val = documents(stream(p.out, m, s.name, "val"));
      assert.equal(train.length, s.train.documents);
      assert.equal(val.length, s.val.documents);
      assert.equal(train.length + val.length, s.stats.kept);
      assert.ok(val.length > 0, `${s.name} has validation documents`);
      assert.ok(val.every((d) => !train.includes(d)), "validation and training documents are disjoint");
      assert.equal(s.train.tokens, s.train.shards.reduce((a, sh) => a + sh.tokens, 0));
      assert.ok(s.train.shards.every((sh) => sh.tokens <= 2048));
      for (const d of [...train, ...val]) assert.equal(d, normalizeText(d));
    }
    const wikiDocs = [...documents(stream(p.out, m, "wiki", "train")), ...documents(stream(p.out, m, "wiki", "val"))].sort();
    assert.deepEqual(wikiDocs, Array.from({ length: 30 }, (_, i) => paragraph(5000 + i, 40)).sort());

    const rows = summarizeManifest(m, 1e5);
    assert.ok(Math.abs(rows[2]!.epochs! - (1e5 * 0.1) / wiki!.train.tokens) < 1e-12);
    assert.equal(rows[1]!.malformed, 2);

    // the same inputs give byte-identical shards (the split depends on content, not on timing)
    const again = await prepareDataset(parseMixture(JSON.parse(readFileSync(path.join(p.dir, "mixture.json"), "utf8")), path.join(p.dir, "mixture.json")), {
      outDir: path.join(p.dir, "out2"),
      tokenizer: new ByteTokenizer(),
      shardTokens: 2048,
    });
    for (const s of m.sources) {
      assert.deepEqual([...stream(path.join(p.dir, "out2"), again, s.name, "train")], [...stream(p.out, m, s.name, "train")]);
    }
  } finally {
    p.cleanup();
  }
});

test("mixture sampler: deterministic, windows are slices of one source's stream, proportions follow the weights", async () => {
  const p = await prepared("sampler");
  try {
    const T = 8;
    const a = MixtureSampler.open(p.out, { seqLen: T });
    const b = MixtureSampler.open(p.out, { seqLen: T });
    const streams = Object.fromEntries(p.manifest.sources.map((s) => [s.name, stream(p.out, p.manifest, s.name, "train")]));
    const counts: Record<string, number> = { books: 0, web: 0, wiki: 0 };
    const wa = new Int32Array(T + 1);
    const wb = new Int32Array(T + 1);
    const N = 3000;
    for (let k = 0; k < N; k++) {
      const sa = a.next(wa);
      const sb = b.next(wb);
      assert.equal(sa, sb);
      assert.deepEqual(wa, wb);
      counts[sa]!++;
      if (k < 300) {
        // the window is stream[j·T : j·T + T + 1] (circular) for some j
        const s = streams[sa]!;
        const n = Math.max(1, Math.floor(s.length / T));
        let found = false;
        for (let j = 0; j < n && !found; j++) {
          let ok = true;
          for (let i = 0; i <= T && ok; i++) ok = s[(j * T + i) % s.length] === wa[i];
          found = ok;
        }
        assert.ok(found, `window ${k} from ${sa} is a slice of its stream`);
      }
    }
    for (const [name, w] of [["books", 0.6], ["web", 0.3], ["wiki", 0.1]] as const) {
      const sigma = Math.sqrt(N * w * (1 - w));
      assert.ok(Math.abs(counts[name]! - N * w) < 4.5 * sigma, `${name}: ${counts[name]} windows, expected ${N * w} ± ${4.5 * sigma}`);
    }
    const seen = a.epochsSeen();
    assert.ok(Math.abs(seen["wiki"]! - (counts["wiki"]! * T) / streams["wiki"]!.length) < 1e-9);
    const report = a.epochReport(1e6);
    assert.ok(Math.abs(report[0]!.epochs - (1e6 * 0.6) / streams["books"]!.length) < 1e-9);
    const c = MixtureSampler.open(p.out, { seqLen: T, seed: 99 });
    assert.notDeepEqual([...c.nextBatch(20)], [...MixtureSampler.open(p.out, { seqLen: T }).nextBatch(20)]);
  } finally {
    p.cleanup();
  }
});

test("mixture sampler: the state after k windows resumes to exactly the same next windows; mismatched resumes are refused", async () => {
  const p = await prepared("resume");
  try {
    const T = 16;
    for (const order of ["shuffled", "sequential"] as const) {
      const full = MixtureSampler.open(p.out, { seqLen: T, order });
      full.nextBatch(77);
      const saved = JSON.parse(JSON.stringify(full.state()));
      assert.equal(saved.windows, 77);
      const expected = full.nextBatch(200);
      const resumed = openTrainingData(p.out, { seqLen: T, order, state: saved });
      assert.ok(resumed instanceof MixtureSampler);
      assert.deepEqual([...resumed.nextBatch(200)], [...expected]);
      assert.deepEqual(resumed.state(), full.state());
    }
    const saved = MixtureSampler.open(p.out, { seqLen: T }).state();
    assert.throws(() => MixtureSampler.open(p.out, { seqLen: T, weights: { books: 1, web: 1 }, state: saved }), (e: unknown) => e instanceof UserError && /dataset or its weights changed/.test(e.message));
    assert.throws(() => MixtureSampler.open(p.out, { seqLen: T, order: "sequential", state: saved }), (e: unknown) => e instanceof UserError && /order/.test(e.message));
    assert.throws(() => openTrainingData(path.join(p.dir, "web.jsonl.gz"), { seqLen: T, state: saved }), (e: unknown) => e instanceof UserError && /prepared mixture, not a token file/.test(e.message));
    assert.ok(openTrainingData(path.join(p.dir, "web.jsonl.gz"), { seqLen: T }) instanceof TokenFileSampler);
    assert.throws(() => openTrainingData(path.join(p.dir, "nothing"), { seqLen: T }), UserError);
  } finally {
    p.cleanup();
  }
});

test("mixture sampler: with one source, a shuffled epoch visits each of its windows once; validation windows come from the held-out stream", async () => {
  const p = await prepared("epochs");
  try {
    const T = 8;
    const s = MixtureSampler.open(p.out, { seqLen: T, weights: { wiki: 1 } });
    const wiki = stream(p.out, p.manifest, "wiki", "train");
    const n = Math.floor(wiki.length / T);
    const all: string[] = [];
    for (let j = 0; j < n; j++) all.push(Array.from({ length: T + 1 }, (_, i) => wiki[(j * T + i) % wiki.length]).join(","));
    const w = new Int32Array(T + 1);
    const drawn: string[] = [];
    for (let k = 0; k < n; k++) {
      assert.equal(s.next(w), "wiki");
      drawn.push(Array.from(w).join(","));
    }
    assert.deepEqual([...drawn].sort(), [...all].sort(), "every window once per epoch");
    assert.notDeepEqual(drawn, all, "in a shuffled order");
    assert.equal(s.epochsSeen()["wiki"], (n * T) / wiki.length);

    const val = validationWindows(p.out, { seqLen: T, maxWindowsPerSource: 5 });
    assert.deepEqual(val.map((v) => v.source), ["books", "web", "wiki"]);
    for (const v of val) {
      assert.equal(v.rows, 5);
      assert.equal(v.windows.length, 5 * (T + 1));
      const held = stream(p.out, p.manifest, v.source, "val");
      const first = Array.from(v.windows.subarray(0, T + 1));
      assert.deepEqual(first, Array.from(held.subarray(0, T + 1)));
    }
  } finally {
    p.cleanup();
  }
});

test("a source's fraction keeps a deterministic, content-chosen subset of its documents", async () => {
  const t = tempDir("fraction");
  try {
    makeCorpus(t.dir);
    const mixture = parseMixture({ sources: [{ name: "wiki", paths: ["wiki.parquet"], format: "parquet", field: "article", weight: 1, fraction: 0.5 }], valFraction: 0 }, path.join(t.dir, "m.json"));
    const m = await prepareDataset(mixture, { outDir: path.join(t.dir, "out"), tokenizer: new ByteTokenizer() });
    const s = m.sources[0]!;
    assert.equal(s.stats.kept, 30);
    assert.equal(s.train.documents + s.stats.subsampled, 30);
    assert.ok(s.stats.subsampled >= 6 && s.stats.subsampled <= 24, `${s.stats.subsampled} of 30 left out`);
    const again = await prepareDataset(mixture, { outDir: path.join(t.dir, "out2"), tokenizer: new ByteTokenizer() });
    assert.equal(again.sources[0]!.train.tokens, s.train.tokens);
  } finally {
    t.cleanup();
  }
});
