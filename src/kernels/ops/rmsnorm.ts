/**
 * RMSNorm over `rows` rows of `dim`, forward and backward. With ρ_r = invRms[r] =
 * 1 / sqrt(mean_i x[r,i]² + eps) and w = weight [dim]:
 *
 *   out[r,i] = x[r,i] · ρ_r · w_i                              (rmsnorm; rmsnormStats also saves ρ)
 *   rmsnormApply: the same output from the saved ρ (training keeps only ρ, `rows` numbers)
 *
 * Backward, g = dOut[r], using ∂ρ/∂x_j = −ρ³ x_j / dim:
 *
 *   dx_j      = ρ w_j g_j − (ρ³ / dim) · x_j · Σ_i g_i w_i x_i   (overwritten, or added when `accumulate`)
 *   dWeight_i += Σ_r g_i x_i ρ                                  (always accumulates; null skips it)
 *
 * `out` may be `x` (in place); `dx` may alias `dOut` only when `accumulate` is false.
 */
import type { CheckSpecs, FloatArray } from "../types.js";
import { bool, data, finite, size } from "./check.js";

export function rmsnormStats(
  out: FloatArray, invRms: FloatArray | null, x: FloatArray, weight: FloatArray, rows: number, dim: number, eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[o + i]! * x[o + i]!;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    if (invRms !== null) invRms[r] = inv;
    for (let i = 0; i < dim; i++) out[o + i] = x[o + i]! * inv * weight[i]!;
  }
}

export function rmsnorm(out: FloatArray, x: FloatArray, weight: FloatArray, rows: number, dim: number, eps: number): void {
  rmsnormStats(out, null, x, weight, rows, dim, eps);
}

export function rmsnormApply(
  out: FloatArray, x: FloatArray, weight: FloatArray, invRms: FloatArray, rows: number, dim: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    const inv = invRms[r]!;
    for (let i = 0; i < dim; i++) out[o + i] = x[o + i]! * inv * weight[i]!;
  }
}

export function rmsnormBackward(
  dx: FloatArray, dWeight: FloatArray | null, dOut: FloatArray, x: FloatArray, weight: FloatArray,
  invRms: FloatArray, rows: number, dim: number, accumulate = false,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    const rho = invRms[r]!;
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += dOut[o + i]! * weight[i]! * x[o + i]!;
    const c = (rho * rho * rho * dot) / dim;
    if (dWeight !== null) {
      for (let i = 0; i < dim; i++) dWeight[i] = dWeight[i]! + dOut[o + i]! * x[o + i]! * rho;
    }
    for (let i = 0; i < dim; i++) {
      const g = rho * weight[i]! * dOut[o + i]! - c * x[o + i]!;
      dx[o + i] = accumulate ? dx[o + i]! + g : g;
    }
  }
}

/** out, x [rows×dim] and weight [dim], the arrays every RMSNorm op reads or writes. */
function rowsAndWeight(fn: string, out: unknown, outName: string, x: unknown, weight: unknown, rows: number, dim: number): void {
  data(fn, outName, out, rows * dim, "rows·dim");
  data(fn, "x", x, rows * dim, "rows·dim");
  data(fn, "weight", weight, dim, "dim");
}

export const checks: Pick<CheckSpecs, "rmsnorm" | "rmsnormStats" | "rmsnormApply" | "rmsnormBackward"> = {
  rmsnorm(out, x, weight, rows, dim, eps) {
    const fn = "rmsnorm";
    size(fn, "rows", rows); size(fn, "dim", dim);
    if (typeof eps !== "number" || !(eps >= 0) || eps === Infinity) {
      throw new RangeError(`${fn}: eps must be a finite number >= 0, got ${String(eps)}`);
    }
    rowsAndWeight(fn, out, "out", x, weight, rows, dim);
  },
  rmsnormStats(out, invRms, x, weight, rows, dim, eps) {
    const fn = "rmsnormStats";
    size(fn, "rows", rows); size(fn, "dim", dim); finite(fn, "eps", eps);
    rowsAndWeight(fn, out, "out", x, weight, rows, dim);
    data(fn, "invRms", invRms, rows, "rows");
  },
  rmsnormApply(out, x, weight, invRms, rows, dim) {
    const fn = "rmsnormApply";
    size(fn, "rows", rows); size(fn, "dim", dim);
    rowsAndWeight(fn, out, "out", x, weight, rows, dim);
    data(fn, "invRms", invRms, rows, "rows");
  },
  rmsnormBackward(dx, dWeight, dOut, x, weight, invRms, rows, dim, accumulate) {
    const fn = "rmsnormBackward";
    size(fn, "rows", rows); size(fn, "dim", dim); bool(fn, "accumulate", accumulate);
    rowsAndWeight(fn, dx, "dx", x, weight, rows, dim);
    if (dWeight !== null) data(fn, "dWeight", dWeight, dim, "dim");
    data(fn, "dOut", dOut, rows * dim, "rows·dim");
    data(fn, "invRms", invRms, rows, "rows");
  },
};
