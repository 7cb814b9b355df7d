/**
 * The safetensors format: the careful reader (bytes from any source).
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
 * This module is the reader over any ByteSource (a file on disk, or bytes in a browser):
 * parsing a source reads and checks the header only; tensors are read one at a time at their
 * offsets (models can be many gigabytes). Every problem with the input is reported as one
 * UserError that names the file and says what is wrong. Files by path, folders and writing
 * are safetensors.ts (Node).
 */
import { quoteForTerminal, UserError } from "../util/errors.js";
import type { ByteSource } from "../util/byte-source.js";
import { bf16ArrayToF32, f16ArrayToF32 } from "./half.js";

/** The dtype names of the safetensors specification. */
export type SafetensorsDtype =
  | "BOOL"
  | "U8"
  | "I8"
  | "F8_E5M2"
  | "F8_E4M3"
  | "F8_E8M0"
  | "F4"
  | "F6_E2M3"
  | "F6_E3M2"
  | "I16"
  | "U16"
  | "F16"
  | "BF16"
  | "I32"
  | "U32"
  | "F32"
  | "C64"
  | "F64"
  | "I64"
  | "U64";

/** Bits per element of each dtype (F4 and F6 pack several elements per byte). */
export const DTYPE_BITS: Readonly<Record<SafetensorsDtype, number>> = Object.freeze({
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
});

/** The dtypes that readTensorF32 converts to float32. */
export const FLOAT32_READABLE_DTYPES: readonly SafetensorsDtype[] = ["F32", "F16", "BF16", "F64"];

export function isSafetensorsDtype(s: string): s is SafetensorsDtype {
  return Object.prototype.hasOwnProperty.call(DTYPE_BITS, s);
}

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute position of the tensor's first byte in the file. */
  byteOffset: number;
  byteLength: number;
}

export interface SafetensorsFile {
  path: string;
  /** The header's "__metadata__" (empty when absent). */
  metadata: Record<string, string>;
  /** Every tensor, in data-buffer order. */
  tensors: Map<string, TensorEntry>;
  /** Size of the file in bytes. */
  readonly fileSize: number;
  /** Absolute offset of the data buffer (8 + header length). */
  readonly dataStart: number;
  close(): void;
}

export interface SafetensorsSet {
  /** The folder (or the single file) the set was opened from. */
  readonly path: string;
  files: SafetensorsFile[];
  tensors: Map<string, { file: SafetensorsFile; entry: TensorEntry }>;
  /** Reads a tensor as float32 (see readTensorF32); a missing name is a UserError. */
  readF32(name: string): Float32Array<ArrayBuffer>;
  close(): void;
}

/** Headers above this size are refused (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** model.safetensors.index.json larger than this is refused (a 405B model's index is ~100 KB). */
export const MAX_INDEX_BYTES = 64 << 20;

/** Half-precision tensors are converted through a scratch buffer of this many bytes. */
let convertChunkBytes = 16 << 20;

/** Test hooks. */
export const __testing = {
  setConvertChunkBytes(n: number): void {
    if (!Number.isInteger(n) || n < 2 || n % 8 !== 0) throw new RangeError("chunk must be a positive multiple of 8");
    convertChunkBytes = n;
  },
};

export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function fail(file: string, problem: string): never {
  throw new UserError(`${file}: ${problem}`);
}

/** A name from a file, quoted and escaped for a one-line message. */
export function quote(name: string): string {
  return quoteForTerminal(name);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * The top-level keys of a JSON object text, in order, duplicates included. The text must
 * already be known to be valid JSON (JSON.parse keeps only the last of duplicated keys and
 * reorders integer-like keys, so the header is scanned once more for both).
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++; // past the closing quote
      if (depth === 1) {
        let j = i;
        while (j < n && (text[j] === " " || text[j] === "\t" || text[j] === "\n" || text[j] === "\r")) j++;
        if (text[j] === ":") keys.push(JSON.parse(text.slice(start, i)) as string);
      }
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) depth++;
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
    i++;
  }
  return keys;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A hint for files that are plainly some other format. */
