/**
 * SentencePiece's `ModelProto` (sentencepiece_model.proto): the pieces with their scores and
 * types, the trainer spec and the normaliser spec. Parsing keeps which optional fields were
 * present (so defaults can be told apart from explicit values) and keeps fields it does not
 * know, so a parsed model writes back out unchanged.
 */
import {
  Field,
  ProtoWriter,
  ProtobufError,
  WIRE_FIXED32,
  WIRE_LEN,
  WIRE_VARINT,
  fieldBool,
  fieldFloat,
  fieldInt32,
  fieldMessage,
  fieldString,
  readFields,
} from "./protobuf.js";

/** ModelProto.SentencePiece.Type. */
export enum PieceType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

/** TrainerSpec.ModelType. */
export enum ModelType {
  UNIGRAM = 1,
  BPE = 2,
  WORD = 3,
  CHAR = 4,
}

export interface ModelPiece {
  piece: string;
  score: number;
  type: PieceType;
}

/** TrainerSpec; a field is undefined when absent from the file (SentencePiece then uses its default). */
export interface TrainerSpec {
  input?: string[];
  modelPrefix?: string;
  modelType?: ModelType;
  vocabSize?: number;
  acceptLanguage?: string[];
  selfTestSampleSize?: number;
  inputFormat?: string;
  characterCoverage?: number;
  inputSentenceSize?: number;
  seedSentencepieceSize?: number;
  shrinkingFactor?: number;
  numThreads?: number;
  numSubIterations?: number;
  maxSentenceLength?: number;
  shuffleInputSentence?: boolean;
  maxSentencepieceLength?: number;
  splitByUnicodeScript?: boolean;
  splitByWhitespace?: boolean;
  splitByNumber?: boolean;
  treatWhitespaceAsSuffix?: boolean;
  splitDigits?: boolean;
  allowWhitespaceOnlyPieces?: boolean;
  controlSymbols?: string[];
  userDefinedSymbols?: string[];
  vocabularyOutputPieceScore?: boolean;
  hardVocabLimit?: boolean;
  useAllVocab?: boolean;
  byteFallback?: boolean;
  requiredChars?: string;
  unkId?: number;
  bosId?: number;
  eosId?: number;
  padId?: number;
  unkSurface?: string;
  unkPiece?: string;
  bosPiece?: string;
  eosPiece?: string;
  padPiece?: string;
  trainExtremelyLargeCorpus?: boolean;
  enableDifferentialPrivacy?: boolean;
  differentialPrivacyNoiseLevel?: number;
  differentialPrivacyClippingThreshold?: number;
  /** Fields this reader does not know, kept verbatim. */
  unknownFields?: Field[];
}

export interface NormalizerSpec {
  name?: string;
  precompiledCharsmap?: Uint8Array;
  addDummyPrefix?: boolean;
  removeExtraWhitespaces?: boolean;
  escapeWhitespaces?: boolean;
  normalizationRuleTsv?: string;
  unknownFields?: Field[];
}

export interface ModelProto {
  pieces: ModelPiece[];
  trainerSpec: TrainerSpec;
  normalizerSpec: NormalizerSpec;
  /** Present in some files (e.g. for case-folding models); kept as parsed. */
  denormalizerSpec?: NormalizerSpec;
  /** self_test_data and anything else, kept verbatim. */
  unknownFields?: Field[];
}

/** SentencePiece's defaults for the fields we read (sentencepiece_model.proto). */
export const TRAINER_DEFAULTS = {
  modelType: ModelType.UNIGRAM,
  vocabSize: 8000,
  characterCoverage: 0.9995,
  maxSentenceLength: 4192,
  maxSentencepieceLength: 16,
  splitByUnicodeScript: true,
  splitByWhitespace: true,
  splitByNumber: true,
  treatWhitespaceAsSuffix: false,
  splitDigits: false,
  allowWhitespaceOnlyPieces: false,
  byteFallback: false,
  unkId: 0,
  bosId: 1,
  eosId: 2,
  padId: -1,
  unkSurface: " \u2047 ",
  unkPiece: "<unk>",
  bosPiece: "<s>",
  eosPiece: "</s>",
  padPiece: "<pad>",
} as const;

export const NORMALIZER_DEFAULTS = {
  addDummyPrefix: true,
  removeExtraWhitespaces: true,
  escapeWhitespaces: true,
} as const;

