import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  __testing,
  assertFinite,
  openSafetensors,
  openSafetensorsSet,
  readTensorBytes,
  readTensorF32,
  writeSafetensors,
  writeSafetensorsRaw,
  type SafetensorsFile,
} from "../../src/formats/safetensors.js";
import {
  bf16ArrayToF32,
  bf16ToF32,
  f16ArrayToF32,
  f16ToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32ToBf16,
  f32ToF16,
} from "../../src/formats/half.js";
import { UserError } from "../../src/util/errors.js";
import { fixturesDir, randomArray } from "../helpers.js";

const fixtures = path.join(fixturesDir, "safetensors");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-safetensors-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface ExpectedTensor {
  dtype: string;
  shape: number[];
  f32_bits?: number[];
  values?: number[];
}
interface Expected {
  files: Record<string, { metadata: Record<string, string>; tensors: Record<string, ExpectedTensor> }>;
  rounding: { f32_bits: number[]; f16_bits: number[]; bf16_bits: number[] };
}
const expected = JSON.parse(fs.readFileSync(path.join(fixtures, "expected.json"), "utf8")) as Expected;

function bitsOf(a: Float32Array): number[] {
  return [...new Uint32Array(a.buffer, a.byteOffset, a.length)];
}
function f32FromBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0]!;
}
const isNaNBits32 = (b: number): boolean => (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;

/** Float32 results equal the expected bit patterns exactly (any NaN matches any NaN). */
function assertBitsEqual(actual: Float32Array, want: number[], what: string): void {
  const got = bitsOf(actual);
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (isNaNBits32(want[i]!)) assert.ok(isNaNBits32(got[i]!), `${what}[${i}]: want NaN, got ${actual[i]}`);
    else assert.equal(got[i], want[i], `${what}[${i}]: got ${actual[i]}, want ${f32FromBits(want[i]!)}`);
  }
}

/** Checks that fn throws a UserError whose message names `file` and matches `problem`. */
function throwsUser(fn: () => unknown, file: string, problem: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.ok(e.message.includes(file), `message does not name ${file}: ${e.message}`);
    assert.match(e.message, problem);
    assert.ok(!e.message.includes("\n"), `message should be one line: ${e.message}`);
    return true;
  });
}

let fileCounter = 0;
/** Writes a raw file: 8-byte length (or `len`), the header text, then `data`. */
function rawFile(header: string | object, data: Uint8Array | number = 0, len?: bigint): string {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const h = Buffer.from(text, "utf8");
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(len ?? BigInt(h.length));
  const body = typeof data === "number" ? new Uint8Array(data) : data;
  const p = path.join(tmp, `raw-${fileCounter++}.safetensors`);
  fs.writeFileSync(p, Buffer.concat([lenBuf, h, body]));
  return p;
}

