/**
 * GGUF container (version 3, also reads 2): little-endian header, typed metadata key/values,
 * tensor infos, then aligned tensor data (alignment `general.alignment`, default 32).
 *
 *   u32 magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
 *   kv:     string key | u32 value_type | value          (arrays: u32 item_type, u64 count, items)
 *   tensor: string name | u32 n_dims | u64 dims[n_dims] (fastest-varying first) | u32 ggml_type | u64 offset
 *   strings: u64 length + UTF-8 bytes (no terminator)
 *
 * Reading is defensive: every count, length and offset is checked against the file size before
 * anything is allocated or read (a crafted header cannot make us allocate more than the file
 * holds), and tensor data is read with positioned reads, one tensor at a time, never the whole
 * file. Only regular files are opened; two tensors whose bytes overlap are refused (as
 * llama.cpp does); names and keys from the file are quoted and escaped in messages. Every
 * failure is a UserError naming the file.
 */
import { quoteForTerminal as q, UserError } from "../util/errors.js";
import { bytesSource, utf8Decoder, utf8Encoder, type ByteSource, type ByteViews } from "../util/byte-source.js";
import { fileSource, writeFileAtomicWith, type WriteFn } from "../util/files.js";
import { QUANT_FORMATS } from "../kernels/quant/index.js";

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

export type GgufScalar = number | bigint | boolean | string;

/** One metadata value: scalar, or an array of one item type. 64-bit integers are bigint. */
export type GgufValue =
  | { type: Exclude<GgufValueType, GgufValueType.ARRAY>; value: GgufScalar }
  | { type: GgufValueType.ARRAY; itemType: Exclude<GgufValueType, GgufValueType.ARRAY>; value: GgufScalar[] | GgufArrayValue[] }
  | { type: GgufValueType.ARRAY; itemType: GgufValueType.ARRAY; value: GgufArrayValue[] };

export interface GgufArrayValue {
  itemType: GgufValueType;
  value: GgufScalar[] | GgufArrayValue[];
}

/**
 * ggml tensor types: [block elements, block bytes]. The types llama-ts reads come from the
 * quantisation registry (src/kernels/quant/); the others are listed so that their sizes can be
 * checked and their names shown.
 */
export const GGML_TYPES: Record<number, { name: string; blockSize: number; typeSize: number }> = {
  0: { name: "F32", blockSize: 1, typeSize: 4 },
  3: { name: "Q4_1", blockSize: 32, typeSize: 20 },
  6: { name: "Q5_0", blockSize: 32, typeSize: 22 },
  7: { name: "Q5_1", blockSize: 32, typeSize: 24 },
  9: { name: "Q8_1", blockSize: 32, typeSize: 36 },
  15: { name: "Q8_K", blockSize: 256, typeSize: 292 },
  24: { name: "I8", blockSize: 1, typeSize: 1 },
  25: { name: "I16", blockSize: 1, typeSize: 2 },
  26: { name: "I32", blockSize: 1, typeSize: 4 },
  27: { name: "I64", blockSize: 1, typeSize: 8 },
  28: { name: "F64", blockSize: 1, typeSize: 8 },
  30: { name: "BF16", blockSize: 1, typeSize: 2 },
  ...Object.fromEntries(QUANT_FORMATS.map((f) => [f.ggmlId, { name: f.ggmlName, blockSize: f.blockSize, typeSize: f.blockBytes }])),
};

export function ggmlTypeName(t: number): string {
  return GGML_TYPES[t]?.name ?? `type ${t}`;
}

export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] varies fastest (the reverse of a PyTorch shape). */
  dims: number[];
  type: number;
  /** Offset from the start of the data section. */
  offset: number;
  /** Absolute file offset of the data. */
  fileOffset: number;
  nbytes: number;
  elements: number;
}

const MAGIC = 0x46554747; // "GGUF" little-endian
const MAX_DIMS = 4;
const MAX_STRING = 1 << 26; // a single key or value string of 64 MiB is certainly broken
const MAX_NESTING = 4;

