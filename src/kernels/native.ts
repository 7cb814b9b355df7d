/**
 * Loader and wrapper for the native (C, Node-API) kernel backend: `build/Release/llama_ts_native.node`,
 * built from native/*.c by node-gyp at install time (scripts/build-native.mjs).
 *
 * The wrapper checks every argument (Float32Array, non-negative integer sizes, arrays long enough
 * for the sizes) before the call reaches C, so a bad call throws instead of reading or writing
 * out of bounds; the addon repeats the checks. Subarray views are fine (their byteOffset is used).
 *
 * The instruction set (AVX-512, AVX2+FMA or portable C) is picked at load from what the CPU
 * supports; LLAMA_TS_ISA=avx512|avx2|scalar forces one, and `setIsa` switches later (tests).
 * Threads and ISA are process-wide: there is one native backend object per process.
 */
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Backend } from "./types.js";
import { GGML_TYPE_ID, rowBytes, type QuantMatrix } from "./quant.js";

export type Isa = "avx512" | "avx2" | "scalar";

export interface NativeBackend extends Omit<Backend, "qmatmul">, NativeTrainOps, NativeQuantOps {
  readonly name: "native";
  /** The instruction set the kernels run on now. */
  readonly isa: Isa;
  /** The instruction sets this CPU can run, best first ("scalar" always). */
  readonly supportedIsas: readonly Isa[];
  /** Switches the instruction set (process-wide); throws if the CPU lacks it. */
  setIsa(isa: Isa): void;
}

export interface NativeLoad {
  backend?: NativeBackend;
  error?: string;
}

/** The addon's own exports. */
interface Addon extends TrainAddon, QuantAddon {
  matmul(out: Float32Array, a: Float32Array, w: Float32Array, m: number, n: number, k: number): void;
  matvec(out: Float32Array, w: Float32Array, x: Float32Array, n: number, k: number): void;
  rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): void;
  rope(x: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, cos: Float32Array, sin: Float32Array): void;
  attention(
    out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
    rows: number, pos0: number, nHeads: number, nKvHeads: number, headDim: number,
  ): void;
  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  addInPlace(x: Float32Array, y: Float32Array, n: number): void;
  setThreads(n: number): number;
  getThreads(): number;
  getIsa(): string;
  setIsa(isa: string): void;
  supportedIsas(): string[];
}

const ADDON_FILE = path.join("build", "Release", "llama_ts_native.node");

/** The addon's path when it is built (for Node-only helpers beside the kernels: runtime/mapped-file.ts). */
export function nativeAddonFile(): string | undefined {
  const root = packageRoot();
  const file = root === undefined ? undefined : path.join(root, ADDON_FILE);
  return file !== undefined && existsSync(file) ? file : undefined;
}

