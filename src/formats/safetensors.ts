/**
 * The safetensors format on disk: files by path, model folders (single file or shards), and the
 * atomic writer. The reader itself (over any byte source) is safetensors-read.ts, re-exported here.
 *
 * Layout of a file (all integers little-endian):
 *   8 bytes   N, the header length (u64)
 *   N bytes   the header: UTF-8 JSON object, possibly padded at the end with spaces.
 *             Each key is a tensor name mapping to {"dtype", "shape", "data_offsets": [begin, end]};
 *             the optional key "__metadata__" maps to an object of string -> string.
 *   the rest  the data buffer; data_offsets are relative to its start. Tensors are row-major,
 *             little-endian, and together they must cover the buffer exactly (no holes, no
 *             overlaps, nothing after the last tensor).
 *
 * Only regular files are opened, and the files of a model folder (single file, shards) must
 * resolve inside the folder once symlinks are followed (the Hugging Face cache's
 * snapshots -> blobs links excepted; see util/files.ts resolveInside).
 *
 * Opening a file reads and checks the header only; tensors are read one at a time at their
 * offsets (models can be many gigabytes). Every problem with the input is reported as one
 * UserError that names the file and says what is wrong.
 */
import fs from "node:fs";
import path from "node:path";
import { fsProblem, fileSource, openRegularFile, readRegularText, resolveInside, writeFileAtomicWith } from "../util/files.js";
import {
  DTYPE_BITS, HOST_LITTLE_ENDIAN, INDEX_FILE_NAME, MAX_HEADER_BYTES, MAX_INDEX_BYTES, SINGLE_FILE_NAME, elementCount, fail,
  formatShape, isSafetensorsDtype, missingShardProblem, parseSafetensorsIndex, quote, safetensorsFromSource, setFromShards, setOfOne, swapBytes,
  type SafetensorsDtype, type SafetensorsFile, type SafetensorsSet,
} from "./safetensors-read.js";

export {
  DTYPE_BITS, FLOAT32_READABLE_DTYPES, INDEX_FILE_NAME, MAX_HEADER_BYTES, SINGLE_FILE_NAME, __testing, assertFinite,
  isSafetensorsDtype, readTensorBytes, readTensorF32, safetensorsFromSource,
  type SafetensorsDtype, type SafetensorsFile, type SafetensorsSet, type TensorEntry,
} from "./safetensors-read.js";

/** Largest single read or write call (fs calls take at most 2 GiB - 1). */
const IO_CHUNK_BYTES = 1 << 30;

/** Reads exactly `length` bytes at `position` into `dst` (loops over short reads). */
export function readExactly(fd: number, file: string, dst: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < dst.length) {
    const want = Math.min(dst.length - done, IO_CHUNK_BYTES);
    let n: number;
    try {
      n = fs.readSync(fd, dst, done, want, position + done);
    } catch (e) {
      fail(file, `cannot read ${what}: ${fsProblem(e)}`);
    }
    if (n === 0) {
      fail(file, `unexpected end of file while reading ${what} (wanted bytes ${position}..${position + dst.length}); was the file truncated after it was opened?`);
    }
    done += n;
  }
}

/** Opens a file for reading; a failure is a UserError naming the file and the problem. */
export function openForReading(file: string): number {
  return openRegularFile(file).fd;
}

/** Opens a .safetensors file, reading and validating its header (not the tensor data). */
export function openSafetensors(file: string): SafetensorsFile {
  const src = fileSource(file, "safetensors file");
  try {
    return safetensorsFromSource(src);
  } catch (e) {
    src.close();
    throw e;
  }
}

/**
 * Opens the weights of a Hugging Face model folder: `model.safetensors`; else the shards listed
 * by `model.safetensors.index.json` (its weight_map maps each tensor name to a shard file);
 * else the folder's only `*.safetensors` file. A path to a .safetensors file opens just it.
 */
export function openSafetensorsSet(dir: string): SafetensorsSet {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    fail(dir, `cannot open model folder: ${fsProblem(e)}`);
  }
  if (st.isFile()) return setOfOne(dir, openSafetensors(dir));
  if (!st.isDirectory()) fail(dir, "is neither a folder nor a file");

  const single = path.join(dir, SINGLE_FILE_NAME);
  if (fs.existsSync(single)) return setOfOne(dir, openSafetensors(resolveInside(dir, SINGLE_FILE_NAME)));
  const indexPath = path.join(dir, INDEX_FILE_NAME);
  if (fs.existsSync(indexPath)) return openIndexed(dir, indexPath);

  let candidates: string[];
  try {
    candidates = fs.readdirSync(dir).filter((n) => n.endsWith(".safetensors")).sort();
  } catch (e) {
    fail(dir, `cannot list model folder: ${fsProblem(e)}`);
  }
  if (candidates.length === 1) return setOfOne(dir, openSafetensors(resolveInside(dir, candidates[0]!)));
  if (candidates.length === 0) {
    fail(dir, `no model weights: expected ${SINGLE_FILE_NAME}, ${INDEX_FILE_NAME} or a single *.safetensors file`);
  }
  fail(dir, `no ${SINGLE_FILE_NAME} or ${INDEX_FILE_NAME}, and ${candidates.length} *.safetensors files (${candidates.join(", ")}): cannot tell which holds the model`);
}

