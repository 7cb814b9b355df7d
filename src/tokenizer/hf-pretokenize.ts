/**
 * The text side of a Hugging Face `tokenizer.json` before the BPE model runs, for the LLaMA
 * family: normalizers (Sequence, Prepend, Replace with a string pattern) and pre-tokenizers
 * (Metaspace, Split with a regex, ByteLevel, Sequence), with HF's semantics:
 *
 *   - Prepend(p): prepends p to a non-empty string; Replace(s, c): every s becomes c.
 *   - Metaspace(▁, prepend_scheme, split): ' ' -> '▁'; '▁' prepended unless the piece starts
 *     with it ("always"), or only for the piece at offset 0 of the input ("first"); with
 *     `split` the piece is cut before every '▁'.
 *   - Split(regex, Isolated): every match and every gap between matches is a piece.
 *   - ByteLevel: the UTF-8 bytes of a piece written in GPT-2's byte alphabet (printable bytes
 *     stand for themselves, the others are shifted to U+0100..); `use_regex` first splits
 *     with GPT-2's regex.
 *
 * HF compiles regexes with Oniguruma; `onigToJs` rewrites the constructs LLaMA's patterns use
 * into an equivalent JavaScript `u` regex (`(?i:...)` of literals, `\s` as Unicode White_Space
 * and not JavaScript's set, `\d` as \p{Nd}) and refuses the rest. Anything else in the file is
 * refused with a UserError naming it.
 */
import { UserError } from "../util/errors.js";
import { utf8Encode } from "./utf8.js";

/** A parsed JSON value, as far as we have looked at it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A string field; `where` names it in the error. */
export function jsonString(o: JsonObject, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== "string") throw new UserError(`tokenizer.json: ${where}.${key} must be a string`);
  return v;
}

function typeOf(o: Json, where: string): string {
  if (!isObject(o) || typeof o.type !== "string") throw new UserError(`tokenizer.json: ${where} has no "type"`);
  return o.type;
}

function unsupported(where: string, what: string): UserError {
  return new UserError(`tokenizer.json: ${where} ${what} is not supported (only the LLaMA family's SentencePiece-style and byte-level BPE tokenizers are)`);
}

// ---------------------------------------------------------------------------------------
// Byte-level alphabet (GPT-2's bytes_to_unicode).

/** byte -> its character in the byte-level alphabet. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out: string[] = new Array<string>(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : 0x100 + shifted++);
  }
  return out;
})();

/** Character code of the byte-level alphabet -> byte, -1 for other characters. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const out = new Int16Array(0x180).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (out[c.charCodeAt(0)] = b));
  return out;
})();

function toByteLevel(s: string): string {
  let out = "";
  for (const b of utf8Encode(s)) out += BYTE_TO_CHAR[b]!;
  return out;
}

// ---------------------------------------------------------------------------------------
// Regexes.

/** Unicode White_Space, which Oniguruma's \s matches (JavaScript's \s differs: U+FEFF, no U+0085). */
const WHITE_SPACE = "\\t\\n\\v\\f\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

/** Unicode White_Space test for a single character (Rust's char::is_whitespace). */
export const IS_WHITESPACE = new RegExp(`^[${WHITE_SPACE}]$`, "u");

/**
 * Rewrites an Oniguruma pattern (as HF's Split pre-tokenizer holds it) into a JavaScript
 * `u`-mode source with the same matches, or throws for a construct we do not translate.
 */
export function onigToJs(pattern: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      const e = pattern[i + 1];
      if (e === undefined) throw unsupportedRegex(pattern, "a trailing backslash");
      i++;
      if (e === "s") out += inClass ? WHITE_SPACE : `[${WHITE_SPACE}]`;
      else if (e === "S") {
        if (inClass) throw unsupportedRegex(pattern, "\\S inside a character class");
        out += `[^${WHITE_SPACE}]`;
      } else if (e === "d") out += "\\p{Nd}";
      else if (e === "D") {
        if (inClass) throw unsupportedRegex(pattern, "\\D inside a character class");
        out += "\\P{Nd}";
      } else if ("wWbBAzZGhHRXK".includes(e)) throw unsupportedRegex(pattern, `\\${e}`);
      else out += "\\" + e;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      else if (c === "[") throw unsupportedRegex(pattern, "a nested character class");
      out += c;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      if (pattern[i + 1] === "^") out += pattern[++i];
      if (pattern[i + 1] === "]") out += "\\" + pattern[++i];
      continue;
    }
    if (pattern.startsWith("(?i:", i)) {
      const end = pattern.indexOf(")", i);
      const body = pattern.slice(i + 4, end);
      if (end < 0 || /[\\[\](){}.*+?^$]/.test(body)) throw unsupportedRegex(pattern, "a (?i:...) group that is not a list of literals");
      out += "(?:" + body.replace(/[a-zA-Z]/g, (ch) => `[${ch.toLowerCase()}${ch.toUpperCase()}]`) + ")";
      i = end;
      continue;
    }
    if (pattern.startsWith("(?", i) && !/^\(\?(?:[:=!]|<[=!])/.test(pattern.slice(i, i + 4))) {
      throw unsupportedRegex(pattern, `the group ${pattern.slice(i, i + 4)}`);
    }
    out += c;
  }
  return out;
}

function unsupportedRegex(pattern: string, what: string): UserError {
  return new UserError(`tokenizer.json: the pre-tokenizer regex ${JSON.stringify(pattern)} uses ${what}, which is not supported`);
}

function compile(pattern: string): RegExp {
  try {
    return new RegExp(onigToJs(pattern), "gu");
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`tokenizer.json: the pre-tokenizer regex ${JSON.stringify(pattern)} is not supported (${(err as Error).message})`);
  }
}

