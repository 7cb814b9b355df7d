/**
 * Token embedding: a gather forward and a scatter-add backward over a [vocab × dim] table.
 * Not a backend op: both are memory copies that every backend runs in TypeScript.
 *
 *   out[t] = table[ids[t]]           dTable[ids[t]] += dOut[t]   (always accumulates; repeated ids add up)
 */
import type { FloatArray } from "../types.js";

/** Token ids: any array-like of integers (Int32Array, Uint32Array, Uint16Array, number[]). */
export type TokenIds = ArrayLike<number>;

export function embeddingForward(out: FloatArray, table: FloatArray, ids: TokenIds, n: number, dim: number): void {
  for (let t = 0; t < n; t++) {
    const src = ids[t]! * dim;
    const dst = t * dim;
    for (let i = 0; i < dim; i++) out[dst + i] = table[src + i]!;
  }
}

export function embeddingBackward(dTable: FloatArray, dOut: FloatArray, ids: TokenIds, n: number, dim: number): void {
  for (let t = 0; t < n; t++) {
    const dst = ids[t]! * dim;
    const src = t * dim;
    for (let i = 0; i < dim; i++) dTable[dst + i] = dTable[dst + i]! + dOut[src + i]!;
  }
}
