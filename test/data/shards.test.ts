import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { FileTokenStore, loadTokens, MemoryTokenStore, openTokenStore, readCircular, ShardWriter } from "../../src/data/shards.js";
import { TokenFileSampler } from "../../src/data/sampler.js";
import { dtypeForVocab } from "../../src/data/types.js";
import { UserError } from "../../src/util/errors.js";
import { tempDir } from "./helpers.js";

test("dtype: uint16 up to a 65536-id vocabulary, int32 beyond", () => {
  assert.equal(dtypeForVocab(32000), "uint16");
  assert.equal(dtypeForVocab(65536), "uint16");
  assert.equal(dtypeForVocab(65537), "int32");
});

test("ShardWriter: BOS + tokens + EOS per document, exact shard sizes, little-endian files, nothing temporary left", () => {
  const { dir, cleanup } = tempDir("shards");
  try {
    for (const [vocab, dtype] of [[300, "uint16"], [100000, "int32"]] as const) {
      const w = new ShardWriter(dir, `src-${dtype}/train`, dtype, vocab, 7);
      const docs = [[10, 11, 12], [13], [], [14, 15, 16, 17, 18, 19, 20, 21, 22, 23]];
      for (const d of docs) w.appendDocument(d.map((x) => (dtype === "int32" ? x + 70000 : x)), { bos: 1, eos: 2 });
      const info = w.finish();
      const expected = docs.flatMap((d) => [1, ...d.map((x) => (dtype === "int32" ? x + 70000 : x)), 2]);
      assert.equal(info.tokens, expected.length);
      assert.equal(info.documents, 4);
      assert.deepEqual(info.shards.map((s) => s.tokens), [7, 7, 7, 1]);
      assert.deepEqual(info.shards.map((s) => s.file), [0, 1, 2, 3].map((i) => `src-${dtype}/train-0000${i}.bin`));
      const files = info.shards.map((s) => ({ path: path.join(dir, s.file), tokens: s.tokens }));
      assert.deepEqual([...loadTokens(files, dtype)], expected);
      // the raw bytes are little-endian
      const first = readFileSync(files[0]!.path);
      assert.equal(dtype === "uint16" ? first.readUInt16LE(2) : first.readInt32LE(4), expected[1]);
      assert.ok(!readdirSync(path.join(dir, `src-${dtype}`)).some((f) => f.includes(".tmp")));
    }
    const w = new ShardWriter(dir, "bad/train", "uint16", 300, 7);
    assert.throws(() => w.appendDocument([299, 300]), /token id 300 is outside/);
  } finally {
    cleanup();
  }
});

test("file-backed and in-memory token stores agree, across shard boundaries and with wrap-around", () => {
  const { dir, cleanup } = tempDir("store");
  try {
    const w = new ShardWriter(dir, "s/train", "uint16", 1000, 5);
    const toks = Array.from({ length: 23 }, (_, i) => (i * 37) % 1000);
    w.appendDocument(toks);
    const info = w.finish();
    const files = info.shards.map((s) => ({ path: path.join(dir, s.file), tokens: s.tokens }));
    const file = new FileTokenStore(files, "uint16");
    const mem = openTokenStore(files, "uint16");
    assert.ok(mem instanceof MemoryTokenStore);
    assert.ok(openTokenStore(files, "uint16", 0) instanceof FileTokenStore);
    for (const [start, count] of [[0, 23], [3, 9], [4, 1], [5, 5], [20, 3]] as const) {
      const a = new Int32Array(count);
      const b = new Int32Array(count);
      file.read(start, count, a, 0);
      mem.read(start, count, b, 0);
      assert.deepEqual([...a], toks.slice(start, start + count));
      assert.deepEqual([...b], [...a]);
    }
    const c = new Int32Array(10);
    readCircular(file, 20, 10, c);
    assert.deepEqual([...c], [...toks.slice(20), ...toks.slice(0, 7)]);
    assert.throws(() => file.read(20, 4, new Int32Array(4), 0), RangeError);
    file.close();
    // a shard whose size disagrees with the manifest is reported
    writeFileSync(files[0]!.path, Buffer.alloc(3));
    assert.throws(() => loadTokens(files, "uint16"), (e: unknown) => e instanceof UserError && /3 bytes, expected 10/.test(e.message));
  } finally {
    cleanup();
  }
});