function scalarSize(t: number): number | undefined {
  switch (t) {
    case GgufValueType.UINT8: case GgufValueType.INT8: case GgufValueType.BOOL: return 1;
    case GgufValueType.UINT16: case GgufValueType.INT16: return 2;
    case GgufValueType.UINT32: case GgufValueType.INT32: case GgufValueType.FLOAT32: return 4;
    case GgufValueType.UINT64: case GgufValueType.INT64: case GgufValueType.FLOAT64: return 8;
    default: return undefined;
  }
}

/** A buffered, bounds-checked sequential reader over a ByteSource (little-endian). */
class HeaderReader {
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  pos = 0;
  constructor(private readonly src: ByteSource, readonly size: number, private readonly file: string) {}

  fail(msg: string): never {
    throw new UserError(`${this.file}: ${msg}`);
  }

  get remaining(): number {
    return this.size - this.pos;
  }

  private ensure(n: number, what: string): number {
    if (n > this.remaining) this.fail(`truncated GGUF: ${what} needs ${n} bytes at offset ${this.pos}, the file has ${this.remaining} left`);
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.length) return rel;
    const len = Math.min(Math.max(n, 1 << 20), this.remaining);
    this.buf = this.src.read(this.pos, len);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
    return 0;
  }

  /** A view positioned on the next `n` bytes (read in first if needed), and the offset in it. */
  private at(n: number, what: string): [DataView, number] {
    const o = this.ensure(n, what); // may replace this.view: read it after
    this.pos += n;
    return [this.view, o];
  }

  u8(what: string): number { const [v, o] = this.at(1, what); return v.getUint8(o); }
  i8(what: string): number { const [v, o] = this.at(1, what); return v.getInt8(o); }
  u16(what: string): number { const [v, o] = this.at(2, what); return v.getUint16(o, true); }
  i16(what: string): number { const [v, o] = this.at(2, what); return v.getInt16(o, true); }
  u32(what: string): number { const [v, o] = this.at(4, what); return v.getUint32(o, true); }
  i32(what: string): number { const [v, o] = this.at(4, what); return v.getInt32(o, true); }
  f32(what: string): number { const [v, o] = this.at(4, what); return v.getFloat32(o, true); }
  f64(what: string): number { const [v, o] = this.at(8, what); return v.getFloat64(o, true); }
  u64big(what: string): bigint { const [v, o] = this.at(8, what); return v.getBigUint64(o, true); }
  i64big(what: string): bigint { const [v, o] = this.at(8, what); return v.getBigInt64(o, true); }
  /** A u64 that must fit a JS number and be <= limit. */
  u64(what: string, limit: number): number {
    const v = this.u64big(what);
    if (v > BigInt(limit)) this.fail(`${what} is ${v}, more than this file can hold (limit ${limit})`);
    return Number(v);
  }
  string(what: string): string {
    const len = this.u64(`length of ${what}`, Math.min(this.remaining, MAX_STRING));
    const [v, o] = this.at(len, what);
    return utf8Decoder.decode(new Uint8Array(v.buffer, v.byteOffset + o, len));
  }
}

export interface GgufOpenOptions {
  /** The file mapped (runtime/mapped-file.ts): tensor bytes are then views into it, not reads. */
  mapped?: ByteViews;
}

export class GgufFile {
  readonly version: number;
  readonly metadata = new Map<string, GgufValue>();
  readonly tensors: GgufTensorInfo[] = [];
  readonly tensorsByName = new Map<string, GgufTensorInfo>();
  readonly alignment: number;
  readonly dataOffset: number;
  readonly fileSize: number;
  /** The file's path, or the name of the bytes it was read from (messages name it). */
  readonly path: string;
  private src: ByteSource | undefined;
  /** The file when the caller mapped it (runtime/mapped-file.ts): tensors are views into it. */
  private readonly mapped: ByteViews | undefined;

