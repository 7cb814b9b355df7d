/**
 * Training windows: deterministic, resumable streams of T+1 tokens (T inputs, the same
 * shifted by one as targets).
 *
 * Two kinds of training data:
 *
 * 1. A raw token file (`tokens.bin`, little-endian uint16 or int32, no header), read by
 *    `TokenFileSampler`. With order "sequential" it follows the exact contract of the
 *    training recipe: window w (= s·B·A + r for row r of step s) is
 *        tokens[w·T : w·T + T + 1],
 *    and the file is a circular stream: indices are taken modulo the file's length L, so a
 *    run longer than the file wraps around to its start (the window that crosses the end
 *    takes its last tokens from the start). With order "shuffled", the file is cut into
 *    n = floor(L / T) windows starting at multiples of T; epoch e = floor(w / n) visits all
 *    n of them in a seeded order (a Feistel permutation keyed by (seed, e)), so every window
 *    is seen once per epoch and each epoch has a different order.
 *
 * 2. A prepared dataset (`prepare` output: manifest.json + shards), read by `MixtureSampler`:
 *    for each window it chooses a source with probability equal to its weight, by a hash of
 *    (seed, window index), and takes that source's next window from the source's own stream
 *    (its shards concatenated, cut into n_i = floor(L_i / T) windows at multiples of T,
 *    sequential or shuffled per epoch as above; running past the end starts a new epoch).
 *
 * Every random choice is a pure function of (seed, counters), so the whole state is a few
 * counters (`state()`, JSON-serialisable for trainer_state.json): a sampler created with the
 * state saved after k windows yields exactly the windows an uninterrupted one yields from
 * window k on. The state also records what it was made for (seed, T, order, a fingerprint
 * of the data) and resuming against different data is refused with a clear message.
 */
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import path from "node:path";
import { UserError } from "../util/errors.js";
import { EpochPermutations, TokenWindowOrder, uniformFrom, type WindowOrder } from "./order.js";
import { epochReport, normalizeWeights, type EpochRow } from "./mixture.js";
import { loadTokens, openTokenStore, readCircular, readManifest, shardPath, MANIFEST_FILE, type Manifest, type TokenStore } from "./shards.js";
import { bytesPerToken, type TokenDType } from "./types.js";

export type { WindowOrder };

/** Resumable position in a raw token file. */
export interface TokenFileCursor {
  kind: "tokenfile";
  order: WindowOrder;
  seed: number;
  seqLen: number;
  /** Tokens in the file (a different file refuses to resume). */
  tokens: number;
  /** Windows drawn so far. */
  windows: number;
}

/** Resumable position in a prepared mixture. */
export interface MixtureCursor {
  kind: "mixture";
  order: WindowOrder;
  seed: number;
  seqLen: number;
  /** Hash of the manifest's training shards and the weights in use. */
  fingerprint: string;
  /** Windows drawn so far. */
  windows: number;
  /** Windows taken so far from each source (its epoch is consumed / windowsPerEpoch). */
  consumed: Record<string, number>;
}

export type DataCursor = TokenFileCursor | MixtureCursor;

/** What the trainer uses: a stream of windows of seqLen + 1 tokens. */
export interface WindowSampler {
  readonly seqLen: number;
  /** Windows drawn so far. */
  readonly windowsDrawn: number;
  /** Writes the next window (seqLen + 1 tokens) at out[offset]; returns the source's name. */
  next(out: Int32Array, offset?: number): string;
  /** The next `rows` windows, row-major (rows × (seqLen + 1)), into `out` when given. */
  nextBatch(rows: number, out?: Int32Array): Int32Array;
  /** The position after the windows drawn so far (JSON-serialisable). */
  state(): DataCursor;
  close(): void;
}

function checkSeqLen(seqLen: number): void {
  if (!(Number.isInteger(seqLen) && seqLen >= 1)) throw new UserError(`sequence length must be a positive integer (got ${seqLen})`);
}

function batchInto(s: WindowSampler, rows: number, out?: Int32Array): Int32Array {
  const w = s.seqLen + 1;
  const buf = out ?? new Int32Array(rows * w);
  if (buf.length < rows * w) throw new Error(`nextBatch: output holds ${buf.length} tokens, need ${rows * w}`);
  for (let r = 0; r < rows; r++) s.next(buf, r * w);
  return buf;
}

export interface TokenFileOptions {
  seqLen: number;
  dtype?: TokenDType;
  order?: WindowOrder;
  seed?: number;
  /** Resume from this cursor (from `state()`). */
  state?: DataCursor;
  /** Files up to this size are loaded into memory; larger ones are read on demand. Default 1 GiB. */
  preloadLimitBytes?: number;
}

