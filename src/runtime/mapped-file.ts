/**
 * Weight files mapped into memory (Node with the native addon; native/mmap.c): the file is mapped
 * whole with mmap(PROT_READ, MAP_SHARED) and each tensor is a read-only Uint8Array view over its
 * range, so loading costs no read and no copy, pages come from the disk cache when first touched,
 * and processes that load the same file share its physical pages. Files of any size map: only one
 * tensor must fit in an ArrayBuffer. The mapping lives as long as a view into it does.
 *
 * This is the Node file layer's business only: the format readers take bytes (a view into a
 * mapping or a buffer that was read), and the browser and the reference backend keep plain
 * reads. `LLAMA_TS_MMAP=0` turns mapping off (as llama.cpp's --no-mmap).
 *
 * The bytes are read-only memory: writing through a view faults the process, so loaders give
 * them only to code that reads weights (any rearrangement, e.g. GGUF's q/k row order, copies).
 */
import { constants as bufferConstants } from "node:buffer";
import { createRequire } from "node:module";
import { loadNativeBackend, nativeAddonFile } from "../kernels/native.js";
import { UserError } from "../util/errors.js";
import { setExponentScan } from "../formats/gguf-model.js";

/** The largest ArrayBuffer this runtime makes (V8's limit; 4 GiB on Node 20, 2^53 − 1 later). */
const MAX_LENGTH = bufferConstants.MAX_LENGTH;

/** The addon's handle on one mapping (native/mmap.c): opaque to JS. */
type MappingHandle = object;

interface MmapAddon {
  mapOpen?(file: string): [MappingHandle, number];
  mapView?(handle: MappingHandle, offset: number, length: number): ArrayBuffer;
  exponentScan?(words: Uint16Array | Uint32Array, mask: number): number;
}

let addon: MmapAddon | null | undefined;

function mmapAddon(): MmapAddon | undefined {
  if (addon === undefined) {
    const file = loadNativeBackend().backend ? nativeAddonFile() : undefined;
    // The same module object the kernels use (require caches it by path).
    const a = file === undefined ? undefined : (createRequire(import.meta.url)(file) as MmapAddon);
    addon = a && typeof a.mapOpen === "function" && typeof a.mapView === "function" ? a : null;
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
 * A file mapped read-only, whole, at any size. `view(offset, length)` gives bytes of it without
 * a copy: each view is its own ArrayBuffer over its range, so only a view (one tensor) must fit
 * in an ArrayBuffer (4 GiB on Node 20), not the file. The mapping lives while the MappedFile or
 * any view does.
 */
export interface MappedFile {
  readonly path: string;
  readonly size: number;
  view(offset: number, length: number): Uint8Array<ArrayBuffer>;
}

/** The ArrayBuffers of every view handed out (tests and checks ask isMapped). */
const views = new WeakSet<ArrayBuffer>();

/** Whether these bytes are (part of) a view into a mapped file, not a copy. */
export function isMapped(bytes: ArrayBufferView): boolean {
  return bytes.buffer instanceof ArrayBuffer && views.has(bytes.buffer);
}

/** The file mapped read-only, or undefined when mapping is not available (see canMapFiles). */
export function mapFile(file: string): MappedFile | undefined {
  if (!canMapFiles()) return undefined;
  const a = mmapAddon()!;
  let handle: MappingHandle;
  let size: number;
  try {
    [handle, size] = a.mapOpen!(file);
  } catch (e) {
    throw new UserError(`cannot map ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return {
    path: file,
    size,
    view(offset: number, length: number): Uint8Array<ArrayBuffer> {
      if (length > MAX_LENGTH) {
        throw new UserError(`${file}: a tensor of ${length} bytes at offset ${offset} is larger than this runtime's largest ArrayBuffer (${MAX_LENGTH} bytes); a newer Node.js takes it`);
      }
      const ab = a.mapView!(handle, offset, length);
      views.add(ab);
      return new Uint8Array(ab);
    },
  };
}
