/**
 * The optimiser around the kernels: global gradient norm, the clipping factor, the AdamW step
 * over a contiguous parameter buffer (split into decay / no-decay segments, each one
 * `adamwSegment` op: ops/adamw.ts), and the learning-rate schedule, exactly as the training
 * contract (issue 4, item 6) and `torch.optim.AdamW` define them.
 */
import type { FloatArray, KernelOps } from "./types.js";
import { adamwSegment } from "./ops/adamw.js";
import { sumSquares } from "./ops/sum-squares.js";

/** Global L2 norm sqrt(Σ g[i]²) over the first n gradients, accumulated in float64. NaN/Inf propagate. */
export function globalNorm(grads: FloatArray, n: number): number {
  return Math.sqrt(sumSquares(grads, n));
}

/**
 * The clipping factor of `torch.nn.utils.clip_grad_norm_`: min(1, maxNorm / (norm + 1e-6)).
 * Gradients are multiplied by it (pass it as `gradScale` to {@link adamwStep}). A NaN norm
 * gives NaN, so a non-finite step cannot go unnoticed; `maxNorm = Infinity` disables clipping.
 */
export function clipScale(norm: number, maxNorm: number): number {
  const c = maxNorm / (norm + 1e-6);
  if (Number.isNaN(c)) return NaN;
  return c < 1 ? c : 1;
}

/**
 * Which parameters take weight decay. Either
 * - a list of half-open index ranges `[start, end)` that decay (any order, non-overlapping,
 *   within [0, n)); every index outside them does not decay (e.g. RMSNorm weights), or
 * - a `Uint8Array` mask of length ≥ n: nonzero = decays.
 * The training contract decays every 2-D matrix (embeddings and output head included) and
 * never an RMSNorm weight.
 */
export type DecayMask = ReadonlyArray<readonly [number, number]> | Uint8Array;

export interface AdamWOptions {
  /** Learning rate of this step (from {@link learningRate}). */
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Step number t, starting at 1 for the first update (bias corrections use β^t). */
  step: number;
  /** Factor applied to every gradient before use (the clipping factor; 1 for none). Default 1. */
  gradScale?: number;
}

/**
 * One fused AdamW update over params[0..n), exactly `torch.optim.AdamW` (decoupled decay):
 *
 *   g  = grads[i] · gradScale
 *   p ← p · (1 − lr · wd)                 (only where the decay mask says so)
 *   m ← β1 m + (1 − β1) g
 *   v ← β2 v + (1 − β2) g²
 *   p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)
 *
 * Updates `params`, `m`, `v` in place; `grads` is only read. Arithmetic runs in float64 per
 * element; no allocation beyond the segment walk over a `Uint8Array` mask. `segment` runs each pass
 * (a backend's `adamwSegment`; the reference by default).
 */
export function adamwStep<F extends FloatArray>(
  params: F, grads: F, m: F, v: F, decayMask: DecayMask, n: number,
  opts: AdamWOptions, segment: AdamWSegment<F> = adamwSegment,
): void {
  const { lr, beta1, beta2, eps, weightDecay, step } = opts;
  const gradScale = opts.gradScale ?? 1;
  if (!(Number.isInteger(step) && step >= 1)) throw new RangeError(`adamwStep: step must be an integer >= 1 (got ${step})`);
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
  const stepSize = lr / bc1;
  const decayFactor = 1 - lr * weightDecay;

  if (decayMask instanceof Uint8Array) {
    if (decayMask.length < n) throw new RangeError(`adamwStep: decay mask has ${decayMask.length} entries for ${n} parameters`);
    let start = 0;
    while (start < n) {
      const on = decayMask[start] !== 0;
      let end = start + 1;
      while (end < n && (decayMask[end] !== 0) === on) end++;
      segment(params, grads, m, v, start, end, on ? decayFactor : 1, gradScale, beta1, beta2, eps, stepSize, bc2Sqrt);
      start = end;
    }
    return;
  }

  const ranges = checkRanges(decayMask, n);
  let pos = 0;
  for (const [s, e] of ranges) {
    if (pos < s) segment(params, grads, m, v, pos, s, 1, gradScale, beta1, beta2, eps, stepSize, bc2Sqrt);
    segment(params, grads, m, v, s, e, decayFactor, gradScale, beta1, beta2, eps, stepSize, bc2Sqrt);
    pos = e;
  }
  if (pos < n) segment(params, grads, m, v, pos, n, 1, gradScale, beta1, beta2, eps, stepSize, bc2Sqrt);
}

function checkRanges(ranges: ReadonlyArray<readonly [number, number]>, n: number): ReadonlyArray<readonly [number, number]> {
  let sorted = true;
  for (let i = 1; i < ranges.length; i++) if (ranges[i]![0] < ranges[i - 1]![0]) { sorted = false; break; }
  const rs = sorted ? ranges : [...ranges].sort((a, b) => a[0] - b[0]);
  let prevEnd = 0;
  for (const [s, e] of rs) {
    if (!(Number.isInteger(s) && Number.isInteger(e) && s >= prevEnd && e >= s && e <= n)) {
      throw new RangeError(`adamwStep: decay range [${s}, ${e}) is invalid (ranges must be integer, non-overlapping, within [0, ${n}))`);
    }
    prevEnd = e;
  }
  return rs;
}

/** One AdamW pass over [start, end): the contract's `adamwSegment` (the reference by default). */
export type AdamWSegment<F extends FloatArray = FloatArray> = KernelOps<F>["adamwSegment"];

export interface LrSchedule {
  /** Peak learning rate LR. */
  lr: number;
  /** Warm-up steps W (0 for none). */
  warmup: number;
  /** N: the step at which the cosine reaches LR_min. */
  totalSteps: number;
  /** LR_min = LR · minLrRatio (0.1 in the paper). */
  minLrRatio: number;
}

/**
 * The learning rate of step s (from 0), per the training contract:
 *
 *   s < W:      LR · (s + 1) / W
 *   W ≤ s < N:  LR_min + (LR − LR_min) · (1 + cos(π (s − W) / (N − W))) / 2
 *   s ≥ N:      LR_min
 */
export function learningRate(step: number, sched: LrSchedule): number {
  const { lr, warmup, totalSteps, minLrRatio } = sched;
  const lrMin = lr * minLrRatio;
  if (step < warmup) return (lr * (step + 1)) / warmup;
  if (step >= totalSteps) return lrMin;
  const progress = (step - warmup) / (totalSteps - warmup);
  return lrMin + ((lr - lrMin) * (1 + Math.cos(Math.PI * progress))) / 2;
}