  private constructor(src: ByteSource, mapped?: ByteViews) {
    this.src = src;
    this.mapped = mapped;
    this.path = src.name;
    const path = src.name;
    try {
      this.fileSize = src.size;
      if (mapped !== undefined && mapped.size !== src.size) {
        throw new UserError(`${path}: the file changed while it was being opened (${mapped.size} bytes mapped, ${src.size} now)`);
      }
      const r = new HeaderReader(src, this.fileSize, path);
      if (this.fileSize < 24) r.fail(`not a GGUF file (only ${this.fileSize} bytes)`);
      const magic = r.u32("magic");
      if (magic !== MAGIC) r.fail(`not a GGUF file (magic ${magic.toString(16)}, expected "GGUF")`);
      const version = r.u32("version");
      if (version === 0x03000000 || version === 0x02000000) r.fail("big-endian GGUF files are not supported");
      if (version === 1) r.fail("GGUF version 1 is not supported (re-convert the model with a current tool)");
      if (version !== 2 && version !== 3) r.fail(`unsupported GGUF version ${version} (expected 3)`);
      this.version = version;
      // Each tensor info takes at least 8+4+4+8 bytes, each kv at least 8+4+1.
      const nTensors = r.u64("tensor count", Math.floor(r.remaining / 24));
      const nKv = r.u64("metadata count", Math.floor(r.remaining / 13));
      for (let i = 0; i < nKv; i++) {
        const key = r.string(`metadata key #${i}`);
        if (this.metadata.has(key)) r.fail(`duplicate metadata key ${q(key)}`);
        const type = r.u32(`type of ${q(key)}`);
        this.metadata.set(key, readValue(r, type, q(key), 0) as GgufValue);
      }
      const align = this.metadata.get("general.alignment");
      let alignment = 32;
      if (align !== undefined) {
        if (align.type !== GgufValueType.UINT32 || typeof align.value !== "number") r.fail("general.alignment must be a uint32");
        alignment = align.value as number;
        if (alignment === 0 || (alignment & (alignment - 1)) !== 0 || alignment > 1 << 20) r.fail(`general.alignment ${alignment} is not a power of two`);
      }
      this.alignment = alignment;
      const infos: Omit<GgufTensorInfo, "fileOffset">[] = [];
      const seenNames = new Set<string>();
      for (let i = 0; i < nTensors; i++) {
        const rawName = r.string(`name of tensor #${i}`);
        if (seenNames.has(rawName)) r.fail(`duplicate tensor name ${q(rawName)}`);
        seenNames.add(rawName);
        const name = q(rawName); // for messages
        const nDims = r.u32(`dimension count of ${name}`);
        if (nDims < 1 || nDims > MAX_DIMS) r.fail(`tensor ${name} has ${nDims} dimensions (1..${MAX_DIMS} allowed)`);
        const dims: number[] = [];
        let elements = 1;
        for (let d = 0; d < nDims; d++) {
          const v = r.u64(`dimension ${d} of ${name}`, Number.MAX_SAFE_INTEGER);
          if (v === 0) r.fail(`tensor ${name} has a zero dimension`);
          dims.push(v);
          elements *= v;
          if (elements > this.fileSize * 8) r.fail(`tensor ${name} with dims [${dims.join(", ")}...] has more elements than the file can hold`);
        }
        const type = r.u32(`type of ${name}`);
        const tt = GGML_TYPES[type];
        if (!tt) r.fail(`tensor ${name} has unknown ggml type ${type}`);
        if (dims[0]! % tt.blockSize !== 0) r.fail(`tensor ${name}: row length ${dims[0]} is not a multiple of the ${tt.name} block size ${tt.blockSize}`);
        const nbytes = (elements / tt.blockSize) * tt.typeSize;
        const offset = r.u64(`data offset of ${name}`, this.fileSize);
        if (offset % alignment !== 0) r.fail(`tensor ${name}: data offset ${offset} is not a multiple of the alignment ${alignment}`);
        infos.push({ name: rawName, dims, type, offset, nbytes, elements });
      }
      this.dataOffset = Math.ceil(r.pos / alignment) * alignment;
      for (const t of infos) {
        const fileOffset = this.dataOffset + t.offset;
        if (fileOffset + t.nbytes > this.fileSize) {
          r.fail(`tensor ${q(t.name)} (${ggmlTypeName(t.type)} [${t.dims.join(", ")}], ${t.nbytes} bytes at ${fileOffset}) extends past the end of the file (${this.fileSize} bytes): truncated or corrupt`);
        }
        const info = { ...t, fileOffset };
        this.tensors.push(info);
        this.tensorsByName.set(t.name, info);
      }
      // llama.cpp refuses tensors whose data ranges overlap; so do we.
      const byOffset = [...this.tensors].sort((a, b) => a.offset - b.offset);
      for (let i = 1; i < byOffset.length; i++) {
        const a = byOffset[i - 1]!;
        const b = byOffset[i]!;
        if (a.offset + a.nbytes > b.offset) {
          r.fail(`tensors ${q(a.name)} (bytes ${a.offset}..${a.offset + a.nbytes}) and ${q(b.name)} (from byte ${b.offset}) overlap in the data section: corrupt or crafted file`);
        }
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * Opens a GGUF file on disk (Node): the header is read now, tensors when asked for; with
   * `opts.mapped` (the file mapped) tensors are views into the mapping instead of reads.
   */
  static open(path: string, opts: GgufOpenOptions = {}): GgufFile {
    return new GgufFile(fileSource(path, "GGUF file"), opts.mapped);
  }

  /** Parses GGUF bytes from any source (`bytesSource(arrayBuffer, name)` for bytes in memory). */
  static fromSource(src: ByteSource): GgufFile {
    return new GgufFile(src);
  }

  close(): void {
    this.src?.close();
    this.src = undefined;
  }

  /** The metadata value of `key` (scalar or array), or undefined. */
  get(key: string): GgufScalar | GgufScalar[] | GgufArrayValue[] | undefined {
    return this.metadata.get(key)?.value;
  }

  /** A numeric metadata value (any integer or float type). */
  getNumber(key: string): number | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type === GgufValueType.ARRAY || v.type === GgufValueType.STRING || v.type === GgufValueType.BOOL) {
      throw new UserError(`${this.path}: metadata ${q(key)} must be a number`);
    }
    const n = Number(v.value);
    if (!Number.isFinite(n)) throw new UserError(`${this.path}: metadata ${q(key)} is not finite`);
    return n;
  }

  /**
   * An integer metadata value, stored with an integer type (as llama.cpp requires: a token id
   * stored as FLOAT32 is refused) and within [min, max].
   */
  getInteger(key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (!INTEGER_TYPES.has(v.type)) {
      throw new UserError(`${this.path}: metadata ${q(key)} must be an integer, but it is stored as ${GgufValueType[v.type] ?? `type ${v.type}`}`);
    }
    const n = Number(v.value);
    if (!(n >= min && n <= max)) throw new UserError(`${this.path}: metadata ${q(key)} is ${String(v.value)}, outside [${min}, ${max}]`);
    return n;
  }

  getString(key: string): string | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== GgufValueType.STRING) throw new UserError(`${this.path}: metadata ${q(key)} must be a string`);
    return v.value as string;
  }

  /**
   * The raw bytes of a tensor: a view into the file's bytes when it was opened with them (no
   * copy; read-only when they are a mapping), else one positioned read. The header checks (in
   * the file, no overlaps) hold for both.
   */
  readTensorBytes(name: string): Uint8Array<ArrayBuffer> {
    const t = this.tensorsByName.get(name);
    if (!t) throw new UserError(`${this.path}: no tensor named ${q(name)}`);
    if (this.mapped) return this.mapped.view(t.fileOffset, t.nbytes);
    if (this.src === undefined) throw new Error(`${this.path} is closed`);
    return this.src.read(t.fileOffset, t.nbytes);
  }
}

