/**
 * Token shard files and the manifest that describes them.
 *
 * A shard is a raw little-endian array of token ids, `uint16` when the vocabulary has at
 * most 65536 ids, else `int32`, with no header (so `numpy.fromfile(f, np.uint16)` reads it).
 * Each document is stored as BOS + tokens + EOS: the BOS marks where a document starts (the
 * model learns to begin text after it, as LLaMA's tokenizer does with add_bos), the EOS
 * teaches it where text ends, and together they make the concatenated stream of many short
 * documents unambiguous. Shards are cut at exactly `shardTokens` tokens, so a document may
 * continue in the next shard: a source's token stream is the concatenation of its shards in
 * order. Files are written atomically (temporary file + rename), the manifest last, so an
 * interrupted `prepare` never leaves a manifest that points at a half-written shard.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { UserError } from "../util/errors.js";
import { quoteValue, resolveInside } from "../util/paths.js";
import type { CleanStats } from "./clean.js";
import type { ReadStats, SourceFormat } from "./readers.js";
import { bytesPerToken, type TokenDType } from "./types.js";

/** Writes `data` to `file` through a temporary file in the same folder and a rename. */
export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // the temporary file was never created
    }
    throw e;
  }
}

function checkLittleEndian(): void {
  if (os.endianness() !== "LE") throw new Error("token files are little-endian; this big-endian machine is not supported");
}

export interface ShardInfo {
  /** Path relative to the dataset folder. */
  file: string;
  tokens: number;
}

export interface SplitInfo {
  shards: ShardInfo[];
  tokens: number;
  documents: number;
}

/** Buffers tokens and writes shards of exactly `shardTokens` tokens (the last one shorter). */
export class ShardWriter {
  readonly shards: ShardInfo[] = [];
  tokens = 0;
  documents = 0;
  private buf: Uint16Array | Int32Array;
  private fill = 0;

  /**
   * @param root the dataset folder (shard paths in the manifest are relative to it)
   * @param prefix e.g. "books/train": shards become books/train-00000.bin, ...
   */
  constructor(
    readonly root: string,
    readonly prefix: string,
    readonly dtype: TokenDType,
    readonly vocabSize: number,
    readonly shardTokens: number,
  ) {
    checkLittleEndian();
    if (!(Number.isInteger(shardTokens) && shardTokens > 0)) throw new Error(`ShardWriter: shardTokens must be a positive integer, got ${shardTokens}`);
    if (dtype === "uint16" && vocabSize > 65536) throw new Error(`ShardWriter: vocabulary of ${vocabSize} does not fit uint16`);
    // Grow the buffer as needed rather than allocating shardTokens up front (shards may be large, sources small).
    this.buf = dtype === "uint16" ? new Uint16Array(Math.min(shardTokens, 65536)) : new Int32Array(Math.min(shardTokens, 65536));
    mkdirSync(path.dirname(path.join(root, prefix)), { recursive: true });
  }

  /** Appends one document: `wrap.bos`, its tokens, `wrap.eos` (or the tokens alone without `wrap`). */
  appendDocument(tokens: readonly number[], wrap?: { bos: number; eos: number }): void {
    this.documents++;
    if (wrap) this.push(wrap.bos);
    for (let i = 0; i < tokens.length; i++) this.push(tokens[i]!);
    if (wrap) this.push(wrap.eos);
  }

  private push(t: number): void {
    if (!(Number.isInteger(t) && t >= 0 && t < this.vocabSize)) {
      throw new Error(`token id ${t} is outside the tokenizer's vocabulary [0, ${this.vocabSize})`);
    }
    if (this.fill === this.buf.length) {
      if (this.fill === this.shardTokens) this.flush();
      else this.growBuffer();
    }
    this.buf[this.fill++] = t;
    this.tokens++;
  }

  private growBuffer(): void {
    const n = Math.min(this.shardTokens, this.buf.length * 2);
    const next = this.dtype === "uint16" ? new Uint16Array(n) : new Int32Array(n);
    next.set(this.buf.subarray(0, this.fill));
    this.buf = next;
  }

  private flush(): void {
    if (this.fill === 0) return;
    const rel = `${this.prefix}-${String(this.shards.length).padStart(5, "0")}.bin`;
    const view = new Uint8Array(this.buf.buffer, 0, this.fill * bytesPerToken(this.dtype));
    writeFileAtomicSync(path.join(this.root, rel), view);
    this.shards.push({ file: rel, tokens: this.fill });
    this.fill = 0;
  }

