/**
 * Corpus readers under bad input (issue 12 §5): gzip bombs, unbounded lines, FIFOs and devices
 * named as corpora, and a Parquet file that sends hyparquet into a runaway RLE run
 * (docs/upstream/hyparquet-rle-hang.md). Each must end quickly in one UserError naming the file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { parquetWriteFile } from "hyparquet-writer";
import { readDocuments, readJsonl, readParquet, readTextFile } from "../../src/data/readers.js";
import type { Document } from "../../src/data/types.js";
import { UserError } from "../../src/util/errors.js";
import { tempDir } from "./helpers.js";

async function collect(it: AsyncIterable<Document>): Promise<Document[]> {
  const out: Document[] = [];
  for await (const d of it) out.push(d);
  return out;
}

function userError(re: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.match(e.message, re);
    assert.ok(!e.message.includes("\n"), "one line");
    return true;
  };
}

test("a gzip bomb is stopped by the expansion cap; ordinary gzip JSONL still reads", async () => {
  const { dir, cleanup } = tempDir("gzbomb");
  try {
    const bomb = path.join(dir, "bomb.jsonl.gz");
    // 40 MiB of identical JSONL records compress ~1000×: far past the 200× cap (+16 MiB allowance)
    const line = Buffer.from(`{"text":"${"a".repeat(1000)}"}\n`);
    writeFileSync(bomb, zlib.gzipSync(Buffer.concat(Array.from({ length: (40 << 20) / line.length }, () => line)), { level: 9 }));
    await assert.rejects(collect(readJsonl(bomb)), userError(/bomb\.jsonl\.gz: decompresses to more than 200× its size/));
    const ok = path.join(dir, "ok.jsonl.gz");
    writeFileSync(ok, zlib.gzipSync('{"text":"one"}\n{"text":"two"}\n'));
    assert.deepEqual((await collect(readJsonl(ok))).map((d) => d.text), ["one", "two"]);
  } finally {
    cleanup();
  }
});

test("lines are bounded, and split at \\n, \\r\\n and \\r as readline does (also across chunk boundaries)", async () => {
  const { dir, cleanup } = tempDir("lines");
  try {
    const long = path.join(dir, "long.jsonl");
    writeFileSync(long, `{"text":"ok"}\n{"text":"${"x".repeat(5000)}"}\n`);
    await assert.rejects(collect(readJsonl(long, { maxLineChars: 1000 })), userError(/long\.jsonl: a line is longer than 1000 characters/));
    const mixed = path.join(dir, "mixed.txt");
    // 64 KiB chunks: put a \r\n pair exactly across the first chunk boundary
    const pad = "p".repeat(65536 - 1);
    writeFileSync(mixed, `${pad}\r\nb\rc\n\nd\r\n\r\ne`);
    const paras = await collect(readTextFile(mixed, { split: "paragraphs" }));
    assert.deepEqual(paras.map((d) => d.text), [`${pad}\nb\nc`, "d", "e"]);
  } finally {
    cleanup();
  }
});

test("a FIFO or a device named as a corpus is refused instead of blocking or reading forever", async () => {
  const { dir, cleanup } = tempDir("fifo");
  try {
    const fifo = path.join(dir, "corpus.txt");
    execFileSync("mkfifo", [fifo]);
    await assert.rejects(collect(readDocuments([fifo], "text")), userError(/corpus\.txt: not a regular file or folder/));
    await assert.rejects(collect(readDocuments(["/dev/zero"], "jsonl")), userError(/\/dev\/zero: not a regular file or folder/));
  } finally {
    cleanup();
  }
});

test("a Parquet file with a runaway RLE run header is reported, not a hang or a crash of the reader", async () => {
  const { dir, cleanup } = tempDir("parquet-rle");
  try {
    const file = path.join(dir, "bad.parquet");
    const data = Array.from({ length: 64 }, (_, i) => (i % 2 ? "b" : "a"));
    await parquetWriteFile({ filename: file, columnData: [{ name: "text", data, type: "STRING", encoding: "RLE_DICTIONARY" }], codec: "UNCOMPRESSED" });
    // the healthy file reads
    assert.deepEqual((await collect(readParquet(file))).map((d) => d.text), data);
    // bit width 1, then one bit-packed run (header 0x11, eight 0xaa bytes) -> an RLE run of 2^31-1 values
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.from([0x01, 0x11, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa]));
    assert.ok(at > 0, "dictionary index run found");
    Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f]).copy(bytes, at + 1);
    writeFileSync(file, bytes);
    await assert.rejects(collect(readParquet(file, { parquetDeadlineMs: 3000 })), userError(/bad\.parquet: (the Parquet decoder crashed|the Parquet decoder made no progress|cannot read)/));
  } finally {
    cleanup();
  }
});