/** Windows from a raw token file, with the sequential contract or a seeded shuffled order. */
export class TokenFileSampler implements WindowSampler {
  readonly seqLen: number;
  readonly order: WindowOrder;
  readonly seed: number;
  readonly dtype: TokenDType;
  /** Tokens in the file. */
  readonly length: number;
  private readonly store: TokenStore;
  private readonly windowOrder: TokenWindowOrder;
  private drawn = 0;

  constructor(
    readonly file: string,
    opts: TokenFileOptions,
  ) {
    checkSeqLen(opts.seqLen);
    this.seqLen = opts.seqLen;
    this.order = opts.order ?? "sequential";
    this.seed = opts.seed ?? 0;
    this.dtype = opts.dtype ?? "uint16";
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      throw new UserError(`${file}: token file not found`);
    }
    const bpt = bytesPerToken(this.dtype);
    if (size % bpt !== 0) throw new UserError(`${file}: ${size} bytes is not a whole number of ${this.dtype} tokens (wrong --data-dtype?)`);
    this.length = size / bpt;
    if (this.length < 2) throw new UserError(`${file}: needs at least 2 tokens, has ${this.length}`);
    this.windowOrder = new TokenWindowOrder(this.length, this.seqLen, this.order, this.seed);
    this.store = openTokenStore([{ path: file, tokens: this.length }], this.dtype, opts.preloadLimitBytes);
    if (opts.state) this.restore(opts.state);
  }

  get windowsDrawn(): number {
    return this.drawn;
  }

  /** Windows in one shuffled epoch: floor(length / seqLen), at least 1. */
  get windowsPerEpoch(): number {
    return this.windowOrder.windowsPerEpoch;
  }

  /** Where window w starts in the (circular) token stream (data/order.ts). */
  windowStart(w: number): number {
    return this.windowOrder.start(w);
  }

  /** Window w (seqLen + 1 tokens) at out[offset], without moving the cursor. */
  windowAt(w: number, out: Int32Array, offset = 0): void {
    readCircular(this.store, this.windowStart(w), this.seqLen + 1, out, offset);
  }

  /** Row r of step s when each step takes `rowsPerStep` (= B·A) windows: window s·rowsPerStep + r. */
  rowAt(step: number, row: number, rowsPerStep: number, out: Int32Array, offset = 0): void {
    this.windowAt(step * rowsPerStep + row, out, offset);
  }

  next(out: Int32Array, offset = 0): string {
    this.windowAt(this.drawn, out, offset);
    this.drawn++;
    return path.basename(this.file);
  }

  nextBatch(rows: number, out?: Int32Array): Int32Array {
    return batchInto(this, rows, out);
  }

  state(): TokenFileCursor {
    return { kind: "tokenfile", order: this.order, seed: this.seed, seqLen: this.seqLen, tokens: this.length, windows: this.drawn };
  }

  private restore(c: DataCursor): void {
    const where = `${this.file}: cannot resume`;
    if (c.kind !== "tokenfile") throw new UserError(`${where}: the saved data cursor is for a prepared mixture, not a token file`);
    if (c.seqLen !== this.seqLen) throw new UserError(`${where}: saved with sequence length ${c.seqLen}, now ${this.seqLen}`);
    if (c.order !== this.order) throw new UserError(`${where}: saved with order ${c.order}, now ${this.order}`);
    if (c.order === "shuffled" && c.seed !== this.seed) throw new UserError(`${where}: saved with seed ${c.seed}, now ${this.seed}`);
    if (c.tokens !== this.length) throw new UserError(`${where}: the file had ${c.tokens} tokens, now ${this.length} (a different file?)`);
    if (!(Number.isInteger(c.windows) && c.windows >= 0)) throw new UserError(`${where}: malformed cursor (windows ${String(c.windows)})`);
    this.drawn = c.windows;
  }

  close(): void {
    this.store.close();
  }
}

export interface MixtureOptions {
  seqLen: number;
  order?: WindowOrder;
  /** Default: the seed recorded in the manifest. */
  seed?: number;
  /** Override the manifest's sampling weights (by source name; normalised; missing names get 0). */
  weights?: Record<string, number>;
  state?: DataCursor;
  /** Sources whose shards total at most this are loaded into memory. Default 1 GiB. */
  preloadLimitBytes?: number;
}

interface SourceStream {
  name: string;
  weight: number;
  store: TokenStore;
  windowsPerEpoch: number;
  perms: EpochPermutations;
  consumed: number;
}

