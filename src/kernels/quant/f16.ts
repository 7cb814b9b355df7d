/** f16: IEEE binary16 values, 2 bytes each (a "block" of one value); products in float. */
import { f32ToF16 } from "../../formats/half.js";
import { dequantizingRowDot, halfToFloat, type QuantFormat } from "./format.js";

export const f16: QuantFormat<"f16"> = {
  name: "f16",
  ggmlId: 1,
  ggmlName: "F16",
  blockSize: 1,
  blockBytes: 2,
  activations: "f32",
  halfOffsets: [0],
  quantizeBlock(src, s, _dst, dv, o) {
    dv.setUint16(o, f32ToF16(src[s]!), true);
  },
  dequantizeBlock(_data, dv, o, out, p) {
    out[p] = halfToFloat(dv.getUint16(o, true));
  },
  rowDot(data, dv, o, act, k) {
    return dequantizingRowDot(f16, data, dv, o, act, k);
  },
};
