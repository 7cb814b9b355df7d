/**
 * Ids -> text with SentencePiece's rules (SentencePieceProcessor::Decode): control pieces
 * (<s>, </s>) are invisible, <unk> shows as the unk surface (" ⁇ "), runs of byte pieces are
 * decoded as UTF-8 (each malformed byte becomes U+FFFD), '▁' becomes ' ', and the leading
 * '▁' of the first visible piece is dropped when the model adds a dummy prefix.
 */
import { NORMALIZER_DEFAULTS, PieceType, TRAINER_DEFAULTS } from "./model-proto.js";
import { Vocab } from "./model.js";
import { SPACE_SYMBOL } from "./normalizer.js";
import { decodeUtf8Spm } from "./utf8.js";

export class Decoder {
  private readonly vocab: Vocab;
  private readonly stripLeadingSpace: boolean;
  private readonly removeExtraWhitespaces: boolean;
  private readonly unkSurface: string;
  /** Surface of each piece with '▁' already replaced (index = id); "" for control pieces. */
  private readonly surfaces: string[];

  constructor(vocab: Vocab) {
    this.vocab = vocab;
    const ns = vocab.normalizer;
    this.removeExtraWhitespaces = ns.removeExtraWhitespaces ?? NORMALIZER_DEFAULTS.removeExtraWhitespaces;
    this.stripLeadingSpace = (ns.addDummyPrefix ?? NORMALIZER_DEFAULTS.addDummyPrefix) || this.removeExtraWhitespaces;
    this.unkSurface = vocab.trainer.unkSurface ?? TRAINER_DEFAULTS.unkSurface;
    this.surfaces = vocab.pieces.map((p, id) => {
      const t = vocab.types[id];
      if (t === PieceType.CONTROL) return "";
      if (t === PieceType.UNKNOWN) return this.unkSurface;
      return p.replaceAll(SPACE_SYMBOL, " ");
    });
  }

  /** Throws RangeError for an id outside [0, vocabSize). */
  decode(ids: readonly number[]): string {
    const vocab = this.vocab;
    const types = vocab.types;
    const byteOf = vocab.byteOf;
    let text = "";
    let bytes: number[] = [];
    // SentencePiece drops the '▁' that starts the first visible piece (the dummy prefix), and
    // only that one: once a piece had it removed, or any text was produced, it stops.
    let atStart = this.stripLeadingSpace;
    let removedSpace = false;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab.size) {
        throw new RangeError(`token id ${id} is out of range (the vocabulary has ids 0..${vocab.size - 1})`);
      }
      const t = types[id];
      if (t === PieceType.BYTE) {
        bytes.push(byteOf[id]!);
        continue;
      }
      if (bytes.length > 0) {
        text += decodeUtf8Spm(bytes);
        bytes = [];
      }
      if (removedSpace || text.length > 0) atStart = false;
      removedSpace = false;
      if (atStart && t !== PieceType.CONTROL && t !== PieceType.UNKNOWN) {
        const p = vocab.pieces[id]!;
        if (p.startsWith(SPACE_SYMBOL)) {
          text += p.slice(SPACE_SYMBOL.length).replaceAll(SPACE_SYMBOL, " ");
          // With remove_extra_whitespaces every leading '▁' goes (the text cannot start with a space).
          removedSpace = !this.removeExtraWhitespaces;
          continue;
        }
      }
      text += this.surfaces[id];
    }
    if (bytes.length > 0) text += decodeUtf8Spm(bytes);
    return text;
  }
}