/** Windows drawn from a prepared dataset's sources according to their weights. */
export class MixtureSampler implements WindowSampler {
  readonly seqLen: number;
  readonly order: WindowOrder;
  readonly seed: number;
  readonly fingerprint: string;
  private readonly streams: SourceStream[];
  private readonly cumulative: number[];
  private drawn = 0;

  constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    opts: MixtureOptions,
  ) {
    checkSeqLen(opts.seqLen);
    this.seqLen = opts.seqLen;
    this.order = opts.order ?? "shuffled";
    this.seed = opts.seed ?? manifest.seed;
    const raw = manifest.sources.map((s) => (opts.weights ? opts.weights[s.name] ?? 0 : s.weight));
    if (opts.weights) {
      for (const name of Object.keys(opts.weights)) {
        if (!manifest.sources.some((s) => s.name === name)) throw new UserError(`${path.join(dir, MANIFEST_FILE)}: no source named "${name}" (sources: ${manifest.sources.map((s) => s.name).join(", ")})`);
      }
    }
    const weights = normalizeWeights(raw);
    this.streams = manifest.sources.map((s, i) => {
      if (weights[i]! > 0 && s.train.tokens === 0) throw new UserError(`${path.join(dir, MANIFEST_FILE)}: source "${s.name}" has weight ${weights[i]} but no training tokens`);
      const store = openTokenStore(
        s.train.shards.map((sh) => ({ path: shardPath(dir, sh), tokens: sh.tokens })),
        manifest.dtype,
        opts.preloadLimitBytes,
      );
      const windowsPerEpoch = Math.max(1, Math.floor(store.length / this.seqLen));
      return { name: s.name, weight: weights[i]!, store, windowsPerEpoch, perms: new EpochPermutations(windowsPerEpoch, [this.seed, i, 0x3a7e]), consumed: 0 };
    });
    let acc = 0;
    this.cumulative = weights.map((w) => (acc += w));
    this.fingerprint = createHash("sha1")
      .update(JSON.stringify({ dtype: manifest.dtype, sources: manifest.sources.map((s, i) => [s.name, s.train.shards, weights[i]]) }))
      .digest("hex")
      .slice(0, 16);
    if (opts.state) this.restore(opts.state);
  }

  /** Opens DIR (with manifest.json). */
  static open(dir: string, opts: MixtureOptions): MixtureSampler {
    return new MixtureSampler(dir, readManifest(dir), opts);
  }

  get windowsDrawn(): number {
    return this.drawn;
  }

  get sourceNames(): string[] {
    return this.streams.map((s) => s.name);
  }

  /** The index of the source that window k is drawn from (a pure function of seed and k). */
  sourceOf(k: number): number {
    const u = uniformFrom(this.seed, 0x6d1c, k);
    for (let i = 0; i < this.cumulative.length; i++) if (u < this.cumulative[i]!) return i;
    // rounding: the last source with a positive weight
    for (let i = this.streams.length - 1; i >= 0; i--) if (this.streams[i]!.weight > 0) return i;
    return 0;
  }

  next(out: Int32Array, offset = 0): string {
    const s = this.streams[this.sourceOf(this.drawn)]!;
    const c = s.consumed;
    const n = s.windowsPerEpoch;
    const j = this.order === "sequential" ? c % n : s.perms.at(Math.floor(c / n), c % n);
    readCircular(s.store, j * this.seqLen, this.seqLen + 1, out, offset);
    s.consumed++;
    this.drawn++;
    return s.name;
  }

  nextBatch(rows: number, out?: Int32Array): Int32Array {
    return batchInto(this, rows, out);
  }

  state(): MixtureCursor {
    const consumed: Record<string, number> = {};
    for (const s of this.streams) consumed[s.name] = s.consumed;
    return { kind: "mixture", order: this.order, seed: this.seed, seqLen: this.seqLen, fingerprint: this.fingerprint, windows: this.drawn, consumed };
  }

  private restore(c: DataCursor): void {
    const where = `${this.dir}: cannot resume`;
    if (c.kind !== "mixture") throw new UserError(`${where}: the saved data cursor is for a token file, not a prepared mixture`);
    if (c.seqLen !== this.seqLen) throw new UserError(`${where}: saved with sequence length ${c.seqLen}, now ${this.seqLen}`);
    if (c.order !== this.order) throw new UserError(`${where}: saved with order ${c.order}, now ${this.order}`);
    if (c.seed !== this.seed) throw new UserError(`${where}: saved with seed ${c.seed}, now ${this.seed}`);
    if (c.fingerprint !== this.fingerprint) throw new UserError(`${where}: the dataset or its weights changed since the run was saved (fingerprint ${c.fingerprint}, now ${this.fingerprint})`);
    if (!(Number.isInteger(c.windows) && c.windows >= 0)) throw new UserError(`${where}: malformed cursor (windows ${String(c.windows)})`);
    let total = 0;
    for (const s of this.streams) {
      const v = c.consumed[s.name];
      if (!(typeof v === "number" && Number.isInteger(v) && v >= 0)) throw new UserError(`${where}: the cursor has no count for source "${s.name}"`);
      s.consumed = v;
      total += v;
    }
    if (total !== c.windows) throw new UserError(`${where}: malformed cursor (per-source counts sum to ${total}, windows ${c.windows})`);
    this.drawn = c.windows;
  }

  /** Passes made so far over each source's training tokens. */
  epochsSeen(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.streams) out[s.name] = s.store.length > 0 ? (s.consumed * this.seqLen) / s.store.length : 0;
    return out;
  }

  /** Table 1's epochs column for a run of `planTokens` training tokens. */
  epochReport(planTokens: number): EpochRow[] {
    return epochReport(
      this.streams.map((s) => ({ name: s.name, weight: s.weight, tokens: s.store.length })),
      planTokens,
    );
  }

  close(): void {
    for (const s of this.streams) s.store.close();
  }
}

