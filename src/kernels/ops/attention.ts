/**
 * Causal grouped-query attention at inference, for `rows` new queries at positions
 * pos0..pos0+rows-1 against a KV cache that already holds them:
 *
 *   q, out [rows × nHeads × headDim];  k, v [≥ pos0+rows × nKvHeads × headDim]
 *   out_t,h = Σ_{j ≤ pos0+t} softmax_j(q_t,h · k_j,g / sqrt(headDim)) v_j,g,  g = floor(h / (nHeads / nKvHeads))
 *
 * No T×T matrix is kept. Training attention (tiled, with a backward) is attention-train.ts.
 */
import type { CheckSpecs, FloatArray } from "../types.js";
import { data, size } from "./check.js";

export function attention(
  out: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray,
  rows: number, pos0: number, nHeads: number, nKvHeads: number, headDim: number,
): void {
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const kvStride = nKvHeads * headDim;
  const scores = new Float64Array(pos0 + rows);
  for (let t = 0; t < rows; t++) {
    const last = pos0 + t; // causal: keys 0..last
    for (let h = 0; h < nHeads; h++) {
      const kvh = Math.floor(h / group);
      const qo = (t * nHeads + h) * headDim;
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        const ko = j * kvStride + kvh * headDim;
        let s = 0;
        for (let i = 0; i < headDim; i++) s += q[qo + i]! * k[ko + i]!;
        scores[j] = s * scale;
        if (scores[j]! > max) max = scores[j]!;
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) {
        scores[j] = Math.exp(scores[j]! - max);
        sum += scores[j]!;
      }
      for (let i = 0; i < headDim; i++) {
        let acc = 0;
        for (let j = 0; j <= last; j++) acc += scores[j]! * v[j * kvStride + kvh * headDim + i]!;
        out[qo + i] = acc / sum;
      }
    }
  }
}

export const checks: Pick<CheckSpecs, "attention"> = {
  attention(out, q, k, v, rows, pos0, nHeads, nKvHeads, headDim) {
    const fn = "attention";
    size(fn, "rows", rows); size(fn, "pos0", pos0); size(fn, "nHeads", nHeads);
    size(fn, "nKvHeads", nKvHeads); size(fn, "headDim", headDim);
    if (nHeads > 0 && (nKvHeads === 0 || nHeads % nKvHeads !== 0)) {
      throw new RangeError(`${fn}: nHeads (${nHeads}) must be a positive multiple of nKvHeads (${nKvHeads})`);
    }
    data(fn, "out", out, rows * nHeads * headDim, "rows·nHeads·headDim");
    data(fn, "q", q, rows * nHeads * headDim, "rows·nHeads·headDim");
    // the cache is read only when some query row has heads to attend with
    const cache = rows > 0 && nHeads > 0 && headDim > 0 ? (pos0 + rows) * nKvHeads * headDim : 0;
    data(fn, "k", k, cache, "(pos0+rows)·nKvHeads·headDim");
    data(fn, "v", v, cache, "(pos0+rows)·nKvHeads·headDim");
  },
};