function openFds(): number | undefined {
  try {
    return fs.readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

describe("fixtures written by the independent Python/torch producer", () => {
  test("single file: metadata, dtypes, shapes, data order and values (F32, F16, BF16, F64)", () => {
    const rel = "single/model.safetensors";
    const want = expected.files[rel]!;
    const f = openSafetensors(path.join(fixtures, rel));
    try {
      assert.deepEqual(f.metadata, want.metadata);
      assert.deepEqual(new Set(f.tensors.keys()), new Set(Object.keys(want.tensors)));
      // Map order is data order, which the producer made differ from header order.
      const offsets = [...f.tensors.values()].map((e) => e.byteOffset);
      assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
      assert.equal(f.tensors.values().next().value!.byteOffset, f.dataStart);
      assert.equal(f.dataStart % 8, 0);
      for (const [name, t] of Object.entries(want.tensors)) {
        const e = f.tensors.get(name)!;
        assert.equal(e.name, name);
        assert.equal(e.dtype, t.dtype, name);
        assert.deepEqual(e.shape, t.shape, name);
        if (t.f32_bits !== undefined) assertBitsEqual(readTensorF32(f, name), t.f32_bits, name);
      }
      assert.deepEqual(f.tensors.get("scalar")!.shape, []);
      assert.deepEqual([...readTensorF32(f, "scalar")], [42.5]);
      assert.equal(readTensorF32(f, "empty").length, 0);
      // Non-float data is still reachable as bytes.
      const ids = readTensorBytes(f, "ids");
      const dv = new DataView(ids.buffer, ids.byteOffset, ids.byteLength);
      assert.deepEqual([0, 1, 2].map((i) => Number(dv.getBigInt64(i * 8, true))), want.tensors["ids"]!.values);
      throwsUser(() => readTensorF32(f, "ids"), f.path, /"ids" has dtype I64, which cannot be read as float32/);
    } finally {
      f.close();
    }
  });

  test("sharded folder through model.safetensors.index.json", () => {
    const dir = path.join(fixtures, "sharded");
    const set = openSafetensorsSet(dir);
    try {
      assert.equal(set.files.length, 2);
      const all: Record<string, ExpectedTensor> = {};
      for (const [rel, f] of Object.entries(expected.files)) if (rel.startsWith("sharded/")) Object.assign(all, f.tensors);
      assert.deepEqual(new Set(set.tensors.keys()), new Set(Object.keys(all)));
      for (const [name, t] of Object.entries(all)) {
        const { file, entry } = set.tensors.get(name)!;
        assert.equal(entry.dtype, t.dtype);
        assert.ok(file.tensors.get(name) === entry);
        assertBitsEqual(set.readF32(name), t.f32_bits!, name);
      }
      throwsUser(() => set.readF32("model.layers.0.wieght"), dir, /no tensor named "model.layers.0.wieght".*"model.layers.0.weight"/);
    } finally {
      set.close();
    }
  });

  test("a folder with model.safetensors, and a .safetensors path, open as sets", () => {
    for (const where of [path.join(fixtures, "single"), path.join(fixtures, "single", "model.safetensors")]) {
      const set = openSafetensorsSet(where);
      assert.equal(set.files.length, 1);
      assert.equal(set.tensors.size, Object.keys(expected.files["single/model.safetensors"]!.tensors).length);
      assert.deepEqual([...set.readF32("scalar")], [42.5]);
      set.close();
      set.close(); // idempotent
    }
  });

  test("float32 -> f16/bf16 rounding equals torch's (ties to even, overflow, subnormals)", () => {
    const { f32_bits: inputs, f16_bits: f16, bf16_bits: bf16 } = expected.rounding;
    const src = new Float32Array(new Uint32Array(inputs).buffer);
    const bulk16 = f32ArrayToF16(src);
    const bulkBf = f32ArrayToBf16(src);
    for (let i = 0; i < inputs.length; i++) {
      const x = src[i]!;
      if (Number.isNaN(x)) {
        assert.ok(Number.isNaN(f16ToF32(f32ToF16(x))) && Number.isNaN(f16ToF32(bulk16[i]!)));
        assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(x))) && Number.isNaN(bf16ToF32(bulkBf[i]!)));
        continue;
      }
      assert.equal(f32ToF16(x), f16[i], `f16 of ${x} (bits 0x${inputs[i]!.toString(16)})`);
      assert.equal(bulk16[i], f16[i]);
      assert.equal(f32ToBf16(x), bf16[i], `bf16 of ${x} (bits 0x${inputs[i]!.toString(16)})`);
      assert.equal(bulkBf[i], bf16[i]);
    }
  });
});

