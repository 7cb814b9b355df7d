/**
 * The kernel contract. A kernel is a plain function over typed arrays and sizes: no tensor
 * objects, no allocation. Matrices are row-major. Linear-layer weights are stored as PyTorch
 * stores them, [out_features × in_features], so every linear layer is `x · Wᵀ`.
 *
 * Reference kernels accept Float32Array or Float64Array (float64 is what finite-difference
 * gradient checks run in); fast backends work on Float32Array only.
 */
import type { QuantMatrix } from "./quant.js";

export type FloatArray = Float32Array | Float64Array;

export interface Kernels<F extends FloatArray = Float32Array> {
  /** out[m×n] = a[m×k] · wᵀ, with w stored [n×k]. */
  matmul(out: F, a: F, w: F, m: number, n: number, k: number): void;
  /** out[n] = w[n×k] · x[k]: the decoding-time product (one token). */
  matvec(out: F, w: F, x: F, n: number, k: number): void;
  /** out[r] = x[r] / rms(x[r]) · weight, rms(v) = sqrt(mean(v²) + eps), over `rows` rows of `dim`. */
  rmsnorm(out: F, x: F, weight: F, rows: number, dim: number, eps: number): void;
  /**
   * Rotary position embedding, in place, Hugging Face rotate_half layout: within each head the
   * pair (i, i + half) is rotated by angle pos·θ_i. `x` holds `rows` positions of `nHeads`
   * heads of `headDim`; row t has position `pos0 + t`. `cos`/`sin` are tables [maxPos × half].
   */
  rope(x: F, rows: number, nHeads: number, headDim: number, pos0: number, cos: F, sin: F): void;
  /**
   * Causal grouped-query attention for `rows` new queries at positions pos0..pos0+rows-1.
   * q: [rows × nHeads × headDim]; k, v: [>= pos0+rows × nKvHeads × headDim] (the KV cache,
   * already holding the new rows); out: [rows × nHeads × headDim]. Query head h reads kv head
   * floor(h / (nHeads / nKvHeads)). Scores are scaled by 1/sqrt(headDim); no T×T matrix is kept.
   */
  attention(
    out: F, q: F, k: F, v: F,
    rows: number, pos0: number, nHeads: number, nKvHeads: number, headDim: number,
  ): void;
  /** out[i] = silu(gate[i]) · up[i] (SwiGLU's gating), silu(x) = x·sigmoid(x). */
  swiglu(out: F, gate: F, up: F, n: number): void;
  /** x[i] += y[i] (the residual stream). */
  addInPlace(x: F, y: F, n: number): void;
}

export interface Backend extends Kernels<Float32Array> {
  /**
   * out[m×n] = a[m×k] · wᵀ with w [n×k] stored quantised (a registry type in GGUF blocks: src/kernels/quant/); see
   * kernels/quant.ts for the numerics. Optional: without it the model uses the TS reference.
   */
  qmatmul?(out: Float32Array, a: Float32Array, w: QuantMatrix, m: number): void;
  readonly name: "reference" | "native" | "wasm";
  /** Threads the backend uses (1 for the reference backend). */
  readonly threads: number;
  setThreads(n: number): void;
}