  /** Writes the last, partial shard and returns the split's description. */
  finish(): SplitInfo {
    this.flush();
    return { shards: this.shards, tokens: this.tokens, documents: this.documents };
  }
}

export interface SourceStats extends ReadStats, CleanStats {
  /** Kept documents left out by the source's `fraction` (subset) setting. */
  subsampled: number;
}

export interface ManifestSource {
  name: string;
  /** Normalised sampling proportion. */
  weight: number;
  /** The weight as written in mixture.json. */
  rawWeight: number;
  format: SourceFormat;
  paths: string[];
  train: SplitInfo;
  val: SplitInfo;
  stats: SourceStats;
}

export interface Manifest {
  format: "llama-ts-shards";
  version: 1;
  created: string;
  dtype: TokenDType;
  /** How documents are laid out in the token stream. */
  document: "bos+tokens+eos";
  /** `path`: the tokenizer.model copied into the dataset folder, relative to it (null: none recorded). */
  tokenizer: { path: string | null; vocabSize: number; bosId: number; eosId: number };
  seed: number;
  valFraction: number;
  shardTokens: number;
  sources: ManifestSource[];
}

export const MANIFEST_FILE = "manifest.json";

export function writeManifest(dir: string, manifest: Manifest): void {
  writeFileAtomicSync(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
}

/**
 * Reads DIR/manifest.json and checks everything the sampler and the trainer rely on, each
 * failure one line naming the field: the format, the dtype, the tokenizer (its `path`, when
 * set, relative to DIR and inside it), and per source a name, a finite non-negative weight
 * (the weights summing to more than 0), and train/val shard lists whose `file`s are relative
 * paths inside DIR to existing regular files and whose `tokens` are non-negative integers
 * adding up to the split's `tokens`.
 */
export function readManifest(dir: string): Manifest {
  const file = path.join(dir, MANIFEST_FILE);
  let json: unknown;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new UserError(`${file}: not a regular file`);
    if (st.size > MAX_MANIFEST_BYTES) throw new UserError(`${file}: ${st.size} bytes, more than a manifest can hold (${MAX_MANIFEST_BYTES})`);
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    if (e instanceof UserError) throw e;
    const why = (e as NodeJS.ErrnoException).code === "ENOENT" ? "not found (run `llama-ts prepare` to make it)" : `not valid JSON (${e instanceof Error ? e.message : String(e)})`;
    throw new UserError(`${file}: ${why}`);
  }
  const bad = (what: string): never => {
    throw new UserError(`${file}: ${what}; run \`llama-ts prepare\` again`);
  };
  if (!isObject(json) || json["format"] !== "llama-ts-shards" || json["version"] !== 1) throw new UserError(`${file}: not a llama-ts shard manifest (format/version)`);
  const m = json as unknown as Manifest;
  if (m.dtype !== "uint16" && m.dtype !== "int32") bad(`dtype must be uint16 or int32 (got ${quoteValue(m.dtype)})`);
  const tok: unknown = m.tokenizer;
  if (!isObject(tok)) bad(`"tokenizer" must be an object`);
  const t = tok as Record<string, unknown>;
  for (const k of ["vocabSize", "bosId", "eosId"]) {
    if (!isCount(t[k]) || (k === "vocabSize" && t[k] === 0)) bad(`tokenizer.${k} must be a non-negative integer (got ${quoteValue(t[k])})`);
  }
  if (t["path"] !== null && t["path"] !== undefined) {
    if (typeof t["path"] !== "string") bad(`tokenizer.path must be a string or null (got ${quoteValue(t["path"])})`);
    if (resolveInside(dir, t["path"] as string) === undefined) bad(`tokenizer.path ${quoteValue(t["path"])} is outside the dataset folder (stored paths must be relative and stay inside it)`);
  }
  if (!Array.isArray(m.sources) || m.sources.length === 0) bad("no sources");
  let weightSum = 0;
  m.sources.forEach((s: unknown, i) => {
    if (!isObject(s)) bad(`sources[${i}] is ${quoteValue(s)}, not an object`);
    const src = s as Record<string, unknown>;
    const name = src["name"];
    if (typeof name !== "string" || name.length === 0) bad(`sources[${i}].name must be a non-empty string (got ${quoteValue(name)})`);
    const where = `source ${quoteValue(name)}`;
    const w = src["weight"];
    if (typeof w !== "number" || !Number.isFinite(w) || w < 0) bad(`${where}: weight must be a finite number >= 0 (got ${quoteValue(w)})`);
    weightSum += w as number;
    for (const split of ["train", "val"] as const) {
      const sp = src[split];
      if (!isObject(sp) || !Array.isArray(sp["shards"])) bad(`${where}: "${split}" must be an object with a "shards" list`);
      const info = sp as Record<string, unknown>;
      let sum = 0;
      (info["shards"] as unknown[]).forEach((sh, j) => {
        const at = `${where} ${split} shard ${j}`;
        if (!isObject(sh)) bad(`${at} is ${quoteValue(sh)}, not an object`);
        const f = (sh as Record<string, unknown>)["file"];
        const n = (sh as Record<string, unknown>)["tokens"];
        if (typeof f !== "string") bad(`${at}: "file" must be a string (got ${quoteValue(f)})`);
        if (!isCount(n)) bad(`${at}: "tokens" must be a non-negative integer (got ${quoteValue(n)})`);
        const full = resolveInside(dir, f as string);
        if (full === undefined) bad(`${at}: file ${quoteValue(f)} is outside the dataset folder (stored paths must be relative and stay inside it)`);
        let isFile = false;
        try {
          isFile = statSync(full!).isFile();
        } catch {
          bad(`${at}: file ${quoteValue(f)} is missing`);
        }
        if (!isFile) bad(`${at}: ${quoteValue(f)} is not a regular file`);
        sum += n as number;
      });
      if (!isCount(info["tokens"]) || info["tokens"] !== sum) bad(`${where}: ${split}.tokens is ${quoteValue(info["tokens"])} but its shards hold ${sum} tokens`);
    }
  });
  if (!(weightSum > 0)) bad("every source has weight 0; at least one needs a positive weight");
  return m;
}

