import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { asyncBufferFromFile, parquetMetadataAsync } from "hyparquet";
import { parquetWriteFile } from "hyparquet-writer";
import { listFiles, newReadStats, readDocuments, readJsonl, readParquet, readTextFile } from "../../src/data/readers.js";
import type { Document } from "../../src/data/types.js";
import { UserError } from "../../src/util/errors.js";
import { tempDir } from "./helpers.js";

async function collect(it: AsyncIterable<Document>): Promise<Document[]> {
  const out: Document[] = [];
  for await (const d of it) out.push(d);
  return out;
}

test("text folders are read recursively in sorted order, one document per file; hidden and binary files are skipped", async () => {
  const { dir, cleanup } = tempDir("text");
  try {
    mkdirSync(path.join(dir, "b", "c"), { recursive: true });
    writeFileSync(path.join(dir, "z.txt"), "last");
    writeFileSync(path.join(dir, "a.txt"), "first\r\nline");
    writeFileSync(path.join(dir, "b", "c", "m.txt"), "middle");
    writeFileSync(path.join(dir, ".hidden.txt"), "hidden");
    writeFileSync(path.join(dir, "b", "blob.bin"), Buffer.from([1, 0, 2, 3]));
    const stats = newReadStats();
    const warnings: string[] = [];
    const docs = await collect(readDocuments([dir], "text", { stats, onWarning: (w) => warnings.push(w) }));
    assert.deepEqual(docs.map((d) => d.text), ["first\r\nline", "middle", "last"]);
    assert.deepEqual(docs.map((d) => d.id), ["a.txt", path.join("b", "c", "m.txt"), "z.txt"]);
    assert.equal(docs[1]!.source, path.join(dir, "b", "c", "m.txt"));
    assert.equal(stats.files, 3);
    assert.equal(stats.skippedFiles, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /blob\.bin: looks binary/);
    // extensions filter folders, but an explicitly named file is always read
    assert.deepEqual((await listFiles([dir, path.join(dir, "b", "blob.bin")], { extensions: [".txt"] })).map((f) => path.relative(dir, f)), ["a.txt", path.join("b", "c", "m.txt"), "z.txt", path.join("b", "blob.bin")]);
    await assert.rejects(listFiles([path.join(dir, "missing")]), (e: unknown) => e instanceof UserError && /missing: no such file/.test(e.message));
  } finally {
    cleanup();
  }
});

test("text paragraph mode splits on blank lines and groups paragraphs into chunks of at least chunkChars", async () => {
  const { dir, cleanup } = tempDir("para");
  try {
    const f = path.join(dir, "book.txt");
    writeFileSync(f, "one a\none b\n\n\n two\n   \nthree\n\nfour");
    const paras = await collect(readTextFile(f, { split: "paragraphs" }));
    assert.deepEqual(paras.map((d) => d.text), ["one a\none b", " two", "three", "four"]);
    assert.deepEqual(paras.map((d) => d.id), ["book.txt#0", "book.txt#1", "book.txt#2", "book.txt#3"]);
    const chunks = await collect(readTextFile(f, { split: "paragraphs", chunkChars: 12 }));
    assert.deepEqual(chunks.map((d) => d.text), ["one a\none b\n\n two", "three\n\nfour"]);
    // gzip-compressed text is read transparently
    const gz = path.join(dir, "book.txt.gz");
    writeFileSync(gz, zlib.gzipSync("gz one\n\ngz two\n"));
    assert.deepEqual((await collect(readTextFile(gz, { split: "paragraphs" }))).map((d) => d.text), ["gz one", "gz two"]);
  } finally {
    cleanup();
  }
});

test("JSONL (plain and gzip) reads the named field; malformed lines are reported with file:line, counted and skipped", async () => {
  const { dir, cleanup } = tempDir("jsonl");
  try {
    const lines = [
      JSON.stringify({ text: "alpha", meta: 1 }),
      "",
      "{not json",
      JSON.stringify({ body: "no text field" }),
      JSON.stringify({ text: 42 }),
      JSON.stringify(["array"]),
      JSON.stringify({ text: "omega \u00e9" }),
    ].join("\n");
    const plain = path.join(dir, "a.jsonl");
    const gz = path.join(dir, "b.jsonl.gz");
    writeFileSync(plain, lines + "\n");
    writeFileSync(gz, zlib.gzipSync(lines));
    for (const f of [plain, gz]) {
      const stats = newReadStats();
      const warnings: string[] = [];
      const docs = await collect(readJsonl(f, { stats, onWarning: (w) => warnings.push(w) }));
      assert.deepEqual(docs.map((d) => d.text), ["alpha", "omega \u00e9"]);
      assert.deepEqual(docs.map((d) => d.id), [`${path.basename(f)}:1`, `${path.basename(f)}:7`]);
      assert.equal(stats.malformed, 4);
      assert.equal(warnings.length, 4);
      assert.ok(warnings[0]!.startsWith(`${f}:3: malformed JSON`), warnings[0]);
      assert.ok(warnings[1]!.startsWith(`${f}:4: no string field "text"`), warnings[1]);
    }
    const other = await collect(readJsonl(plain, { field: "body" }));
    assert.deepEqual(other.map((d) => d.text), ["no text field"]);
    // folders pick up .jsonl and .jsonl.gz by default
    assert.equal((await collect(readDocuments([dir], "jsonl"))).length, 4);
    // a corrupt gzip file is a UserError naming the file
    const bad = path.join(dir, "bad.jsonl.gz");
    writeFileSync(bad, Buffer.concat([zlib.gzipSync(lines).subarray(0, 20), Buffer.from("garbage garbage garbage")]));
    await assert.rejects(collect(readJsonl(bad)), (e: unknown) => e instanceof UserError && e.message.startsWith(bad));
  } finally {
    cleanup();
  }
});

test("Parquet: the text column is read row group by row group (Snappy and GZIP); a missing column names the columns", async () => {
  const { dir, cleanup } = tempDir("parquet");
  try {
    const texts = ["first row", "second row", "third row", "fourth row", "fifth row"];
    const f = path.join(dir, "docs.parquet");
    parquetWriteFile({
      filename: f,
      columnData: [
        { name: "id", data: [1, 2, 3, 4, 5], type: "INT32" },
        { name: "content", data: texts, type: "STRING" },
      ],
      rowGroupSize: 2,
    });
    assert.equal((await parquetMetadataAsync(await asyncBufferFromFile(f))).row_groups.length, 3);
    const stats = newReadStats();
    const docs = await collect(readParquet(f, { field: "content", stats }));
    assert.deepEqual(docs.map((d) => d.text), texts);
    assert.deepEqual(docs.map((d) => d.id), texts.map((_, i) => `docs.parquet#${i}`));
    assert.equal(stats.files, 1);
    await assert.rejects(collect(readParquet(f)), (e: unknown) => e instanceof UserError && /no column "text" \(columns: id, content\)/.test(e.message));

    const g = path.join(dir, "gzip.parquet");
    parquetWriteFile({
      filename: g,
      columnData: [{ name: "text", data: ["zipped one", "zipped two"], type: "STRING" }],
      codec: "GZIP",
      compressors: { GZIP: (input: Uint8Array) => zlib.gzipSync(input) },
    });
    assert.deepEqual((await collect(readDocuments([dir], "parquet", { field: "text", extensions: ["gzip.parquet"] }))).map((d) => d.text), ["zipped one", "zipped two"]);
  } finally {
    cleanup();
  }
});
