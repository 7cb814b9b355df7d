/**
 * Ids -> text for a Hugging Face `tokenizer.json` (the `decoder` field) in the two shapes the
 * LLaMA family uses, with HF's semantics (special added tokens are dropped before decoding):
 *
 *   pieces:    Sequence[Replace('▁', ' ')..., ByteFallback, Fuse, Strip(' ', n, 0)], or a
 *              Metaspace decoder. Per token: the replaces; a run of `<0xXX>` tokens becomes its
 *              bytes as UTF-8 if the whole run is valid UTF-8, else one U+FFFD per byte (HF's
 *              ByteFallback); the fused text loses up to n leading spaces (Strip). Metaspace:
 *              '▁' -> ' ', except in the first token, where '▁' is dropped unless
 *              prepend_scheme is "never".
 *   bytelevel: ByteLevel. Each token's characters map back to bytes through GPT-2's alphabet
 *              (a token with a character outside it contributes its own UTF-8), and all bytes
 *              are decoded as UTF-8 with each maximal invalid subsequence -> U+FFFD (Rust's
 *              from_utf8_lossy, the same rule as TextDecoder).
 *
 * The stream form returns text as soon as it is final: ByteFallback runs are held until they
 * end (a later byte can turn the whole run into U+FFFDs), byte-level bytes of an unfinished
 * character are held. Concatenated output == decode() of the same ids.
 */
import { UserError } from "../util/errors.js";
import { CHAR_TO_BYTE, Json, JsonObject, isObject, jsonString, metaspaceSpec, replaceSpec } from "./hf-pretokenize.js";
import type { TokenDecodeStream } from "./types.js";
import { utf8Encode } from "./utf8.js";

export type DecoderSpec =
  | {
      kind: "pieces";
      replaces: { from: string; to: string }[];
      byteFallback: boolean;
      strip: { content: string; count: number } | undefined;
      /** Metaspace: this character is dropped (not turned into a space) in the first token. */
      dropInFirst?: string;
    }
  | { kind: "bytelevel" };

function unsupportedDecoder(what: string): UserError {
  return new UserError(`tokenizer.json: the decoder ${what} is not supported (only the LLaMA family's decoders are)`);
}

/** Reads the `decoder` field; null decodes by joining the tokens as they are. */
export function parseDecoder(spec: Json | undefined): DecoderSpec {
  if (spec === null || spec === undefined) return { kind: "pieces", replaces: [], byteFallback: false, strip: undefined };
  if (!isObject(spec) || typeof spec.type !== "string") throw new UserError(`tokenizer.json: decoder has no "type"`);
  if (spec.type === "ByteLevel") return { kind: "bytelevel" };
  if (spec.type === "Metaspace") {
    const { replacement, prepend } = metaspaceSpec(spec, "decoder");
    const dropInFirst = prepend === "never" ? undefined : replacement;
    return { kind: "pieces", replaces: [{ from: replacement, to: " " }], byteFallback: false, strip: undefined, dropInFirst };
  }
  const steps: JsonObject[] = spec.type === "Sequence" && Array.isArray(spec.decoders) ? (spec.decoders.filter(isObject) as JsonObject[]) : [spec];
  const out: DecoderSpec = { kind: "pieces", replaces: [], byteFallback: false, strip: undefined };
  // Accepted order: Replace*, ByteFallback?, Fuse?, Strip? (the steps commute only in this form).
  let stage = 0;
  let fused = false;
  for (const s of steps) {
    const type = String(s.type);
    if (type === "Replace" && stage === 0) out.replaces.push(replaceSpec(s, "decoder"));
    else if (type === "ByteFallback" && stage <= 1) {
      out.byteFallback = true;
      stage = 2;
    } else if (type === "Fuse" && stage <= 2) {
      fused = true;
      stage = 3;
    } else if (type === "Strip" && fused && stage === 3) {
      const content = jsonString(s, "content", "decoder");
      if (s.stop !== 0 || typeof s.start !== "number" || [...content].length !== 1) throw unsupportedDecoder("Strip with a right-hand side or a multi-character content");
      out.strip = { content, count: s.start };
      stage = 4;
    } else throw unsupportedDecoder(`step ${JSON.stringify(type)} at this place`);
  }
  return out;
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** The stream for a decoder spec over token strings (specials already removed by the caller). */
export function makeStream(spec: DecoderSpec): PieceStream {
  return spec.kind === "bytelevel" ? new ByteLevelStream() : new PiecesStream(spec);
}

export interface PieceStream {
  /** Adds one token's string; returns the text that became final. */
  push(token: string): string;
  flush(): string;
}

class PiecesStream implements PieceStream {
  private readonly spec: Extract<DecoderSpec, { kind: "pieces" }>;
  private bytes: number[] = [];
  private stripLeft: number;
  private first = true;

  constructor(spec: Extract<DecoderSpec, { kind: "pieces" }>) {
    this.spec = spec;
    this.stripLeft = spec.strip?.count ?? 0;
  }

  push(token: string): string {
    if (this.first && this.spec.dropInFirst !== undefined) token = token.replaceAll(this.spec.dropInFirst, "");
    this.first = false;
    for (const r of this.spec.replaces) token = token.replaceAll(r.from, r.to);
    if (this.spec.byteFallback) {
      const m = BYTE_TOKEN.exec(token);
      if (m) {
        this.bytes.push(parseInt(m[1]!, 16));
        return "";
      }
    }
    return this.strip(this.drainBytes() + token);
  }

  flush(): string {
    return this.strip(this.drainBytes());
  }

  private drainBytes(): string {
    if (this.bytes.length === 0) return "";
    const b = Uint8Array.from(this.bytes);
    this.bytes = [];
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(b);
    } catch {
      return "\uFFFD".repeat(b.length);
    }
  }

  /** Strip: up to `count` leading copies of the content character of the whole text go. */
  private strip(text: string): string {
    const content = this.spec.strip?.content;
    let i = 0;
    while (this.stripLeft > 0 && i < text.length) {
      if (!text.startsWith(content!, i)) {
        this.stripLeft = 0;
        break;
      }
      i += content!.length;
      this.stripLeft--;
    }
    return i > 0 ? text.slice(i) : text;
  }
}

class ByteLevelStream implements PieceStream {
  private readonly decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

  push(token: string): string {
    return this.decoder.decode(tokenBytes(token), { stream: true });
  }

  flush(): string {
    return this.decoder.decode();
  }
}

/** A byte-level token's bytes; a token with a character outside the alphabet gives its UTF-8. */
function tokenBytes(token: string): Uint8Array {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c]! : -1;
    if (b < 0) return utf8Encode(token);
    out[i] = b;
  }
  return out;
}

/** Adapts a PieceStream to ids: special ids are skipped, out-of-range ids throw RangeError. */
export class HfDecodeStream implements TokenDecodeStream {
  private readonly inner: PieceStream;
  private readonly tokens: readonly string[];
  private readonly skip: Uint8Array;

  constructor(spec: DecoderSpec, tokens: readonly string[], skip: Uint8Array) {
    this.inner = makeStream(spec);
    this.tokens = tokens;
    this.skip = skip;
  }

  push(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.tokens.length) {
      throw new RangeError(`token id ${id} is out of range (the vocabulary has ids 0..${this.tokens.length - 1})`);
    }
    if (this.skip[id]) return "";
    return this.inner.push(this.tokens[id]!);
  }

  flush(): string {
    return this.inner.flush();
  }
}
