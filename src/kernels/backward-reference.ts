/**
 * Reference backward kernels: plain TypeScript, written to be obviously right, generic over
 * Float32Array | Float64Array (float64 is what the finite-difference checks run in). Each
 * backward sits beside the forward it differentiates, and each states its math.
 *
 * Accumulation convention (the same in every training kernel):
 * - **parameter gradients always accumulate** (`dW += ...`, `dWeight += ...`, `dTable += ...`):
 *   gradient accumulation over micro-batches and weights shared between uses need `+=`; the
 *   caller zeroes the gradient buffer once per optimiser step;
 * - **activation gradients are overwritten** (`dx = ...`) unless the kernel's trailing
 *   `accumulate` flag is true, in which case they are added (`dx += ...`): that is how the
 *   residual stream and an input read by several projections (q, k, v) collect their gradient.
 *
 * Layouts follow `types.ts`: matrices row-major, linear weights [out × in] (a linear layer is
 * `x · Wᵀ`).
 */
import type { FloatArray } from "./types.js";

/** Token ids: any array-like of integers (Int32Array, Uint32Array, Uint16Array, number[]). */
export type TokenIds = ArrayLike<number>;

// ---------------------------------------------------------------------------------------------
// Linear layer
// ---------------------------------------------------------------------------------------------

/**
 * Backward of `out[m×n] = a[m×k] · wᵀ` (w stored [n×k]):
 *
 *   dA[m×k] = dOut[m×n] · w[n×k]        (overwritten, or added when `accumulate`)
 *   dW[n×k] += dOut[m×n]ᵀ · a[m×k]      (always accumulates)
 *
 * Either output may be null to skip it (e.g. no dA for the first layer's input).
 */
export function matmulBackward(
  dA: FloatArray | null, dW: FloatArray | null, dOut: FloatArray, a: FloatArray, w: FloatArray,
  m: number, n: number, k: number, accumulate: boolean,
): void {
  if (dA !== null) {
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < k; p++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += dOut[i * n + j]! * w[j * k + p]!;
        dA[i * k + p] = accumulate ? dA[i * k + p]! + s : s;
      }
    }
  }
  if (dW !== null) {
    for (let j = 0; j < n; j++) {
      for (let p = 0; p < k; p++) {
        let s = 0;
        for (let i = 0; i < m; i++) s += dOut[i * n + j]! * a[i * k + p]!;
        dW[j * k + p] = dW[j * k + p]! + s;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm
// ---------------------------------------------------------------------------------------------

/**
 * RMSNorm forward that also saves the per-row statistic the backward needs:
 *
 *   invRms[r] = 1 / sqrt(mean_i x[r,i]² + eps),   out[r,i] = x[r,i] · invRms[r] · weight[i]
 *
 * Training keeps only `invRms` (`rows` numbers); the normalised output is recomputed from it
 * with {@link rmsnormApply} when the backward needs it.
 */
export function rmsnormForwardStats(
  out: FloatArray, invRms: FloatArray, x: FloatArray, weight: FloatArray, rows: number, dim: number, eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[o + i]! * x[o + i]!;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    invRms[r] = inv;
    for (let i = 0; i < dim; i++) out[o + i] = x[o + i]! * inv * weight[i]!;
  }
}

/** Recomputes the RMSNorm output from the saved statistic: out[r,i] = x[r,i] · invRms[r] · weight[i]. */
export function rmsnormApply(
  out: FloatArray, x: FloatArray, weight: FloatArray, invRms: FloatArray, rows: number, dim: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    const inv = invRms[r]!;
    for (let i = 0; i < dim; i++) out[o + i] = x[o + i]! * inv * weight[i]!;
  }
}

/**
 * Backward of RMSNorm using the saved `invRms` (ρ = invRms[r], g = dOut[r], w = weight):
 *
 *   y_i = x_i ρ w_i,  ∂ρ/∂x_j = −ρ³ x_j / dim
 *   dx_j = ρ w_j g_j − (ρ³ / dim) · x_j · Σ_i g_i w_i x_i      (overwritten, or added when `accumulate`)
 *   dWeight_i += Σ_r g_i x_i ρ                                    (always accumulates)
 *
 * `dx` may alias `dOut` only when `accumulate` is false.
 */
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

// ---------------------------------------------------------------------------------------------
// RoPE
// ---------------------------------------------------------------------------------------------

/**
 * Backward of RoPE (Hugging Face rotate_half layout), in place on the gradient. The forward
 * rotates each pair (x_i, x_{i+half}) by angle θ = pos·θ_i, an orthogonal map, so its backward
 * is the transpose, a rotation by −θ:
 *
 *   dx_i      =  dy_i · cos θ + dy_{i+half} · sin θ
 *   dx_{i+half} = −dy_i · sin θ + dy_{i+half} · cos θ
 *
 * Arguments as in the forward `rope` (row t has position pos0 + t; tables [maxPos × half]).
 */
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

// ---------------------------------------------------------------------------------------------
// SwiGLU
// ---------------------------------------------------------------------------------------------

/**
 * Backward of `out = silu(gate) · up`, σ the logistic function, silu(g) = g σ(g):
 *
 *   dUp   = dOut · silu(gate)
 *   dGate = dOut · up · σ(gate) · (1 + gate · (1 − σ(gate)))
 *
 * Both are overwritten. `dGate` or `dUp` may alias `dOut` (each element is read before written).
 */
export function swigluBackward(
  dGate: FloatArray, dUp: FloatArray, dOut: FloatArray, gate: FloatArray, up: FloatArray, n: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    const u = up[i]!;
    const d = dOut[i]!;
    const sig = 1 / (1 + Math.exp(-g));
    dUp[i] = d * g * sig;
    dGate[i] = d * u * sig * (1 + g * (1 - sig));
  }
}

