/**
 * bf16: bfloat16 values (the upper half of an IEEE binary32), 2 bytes each (a "block" of one
 * value); GGML type 30. Widening is exact (bits << 16), so weights published in bf16 are kept
 * as they are instead of being rounded to f16 or doubled to f32. Products in float, as f16.
 * Finiteness: a bf16 value is Inf/NaN when its exponent bits 0x7f80 are all set; that rule is
 * checkTensorFinite's (formats/gguf-model.ts): `halfOffsets` lists f16 fields only, so it is empty.
 */
import { bf16ToF32, f32ToBf16 } from "../../formats/half.js";
import { dequantizingRowDot, type QuantFormat } from "./format.js";

export const bf16: QuantFormat<"bf16"> = {
  name: "bf16",
  ggmlId: 30,
  ggmlName: "BF16",
  blockSize: 1,
  blockBytes: 2,
  activations: "f32",
  halfOffsets: [],
  quantizeBlock(src, s, _dst, dv, o) {
    dv.setUint16(o, f32ToBf16(src[s]!), true);
  },
  dequantizeBlock(_data, dv, o, out, p) {
    out[p] = bf16ToF32(dv.getUint16(o, true));
  },
  rowDot(data, dv, o, act, k) {
    return dequantizingRowDot(bf16, data, dv, o, act, k);
  },
};
