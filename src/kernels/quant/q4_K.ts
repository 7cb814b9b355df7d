/**
 * q4_K (ggml block_q4_K, 144 bytes per 256 values): f16 d, f16 dmin, 12 bytes of eight 6-bit
 * sub-block scales and mins (see k-common.ts), 128 bytes of nibbles. Sub-block j (32 values)
 * decodes as x = d·sc_j·q − dmin·m_j; the nibbles are stored per 64 values: byte i of each
 * 32-byte group holds value i of the first sub-block (low nibble) and value i of the second
 * (high nibble). Quantiser: k-scale-min.ts with nmax 15 (make_qkx2_quants, rmin −1, 20 steps).
 * Products: float activations (dequantise, then dot).
 */
import { dequantizingRowDot, type QuantFormat } from "./format.js";
import { QK_K } from "./k-common.js";
import { dequantizeScaleMinSuperBlock, quantizeScaleMinSuperBlock } from "./k-scale-min.js";

export const q4_K: QuantFormat<"q4_K"> = {
  name: "q4_K",
  ggmlId: 12,
  ggmlName: "Q4_K",
  blockSize: QK_K,
  blockBytes: 144,
  activations: "f32",
  halfOffsets: [0, 2],
  quantizeBlock(src, s, dst, dv, o) {
    const L = quantizeScaleMinSuperBlock(src, s, dst, dv, o, 15, -1, 20);
    for (let g = 0; g < 4; g++) {
      for (let l = 0; l < 32; l++) dst[o + 16 + 32 * g + l] = L[64 * g + l]! | (L[64 * g + 32 + l]! << 4);
    }
  },
  dequantizeBlock(data, dv, o, out, p) {
    dequantizeScaleMinSuperBlock(data, dv, o, out, p, (g, l, h) => (h === 0 ? data[o + 16 + 32 * g + l]! & 15 : data[o + 16 + 32 * g + l]! >> 4));
  },
  rowDot(data, dv, o, act, k) {
    return dequantizingRowDot(q4_K, data, dv, o, act, k);
  },
};