/** GPT-2's pattern, which ByteLevel with `use_regex` applies. */
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Split "Isolated": matches and the gaps between them, in order, none empty. */
function splitIsolated(s: string, re: RegExp, out: string[]): void {
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) out.push(s.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < s.length) out.push(s.slice(last));
}

// ---------------------------------------------------------------------------------------
// Normalizers.

export type Normalize = (s: string) => string;

export function parseNormalizer(spec: Json | undefined): Normalize | undefined {
  if (spec === null || spec === undefined) return undefined;
  const where = "normalizer";
  const type = typeOf(spec, where);
  const o = spec as JsonObject;
  switch (type) {
    case "Sequence": {
      const list = o.normalizers;
      if (!Array.isArray(list)) throw new UserError(`tokenizer.json: normalizer.normalizers must be a list`);
      const steps = list.map((n) => parseNormalizer(n)).filter((f): f is Normalize => f !== undefined);
      return (s) => steps.reduce((acc, f) => f(acc), s);
    }
    case "Prepend": {
      const p = jsonString(o, "prepend", where);
      return (s) => (s.length > 0 ? p + s : s);
    }
    case "Replace": {
      const { from, to } = replaceSpec(o, where);
      return (s) => s.replaceAll(from, to);
    }
    default:
      throw unsupported("the normalizer", `type ${JSON.stringify(type)}`);
  }
}

/** A Replace step's pattern (a plain string only) and content. */
export function replaceSpec(o: JsonObject, where: string): { from: string; to: string } {
  const pattern = o.pattern;
  if (!isObject(pattern) || typeof pattern.String !== "string") throw unsupported(where, "Replace with a regex pattern");
  if (pattern.String.length === 0) throw new UserError(`tokenizer.json: ${where} Replace has an empty pattern`);
  return { from: pattern.String, to: jsonString(o, "content", where) };
}

// ---------------------------------------------------------------------------------------
// Pre-tokenizers.

/** Cuts one text piece into words; `atStart` is true for the piece at offset 0 of the input. */
export type PreTokenize = (pieces: string[], atStart: boolean) => string[];

export function parsePreTokenizer(spec: Json | undefined): PreTokenize | undefined {
  if (spec === null || spec === undefined) return undefined;
  const where = "pre_tokenizer";
  const type = typeOf(spec, where);
  const o = spec as JsonObject;
  switch (type) {
    case "Sequence": {
      const list = o.pretokenizers;
      if (!Array.isArray(list)) throw new UserError(`tokenizer.json: pre_tokenizer.pretokenizers must be a list`);
      const steps = list.map((p) => parsePreTokenizer(p)).filter((f): f is PreTokenize => f !== undefined);
      return (pieces, atStart) => steps.reduce((acc, f) => f(acc, atStart), pieces);
    }
    case "Metaspace":
      return metaspace(o);
    case "Split": {
      if (o.behavior !== "Isolated") throw unsupported("the Split pre-tokenizer with behavior", JSON.stringify(o.behavior));
      if (o.invert === true) throw unsupported("the Split pre-tokenizer with", "invert");
      const pattern = o.pattern;
      let re: RegExp;
      if (isObject(pattern) && typeof pattern.Regex === "string") re = compile(pattern.Regex);
      else if (isObject(pattern) && typeof pattern.String === "string" && pattern.String.length > 0) {
        re = new RegExp(pattern.String.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&"), "gu");
      } else throw new UserError(`tokenizer.json: the Split pre-tokenizer needs a pattern {"Regex": ...} or {"String": ...}`);
      return (pieces) => {
        const out: string[] = [];
        for (const p of pieces) splitIsolated(p, re, out);
        return out;
      };
    }
    case "ByteLevel": {
      if (o.add_prefix_space === true) throw unsupported("the ByteLevel pre-tokenizer with", "add_prefix_space");
      const re = o.use_regex === false ? undefined : compile(GPT2_PATTERN);
      return (pieces) => {
        let words = pieces;
        if (re) {
          words = [];
          for (const p of pieces) splitIsolated(p, re, words);
        }
        return words.map(toByteLevel);
      };
    }
    default:
      throw unsupported("the pre-tokenizer", `type ${JSON.stringify(type)}`);
  }
}

/** The replacement and prepend scheme of a Metaspace pre-tokenizer or decoder. */
export function metaspaceSpec(o: JsonObject, where: string): { replacement: string; prepend: "always" | "first" | "never" } {
  const replacement = jsonString(o, "replacement", where);
  let prepend: "always" | "first" | "never";
  if (typeof o.prepend_scheme === "string") {
    if (o.prepend_scheme !== "always" && o.prepend_scheme !== "first" && o.prepend_scheme !== "never") {
      throw unsupported(`${where} prepend_scheme`, JSON.stringify(o.prepend_scheme));
    }
    prepend = o.prepend_scheme;
  } else prepend = o.add_prefix_space === false ? "never" : "always";
  return { replacement, prepend };
}

function metaspace(o: JsonObject): PreTokenize {
  const { replacement, prepend } = metaspaceSpec(o, "pre_tokenizer");
  const split = o.split !== false;
  return (pieces, atStart) => {
    const out: string[] = [];
    pieces.forEach((p, k) => {
      let s = p.replaceAll(" ", replacement);
      if (!s.startsWith(replacement) && (prepend === "always" || (prepend === "first" && atStart && k === 0))) s = replacement + s;
      if (!split) {
        out.push(s);
        return;
      }
      let start = 0;
      for (let i = s.indexOf(replacement, 1); i > 0; i = s.indexOf(replacement, i + 1)) {
        out.push(s.slice(start, i));
        start = i;
      }
      if (start < s.length) out.push(s.slice(start));
    });
    return out;
  };
}
