/** SentencePiece-compatible BPE tokenizer: load, encode, decode, train. */
export { SentencePieceTokenizer, type EncodeOptions } from "./tokenizer.js";
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
export { BpeTrainer, TrainError, isValidPiece, trainBpeFromFiles, type BpeTrainerOptions, type TrainStats } from "./trainer.js";
