/**
 * q3_K (ggml block_q3_K, 110 bytes per 256 values): hmask[32] (third bits), qs[64] (low 2 bits),
 * 12 bytes of sixteen 6-bit signed scales, f16 d; x = d·(sc_j − 32)·(q − 4). Value i: low bits
 * qs[32h + l] >> 2j & 3 (h = i / 128, j = (i % 128) / 32, l = i % 32), third bit: bit i / 32 of
 * hmask[i % 32]. Scale j: low 4 bits scales[j] & 15 (j < 8) or scales[j − 8] >> 4, high 2 bits
 * scales[8 + j % 4] >> 2(j / 4) & 3.
 * Quantiser (ggml's quantize_row_q3_K_ref, re-derived): per 16 values the signed scale of
 * make_q3_quants (codes −4..3, weights x², coordinate-descent refinement), 6-bit scale codes
 * against d = −max_scale/32, then the codes against the stored scales.
 * Products: 8-bit activations per 256 values (./q8-k.ts): per super-block
 * d_a·d·Σ_j (sc_j − 32)·Σ_i (q_i − 4)·a_i over the 16 values i of sub-block j, in exact integers.
 */
import { f32ToF16 } from "../../formats/half.js";
import { fr, halfToFloat, nearestInt, type QuantFormat } from "./format.js";
import { GROUP_MAX_EPS, QK_K } from "./k-common.js";

/** make_q3_quants(n, nmax, x, L, do_rmse = true): the scale; codes (l + nmax) into L[lo ..). */
function q3Scale(x: Float32Array, s: number, n: number, nmax: number, L: Int8Array, lo: number): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[s + i]!);
    if (ax > amax) { amax = ax; max = x[s + i]!; }
  }
  if (amax < GROUP_MAX_EPS) { L.fill(0, lo, lo + n); return 0; }
  const iscale = fr(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[s + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * v))));
    L[lo + i] = l;
    const w = fr(v * v);
    sumlx = fr(sumlx + fr(fr(w * v) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const v = x[s + i]!, w = fr(v * v), li = L[lo + i]!;
      let slx = fr(sumlx - fr(fr(w * v) * li));
      if (!(slx > 0)) continue;
      let sl2 = fr(suml2 - fr(fr(w * li) * li));
      const nl = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(fr(v * sl2) / slx))));
      if (nl === li) continue;
      slx = fr(slx + fr(fr(w * v) * nl));
      sl2 = fr(sl2 + fr(fr(w * nl) * nl));
      if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
        L[lo + i] = nl;
        sumlx = slx;
        suml2 = sl2;
        changed++;
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[lo + i]! += nmax;
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}

function scaleQ3(data: Uint8Array, sc: number, j: number): number {
  const low = j < 8 ? data[sc + j]! & 15 : data[sc + j - 8]! >> 4;
  return (low | (((data[sc + 8 + (j & 3)]! >> (2 * (j >> 2))) & 3) << 4)) - 32;
}

export const q3_K: QuantFormat<"q3_K"> = {
  name: "q3_K",
  ggmlId: 11,
  ggmlName: "Q3_K",
  blockSize: QK_K,
  blockBytes: 110,
  activations: "q8_K",
  halfOffsets: [108],
  quantizeBlock(src, s, dst, dv, o) {
    const L = new Int8Array(QK_K);
    const scales = new Float32Array(16);
    let maxScale = 0, amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = q3Scale(src, s + 16 * j, 16, 4, L, 16 * j);
      if (Math.abs(scales[j]!) > amax) { amax = Math.abs(scales[j]!); maxScale = scales[j]!; }
    }
    dst.fill(0, o, o + 110);
    const sc = o + 96;
    if (maxScale !== 0) {
      const iscale = fr(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        const l = Math.max(-32, Math.min(31, nearestInt(fr(iscale * scales[j]!)))) + 32;
        if (j < 8) dst[sc + j] = l & 15;
        else dst[sc + j - 8]! |= (l & 15) << 4;
        dst[sc + 8 + (j & 3)]! |= (l >> 4) << (2 * (j >> 2));
      }
      dv.setUint16(o + 108, f32ToF16(fr(1 / iscale)), true);
    }
    const d = halfToFloat(dv.getUint16(o + 108, true));
    for (let j = 0; j < 16; j++) {
      const dj = fr(d * scaleQ3(dst, sc, j));
      if (dj === 0) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(-4, Math.min(3, nearestInt(fr(src[s + 16 * j + i]! / dj)))) + 4;
    }
    for (let i = 0; i < QK_K; i++) {
      let l = L[i]!;
      if (l > 3) {
        dst[o + (i & 31)]! |= 1 << (i >> 5);
        l -= 4;
      }
      const h = i >> 7, j = (i & 127) >> 5;
      dst[o + 32 + 32 * h + (i & 31)]! |= l << (2 * j);
    }
  },
  dequantizeBlock(data, dv, o, out, p) {
    const d = halfToFloat(dv.getUint16(o + 108, true));
    for (let i = 0; i < QK_K; i++) {
      const h = i >> 7, j = (i & 127) >> 5, l = i & 31;
      const q = ((data[o + 32 + 32 * h + l]! >> (2 * j)) & 3) - ((data[o + l]! >> (i >> 5)) & 1 ? 0 : 4);
      out[p + i] = Math.fround(d * scaleQ3(data, o + 96, i >> 4)) * q;
    }
  },
  rowDot(data, dv, o, act, k) {
    let s = 0;
    for (let b = 0; b < k / QK_K; b++) {
      const ob = o + b * 110, x0 = b * QK_K;
      let sumi = 0;
      for (let j = 0; j < 16; j++) {
        let isum = 0;
        for (let i = 16 * j; i < 16 * j + 16; i++) {
          const l = i & 31;
          const q = ((data[ob + 32 + 32 * (i >> 7) + l]! >> (2 * ((i & 127) >> 5))) & 3) - ((data[ob + l]! >> (i >> 5)) & 1 ? 0 : 4);
          isum += q * act.q[x0 + i]!;
        }
        sumi += scaleQ3(data, ob + 96, j) * isum;
      }
      s += act.d[b]! * halfToFloat(dv.getUint16(ob + 108, true)) * sumi;
    }
    return s;
  },
};
