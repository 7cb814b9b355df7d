/** Adapts the data layer's samplers (token file or prepared mixture) to the trainer. */
import fs from "node:fs";
import path from "node:path";
import {
  openTrainingData, readManifest, validationWindows, MANIFEST_FILE, type DataCursor, type Manifest, type WindowOrder,
} from "../data/index.js";
import type { TokenDType } from "../data/types.js";
import type { WindowSource } from "./trainer.js";

export interface OpenedData {
  source: WindowSource;
  manifest: Manifest | undefined;
  close(): void;
}

export function openWindowSource(
  target: string,
  opts: { seqLen: number; order?: WindowOrder; seed?: number; dtype?: TokenDType; cursor?: unknown; valWindowsPerSource?: number },
): OpenedData {
  const isDir = fs.existsSync(target) && fs.statSync(target).isDirectory();
  const manifest = isDir && fs.existsSync(path.join(target, MANIFEST_FILE)) ? readManifest(target) : undefined;
  const sampler = openTrainingData(target, {
    seqLen: opts.seqLen,
    ...(opts.order !== undefined ? { order: opts.order } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.dtype !== undefined ? { dtype: opts.dtype } : {}),
    ...(opts.cursor !== undefined ? { state: opts.cursor as DataCursor } : {}),
  });
  // Held-out windows, all sources interleaved (prepared datasets only).
  let val: Int32Array | undefined;
  let valRows = 0;
  if (manifest) {
    const batches = validationWindows(target, { seqLen: opts.seqLen, maxWindowsPerSource: opts.valWindowsPerSource ?? 64, manifest });
    valRows = batches.reduce((a, b) => a + b.rows, 0);
    val = new Int32Array(valRows * (opts.seqLen + 1));
    let o = 0;
    for (const b of batches) { val.set(b.windows, o); o += b.windows.length; }
  }
  const source: WindowSource = {
    description: path.resolve(target),
    fill(out, firstRow, rows) {
      if (sampler.windowsDrawn !== firstRow) {
        throw new Error(`data sampler is at window ${sampler.windowsDrawn}, the trainer asked for ${firstRow}`);
      }
      sampler.nextBatch(rows, out);
    },
    cursor: () => sampler.state(),
  };
  if (val && valRows > 0) {
    const all = val;
    source.validation = (out, index, rows, T) => {
      if (index === 0 && valRows < rows) {
        // A held-out set smaller than one batch (a small --text corpus): repeat it to fill the batch.
        for (let r = 0; r < rows; r++) out.set(all.subarray((r % valRows) * (T + 1), (r % valRows + 1) * (T + 1)), r * (T + 1));
        return true;
      }
      if (index + rows > valRows) return false;
      out.set(all.subarray(index * (T + 1), (index + rows) * (T + 1)));
      return true;
    };
  }
  return { source, manifest, close: () => sampler.close() };
}
