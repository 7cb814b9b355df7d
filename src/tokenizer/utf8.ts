/**
 * UTF-8 helpers with SentencePiece's exact rules. SentencePiece replaces each byte of a
 * malformed sequence by U+FFFD separately (TextDecoder replaces a maximal subpart with one
 * U+FFFD), so byte-fallback decoding must use decodeUtf8Spm to give the same strings.
 */

export const REPLACEMENT_CHAR = "\uFFFD";

const encoder = new TextEncoder();

export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Number of UTF-8 bytes of the code point c. */
export function utf8Length(c: number): number {
  return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

/** Bytes of the UTF-8 encoding of s (a lone surrogate counts as U+FFFD: 3 bytes, as TextEncoder writes it). */
export function utf8ByteLength(s: string): number {
  let n = 0;
  for (const ch of s) n += utf8Length(ch.codePointAt(0)!);
  return n;
}

function isTrail(b: number): boolean {
  return (b & 0xc0) === 0x80;
}

function isValidCodepoint(c: number): boolean {
  return c < 0xd800 || (c >= 0xe000 && c <= 0x10ffff);
}

/**
 * Decodes one code point at bytes[pos] (string_util::DecodeUTF8): returns [codepoint, length],
 * or [-1, 1] for a malformed byte.
 */
export function decodeUtf8At(bytes: ArrayLike<number>, pos: number, end: number): [number, number] {
  const len = end - pos;
  const b0 = bytes[pos]!;
  if (b0 < 0x80) return [b0, 1];
  if (len >= 2 && (b0 & 0xe0) === 0xc0) {
    const b1 = bytes[pos + 1]!;
    const cp = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
    if (isTrail(b1) && cp >= 0x80 && isValidCodepoint(cp)) return [cp, 2];
  } else if (len >= 3 && (b0 & 0xf0) === 0xe0) {
    const b1 = bytes[pos + 1]!;
    const b2 = bytes[pos + 2]!;
    const cp = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
    if (isTrail(b1) && isTrail(b2) && cp >= 0x800 && isValidCodepoint(cp)) return [cp, 3];
  } else if (len >= 4 && (b0 & 0xf8) === 0xf0) {
    const b1 = bytes[pos + 1]!;
    const b2 = bytes[pos + 2]!;
    const b3 = bytes[pos + 3]!;
    const cp = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
    if (isTrail(b1) && isTrail(b2) && isTrail(b3) && cp >= 0x10000 && isValidCodepoint(cp)) return [cp, 4];
  }
  return [-1, 1];
}

/** Decodes bytes as SentencePiece does: every malformed byte becomes one U+FFFD. */
export function decodeUtf8Spm(bytes: ArrayLike<number>, start = 0, end = bytes.length): string {
  let out = "";
  let pos = start;
  while (pos < end) {
    const [cp, n] = decodeUtf8At(bytes, pos, end);
    out += cp < 0 ? REPLACEMENT_CHAR : String.fromCodePoint(cp);
    pos += n;
  }
  return out;
}

const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * JS strings may hold lone surrogates, which have no UTF-8 form; like TextEncoder we map each
 * to U+FFFD (what SentencePiece does with a malformed byte).
 */
export function toWellFormed(s: string): string {
  return ANY_SURROGATE.test(s) ? s.replace(LONE_SURROGATE, REPLACEMENT_CHAR) : s;
}

/** Compares two strings by code point (= UTF-8 byte order, which C++'s std::string uses). */
export function compareCodepoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort after every BMP code point in UTF-8 order.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