type Kind = "string" | "strings" | "int32" | "uint64" | "float" | "bool" | "bytes";
type FieldTable<T> = ReadonlyArray<readonly [no: number, key: keyof T & string, kind: Kind]>;

/** Field numbers from sentencepiece_model.proto, in field-number order (the order C++ writes). */
const TRAINER_FIELDS: FieldTable<TrainerSpec> = [
  [1, "input", "strings"],
  [2, "modelPrefix", "string"],
  [3, "modelType", "int32"],
  [4, "vocabSize", "int32"],
  [5, "acceptLanguage", "strings"],
  [6, "selfTestSampleSize", "int32"],
  [7, "inputFormat", "string"],
  [10, "characterCoverage", "float"],
  [11, "inputSentenceSize", "uint64"],
  [14, "seedSentencepieceSize", "int32"],
  [15, "shrinkingFactor", "float"],
  [16, "numThreads", "int32"],
  [17, "numSubIterations", "int32"],
  [18, "maxSentenceLength", "int32"],
  [19, "shuffleInputSentence", "bool"],
  [20, "maxSentencepieceLength", "int32"],
  [21, "splitByUnicodeScript", "bool"],
  [22, "splitByWhitespace", "bool"],
  [23, "splitByNumber", "bool"],
  [24, "treatWhitespaceAsSuffix", "bool"],
  [25, "splitDigits", "bool"],
  [26, "allowWhitespaceOnlyPieces", "bool"],
  [30, "controlSymbols", "strings"],
  [31, "userDefinedSymbols", "strings"],
  [32, "vocabularyOutputPieceScore", "bool"],
  [33, "hardVocabLimit", "bool"],
  [34, "useAllVocab", "bool"],
  [35, "byteFallback", "bool"],
  [36, "requiredChars", "string"],
  [40, "unkId", "int32"],
  [41, "bosId", "int32"],
  [42, "eosId", "int32"],
  [43, "padId", "int32"],
  [44, "unkSurface", "string"],
  [45, "unkPiece", "string"],
  [46, "bosPiece", "string"],
  [47, "eosPiece", "string"],
  [48, "padPiece", "string"],
  [49, "trainExtremelyLargeCorpus", "bool"],
  [50, "enableDifferentialPrivacy", "bool"],
  [51, "differentialPrivacyNoiseLevel", "float"],
  [52, "differentialPrivacyClippingThreshold", "uint64"],
];

const NORMALIZER_FIELDS: FieldTable<NormalizerSpec> = [
  [1, "name", "string"],
  [2, "precompiledCharsmap", "bytes"],
  [3, "addDummyPrefix", "bool"],
  [4, "removeExtraWhitespaces", "bool"],
  [5, "escapeWhitespaces", "bool"],
  [6, "normalizationRuleTsv", "string"],
];

function readValue(f: Field, kind: Kind, what: string): string | number | boolean | Uint8Array {
  switch (kind) {
    case "string":
    case "strings":
      return fieldString(f, what);
    case "int32":
      return fieldInt32(f, what);
    case "uint64":
      if (f.wire !== WIRE_VARINT) throw new ProtobufError(`${what}: expected a varint`);
      return f.varint;
    case "float":
      return fieldFloat(f, what);
    case "bool":
      return fieldBool(f, what);
    case "bytes":
      return fieldMessage(f, what).slice();
  }
}

function parseTable<T extends { unknownFields?: Field[] }>(buf: Uint8Array, table: FieldTable<T>, what: string): T {
  const byNo = new Map(table.map((row) => [row[0], row] as const));
  const out: Record<string, unknown> = {};
  const unknown: Field[] = [];
  for (const f of readFields(buf)) {
    const row = byNo.get(f.no);
    if (!row) {
      unknown.push(copyField(f));
      continue;
    }
    const [, key, kind] = row;
    const v = readValue(f, kind, `${what}.${key}`);
    if (kind === "strings") ((out[key] ??= []) as unknown[]).push(v);
    else out[key] = v;
  }
  if (unknown.length > 0) out.unknownFields = unknown;
  return out as T;
}

function copyField(f: Field): Field {
  return { ...f, bytes: f.bytes.slice() };
}

