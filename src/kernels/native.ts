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

export type Isa = "avx512" | "avx2" | "scalar";

export interface NativeBackend extends Backend {
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
interface Addon {
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

function checkArray(fn: string, name: string, a: unknown): void {
  if (!(a instanceof Float32Array)) {
    throw new TypeError(`native ${fn}: ${name} must be a Float32Array, got ${a === null ? "null" : typeof a === "object" ? a.constructor.name : typeof a}`);
  }
}

function checkSize(fn: string, name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`native ${fn}: ${name} must be a non-negative integer, got ${String(v)}`);
  }
}

function checkLength(fn: string, name: string, a: Float32Array, need: number, formula: string): void {
  if (a.length < need) {
    throw new RangeError(`native ${fn}: ${name} has ${a.length} elements, needs ${formula} = ${need}`);
  }
}

function isIsa(s: string): s is Isa {
  return s === "avx512" || s === "avx2" || s === "scalar";
}

function wrap(addon: Addon): NativeBackend {
  const backend: NativeBackend = {
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
      checkArray(fn, "out", out); checkArray(fn, "a", a); checkArray(fn, "w", w);
      checkSize(fn, "m", m); checkSize(fn, "n", n); checkSize(fn, "k", k);
      checkLength(fn, "out", out, m * n, "m·n");
      checkLength(fn, "a", a, m * k, "m·k");
      checkLength(fn, "w", w, n * k, "n·k");
      addon.matmul(out, a, w, m, n, k);
    },
    matvec(out, w, x, n, k) {
      const fn = "matvec";
      checkArray(fn, "out", out); checkArray(fn, "w", w); checkArray(fn, "x", x);
      checkSize(fn, "n", n); checkSize(fn, "k", k);
      checkLength(fn, "out", out, n, "n");
      checkLength(fn, "w", w, n * k, "n·k");
      checkLength(fn, "x", x, k, "k");
      addon.matvec(out, w, x, n, k);
    },
    rmsnorm(out, x, weight, rows, dim, eps) {
      const fn = "rmsnorm";
      checkArray(fn, "out", out); checkArray(fn, "x", x); checkArray(fn, "weight", weight);
      checkSize(fn, "rows", rows); checkSize(fn, "dim", dim);
      if (typeof eps !== "number" || !(eps >= 0) || eps === Infinity) {
        throw new RangeError(`native ${fn}: eps must be a finite number >= 0, got ${String(eps)}`);
      }
      checkLength(fn, "out", out, rows * dim, "rows·dim");
      checkLength(fn, "x", x, rows * dim, "rows·dim");
      checkLength(fn, "weight", weight, dim, "dim");
      addon.rmsnorm(out, x, weight, rows, dim, eps);
    },
    rope(x, rows, nHeads, headDim, pos0, cos, sin) {
      const fn = "rope";
      checkArray(fn, "x", x); checkArray(fn, "cos", cos); checkArray(fn, "sin", sin);
      checkSize(fn, "rows", rows); checkSize(fn, "nHeads", nHeads); checkSize(fn, "headDim", headDim); checkSize(fn, "pos0", pos0);
      if (headDim % 2 !== 0) throw new RangeError(`native ${fn}: headDim must be even, got ${headDim}`);
      checkLength(fn, "x", x, rows * nHeads * headDim, "rows·nHeads·headDim");
      if (rows > 0 && headDim > 0) {
        const need = (pos0 + rows) * (headDim / 2);
        checkLength(fn, "cos", cos, need, "(pos0+rows)·headDim/2");
        checkLength(fn, "sin", sin, need, "(pos0+rows)·headDim/2");
      }
      addon.rope(x, rows, nHeads, headDim, pos0, cos, sin);
    },
    attention(out, q, k, v, rows, pos0, nHeads, nKvHeads, headDim) {
      const fn = "attention";
      checkArray(fn, "out", out); checkArray(fn, "q", q); checkArray(fn, "k", k); checkArray(fn, "v", v);
      checkSize(fn, "rows", rows); checkSize(fn, "pos0", pos0); checkSize(fn, "nHeads", nHeads);
      checkSize(fn, "nKvHeads", nKvHeads); checkSize(fn, "headDim", headDim);
      if (nHeads > 0 && (nKvHeads === 0 || nHeads % nKvHeads !== 0)) {
        throw new RangeError(`native ${fn}: nHeads (${nHeads}) must be a positive multiple of nKvHeads (${nKvHeads})`);
      }
      checkLength(fn, "out", out, rows * nHeads * headDim, "rows·nHeads·headDim");
      checkLength(fn, "q", q, rows * nHeads * headDim, "rows·nHeads·headDim");
      if (rows > 0 && nHeads > 0 && headDim > 0) {
        const need = (pos0 + rows) * nKvHeads * headDim;
        checkLength(fn, "k", k, need, "(pos0+rows)·nKvHeads·headDim");
        checkLength(fn, "v", v, need, "(pos0+rows)·nKvHeads·headDim");
      }
      addon.attention(out, q, k, v, rows, pos0, nHeads, nKvHeads, headDim);
    },
    swiglu(out, gate, up, n) {
      const fn = "swiglu";
      checkArray(fn, "out", out); checkArray(fn, "gate", gate); checkArray(fn, "up", up);
      checkSize(fn, "n", n);
      checkLength(fn, "out", out, n, "n");
      checkLength(fn, "gate", gate, n, "n");
      checkLength(fn, "up", up, n, "n");
      addon.swiglu(out, gate, up, n);
    },
    addInPlace(x, y, n) {
      const fn = "addInPlace";
      checkArray(fn, "x", x); checkArray(fn, "y", y);
      checkSize(fn, "n", n);
      checkLength(fn, "x", x, n, "n");
      checkLength(fn, "y", y, n, "n");
      addon.addInPlace(x, y, n);
    },
  };
  return backend;
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
