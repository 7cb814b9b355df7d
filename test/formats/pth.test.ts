/**
 * The restricted .pth reader against torch.save files (tools/gen_pth_fixtures.py): values,
 * dtypes, strides, storage offsets and shared storages as torch wrote them; ZIP64 containers
 * (one with its offsets past 4 GiB, in a sparse file);
 * refusal of malicious pickles and damaged archives with a UserError, for every truncation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { closePth, isContiguous, openPth, readPthTensorF32, type PthFile } from "../../src/formats/pth.js";
import { UserError } from "../../src/util/errors.js";
import { fixturesDir } from "../helpers.js";

const dir = path.join(fixturesDir, "meta");
const expected = JSON.parse(fs.readFileSync(path.join(dir, "tensors.expected.json"), "utf8")) as Record<
  string,
  { shape: number[]; dtype: string; contiguous: boolean; values: number[] }
>;
const DTYPES: Record<string, string> = { float16: "f16", bfloat16: "bf16", float32: "f32", float64: "f64", int64: "i64" };

function withPth<T>(file: string, f: (p: PthFile) => T): T {
  const p = openPth(file);
  try {
    return f(p);
  } finally {
    closePth(p);
  }
}

for (const name of ["tensors.pth", "zip64.pth"]) {
  test(`${name}: every tensor as torch.save wrote it (dtype, shape, strides, offsets, values)`, () => {
    withPth(path.join(dir, name), (p) => {
      assert.deepEqual([...p.tensors.keys()], Object.keys(expected));
      for (const [k, e] of Object.entries(expected)) {
        const t = p.tensors.get(k)!;
        assert.equal(t.dtype, DTYPES[e.dtype], k);
        assert.deepEqual(t.shape, e.shape, k);
        assert.equal(isContiguous(t), e.contiguous, k);
        if (t.dtype === "i64") {
          assert.throws(() => readPthTensorF32(p, k), (err: unknown) => err instanceof UserError && /type i64/.test(err.message));
          continue;
        }
        // Widening f16/bf16/f32 is exact; f64 rounds to float32 once.
        const want = t.dtype === "f64" ? Array.from(Float32Array.from(e.values)) : e.values;
        assert.deepEqual(Array.from(readPthTensorF32(p, k)), want, k);
      }
      // Views keep their storage and offset: the slice starts at row 2, column 1 of a 7-wide base.
      assert.equal(p.tensors.get("slice")!.storageOffset, 15);
      assert.equal(p.tensors.get("shared_a")!.storage.key, p.tensors.get("shared_b")!.storage.key);
    });
  });
}

test("ZIP64 offsets past 4 GiB: the archive written at 5 GiB of a sparse file", () => {
  const tail = fs.readFileSync(path.join(dir, "zip64-at-5GiB.tail"));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-pth-"));
  const file = path.join(tmp, "big.pth");
  try {
    const fd = fs.openSync(file, "w");
    fs.writeSync(fd, tail, 0, tail.length, 5 * 2 ** 30); // tools/gen_pth_fixtures.py ZIP64_SPARSE_BASE
    fs.closeSync(fd);
    withPth(file, (p) => {
      assert.ok(p.tensors.get("slice")!.storage.entry.dataOffset > 2 ** 32);
      for (const k of ["f16", "transposed", "slice", "shared_b"]) assert.deepEqual(Array.from(readPthTensorF32(p, k)), expected[k]!.values, k);
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

const EVIL: Array<[string, RegExp]> = [
  ["os-system", /refused pickle global posix\.system/],
  ["builtins-eval", /refused pickle global __builtin__\.eval/],
  ["opcode-inst", /unsupported pickle opcode 0x69/],
  ["opcode-unknown", /unsupported pickle opcode 0xff/],
  ["build-on-list", /refused pickle BUILD on a non-dict object/],
  ["reduce-storage", /refused pickle REDUCE of torch\.FloatStorage/],
  ["truncated-zip", /no zip end-of-central-directory record/],
  ["storage-past-end", /storage 0 claims 1000 FloatStorage elements \(4000 bytes\) but its data entry holds 16 bytes/],
  ["view-past-storage", /reaches element 99, past the end of storage 0 \(4 elements\)/],
];

test("malicious and damaged checkpoints are refused with a UserError naming the problem", () => {
  for (const [name, re] of EVIL) {
    const file = path.join(dir, "evil", name, "consolidated.00.pth");
    assert.throws(() => openPth(file), (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes("\n"), name);
  }
});

test("truncations and byte flips of a checkpoint give a UserError or a checked read, never a crash", () => {
  const bytes = fs.readFileSync(path.join(dir, "tensors.pth"));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-pth-"));
  const file = path.join(tmp, "x.pth");
  try {
    const tryRead = (): void => {
      try {
        withPth(file, (p) => {
          for (const k of p.tensors.keys()) {
            try {
              readPthTensorF32(p, k);
            } catch (e) {
              if (!(e instanceof UserError)) throw e;
            }
          }
        });
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
      }
    };
    for (let n = 0; n < bytes.length; n += 11) {
      fs.writeFileSync(file, bytes.subarray(0, n));
      assert.throws(() => openPth(file), UserError, `cut at ${n}`);
    }
    // Flip bytes inside data.pkl and the zip headers (the pickle starts after the first local header).
    for (let at = 0; at < bytes.length; at += 13) {
      const b = Buffer.from(bytes);
      b[at] = b[at]! ^ 0x5a;
      fs.writeFileSync(file, b);
      tryRead();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