const INTEGER_TYPES: ReadonlySet<GgufValueType> = new Set([
  GgufValueType.UINT8, GgufValueType.INT8, GgufValueType.UINT16, GgufValueType.INT16,
  GgufValueType.UINT32, GgufValueType.INT32, GgufValueType.UINT64, GgufValueType.INT64,
]);

function readValue(r: HeaderReader, type: number, key: string, depth: number): GgufValue | GgufArrayValue {
  switch (type) {
    case GgufValueType.UINT8: return { type, value: r.u8(key) };
    case GgufValueType.INT8: return { type, value: r.i8(key) };
    case GgufValueType.UINT16: return { type, value: r.u16(key) };
    case GgufValueType.INT16: return { type, value: r.i16(key) };
    case GgufValueType.UINT32: return { type, value: r.u32(key) };
    case GgufValueType.INT32: return { type, value: r.i32(key) };
    case GgufValueType.FLOAT32: return { type, value: r.f32(key) };
    case GgufValueType.FLOAT64: return { type, value: r.f64(key) };
    case GgufValueType.UINT64: return { type, value: r.u64big(key) };
    case GgufValueType.INT64: return { type, value: r.i64big(key) };
    case GgufValueType.BOOL: {
      const b = r.u8(key);
      if (b > 1) r.fail(`metadata ${key}: bool value ${b}`);
      return { type, value: b === 1 };
    }
    case GgufValueType.STRING: return { type, value: r.string(key) };
    case GgufValueType.ARRAY: {
      if (depth >= MAX_NESTING) r.fail(`metadata ${key}: arrays nested too deeply`);
      const itemType = r.u32(`item type of ${key}`);
      const size = scalarSize(itemType);
      const minItem = size ?? (itemType === GgufValueType.STRING ? 8 : itemType === GgufValueType.ARRAY ? 12 : 0);
      if (minItem === 0) r.fail(`metadata ${key}: unknown array item type ${itemType}`);
      const count = r.u64(`item count of ${key}`, Math.floor(r.remaining / minItem));
      const items: Array<GgufScalar | GgufArrayValue> = [];
      for (let i = 0; i < count; i++) {
        const v = readValue(r, itemType, key, depth + 1);
        items.push(itemType === GgufValueType.ARRAY ? { itemType: (v as GgufArrayValue).itemType, value: v.value as GgufArrayValue["value"] } : (v.value as GgufScalar));
      }
      return { type: GgufValueType.ARRAY, itemType, value: items } as GgufValue;
    }
    default:
      return r.fail(`metadata ${key}: unknown value type ${type}`);
  }
}