// ---------------------------------------------------------------------------------------------
// Token embedding
// ---------------------------------------------------------------------------------------------

/** out[t] = table[ids[t]] for t < n: rows of a [vocab × dim] table. */
export function embeddingForward(out: FloatArray, table: FloatArray, ids: TokenIds, n: number, dim: number): void {
  for (let t = 0; t < n; t++) {
    const src = ids[t]! * dim;
    const dst = t * dim;
    for (let i = 0; i < dim; i++) out[dst + i] = table[src + i]!;
  }
}

/** Backward of the embedding lookup, a scatter-add: dTable[ids[t]] += dOut[t] (always accumulates; repeated ids add up). */
export function embeddingBackward(dTable: FloatArray, dOut: FloatArray, ids: TokenIds, n: number, dim: number): void {
  for (let t = 0; t < n; t++) {
    const dst = ids[t]! * dim;
    const src = t * dim;
    for (let i = 0; i < dim; i++) dTable[dst + i] = dTable[dst + i]! + dOut[src + i]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Fused softmax + cross-entropy
// ---------------------------------------------------------------------------------------------

/**
 * Fused softmax + cross-entropy over `rows` rows of logits [rows × vocab], in place.
 *
 * For each row r with target y = targets[r] (a negative target is ignored: no loss, zero
 * gradient row), with p = softmax(z_r):
 *
 *   loss_r = logsumexp(z_r) − z_r[y]
 *   dz_r   = (p − onehot(y)) / totalCount        (written over the logits)
 *
 * Returns Σ_r loss_r / totalCount. `totalCount` is the number of targets in the whole step
 * (B·A·T for the training contract), so that the sum of the returned values over every chunk
 * of every micro-batch is the step's mean loss and the gradients written are the gradients of
 * that mean. If given, `rowLoss[r]` receives the unscaled loss_r (−log p(y); 0 for ignored rows).
 *
 * Chunked use: for each chunk of rows of the hidden state, compute its logits with a matmul
 * into a [chunk × vocab] buffer, call this, then `matmulBackward` the buffer (now dLogits)
 * into the output head's gradient and the hidden state's gradient, and reuse the buffer for the
 * next chunk: the full [T × vocab] logits never exist.
 */
export function crossEntropyForwardBackward(
  logits: FloatArray, targets: TokenIds, rows: number, vocab: number, totalCount: number,
  rowLoss: FloatArray | null = null,
): number {
  const invCount = 1 / totalCount;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    const y = targets[r]!;
    if (y < 0) {
      for (let i = 0; i < vocab; i++) logits[o + i] = 0;
      if (rowLoss !== null) rowLoss[r] = 0;
      continue;
    }
    if (y >= vocab) throw new RangeError(`crossEntropyForwardBackward: target ${y} at row ${r} is outside the vocabulary (${vocab})`);
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) if (logits[o + i]! > max) max = logits[o + i]!;
    let sum = 0;
    for (let i = 0; i < vocab; i++) sum += Math.exp(logits[o + i]! - max);
    const lse = max + Math.log(sum);
    const loss = lse - logits[o + y]!;
    total += loss;
    if (rowLoss !== null) rowLoss[r] = loss;
    for (let i = 0; i < vocab; i++) logits[o + i] = Math.exp(logits[o + i]! - lse) * invCount;
    logits[o + y] = logits[o + y]! - invCount;
  }
  return total * invCount;
}
