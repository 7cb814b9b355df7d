/** Σ x[i]² over i < n, accumulated in float64: the square of the global gradient norm. */
import type { CheckSpecs, FloatArray } from "../types.js";
import { data, size } from "./check.js";

export function sumSquares(x: FloatArray, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) { const g = x[i]!; s += g * g; }
  return s;
}

export const checks: Pick<CheckSpecs, "sumSquares"> = {
  sumSquares(x, n) {
    const fn = "sumSquares";
    size(fn, "n", n);
    data(fn, "x", x, n, "n");
  },
};
