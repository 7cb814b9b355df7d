/**
 * The contract of one quantisation type (one module per type in this folder, listed in
 * ./index.ts): its GGML id and name, its block (`blockSize` values in `blockBytes` bytes, rows
 * hold whole blocks), and its reference kernels:
 *
 *   quantizeBlock:   src[s .. s+blockSize) floats -> dst[o .. o+blockBytes) bytes
 *   dequantizeBlock: data[o .. o+blockBytes) bytes -> out[p .. p+blockSize) floats
 *   rowDot:          Σ_j w_j · a_j over one row of k values, w stored at data[o ..), where the
 *                    activation a is `act.x` as is (activations "f32") or its 8-bit round trip
 *                    d_b·q_j in blocks of 32 (activations "q8": the integer sums of llama.cpp's
 *                    q8_0 activations; see ../quant.ts), or 8-bit in super-blocks of 256
 *                    (activations "q8_K": llama.cpp's Q8_K idea, see ./q8-k.ts)
 *
 * The native kernels (native/quant.c, the per-type table there) compute the same products.
 */
import { f16BitsToF32Bits } from "../../formats/half.js";

/** One activation row as the reference products read it. */
export interface ActivationRow {
  /** The float row (k values). */
  readonly x: Float32Array;
  /** 8-bit activations in blocks of 32 (activations "q8") or 256 (activations "q8_K"; else unused). */
  readonly q: Int8Array;
  /** Their float32 block scales (one per 32 or 256 values). */
  readonly d: Float32Array;
}

export interface QuantFormat<Name extends string = string> {
  /** Our name (llama.cpp's spelling in lower case but the K: "q8_0", "q4_K"). */
  readonly name: Name;
  /** GGML type id (GGUF tensor infos) and GGML's name. */
  readonly ggmlId: number;
  readonly ggmlName: string;
  readonly blockSize: number;
  readonly blockBytes: number;
  /** How rowDot (and the native products) take the activations. */
  readonly activations: "f32" | "q8" | "q8_K";
  /**
   * Byte offsets in a block of its f16 fields (scales, mins; f16: the value itself): the only
   * places a block can hold Inf/NaN (the other fields are small integers).
   */
  readonly halfOffsets: readonly number[];
  quantizeBlock(src: Float32Array, s: number, dst: Uint8Array, dv: DataView, o: number): void;
  dequantizeBlock(data: Uint8Array, dv: DataView, o: number, out: Float32Array, p: number): void;
  rowDot(data: Uint8Array, dv: DataView, o: number, act: ActivationRow, k: number): number;
}

export const fr = Math.fround;

const f32s = new Float32Array(1);
const u32s = new Uint32Array(f32s.buffer);
export function halfToFloat(h: number): number {
  u32s[0] = f16BitsToF32Bits(h);
  return f32s[0]!;
}

/** C's roundf: half away from zero. */
export function roundAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** ggml's nearest_int: round half to even through float32 (|v| < 2^22). */
export function nearestInt(v: number): number {
  return fr(fr(v) + 12582912) - 12582912;
}

/** Row dot with float activations: dequantise block by block, sum in double (the f32 reference). */
let scratch = new Float32Array(256);
export function dequantizingRowDot(f: QuantFormat, data: Uint8Array, dv: DataView, o: number, act: ActivationRow, k: number): number {
  if (scratch.length < f.blockSize) scratch = new Float32Array(f.blockSize);
  const buf = scratch;
  let s = 0;
  for (let b = 0; b < k / f.blockSize; b++) {
    f.dequantizeBlock(data, dv, o + b * f.blockBytes, buf, 0);
    const x0 = b * f.blockSize;
    for (let j = 0; j < f.blockSize; j++) s += act.x[x0 + j]! * buf[j]!;
  }
  return s;
}
