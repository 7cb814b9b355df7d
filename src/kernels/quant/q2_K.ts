/**
 * q2_K (ggml block_q2_K, 84 bytes per 256 values): 16 bytes of 4-bit scale | 4-bit min << 4 per
 * 16 values, 64 bytes of 2-bit codes, f16 d, f16 dmin; x = d·sc_j·q − dmin·m_j. Value i:
 * half h = i / 128, j = (i % 128) / 32, l = i % 32: q = qs[32h + l] >> 2j & 3, sub-block i / 16.
 * Quantiser (ggml's quantize_row_q2_K_ref, re-derived): `searchScaleMin` per 16 values (nmax 3,
 * weights |x|, absolute error, rmin −0.5, 15 steps), 4-bit codes of scales and mins against
 * d = max scale / 15, dmin = max min / 15, then the codes against the stored scales.
 * Products: 8-bit activations per 256 values (./q8-k.ts): per super-block
 * d_a·(d·Σ_j sc_j·Σ_i q_i·a_i − dmin·Σ_j m_j·Σ_i a_i) over the 16 values i of sub-block j, in exact integers.
 */
import { f32ToF16 } from "../../formats/half.js";
import { fr, halfToFloat, nearestInt, type QuantFormat } from "./format.js";
import { QK_K, searchScaleMin } from "./k-common.js";
import { sumQ } from "./q8-k.js";

export const q2_K: QuantFormat<"q2_K"> = {
  name: "q2_K",
  ggmlId: 10,
  ggmlName: "Q2_K",
  blockSize: QK_K,
  blockBytes: 84,
  activations: "q8_K",
  halfOffsets: [80, 82],
  quantizeBlock(src, s, dst, dv, o) {
    const L = new Uint8Array(QK_K);
    const w = new Float32Array(16);
    const scales = new Float32Array(16), mins = new Float32Array(16);
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) w[l] = Math.abs(src[s + 16 * j + l]!);
      const [sc, mn] = searchScaleMin(src, s + 16 * j, 16, 3, w, L, 16 * j, -0.5, 0.1, 15, true);
      scales[j] = sc;
      mins[j] = mn;
      if (sc > maxScale) maxScale = sc;
      if (mn > maxMin) maxMin = mn;
    }
    dst.fill(0, o, o + 84);
    if (maxScale > 0) {
      const iscale = fr(15 / maxScale);
      for (let j = 0; j < 16; j++) dst[o + j] = nearestInt(fr(iscale * scales[j]!));
      dv.setUint16(o + 80, f32ToF16(fr(maxScale / 15)), true);
    }
    if (maxMin > 0) {
      const iscale = fr(15 / maxMin);
      for (let j = 0; j < 16; j++) dst[o + j]! |= nearestInt(fr(iscale * mins[j]!)) << 4;
      dv.setUint16(o + 82, f32ToF16(fr(maxMin / 15)), true);
    }
    const d = halfToFloat(dv.getUint16(o + 80, true)), dmin = halfToFloat(dv.getUint16(o + 82, true));
    for (let j = 0; j < 16; j++) {
      const dj = fr(d * (dst[o + j]! & 15));
      if (dj === 0) continue;
      const dm = fr(dmin * (dst[o + j]! >> 4));
      for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(0, Math.min(3, nearestInt(fr(fr(src[s + 16 * j + i]! + dm) / dj))));
    }
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const b = 128 * h + l;
        dst[o + 16 + 32 * h + l] = L[b]! | (L[b + 32]! << 2) | (L[b + 64]! << 4) | (L[b + 96]! << 6);
      }
    }
  },
  dequantizeBlock(data, dv, o, out, p) {
    const d = halfToFloat(dv.getUint16(o + 80, true)), dmin = halfToFloat(dv.getUint16(o + 82, true));
    for (let i = 0; i < QK_K; i++) {
      const h = i >> 7, j = (i & 127) >> 5, l = i & 31;
      const sc = data[o + (i >> 4)]!;
      const q = (data[o + 16 + 32 * h + l]! >> (2 * j)) & 3;
      out[p + i] = Math.fround(d * (sc & 15)) * q - Math.fround(dmin * (sc >> 4));
    }
  },
  rowDot(data, dv, o, act, k) {
    let s = 0;
    for (let b = 0; b < k / QK_K; b++) {
      const ob = o + b * 84, x0 = b * QK_K;
      let sumi = 0, summ = 0;
      for (let j = 0; j < 16; j++) {
        let isum = 0;
        for (let i = 16 * j; i < 16 * j + 16; i++) isum += ((data[ob + 16 + 32 * (i >> 7) + (i & 31)]! >> (2 * ((i & 127) >> 5))) & 3) * act.q[x0 + i]!;
        sumi += (data[ob + j]! & 15) * isum;
        summ += (data[ob + j]! >> 4) * sumQ(act.q, x0 + 16 * j, 16);
      }
      s += act.d[b]! * (halfToFloat(dv.getUint16(ob + 80, true)) * sumi - halfToFloat(dv.getUint16(ob + 82, true)) * summ);
    }
    return s;
  },
};
