/**
 * Loader and wrapper for the native (C, Node-API) kernel backend: `build/Release/llama_ts_native.node`,
 * built from native/*.c by node-gyp at install time (scripts/build-native.mjs).
 *
 * This module only loads the addon and maps its exports onto the kernel contract (types.ts):
 * the ops keep their names, except AdamW (`adamw` in C) and qmatmul (the addon takes the raw
 * blocks and a GGML type id). `checked` (checked.ts) puts the ops' argument checks in front, so
 * a bad call throws before it reaches C; the addon repeats the checks. Subarray views are fine
 * (their byteOffset is used).
 *
 * The instruction set (AVX-512, AVX2+FMA or portable C) is picked at load from what the CPU
 * supports; LLAMA_TS_ISA=avx512|avx2|scalar forces one, and `setIsa` switches later (tests).
 * Threads and ISA are process-wide: there is one native backend object per process.
 */
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Backend, KernelOps } from "./types.js";
import { GGML_TYPE_ID } from "./quant.js";
import { checked } from "./checked.js";
import { OP_NAMES } from "./ops/index.js";

export type Isa = "avx512" | "avx2" | "scalar";

export interface NativeBackend extends Backend {
  readonly name: "native";
  /** The instruction set the kernels run on now. */
  readonly isa: Isa;
  /** The instruction sets this CPU can run, best first ("scalar" always). */
  readonly supportedIsas: readonly Isa[];
  /** Switches the instruction set (process-wide); throws if the CPU lacks it. */
  setIsa(isa: Isa): void;
  /** The quantised kernel variant in use: "avx512-vnni", "avx2" or "scalar" (follows the ISA). */
  qVariant(): string;
  /**
   * From this many rows of `a` on, qmatmul widens weight panels into the packed float32 gemm
   * (the same 8-bit activations, so the same values to float rounding); below it, block dot
   * products row by row (native/quant.c).
   */
  qGemmMinRows(): number;
}

export interface NativeLoad {
  backend?: NativeBackend;
  error?: string;
}

/** The addon's own exports: the contract's ops under their names, AdamW and qmatmul as C takes them. */
type Addon = Omit<KernelOps, "adamwSegment" | "qmatmul" | "qmatmulMany"> & {
  adamw: KernelOps["adamwSegment"];
  qmatmul(out: Float32Array, a: Float32Array, w: Uint8Array, type: number, m: number, n: number, k: number): void;
  qmatmulMulti(outs: Float32Array[], a: Float32Array, ws: Uint8Array[], types: number[], ns: number[], m: number, k: number): void;
  setThreads(n: number): number;
  getThreads(): number;
  getIsa(): string;
  setIsa(isa: string): void;
  supportedIsas(): string[];
  qVariant(): string;
  qGemmMinRows(): number;
};

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

function isIsa(s: string): s is Isa {
  return s === "avx512" || s === "avx2" || s === "scalar";
}

/** The addon as a backend: its ops mapped onto the contract's names, then checked. */
function wrap(addon: Addon): NativeBackend {
  const ops = Object.fromEntries(OP_NAMES.map((op) => [op, (addon as unknown as Record<string, unknown>)[op]])) as unknown as KernelOps;
  return checked<NativeBackend>({
    ...ops,
    adamwSegment: addon.adamw,
    // the check spec (ops/qmatmul.ts) has made sure the type has an id
    qmatmul: (out, a, w, m) => addon.qmatmul(out, a, w.data, GGML_TYPE_ID[w.type]!, m, w.rows, w.cols),
    qmatmulMany: (outs, a, ws, m) => {
      if (ws.length === 0) return;
      addon.qmatmulMulti(outs as Float32Array[], a, ws.map((w) => w.data), ws.map((w) => GGML_TYPE_ID[w.type]!), ws.map((w) => w.rows), m, ws[0]!.cols);
    },
    name: "native",
    get threads(): number {
      return addon.getThreads();
    },
    setThreads(n: number): void {
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
    qVariant: () => addon.qVariant(),
    qGemmMinRows: () => addon.qGemmMinRows(),
  });
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