describe("half-precision conversions", () => {
  test("f16 special values", () => {
    const cases: Array<[number, number]> = [
      [0x0000, 0],
      [0x3c00, 1],
      [0xc000, -2],
      [0x0001, 2 ** -24], // smallest subnormal
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x0400, 2 ** -14], // smallest normal
      [0x7bff, 65504], // max
      [0xfbff, -65504],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x3555, 0.333251953125],
    ];
    for (const [h, v] of cases) assert.equal(f16ToF32(h), v, `0x${h.toString(16)}`);
    assert.ok(Object.is(f16ToF32(0x8000), -0));
    assert.ok(Number.isNaN(f16ToF32(0x7e00)) && Number.isNaN(f16ToF32(0xfc01)));
    assert.equal(f32ToF16(-0), 0x8000);
    assert.equal(f32ToF16(65519), 0x7bff);
    assert.equal(f32ToF16(65520), 0x7c00); // rounds to Inf
    assert.equal(f32ToF16(2 ** -25), 0x0000); // tie to even: 0
    assert.equal(f32ToF16(1.5 * 2 ** -25), 0x0001);
    assert.equal(f32ToF16(-(2 ** -24)), 0x8001);
    assert.equal(f32ToF16(2 ** -14 - 2 ** -25), 0x0400); // rounds up into the normals
    assert.equal(f32ToF16(1e-10), 0);
    assert.equal(f32ToF16(NaN) & 0x7e00, 0x7e00);
  });

  test("bf16 special values", () => {
    assert.equal(bf16ToF32(0x3f80), 1);
    assert.equal(bf16ToF32(0x0001), 2 ** -133); // smallest subnormal
    assert.equal(bf16ToF32(0x0080), 2 ** -126);
    assert.equal(bf16ToF32(0x7f7f), 3.3895313892515355e38); // max
    assert.equal(bf16ToF32(0x7f80), Infinity);
    assert.equal(bf16ToF32(0xff80), -Infinity);
    assert.ok(Object.is(bf16ToF32(0x8000), -0));
    assert.ok(Number.isNaN(bf16ToF32(0x7fc0)) && Number.isNaN(bf16ToF32(0xff81)));
    assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie to even: down
    assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82); // tie to even: up
    assert.equal(f32ToBf16(3.4028234663852886e38), 0x7f80); // max float32 rounds to Inf
    assert.equal(f32ToBf16(-0), 0x8000);
    assert.equal(f32ToBf16(NaN) & 0x7fc0, 0x7fc0);
  });

  test("signalling NaNs with only low payload bits stay NaN (never become Inf)", () => {
    const nans = new Float32Array(new Uint32Array([0x7f800001, 0xff800100, 0x7fbfffff, 0x7f801fff]).buffer);
    for (const h of f32ArrayToF16(nans)) assert.ok(Number.isNaN(f16ToF32(h)), `f16 0x${h.toString(16)}`);
    for (const b of f32ArrayToBf16(nans)) assert.ok(Number.isNaN(bf16ToF32(b)), `bf16 0x${b.toString(16)}`);
    assert.equal(f32ArrayToF16(nans)[1]! & 0x8000, 0x8000); // sign kept
  });

  test("every f16 and bf16 pattern: bulk == scalar, and narrowing the widened value gives it back", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const w16 = f16ArrayToF32(all);
    const wbf = bf16ArrayToF32(all);
    const back16 = f32ArrayToF16(w16);
    const backBf = f32ArrayToBf16(wbf);
    for (let h = 0; h < 65536; h++) {
      const a = f16ToF32(h);
      const b = bf16ToF32(h);
      assert.ok(Object.is(a, w16[h]) || (Number.isNaN(a) && Number.isNaN(w16[h]!)));
      assert.ok(Object.is(b, wbf[h]) || (Number.isNaN(b) && Number.isNaN(wbf[h]!)));
      // NaNs keep their payload through the bulk path when already quiet.
      if (!Number.isNaN(a) || (h & 0x200) !== 0) assert.equal(back16[h], h, `f16 0x${h.toString(16)}`);
      if (!Number.isNaN(b) || (h & 0x40) !== 0) assert.equal(backBf[h], h, `bf16 0x${h.toString(16)}`);
    }
  });
});