/** The llama-ts package root: the nearest folder above this file whose package.json names it. */
function packageRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        const name: unknown = (JSON.parse(readFileSync(pj, "utf8")) as { name?: unknown }).name;
        if (name === "llama-ts") return dir;
      } catch {
        /* not ours; keep looking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

// ---- argument checks ----

function checkSize(fn: string, name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`native ${fn}: ${name} must be a non-negative integer, got ${String(v)}`);
  }
}

/**
 * The check of every array argument: a Float32Array with at least `need` elements (`formula`
 * spells the need in the message). Wrappers check their sizes first, so a bad size is reported
 * as one rather than as a short array; an array the call does not read needs 0 elements.
 */
function checkData(fn: string, name: string, a: unknown, need: number, formula: string): void {
  if (!(a instanceof Float32Array)) {
    throw new TypeError(`native ${fn}: ${name} must be a Float32Array, got ${a === null ? "null" : typeof a === "object" ? a.constructor.name : typeof a}`);
  }
  if (a.length < need) {
    throw new RangeError(`native ${fn}: ${name} has ${a.length} elements, needs ${formula} = ${need}`);
  }
}

function isIsa(s: string): s is Isa {
  return s === "avx512" || s === "avx2" || s === "scalar";
}

function wrap(addon: Addon): NativeBackend {
  const backend: NativeBackend = {
    ...wrapTrain(addon),
    ...wrapQuant(addon),
    name: "native",
    get threads(): number {
      return addon.getThreads();
    },
    setThreads(n: number): void {
      if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`native setThreads: n must be an integer >= 1, got ${n}`);
      addon.setThreads(Math.min(n, 256));
    },
    get isa(): Isa {
      const isa = addon.getIsa();
      if (!isIsa(isa)) throw new Error(`native backend reports an unknown ISA "${isa}"`);
      return isa;
    },
    supportedIsas: addon.supportedIsas().filter(isIsa),
    setIsa(isa: Isa): void {
      if (!isIsa(isa)) throw new RangeError(`native setIsa: expected avx512, avx2 or scalar, got ${String(isa)}`);
      addon.setIsa(isa);
    },

    matmul(out, a, w, m, n, k) {
      const fn = "matmul";
      checkSize(fn, "m", m); checkSize(fn, "n", n); checkSize(fn, "k", k);
      checkData(fn, "out", out, m * n, "m·n"); checkData(fn, "a", a, m * k, "m·k"); checkData(fn, "w", w, n * k, "n·k");
      addon.matmul(out, a, w, m, n, k);
    },
    matvec(out, w, x, n, k) {
      const fn = "matvec";
      checkSize(fn, "n", n); checkSize(fn, "k", k);
      checkData(fn, "out", out, n, "n"); checkData(fn, "w", w, n * k, "n·k"); checkData(fn, "x", x, k, "k");
      addon.matvec(out, w, x, n, k);
    },
    rmsnorm(out, x, weight, rows, dim, eps) {
      const fn = "rmsnorm";
      checkSize(fn, "rows", rows); checkSize(fn, "dim", dim);
      if (typeof eps !== "number" || !(eps >= 0) || eps === Infinity) {
        throw new RangeError(`native ${fn}: eps must be a finite number >= 0, got ${String(eps)}`);
      }
      checkData(fn, "out", out, rows * dim, "rows·dim");
      checkData(fn, "x", x, rows * dim, "rows·dim");
      checkData(fn, "weight", weight, dim, "dim");
      addon.rmsnorm(out, x, weight, rows, dim, eps);
    },
    rope(x, rows, nHeads, headDim, pos0, cos, sin) {
      const fn = "rope";
      checkSize(fn, "rows", rows); checkSize(fn, "nHeads", nHeads); checkSize(fn, "headDim", headDim); checkSize(fn, "pos0", pos0);
      if (headDim % 2 !== 0) throw new RangeError(`native ${fn}: headDim must be even, got ${headDim}`);
      checkData(fn, "x", x, rows * nHeads * headDim, "rows·nHeads·headDim");
      // the tables are read only when there is something to rotate
      const table = rows > 0 && headDim > 0 ? (pos0 + rows) * (headDim / 2) : 0;
      checkData(fn, "cos", cos, table, "(pos0+rows)·headDim/2");
      checkData(fn, "sin", sin, table, "(pos0+rows)·headDim/2");
      addon.rope(x, rows, nHeads, headDim, pos0, cos, sin);
    },
    attention(out, q, k, v, rows, pos0, nHeads, nKvHeads, headDim) {
      const fn = "attention";
      checkSize(fn, "rows", rows); checkSize(fn, "pos0", pos0); checkSize(fn, "nHeads", nHeads);
      checkSize(fn, "nKvHeads", nKvHeads); checkSize(fn, "headDim", headDim);
      if (nHeads > 0 && (nKvHeads === 0 || nHeads % nKvHeads !== 0)) {
        throw new RangeError(`native ${fn}: nHeads (${nHeads}) must be a positive multiple of nKvHeads (${nKvHeads})`);
      }
      checkData(fn, "out", out, rows * nHeads * headDim, "rows·nHeads·headDim");
      checkData(fn, "q", q, rows * nHeads * headDim, "rows·nHeads·headDim");
      // the cache is read only when some query row has heads to attend with
      const cache = rows > 0 && nHeads > 0 && headDim > 0 ? (pos0 + rows) * nKvHeads * headDim : 0;
      checkData(fn, "k", k, cache, "(pos0+rows)·nKvHeads·headDim");
      checkData(fn, "v", v, cache, "(pos0+rows)·nKvHeads·headDim");
      addon.attention(out, q, k, v, rows, pos0, nHeads, nKvHeads, headDim);
    },
    swiglu(out, gate, up, n) {
      const fn = "swiglu";
      checkSize(fn, "n", n);
      checkData(fn, "out", out, n, "n"); checkData(fn, "gate", gate, n, "n"); checkData(fn, "up", up, n, "n");
      addon.swiglu(out, gate, up, n);
    },
    addInPlace(x, y, n) {
      const fn = "addInPlace";
      checkSize(fn, "n", n);
      checkData(fn, "x", x, n, "n"); checkData(fn, "y", y, n, "n");
      addon.addInPlace(x, y, n);
    },
  };
  return backend;
}

