/**
 * Quantised weight matrices in the GGUF (ggml) block layouts, and their reference kernels.
 *
 *   q8_0: blocks of 32 values: f16 scale d, then 32 int8 q;            x = d·q        (34 bytes)
 *   q4_0: blocks of 32 values: f16 scale d, then 16 bytes of nibbles;  x = d·(q − 8)  (18 bytes)
 *         byte j holds element j in its low nibble and element j+16 in its high nibble
 *   f16:  IEEE binary16 values                                                          (2 bytes)
 *
 * Rounding follows ggml's reference quantisers: q8_0 takes d = amax/127 and q = round(x/d)
 * (half away from zero, computed in float32 as x·(1/d)); q4_0 takes the element of largest
 * magnitude `max` (with its sign), d = max/−8 and q = min(15, trunc(x/d + 8.5)).
 *
 * Products (`quantMatmulReference`): the activation row is itself quantised to 8 bits per block
 * of 32 (scale amax/127 kept in float32, not f16), and each block's product is an exact integer
 * sum scaled by d_w·d_x, accumulated in float32: the same scheme as llama.cpp's q8_0 activations
 * (whose scale is f16), and what the native kernels compute with integer SIMD. f16 weights are
 * widened and multiplied in float. The native backend has two paths with these numbers: block dot
 * products row by row (few rows: decoding), and, from `qGemmMinRows()` rows on (prefill,
 * evaluation), weights widened to float32 panel by panel into its packed sgemm with the same
 * 8-bit activations widened back to float (d_x·q_x): equal to this reference to float rounding.
 */
import { f16BitsToF32Bits, f32ArrayToF16, f32ToF16 } from "../formats/half.js";

export type QuantType = "f16" | "q8_0" | "q4_0";

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

export const QK = 32;
export const Q8_0_BLOCK_BYTES = 34;
export const Q4_0_BLOCK_BYTES = 18;

/** ggml type ids (as stored in GGUF tensor infos). */
export const GGML_TYPE_ID: Record<QuantType | "f32", number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 8 };

export function isQuantMatrix(w: Weight): w is QuantMatrix {
  return !(w instanceof Float32Array);
}

/** Whether a row of `cols` values can be stored as `type` (block types need multiples of 32). */
export function canQuantize(type: QuantType, cols: number): boolean {
  return type === "f16" || cols % QK === 0;
}

export function rowBytes(type: QuantType, cols: number): number {
  switch (type) {
    case "f16":
      return cols * 2;
    case "q8_0":
      if (cols % QK !== 0) throw new RangeError(`q8_0 rows need a multiple of ${QK} values, got ${cols}`);
      return (cols / QK) * Q8_0_BLOCK_BYTES;
    case "q4_0":
      if (cols % QK !== 0) throw new RangeError(`q4_0 rows need a multiple of ${QK} values, got ${cols}`);
      return (cols / QK) * Q4_0_BLOCK_BYTES;
  }
}

const f32s = new Float32Array(1);
const u32s = new Uint32Array(f32s.buffer);
function halfToFloat(h: number): number {
  u32s[0] = f16BitsToF32Bits(h);
  return f32s[0]!;
}

/** C's roundf: half away from zero. */
function roundAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

const fr = Math.fround;

/** Quantises one block of 32 floats (src[s..s+32)) to q8_0 at dst[o..o+34). */
function quantizeBlockQ8(src: Float32Array, s: number, dst: Uint8Array, dv: DataView, o: number): void {
  let amax = 0;
  for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(src[s + j]!));
  const d = fr(amax / 127);
  const id = d !== 0 ? fr(1 / d) : 0;
  dv.setUint16(o, f32ToF16(d), true);
  for (let j = 0; j < QK; j++) dst[o + 2 + j] = roundAway(fr(src[s + j]! * id)) & 0xff;
}

function quantizeBlockQ4(src: Float32Array, s: number, dst: Uint8Array, dv: DataView, o: number): void {
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
}