function syntheticFile(dir: string, n: number, dtype: "uint16" | "int32" = "uint16"): string {
  const f = path.join(dir, `tokens-${dtype}-${n}.bin`);
  const arr = dtype === "uint16" ? new Uint16Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) arr[i] = dtype === "uint16" ? i % 65536 : i * 3;
  writeFileSync(f, new Uint8Array(arr.buffer));
  return f;
}

test("token file, sequential: row r of step s is tokens[(s·B·A + r)·T : ... + T + 1], wrapping around at the end", () => {
  const { dir, cleanup } = tempDir("contract");
  try {
    const n = 1000;
    const T = 16;
    const rowsPerStep = 6; // B·A
    const f = syntheticFile(dir, n);
    for (const preloadLimitBytes of [undefined, 0]) {
      const s = new TokenFileSampler(f, { seqLen: T, ...(preloadLimitBytes === undefined ? {} : { preloadLimitBytes }) });
      for (let step = 0; step < 15; step++) {
        const batch = s.nextBatch(rowsPerStep);
        for (let r = 0; r < rowsPerStep; r++) {
          const start = (step * rowsPerStep + r) * T;
          const want = Array.from({ length: T + 1 }, (_, k) => (start + k) % n); // token i holds i
          assert.deepEqual([...batch.subarray(r * (T + 1), (r + 1) * (T + 1))], want, `step ${step} row ${r}`);
          const one = new Int32Array(T + 1);
          s.rowAt(step, r, rowsPerStep, one);
          assert.deepEqual([...one], want);
        }
      }
      assert.equal(s.windowsDrawn, 90);
      s.close();
    }
    const g = syntheticFile(dir, 100, "int32");
    const s32 = new TokenFileSampler(g, { seqLen: 4, dtype: "int32" });
    assert.deepEqual([...s32.nextBatch(1)], [0, 3, 6, 9, 12]);
    assert.throws(() => new TokenFileSampler(syntheticFile(dir, 3), { seqLen: 4, dtype: "int32" }), (e: unknown) => e instanceof UserError && /not a whole number of int32 tokens/.test(e.message));
  } finally {
    cleanup();
  }
});

test("token file, shuffled: each epoch visits every window once in a seeded order; resuming gives the same windows", () => {
  const { dir, cleanup } = tempDir("shuffled");
  try {
    const n = 1003;
    const T = 10; // 100 windows per epoch (starting at multiples of T); tokens 1001 and 1002 are in none
    const f = syntheticFile(dir, n);
    const a = new TokenFileSampler(f, { seqLen: T, order: "shuffled", seed: 5 });
    assert.equal(a.windowsPerEpoch, 100);
    const starts: number[][] = [[], [], []];
    const buf = new Int32Array(T + 1);
    for (let e = 0; e < 3; e++) {
      for (let i = 0; i < 100; i++) {
        a.next(buf);
        assert.equal(buf[0]! % T, 0);
        for (let k = 1; k <= T; k++) assert.equal(buf[k], buf[0]! + k);
        starts[e]!.push(buf[0]! / T);
      }
      assert.deepEqual([...starts[e]!].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
    }
    assert.notDeepEqual(starts[0], starts[1]);
    assert.notDeepEqual(starts[0], Array.from({ length: 100 }, (_, i) => i));
    const other = new TokenFileSampler(f, { seqLen: T, order: "shuffled", seed: 6 });
    assert.notDeepEqual([...other.nextBatch(20)], [...new TokenFileSampler(f, { seqLen: T, order: "shuffled", seed: 5 }).nextBatch(20)]);

    // resume after k windows: the state is JSON and the continuation is identical
    const full = new TokenFileSampler(f, { seqLen: T, order: "shuffled", seed: 5 });
    full.nextBatch(137);
    const saved = JSON.parse(JSON.stringify(full.state()));
    const expected = full.nextBatch(50);
    const resumed = new TokenFileSampler(f, { seqLen: T, order: "shuffled", seed: 5, state: saved });
    assert.equal(resumed.windowsDrawn, 137);
    assert.deepEqual([...resumed.nextBatch(50)], [...expected]);
    assert.throws(() => new TokenFileSampler(f, { seqLen: T + 1, order: "shuffled", seed: 5, state: saved }), (e: unknown) => e instanceof UserError && /sequence length/.test(e.message));
    assert.throws(() => new TokenFileSampler(f, { seqLen: T, order: "shuffled", seed: 9, state: saved }), (e: unknown) => e instanceof UserError && /seed/.test(e.message));
  } finally {
    cleanup();
  }
});
