/**
 * The kernel contract: every op a backend implements, under one name and one signature. A
 * kernel is a plain function over typed arrays and sizes: no tensor objects, no allocation.
 * Matrices are row-major; linear-layer weights are stored as PyTorch stores them,
 * [out_features × in_features], so every linear layer is `x · Wᵀ`.
 *
 * Each op's formula, layouts, reference implementation (forward and backward side by side) and
 * argument-check spec live in its module under ops/ (named per method below). Backends
 * (reference, native, ...) implement every op; `checked` (checked.ts) applies the check specs
 * in front of any implementation, and `getBackend` (backend.ts) picks the one in use.
 *
 * The reference ops accept Float32Array or Float64Array (float64 is what finite-difference
 * gradient checks run in); backends work on Float32Array. Accumulation convention of the
 * training ops: parameter gradients always accumulate; activation gradients are overwritten
 * unless the op's trailing `accumulate` flag is true.
 */
import type { QuantMatrix } from "./quant.js";

export type FloatArray = Float32Array | Float64Array;

export interface KernelOps<F extends FloatArray = Float32Array> {
  /** out[m×n] = a[m×k] · wᵀ, w stored [n×k] (ops/matmul.ts). */
  matmul(out: F, a: F, w: F, m: number, n: number, k: number): void;
  /** out[m×n] (+)= a[m×k] · b[k×n]: a linear layer's dA = dOut · W (ops/matmul.ts). */
  matmulNN(out: F, a: F, b: F, m: number, n: number, k: number, accumulate: boolean): void;
  /** out[m×n] (+)= aᵀ · b with a [k×m], b [k×n]: a linear layer's dW += dOutᵀ · A (ops/matmul.ts). */
  matmulTN(out: F, a: F, b: F, m: number, n: number, k: number, accumulate: boolean): void;
  /** out[n] = w[n×k] · x[k]: the decoding-time product (ops/matmul.ts). */
  matvec(out: F, w: F, x: F, n: number, k: number): void;
  /** out[m×n] = a[m×k] · wᵀ with w [n×k] quantised in GGUF blocks (ops/qmatmul.ts). */
  qmatmul(out: Float32Array, a: Float32Array, w: QuantMatrix, m: number): void;
  /**
   * qmatmul for up to 16 matrices that read the same a[m×k] (q/k/v, gate/up): outs[i] = a · ws[i]ᵀ,
   * each equal to qmatmul(outs[i], a, ws[i], m) bit for bit; a fast backend quantises a once and
   * makes all rows one threaded job (ops/qmatmul.ts).
   */
  qmatmulMany(outs: readonly Float32Array[], a: Float32Array, ws: readonly QuantMatrix[], m: number): void;
  /** out[r] = x[r] / rms(x[r]) · weight over `rows` rows of `dim` (ops/rmsnorm.ts). */
  rmsnorm(out: F, x: F, weight: F, rows: number, dim: number, eps: number): void;
  /** rmsnorm that also saves invRms[r] = 1 / rms(x[r]) for the backward (ops/rmsnorm.ts). */
  rmsnormStats(out: F, invRms: F, x: F, weight: F, rows: number, dim: number, eps: number): void;
  /** rmsnorm's output again from the saved invRms (ops/rmsnorm.ts). */
  rmsnormApply(out: F, x: F, weight: F, invRms: F, rows: number, dim: number): void;
  /** rmsnorm's backward: dx (+)= ..., dWeight += ... (dWeight may be null) (ops/rmsnorm.ts). */
  rmsnormBackward(
    dx: F, dWeight: F | null, dOut: F, x: F, weight: F, invRms: F, rows: number, dim: number, accumulate: boolean,
  ): void;
  /** Rotary embedding in place, rotate_half layout; with `sin` negated it is its own backward (ops/rope.ts). */
  rope(x: F, rows: number, nHeads: number, headDim: number, pos0: number, cos: F, sin: F): void;
  /** Causal grouped-query attention of `rows` new queries against a KV cache (ops/attention.ts). */
  attention(
    out: F, q: F, k: F, v: F, rows: number, pos0: number, nHeads: number, nKvHeads: number, headDim: number,
  ): void;
  /** Tiled causal attention of `batch` sequences of T rows, saving lse (ops/attention-train.ts). */
  attentionTrainForward(
    out: F, lse: F, q: F, k: F, v: F, batch: number, T: number, nHeads: number, nKvHeads: number, headDim: number,
  ): void;
  /** attentionTrainForward's backward: dq, dk, dv (+)= ... (ops/attention-train.ts). */
  attentionTrainBackward(
    dq: F, dk: F, dv: F, dOut: F, q: F, k: F, v: F, out: F, lse: F,
    batch: number, T: number, nHeads: number, nKvHeads: number, headDim: number, accumulate: boolean,
  ): void;
  /** out[i] = silu(gate[i]) · up[i] (ops/swiglu.ts). */
  swiglu(out: F, gate: F, up: F, n: number): void;
  /** swiglu's backward: dGate, dUp overwritten (ops/swiglu.ts). */
  swigluBackward(dGate: F, dUp: F, dOut: F, gate: F, up: F, n: number): void;
  /** x[i] += y[i] (ops/add.ts). */
  addInPlace(x: F, y: F, n: number): void;
  /** Fused softmax + cross-entropy in place over rows × vocab logits; returns Σ loss / totalCount (ops/cross-entropy.ts). */
  crossEntropy(logits: F, targets: Int32Array, rows: number, vocab: number, totalCount: number): number;
  /** One AdamW pass over params[start, end) with a fixed decay factor (ops/adamw.ts). */
  adamwSegment(
    params: F, grads: F, m: F, v: F, start: number, end: number,
    decayFactor: number, gradScale: number, beta1: number, beta2: number, eps: number, stepSize: number, bc2Sqrt: number,
  ): void;
  /** Σ x[i]² over i < n in float64 (ops/sum-squares.ts). */
  sumSquares(x: F, n: number): number;
}

export type OpName = keyof KernelOps;

/** One argument check per op, with the op's own signature (throws, never returns a value). */
export type CheckSpecs = { [K in OpName]: (...args: Parameters<KernelOps[K]>) => void };

/** A backend: every op on Float32Array, under a name, with a thread count. */
export interface Backend extends KernelOps<Float32Array> {
  /** The name LLAMA_TS_BACKEND selects it by ("reference", "native", ...). */
  readonly name: string;
  /** Threads the backend uses (1 for the reference backend). */
  readonly threads: number;
  setThreads(n: number): void;
}
