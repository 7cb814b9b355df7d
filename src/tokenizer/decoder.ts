/**
 * Ids -> text with SentencePiece's rules (SentencePieceProcessor::Decode): control pieces
 * (<s>, </s>) are invisible, <unk> shows as the unk surface (" ⁇ "), runs of byte pieces are
 * decoded as UTF-8 (each malformed byte becomes U+FFFD), '▁' becomes ' ', and the leading
 * '▁' of the first visible piece is dropped when the model adds a dummy prefix.
 *
 * DecodeStream does the same one id at a time (for generation): it returns text as soon as
 * it is final and holds back the bytes of a UTF-8 character that is still incomplete, so the
 * concatenated output always equals decode() of all ids so far plus flush().
 */
import { NORMALIZER_DEFAULTS, PieceType, TRAINER_DEFAULTS } from "./model-proto.js";
import { Vocab } from "./model.js";
import { SPACE_SYMBOL } from "./normalizer.js";
import { REPLACEMENT_CHAR, decodeUtf8At } from "./utf8.js";

export class Decoder {
  readonly vocab: Vocab;
  readonly stripLeadingSpace: boolean;
  readonly removeExtraWhitespaces: boolean;
  /** Surface of each piece with '▁' already replaced (index = id); "" for control pieces. */
  readonly surfaces: string[];

  constructor(vocab: Vocab) {
    this.vocab = vocab;
    const ns = vocab.normalizer;
    this.removeExtraWhitespaces = ns.removeExtraWhitespaces ?? NORMALIZER_DEFAULTS.removeExtraWhitespaces;
    this.stripLeadingSpace = (ns.addDummyPrefix ?? NORMALIZER_DEFAULTS.addDummyPrefix) || this.removeExtraWhitespaces;
    const unkSurface = vocab.trainer.unkSurface ?? TRAINER_DEFAULTS.unkSurface;
    this.surfaces = vocab.pieces.map((p, id) => {
      const t = vocab.types[id];
      if (t === PieceType.CONTROL) return "";
      if (t === PieceType.UNKNOWN) return unkSurface;
      return p.replaceAll(SPACE_SYMBOL, " ");
    });
  }

  /** Throws RangeError for an id outside [0, vocabSize). */
  decode(ids: readonly number[]): string {
    const s = new DecodeStream(this);
    let text = "";
    for (const id of ids) text += s.push(id);
    return text + s.flush();
  }
}

/** Incremental decoding; see the file comment. Create with SentencePieceTokenizer.decodeStream(). */
export class DecodeStream {
  private readonly d: Decoder;
  private bytes: number[] = [];
  /** Nothing visible has been produced yet. */
  private empty = true;
  /** The leading '▁' may still be dropped (SentencePiece's is_bos_ws). */
  private atStart: boolean;
  /** The previous piece had its leading '▁' dropped (SentencePiece's bos_ws_seen). */
  private removedSpace = false;

  constructor(decoder: Decoder) {
    this.d = decoder;
    this.atStart = decoder.stripLeadingSpace;
  }

  /** Adds one id; returns the text that became final. Throws RangeError for a bad id. */
  push(id: number): string {
    const vocab = this.d.vocab;
    if (!Number.isInteger(id) || id < 0 || id >= vocab.size) {
      throw new RangeError(`token id ${id} is out of range (the vocabulary has ids 0..${vocab.size - 1})`);
    }
    const t = vocab.types[id];
    if (t === PieceType.BYTE) {
      this.bytes.push(vocab.byteOf[id]!);
      return this.drainBytes(false);
    }
    let text = this.drainBytes(true);
    if (this.removedSpace || !this.empty) this.atStart = false;
    this.removedSpace = false;
    let surface = this.d.surfaces[id]!;
    if (this.atStart && t !== PieceType.CONTROL && t !== PieceType.UNKNOWN) {
      const p = vocab.pieces[id]!;
      if (p.startsWith(SPACE_SYMBOL)) {
        surface = p.slice(SPACE_SYMBOL.length).replaceAll(SPACE_SYMBOL, " ");
        // With remove_extra_whitespaces every leading '▁' goes (the text cannot start with a space).
        this.removedSpace = !this.d.removeExtraWhitespaces;
      }
    }
    text += surface;
    if (surface.length > 0) this.empty = false;
    return text;
  }

  /** Ends the sequence: pending bytes of an incomplete character become U+FFFD. */
  flush(): string {
    return this.drainBytes(true);
  }

  /** Decodes pending bytes; unless `final`, keeps a trailing prefix that more bytes could complete. */
  private drainBytes(final: boolean): string {
    const b = this.bytes;
    if (b.length === 0) return "";
    let out = "";
    let pos = 0;
    while (pos < b.length) {
      const [cp, n] = decodeUtf8At(b, pos, b.length);
      if (cp >= 0) {
        out += String.fromCodePoint(cp);
        pos += n;
        continue;
      }
      if (!final && couldComplete(b, pos)) break;
      out += REPLACEMENT_CHAR;
      pos += 1;
    }
    this.bytes = pos === b.length ? [] : b.slice(pos);
    if (out.length > 0) this.empty = false;
    return out;
  }
}

/** bytes[pos..] is a lead byte and trail bytes, fewer than the lead byte announces. */
function couldComplete(b: readonly number[], pos: number): boolean {
  const lead = b[pos]!;
  const need = (lead & 0xe0) === 0xc0 ? 2 : (lead & 0xf0) === 0xe0 ? 3 : (lead & 0xf8) === 0xf0 ? 4 : 0;
  const have = b.length - pos;
  if (need === 0 || have >= need) return false;
  for (let i = pos + 1; i < b.length; i++) if ((b[i]! & 0xc0) !== 0x80) return false;
  return true;
}
