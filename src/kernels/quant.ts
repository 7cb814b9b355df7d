/**
 * Quantised weight matrices in the GGUF (ggml) block layouts, and their reference kernels,
 * over the registry of types in ./quant/ (one module per type: f16, q8_0, q4_0, q4_K, q5_K,
 * q6_K; each states its layout, its quantiser and how its products take the activations).
 *
 * Products (`quantMatmulReference`): for q8_0/q4_0 the activation row is itself quantised to
 * 8 bits per block of 32 (scale amax/127 kept in float32, not f16), and each block's product is
 * an exact integer sum scaled by d_w·d_x, accumulated in float32: the same scheme as llama.cpp's
 * q8_0 activations (whose scale is f16), and what the native kernels compute with integer SIMD.
 * The K-quants take the activation row quantised per super-block of 256 (./quant/q8-k.ts,
 * llama.cpp's Q8_K idea) and exact integer sums per super-block; f16 is widened to float and
 * multiplied with the float activations. The
 * native backend has two paths with these numbers: dot products row by row (few rows:
 * decoding), and, from `qGemmMinRows()` rows on (prefill, evaluation), weights widened to
 * float32 panel by panel into its packed sgemm (for q8_0/q4_0 and the K-quants with the same 8-bit activations
 * widened back to float, d_x·q_x): equal to this reference to float rounding.
 */
import { f32ArrayToF16 } from "../formats/half.js";
import { fr, roundAway, type ActivationRow } from "./quant/format.js";
import { QUANT_FORMATS, quantFormat, type QuantType } from "./quant/index.js";
import { QK_K } from "./quant/k-common.js";
import { quantizeActivationsK } from "./quant/q8-k.js";

export { QUANT_FORMATS, QUANT_TYPES, isQuantType, quantFormat, quantFormatById, type QuantFormat, type QuantType } from "./quant/index.js";

/** A [rows × cols] weight matrix stored row by row in a quantised layout. */
export interface QuantMatrix {
  readonly kind: "quant";
  readonly type: QuantType;
  readonly rows: number;
  readonly cols: number;
  /** rows · rowBytes(type, cols) bytes. */
  readonly data: Uint8Array;
}

/** A linear layer's weight: plain float32 [rows × cols] or quantised. */
export type Weight = Float32Array | QuantMatrix;

/** The block of the 8-bit activations (and of q8_0/q4_0). */
export const QK = 32;

/** ggml type ids (as stored in GGUF tensor infos), from the registry plus f32. */
export const GGML_TYPE_ID: Readonly<Record<QuantType | "f32", number>> = Object.freeze({
  f32: 0,
  ...(Object.fromEntries(QUANT_FORMATS.map((f) => [f.name, f.ggmlId])) as Record<QuantType, number>),
});

export function isQuantMatrix(w: Weight): w is QuantMatrix {
  return !(w instanceof Float32Array);
}

/** Whether a row of `cols` values can be stored as `type` (rows hold whole blocks). */
export function canQuantize(type: QuantType, cols: number): boolean {
  return cols % quantFormat(type).blockSize === 0;
}

export function rowBytes(type: QuantType, cols: number): number {
  const f = quantFormat(type);
  if (cols % f.blockSize !== 0) throw new RangeError(`${type} rows need a multiple of ${f.blockSize} values, got ${cols}`);
  return (cols / f.blockSize) * f.blockBytes;
}

/** Quantises a row-major [rows × cols] float32 matrix. */
export function quantize(src: Float32Array, rows: number, cols: number, type: QuantType): QuantMatrix {
  if (src.length < rows * cols) throw new RangeError(`quantize: ${src.length} values for a ${rows}×${cols} matrix`);
  const rb = rowBytes(type, cols);
  const data = new Uint8Array(rows * rb);
  if (type === "f16") {
    f32ArrayToF16(src.subarray(0, rows * cols), new Uint16Array(data.buffer, 0, rows * cols));
  } else {
    const f = quantFormat(type);
    const dv = new DataView(data.buffer);
    const blocks = (rows * cols) / f.blockSize;
    for (let b = 0; b < blocks; b++) f.quantizeBlock(src, b * f.blockSize, data, dv, b * f.blockBytes);
  }
  return { kind: "quant", type, rows, cols, data };
}

