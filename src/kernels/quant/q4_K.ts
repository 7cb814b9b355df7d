/**
 * q4_K (ggml block_q4_K, 144 bytes per 256 values): f16 d, f16 dmin, 12 bytes of eight 6-bit
 * sub-block scales and mins (see k-common.ts), 128 bytes of nibbles. Sub-block j (32 values)
 * decodes as x = d·sc_j·q − dmin·m_j; the nibbles are stored per 64 values: byte i of each
 * 32-byte group holds value i of the first sub-block (low nibble) and value i of the second
 * (high nibble). Quantiser: k-scale-min.ts with nmax 15 (make_qkx2_quants, rmin −1, 20 steps).
 * Products: 8-bit activations per 256 values (./q8-k.ts), integer sums per sub-block
 * (scaleMinRowDotK).
 */
import { type QuantFormat } from "./format.js";
import { QK_K } from "./k-common.js";
import { dequantizeScaleMinSuperBlock, quantizeScaleMinSuperBlock, scaleMinRowDotK } from "./k-scale-min.js";

export const q4_K: QuantFormat<"q4_K"> = {
  name: "q4_K",
  ggmlId: 12,
  ggmlName: "Q4_K",
  blockSize: QK_K,
  blockBytes: 144,
  activations: "q8_K",
  halfOffsets: [0, 2],
  quantizeBlock(src, s, dst, dv, o) {
    const L = quantizeScaleMinSuperBlock(src, s, dst, dv, o, 15, -1, 20);
    for (let g = 0; g < 4; g++) {
      for (let l = 0; l < 32; l++) dst[o + 16 + 32 * g + l] = L[64 * g + l]! | (L[64 * g + 32 + l]! << 4);
    }
  },
  dequantizeBlock(data, dv, o, out, p) {
    dequantizeScaleMinSuperBlock(data, dv, o, out, p, (g, l, h) => code(data, o, g, l, h));
  },
  rowDot(data, dv, o, act, k) {
    return scaleMinRowDotK(data, dv, o, act, k, 144, (ob, g, l, h) => code(data, ob, g, l, h));
  },
};

/** The nibble of value 64g + 32h + l of the block at o. */
function code(data: Uint8Array, o: number, g: number, l: number, h: 0 | 1): number {
  const q = data[o + 16 + 32 * g + l]!;
  return h === 0 ? q & 15 : q >> 4;
}