// ---- training kernels (native/train.c) ----

/**
 * The training kernels of the native backend (Float32Array only). Each equals a TypeScript
 * reference (named per method) to float32 rounding; test/kernels/native-train.test.ts checks them.
 */
export interface NativeTrainOps {
  /** out[m×n] (+)= a[m×k] · b[k×n] (dA = dOut · W of a linear layer). */
  matmulNN(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, accumulate: boolean): void;
  /** out[m×n] (+)= aᵀ · b with a [k×m], b [k×n] (dW += dOutᵀ · A of a linear layer). */
  matmulTN(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, accumulate: boolean): void;
  /**
   * attentionForwardTrain over `batch` sequences of T rows at once: q, out [batch·T × nHeads × headDim],
   * k, v [batch·T × nKvHeads × headDim], lse [batch·T × nHeads].
   */
  attentionTrainForward(
    out: Float32Array, lse: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
    batch: number, T: number, nHeads: number, nKvHeads: number, headDim: number,
  ): void;
  /** attentionBackwardTrain over `batch` sequences (layouts as attentionTrainForward). */
  attentionTrainBackward(
    dq: Float32Array, dk: Float32Array, dv: Float32Array, dOut: Float32Array,
    q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
    batch: number, T: number, nHeads: number, nKvHeads: number, headDim: number, accumulate: boolean,
  ): void;
  /** crossEntropyForwardBackward (in place; returns Σ loss / totalCount). */
  crossEntropy(logits: Float32Array, targets: Int32Array, rows: number, vocab: number, totalCount: number): number;
  /** rmsnormForwardStats. */
  rmsnormStats(out: Float32Array, invRms: Float32Array, x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): void;
  /** rmsnormApply. */
  rmsnormApply(out: Float32Array, x: Float32Array, weight: Float32Array, invRms: Float32Array, rows: number, dim: number): void;
  /** rmsnormBackward (dWeight may be null). */
  rmsnormBackward(
    dx: Float32Array, dWeight: Float32Array | null, dOut: Float32Array, x: Float32Array, weight: Float32Array,
    invRms: Float32Array, rows: number, dim: number, accumulate: boolean,
  ): void;
  /** swigluBackward. */
  swigluBackward(dGate: Float32Array, dUp: Float32Array, dOut: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  /** One AdamW segment [start, end) (optim.ts adamwSegment), float64 arithmetic per element. */
  adamwSegment(
    params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array, start: number, end: number,
    decayFactor: number, gradScale: number, beta1: number, beta2: number, eps: number, stepSize: number, bc2Sqrt: number,
  ): void;
  /** Σ x[i]² over i < n in float64 (optim.ts sumSquares). */
  sumSquares(x: Float32Array, n: number): number;
}

/** The addon's training exports: the same signatures, with the AdamW pass under its C name. */
type TrainAddon = Omit<NativeTrainOps, "adamwSegment"> & { adamw: NativeTrainOps["adamwSegment"] };

function checkBool(fn: string, name: string, v: unknown): void {
  if (typeof v !== "boolean") throw new TypeError(`native ${fn}: ${name} must be a boolean, got ${typeof v}`);
}

function checkFinite(fn: string, name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new RangeError(`native ${fn}: ${name} must be a finite number, got ${String(v)}`);
}

function checkHeads(fn: string, nHeads: number, nKvHeads: number): void {
  if (nKvHeads === 0 || nHeads % nKvHeads !== 0) {
    throw new RangeError(`native ${fn}: nHeads (${nHeads}) must be a positive multiple of nKvHeads (${nKvHeads})`);
  }
}

function wrapTrain(addon: TrainAddon): NativeTrainOps {
  const matmulVariant = (fn: "matmulNN" | "matmulTN") => (
    out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, accumulate: boolean,
  ): void => {
    checkSize(fn, "m", m); checkSize(fn, "n", n); checkSize(fn, "k", k); checkBool(fn, "accumulate", accumulate);
    checkData(fn, "out", out, m * n, "m·n");
    checkData(fn, "a", a, m * k, fn === "matmulNN" ? "m·k" : "k·m");
    checkData(fn, "b", b, k * n, "k·n");
    addon[fn](out, a, b, m, n, k, accumulate);
  };
  return {
    matmulNN: matmulVariant("matmulNN"),
    matmulTN: matmulVariant("matmulTN"),
    attentionTrainForward(out, lse, q, k, v, batch, T, nHeads, nKvHeads, headDim) {
      const fn = "attentionTrainForward";
      checkSize(fn, "batch", batch); checkSize(fn, "T", T); checkSize(fn, "nHeads", nHeads);
      checkSize(fn, "nKvHeads", nKvHeads); checkSize(fn, "headDim", headDim);
      checkHeads(fn, nHeads, nKvHeads);
      const rows = batch * T;
      checkData(fn, "out", out, rows * nHeads * headDim, "batch·T·nHeads·headDim");
      checkData(fn, "q", q, rows * nHeads * headDim, "batch·T·nHeads·headDim");
      checkData(fn, "lse", lse, rows * nHeads, "batch·T·nHeads");
      checkData(fn, "k", k, rows * nKvHeads * headDim, "batch·T·nKvHeads·headDim");
      checkData(fn, "v", v, rows * nKvHeads * headDim, "batch·T·nKvHeads·headDim");
      addon.attentionTrainForward(out, lse, q, k, v, batch, T, nHeads, nKvHeads, headDim);
    },
    attentionTrainBackward(dq, dk, dv, dOut, q, k, v, out, lse, batch, T, nHeads, nKvHeads, headDim, accumulate) {
      const fn = "attentionTrainBackward";
      checkSize(fn, "batch", batch); checkSize(fn, "T", T); checkSize(fn, "nHeads", nHeads);
      checkSize(fn, "nKvHeads", nKvHeads); checkSize(fn, "headDim", headDim); checkBool(fn, "accumulate", accumulate);
      checkHeads(fn, nHeads, nKvHeads);
      const rows = batch * T;
      const qNeed = rows * nHeads * headDim, kvNeed = rows * nKvHeads * headDim;
      checkData(fn, "dq", dq, qNeed, "batch·T·nHeads·headDim");
      checkData(fn, "dk", dk, kvNeed, "batch·T·nKvHeads·headDim");
      checkData(fn, "dv", dv, kvNeed, "batch·T·nKvHeads·headDim");
      checkData(fn, "dOut", dOut, qNeed, "batch·T·nHeads·headDim");
      checkData(fn, "q", q, qNeed, "batch·T·nHeads·headDim");
      checkData(fn, "k", k, kvNeed, "batch·T·nKvHeads·headDim");
      checkData(fn, "v", v, kvNeed, "batch·T·nKvHeads·headDim");
      checkData(fn, "out", out, qNeed, "batch·T·nHeads·headDim");
      checkData(fn, "lse", lse, rows * nHeads, "batch·T·nHeads");
      addon.attentionTrainBackward(dq, dk, dv, dOut, q, k, v, out, lse, batch, T, nHeads, nKvHeads, headDim, accumulate);
    },
    crossEntropy(logits, targets, rows, vocab, totalCount) {
      const fn = "crossEntropy";
      checkSize(fn, "rows", rows); checkSize(fn, "vocab", vocab);
      if (typeof totalCount !== "number" || !(totalCount > 0) || !Number.isFinite(totalCount)) {
        throw new RangeError(`native ${fn}: totalCount must be a finite number > 0, got ${String(totalCount)}`);
      }
      checkData(fn, "logits", logits, rows * vocab, "rows·vocab");
      if (!(targets instanceof Int32Array)) throw new TypeError(`native ${fn}: targets must be an Int32Array`);
      if (targets.length < rows) throw new RangeError(`native ${fn}: targets has ${targets.length} elements, needs rows = ${rows}`);
      for (let r = 0; r < rows; r++) {
        const y = targets[r]!;
        if (y >= vocab) throw new RangeError(`crossEntropyForwardBackward: target ${y} at row ${r} is outside the vocabulary (${vocab})`);
      }
      return addon.crossEntropy(logits, targets, rows, vocab, totalCount);
    },
    rmsnormStats(out, invRms, x, weight, rows, dim, eps) {
      const fn = "rmsnormStats";
      checkSize(fn, "rows", rows); checkSize(fn, "dim", dim); checkFinite(fn, "eps", eps);
      checkData(fn, "out", out, rows * dim, "rows·dim");
      checkData(fn, "invRms", invRms, rows, "rows");
      checkData(fn, "x", x, rows * dim, "rows·dim");
      checkData(fn, "weight", weight, dim, "dim");
      addon.rmsnormStats(out, invRms, x, weight, rows, dim, eps);
    },
    rmsnormApply(out, x, weight, invRms, rows, dim) {
      const fn = "rmsnormApply";
      checkSize(fn, "rows", rows); checkSize(fn, "dim", dim);
      checkData(fn, "out", out, rows * dim, "rows·dim");
      checkData(fn, "x", x, rows * dim, "rows·dim");
      checkData(fn, "weight", weight, dim, "dim");
      checkData(fn, "invRms", invRms, rows, "rows");
      addon.rmsnormApply(out, x, weight, invRms, rows, dim);
    },
    rmsnormBackward(dx, dWeight, dOut, x, weight, invRms, rows, dim, accumulate) {
      const fn = "rmsnormBackward";
      checkSize(fn, "rows", rows); checkSize(fn, "dim", dim); checkBool(fn, "accumulate", accumulate);
      checkData(fn, "dx", dx, rows * dim, "rows·dim");
      if (dWeight !== null) checkData(fn, "dWeight", dWeight, dim, "dim");
      checkData(fn, "dOut", dOut, rows * dim, "rows·dim");
      checkData(fn, "x", x, rows * dim, "rows·dim");
      checkData(fn, "weight", weight, dim, "dim");
      checkData(fn, "invRms", invRms, rows, "rows");
      addon.rmsnormBackward(dx, dWeight, dOut, x, weight, invRms, rows, dim, accumulate);
    },
    swigluBackward(dGate, dUp, dOut, gate, up, n) {
      const fn = "swigluBackward";
      checkSize(fn, "n", n);
      checkData(fn, "dGate", dGate, n, "n"); checkData(fn, "dUp", dUp, n, "n"); checkData(fn, "dOut", dOut, n, "n");
      checkData(fn, "gate", gate, n, "n"); checkData(fn, "up", up, n, "n");
      addon.swigluBackward(dGate, dUp, dOut, gate, up, n);
    },
    adamwSegment(params, grads, m, v, start, end, decayFactor, gradScale, beta1, beta2, eps, stepSize, bc2Sqrt) {
      const fn = "adamw";
      checkSize(fn, "start", start); checkSize(fn, "end", end);
      if (end < start) throw new RangeError(`native ${fn}: end (${end}) < start (${start})`);
      checkData(fn, "params", params, end, "end"); checkData(fn, "grads", grads, end, "end");
      checkData(fn, "m", m, end, "end"); checkData(fn, "v", v, end, "end");
      addon.adamw(params, grads, m, v, start, end, decayFactor, gradScale, beta1, beta2, eps, stepSize, bc2Sqrt);
    },
    sumSquares(x, n) {
      const fn = "sumSquares";
      checkSize(fn, "n", n);
      checkData(fn, "x", x, n, "n");
      return addon.sumSquares(x, n);
    },
  };
}

let cached: NativeLoad | undefined;

/**
 * Loads the addon once per process. Returns `{ backend }`, or `{ error }` with a short reason
 * (not built, failed to load, LLAMA_TS_ISA names an ISA this CPU lacks).
 */
export function loadNativeBackend(): NativeLoad {
  if (cached) return cached;
  const root = packageRoot();
  if (root === undefined) {
    cached = { error: "cannot find the llama-ts package root" };
    return cached;
  }
  const file = path.join(root, ADDON_FILE);
  if (!existsSync(file)) {
    cached = { error: `the native addon is not built (no ${ADDON_FILE})` };
    return cached;
  }
  try {
    const addon = createRequire(import.meta.url)(file) as Addon;
    cached = { backend: wrap(addon) };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    cached = { error: `the native addon failed to load: ${msg.split("\n")[0]}` };
  }
  return cached;
}

// ---- quantised-weight products (native/quant.c) ----

export interface NativeQuantOps {
  /**
   * out[m×n] = a[m×k] · wᵀ, w quantised (any registry type: src/kernels/quant/); equals quantMatmulReference
   * to float rounding on both native paths (row-by-row block products below qGemmMinRows rows,
   * widened weight panels in the packed gemm from there on).
   */
  qmatmul(out: Float32Array, a: Float32Array, w: QuantMatrix, m: number): void;
  /** The quantised kernel variant in use: "avx512-vnni", "avx2" or "scalar" (follows the ISA). */
  qVariant(): string;
  /**
   * From this many rows of `a` on, qmatmul widens weight panels into the packed float32 gemm
   * (the same 8-bit activations, so the same values to float rounding); below it, block dot
   * products row by row (native/quant.c).
   */
  qGemmMinRows(): number;
}

interface QuantAddon {
  qmatmul(out: Float32Array, a: Float32Array, w: Uint8Array, type: number, m: number, n: number, k: number): void;
  qVariant(): string;
  qGemmMinRows(): number;
}

function wrapQuant(addon: QuantAddon): NativeQuantOps {
  return {
    qmatmul(out, a, w, m) {
      const fn = "qmatmul";
      checkSize(fn, "m", m);
      if (!(w.data instanceof Uint8Array)) throw new TypeError("native qmatmul: w.data must be a Uint8Array");
      const type = GGML_TYPE_ID[w.type];
      if (type === undefined || type === 0) throw new RangeError(`native qmatmul: unknown weight type ${String(w.type)}`);
      const n = w.rows;
      const k = w.cols;
      checkSize(fn, "rows", n); checkSize(fn, "cols", k);
      if (w.data.length < n * rowBytes(w.type, k)) throw new RangeError(`native qmatmul: w.data has ${w.data.length} bytes, ${n} rows of ${k} ${w.type} values need ${n * rowBytes(w.type, k)}`);
      checkData(fn, "out", out, m * n, "m·rows");
      checkData(fn, "a", a, m * k, "m·cols");
      addon.qmatmul(out, a, w.data, type, m, n, k);
    },
    qVariant(): string {
      return addon.qVariant();
    },
    qGemmMinRows(): number {
      return addon.qGemmMinRows();
    },
  };
}
