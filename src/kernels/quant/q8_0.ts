/**
 * q8_0: blocks of 32 values: f16 scale d, then 32 int8 q;  x = d·q  (34 bytes).
 * Quantiser (ggml's reference): d = amax/127, q = roundf(x·(1/d)) (half away from zero, float32).
 * Products: 8-bit activations, an exact integer sum per block scaled by d_w·d_x.
 */
import { f32ToF16 } from "../../formats/half.js";
import { fr, halfToFloat, roundAway, type QuantFormat } from "./format.js";

const QK = 32;

export const q8_0: QuantFormat<"q8_0"> = {
  name: "q8_0",
  ggmlId: 8,
  ggmlName: "Q8_0",
  blockSize: QK,
  blockBytes: 34,
  activations: "q8",
  halfOffsets: [0],
  quantizeBlock(src, s, dst, dv, o) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(src[s + j]!));
    const d = fr(amax / 127);
    const id = d !== 0 ? fr(1 / d) : 0;
    dv.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < QK; j++) dst[o + 2 + j] = roundAway(fr(src[s + j]! * id)) & 0xff;
  },
  dequantizeBlock(data, dv, o, out, p) {
    const d = halfToFloat(dv.getUint16(o, true));
    for (let j = 0; j < QK; j++) out[p + j] = d * ((data[o + 2 + j]! << 24) >> 24);
  },
  rowDot(data, dv, o, act, k) {
    let acc = 0;
    for (let b = 0; b < k / QK; b++) {
      const ob = o + b * 34;
      let isum = 0;
      for (let t = 0; t < QK; t++) isum += ((data[ob + 2 + t]! << 24) >> 24) * act.q[b * QK + t]!;
      acc = fr(acc + fr(fr(halfToFloat(dv.getUint16(ob, true)) * act.d[b]!) * isum));
    }
    return acc;
  },
};
