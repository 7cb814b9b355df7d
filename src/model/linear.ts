/**
 * The three products a linear layer needs in training. With out = a · wᵀ (w stored [n × k]):
 * forward, the input gradient dA (+)= dOut · w, and the weight gradient dW += dOutᵀ · a.
 * The reference version runs the plain kernels (float32 or float64); the fast version uses the
 * native backend's matmulNN / matmulTN, or else maps all three onto the backend's x·Wᵀ matmul
 * with transposed copies held in scratch buffers.
 */
import type { Backend, FloatArray } from "../kernels/types.js";
import { matmul as refMatmul } from "../kernels/reference.js";
import { matmulBackward } from "../kernels/backward-reference.js";
import { hasNativeTrainOps } from "../kernels/train-kernels.js";

export interface LinearOps<F extends FloatArray> {
  /** out[m×n] = a[m×k] · wᵀ. */
  forward(out: F, a: F, w: F, m: number, n: number, k: number): void;
  /** dA[m×k] = dOut[m×n] · w[n×k]; added to dA when `accumulate`. */
  backwardInput(dA: F, dOut: F, w: F, m: number, n: number, k: number, accumulate: boolean): void;
  /** dW[n×k] += dOut[m×n]ᵀ · a[m×k]. */
  backwardWeight(dW: F, dOut: F, a: F, m: number, n: number, k: number): void;
}

export function referenceLinearOps<F extends FloatArray>(): LinearOps<F> {
  return {
    forward: (out, a, w, m, n, k) => refMatmul(out, a, w, m, n, k),
    backwardInput: (dA, dOut, w, m, n, k, accumulate) => matmulBackward(dA, null, dOut, dOut, w, m, n, k, accumulate),
    backwardWeight: (dW, dOut, a, m, n, k) => matmulBackward(null, dW, dOut, a, dOut, m, n, k, true),
  };
}

/** src [rows × cols] -> dst [cols × rows]. Blocked so both sides stay in cache. */
export function transpose(dst: Float32Array, src: Float32Array, rows: number, cols: number): void {
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        const row = i * cols;
        for (let j = j0; j < j1; j++) dst[j * rows + i] = src[row + j]!;
      }
    }
  }
}

/**
 * The fast linear ops on a backend. With the native backend's matmulNN / matmulTN the two
 * backward products run straight from the stored layouts (no transposed copies, accumulation
 * inside the product); other backends fall back to transposes + the x·Wᵀ matmul.
 */
export function backendLinearOps(backend: Backend): LinearOps<Float32Array> {
  if (hasNativeTrainOps(backend)) {
    return {
      forward: (out, a, w, m, n, k) => backend.matmul(out, a, w, m, n, k),
      // dA[m×k] (+)= dOut[m×n] · w[n×k]
      backwardInput: (dA, dOut, w, m, n, k, accumulate) => backend.matmulNN(dA, dOut, w, m, k, n, accumulate),
      // dW[n×k] += dOut[m×n]ᵀ · a[m×k]
      backwardWeight: (dW, dOut, a, m, n, k) => backend.matmulTN(dW, dOut, a, n, k, m, true),
    };
  }
  let t1: Float32Array = new Float32Array(0);
  let t2: Float32Array = new Float32Array(0);
  let t3: Float32Array = new Float32Array(0);
  const grow = (buf: Float32Array, n: number): Float32Array => (buf.length >= n ? buf : new Float32Array(n));
  return {
    forward: (out, a, w, m, n, k) => backend.matmul(out, a, w, m, n, k),
    backwardInput(dA, dOut, w, m, n, k, accumulate) {
      // dA = dOut · w = dOut · (wᵀ)ᵀ: one matmul against the [k × n] transpose of w.
      t1 = grow(t1, n * k);
      const wT = t1.subarray(0, n * k);
      transpose(wT, w, n, k);
      if (!accumulate) {
        backend.matmul(dA, dOut, wT, m, k, n);
        return;
      }
      t3 = grow(t3, m * k);
      const tmp = t3.subarray(0, m * k);
      backend.matmul(tmp, dOut, wT, m, k, n);
      backend.addInPlace(dA, tmp, m * k);
    },
    backwardWeight(dW, dOut, a, m, n, k) {
      // dW[n×k] += dOutᵀ[n×m] · (aᵀ[k×m])ᵀ.
      t1 = grow(t1, n * m);
      t2 = grow(t2, k * m);
      t3 = grow(t3, n * k);
      const dOutT = t1.subarray(0, n * m);
      const aT = t2.subarray(0, k * m);
      const tmp = t3.subarray(0, n * k);
      transpose(dOutT, dOut, m, n);
      transpose(aT, a, m, k);
      backend.matmul(tmp, dOutT, aT, n, k, m);
      backend.addInPlace(dW, tmp, n * k);
    },
  };
}
