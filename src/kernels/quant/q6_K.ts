/**
 * q6_K (ggml block_q6_K, 210 bytes per 256 values): 128 bytes ql (low 4 bits), 64 bytes qh
 * (high 2 bits), 16 int8 sub-block scales (16 values each), f16 d; x = d·sc_j·(q − 32).
 * Per 128-value half h (ql + 64h, qh + 32h, scales + 8h), for i < 32:
 *   q(i)      = ql[i] & 15      | (qh[i] >> 0 & 3) << 4      (scale 2·0 + i/16)
 *   q(i + 32) = ql[i + 32] & 15 | (qh[i] >> 2 & 3) << 4      (scale 2 + i/16)
 *   q(i + 64) = ql[i] >> 4      | (qh[i] >> 4 & 3) << 4      (scale 4 + i/16)
 *   q(i + 96) = ql[i + 32] >> 4 | (qh[i] >> 6 & 3) << 4      (scale 6 + i/16)
 * Quantiser (ggml's quantize_row_q6_K_ref, re-derived): `searchScale` per 16 values
 * (make_qx_quants, nmax 32, weights x²), d = −max_scale/128 (f16, signed), 8-bit scale codes
 * min(127, round(s_j/d)), then l = clamp(round(x/(d·sc_j)), −32, 31) + 32.
 * Products: 8-bit activations per 256 values (./q8-k.ts): per super-block
 * d_a·d·Σ_j sc_j·Σ_i (q_i − 32)·a_i over the 16 values of sub-block j, in exact integers.
 */
import { f32ToF16 } from "../../formats/half.js";
import { fr, halfToFloat, nearestInt, type QuantFormat } from "./format.js";
import { GROUP_MAX_EPS, QK_K, searchScale } from "./k-common.js";

export const q6_K: QuantFormat<"q6_K"> = {
  name: "q6_K",
  ggmlId: 14,
  ggmlName: "Q6_K",
  blockSize: QK_K,
  blockBytes: 210,
  activations: "q8_K",
  halfOffsets: [208],
  quantizeBlock(src, s, dst, dv, o) {
    dst.fill(0, o, o + 210);
    const scales = new Float32Array(16);
    let maxScale = 0, maxAbs = 0;
    for (let j = 0; j < 16; j++) {
      const sc = searchScale(src, s + 16 * j, 16, 32);
      scales[j] = sc;
      if (Math.abs(sc) > maxAbs) {
        maxAbs = Math.abs(sc);
        maxScale = sc;
      }
    }
    if (maxAbs < GROUP_MAX_EPS) return;
    const iscale = fr(-128 / maxScale);
    dv.setUint16(o + 208, f32ToF16(fr(1 / iscale)), true);
    for (let j = 0; j < 16; j++) dv.setInt8(o + 192 + j, Math.min(127, nearestInt(fr(iscale * scales[j]!))));
    const d = halfToFloat(dv.getUint16(o + 208, true));
    const L = new Uint8Array(QK_K).fill(32);
    for (let j = 0; j < 16; j++) {
      const dj = fr(d * dv.getInt8(o + 192 + j));
      if (dj === 0) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(-32, Math.min(31, nearestInt(fr(src[s + 16 * j + i]! / dj)))) + 32;
    }
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h, qh = o + 128 + 32 * h, b = 128 * h;
      for (let l = 0; l < 32; l++) {
        const q1 = L[b + l]!, q2 = L[b + l + 32]!, q3 = L[b + l + 64]!, q4 = L[b + l + 96]!;
        dst[ql + l] = (q1 & 15) | ((q3 & 15) << 4);
        dst[ql + l + 32] = (q2 & 15) | ((q4 & 15) << 4);
        dst[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  },
  dequantizeBlock(data, dv, o, out, p) {
    const d = halfToFloat(dv.getUint16(o + 208, true));
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h, qh = o + 128 + 32 * h, sc = o + 192 + 8 * h, y = p + 128 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const q1 = ((data[ql + l]! & 15) | (((data[qh + l]! >> 0) & 3) << 4)) - 32;
        const q2 = ((data[ql + l + 32]! & 15) | (((data[qh + l]! >> 2) & 3) << 4)) - 32;
        const q3 = ((data[ql + l]! >> 4) | (((data[qh + l]! >> 4) & 3) << 4)) - 32;
        const q4 = ((data[ql + l + 32]! >> 4) | (((data[qh + l]! >> 6) & 3) << 4)) - 32;
        out[y + l] = Math.fround(d * dv.getInt8(sc + is)) * q1;
        out[y + l + 32] = Math.fround(d * dv.getInt8(sc + is + 2)) * q2;
        out[y + l + 64] = Math.fround(d * dv.getInt8(sc + is + 4)) * q3;
        out[y + l + 96] = Math.fround(d * dv.getInt8(sc + is + 6)) * q4;
      }
    }
  },
  rowDot(data, dv, o, act, k) {
    let s = 0;
    for (let b = 0; b < k / QK_K; b++) {
      const ob = o + b * 210;
      let sumi = 0;
      for (let h = 0; h < 2; h++) {
        const ql = ob + 64 * h, qh = ob + 128 + 32 * h, x = b * QK_K + 128 * h;
        for (let part = 0; part < 4; part++) {
          // values 32·part + l of this half: sub-blocks 8h + 2·part (l < 16) and 8h + 2·part + 1
          for (let t = 0; t < 2; t++) {
            let isum = 0;
            for (let l = 16 * t; l < 16 * t + 16; l++) {
              const lo = data[ql + l + 32 * (part & 1)]!;
              const q = ((part < 2 ? lo & 15 : lo >> 4) | (((data[qh + l]! >> (2 * part)) & 3) << 4)) - 32;
              isum += q * act.q[x + 32 * part + l]!;
            }
            sumi += dv.getInt8(ob + 192 + 8 * h + 2 * part + t) * isum;
          }
        }
      }
      s += act.d[b]! * halfToFloat(dv.getUint16(ob + 208, true)) * sumi;
    }
    return s;
  },
};