describe("write -> read round trip", () => {
  test("odd shapes, scalar, empty tensors, integer-like names, metadata; header order and padding", () => {
    const p = path.join(tmp, "roundtrip.safetensors");
    const tensors = [
      { name: "z.last.first", shape: [3, 1, 7], data: randomArray(21, 1) },
      { name: "scalar", shape: [], data: new Float32Array([-3.25]) },
      { name: "10", shape: [0, 5], data: new Float32Array(0) },
      { name: "2", shape: [17, 33], data: randomArray(17 * 33, 2, 100) },
      { name: "ünïcödé ✓", shape: [1], data: new Float32Array([Infinity]) },
      { name: "empty0", shape: [0], data: new Float32Array(0) },
    ];
    writeSafetensors(p, tensors, { format: "pt", "llama-ts": "1" });
    assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.includes(".tmp-")), []);
    const bytes = fs.readFileSync(p);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal(n % 8, 0);
    const headerText = bytes.subarray(8, 8 + n).toString("utf8");
    assert.match(headerText, /^\{.*\} *$/);
    // Keys in the order given (JSON objects would put "2" and "10" first).
    const order = ["__metadata__", ...tensors.map((t) => t.name)].map((k) => headerText.indexOf(JSON.stringify(k) + ":"));
    assert.deepEqual(order, [...order].sort((a, b) => a - b));

    const f = openSafetensors(p);
    try {
      assert.deepEqual(f.metadata, { format: "pt", "llama-ts": "1" });
      assert.equal(f.fileSize, bytes.length);
      // Contiguous, in the order given (the empty ones are zero-length at their place).
      let at = f.dataStart;
      for (const t of tensors) {
        const e = f.tensors.get(t.name)!;
        assert.equal(e.dtype, "F32");
        assert.deepEqual(e.shape, t.shape);
        assert.equal(e.byteOffset, at);
        assert.equal(e.byteLength, t.data.length * 4);
        at += e.byteLength;
        assert.deepEqual(bitsOf(readTensorF32(f, t.name)), bitsOf(t.data), t.name);
      }
      assert.equal(at, f.fileSize);
    } finally {
      f.close();
    }
  });

  test("byte layout matches the format's reference serialisation (compact JSON, space padding)", () => {
    const p = path.join(tmp, "layout.safetensors");
    writeSafetensors(p, [{ name: "attn0", shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) }]);
    const bytes = fs.readFileSync(p);
    const json = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    assert.equal(json.length, 65);
    const want = Buffer.alloc(8 + 72 + 24);
    want.writeBigUInt64LE(72n);
    want.write(json.padEnd(72, " "), 8, "utf8");
    Buffer.from(new Float32Array([0, 1, 2, 3, 4, 5]).buffer).copy(want, 80);
    assert.deepEqual(bytes, want);
  });

  test("overwrites an existing file; no metadata means no __metadata__ key", () => {
    const p = path.join(tmp, "overwrite.safetensors");
    writeSafetensors(p, [{ name: "a", shape: [2], data: new Float32Array([1, 2]) }], { x: "y" });
    writeSafetensors(p, [{ name: "b", shape: [1, 1], data: new Float32Array([5]) }]);
    const f = openSafetensors(p);
    assert.deepEqual([...f.tensors.keys()], ["b"]);
    assert.deepEqual(f.metadata, {});
    assert.ok(!fs.readFileSync(p).includes("__metadata__"));
    f.close();
    writeSafetensors(p, []);
    const g = openSafetensors(p);
    assert.equal(g.tensors.size, 0);
    g.close();
  });

  test("F16, BF16 and F64 written raw read back through chunked conversion", () => {
    const p = path.join(tmp, "halves.safetensors");
    const x = randomArray(37, 3, 10);
    const h = f32ArrayToF16(x);
    const b = f32ArrayToBf16(x);
    const d = Float64Array.from(x, (v) => v + 1e-12);
    writeSafetensorsRaw(p, [
      { name: "h", dtype: "F16", shape: [37], data: h },
      { name: "b", dtype: "BF16", shape: [37, 1], data: b },
      { name: "d", dtype: "F64", shape: [1, 37], data: d },
      { name: "i", dtype: "I32", shape: [2], data: new Int32Array([1, 2]) },
    ]);
    for (const chunk of [8, 16 << 20]) {
      __testing.setConvertChunkBytes(chunk);
      try {
        const f = openSafetensors(p);
        assert.deepEqual(readTensorF32(f, "h"), f16ArrayToF32(h));
        assert.deepEqual(readTensorF32(f, "b"), bf16ArrayToF32(b));
        assert.deepEqual(readTensorF32(f, "d"), Float32Array.from(d));
        f.close();
      } finally {
        __testing.setConvertChunkBytes(16 << 20);
      }
    }
  });

  test("writer refuses mismatched data", () => {
    const p = path.join(tmp, "bad-write.safetensors");
    assert.throws(() => writeSafetensors(p, [{ name: "a", shape: [2, 3], data: new Float32Array(5) }]), /needs 24 bytes, got 20/);
    assert.throws(() => writeSafetensors(p, [{ name: "a", shape: [1], data: new Float32Array(1) }, { name: "a", shape: [1], data: new Float32Array(1) }]), /twice/);
    assert.throws(() => writeSafetensors(p, [{ name: "a", shape: [-1], data: new Float32Array(0) }]), /bad shape/);
    assert.ok(!fs.existsSync(p));
    throwsUser(() => writeSafetensors(path.join(tmp, "no-such-dir", "x.safetensors"), []), "no-such-dir", /cannot write .*: no such file/);
  });
});

