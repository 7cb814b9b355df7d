/**
 * What the runtime needs from a tokenizer, whatever file it came from: a SentencePiece
 * `tokenizer.model` (SentencePieceTokenizer) or a Hugging Face `tokenizer.json`. Generation,
 * chat, the server and eval only use this interface.
 */

export interface EncodeOptions {
  /** Prepend the BOS id (default false, as in SentencePiece). */
  bos?: boolean;
  /** Append the EOS id (default false). */
  eos?: boolean;
  /**
   * Recognise special-token strings in the text (e.g. `<s>`, `<|eot_id|>` produced by a chat
   * template) and emit their ids instead of encoding their characters (default false, as in
   * SentencePiece's EncodeAsIds and HF's `split_special_tokens`-free encode of plain text).
   */
  parseSpecial?: boolean;
}

/** Incremental decoding: text that became final after each id (UTF-8 safe). */
export interface TokenDecodeStream {
  push(id: number): string;
  flush(): string;
}

export interface Tokenizer {
  readonly vocabSize: number;
  /** -1 when the tokenizer has none. */
  readonly bosId: number;
  /** -1 when the tokenizer has none. */
  readonly eosId: number;
  /** Text -> ids, exactly as the reference library (SentencePiece / HF tokenizers). */
  encode(text: string, opts?: EncodeOptions): number[];
  /** Ids -> text; special/control tokens are skipped. Throws RangeError for ids outside the vocabulary. */
  decode(ids: readonly number[]): string;
  decodeStream(): TokenDecodeStream;
  /** The vocabulary entry of an id (e.g. `▁the`, `<0x0A>`, `<s>`). */
  idToPiece(id: number): string;
  /** Special tokens (control pieces / added special tokens) by their string, for `parseSpecial`. */
  specialTokens(): ReadonlyMap<string, number>;
}
