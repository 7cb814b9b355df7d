/**
 * The vocabulary of a SentencePiece model, checked as SentencePiece checks it when loading
 * (ModelInterface::InitializePieces): ids, pieces, scores, types, and the two lookup tables
 * SentencePiece keeps: "normal" pieces (NORMAL, USER_DEFINED, UNUSED), which BPE may produce,
 * and "reserved" pieces (CONTROL, UNKNOWN, BYTE), which it never produces by merging.
 */
import { ModelProto, ModelType, NormalizerSpec, PieceType, TRAINER_DEFAULTS, TrainerSpec } from "./model-proto.js";

export class ModelError extends Error {
  override readonly name = "ModelError";
}

/** Parses "<0xAB>" (SentencePiece's byte-piece spelling) to 0xAB, or -1. */
export function pieceToByte(piece: string): number {
  const m = /^<0x([0-9A-F]{2})>$/.exec(piece);
  return m ? parseInt(m[1]!, 16) : -1;
}

export function byteToPiece(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
}

export class Vocab {
  readonly proto: ModelProto;
  readonly pieces: readonly string[];
  readonly scores: Float64Array;
  readonly types: Uint8Array;
  readonly size: number;
  /** NORMAL, USER_DEFINED and UNUSED pieces: what BPE merges may produce. */
  readonly normal: ReadonlyMap<string, number>;
  /** CONTROL, UNKNOWN and BYTE pieces. */
  readonly reserved: ReadonlyMap<string, number>;
  readonly userDefined: readonly string[];
  readonly unkId: number;
  readonly byteFallback: boolean;
  /** byte value -> id of its <0xXX> piece (-1 without byte fallback). */
  readonly byteIds: Int32Array;
  /** id -> byte value for BYTE pieces, else -1. */
  readonly byteOf: Int16Array;
  readonly hasUnused: boolean;
  readonly trainer: TrainerSpec;
  readonly normalizer: NormalizerSpec;

  constructor(proto: ModelProto) {
    this.proto = proto;
    this.trainer = proto.trainerSpec;
    this.normalizer = proto.normalizerSpec;
    if (proto.pieces.length === 0) throw new ModelError("the model has no pieces");
    const modelType = proto.trainerSpec.modelType ?? TRAINER_DEFAULTS.modelType;
    if (modelType !== ModelType.BPE) {
      const name = ModelType[modelType] ?? String(modelType);
      throw new ModelError(`model_type is ${name}; only BPE models (like LLaMA's) are supported`);
    }
    if (proto.trainerSpec.treatWhitespaceAsSuffix) throw new ModelError("treat_whitespace_as_suffix models are not supported");
    const n = proto.pieces.length;
    this.size = n;
    this.pieces = proto.pieces.map((p) => p.piece);
    this.scores = new Float64Array(n);
    this.types = new Uint8Array(n);
    const normal = new Map<string, number>();
    const reserved = new Map<string, number>();
    const userDefined: string[] = [];
    this.byteFallback = proto.trainerSpec.byteFallback ?? TRAINER_DEFAULTS.byteFallback;
    this.byteIds = new Int32Array(256).fill(-1);
    this.byteOf = new Int16Array(n).fill(-1);
    let unk = -1;
    let hasUnused = false;
    for (let i = 0; i < n; i++) {
      const p = proto.pieces[i]!;
      if (p.piece.length === 0) throw new ModelError(`piece ${i} is empty`);
      this.scores[i] = p.score;
      this.types[i] = p.type;
      const isNormal = p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED;
      const table = isNormal ? normal : reserved;
      if (table.has(p.piece)) throw new ModelError(`piece ${JSON.stringify(p.piece)} is defined twice (ids ${table.get(p.piece)} and ${i})`);
      table.set(p.piece, i);
      if (p.type === PieceType.USER_DEFINED) userDefined.push(p.piece);
      if (p.type === PieceType.UNUSED) hasUnused = true;
      if (p.type === PieceType.UNKNOWN) {
        if (unk >= 0) throw new ModelError(`two unknown pieces (ids ${unk} and ${i})`);
        unk = i;
      }
      if (p.type === PieceType.BYTE) {
        if (!this.byteFallback) throw new ModelError(`byte piece ${p.piece} (id ${i}) found although byte_fallback is false`);
        const b = pieceToByte(p.piece);
        if (b < 0) throw new ModelError(`byte piece ${JSON.stringify(p.piece)} (id ${i}) is not of the form <0xXX>`);
        this.byteIds[b] = i;
        this.byteOf[i] = b;
      }
    }
    if (unk < 0) throw new ModelError("the model has no unknown piece (<unk>)");
    if (this.byteFallback) {
      const missing = [...this.byteIds].findIndex((id) => id < 0);
      if (missing >= 0) throw new ModelError(`byte_fallback is true but the byte piece ${byteToPiece(missing)} is missing`);
    }
    this.unkId = unk;
    this.normal = normal;
    this.reserved = reserved;
    this.userDefined = userDefined;
    this.hasUnused = hasUnused;
  }

  /** SentencePiece's PieceToId: reserved pieces first, then normal ones, else the unknown id. */
  pieceToId(piece: string): number {
    return this.reserved.get(piece) ?? this.normal.get(piece) ?? this.unkId;
  }

  /** The id of a special piece named in the trainer spec if it exists with the right type, else -1. */
  specialId(piece: string, type: PieceType): number {
    const id = this.pieceToId(piece);
    return this.types[id] === type && this.pieces[id] === piece ? id : -1;
  }
}