function writeTable<T extends { unknownFields?: Field[] }>(w: ProtoWriter, spec: T, table: FieldTable<T>): void {
  const rec = spec as unknown as Record<string, unknown>;
  for (const [no, key, kind] of table) {
    const v = rec[key];
    if (v === undefined) continue;
    switch (kind) {
      case "string":
        w.string(no, v as string);
        break;
      case "strings":
        for (const s of v as string[]) w.string(no, s);
        break;
      case "int32":
      case "uint64":
        w.int(no, v as number);
        break;
      case "float":
        w.float(no, v as number);
        break;
      case "bool":
        w.bool(no, v as boolean);
        break;
      case "bytes":
        w.bytes(no, v as Uint8Array);
        break;
    }
  }
  writeUnknown(w, spec.unknownFields);
}

function writeUnknown(w: ProtoWriter, fields: Field[] | undefined): void {
  for (const f of fields ?? []) {
    if (f.wire === WIRE_VARINT) w.int(f.no, f.varint >= 2 ** 53 ? f.int32 : f.varint);
    else if (f.wire === WIRE_FIXED32) w.float(f.no, f.f32);
    else if (f.wire === WIRE_LEN) w.bytes(f.no, f.bytes);
    // fixed64 fields are not kept (SentencePiece has none).
  }
}

function parsePiece(buf: Uint8Array, index: number): ModelPiece {
  let piece: string | undefined;
  let score = 0;
  let type = PieceType.NORMAL;
  for (const f of readFields(buf)) {
    if (f.no === 1) piece = fieldString(f, `pieces[${index}].piece`);
    else if (f.no === 2) score = fieldFloat(f, `pieces[${index}].score`);
    else if (f.no === 3) {
      type = fieldInt32(f, `pieces[${index}].type`);
      if (!(type >= 1 && type <= 6)) throw new ProtobufError(`pieces[${index}].type: unknown piece type ${type}`);
    }
  }
  if (piece === undefined) throw new ProtobufError(`pieces[${index}] has no piece string`);
  return { piece, score, type };
}

/** Parses a serialised ModelProto. Throws ProtobufError on malformed bytes. */
export function parseModelProto(buf: Uint8Array): ModelProto {
  const pieces: ModelPiece[] = [];
  let trainerSpec: TrainerSpec = {};
  let normalizerSpec: NormalizerSpec = {};
  let denormalizerSpec: NormalizerSpec | undefined;
  const unknown: Field[] = [];
  for (const f of readFields(buf)) {
    switch (f.no) {
      case 1:
        pieces.push(parsePiece(fieldMessage(f, "pieces"), pieces.length));
        break;
      case 2:
        trainerSpec = parseTable<TrainerSpec>(fieldMessage(f, "trainer_spec"), TRAINER_FIELDS, "trainer_spec");
        break;
      case 3:
        normalizerSpec = parseTable<NormalizerSpec>(fieldMessage(f, "normalizer_spec"), NORMALIZER_FIELDS, "normalizer_spec");
        break;
      case 5:
        denormalizerSpec = parseTable<NormalizerSpec>(fieldMessage(f, "denormalizer_spec"), NORMALIZER_FIELDS, "denormalizer_spec");
        break;
      default:
        unknown.push(copyField(f));
    }
  }
  const model: ModelProto = { pieces, trainerSpec, normalizerSpec };
  if (denormalizerSpec) model.denormalizerSpec = denormalizerSpec;
  if (unknown.length > 0) model.unknownFields = unknown;
  return model;
}

/** Serialises a ModelProto in field-number order, as SentencePiece's C++ writer does. */
export function serializeModelProto(model: ModelProto): Uint8Array {
  const w = new ProtoWriter();
  for (const p of model.pieces) {
    const pw = new ProtoWriter().string(1, p.piece).float(2, p.score);
    if (p.type !== PieceType.NORMAL) pw.int(3, p.type);
    w.message(1, pw);
  }
  const tw = new ProtoWriter();
  writeTable(tw, model.trainerSpec, TRAINER_FIELDS);
  w.message(2, tw);
  const nw = new ProtoWriter();
  writeTable(nw, model.normalizerSpec, NORMALIZER_FIELDS);
  w.message(3, nw);
  const unknown = model.unknownFields ?? [];
  // self_test_data (4) sits between normalizer_spec and denormalizer_spec.
  writeUnknown(w, unknown.filter((f) => f.no < 5));
  if (model.denormalizerSpec) {
    const dw = new ProtoWriter();
    writeTable(dw, model.denormalizerSpec, NORMALIZER_FIELDS);
    w.message(5, dw);
  }
  writeUnknown(w, unknown.filter((f) => f.no >= 5));
  return w.finish();
}