function openIndexed(dir: string, indexPath: string): SafetensorsSet {
  const text = readRegularText(indexPath, { maxBytes: MAX_INDEX_BYTES, what: "safetensors index" });
  const byShard = parseSafetensorsIndex(text, indexPath);
  for (const [shard, names] of byShard) {
    const resolved = path.resolve(dir, shard);
    const rel = path.relative(path.resolve(dir), resolved);
    if (rel.startsWith("..") || path.isAbsolute(rel) || rel === "") {
      fail(indexPath, `weight_map entry ${quote(names[0]!)} points outside the model folder: ${quote(shard)}`);
    }
  }
  for (const [shard, names] of byShard) {
    if (!fs.existsSync(path.join(dir, shard))) fail(indexPath, missingShardProblem(shard, names, dir));
  }
  return setFromShards(dir, byShard, (shard) => openSafetensors(resolveInside(dir, shard, indexPath)), indexPath);
}

// ---------------------------------------------------------------------------------------------
// Writing.

/** One tensor for writeSafetensorsRaw: `data` holds the elements in host byte order. */
export interface RawTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: ArrayBufferView;
}

function asBytes(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/**
 * Writes tensors of any dtype in the order given, contiguous, atomically (PATH.tmp-<pid>,
 * fsync, rename). The header is padded with spaces to a multiple of 8 bytes.
 */
export function writeSafetensorsRaw(file: string, tensors: readonly RawTensor[], metadata?: Record<string, string>): void {
  const seen = new Set<string>();
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new Error(`${file}: metadata ${quote(k)} must be a string`);
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const t of tensors) {
    if (t.name === "__metadata__") throw new Error(`${file}: a tensor cannot be named "__metadata__"`);
    if (seen.has(t.name)) throw new Error(`${file}: tensor ${quote(t.name)} given twice`);
    seen.add(t.name);
    if (!isSafetensorsDtype(t.dtype)) throw new Error(`${file}: tensor ${quote(t.name)} has unknown dtype ${t.dtype}`);
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new Error(`${file}: tensor ${quote(t.name)} has bad shape ${formatShape(t.shape)}`);
    }
    const bits = elementCount(t.shape) * DTYPE_BITS[t.dtype];
    if (bits % 8 !== 0 || t.data.byteLength !== bits / 8) {
      throw new Error(`${file}: tensor ${quote(t.name)} (${t.dtype}, shape ${formatShape(t.shape)}) needs ${bits / 8} bytes, got ${t.data.byteLength}`);
    }
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  let header = Buffer.from(`{${parts.join(",")}}`, "utf8");
  const pad = (8 - (header.length % 8)) % 8;
  if (pad > 0) header = Buffer.concat([header, Buffer.alloc(pad, 0x20)]);
  if (header.length > MAX_HEADER_BYTES) throw new Error(`${file}: header would be ${header.length} bytes, over the ${MAX_HEADER_BYTES} limit`);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));

  writeFileAtomicWith(file, (write) => {
    write(len);
    write(header);
    for (const t of tensors) {
      const width = DTYPE_BITS[t.dtype] / 8;
      if (HOST_LITTLE_ENDIAN || width <= 1 || !Number.isInteger(width)) {
        write(asBytes(t.data));
      } else {
        const copy = Uint8Array.from(asBytes(t.data));
        swapBytes(copy, t.dtype === "C64" ? 4 : width);
        write(copy);
      }
    }
  });
}

/** Writes float32 tensors (dtype F32) in the order given; see writeSafetensorsRaw. */
export function writeSafetensors(
  file: string,
  tensors: Array<{ name: string; shape: number[]; data: Float32Array }>,
  metadata?: Record<string, string>,
): void {
  writeSafetensorsRaw(
    file,
    tensors.map((t) => ({ name: t.name, dtype: "F32" as const, shape: t.shape, data: t.data })),
    metadata,
  );
}
