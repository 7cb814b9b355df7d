/**
 * The non-matmul kernels of a training step, as one object so the training graph can run on
 * either implementation: the TypeScript references (Float32Array or Float64Array: the
 * finite-difference checks run these in float64) or the native backend (Float32Array), whose
 * kernels each equal a reference to float32 rounding (test/kernels/native-train.test.ts).
 */
import type { Backend, FloatArray } from "./types.js";
import * as ref from "./reference.js";
import {
  crossEntropyForwardBackward, rmsnormApply, rmsnormBackward, rmsnormForwardStats, ropeBackward, swigluBackward,
} from "./backward-reference.js";
import { attentionBackwardTrain, attentionForwardTrain, createAttentionTrainScratch, type AttentionTrainScratch } from "./attention-train.js";
import type { NativeBackend, NativeTrainOps } from "./native.js";

export interface TrainKernels<F extends FloatArray> {
  readonly name: "reference" | "native";
  rmsnormForwardStats(out: F, invRms: F, x: F, weight: F, rows: number, dim: number, eps: number): void;
  rmsnormApply(out: F, x: F, weight: F, invRms: F, rows: number, dim: number): void;
  rmsnormBackward(dx: F, dWeight: F | null, dOut: F, x: F, weight: F, invRms: F, rows: number, dim: number, accumulate: boolean): void;
  /** RoPE in place (rotate_half layout), as Kernels.rope. */
  rope(x: F, rows: number, nHeads: number, headDim: number, pos0: number, cos: F, sin: F): void;
  ropeBackward(dx: F, rows: number, nHeads: number, headDim: number, pos0: number, cos: F, sin: F): void;
  swiglu(out: F, gate: F, up: F, n: number): void;
  swigluBackward(dGate: F, dUp: F, dOut: F, gate: F, up: F, n: number): void;
  addInPlace(x: F, y: F, n: number): void;
  /** crossEntropyForwardBackward: in place over rows × vocab logits; returns Σ loss / totalCount. */
  crossEntropy(logits: F, targets: Int32Array, rows: number, vocab: number, totalCount: number): number;
  /** attentionForwardTrain over `batch` sequences of T rows (arrays hold batch·T rows). */
  attentionForward(out: F, lse: F, q: F, k: F, v: F, batch: number, T: number, nHeads: number, nKvHeads: number, headDim: number): void;
  /** attentionBackwardTrain over `batch` sequences of T rows. */
  attentionBackward(
    dq: F, dk: F, dv: F, dOut: F, q: F, k: F, v: F, out: F, lse: F,
    batch: number, T: number, nHeads: number, nKvHeads: number, headDim: number, accumulate: boolean,
  ): void;
}

/** The TypeScript reference kernels (any float type); attention tiles of blockQ × blockK. */
export function referenceTrainKernels<F extends FloatArray>(opts: { blockQ?: number; blockK?: number } = {}): TrainKernels<F> {
  let scratch: AttentionTrainScratch | undefined;
  const scr = (hd: number): AttentionTrainScratch => {
    if (!scratch || scratch.headDim !== hd) scratch = createAttentionTrainScratch(hd, opts.blockQ ?? 64, opts.blockK ?? 64);
    return scratch;
  };
  return {
    name: "reference",
    rmsnormForwardStats: (out, invRms, x, weight, rows, dim, eps) => rmsnormForwardStats(out, invRms, x, weight, rows, dim, eps),
    rmsnormApply: (out, x, weight, invRms, rows, dim) => rmsnormApply(out, x, weight, invRms, rows, dim),
    rmsnormBackward: (dx, dWeight, dOut, x, weight, invRms, rows, dim, accumulate) =>
      rmsnormBackward(dx, dWeight, dOut, x, weight, invRms, rows, dim, accumulate),
    rope: (x, rows, nHeads, headDim, pos0, cos, sin) => ref.rope(x, rows, nHeads, headDim, pos0, cos, sin),
    ropeBackward: (dx, rows, nHeads, headDim, pos0, cos, sin) => ropeBackward(dx, rows, nHeads, headDim, pos0, cos, sin),
    swiglu: (out, gate, up, n) => ref.swiglu(out, gate, up, n),
    swigluBackward: (dGate, dUp, dOut, gate, up, n) => swigluBackward(dGate, dUp, dOut, gate, up, n),
    addInPlace: (x, y, n) => ref.addInPlace(x, y, n),
    crossEntropy: (logits, targets, rows, vocab, totalCount) => crossEntropyForwardBackward(logits, targets, rows, vocab, totalCount),
    attentionForward(out, lse, q, k, v, batch, T, nH, nKv, hd) {
      const qs = T * nH * hd, ks = T * nKv * hd;
      for (let b = 0; b < batch; b++) {
        attentionForwardTrain(
          out.subarray(b * qs, (b + 1) * qs), lse.subarray(b * T * nH, (b + 1) * T * nH), q.subarray(b * qs, (b + 1) * qs),
          k.subarray(b * ks, (b + 1) * ks), v.subarray(b * ks, (b + 1) * ks), T, nH, nKv, hd, scr(hd),
        );
      }
    },
    attentionBackward(dq, dk, dv, dOut, q, k, v, out, lse, batch, T, nH, nKv, hd, accumulate) {
      const qs = T * nH * hd, ks = T * nKv * hd;
      const Q = (a: F, b: number) => a.subarray(b * qs, (b + 1) * qs);
      const K = (a: F, b: number) => a.subarray(b * ks, (b + 1) * ks);
      for (let b = 0; b < batch; b++) {
        attentionBackwardTrain(
          Q(dq, b), K(dk, b), K(dv, b), Q(dOut, b), Q(q, b), K(k, b), K(v, b), Q(out, b),
          lse.subarray(b * T * nH, (b + 1) * T * nH), T, nH, nKv, hd, scr(hd), accumulate,
        );
      }
    },
  };
}

