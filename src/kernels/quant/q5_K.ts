/**
 * q5_K (ggml block_q5_K, 176 bytes per 256 values): f16 d, f16 dmin, 12 bytes of 6-bit scales
 * and mins (as q4_K), 32 bytes qh of fifth bits, 128 bytes qs of low nibbles. Value i of 64-value
 * group g: q = (qs[32g + i] & 15 | bit 2g of qh[i] << 4) for the group's first 32 values and
 * (qs[32g + i] >> 4 | bit 2g+1 of qh[i] << 4) for its second; x = d·sc_j·q − dmin·m_j.
 * Quantiser: k-scale-min.ts with nmax 31 (make_qkx2_quants, rmin −0.5, 15 steps).
 * Products: float activations (dequantise, then dot).
 */
import { dequantizingRowDot, halfToFloat, type QuantFormat } from "./format.js";
import { QK_K, scaleMinK4 } from "./k-common.js";
import { quantizeScaleMinSuperBlock } from "./k-scale-min.js";

export const q5_K: QuantFormat<"q5_K"> = {
  name: "q5_K",
  ggmlId: 13,
  ggmlName: "Q5_K",
  blockSize: QK_K,
  blockBytes: 176,
  activations: "f32",
  halfOffsets: [0, 2],
  quantizeBlock(src, s, dst, dv, o) {
    const L = quantizeScaleMinSuperBlock(src, s, dst, dv, o, 31, -0.5, 15);
    dst.fill(0, o + 16, o + 48);
    for (let g = 0; g < 4; g++) {
      for (let l = 0; l < 32; l++) {
        const a = L[64 * g + l]!, b = L[64 * g + 32 + l]!;
        dst[o + 16 + l]! |= ((a >> 4) << (2 * g)) | ((b >> 4) << (2 * g + 1));
        dst[o + 48 + 32 * g + l] = (a & 15) | ((b & 15) << 4);
      }
    }
  },
  dequantizeBlock(data, dv, o, out, p) {
    const d = halfToFloat(dv.getUint16(o, true));
    const dmin = halfToFloat(dv.getUint16(o + 2, true));
    for (let g = 0; g < 4; g++) {
      const [s1, m1] = scaleMinK4(2 * g, data, o + 4);
      const [s2, m2] = scaleMinK4(2 * g + 1, data, o + 4);
      const d1 = Math.fround(d * s1), n1 = Math.fround(dmin * m1);
      const d2 = Math.fround(d * s2), n2 = Math.fround(dmin * m2);
      const q = o + 48 + 32 * g;
      for (let l = 0; l < 32; l++) {
        const h = data[o + 16 + l]!;
        out[p + 64 * g + l] = d1 * ((data[q + l]! & 15) | (((h >> (2 * g)) & 1) << 4)) - n1;
        out[p + 64 * g + 32 + l] = d2 * ((data[q + l]! >> 4) | (((h >> (2 * g + 1)) & 1) << 4)) - n2;
      }
    }
  },
  rowDot(data, dv, o, act, k) {
    return dequantizingRowDot(q5_K, data, dv, o, act, k);
  },
};
