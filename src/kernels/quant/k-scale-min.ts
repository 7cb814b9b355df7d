/**
 * The quantiser shared by q4_K and q5_K (ggml's quantize_row_q4_K_ref / q5_K_ref, re-derived):
 * per sub-block j of 32 values, weights w_i = rms(sub-block) + |x_i| and `searchScaleMin` give a
 * scale s_j and a min m_j; the super-block keeps d = max_j s_j / 63 and dmin = max_j m_j / 63 as f16
 * and 6-bit codes round(63·s_j/max s), round(63·m_j/max m); the values are then coded against the
 * stored (rounded) scales: l = clamp(round((x + dmin·m_j)/(d·sc_j)), 0, nmax).
 * Returns the codes (0..nmax) of the 256 values; the caller packs them.
 */
import { f32ToF16 } from "../../formats/half.js";
import { fr, halfToFloat, nearestInt, type ActivationRow } from "./format.js";
import { sumQ } from "./q8-k.js";
import { QK_K, packScaleMinK4, scaleMinK4, searchScaleMin } from "./k-common.js";

export function quantizeScaleMinSuperBlock(
  src: Float32Array, s: number, dst: Uint8Array, dv: DataView, o: number, nmax: number, rmin: number, nstep: number,
): Uint8Array {
  const L = new Uint8Array(QK_K);
  const w = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  let maxScale = 0, maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(src[s + 32 * j + l]! * src[s + 32 * j + l]!));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) w[l] = fr(avX + Math.abs(src[s + 32 * j + l]!));
    const [sc, mn] = searchScaleMin(src, s + 32 * j, 32, nmax, w, L, 32 * j, rmin, 0.1, nstep);
    scales[j] = sc;
    mins[j] = mn;
    if (sc > maxScale) maxScale = sc;
    if (mn > maxMin) maxMin = mn;
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  const ls = new Uint8Array(8), lm = new Uint8Array(8);
  for (let j = 0; j < 8; j++) {
    ls[j] = Math.min(63, nearestInt(fr(invScale * scales[j]!)));
    lm[j] = Math.min(63, nearestInt(fr(invMin * mins[j]!)));
  }
  dv.setUint16(o, f32ToF16(fr(maxScale / 63)), true);
  dv.setUint16(o + 2, f32ToF16(fr(maxMin / 63)), true);
  packScaleMinK4(ls, lm, dst, o + 4);
  const d = halfToFloat(dv.getUint16(o, true));
  const dmin = halfToFloat(dv.getUint16(o + 2, true));
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(j, dst, o + 4);
    const dj = fr(d * sc);
    if (dj === 0) continue;
    const dm = fr(dmin * m);
    for (let i = 0; i < 32; i++) L[32 * j + i] = Math.max(0, Math.min(nmax, nearestInt(fr(fr(src[s + 32 * j + i]! + dm) / dj))));
  }
  return L;
}

/**
 * The dequantiser shared by q4_K and q5_K: value 64g + 32h + l (sub-block j = 2g + h) is
 *   y = fround(d·sc_j)·q − fround(dmin·m_j),
 * with d, dmin the f16 at bytes 0 and 2 and the 6-bit sc_j, m_j packed at byte 4; `code(g, l, h)`
 * reads the type's quant q of that value.
 */
export function dequantizeScaleMinSuperBlock(
  data: Uint8Array, dv: DataView, o: number, out: Float32Array, p: number, code: (g: number, l: number, h: 0 | 1) => number,
): void {
  const d = halfToFloat(dv.getUint16(o, true));
  const dmin = halfToFloat(dv.getUint16(o + 2, true));
  for (let g = 0; g < 4; g++) {
    for (const h of [0, 1] as const) {
      const [sc, m] = scaleMinK4(2 * g + h, data, o + 4);
      const ds = Math.fround(d * sc), dm = Math.fround(dmin * m);
      for (let l = 0; l < 32; l++) out[p + 64 * g + 32 * h + l] = ds * code(g, l, h) - dm;
    }
  }
}

/**
 * The product shared by q4_K and q5_K with 8-bit activations per 256 values (./q8-k.ts): per
 * super-block, d_a·(d·Σ_j sc_j·Σ_l q_l·a_l − dmin·Σ_j m_j·Σ_l a_l) with the sums over the 32
 * values of sub-block j in exact integers; super-blocks of `blockBytes` bytes from o, summed in
 * double. `code(o, g, l, h)` reads the quant of value 64g + 32h + l of the block at o.
 */
export function scaleMinRowDotK(
  data: Uint8Array, dv: DataView, o: number, act: ActivationRow, k: number, blockBytes: number,
  code: (o: number, g: number, l: number, h: 0 | 1) => number,
): number {
  let s = 0;
  for (let b = 0; b < k / QK_K; b++) {
    const ob = o + b * blockBytes, x0 = b * QK_K;
    let sumi = 0, summ = 0;
    for (let g = 0; g < 4; g++) {
      for (const h of [0, 1] as const) {
        const j = 2 * g + h;
        const [sc, m] = scaleMinK4(j, data, ob + 4);
        let isum = 0;
        for (let l = 0; l < 32; l++) isum += code(ob, g, l, h) * act.q[x0 + 32 * j + l]!;
        sumi += sc * isum;
        summ += m * sumQ(act.q, x0 + 32 * j, 32);
      }
    }
    s += act.d[b]! * (halfToFloat(dv.getUint16(ob, true)) * sumi - halfToFloat(dv.getUint16(ob + 2, true)) * summ);
  }
  return s;
}