// ---- writing ----

export interface GgufTensorToWrite {
  name: string;
  /** ggml order (fastest first). */
  dims: number[];
  type: number;
  /** The tensor's bytes, or a function producing them when the writer reaches it (streaming). */
  data: Uint8Array | (() => Uint8Array);
}

/** Little-endian header bytes, collected in chunks. */
class ByteSink {
  private chunks: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  private fixed(n: number, set: (v: DataView) => void): void {
    const b = new Uint8Array(n);
    set(new DataView(b.buffer));
    this.push(b);
  }
  u32(v: number): void { this.fixed(4, (d) => d.setUint32(0, v, true)); }
  u64(v: number | bigint): void { this.fixed(8, (d) => d.setBigUint64(0, BigInt(v), true)); }
  string(s: string): void { const b = utf8Encoder.encode(s); this.u64(b.length); this.push(b); }
  scalar(type: GgufValueType, v: GgufScalar): void {
    const n = scalarSize(type) ?? 0;
    switch (type) {
      case GgufValueType.UINT8: return this.fixed(n, (d) => d.setUint8(0, Number(v)));
      case GgufValueType.INT8: return this.fixed(n, (d) => d.setInt8(0, Number(v)));
      case GgufValueType.UINT16: return this.fixed(n, (d) => d.setUint16(0, Number(v), true));
      case GgufValueType.INT16: return this.fixed(n, (d) => d.setInt16(0, Number(v), true));
      case GgufValueType.UINT32: return this.fixed(n, (d) => d.setUint32(0, Number(v), true));
      case GgufValueType.INT32: return this.fixed(n, (d) => d.setInt32(0, Number(v), true));
      case GgufValueType.FLOAT32: return this.fixed(n, (d) => d.setFloat32(0, Number(v), true));
      case GgufValueType.FLOAT64: return this.fixed(n, (d) => d.setFloat64(0, Number(v), true));
      case GgufValueType.UINT64: return this.fixed(n, (d) => d.setBigUint64(0, BigInt(v), true));
      case GgufValueType.INT64: return this.fixed(n, (d) => d.setBigInt64(0, BigInt(v), true));
      case GgufValueType.BOOL: return this.fixed(n, (d) => d.setUint8(0, v ? 1 : 0));
      case GgufValueType.STRING: return this.string(String(v));
      default: throw new Error(`cannot write GGUF value type ${type}`);
    }
  }
  value(v: GgufValue | GgufArrayValue, type: GgufValueType): void {
    if (type !== GgufValueType.ARRAY) {
      this.scalar(type, (v as { value: GgufScalar }).value);
      return;
    }
    const arr = v as GgufArrayValue;
    this.u32(arr.itemType);
    this.u64(arr.value.length);
    if (arr.itemType === GgufValueType.ARRAY) for (const item of arr.value as GgufArrayValue[]) this.value(item, GgufValueType.ARRAY);
    else for (const item of arr.value as GgufScalar[]) this.scalar(arr.itemType, item);
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

export function tensorBytes(dims: readonly number[], type: number): number {
  const tt = GGML_TYPES[type];
  if (!tt) throw new Error(`unknown ggml type ${type}`);
  const elements = dims.reduce((a, b) => a * b, 1);
  if (dims[0]! % tt.blockSize !== 0) throw new Error(`row length ${dims[0]} is not a multiple of the ${tt.name} block size`);
  return (elements / tt.blockSize) * tt.typeSize;
}

/**
 * Writes a GGUF v3 file atomically (temporary file + rename): `serializeGguf` into a file.
 */
export function writeGguf(path: string, metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorToWrite[]): void {
  writeFileAtomicWith(path, (write) => serializeGguf(metadata, tensors, write));
}

/** A whole GGUF v3 file in memory (what a browser offers as a download). */
export function ggufBytes(metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorToWrite[]): Uint8Array {
  const sink = new ByteSink();
  serializeGguf(metadata, tensors, (b) => sink.push(b.slice())); // a producer may reuse its buffer
  return sink.concat();
}

/** Parses GGUF bytes held in memory (an ArrayBuffer from `File.arrayBuffer()` or `fetch`). */
export function ggufFromBytes(bytes: ArrayBuffer | Uint8Array, name: string): GgufFile {
  return GgufFile.fromSource(bytesSource(bytes, name));
}

/**
 * GGUF v3 bytes, in order, to `writeRaw`. Metadata keys are written in the map's order;
 * `general.alignment` is honoured if present (else 32). Tensor data is produced and written one
 * tensor at a time.
 */
export function serializeGguf(metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorToWrite[], writeRaw: WriteFn): void {
  const alignV = metadata.get("general.alignment");
  const alignment = alignV && alignV.type === GgufValueType.UINT32 ? Number(alignV.value) : 32;
  const head = new ByteSink();
  head.u32(MAGIC);
  head.u32(3);
  head.u64(tensors.length);
  head.u64(metadata.size);
  for (const [key, v] of metadata) {
    head.string(key);
    head.u32(v.type);
    head.value(v, v.type);
  }
  const pad = (n: number): number => Math.ceil(n / alignment) * alignment;
  let offset = 0;
  const sizes: number[] = [];
  for (const t of tensors) {
    const nbytes = tensorBytes(t.dims, t.type);
    sizes.push(nbytes);
    head.string(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(t.type);
    head.u64(offset);
    offset = pad(offset + nbytes);
  }
  let pos = 0;
  const write = (b: Uint8Array): void => {
    writeRaw(b);
    pos += b.length;
  };
  write(head.concat());
  write(new Uint8Array(pad(pos) - pos));
  const dataStart = pos;
  tensors.forEach((t, i) => {
    const bytes = typeof t.data === "function" ? t.data() : t.data;
    if (bytes.length !== sizes[i]) throw new Error(`GGUF writer: tensor ${t.name} has ${bytes.length} bytes, its dims and type need ${sizes[i]}`);
    write(bytes);
    const rel = pos - dataStart;
    if (i < tensors.length - 1) write(new Uint8Array(pad(rel) - rel));
  });
}

// ---- small constructors for metadata values ----

export const gguf = {
  u32: (v: number): GgufValue => ({ type: GgufValueType.UINT32, value: v }),
  i32: (v: number): GgufValue => ({ type: GgufValueType.INT32, value: v }),
  f32: (v: number): GgufValue => ({ type: GgufValueType.FLOAT32, value: v }),
  bool: (v: boolean): GgufValue => ({ type: GgufValueType.BOOL, value: v }),
  str: (v: string): GgufValue => ({ type: GgufValueType.STRING, value: v }),
  strings: (v: string[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: v }),
  f32s: (v: ArrayLike<number>): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, value: Array.from(v) }),
  i32s: (v: ArrayLike<number>): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value: Array.from(v) }),
};
