/**
 * SentencePiece-compatible BPE tokenizer: load a `tokenizer.model`, encode and decode with
 * exactly SentencePiece's ids, train new models.
 *
 *   protobuf.ts      protobuf wire format (read/write)
 *   model-proto.ts   ModelProto: pieces, trainer spec, normaliser spec (byte-exact round trip)
 *   model.ts         the vocabulary, checked as SentencePiece checks it
 *   charsmap.ts      precompiled normalisation maps (Darts double-array trie)
 *   normalizer.ts    normalisation: map, dummy prefix, whitespace, '▁'
 *   bpe.ts           BPE segmentation (heap + linked list, segment cache), byte fallback
 *   decoder.ts       ids -> text, whole or streaming
 *   trainer.ts       BPE training with SentencePiece's piece rules
 *   tokenizer.ts     SentencePieceTokenizer, the entry point
 *   hf-json.ts       HfTokenizer: a Hugging Face tokenizer.json (hf-bpe, hf-pretokenize, hf-decode)
 *   hf-write.ts      tokenizer.json / tokenizer_config.json / special_tokens_map.json from a ModelProto
 *   load.ts          loadTokenizer(path) for either format, readTokenizerConfig(dir)
 */
export { SentencePieceTokenizer, splitOnSpecials } from "./tokenizer.js";
export type { EncodeOptions, Tokenizer, TokenDecodeStream } from "./types.js";
export type { DecodeStream } from "./decoder.js";
export {
  ModelType,
  PieceType,
  NORMALIZER_DEFAULTS,
  TRAINER_DEFAULTS,
  parseModelProto,
  serializeModelProto,
  type ModelPiece,
  type ModelProto,
  type NormalizerSpec,
  type TrainerSpec,
} from "./model-proto.js";
export { byteToPiece, pieceToByte } from "./model.js";
export { BpeTrainer, TrainError, isValidPiece, type BpeTrainerOptions, type TrainStats } from "./trainer.js";
export { trainBpeFromFiles } from "./trainer-files.js";
export { HfTokenizer, type AddedToken, type HfTokenizerOptions } from "./hf-json.js";
export { modelProtoToTokenizerJson, specialTokensMapFor, tokenizerConfigFor, tokenizerJsonToModelProto, type TokenizerConfigOptions } from "./hf-write.js";
export { loadTokenizer, readTokenizerConfig, type TokenizerConfig } from "./load.js";
