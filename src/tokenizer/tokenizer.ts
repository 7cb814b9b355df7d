/**
 * SentencePieceTokenizer: a `tokenizer.model` loaded and ready to encode and decode with
 * exactly SentencePiece's ids (BPE models such as LLaMA's).
 */
import { UserError } from "../util/errors.js";
import { MAX_TOKENIZER_BYTES, readRegularFile } from "../util/files.js";
import { BpeEncoder } from "./bpe.js";
import { DecodeStream, Decoder } from "./decoder.js";
import { ModelError, Vocab } from "./model.js";
import { ModelProto, PieceType, TRAINER_DEFAULTS, parseModelProto, serializeModelProto } from "./model-proto.js";
import { Normalizer } from "./normalizer.js";
import { ProtobufError } from "./protobuf.js";
import type { EncodeOptions, Tokenizer } from "./types.js";

export type { EncodeOptions } from "./types.js";

export class SentencePieceTokenizer implements Tokenizer {
  readonly vocabSize: number;
  /** -1 when the model has none (as SentencePiece's bos_id()). */
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  readonly padId: number;
  private readonly vocab: Vocab;
  private readonly normalizer: Normalizer;
  private readonly encoder: BpeEncoder;
  private readonly decoder: Decoder;
  private specials: Map<string, number> | undefined;

  private constructor(vocab: Vocab) {
    this.vocab = vocab;
    this.vocabSize = vocab.size;
    const t = vocab.trainer;
    this.unkId = vocab.unkId;
    this.bosId = vocab.specialId(t.bosPiece ?? TRAINER_DEFAULTS.bosPiece, PieceType.CONTROL);
    this.eosId = vocab.specialId(t.eosPiece ?? TRAINER_DEFAULTS.eosPiece, PieceType.CONTROL);
    this.padId = vocab.specialId(t.padPiece ?? TRAINER_DEFAULTS.padPiece, PieceType.CONTROL);
    this.normalizer = new Normalizer(vocab.normalizer, vocab.userDefined);
    this.encoder = new BpeEncoder(vocab);
    this.decoder = new Decoder(vocab);
  }

  /** Loads a SentencePiece `tokenizer.model`; a missing or malformed file is a UserError naming it. */
  static fromFile(path: string): SentencePieceTokenizer {
    // Only a regular file of sane size (not a FIFO or /dev/zero): see util/files.ts.
    return SentencePieceTokenizer.fromBytes(readRegularFile(path, { maxBytes: MAX_TOKENIZER_BYTES, what: "tokenizer" }), path);
  }

  /** Parses a serialised ModelProto; `name` is used in error messages. */
  static fromBytes(buf: Uint8Array, name = "tokenizer model"): SentencePieceTokenizer {
    let proto: ModelProto;
    try {
      proto = parseModelProto(buf);
    } catch (err) {
      if (err instanceof ProtobufError) throw new UserError(`${name} is not a SentencePiece model (malformed protobuf: ${err.message})`);
      throw err;
    }
    return SentencePieceTokenizer.fromModel(proto, name);
  }

  static fromModel(proto: ModelProto, name = "tokenizer model"): SentencePieceTokenizer {
    try {
      return new SentencePieceTokenizer(new Vocab(proto));
    } catch (err) {
      if (err instanceof ModelError) {
        throw new UserError(`${name}: ${err.message}`);
      }
      throw err;
    }
  }

  /** The parsed model (pieces, trainer and normaliser specs). */
  get model(): ModelProto {
    return this.vocab.proto;
  }

  /** The model serialised again (byte-identical to the file it was loaded from). */
  toBytes(): Uint8Array {
    return serializeModelProto(this.vocab.proto);
  }

  /** Text -> ids, exactly as SentencePiece's EncodeAsIds (plus optional BOS/EOS). */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.bos) out.push(this.requireSpecial(this.bosId, "BOS"));
    if (opts.parseSpecial) {
      // Control pieces written out in the text (`<s>`, `</s>` from a chat template) become their
      // ids; the text between them is encoded as usual, each run with its own dummy prefix (as
      // Hugging Face's Llama tokenizers do around special tokens).
      for (const part of splitOnSpecials(text, this.specialTokens())) {
        if (typeof part === "number") out.push(part);
        else if (part.length > 0) this.encoder.encodeNormalized(this.normalizer.normalize(part), out);
      }
    } else this.encoder.encodeNormalized(this.normalizer.normalize(text), out);
    if (opts.eos) out.push(this.requireSpecial(this.eosId, "EOS"));
    return out;
  }

  /** Text -> piece strings (byte pieces appear as <0xXX>, unknown runs as the unk piece). */
  encodeAsPieces(text: string): string[] {
    return this.encode(text).map((id) => this.vocab.pieces[id]!);
  }

  /** The normalised form SentencePiece segments (spaces as '▁', dummy prefix added). */
  normalize(text: string): string {
    return this.normalizer.normalize(text);
  }

  /**
   * Ids -> text, as SentencePiece's DecodeIds: control tokens are skipped, byte pieces are
   * turned back into UTF-8. Throws RangeError for ids outside the vocabulary.
   */
  decode(ids: readonly number[]): string {
    return this.decoder.decode(ids);
  }

  /**
   * Incremental decoding for generation: `push(id)` returns the text that became final
   * (bytes of an unfinished UTF-8 character are held back), `flush()` ends the sequence.
   * The concatenated output equals decode() of the same ids.
   */
  decodeStream(): DecodeStream {
    return new DecodeStream(this.decoder);
  }

  /** Control pieces (`<s>`, `</s>`, ...) by their text. */
  specialTokens(): ReadonlyMap<string, number> {
    if (!this.specials) {
      this.specials = new Map();
      for (let id = 0; id < this.vocabSize; id++) {
        if (this.vocab.types[id] === PieceType.CONTROL) this.specials.set(this.vocab.pieces[id]!, id);
      }
    }
    return this.specials;
  }

  idToPiece(id: number): string {
    this.checkId(id);
    return this.vocab.pieces[id]!;
  }

  /** SentencePiece's PieceToId: the unknown id for a string that is no piece. */
  pieceToId(piece: string): number {
    return this.vocab.pieceToId(piece);
  }

  score(id: number): number {
    this.checkId(id);
    return this.vocab.scores[id]!;
  }

  pieceType(id: number): PieceType {
    this.checkId(id);
    return this.vocab.types[id]!;
  }

  isControl(id: number): boolean {
    return this.pieceType(id) === PieceType.CONTROL;
  }

  isByte(id: number): boolean {
    return this.pieceType(id) === PieceType.BYTE;
  }

  isUnknown(id: number): boolean {
    return this.pieceType(id) === PieceType.UNKNOWN;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`token id ${id} is out of range (the vocabulary has ids 0..${this.vocabSize - 1})`);
    }
  }

  private requireSpecial(id: number, what: string): number {
    if (id < 0) throw new UserError(`this tokenizer has no ${what} piece`);
    return id;
  }
}

/**
 * Splits text at occurrences of special-token strings (longest match first at each position):
 * plain runs stay strings, specials become their ids.
 */
export function splitOnSpecials(text: string, specials: ReadonlyMap<string, number>): (string | number)[] {
  if (specials.size === 0) return [text];
  const names = [...specials.keys()].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  const out: (string | number)[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const hit = names.find((n) => text.startsWith(n, i));
    if (hit === undefined) {
      i++;
      continue;
    }
    if (i > start) out.push(text.slice(start, i));
    out.push(specials.get(hit)!);
    i += hit.length;
    start = i;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}
