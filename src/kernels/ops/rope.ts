/**
 * Rotary position embedding, in place, Hugging Face rotate_half layout. `x` holds `rows`
 * positions of `nHeads` heads of `headDim` (even); row t has position p = pos0 + t; `cos`/`sin`
 * are tables [maxPos × half], half = headDim / 2. Within each head the pair (x_i, x_{i+half}) is
 * rotated by θ = p·θ_i:
 *
 *   y_i = x_i cos θ − x_{i+half} sin θ,   y_{i+half} = x_{i+half} cos θ + x_i sin θ
 *
 * Backward: a rotation is orthogonal, so the gradient is rotated back by −θ:
 *
 *   dx_i = dy_i cos θ + dy_{i+half} sin θ,   dx_{i+half} = dy_{i+half} cos θ − dy_i sin θ
 *
 * which is `rope` itself with the sin table negated (exactly, in floating point too): backends
 * implement only the forward and the training graph passes −sin.
 */
import type { CheckSpecs, FloatArray } from "../types.js";
import { data, size } from "./check.js";

export function rope(
  x: FloatArray, rows: number, nHeads: number, headDim: number, pos0: number, cos: FloatArray, sin: FloatArray,
): void {
  const half = headDim / 2;
  for (let t = 0; t < rows; t++) {
    const table = (pos0 + t) * half;
    for (let h = 0; h < nHeads; h++) {
      const base = (t * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[table + i]!;
        const s = sin[table + i]!;
        const x1 = x[base + i]!;
        const x2 = x[base + i + half]!;
        x[base + i] = x1 * c - x2 * s;
        x[base + i + half] = x2 * c + x1 * s;
      }
    }
  }
}

/** The backward written out (the reference that `rope` with −sin is tested against). */
export function ropeBackward(
  dx: FloatArray, rows: number, nHeads: number, headDim: number, pos0: number, cos: FloatArray, sin: FloatArray,
): void {
  const half = headDim / 2;
  for (let t = 0; t < rows; t++) {
    const table = (pos0 + t) * half;
    for (let h = 0; h < nHeads; h++) {
      const base = (t * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[table + i]!;
        const s = sin[table + i]!;
        const g1 = dx[base + i]!;
        const g2 = dx[base + i + half]!;
        dx[base + i] = g1 * c + g2 * s;
        dx[base + i + half] = g2 * c - g1 * s;
      }
    }
  }
}

export const checks: Pick<CheckSpecs, "rope"> = {
  rope(x, rows, nHeads, headDim, pos0, cos, sin) {
    const fn = "rope";
    size(fn, "rows", rows); size(fn, "nHeads", nHeads); size(fn, "headDim", headDim); size(fn, "pos0", pos0);
    if (headDim % 2 !== 0) throw new RangeError(`${fn}: headDim must be even, got ${headDim}`);
    data(fn, "x", x, rows * nHeads * headDim, "rows·nHeads·headDim");
    // the tables are read only when there is something to rotate
    const table = rows > 0 && headDim > 0 ? (pos0 + rows) * (headDim / 2) : 0;
    data(fn, "cos", cos, table, "(pos0+rows)·headDim/2");
    data(fn, "sin", sin, table, "(pos0+rows)·headDim/2");
  },
};