/** Manifests are small (a few kB per source); a bigger file is not one. */
const MAX_MANIFEST_BYTES = 64 << 20;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** The manifest's tokenizer as an absolute path (inside DIR), or undefined when it records none. */
export function manifestTokenizerPath(dir: string, manifest: Manifest): string | undefined {
  const p = manifest.tokenizer.path;
  if (p === null || p === undefined) return undefined;
  const full = resolveInside(dir, p);
  if (full === undefined) throw new UserError(`${path.join(dir, MANIFEST_FILE)}: tokenizer.path ${quoteValue(p)} is outside the dataset folder`);
  return full;
}

/** A shard's absolute path (inside DIR; readManifest has checked it). */
export function shardPath(dir: string, shard: ShardInfo): string {
  const full = resolveInside(dir, shard.file);
  if (full === undefined) throw new UserError(`${path.join(dir, MANIFEST_FILE)}: shard file ${quoteValue(shard.file)} is outside the dataset folder`);
  return full;
}

/** Random access to a token stream of known length (read-only). */
export interface TokenStore {
  readonly length: number;
  readonly dtype: TokenDType;
  /** Copies tokens[start, start + count) (within [0, length)) into out[offset, ...). */
  read(start: number, count: number, out: Int32Array, offset: number): void;
  close(): void;
}

/** Tokens held in memory. */
export class MemoryTokenStore implements TokenStore {
  readonly length: number;
  readonly dtype: TokenDType;
  constructor(readonly data: Uint16Array | Int32Array) {
    this.length = data.length;
    this.dtype = data instanceof Uint16Array ? "uint16" : "int32";
  }
  read(start: number, count: number, out: Int32Array, offset: number): void {
    if (start < 0 || start + count > this.length) throw new RangeError(`token range [${start}, ${start + count}) outside [0, ${this.length})`);
    out.set(this.data.subarray(start, start + count), offset);
  }
  close(): void {}
}

/** Tokens read from one or more files on demand (positioned reads; nothing is loaded up front). */
export class FileTokenStore implements TokenStore {
  readonly length: number;
  private readonly fds: number[];
  private readonly starts: number[];
  private readonly bpt: number;
  private scratch = Buffer.alloc(0);