/** Whether a backend carries the native training kernels (the wasm backend has the same ones). */
export function hasNativeTrainOps(backend: Backend): backend is NativeBackend {
  return (backend.name === "native" || backend.name === "wasm") && typeof (backend as Partial<NativeTrainOps>).matmulNN === "function";
}

/** The native training kernels (Float32Array). */
export function nativeTrainKernels(be: NativeBackend): TrainKernels<Float32Array> {
  // RoPE's backward is a rotation by −θ: the forward kernel with the sin table negated.
  const negSin = new WeakMap<Float32Array, Float32Array>();
  const neg = (sin: Float32Array): Float32Array => {
    let n = negSin.get(sin);
    if (!n) {
      n = sin.map((s) => -s);
      negSin.set(sin, n);
    }
    return n;
  };
  return {
    name: "native",
    rmsnormForwardStats: (out, invRms, x, weight, rows, dim, eps) => be.rmsnormStats(out, invRms, x, weight, rows, dim, eps),
    rmsnormApply: (out, x, weight, invRms, rows, dim) => be.rmsnormApply(out, x, weight, invRms, rows, dim),
    rmsnormBackward: (dx, dWeight, dOut, x, weight, invRms, rows, dim, accumulate) =>
      be.rmsnormBackward(dx, dWeight, dOut, x, weight, invRms, rows, dim, accumulate),
    rope: (x, rows, nHeads, headDim, pos0, cos, sin) => be.rope(x, rows, nHeads, headDim, pos0, cos, sin),
    ropeBackward: (dx, rows, nHeads, headDim, pos0, cos, sin) => be.rope(dx, rows, nHeads, headDim, pos0, cos, neg(sin)),
    swiglu: (out, gate, up, n) => be.swiglu(out, gate, up, n),
    swigluBackward: (dGate, dUp, dOut, gate, up, n) => be.swigluBackward(dGate, dUp, dOut, gate, up, n),
    addInPlace: (x, y, n) => be.addInPlace(x, y, n),
    crossEntropy: (logits, targets, rows, vocab, totalCount) => be.crossEntropy(logits, targets, rows, vocab, totalCount),
    attentionForward: (out, lse, q, k, v, batch, T, nH, nKv, hd) => be.attentionTrainForward(out, lse, q, k, v, batch, T, nH, nKv, hd),
    attentionBackward: (dq, dk, dv, dOut, q, k, v, out, lse, batch, T, nH, nKv, hd, accumulate) =>
      be.attentionTrainBackward(dq, dk, dv, dOut, q, k, v, out, lse, batch, T, nH, nKv, hd, accumulate),
  };
}

/** The fastest training kernels a backend offers: native when it has them, else the references. */
export function trainKernelsFor(backend: Backend): TrainKernels<Float32Array> {
  return hasNativeTrainOps(backend) ? nativeTrainKernels(backend) : referenceTrainKernels<Float32Array>();
}
