/**
 * One AdamW pass over params[start, end) with a fixed decay factor (1 for no decay), exactly
 * `torch.optim.AdamW` (decoupled decay), in float64 arithmetic per element:
 *
 *   g  = grads[i] · gradScale
 *   m ← β1 m + (1 − β1) g
 *   v ← β2 v + (1 − β2) g²
 *   p ← p · decayFactor − stepSize · m / (sqrt(v) / bc2Sqrt + eps)
 *
 * with decayFactor = 1 − lr·wd (or 1), stepSize = lr / (1 − β1^t), bc2Sqrt = sqrt(1 − β2^t):
 * optim.ts `adamwStep` splits the buffer into decay / no-decay segments and computes these.
 * Updates params, m, v in place; grads is only read. A backend's pass must equal this to the bit.
 */
import type { CheckSpecs, FloatArray } from "../types.js";
import { data, size } from "./check.js";

export function adamwSegment(
  params: FloatArray, grads: FloatArray, m: FloatArray, v: FloatArray, start: number, end: number,
  decayFactor: number, gradScale: number, beta1: number, beta2: number, eps: number, stepSize: number, bc2Sqrt: number,
): void {
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  for (let i = start; i < end; i++) {
    const g = grads[i]! * gradScale;
    const mi = beta1 * m[i]! + c1 * g;
    const vi = beta2 * v[i]! + c2 * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] = params[i]! * decayFactor - stepSize * (mi / (Math.sqrt(vi) / bc2Sqrt + eps));
  }
}

export const checks: Pick<CheckSpecs, "adamwSegment"> = {
  adamwSegment(params, grads, m, v, start, end) {
    const fn = "adamwSegment";
    size(fn, "start", start); size(fn, "end", end);
    if (end < start) throw new RangeError(`${fn}: end (${end}) < start (${start})`);
    data(fn, "params", params, end, "end"); data(fn, "grads", grads, end, "end");
    data(fn, "m", m, end, "end"); data(fn, "v", v, end, "end");
  },
};
