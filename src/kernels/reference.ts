/**
 * Reference kernels: plain TypeScript, written to be obviously right rather than fast. Every
 * fast kernel is tested against these on random inputs; the float64 instantiation is what the
 * finite-difference gradient checks run on.
 */
import type { FloatArray, Kernels } from "./types.js";

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

export function matvec(out: FloatArray, w: FloatArray, x: FloatArray, n: number, k: number): void {
  matmul(out, x, w, 1, n, k);
}

export function rmsnorm(out: FloatArray, x: FloatArray, weight: FloatArray, rows: number, dim: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[o + i]! * x[o + i]!;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[o + i] = x[o + i]! * inv * weight[i]!;
  }
}

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

export function swiglu(out: FloatArray, gate: FloatArray, up: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
}

export function addInPlace(x: FloatArray, y: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) x[i] = x[i]! + y[i]!;
}

/** The reference kernels as one object, usable with Float32Array or Float64Array. */
export const referenceKernels: Kernels<FloatArray> = { matmul, matvec, rmsnorm, rope, attention, swiglu, addInPlace };
