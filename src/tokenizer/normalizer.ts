/**
 * SentencePiece's Normalizer::Normalize: the precompiled character map (empty for LLaMA's
 * "identity"), user-defined symbols kept as they are, the dummy-prefix space, optional
 * removal of extra whitespace, and ' ' escaped as '▁' (U+2581).
 */
import { Charsmap } from "./charsmap.js";
import { NORMALIZER_DEFAULTS, NormalizerSpec } from "./model-proto.js";
import { decodeUtf8At, toWellFormed, utf8Encode } from "./utf8.js";

export const SPACE_SYMBOL = "\u2581";
const SPACE_SYMBOL_BYTES = utf8Encode(SPACE_SYMBOL);
const REPLACEMENT_BYTES = utf8Encode("\uFFFD");

/** Longest-match lookup of user-defined symbols (SentencePiece's PrefixMatcher). */
export class PrefixMatcher {
  /** first UTF-16 unit -> symbols starting with it, longest first. */
  private readonly byFirst = new Map<number, string[]>();
  private readonly bytesByFirst = new Map<number, Uint8Array[]>();
  readonly size: number;

  constructor(symbols: readonly string[]) {
    this.size = symbols.length;
    for (const s of symbols) {
      if (s.length === 0) continue;
      const list = this.byFirst.get(s.charCodeAt(0)) ?? [];
      list.push(s);
      this.byFirst.set(s.charCodeAt(0), list);
      const b = utf8Encode(s);
      const blist = this.bytesByFirst.get(b[0]!) ?? [];
      blist.push(b);
      this.bytesByFirst.set(b[0]!, blist);
    }
    for (const l of this.byFirst.values()) l.sort((a, b) => b.length - a.length);
    for (const l of this.bytesByFirst.values()) l.sort((a, b) => b.length - a.length);
  }

  /** Length (UTF-16 units) of the longest symbol at text[pos], or 0. */
  match(text: string, pos: number): number {
    const list = this.byFirst.get(text.charCodeAt(pos));
    if (!list) return 0;
    for (const s of list) if (text.startsWith(s, pos)) return s.length;
    return 0;
  }

  /** Length (bytes) of the longest symbol at bytes[pos], or 0. */
  matchBytes(bytes: Uint8Array, pos: number, end: number): number {
    const list = this.bytesByFirst.get(bytes[pos]!);
    if (!list) return 0;
    outer: for (const s of list) {
      if (pos + s.length > end) continue;
      for (let i = 1; i < s.length; i++) if (bytes[pos + i] !== s[i]) continue outer;
      return s.length;
    }
    return 0;
  }
}

export class Normalizer {
  readonly addDummyPrefix: boolean;
  readonly removeExtraWhitespaces: boolean;
  readonly escapeWhitespaces: boolean;
  private readonly charsmap: Charsmap | undefined;
  private readonly matcher: PrefixMatcher | undefined;
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });

  constructor(spec: NormalizerSpec, userDefined: readonly string[]) {
    this.addDummyPrefix = spec.addDummyPrefix ?? NORMALIZER_DEFAULTS.addDummyPrefix;
    this.removeExtraWhitespaces = spec.removeExtraWhitespaces ?? NORMALIZER_DEFAULTS.removeExtraWhitespaces;
    this.escapeWhitespaces = spec.escapeWhitespaces ?? NORMALIZER_DEFAULTS.escapeWhitespaces;
    const map = spec.precompiledCharsmap;
    this.charsmap = map && map.length > 0 ? new Charsmap(map) : undefined;
    this.matcher = userDefined.length > 0 ? new PrefixMatcher(userDefined) : undefined;
  }

  /** Normalises text the way SentencePiece does before segmenting it. */
  normalize(input: string): string {
    if (input.length === 0) return "";
    input = toWellFormed(input);
    if (!this.charsmap && !this.matcher && !this.removeExtraWhitespaces) {
      // LLaMA's case: identity map, keep all whitespace.
      const body = this.escapeWhitespaces ? input.replaceAll(" ", SPACE_SYMBOL) : input;
      return this.addDummyPrefix ? (this.escapeWhitespaces ? SPACE_SYMBOL : " ") + body : body;
    }
    return this.normalizeBytes(utf8Encode(input));
  }

  /** One normalisation step at bytes[pos] (Normalizer::NormalizePrefix): [replacement, bytes consumed]. */
  private prefix(bytes: Uint8Array, pos: number, end: number): [Uint8Array, number] {
    if (this.matcher) {
      const n = this.matcher.matchBytes(bytes, pos, end);
      if (n > 0) return [bytes.subarray(pos, pos + n), n];
    }
    if (this.charsmap) {
      const m = this.charsmap.longestMatch(bytes, pos, end);
      if (m) return [m.replacement, m.length];
    }
    const [cp, n] = decodeUtf8At(bytes, pos, end);
    if (cp < 0) return [REPLACEMENT_BYTES, 1];
    return [bytes.subarray(pos, pos + n), n];
  }

  private normalizeBytes(input: Uint8Array): string {
    const end = input.length;
    let pos = 0;
    if (this.removeExtraWhitespaces) {
      // Drop leading spaces (after normalisation: e.g. U+3000 may map to ' ').
      while (pos < end) {
        const [sp, n] = this.prefix(input, pos, end);
        if (!(sp.length === 1 && sp[0] === 0x20)) break;
        pos += n;
      }
    }
    if (pos >= end) return "";
    const out: number[] = [];
    const space = this.escapeWhitespaces ? SPACE_SYMBOL_BYTES : [0x20];
    if (this.addDummyPrefix) out.push(...space);
    let prevSpace = this.removeExtraWhitespaces;
    while (pos < end) {
      const [sp, n] = this.prefix(input, pos, end);
      let i = 0;
      if (prevSpace) while (i < sp.length && sp[i] === 0x20) i++;
      if (i < sp.length) {
        for (; i < sp.length; i++) {
          const b = sp[i]!;
          if (b === 0x20 && this.escapeWhitespaces) out.push(...SPACE_SYMBOL_BYTES);
          else out.push(b);
        }
        prevSpace = sp[sp.length - 1] === 0x20;
      }
      pos += n;
      if (!this.removeExtraWhitespaces) prevSpace = false;
    }
    if (this.removeExtraWhitespaces) {
      const s = space.length;
      while (out.length >= s && space.every((b, k) => out[out.length - s + k] === b)) out.length -= s;
    }
    return this.decoder.decode(Uint8Array.from(out));
  }
}
