import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { epochReport, loadMixture, normalizeWeights, parseMixture } from "../../src/data/mixture.js";
import { UserError } from "../../src/util/errors.js";
import { tempDir } from "./helpers.js";

test("parseMixture: defaults, paths relative to the mixture file, options kept", () => {
  const m = parseMixture(
    {
      sources: [
        { name: "books", paths: ["corpora/books", "/abs/more"], format: "text", weight: 4.5, split: "paragraphs", chunkChars: 100, stripHeaders: false },
        { name: "web", paths: ["cc.jsonl.gz"], format: "jsonl", field: "content", weight: 67, dedupLines: true, filters: { minChars: 10 } },
      ],
    },
    "/data/mix/mixture.json",
  );
  assert.equal(m.valFraction, 0.01);
  assert.equal(m.seed, 1);
  assert.deepEqual(m.sources[0]!.paths, ["/data/mix/corpora/books", "/abs/more"]);
  assert.equal(m.sources[0]!.split, "paragraphs");
  assert.equal(m.sources[1]!.field, "content");
  assert.deepEqual(m.sources[1]!.filters, { minChars: 10 });
  assert.deepEqual(normalizeWeights([4.5, 67, 28.5]), [0.045, 0.67, 0.285]);
});

test("parseMixture: each mistake is one UserError naming the file and the JSON path", () => {
  const bad: [unknown, RegExp][] = [
    [[], /the top level must be an object/],
    [{ sources: [] }, /"sources" must be a non-empty array/],
    [{ sources: [{ name: "a b", paths: ["x"], format: "text", weight: 1 }] }, /sources\[0\]\.name must be a name/],
    [{ sources: [{ name: "a", paths: ["x"], format: "csv", weight: 1 }] }, /sources\[0\]\.format must be "text", "jsonl" or "parquet" \(got "csv"\)/],
    [{ sources: [{ name: "a", paths: ["x"], format: "text", weight: 0 }] }, /sources\[0\]\.weight must be a positive number \(got 0\)/],
    [{ sources: [{ name: "a", paths: [], format: "text", weight: 1 }] }, /sources\[0\]\.paths must be a non-empty array/],
    [{ sources: [{ name: "a", paths: ["x"], format: "text", weight: 1 }, { name: "a", paths: ["y"], format: "text", weight: 1 }] }, /sources\[1\]\.name "a" is used twice/],
    [{ sources: [{ name: "a", paths: ["x"], format: "text", weight: 1, wieght: 2 }] }, /sources\[0\]\.wieght is not a known key/],
    [{ sources: [{ name: "a", paths: ["x"], format: "text", weight: 1, filters: { minLetters: 1 } }] }, /sources\[0\]\.filters\.minLetters is not a known filter/],
    [{ sources: [{ name: "a", paths: ["x"], format: "text", weight: 1 }], valFraction: 1 }, /"valFraction" must be a number in \[0, 1\)/],
  ];
  for (const [json, re] of bad) {
    assert.throws(() => parseMixture(json, "m.json"), (e: unknown) => e instanceof UserError && e.message.startsWith("m.json: ") && re.test(e.message) && !e.message.includes("\n"), JSON.stringify(json));
  }
});

test("loadMixture reports unreadable and invalid JSON files", async () => {
  const { dir, cleanup } = tempDir("mixture");
  try {
    const f = path.join(dir, "mixture.json");
    writeFileSync(f, "{ nope");
    await assert.rejects(loadMixture(f), (e: unknown) => e instanceof UserError && e.message.startsWith(`${f}: not valid JSON`));
    await assert.rejects(loadMixture(path.join(dir, "none.json")), (e: unknown) => e instanceof UserError && /cannot read the mixture file/.test(e.message));
    writeFileSync(f, JSON.stringify({ sources: [{ name: "a", paths: ["a.txt"], format: "text", weight: 2 }], seed: 7 }));
    const m = await loadMixture(f);
    assert.equal(m.seed, 7);
    assert.deepEqual(m.sources[0]!.paths, [path.join(dir, "a.txt")]);
  } finally {
    cleanup();
  }
});

test("epochReport reproduces Table 1's epochs from sampling proportions and source sizes", () => {
  // Table 1: 1.4T tokens; Wikipedia 4.5 % at 2.45 epochs, Books 4.5 % at 2.23 epochs -> sizes of ~25.7B and ~28.3B tokens.
  const plan = 1.4e12;
  const rows = epochReport(
    [
      { name: "CommonCrawl", weight: 67, tokens: (plan * 0.67) / 1.1 },
      { name: "Wikipedia", weight: 4.5, tokens: (plan * 0.045) / 2.45 },
      { name: "Books", weight: 4.5, tokens: (plan * 0.045) / 2.23 },
      { name: "rest", weight: 24, tokens: plan * 0.24 },
    ],
    plan,
  );
  assert.deepEqual(rows.map((r) => Number(r.epochs.toFixed(2))), [1.1, 2.45, 2.23, 1]);
  assert.ok(Math.abs(rows[0]!.weight - 0.67) < 1e-12);
  assert.ok(Math.abs(rows[1]!.sampledTokens - plan * 0.045) < 1);
});