function formatHint(first: Uint8Array): string {
  const ascii = String.fromCharCode(...first.subarray(0, 4));
  if (ascii.startsWith("PK")) return " (it looks like a zip archive, e.g. a PyTorch .bin/.pth checkpoint, not safetensors)";
  if (ascii === "GGUF") return " (it looks like a GGUF file, not safetensors)";
  if (first[0] === 0x80 && first[1] !== undefined && first[1] <= 5) return " (it looks like a Python pickle, not safetensors)";
  if (first.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d)) {
    return " (it looks like a text file, not safetensors)";
  }
  return "";
}

interface RawEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(file: string, name: string, v: unknown): RawEntry {
  const what = `tensor ${quote(name)}`;
  if (!isPlainObject(v)) fail(file, `header entry for ${what} is not an object`);
  const missing = ["dtype", "shape", "data_offsets"].filter((k) => !(k in v));
  if (missing.length > 0) fail(file, `header entry for ${what} is missing ${missing.map((k) => `"${k}"`).join(", ")}`);
  const { dtype, shape, data_offsets: offsets } = v;
  if (typeof dtype !== "string") fail(file, `${what} has a dtype that is not a string: ${JSON.stringify(dtype)}`);
  if (!isSafetensorsDtype(dtype)) {
    fail(file, `${what} has unknown dtype ${quote(dtype)} (known: ${Object.keys(DTYPE_BITS).join(", ")})`);
  }
  if (!Array.isArray(shape)) fail(file, `${what} has a shape that is not an array: ${JSON.stringify(shape)}`);
  for (const d of shape as unknown[]) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      fail(file, `${what} has shape ${JSON.stringify(shape)}: dimensions must be non-negative integers`);
    }
  }
  const dims = shape as number[];
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o: unknown) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)
  ) {
    fail(file, `${what} has data_offsets ${JSON.stringify(offsets)}: expected [begin, end], two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(file, `${what} has data_offsets [${begin}, ${end}]: end is before begin`);
  let count = 1;
  for (const d of dims) {
    count *= d;
    if (!Number.isSafeInteger(count)) fail(file, `${what} has shape ${formatShape(dims)}: too many elements`);
  }
  const bits = DTYPE_BITS[dtype];
  const totalBits = count * bits;
  if (!Number.isSafeInteger(totalBits)) fail(file, `${what} has shape ${formatShape(dims)}: too many elements`);
  if (totalBits % 8 !== 0) {
    fail(file, `${what}: ${count} elements of ${dtype} (${bits} bits each) do not fill a whole number of bytes`);
  }
  const expected = totalBits / 8;
  if (end - begin !== expected) {
    fail(
      file,
      `${what} (${dtype}, shape ${formatShape(dims)}) should take ${expected} bytes, but its data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { name, dtype, shape: [...dims], begin, end };
}

/** Where a parsed file keeps its byte source (not part of the public shape). */
const SRC = Symbol("safetensors.source");

/** Parses a safetensors file's header from any byte source (the tensors are read when asked for). */
export function safetensorsFromSource(src: ByteSource): SafetensorsFile {
  const result = parseHeader(src);
  let open = true;
  return {
    path: src.name,
    metadata: result.metadata,
    tensors: result.tensors,
    fileSize: result.fileSize,
    dataStart: result.dataStart,
    close(): void {
      if (open) {
        open = false;
        src.close();
      }
    },
    [SRC]: () => {
      if (!open) throw new Error(`${src.name}: the safetensors file was closed`);
      return src;
    },
  } as SafetensorsFile;
}

function sourceOf(file: SafetensorsFile): ByteSource {
  const get = (file as unknown as { [SRC]?: () => ByteSource })[SRC];
  if (get === undefined) throw new Error(`${file.path}: not a file returned by openSafetensors`);
  return get();
}

function parseHeader(src: ByteSource): { metadata: Record<string, string>; tensors: Map<string, TensorEntry>; fileSize: number; dataStart: number } {
  const file = src.name;
  const fileSize = src.size;
  if (fileSize < 8) fail(file, `file is only ${fileSize} bytes, shorter than the 8-byte header length of a safetensors file`);
  const lenBytes = src.read(0, 8);
  const headerLen64 = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) {
    fail(file, `header length ${headerLen64} bytes is absurd (more than ${MAX_HEADER_BYTES / 1e6} MB): not a safetensors file, or a corrupt one${formatHint(lenBytes)}`);
  }
  const headerLen = Number(headerLen64);
  if (8 + headerLen > fileSize) {
    fail(file, `header length ${headerLen} bytes is larger than the file (${fileSize} bytes, so at most ${fileSize - 8} for the header); the file is truncated, or not safetensors${formatHint(lenBytes)}`);
  }
  const headerBytes = src.read(8, headerLen);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    fail(file, `header (${headerLen} bytes after the length) is not valid UTF-8${formatHint(lenBytes)}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    fail(file, `header is not valid JSON (${why})`);
  }
  if (!isPlainObject(header)) {
    fail(file, `header is JSON but not an object (it is ${Array.isArray(header) ? "an array" : header === null ? "null" : typeof header})`);
  }
  const keys = topLevelKeys(text);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) fail(file, `header names ${quote(k)} more than once`);
    seen.add(k);
  }

  const metadata: Record<string, string> = {};
  const raw: RawEntry[] = [];
  for (const key of keys) {
    const v = header[key];
    if (key === "__metadata__") {
      if (!isPlainObject(v)) fail(file, `header "__metadata__" is not an object of strings`);
      for (const [mk, mv] of Object.entries(v)) {
        if (typeof mv !== "string") fail(file, `header "__metadata__" entry ${quote(mk)} is not a string: ${JSON.stringify(mv)}`);
        Object.defineProperty(metadata, mk, { value: mv, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    raw.push(parseEntry(file, key, v));
  }

  const dataStart = 8 + headerLen;
  const dataSize = fileSize - dataStart;
  // Truncation first: it is the likeliest fault and explains any coverage problem after it.
  let last: RawEntry | undefined;
  for (const r of raw) if (last === undefined || r.end > last.end) last = r;
  if (last !== undefined && last.end > dataSize) {
    fail(
      file,
      `file is truncated: tensor ${quote(last.name)} ends at byte ${last.end} of the data buffer, but only ${dataSize} bytes of data follow the header (file size ${fileSize}, expected ${dataStart + last.end})`,
    );
  }
  // The tensors must tile the data buffer: sorted by offset, each starts where the last ended.
  const sorted = [...raw].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: RawEntry | undefined;
  for (const r of sorted) {
    if (r.begin > pos) {
      const after = prev === undefined ? "at the start of the data buffer" : `after tensor ${quote(prev.name)}`;
      fail(file, `hole in the data buffer: bytes ${pos}..${r.begin} ${after} belong to no tensor (next is ${quote(r.name)}); the header is inconsistent`);
    }
    if (r.begin < pos && prev !== undefined) {
      fail(file, `tensors ${quote(prev.name)} [${prev.begin}, ${prev.end}] and ${quote(r.name)} [${r.begin}, ${r.end}] overlap in the data buffer`);
    }
    pos = r.end;
    prev = r;
  }
  if (pos < dataSize) {
    const after = prev === undefined ? "(the header lists no tensors)" : `after the last tensor ${quote(prev.name)}`;
    fail(file, `${dataSize - pos} bytes at the end of the data buffer ${after} belong to no tensor; the header is inconsistent`);
  }

  const tensors = new Map<string, TensorEntry>();
  for (const r of sorted) {
    tensors.set(r.name, {
      name: r.name,
      dtype: r.dtype,
      shape: r.shape,
      byteOffset: dataStart + r.begin,
      byteLength: r.end - r.begin,
    });
  }
  return { metadata, tensors, fileSize, dataStart };
}

/** "no tensor named X (... has N tensors, e.g. a, b, c)", preferring names close to X. */
export function missingTensorProblem(name: string, available: Iterable<string>, container: string): string {
  const names = [...available];
  if (names.length === 0) return `no tensor named ${quote(name)} (${container} has no tensors at all)`;
  const common = (a: string): number => {
    let i = 0;
    while (i < a.length && i < name.length && a[i] === name[i]) i++;
    return i;
  };
  const lastPart = name.split(".").slice(-2).join(".");
  const score = (a: string): number => common(a) * 2 + (lastPart.length > 0 && a.endsWith(lastPart) ? 1 : 0);
  const shown = names
    .map((n, i) => ({ n, i, s: score(n) }))
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .slice(0, 5)
    .map((x) => quote(x.n));
  const more = names.length > shown.length ? `, ... (${names.length} in all)` : "";
  return `no tensor named ${quote(name)}; ${container} has ${shown.join(", ")}${more}`;
}

function lookup(file: SafetensorsFile, name: string): TensorEntry {
  const entry = file.tensors.get(name);
  if (entry === undefined) fail(file.path, missingTensorProblem(name, file.tensors.keys(), "the file"));
  return entry;
}

/** The raw little-endian bytes of one tensor (a fresh copy, read at the tensor's offset). */
export function readTensorBytes(file: SafetensorsFile, name: string): Uint8Array<ArrayBuffer> {
  const entry = lookup(file, name);
  return sourceOf(file).read(entry.byteOffset, entry.byteLength);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reverses the byte order of each `width`-byte element (for big-endian hosts). */
export function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/**
 * Reads a floating-point tensor as a fresh Float32Array: F32 as is, F16 and BF16 widened
 * exactly, F64 rounded to nearest. Only that tensor's bytes are read. Other dtypes are a
 * UserError naming the tensor and its dtype.
 */
export function readTensorF32(file: SafetensorsFile, name: string): Float32Array<ArrayBuffer> {
  const entry = lookup(file, name);
  const src = sourceOf(file);
  const count = elementCount(entry.shape);
  const what = `tensor ${quote(name)}`;
  if (!FLOAT32_READABLE_DTYPES.includes(entry.dtype)) {
    fail(file.path, `${what} has dtype ${entry.dtype}, which cannot be read as float32 (readable: ${FLOAT32_READABLE_DTYPES.join(", ")})`);
  }
  let out: Float32Array<ArrayBuffer>;
  try {
    out = new Float32Array(count);
  } catch {
    fail(file.path, `${what} (shape ${formatShape(entry.shape)}) is too large to load as one float32 array`);
  }
  if (count === 0) return out;
  switch (entry.dtype) {
    case "F32": {
      const bytes = src.read(entry.byteOffset, out.byteLength);
      if (!HOST_LITTLE_ENDIAN) swapBytes(bytes, 4);
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    case "F64": {
      const chunkElems = Math.max(1, Math.floor(convertChunkBytes / 8));
      const scratch = new Float64Array(Math.min(count, chunkElems));
      const scratchBytes = new Uint8Array(scratch.buffer);
      for (let i = 0; i < count; i += chunkElems) {
        const n = Math.min(chunkElems, count - i);
        const bytes = scratchBytes.subarray(0, n * 8);
        bytes.set(src.read(entry.byteOffset + i * 8, n * 8));
        if (!HOST_LITTLE_ENDIAN) swapBytes(bytes, 8);
        out.set(scratch.subarray(0, n), i);
      }
      return out;
    }
    case "F16":
    case "BF16": {
      const widen = entry.dtype === "F16" ? f16ArrayToF32 : bf16ArrayToF32;
      const chunkElems = Math.max(1, Math.floor(convertChunkBytes / 2));
      const scratch = new Uint16Array(Math.min(count, chunkElems));
      const scratchBytes = new Uint8Array(scratch.buffer);
      for (let i = 0; i < count; i += chunkElems) {
        const n = Math.min(chunkElems, count - i);
        const bytes = scratchBytes.subarray(0, n * 2);
        bytes.set(src.read(entry.byteOffset + i * 2, n * 2));
        if (!HOST_LITTLE_ENDIAN) swapBytes(bytes, 2);
        widen(scratch.subarray(0, n), out.subarray(i, i + n));
      }
      return out;
    }
    default:
      // Unreachable: FLOAT32_READABLE_DTYPES was checked above.
      throw new Error(`unhandled dtype ${entry.dtype}`);
  }
}

/**
 * Throws a UserError if `data` holds NaN or ±Inf, naming the tensor, the file, the first bad
 * index and how many bad values there are.
 */
export function assertFinite(name: string, data: ArrayLike<number>, file: string | SafetensorsFile): void {
  let first = -1;
  let bad = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) {
      // NaN - NaN and Inf - Inf are NaN; finite values give 0.
      if (first < 0) first = i;
      bad++;
    }
  }
  if (bad > 0) {
    const where = typeof file === "string" ? file : file.path;
    fail(where, `tensor ${quote(name)} has ${bad} non-finite value${bad === 1 ? "" : "s"} (first at index ${first}: ${data[first]})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Folders: one file, or shards with an index.

export const SINGLE_FILE_NAME = "model.safetensors";
export const INDEX_FILE_NAME = "model.safetensors.index.json";

export function makeSet(
  where: string,
  files: SafetensorsFile[],
  tensors: Map<string, { file: SafetensorsFile; entry: TensorEntry }>,
  container: string,
): SafetensorsSet {
  return {
    path: where,
    files,
    tensors,
    readF32(name: string): Float32Array<ArrayBuffer> {
      const t = tensors.get(name);
      if (t === undefined) fail(where, missingTensorProblem(name, tensors.keys(), container));
      return readTensorF32(t.file, name);
    },
    close(): void {
      for (const f of files) f.close();
    },
  };
}

export function setOfOne(where: string, file: SafetensorsFile): SafetensorsSet {
  const tensors = new Map<string, { file: SafetensorsFile; entry: TensorEntry }>();
  for (const [name, entry] of file.tensors) tensors.set(name, { file, entry });
  return makeSet(where, [file], tensors, file.path.split(/[\\/]/).pop() ?? file.path);
}


/**
 * model.safetensors.index.json's text -> shard file name -> the tensor names its weight_map
 * puts there (in order). Shard names are not resolved here (the caller knows where files live).
 */
export function parseSafetensorsIndex(text: string, indexName: string): Map<string, string[]> {
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch (e) {
    fail(indexName, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isPlainObject(index)) fail(indexName, "is not a JSON object");
  const weightMap = index["weight_map"];
  if (!isPlainObject(weightMap)) fail(indexName, `has no "weight_map" object (tensor name -> shard file)`);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || shard.length === 0) {
      fail(indexName, `weight_map entry ${quote(name)} is not a shard file name: ${JSON.stringify(shard)}`);
    }
    const list = byShard.get(shard);
    if (list === undefined) byShard.set(shard, [name]);
    else list.push(name);
  }
  if (byShard.size === 0) fail(indexName, "weight_map is empty");
  return byShard;
}

/** "weight_map puts X (and N other tensors) in shard S, which does not exist in WHERE". */
export function missingShardProblem(shard: string, names: readonly string[], where: string): string {
  const others = names.length > 1 ? ` and ${names.length - 1} other tensor${names.length > 2 ? "s" : ""}` : "";
  return `weight_map puts ${quote(names[0]!)}${others} in shard ${quote(shard)}, which does not exist in ${where}`;
}

/** Opens every shard (`open`) and checks that each holds the tensors the index puts there. */
export function setFromShards(
  where: string,
  byShard: ReadonlyMap<string, readonly string[]>,
  open: (shard: string) => SafetensorsFile,
  indexName: string,
): SafetensorsSet {
  const files: SafetensorsFile[] = [];
  const tensors = new Map<string, { file: SafetensorsFile; entry: TensorEntry }>();
  try {
    for (const [shard, names] of byShard) {
      const file = open(shard);
      files.push(file);
      for (const name of names) {
        const entry = file.tensors.get(name);
        if (entry === undefined) {
          fail(indexName, `weight_map puts ${quote(name)} in shard ${quote(shard)}, but that shard has no such tensor (${missingTensorProblem(name, file.tensors.keys(), "the shard")})`);
        }
        tensors.set(name, { file, entry });
      }
    }
  } catch (e) {
    for (const f of files) f.close();
    throw e;
  }
  return makeSet(where, files, tensors, `the model (${files.length} shards)`);
}