/** Quantises a row-major [rows × cols] float32 matrix. */
export function quantize(src: Float32Array, rows: number, cols: number, type: QuantType): QuantMatrix {
  if (src.length < rows * cols) throw new RangeError(`quantize: ${src.length} values for a ${rows}×${cols} matrix`);
  const rb = rowBytes(type, cols);
  const data = new Uint8Array(rows * rb);
  if (type === "f16") {
    f32ArrayToF16(src.subarray(0, rows * cols), new Uint16Array(data.buffer, 0, rows * cols));
  } else {
    const dv = new DataView(data.buffer);
    const blocks = (rows * cols) / QK;
    const bb = type === "q8_0" ? Q8_0_BLOCK_BYTES : Q4_0_BLOCK_BYTES;
    const fn = type === "q8_0" ? quantizeBlockQ8 : quantizeBlockQ4;
    for (let b = 0; b < blocks; b++) fn(src, b * QK, data, dv, b * bb);
  }
  return { kind: "quant", type, rows, cols, data };
}

/** Dequantises rows [r0, r0+count) of `w` into out[0 .. count·cols). */
export function dequantizeRows(w: QuantMatrix, r0: number, count: number, out: Float32Array = new Float32Array(count * w.cols)): Float32Array {
  const { cols, type, data } = w;
  if (r0 < 0 || count < 0 || r0 + count > w.rows) throw new RangeError(`dequantizeRows: rows ${r0}..${r0 + count} outside 0..${w.rows}`);
  if (out.length < count * cols) throw new RangeError(`dequantizeRows: output too short`);
  const rb = rowBytes(type, cols);
  const base = r0 * rb;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = count * cols;
  if (type === "f16") {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(base + 2 * i, true));
  } else if (type === "q8_0") {
    for (let b = 0; b < n / QK; b++) {
      const o = base + b * Q8_0_BLOCK_BYTES;
      const d = halfToFloat(dv.getUint16(o, true));
      for (let j = 0; j < QK; j++) out[b * QK + j] = d * ((data[o + 2 + j]! << 24) >> 24);
    }
  } else {
    for (let b = 0; b < n / QK; b++) {
      const o = base + b * Q4_0_BLOCK_BYTES;
      const d = halfToFloat(dv.getUint16(o, true));
      for (let j = 0; j < QK / 2; j++) {
        const byte = data[o + 2 + j]!;
        out[b * QK + j] = d * ((byte & 15) - 8);
        out[b * QK + j + QK / 2] = d * ((byte >> 4) - 8);
      }
    }
  }
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
 * The activation quantiser of the products: one row of k floats (k a multiple of 32) to int8
 * values and one float32 scale per block (d = amax/127, q = round(x/d)).
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
  const data = w.data;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (w.type === "f16") {
    const row = new Float32Array(k);
    for (let j = 0; j < n; j++) {
      dequantizeRows(w, j, 1, row);
      for (let i = 0; i < m; i++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[i * k + p]! * row[p]!;
        out[i * n + j] = s;
      }
    }
    return;
  }
  const nb = k / QK;
  const qa = new Int8Array(k);
  const sa = new Float32Array(nb);
  const rb = rowBytes(w.type, k);
  const scales = new Float32Array(nb);
  for (let i = 0; i < m; i++) {
    quantizeActivations(a.subarray(i * k, (i + 1) * k), k, qa, sa);
    for (let j = 0; j < n; j++) {
      let acc = 0;
      const r = j * rb;
      for (let b = 0; b < nb; b++) {
        let isum = 0;
        if (w.type === "q8_0") {
          const o = r + b * Q8_0_BLOCK_BYTES;
          scales[b] = halfToFloat(dv.getUint16(o, true));
          for (let t = 0; t < QK; t++) isum += ((data[o + 2 + t]! << 24) >> 24) * qa[b * QK + t]!;
        } else {
          const o = r + b * Q4_0_BLOCK_BYTES;
          scales[b] = halfToFloat(dv.getUint16(o, true));
          for (let t = 0; t < QK / 2; t++) {
            const byte = data[o + 2 + t]!;
            isum += ((byte & 15) - 8) * qa[b * QK + t]! + ((byte >> 4) - 8) * qa[b * QK + t + QK / 2]!;
          }
        }
        acc = fr(acc + fr(fr(scales[b]! * sa[b]!) * isum));
      }
      out[i * n + j] = acc;
    }
  }
}

/** Permutes whole rows: out row i = w row perm[i]. Works on any layout (rows are independent). */
export function permuteQuantRows(w: QuantMatrix, perm: readonly number[]): QuantMatrix {
  const rb = rowBytes(w.type, w.cols);
  const data = new Uint8Array(w.data.length);
  for (let i = 0; i < w.rows; i++) data.set(w.data.subarray(perm[i]! * rb, (perm[i]! + 1) * rb), i * rb);
  return { ...w, data };
}
