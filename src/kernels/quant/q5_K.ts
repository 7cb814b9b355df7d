/**
 * q5_K (ggml block_q5_K, 176 bytes per 256 values): f16 d, f16 dmin, 12 bytes of 6-bit scales
 * and mins (as q4_K), 32 bytes qh of fifth bits, 128 bytes qs of low nibbles. Value i of 64-value
 * group g: q = (qs[32g + i] & 15 | bit 2g of qh[i] << 4) for the group's first 32 values and
 * (qs[32g + i] >> 4 | bit 2g+1 of qh[i] << 4) for its second; x = d·sc_j·q − dmin·m_j.
 * Quantiser: k-scale-min.ts with nmax 31 (make_qkx2_quants, rmin −0.5, 15 steps).
 * Products: 8-bit activations per 256 values (./q8-k.ts), integer sums per sub-block
 * (scaleMinRowDotK).
 */
import { type QuantFormat } from "./format.js";
import { QK_K } from "./k-common.js";
import { dequantizeScaleMinSuperBlock, quantizeScaleMinSuperBlock, scaleMinRowDotK } from "./k-scale-min.js";

export const q5_K: QuantFormat<"q5_K"> = {
  name: "q5_K",
  ggmlId: 13,
  ggmlName: "Q5_K",
  blockSize: QK_K,
  blockBytes: 176,
  activations: "q8_K",
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
    dequantizeScaleMinSuperBlock(data, dv, o, out, p, (g, l, h) => code(data, o, g, l, h));
  },
  rowDot(data, dv, o, act, k) {
    return scaleMinRowDotK(data, dv, o, act, k, 176, (ob, g, l, h) => code(data, ob, g, l, h));
  },
};

/** The 5-bit quant of value 64g + 32h + l of the block at o. */
function code(data: Uint8Array, o: number, g: number, l: number, h: 0 | 1): number {
  const q = data[o + 48 + 32 * g + l]!;
  return (h === 0 ? q & 15 : q >> 4) | (((data[o + 16 + l]! >> (2 * g + h)) & 1) << 4);
}
