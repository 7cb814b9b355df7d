import { test } from "node:test";
import assert from "node:assert/strict";
import { alphaFraction, dedupKey, DocumentCleaner, normalizeText, qualityCheck, repeatedLineFraction, stripLicenseHeader } from "../../src/data/clean.js";
import { digest, FeistelPermutation, Hash64Set } from "../../src/data/hash.js";

const prose = (n: number): string => `This is sentence number ${n} of a perfectly ordinary paragraph about whales and ships.`;

test("normalizeText fixes line endings, control characters, trailing spaces and blank-line runs", () => {
  assert.equal(normalizeText("\ufeff\n\nHello\r\nworld \t\r\rnext\u0007 line\u0000\n\n\n\n\nend  \n\n"), "Hello\nworld\n\nnext line\n\nend");
  assert.equal(normalizeText("  indented code\n\tkept"), "  indented code\n\tkept");
});

test("quality filters name the first failed check", () => {
  assert.equal(qualityCheck("   \n "), "empty");
  assert.equal(qualityCheck("short text"), "tooShort");
  assert.equal(qualityCheck("1234567890 ".repeat(10)), "lowAlpha");
  const repeated = Array.from({ length: 10 }, () => "the very same line again").join("\n");
  assert.equal(qualityCheck(repeated), "repeatedLines");
  assert.equal(qualityCheck(prose(1) + "\n" + prose(2)), null);
  assert.equal(alphaFraction("ab 12"), 0.5);
  assert.equal(alphaFraction("été ü"), 1);
  assert.equal(repeatedLineFraction("abcdefgh\nabcdefgh\nx\nijklmnop"), 1 / 3);
});

test("document de-duplication uses a normalised key and counts duplicates; line de-duplication removes lines seen earlier in the source", () => {
  assert.equal(dedupKey("Hello,  World! 1999"), dedupKey("hello world 2000".replace("2000", "1234")));
  assert.equal(dedupKey("Café"), "cafe");
  const c = new DocumentCleaner({ dedupLines: true, lineMinChars: 20 });
  const doc1 = [prose(1), prose(2), "short line", "}"].join("\n");
  const doc2 = [prose(2), prose(3), "short line", "}"].join("\n"); // prose(2) is removed, short lines kept
  const doc1Again = doc1.toUpperCase().replace(/\./g, "!"); // other lines, but the same de-duplication key
  assert.ok(c.process(doc1));
  const second = c.process(doc2);
  assert.ok(second);
  assert.equal(second.text, [prose(3), "short line", "}"].join("\n"));
  assert.equal(c.process(doc1Again), null);
  assert.equal(c.process("tiny"), null);
  const s = c.stats;
  assert.equal(s.documents, 4);
  assert.equal(s.kept, 2);
  assert.equal(s.duplicateLines, 1);
  assert.equal(s.duplicateDocuments, 1);
  assert.equal(s.dropped.tooShort, 1);

  const d = new DocumentCleaner(); // no line de-duplication: exact document duplicates are caught by key
  assert.ok(d.process(doc1));
  assert.equal(d.process(doc1Again), null);
  assert.equal(d.process(doc1 + "\n\n\n"), null);
  assert.equal(d.stats.duplicateDocuments, 2);
  assert.equal(d.stats.kept, 1);
});

test("a shared hash set de-duplicates across cleaners (sources)", () => {
  const shared = new Hash64Set();
  const a = new DocumentCleaner({ documentHashes: shared });
  const b = new DocumentCleaner({ documentHashes: shared });
  assert.ok(a.process(prose(7) + " " + prose(8)));
  assert.equal(b.process(prose(7) + " " + prose(8)), null);
  assert.equal(b.stats.duplicateDocuments, 1);
  const off = new DocumentCleaner({ documentHashes: null });
  assert.ok(off.process(prose(7) + " " + prose(8)));
  assert.ok(off.process(prose(7) + " " + prose(8)));
});

test("stripLicenseHeader removes a leading licence comment only", () => {
  const code = "/*! Copyright (c) Someone. Licensed under the MIT License. */\n\n/// <reference lib=\"es5\" />\ninterface A {}\n";
  assert.equal(stripLicenseHeader(code), "/// <reference lib=\"es5\" />\ninterface A {}\n");
  assert.equal(stripLicenseHeader("// Copyright 2020 X\n// license: MIT\nconst a = 1;"), "const a = 1;");
  const doc = "/** Adds two numbers. */\nfunction add() {}";
  assert.equal(stripLicenseHeader(doc), doc);
});

test("Hash64Set keeps 64-bit keys through growth", () => {
  const s = new Hash64Set(4);
  for (let i = 0; i < 5000; i++) assert.equal(s.addDigest(digest(`k${i}`)), true);
  for (let i = 0; i < 5000; i++) assert.equal(s.addDigest(digest(`k${i}`)), false);
  assert.equal(s.size, 5000);
  assert.equal(s.addDigest(new Uint8Array(8)), true); // the all-zero key is still storable
  assert.equal(s.addDigest(new Uint8Array(8)), false);
});

test("FeistelPermutation is a seeded bijection of [0, n)", () => {
  for (const n of [1, 2, 7, 100, 1000, 4097]) {
    const p = new FeistelPermutation(n, [3, n]);
    const seen = new Uint8Array(n);
    for (let i = 0; i < n; i++) seen[p.at(i)]++;
    assert.ok(seen.every((v) => v === 1), `n=${n}`);
  }
  const a = new FeistelPermutation(1000, [1]);
  const b = new FeistelPermutation(1000, [2]);
  let same = 0;
  for (let i = 0; i < 1000; i++) if (a.at(i) === b.at(i)) same++;
  assert.ok(same < 20, `different keys give different orders (${same} fixed points in common)`);
});
