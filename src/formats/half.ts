/**
 * IEEE binary16 (F16) and bfloat16 (BF16) conversions to and from float32.
 *
 * Half values travel as their 16-bit patterns (numbers 0..65535 or Uint16Array elements).
 * Widening (16 -> 32 bits) is exact. Narrowing (32 -> 16 bits) rounds to nearest, ties to
 * even, overflows to ±Inf, keeps signed zeros and subnormals, and turns NaN into a quiet NaN
 * of the same sign (keeping the top payload bits).
 *
 * The bulk converters work on bit patterns through Uint32Array views, so NaN payloads survive
 * widening exactly; the scalar ones return JS numbers (where NaN has no payload).
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The float32 bit pattern of a binary16 bit pattern (exact). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // Inf / NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // normal: rebias 15 -> 127
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal: value = mant · 2^-24. Normalise so the leading 1 sits at bit 10.
  let e = 113; // exponent field for 2^-14 in float32 (-14 + 127)
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** The binary16 bit pattern nearest (ties to even) to the float32 with bit pattern `b`. */
export function f32BitsToF16Bits(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00; // ±Inf
    return sign | 0x7c00 | 0x200 | (mant >>> 13); // NaN: quiet, top payload bits kept
  }
  const e = exp - 112; // binary16 exponent field (127 - 15 = 112)
  if (e >= 0x1f) return sign | 0x7c00; // too large: ±Inf
  if (e <= 0) {
    // Result is subnormal (or zero, or rounds up to the smallest normal).
    if (e < -10) return sign; // below half the smallest subnormal: ±0
    const m = mant | 0x800000; // 24-bit significand with the implicit 1
    const shift = 14 - e; // 14..24
    let r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (r & 1) === 1)) r++;
    return sign | r;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry may reach Inf: correct
  return sign | h;
}

/** The bfloat16 bit pattern nearest (ties to even) to the float32 with bit pattern `b`. */
export function f32BitsToBf16Bits(b: number): number {
  b >>>= 0;
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) {
    return ((b >>> 16) | 0x40) & 0xffff; // NaN: quiet, top payload bits kept
  }
  const rounded = b + 0x7fff + ((b >>> 16) & 1); // may carry into the exponent: correct (to Inf)
  return (rounded >>> 16) & 0xffff;
}

/** Decodes one binary16 value (given as its bit pattern) to a number. */
export function f16ToF32(bits: number): number {
  scratchU32[0] = f16BitsToF32Bits(bits & 0xffff);
  return scratchF32[0]!;
}

/** Decodes one bfloat16 value (given as its bit pattern) to a number. */
export function bf16ToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0]!;
}

/** The binary16 bit pattern of `x` (first rounded to float32, then to half, ties to even). */
export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  return f32BitsToF16Bits(scratchU32[0]!);
}

/** The bfloat16 bit pattern of `x` (first rounded to float32, then to bfloat16, ties to even). */
export function f32ToBf16(x: number): number {
  scratchF32[0] = x;
  return f32BitsToBf16Bits(scratchU32[0]!);
}

let f16Table: Uint32Array | undefined;

/** All 65536 binary16 -> float32 bit patterns (256 KiB), built on first use. */
function f16ToF32Table(): Uint32Array {
  if (f16Table === undefined) {
    const t = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) t[h] = f16BitsToF32Bits(h);
    f16Table = t;
  }
  return f16Table;
}

function u32View(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function checkOut(n: number, outLength: number): void {
  if (outLength < n) throw new RangeError(`output holds ${outLength} values, need ${n}`);
}

/** Widens binary16 bit patterns to float32 (exact). Writes into `out` when given. */
export function f16ArrayToF32(src: Uint16Array): Float32Array<ArrayBuffer>;
export function f16ArrayToF32<T extends Float32Array>(src: Uint16Array, out: T): T;
export function f16ArrayToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  checkOut(src.length, out.length);
  const table = f16ToF32Table();
  const o = u32View(out);
  for (let i = 0; i < src.length; i++) o[i] = table[src[i]!]!;
  return out;
}

/** Widens bfloat16 bit patterns to float32 (exact). Writes into `out` when given. */
export function bf16ArrayToF32(src: Uint16Array): Float32Array<ArrayBuffer>;
export function bf16ArrayToF32<T extends Float32Array>(src: Uint16Array, out: T): T;
export function bf16ArrayToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  checkOut(src.length, out.length);
  const o = u32View(out);
  for (let i = 0; i < src.length; i++) o[i] = src[i]! << 16;
  return out;
}

/** Narrows float32 values to binary16 bit patterns (ties to even). */
export function f32ArrayToF16(src: Float32Array): Uint16Array<ArrayBuffer>;
export function f32ArrayToF16<T extends Uint16Array>(src: Float32Array, out: T): T;
export function f32ArrayToF16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkOut(src.length, out.length);
  const s = u32View(src);
  for (let i = 0; i < s.length; i++) out[i] = f32BitsToF16Bits(s[i]!);
  return out;
}

/** Narrows float32 values to bfloat16 bit patterns (ties to even). */
export function f32ArrayToBf16(src: Float32Array): Uint16Array<ArrayBuffer>;
export function f32ArrayToBf16<T extends Uint16Array>(src: Float32Array, out: T): T;
export function f32ArrayToBf16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkOut(src.length, out.length);
  const s = u32View(src);
  for (let i = 0; i < s.length; i++) out[i] = f32BitsToBf16Bits(s[i]!);
  return out;
}