describe("bad input: one UserError naming the file and the problem", () => {
  const f32 = (shape: number[], offsets: [number, number]): object => ({ dtype: "F32", shape, data_offsets: offsets });

  test("too short, absurd or oversized header lengths, other formats", () => {
    const empty = path.join(tmp, "empty.safetensors");
    fs.writeFileSync(empty, "");
    throwsUser(() => openSafetensors(empty), empty, /only 0 bytes, shorter than the 8-byte header length/);
    const short = path.join(tmp, "short.safetensors");
    fs.writeFileSync(short, Buffer.from([1, 2, 3, 4, 5]));
    throwsUser(() => openSafetensors(short), short, /only 5 bytes/);
    let p = rawFile("{}", 0, 1n << 40n);
    throwsUser(() => openSafetensors(p), p, /header length 1099511627776 bytes is absurd/);
    p = rawFile("{}", 0, 1000n);
    throwsUser(() => openSafetensors(p), p, /header length 1000 bytes is larger than the file \(10 bytes/);
    const zip = path.join(tmp, "pytorch_model.bin");
    fs.writeFileSync(zip, Buffer.concat([Buffer.from("PK\x03\x04"), Buffer.alloc(60, 7)]));
    throwsUser(() => openSafetensors(zip), zip, /absurd.*zip archive/);
    const missing = path.join(tmp, "nope.safetensors");
    throwsUser(() => openSafetensors(missing), missing, /cannot read safetensors file .*: no such file/);
    throwsUser(() => openSafetensors(tmp), tmp, /directory/);
  });

  test("header that is not UTF-8, not JSON, or not an object", () => {
    const bad = path.join(tmp, "utf8.safetensors");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(4n);
    fs.writeFileSync(bad, Buffer.concat([len, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]));
    throwsUser(() => openSafetensors(bad), bad, /not valid UTF-8/);
    let p = rawFile('{"a": {"dtype": "F32",');
    throwsUser(() => openSafetensors(p), p, /header is not valid JSON/);
    p = rawFile("[1, 2]");
    throwsUser(() => openSafetensors(p), p, /JSON but not an object \(it is an array\)/);
    p = rawFile('"text"');
    throwsUser(() => openSafetensors(p), p, /not an object \(it is string\)/);
    p = rawFile('{"a": 5}');
    throwsUser(() => openSafetensors(p), p, /entry for tensor "a" is not an object/);
    p = rawFile('{"a": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}, "a": {"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8);
    throwsUser(() => openSafetensors(p), p, /names "a" more than once/);
    p = rawFile({ __metadata__: { format: 1 } });
    throwsUser(() => openSafetensors(p), p, /"__metadata__" entry "format" is not a string/);
    p = rawFile({ __metadata__: ["x"] });
    throwsUser(() => openSafetensors(p), p, /"__metadata__" is not an object/);
  });

  test("entries with missing fields, unknown dtypes, bad shapes or offsets", () => {
    const cases: Array<[object, RegExp, number?]> = [
      [{ w: { shape: [1], data_offsets: [0, 4] } }, /tensor "w" is missing "dtype"/],
      [{ w: { dtype: "F32", shape: [1] } }, /tensor "w" is missing "data_offsets"/],
      [{ w: { dtype: "F32" } }, /missing "shape", "data_offsets"/],
      [{ w: { dtype: "F17", shape: [1], data_offsets: [0, 4] } }, /tensor "w" has unknown dtype "F17"/],
      [{ w: { dtype: 32, shape: [1], data_offsets: [0, 4] } }, /dtype that is not a string/],
      [{ w: f32([-1, 2], [0, 8]) }, /tensor "w" has shape \[-1,2\]: dimensions must be non-negative integers/],
      [{ w: f32([1.5], [0, 4]) }, /shape \[1.5\]: dimensions must be non-negative/],
      [{ w: { dtype: "F32", shape: ["2"], data_offsets: [0, 8] } }, /dimensions must be non-negative/],
      [{ w: { dtype: "F32", shape: 2, data_offsets: [0, 8] } }, /shape that is not an array/],
      [{ w: { dtype: "F32", shape: [1], data_offsets: [0] } }, /data_offsets \[0\]: expected \[begin, end\]/],
      [{ w: { dtype: "F32", shape: [1], data_offsets: [0, "4"] } }, /expected \[begin, end\]/],
      [{ w: { dtype: "F32", shape: [1], data_offsets: [-4, 0] } }, /expected \[begin, end\], two non-negative integers/],
      [{ w: f32([1], [4, 0]) }, /tensor "w" has data_offsets \[4, 0\]: end is before begin/, 4],
      [{ w: f32([2, 3], [0, 20]) }, /tensor "w" \(F32, shape \[2, 3\]\) should take 24 bytes, but its data_offsets \[0, 20\] span 20/, 20],
      [{ w: { dtype: "F4", shape: [3], data_offsets: [0, 2] } }, /3 elements of F4 \(4 bits each\) do not fill a whole number of bytes/, 2],
      [{ w: f32([2 ** 30, 2 ** 30, 2 ** 30], [0, 4]) }, /too many elements/],
    ];
    for (const [header, re, data] of cases) {
      const p = rawFile(header, data ?? 0);
      throwsUser(() => openSafetensors(p), p, re);
    }
  });

  test("truncated files, overlaps, holes and trailing bytes", () => {
    let p = rawFile({ a: f32([2], [0, 8]), b: f32([3], [8, 20]) }, 12);
    throwsUser(() => openSafetensors(p), p, /file is truncated: tensor "b" ends at byte 20 of the data buffer, but only 12 bytes/);
    p = rawFile({ a: f32([2], [0, 8]), b: f32([2], [4, 12]) }, 12);
    throwsUser(() => openSafetensors(p), p, /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/);
    p = rawFile({ a: f32([2], [0, 8]), e: f32([0], [4, 4]) }, 8);
    throwsUser(() => openSafetensors(p), p, /"a" \[0, 8\] and "e" \[4, 4\] overlap/);
    p = rawFile({ a: f32([1], [0, 4]), b: f32([1], [8, 12]) }, 12);
    throwsUser(() => openSafetensors(p), p, /hole in the data buffer: bytes 4\.\.8 after tensor "a" belong to no tensor \(next is "b"\)/);
    p = rawFile({ b: f32([1], [4, 8]) }, 8);
    throwsUser(() => openSafetensors(p), p, /hole in the data buffer: bytes 0\.\.4 at the start/);
    p = rawFile({ a: f32([1], [0, 4]) }, 10);
    throwsUser(() => openSafetensors(p), p, /6 bytes at the end of the data buffer after the last tensor "a" belong to no tensor/);
    p = rawFile({}, 3);
    throwsUser(() => openSafetensors(p), p, /3 bytes .* \(the header lists no tensors\)/);
    // A correct file cut short by a copy that stopped early.
    const good = path.join(tmp, "good.safetensors");
    writeSafetensors(good, [{ name: "x", shape: [4, 4], data: randomArray(16, 5) }]);
    const cut = path.join(tmp, "cut.safetensors");
    const bytes = fs.readFileSync(good);
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 3));
    throwsUser(() => openSafetensors(cut), cut, /truncated.*"x"/);
  });

  test("tensors that are missing or not float, and non-finite values", () => {
    const p = path.join(tmp, "names.safetensors");
    writeSafetensorsRaw(p, [
      { name: "model.layers.0.self_attn.q_proj.weight", dtype: "F32", shape: [1], data: new Float32Array([1]) },
      { name: "model.layers.0.self_attn.k_proj.weight", dtype: "F32", shape: [1], data: new Float32Array([NaN]) },
      { name: "mask", dtype: "BOOL", shape: [3], data: new Uint8Array([1, 0, 1]) },
    ]);
    const f = openSafetensors(p);
    try {
      throwsUser(() => readTensorF32(f, "model.layers.0.self_attn.v_proj.weight"), p, /no tensor named "model\.layers\.0\.self_attn\.v_proj\.weight"; the file has .*"model\.layers\.0\.self_attn\.q_proj\.weight"/);
      throwsUser(() => readTensorF32(f, "mask"), p, /"mask" has dtype BOOL, which cannot be read as float32 \(readable: F32, F16, BF16/);
      assert.deepEqual([...readTensorBytes(f, "mask")], [1, 0, 1]);
      const k = readTensorF32(f, "model.layers.0.self_attn.k_proj.weight");
      throwsUser(() => assertFinite("k", k, f), p, /tensor "k" has 1 non-finite value \(first at index 0: NaN\)/);
      throwsUser(() => assertFinite("w", new Float32Array([0, 1, -Infinity, Infinity]), "some/file"), "some/file", /2 non-finite values \(first at index 2: -Infinity\)/);
      assertFinite("q", readTensorF32(f, "model.layers.0.self_attn.q_proj.weight"), f);
    } finally {
      f.close();
    }
    assert.throws(() => readTensorF32(f, "mask"), /closed/);
  });

  test("folders: no weights, ambiguous weights, bad index files, missing shards and tensors", () => {
    const mk = (name: string): string => {
      const d = path.join(tmp, name);
      fs.mkdirSync(d);
      return d;
    };
    const w = (p: string, name = "w"): void => writeSafetensors(p, [{ name, shape: [1], data: new Float32Array([1]) }]);

    const none = mk("none");
    throwsUser(() => openSafetensorsSet(none), none, /no model weights: expected model\.safetensors/);
    throwsUser(() => openSafetensorsSet(path.join(tmp, "absent")), "absent", /no such file/);

    const two = mk("two");
    w(path.join(two, "a.safetensors"));
    w(path.join(two, "b.safetensors"));
    throwsUser(() => openSafetensorsSet(two), two, /2 \*\.safetensors files \(a\.safetensors, b\.safetensors\)/);

    const lone = mk("lone");
    w(path.join(lone, "weights.safetensors"), "only");
    const loneSet = openSafetensorsSet(lone);
    assert.deepEqual([...loneSet.tensors.keys()], ["only"]);
    throwsUser(() => loneSet.readF32("other"), lone, /no tensor named "other"; weights\.safetensors has "only"/);
    loneSet.close();

    const idx = (dir: string, content: string): string => {
      const p = path.join(dir, "model.safetensors.index.json");
      fs.writeFileSync(p, content);
      return p;
    };
    const broken = mk("broken-index");
    let ip = idx(broken, "{ not json");
    throwsUser(() => openSafetensorsSet(broken), ip, /not valid JSON/);
    ip = idx(broken, JSON.stringify({ metadata: {} }));
    throwsUser(() => openSafetensorsSet(broken), ip, /no "weight_map" object/);
    ip = idx(broken, JSON.stringify({ weight_map: { a: 3 } }));
    throwsUser(() => openSafetensorsSet(broken), ip, /weight_map entry "a" is not a shard file name/);
    ip = idx(broken, JSON.stringify({ weight_map: { a: "../../etc/x.safetensors" } }));
    throwsUser(() => openSafetensorsSet(broken), ip, /points outside the model folder/);

    const sh = mk("shards");
    w(path.join(sh, "s1.safetensors"), "a");
    w(path.join(sh, "s2.safetensors"), "b");
    ip = idx(sh, JSON.stringify({ weight_map: { a: "s1.safetensors", b: "s2.safetensors", c: "s3.safetensors", d: "s3.safetensors" } }));
    throwsUser(() => openSafetensorsSet(sh), ip, /weight_map puts "c" and 1 other tensor in shard "s3\.safetensors", which does not exist/);
    ip = idx(sh, JSON.stringify({ weight_map: { a: "s1.safetensors", b: "s1.safetensors" } }));
    const before = openFds();
    throwsUser(() => openSafetensorsSet(sh), ip, /weight_map puts "b" in shard "s1\.safetensors", but that shard has no such tensor/);
    // A bad shard is reported under its own name, and nothing stays open.
    fs.writeFileSync(path.join(sh, "s2.safetensors"), Buffer.alloc(4));
    ip = idx(sh, JSON.stringify({ weight_map: { a: "s1.safetensors", b: "s2.safetensors" } }));
    throwsUser(() => openSafetensorsSet(sh), path.join(sh, "s2.safetensors"), /only 4 bytes/);
    if (before !== undefined) assert.equal(openFds(), before);
    const good = openSafetensorsSet(path.join(fixtures, "sharded"));
    throwsUser(() => good.readF32("lm_head"), path.join(fixtures, "sharded"), /no tensor named "lm_head"; the model \(2 shards\) has "lm_head\.weight"/);
    good.close();
  });
});

test("reading one tensor does not depend on the rest of the data (offset reads)", () => {
  const p = path.join(tmp, "offsets.safetensors");
  const a = randomArray(1000, 7);
  const b = randomArray(3, 8);
  writeSafetensors(p, [{ name: "a", shape: [1000], data: a }, { name: "b", shape: [3], data: b }]);
  const f: SafetensorsFile = openSafetensors(p);
  // Scribble over a's bytes on disk: b must be unaffected, a must show the change.
  const fd = fs.openSync(p, "r+");
  fs.writeSync(fd, new Uint8Array(4000), 0, 4000, f.tensors.get("a")!.byteOffset);
  fs.closeSync(fd);
  assert.deepEqual(readTensorF32(f, "b"), b);
  assert.deepEqual(readTensorF32(f, "a"), new Float32Array(1000));
  f.close();
});