  constructor(
    readonly files: readonly { path: string; tokens: number }[],
    readonly dtype: TokenDType,
  ) {
    checkLittleEndian();
    this.bpt = bytesPerToken(dtype);
    this.fds = [];
    this.starts = [];
    let total = 0;
    for (const f of files) {
      this.starts.push(total);
      total += f.tokens;
    }
    this.length = total;
    for (const f of files) this.fds.push(openSync(f.path, "r"));
  }

  read(start: number, count: number, out: Int32Array, offset: number): void {
    if (start < 0 || start + count > this.length) throw new RangeError(`token range [${start}, ${start + count}) outside [0, ${this.length})`);
    let pos = start;
    let o = offset;
    let left = count;
    let fi = upperBound(this.starts, pos) - 1;
    while (left > 0) {
      const inFile = pos - this.starts[fi]!;
      const n = Math.min(left, this.files[fi]!.tokens - inFile);
      const bytes = n * this.bpt;
      if (this.scratch.length < bytes) this.scratch = Buffer.alloc(Math.max(bytes, 2 * this.scratch.length));
      let got = 0;
      while (got < bytes) {
        const r = readSync(this.fds[fi]!, this.scratch, got, bytes - got, inFile * this.bpt + got);
        if (r === 0) throw new Error(`${this.files[fi]!.path}: file is shorter than its ${this.files[fi]!.tokens} tokens`);
        got += r;
      }
      if (this.dtype === "uint16") for (let i = 0; i < n; i++) out[o + i] = this.scratch.readUInt16LE(2 * i);
      else for (let i = 0; i < n; i++) out[o + i] = this.scratch.readInt32LE(4 * i);
      pos += n;
      o += n;
      left -= n;
      fi++;
    }
  }

  close(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
  }
}

function upperBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Loads whole files into one typed array (checking each file's size against its token count). */
export function loadTokens(files: readonly { path: string; tokens: number }[], dtype: TokenDType): Uint16Array | Int32Array {
  checkLittleEndian();
  const total = files.reduce((a, f) => a + f.tokens, 0);
  const arr = dtype === "uint16" ? new Uint16Array(total) : new Int32Array(total);
  const bytes = new Uint8Array(arr.buffer);
  const bpt = bytesPerToken(dtype);
  let off = 0;
  for (const f of files) {
    const fd = openSync(f.path, "r");
    try {
      const size = fstatSync(fd).size;
      if (size !== f.tokens * bpt) throw new UserError(`${f.path}: ${size} bytes, expected ${f.tokens * bpt} (${f.tokens} ${dtype} tokens); the dataset is damaged, run prepare again`);
      let got = 0;
      while (got < size) {
        const r = readSync(fd, bytes, off + got, size - got, got);
        if (r === 0) break;
        got += r;
      }
    } finally {
      closeSync(fd);
    }
    off += f.tokens * bpt;
  }
  return arr;
}

/** Default limit under which token files are loaded into memory rather than read on demand. */
export const PRELOAD_LIMIT_BYTES = 1 << 30;

/** Opens a token stream over files: in memory when it is at most `preloadLimitBytes`, else read on demand. */
export function openTokenStore(files: readonly { path: string; tokens: number }[], dtype: TokenDType, preloadLimitBytes = PRELOAD_LIMIT_BYTES): TokenStore {
  const total = files.reduce((a, f) => a + f.tokens, 0) * bytesPerToken(dtype);
  if (total <= preloadLimitBytes) return new MemoryTokenStore(loadTokens(files, dtype));
  for (const f of files) {
    const size = (() => {
      const fd = openSync(f.path, "r");
      try {
        return fstatSync(fd).size;
      } finally {
        closeSync(fd);
      }
    })();
    if (size !== f.tokens * bytesPerToken(dtype)) throw new UserError(`${f.path}: ${size} bytes, expected ${f.tokens * bytesPerToken(dtype)}; the dataset is damaged, run prepare again`);
  }
  return new FileTokenStore(files, dtype);
}

/**
 * Copies the `count` tokens starting at `start` of a circular stream (indices modulo its
 * length) into out[offset, ...): the wrap-around used at the end of a file or source.
 */
export function readCircular(store: TokenStore, start: number, count: number, out: Int32Array, offset = 0): void {
  const L = store.length;
  if (L === 0) throw new Error("cannot read from an empty token stream");
  let pos = start % L;
  let o = offset;
  let left = count;
  while (left > 0) {
    const n = Math.min(left, L - pos);
    store.read(pos, n, out, o);
    o += n;
    left -= n;
    pos = 0;
  }
}
