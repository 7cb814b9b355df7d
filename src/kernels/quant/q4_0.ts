/**
 * q4_0: blocks of 32 values: f16 scale d, then 16 bytes of nibbles;  x = d·(q − 8)  (18 bytes);
 * byte j holds element j in its low nibble and element j+16 in its high nibble.
 * Quantiser (ggml's reference): the element of largest magnitude `max` (with its sign),
 * d = max/−8, q = min(15, trunc(x/d + 8.5)).
 * Products: 8-bit activations, an exact integer sum per block scaled by d_w·d_x.
 */
import { f32ToF16 } from "../../formats/half.js";
import { fr, halfToFloat, type QuantFormat } from "./format.js";

const QK = 32;

export const q4_0: QuantFormat<"q4_0"> = {
  name: "q4_0",
  ggmlId: 2,
  ggmlName: "Q4_0",
  blockSize: QK,
  blockBytes: 18,
  activations: "q8",
  halfOffsets: [0],
  quantizeBlock(src, s, dst, dv, o) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = src[s + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d !== 0 ? fr(1 / d) : 0;
    dv.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < QK / 2; j++) {
      const x0 = fr(src[s + j]! * id);
      const x1 = fr(src[s + j + QK / 2]! * id);
      const q0 = Math.min(15, Math.trunc(fr(x0 + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(x1 + 8.5)));
      dst[o + 2 + j] = q0 | (q1 << 4);
    }
  },
  dequantizeBlock(data, dv, o, out, p) {
    const d = halfToFloat(dv.getUint16(o, true));
    for (let j = 0; j < QK / 2; j++) {
      const byte = data[o + 2 + j]!;
      out[p + j] = d * ((byte & 15) - 8);
      out[p + j + QK / 2] = d * ((byte >> 4) - 8);
    }
  },
  rowDot(data, dv, o, act, k) {
    let acc = 0;
    for (let b = 0; b < k / QK; b++) {
      const ob = o + b * 18;
      let isum = 0;
      for (let t = 0; t < QK / 2; t++) {
        const byte = data[ob + 2 + t]!;
        isum += ((byte & 15) - 8) * act.q[b * QK + t]! + ((byte >> 4) - 8) * act.q[b * QK + t + QK / 2]!;
      }
      acc = fr(acc + fr(fr(halfToFloat(dv.getUint16(ob, true)) * act.d[b]!) * isum));
    }
    return acc;
  },
};