/** Dequantises rows [r0, r0+count) of `w` into out[0 .. count·cols). */
export function dequantizeRows(w: QuantMatrix, r0: number, count: number, out: Float32Array = new Float32Array(count * w.cols)): Float32Array {
  const { cols, type, data } = w;
  if (r0 < 0 || count < 0 || r0 + count > w.rows) throw new RangeError(`dequantizeRows: rows ${r0}..${r0 + count} outside 0..${w.rows}`);
  if (out.length < count * cols) throw new RangeError(`dequantizeRows: output too short`);
  const f = quantFormat(type);
  const base = r0 * rowBytes(type, cols);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const blocks = (count * cols) / f.blockSize;
  for (let b = 0; b < blocks; b++) f.dequantizeBlock(data, dv, base + b * f.blockBytes, out, b * f.blockSize);
  return out;
}

export function dequantize(w: QuantMatrix): Float32Array {
  return dequantizeRows(w, 0, w.rows);
}

/** Bytes of `w` for rows [r0, r0+count) as a view (no copy). */
export function quantRowsView(w: QuantMatrix, r0: number, count: number): Uint8Array {
  const rb = rowBytes(w.type, w.cols);
  return w.data.subarray(r0 * rb, (r0 + count) * rb);
}

/**
 * The activation quantiser of the q8_0/q4_0 products: one row of k floats (k a multiple of 32)
 * to int8 values and one float32 scale per block (d = amax/127, q = round(x/d)).
 */
export function quantizeActivations(x: Float32Array, k: number, q: Int8Array, scales: Float32Array): void {
  for (let b = 0; b < k / QK; b++) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[b * QK + j]!));
    const d = fr(amax / 127);
    const id = d !== 0 ? fr(1 / d) : 0;
    scales[b] = d;
    for (let j = 0; j < QK; j++) q[b * QK + j] = roundAway(fr(x[b * QK + j]! * id));
  }
}

/**
 * Reference product with a quantised weight: out[m×n] = a[m×k] · wᵀ with w [n×k] quantised
 * (the contract of the native `qmatmul`).
 */
export function quantMatmulReference(out: Float32Array, a: Float32Array, w: QuantMatrix, m: number): void {
  const n = w.rows;
  const k = w.cols;
  if (a.length < m * k || out.length < m * n) throw new RangeError("quantMatmulReference: arrays too short for the sizes");
  const f = quantFormat(w.type);
  const data = w.data;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const rb = rowBytes(w.type, k);
  const q8 = f.activations === "q8", q8K = f.activations === "q8_K";
  const q = new Int8Array(q8 || q8K ? k : 0);
  const d = new Float32Array(q8 ? k / QK : q8K ? k / QK_K : 0);
  for (let i = 0; i < m; i++) {
    const x = a.subarray(i * k, (i + 1) * k);
    if (q8) quantizeActivations(x, k, q, d);
    else if (q8K) quantizeActivationsK(x, k, q, d);
    const act: ActivationRow = { x, q, d };
    for (let j = 0; j < n; j++) out[i * n + j] = f.rowDot(data, dv, j * rb, act, k);
  }
}

/**
 * Byte index of the first f16 field (block scale, min, or f16 value) of `data` that is Inf or NaN
 * (all-ones exponent), or −1: the load-time finiteness check of any registry type, since a
 * block's other fields are small integers.
 */
export function nonFiniteHalfAt(type: QuantType, data: Uint8Array): number {
  const f = quantFormat(type);
  for (let b = 0; b + f.blockBytes <= data.length; b += f.blockBytes) {
    for (const o of f.halfOffsets) if (((data[b + o]! | (data[b + o + 1]! << 8)) & 0x7c00) === 0x7c00) return b + o;
  }
  return -1;
}

/** Permutes whole rows: out row i = w row perm[i]. Works on any layout (rows are independent). */
export function permuteQuantRows(w: QuantMatrix, perm: readonly number[]): QuantMatrix {
  const rb = rowBytes(w.type, w.cols);
  const data = new Uint8Array(w.data.length);
  for (let i = 0; i < w.rows; i++) data.set(w.data.subarray(perm[i]! * rb, (perm[i]! + 1) * rb), i * rb);
  return { ...w, data };
}
