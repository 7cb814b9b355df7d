/** Shared types of the data pipeline (corpora -> cleaned documents -> token shards -> windows). */

/** One document as the readers yield it. `source` names the file it came from, `id` is unique within a run. */
export interface Document {
  text: string;
  source: string;
  id: string;
}

/**
 * What the pipeline needs from a tokenizer. The project's `SentencePieceTokenizer`
 * satisfies it; tests use a byte-level fake. `encode` must return ids without BOS/EOS:
 * the pipeline adds them itself (each document is stored as BOS + tokens + EOS).
 */
export interface TokenizerLike {
  encode(text: string): number[];
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
}

/** Element type of raw token files: uint16 when the vocabulary fits (<= 65536 ids), else int32. */
export type TokenDType = "uint16" | "int32";

export function dtypeForVocab(vocabSize: number): TokenDType {
  return vocabSize <= 65536 ? "uint16" : "int32";
}

export function bytesPerToken(dtype: TokenDType): number {
  return dtype === "uint16" ? 2 : 4;
}

/** Receives one-line warnings (a malformed JSONL line, a skipped binary file, ...). */
export type WarningSink = (message: string) => void;
