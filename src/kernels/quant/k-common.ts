/**
 * Shared pieces of the K-quants (super-blocks of QK_K = 256 values, ggml's `block_qN_K`):
 *
 * - the 12-byte packing of eight 6-bit sub-block scales and eight 6-bit mins used by q4_K and
 *   q5_K (ggml's get_scale_min_k4): for j < 4, scale_j = s[j] & 63 and min_j = s[j+4] & 63;
 *   for j ≥ 4, scale_j = (s[j+4] & 15) | (s[j−4] >> 6) << 4 and min_j = (s[j+4] >> 4) | (s[j] >> 6) << 4;
 * - the sub-block searches of ggml's reference quantisers, re-derived here in float32:
 *   `searchScaleMin` (make_qkx2_quants: x ≈ scale·l − min with l in 0..nmax, weighted least
 *   squares over a sweep of candidate inverse scales) and `searchScale` (make_qx_quants:
 *   x ≈ scale·l with l in −nmax..nmax−1, weights x², sweep of 19 candidate scales).
 */
import { fr, nearestInt } from "./format.js";

export const QK_K = 256;
export const GROUP_MAX_EPS = 1e-15;

/** Scale and min (6-bit codes) of sub-block j from the 12 packed bytes at s[o ..). */
export function scaleMinK4(j: number, s: Uint8Array, o: number): [number, number] {
  if (j < 4) return [s[o + j]! & 63, s[o + j + 4]! & 63];
  return [(s[o + j + 4]! & 15) | ((s[o + j - 4]! >> 6) << 4), (s[o + j + 4]! >> 4) | ((s[o + j]! >> 6) << 4)];
}

/** Packs eight 6-bit scales and mins into 12 bytes at s[o ..) (the inverse of scaleMinK4). */
export function packScaleMinK4(ls: ArrayLike<number>, lm: ArrayLike<number>, s: Uint8Array, o: number): void {
  s.fill(0, o, o + 12);
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      s[o + j] = ls[j]!;
      s[o + j + 4] = lm[j]!;
    } else {
      s[o + j + 4] = (ls[j]! & 15) | ((lm[j]! & 15) << 4);
      s[o + j - 4]! |= (ls[j]! >> 4) << 6;
      s[o + j]! |= (lm[j]! >> 4) << 6;
    }
  }
}

/**
 * make_qkx2_quants: codes L[0..n) in 0..nmax for x[s..s+n) with x ≈ scale·L − min (min ≥ 0),
 * minimising Σ w·(scale·L − min − x)² (Σ w·|…| with useMad) over candidate inverse scales (rmin + rdelta·i + nmax)/(max − min),
 * i = 0..nstep, each followed by the weighted least-squares scale and min for its codes.
 * Returns [scale, min].
 */
export function searchScaleMin(
  x: Float32Array, s: number, n: number, nmax: number, w: Float32Array, L: Uint8Array, lo: number,
  rmin: number, rdelta: number, nstep: number, useMad = false,
): [number, number] {
  const loss = (diff: number): number => (useMad ? Math.abs(diff) : fr(diff * diff));
  let min = x[s]!;
  let max = x[s]!;
  let sumW = w[0]!;
  let sumX = fr(sumW * x[s]!);
  for (let i = 1; i < n; i++) {
    const v = x[s + i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sumW = fr(sumW + w[i]!);
    sumX = fr(sumX + fr(w[i]! * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let best = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[s + i]! - min)))));
    L[lo + i] = l;
    const diff = fr(fr(fr(scale * l) + min) - x[s + i]!);
    best = fr(best + fr(w[i]! * loss(diff)));
  }
  const aux = new Uint8Array(n);
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[s + i]! - min)))));
      aux[i] = l;
      const wl = fr(w[i]! * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[s + i]!));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (!(D > 0)) continue;
    let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
    let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
    if (thisMin > 0) {
      thisMin = 0;
      thisScale = fr(sumXL / sumL2);
    }
    let err = 0;
    for (let i = 0; i < n; i++) {
      const diff = fr(fr(fr(thisScale * aux[i]!) + thisMin) - x[s + i]!);
      err = fr(err + fr(w[i]! * loss(diff)));
    }
    if (err < best) {
      L.set(aux, lo);
      best = err;
      scale = thisScale;
      min = thisMin;
    }
  }
  return [scale, -min];
}

/**
 * make_qx_quants with weights x²: the signed scale of x[s..s+n) for codes in −nmax..nmax−1
 * (scale·l ≈ x): the least-squares scale for the codes of inverse scales −(nmax + 0.1·i)/max,
 * i = −9..9, keeping the one with the largest (Σ w·x·l)²/Σ w·l². Returns the scale (0 for an
 * all-zero group).
 */
export function searchScale(x: Float32Array, s: number, n: number, nmax: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[s + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[s + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) return 0;
  const sums = (iscale: number): [number, number] => {
    let sumlx = 0, suml2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[s + i]!;
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * v))));
      const w = fr(v * v);
      sumlx = fr(sumlx + fr(fr(w * v) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let [sumlx, suml2] = sums(fr(-nmax / max));
  let scale = suml2 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    [sumlx, suml2] = sums(fr(fr(-fr(nmax + fr(0.1 * is))) / max));
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}