/** One source's held-out windows. */
export interface ValidationBatch {
  source: string;
  /** Row-major windows of seqLen + 1 tokens. */
  windows: Int32Array;
  rows: number;
}

/**
 * The validation windows of a prepared dataset: per source, consecutive non-overlapping
 * windows over its held-out stream (no wrap-around), evenly thinned to at most
 * `maxWindowsPerSource`. Deterministic. Sources whose held-out stream is shorter than one
 * window are left out.
 */
export function validationWindows(dir: string, opts: { seqLen: number; maxWindowsPerSource?: number; manifest?: Manifest }): ValidationBatch[] {
  checkSeqLen(opts.seqLen);
  const manifest = opts.manifest ?? readManifest(dir);
  const T = opts.seqLen;
  const out: ValidationBatch[] = [];
  for (const s of manifest.sources) {
    if (s.val.tokens < T + 1) continue;
    const tokens = loadTokens(s.val.shards.map((sh) => ({ path: shardPath(dir, sh), tokens: sh.tokens })), manifest.dtype);
    const available = Math.floor((tokens.length - 1) / T);
    const rows = Math.min(available, opts.maxWindowsPerSource ?? available);
    const windows = new Int32Array(rows * (T + 1));
    for (let r = 0; r < rows; r++) {
      const w = Math.floor((r * available) / rows);
      windows.set(tokens.subarray(w * T, w * T + T + 1), r * (T + 1));
    }
    out.push({ source: s.name, windows, rows });
  }
  return out;
}

export interface OpenDataOptions {
  seqLen: number;
  order?: WindowOrder;
  seed?: number;
  /** For a raw token file (default uint16); a prepared dataset records its own. */
  dtype?: TokenDType;
  weights?: Record<string, number>;
  state?: DataCursor;
  preloadLimitBytes?: number;
}

/**
 * Opens training data for `train --data DIR|tokens.bin`: a folder with manifest.json gives a
 * MixtureSampler (order default "shuffled"), a file a TokenFileSampler (order default
 * "sequential", the exact contract).
 */
export function openTrainingData(target: string, opts: OpenDataOptions): MixtureSampler | TokenFileSampler {
  let isDir: boolean;
  try {
    isDir = statSync(target).isDirectory();
  } catch {
    throw new UserError(`${target}: no such file or folder (expected a prepared dataset folder or a tokens.bin file)`);
  }
  if (isDir) {
    const m: MixtureOptions = { seqLen: opts.seqLen };
    if (opts.order !== undefined) m.order = opts.order;
    if (opts.seed !== undefined) m.seed = opts.seed;
    if (opts.weights !== undefined) m.weights = opts.weights;
    if (opts.state !== undefined) m.state = opts.state;
    if (opts.preloadLimitBytes !== undefined) m.preloadLimitBytes = opts.preloadLimitBytes;
    return MixtureSampler.open(target, m);
  }
  const t: TokenFileOptions = { seqLen: opts.seqLen };
  if (opts.order !== undefined) t.order = opts.order;
  if (opts.seed !== undefined) t.seed = opts.seed;
  if (opts.dtype !== undefined) t.dtype = opts.dtype;
  if (opts.state !== undefined) t.state = opts.state;
  if (opts.preloadLimitBytes !== undefined) t.preloadLimitBytes = opts.preloadLimitBytes;
  return new TokenFileSampler(target, t);
}
