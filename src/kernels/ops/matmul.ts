/**
 * Matrix products. A linear layer is out = a · wᵀ with w stored [n×k] (PyTorch's layout); its
 * backward needs the two other orientations, so the contract has all three:
 *
 *   matmul    out[m×n]  = a[m×k] · wᵀ               (forward; w [n×k])
 *   matmulNN  out[m×n] (+)= a[m×k] · b[k×n]          (dA = dOut · W: m rows, n = in, k = out features)
 *   matmulTN  out[m×n] (+)= aᵀ · b, a [k×m], b [k×n] (dW += dOutᵀ · A: m = out, n = in, k = rows)
 *   matvec    out[n]    = w[n×k] · x[k]              (decoding: one row)
 *
 * `accumulate` adds to `out` instead of overwriting it (k = 0 then leaves `out` as is).
 * References: float64 sums, any float storage.
 */
import type { CheckSpecs, FloatArray } from "../types.js";
import { bool, data, size } from "./check.js";

export function matmul(out: FloatArray, a: FloatArray, w: FloatArray, m: number, n: number, k: number): void {
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const wj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ai + p]! * w[wj + p]!;
      out[i * n + j] = s;
    }
  }
}

/** out[m×n] (+)= A · b[k×n], A[i][p] = a[i·ai + p·ap]: matmulNN and matmulTN differ only in a's strides. */
function product(
  out: FloatArray, a: FloatArray, ai: number, ap: number, b: FloatArray, m: number, n: number, k: number, accumulate: boolean,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * ai + p * ap]! * b[p * n + j]!;
      out[i * n + j] = accumulate ? out[i * n + j]! + s : s;
    }
  }
}

export function matmulNN(out: FloatArray, a: FloatArray, b: FloatArray, m: number, n: number, k: number, accumulate: boolean): void {
  product(out, a, k, 1, b, m, n, k, accumulate);
}

export function matmulTN(out: FloatArray, a: FloatArray, b: FloatArray, m: number, n: number, k: number, accumulate: boolean): void {
  product(out, a, 1, m, b, m, n, k, accumulate);
}

export function matvec(out: FloatArray, w: FloatArray, x: FloatArray, n: number, k: number): void {
  matmul(out, x, w, 1, n, k);
}

function variant(fn: "matmulNN" | "matmulTN", out: unknown, a: unknown, b: unknown, m: number, n: number, k: number, accumulate: unknown): void {
  size(fn, "m", m); size(fn, "n", n); size(fn, "k", k); bool(fn, "accumulate", accumulate);
  data(fn, "out", out, m * n, "m·n");
  data(fn, "a", a, m * k, fn === "matmulNN" ? "m·k" : "k·m");
  data(fn, "b", b, k * n, "k·n");
}

export const checks: Pick<CheckSpecs, "matmul" | "matmulNN" | "matmulTN" | "matvec"> = {
  matmul(out, a, w, m, n, k) {
    const fn = "matmul";
    size(fn, "m", m); size(fn, "n", n); size(fn, "k", k);
    data(fn, "out", out, m * n, "m·n"); data(fn, "a", a, m * k, "m·k"); data(fn, "w", w, n * k, "n·k");
  },
  matmulNN: (out, a, b, m, n, k, accumulate) => variant("matmulNN", out, a, b, m, n, k, accumulate),
  matmulTN: (out, a, b, m, n, k, accumulate) => variant("matmulTN", out, a, b, m, n, k, accumulate),
  matvec(out, w, x, n, k) {
    const fn = "matvec";
    size(fn, "n", n); size(fn, "k", k);
    data(fn, "out", out, n, "n"); data(fn, "w", w, n * k, "n·k"); data(fn, "x", x, k, "k");
  },
};
