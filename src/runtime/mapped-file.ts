/**
 * Weight files mapped into memory (Node with the native addon; native/mmap.c): the file's bytes
 * as a read-only Uint8Array over mmap(PROT_READ, MAP_SHARED), so loading costs no read and no
 * copy, pages come from the disk cache when first touched, and processes that load the same file
 * share its physical pages. The mapping lives as long as a view into it does.
 *
 * This is the Node file layer's business only: the format readers take bytes (a view into a
 * mapping or a buffer that was read), and the browser and the reference backend keep plain
 * reads. `LLAMA_TS_MMAP=0` turns mapping off (as llama.cpp's --no-mmap).
 *
 * The bytes are read-only memory: writing through a view faults the process, so loaders give
 * them only to code that reads weights (any rearrangement, e.g. GGUF's q/k row order, copies).
 */
import fs from "node:fs";
import { constants as bufferConstants } from "node:buffer";
import { createRequire } from "node:module";
import { loadNativeBackend, nativeAddonFile } from "../kernels/native.js";
import { UserError } from "../util/errors.js";
import { setExponentScan } from "../formats/gguf-model.js";

/** The largest ArrayBuffer this runtime makes (V8's limit; 4 GiB on Node 20, 2^53 − 1 later). */
const MAX_LENGTH = bufferConstants.MAX_LENGTH;

interface MmapAddon {
  mapFile?(file: string): ArrayBuffer;
  exponentScan?(words: Uint16Array | Uint32Array, mask: number): number;
}

let addon: MmapAddon | null | undefined;

function mmapAddon(): MmapAddon | undefined {
  if (addon === undefined) {
    const file = loadNativeBackend().backend ? nativeAddonFile() : undefined;
    // The same module object the kernels use (require caches it by path).
    const a = file === undefined ? undefined : (createRequire(import.meta.url)(file) as MmapAddon);
    addon = a && typeof a.mapFile === "function" ? a : null;
    // The load-time Inf/NaN scan of every weight at memory speed (gguf-model.ts checkTensorFinite).
    if (a?.exponentScan) setExponentScan(a.exponentScan.bind(a));
  }
  return addon ?? undefined;
}

/** Whether files can be mapped here (addon built, POSIX system, not turned off by LLAMA_TS_MMAP=0). */
export function canMapFiles(): boolean {
  return process.env["LLAMA_TS_MMAP"] !== "0" && mmapAddon() !== undefined;
}

/**
 * The whole file as a read-only mapped Uint8Array, or undefined when mapping is not available
 * or the file is larger than one ArrayBuffer may be here (buffer.constants.MAX_LENGTH: 4 GiB
 * on Node 20): such a file (a 7B f16 GGUF is 13 GB) is read tensor by tensor instead, still
 * kept in its stored type.
 */
export function mapFile(file: string): Uint8Array<ArrayBuffer> | undefined {
  if (!canMapFiles()) return undefined;
  // (a missing file is left to mapFile's own error below)
  if ((fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0) > MAX_LENGTH) return undefined;
  let ab: ArrayBuffer;
  try {
    ab = mmapAddon()!.mapFile!(file);
  } catch (e) {
    throw new UserError(`cannot map ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return new Uint8Array(ab);
}
