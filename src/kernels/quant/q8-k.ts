/**
 * 8-bit activations in super-blocks of 256 (the idea of llama.cpp's Q8_K), the activation side of
 * the q4_K, q5_K and q6_K products (their formats have activations "q8_K"). Per 256 values:
 *
 *   max = the first value of largest |x|, iscale = −127/max, d = 1/iscale (float32),
 *   q_j = min(127, round_half_even(iscale·x_j)); all zero (d = 0) when max = 0;
 *   bsums_i = Σ q over values 16i .. 16i+15.
 *
 * A weight row times it is, per super-block, d times an exact integer sum scaled by the block's
 * scales (see each format's rowDot); native/quant_k8.h states the same contract for the kernels.
 */
import { fr, nearestInt } from "./format.js";
import { QK_K } from "./k-common.js";

/** Quantises x[0 .. k) (k a multiple of 256): q[k] and one float32 scale per 256 values in d. */
export function quantizeActivationsK(x: Float32Array, k: number, q: Int8Array, d: Float32Array): void {
  for (let b = 0; b < k / QK_K; b++) {
    const o = b * QK_K;
    let amax = 0, max = 0;
    for (let j = 0; j < QK_K; j++) {
      const ax = Math.abs(x[o + j]!);
      if (ax > amax) {
        amax = ax;
        max = x[o + j]!;
      }
    }
    if (amax === 0) {
      q.fill(0, o, o + QK_K);
      d[b] = 0;
      continue;
    }
    const iscale = fr(-127 / max);
    for (let j = 0; j < QK_K; j++) q[o + j] = Math.min(127, nearestInt(fr(iscale * x[o + j]!)));
    d[b] = fr(1 / iscale);
  }
}

/** Σ q[o .. o+n): an activation sub-block sum (bsums are sums of 16). */
export function sumQ(q: Int8Array, o: number, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) s += q[o + j]!;
  return s;
}
