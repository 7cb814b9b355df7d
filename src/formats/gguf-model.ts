/**
 * LLaMA models in GGUF files, as llama.cpp writes and reads them: the `llama` architecture
 * keys, the `tokenizer.ggml.*` keys (SentencePiece vocabulary), and the tensor names
 * (`token_embd.weight`, `blk.N.attn_q.weight`, ...).
 *
 * RoPE layout. Our weights (like Hugging Face's) rotate the pair (i, i + headDim/2) of each
 * head ("rotate_half"); GGUF, Meta's checkpoints and llama2.c rotate adjacent pairs (2i, 2i+1).
 * The q and k projections are therefore stored with their rows permuted within each head:
 *
 *   GGUF row h·hd + 2i + j  =  HF row h·hd + j·hd/2 + i        (i < hd/2, j ∈ {0, 1})
 *
 * (the `permute` of llama.cpp's convert_hf_to_gguf.py, whose inverse is HF's
 * convert_llama_weights_to_hf.py). k uses the number of kv heads. Rows are permuted whole, so
 * this works on quantised rows too.
 */
import { quoteForTerminal as q, UserError } from "../util/errors.js";
import type { LlamaConfig } from "../model/config.js";
import { CONFIG_LIMITS, headDim, validateConfig } from "../model/config.js";
import { llama3FromFreqFactors, ropeFreqFactors, ropeScalingProblem, type RopeScaling } from "../model/rope.js";
import type { LayerTensors, ModelTensors, ParamSpec } from "../model/params.js";
import { LAYER_TENSOR_NAMES, checkConfigFitsBytes, modelTensorsFrom, paramLayout } from "../model/params.js";
import {
  GGML_TYPE_ID,
  canQuantize,
  dequantize,
  permuteQuantRows,
  quantize,
  QUANT_FORMATS,
  quantFormatById,
  nonFiniteHalfAt,
  type QuantMatrix,
  type Weight,
} from "../kernels/quant.js";
import { GGUF_FILE_TYPES, GGUF_FILE_TYPE_ID, ggufTensorType, type GgufFileType } from "./gguf-mixture.js";
import { bf16ArrayToF32, f16ArrayToF32 } from "./half.js";
import { GGML_TYPES, GgufFile, GgufValueType, ggmlTypeName, gguf, ggufBytes, writeGguf, type GgufOpenOptions, type GgufTensorToWrite, type GgufValue } from "./gguf.js";
import { ModelType, PieceType, parseModelProto, type ModelProto } from "../tokenizer/model-proto.js";
import type { HfTokenizer } from "../tokenizer/hf-json.js";
import { bpeTokenizerMetadata, tokenizerJsonFromGguf } from "./gguf-bpe-vocab.js";
import { fileSource } from "../util/files.js";

/** A GGUF file type llama-ts writes (see gguf-mixture.ts for the type of each tensor). */
export type GgufExportType = GgufFileType;
export const GGUF_EXPORT_TYPES: readonly GgufExportType[] = GGUF_FILE_TYPES;

// ---- the q/k row permutation ----

/** perm[g] = the HF row stored at GGUF row g (HF -> GGUF). */
export function ropeToInterleavedPerm(rows: number, nHeads: number): number[] {
  const hd = rows / nHeads;
  const half = hd / 2;
  const perm = new Array<number>(rows);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) perm[h * hd + 2 * i + j] = h * hd + j * half + i;
    }
  }
  return perm;
}

/** perm[r] = the GGUF row that holds HF row r (GGUF -> HF). */
export function interleavedToRopePerm(rows: number, nHeads: number): number[] {
  const fwd = ropeToInterleavedPerm(rows, nHeads);
  const inv = new Array<number>(rows);
  fwd.forEach((src, g) => (inv[src] = g));
  return inv;
}

/** out row i = src row perm[i] for a row-major float matrix. */
export function permuteRows(src: Float32Array, cols: number, perm: readonly number[]): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < perm.length; i++) out.set(src.subarray(perm[i]! * cols, (perm[i]! + 1) * cols), i * cols);
  return out;
}

// ---- names ----

/** GGUF's name of each per-layer tensor (`blk.N.<name>.weight`); the HF names are params.ts's. */
const GGUF_LAYER_NAMES: Readonly<Record<keyof LayerTensors<unknown>, string>> = {
  inputNorm: "attn_norm",
  wq: "attn_q",
  wk: "attn_k",
  wv: "attn_v",
  wo: "attn_output",
  postAttentionNorm: "ffn_norm",
  wGate: "ffn_gate",
  wUp: "ffn_up",
  wDown: "ffn_down",
};

/** GGUF tensor name -> HF tensor name, for every tensor the config has. */
export function ggufTensorNames(c: LlamaConfig): Map<string, string> {
  const m = new Map<string, string>();
  m.set("token_embd.weight", "model.embed_tokens.weight");
  for (let l = 0; l < c.numHiddenLayers; l++) {
    for (const key of Object.keys(GGUF_LAYER_NAMES) as (keyof LayerTensors<unknown>)[]) {
      m.set(`blk.${l}.${GGUF_LAYER_NAMES[key]}.weight`, `model.layers.${l}.${LAYER_TENSOR_NAMES[key]}`);
    }
  }
  m.set("output_norm.weight", "model.norm.weight");
  if (!c.tieWordEmbeddings) m.set("output.weight", "lm_head.weight");
  return m;
}

/** The shortest decimal that rounds to the same float32 (1e-5 stays 1e-5 after a float32 trip). */
function shortestF32(x: number): number {
  const f = Math.fround(x);
  for (let p = 1; p <= 9; p++) {
    const v = Number(f.toPrecision(p));
    if (Math.fround(v) === f) return v;
  }
  return f;
}

// ---- tokenizer keys ----

/** `tokenizer.ggml.*` keys from a SentencePiece model, padded to the model's vocab size. */
export function tokenizerMetadata(proto: ModelProto, vocabSize: number): Map<string, GgufValue> {
  const m = new Map<string, GgufValue>();
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  for (const p of proto.pieces) {
    tokens.push(p.piece);
    scores.push(p.score);
    types.push(p.type);
  }
  if (tokens.length > vocabSize) throw new UserError(`the tokenizer has ${tokens.length} pieces but the model's vocab_size is ${vocabSize}`);
  // llama.cpp's converter pads a short vocabulary the same way.
  for (let i = tokens.length; i < vocabSize; i++) {
    tokens.push(`[PAD${i}]`);
    scores.push(-1000);
    types.push(PieceType.UNUSED);
  }
  const find = (piece: string | undefined, fallback: number): number => {
    const i = piece === undefined ? -1 : proto.pieces.findIndex((p) => p.piece === piece);
    return i >= 0 ? i : fallback;
  };
  const t = proto.trainerSpec;
  const unk = proto.pieces.findIndex((p) => p.type === PieceType.UNKNOWN);
  const bos = find(t.bosPiece ?? "<s>", t.bosId ?? 1);
  const eos = find(t.eosPiece ?? "</s>", t.eosId ?? 2);
  m.set("tokenizer.ggml.model", gguf.str("llama"));
  m.set("tokenizer.ggml.tokens", gguf.strings(tokens));
  m.set("tokenizer.ggml.scores", gguf.f32s(scores));
  m.set("tokenizer.ggml.token_type", gguf.i32s(types));
  if (bos >= 0) m.set("tokenizer.ggml.bos_token_id", gguf.u32(bos));
  if (eos >= 0) m.set("tokenizer.ggml.eos_token_id", gguf.u32(eos));
  if (unk >= 0) m.set("tokenizer.ggml.unknown_token_id", gguf.u32(unk));
  const pad = t.padId ?? -1;
  if (pad >= 0 && pad < tokens.length) m.set("tokenizer.ggml.padding_token_id", gguf.u32(pad));
  m.set("tokenizer.ggml.add_bos_token", gguf.bool(true));
  m.set("tokenizer.ggml.add_eos_token", gguf.bool(false));
  m.set("tokenizer.ggml.add_space_prefix", gguf.bool(proto.normalizerSpec.addDummyPrefix ?? true));
  return m;
}

/**
 * A SentencePiece model rebuilt from `tokenizer.ggml.*` keys (llama / SPM vocabularies only),
 * or undefined when the file has none. Padding pieces `[PADn]` at the end are dropped. The
 * normaliser is the identity (as LLaMA's); trainer-only settings are not in GGUF.
 */
export function tokenizerFromGguf(f: GgufFile): ModelProto | undefined {
  const model = f.getString("tokenizer.ggml.model");
  if (model === undefined || model === "no_vocab") return undefined;
  // Byte-level BPE (Llama 3): see tokenizerJson in GgufModel (gguf-bpe-vocab.ts).
  if (model === "gpt2") return undefined;
  if (model !== "llama") throw new UserError(`${f.path}: tokenizer.ggml.model is ${q(model)}; only SentencePiece ("llama") vocabularies can be turned into tokenizer.model`);
  const tokens = f.get("tokenizer.ggml.tokens");
  const scores = f.get("tokenizer.ggml.scores");
  const types = f.get("tokenizer.ggml.token_type");
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== "string")) throw new UserError(`${f.path}: tokenizer.ggml.tokens must be an array of strings`);
  const n = tokens.length;
  const num = (arr: unknown, i: number, d: number): number => (Array.isArray(arr) && arr.length === n ? Number(arr[i]) : d);
  const pieces = (tokens as string[]).map((piece, i) => {
    let type = num(types, i, PieceType.NORMAL);
    if (!(type >= 1 && type <= 6)) type = PieceType.NORMAL;
    return { piece, score: num(scores, i, 0), type: type as PieceType };
  });
  while (pieces.length > 0 && pieces[pieces.length - 1]!.type === PieceType.UNUSED && /^\[PAD\d+\]$/.test(pieces[pieces.length - 1]!.piece)) pieces.pop();
  const id = (key: string): number | undefined => f.getInteger(key, 0, n - 1);
  const unk = pieces.findIndex((p) => p.type === PieceType.UNKNOWN);
  const bos = id("tokenizer.ggml.bos_token_id");
  const eos = id("tokenizer.ggml.eos_token_id");
  const pad = id("tokenizer.ggml.padding_token_id");
  const pieceAt = (i: number | undefined): string | undefined => (i !== undefined && i >= 0 && i < pieces.length ? pieces[i]!.piece : undefined);
  const addPrefix = f.metadata.get("tokenizer.ggml.add_space_prefix");
  const proto: ModelProto = {
    pieces,
    trainerSpec: {
      modelType: ModelType.BPE,
      vocabSize: pieces.length,
      byteFallback: pieces.some((p) => p.type === PieceType.BYTE),
      unkId: unk >= 0 ? unk : 0,
      bosId: bos ?? -1,
      eosId: eos ?? -1,
      padId: pad ?? -1,
    },
    normalizerSpec: {
      name: "identity",
      addDummyPrefix: addPrefix && addPrefix.type === GgufValueType.BOOL ? (addPrefix.value as boolean) : true,
      removeExtraWhitespaces: false,
      escapeWhitespaces: true,
    },
  };
  const bp = pieceAt(bos);
  const ep = pieceAt(eos);
  const pp = pieceAt(pad);
  const up = pieceAt(unk);
  if (bp) proto.trainerSpec.bosPiece = bp;
  if (ep) proto.trainerSpec.eosPiece = ep;
  if (pp) proto.trainerSpec.padPiece = pp;
  if (up) proto.trainerSpec.unkPiece = up;
  return proto;
}

// ---- writing ----

export interface GgufExportOptions {
  type: GgufExportType;
  /** SentencePiece tokenizer.model bytes (or a parsed proto) for the tokenizer keys. */
  tokenizer?: Uint8Array | ModelProto;
  /** A byte-level BPE tokenizer.json (Llama 3) for the tokenizer keys (gpt2 vocabulary); wins over `tokenizer`. */
  hfTokenizer?: HfTokenizer;
  name?: string;
}

/**
 * Writes a model as GGUF. `params` is the contiguous float32 buffer in `paramLayout(config)`
 * order (HF naming, rotate_half q/k). Tensors are converted one at a time while writing.
 */
export function saveGguf(path: string, config: LlamaConfig, params: Float32Array, opts: GgufExportOptions): void {
  const { metadata, tensors } = ggufModelContents(config, paramsTensors(config, params), opts);
  writeGguf(path, metadata, tensors);
}

/**
 * `saveGguf` with the float32 values of each tensor (HF naming and layout) produced on demand by
 * `tensor` while the file is written, so that a model larger than memory can be written one
 * tensor at a time (the real-size benchmark's random 1B and 7B files).
 */
export function saveGgufFrom(path: string, config: LlamaConfig, tensor: (spec: ParamSpec) => Float32Array, opts: GgufExportOptions): void {
  const { metadata, tensors } = ggufModelContents(config, tensor, opts);
  writeGguf(path, metadata, tensors);
}

/** `saveGguf` into memory: the whole .gguf file's bytes (what a page offers as a download). */
export function ggufModelBytes(config: LlamaConfig, params: Float32Array, opts: GgufExportOptions): Uint8Array {
  const { metadata, tensors } = ggufModelContents(config, paramsTensors(config, params), opts);
  return ggufBytes(metadata, tensors);
}

/** Each tensor's values as a view into the contiguous float32 parameters. */
function paramsTensors(config: LlamaConfig, params: Float32Array): (spec: ParamSpec) => Float32Array {
  const layout = paramLayout(config);
  if (params.length !== layout.total) throw new Error(`params has ${params.length} floats, the config needs ${layout.total}`);
  return (spec) => params.subarray(spec.offset, spec.offset + spec.size);
}

/** The metadata and (lazily converted) tensors of a model's GGUF file. */
function ggufModelContents(
  config: LlamaConfig, tensor: (spec: ParamSpec) => Float32Array, opts: GgufExportOptions,
): { metadata: Map<string, GgufValue>; tensors: GgufTensorToWrite[] } {
  const layout = paramLayout(config);
  const hd = headDim(config);
  const md = new Map<string, GgufValue>();
  md.set("general.architecture", gguf.str("llama"));
  md.set("general.name", gguf.str(opts.name ?? "llama-ts model"));
  md.set("general.file_type", gguf.u32(GGUF_FILE_TYPE_ID[opts.type]));
  if (opts.type !== "f32" && opts.type !== "f16") md.set("general.quantization_version", gguf.u32(2));
  md.set("llama.context_length", gguf.u32(config.maxPositionEmbeddings));
  md.set("llama.embedding_length", gguf.u32(config.hiddenSize));
  md.set("llama.block_count", gguf.u32(config.numHiddenLayers));
  md.set("llama.feed_forward_length", gguf.u32(config.intermediateSize));
  md.set("llama.attention.head_count", gguf.u32(config.numAttentionHeads));
  md.set("llama.attention.head_count_kv", gguf.u32(config.numKeyValueHeads));
  md.set("llama.rope.dimension_count", gguf.u32(hd));
  md.set("llama.attention.layer_norm_rms_epsilon", gguf.f32(config.rmsNormEps));
  md.set("llama.rope.freq_base", gguf.f32(config.ropeTheta));
  for (const [k, v] of ropeScalingMetadata(config)) md.set(k, v);
  md.set("llama.vocab_size", gguf.u32(config.vocabSize));
  if (opts.hfTokenizer) {
    for (const [k, v] of bpeTokenizerMetadata(opts.hfTokenizer, config.vocabSize)) md.set(k, v);
  } else if (opts.tokenizer) {
    const proto = opts.tokenizer instanceof Uint8Array ? parseModelProto(opts.tokenizer) : opts.tokenizer;
    for (const [k, v] of tokenizerMetadata(proto, config.vocabSize)) md.set(k, v);
  } else {
    md.set("tokenizer.ggml.model", gguf.str("no_vocab"));
    md.set("tokenizer.ggml.bos_token_id", gguf.u32(config.bosTokenId));
    md.set("tokenizer.ggml.eos_token_id", gguf.u32(config.eosTokenId));
  }

  const tensors: GgufTensorToWrite[] = [];
  const freqs = ropeFreqsTensor(config);
  if (freqs) tensors.push(freqs);
  for (const [g, h] of ggufTensorNames(config)) {
    const spec = layout.byName.get(h)!;
    const t = ggufTensorType(opts.type, g, spec.shape, config.numHiddenLayers, config.tieWordEmbeddings);
    tensors.push({
      name: g,
      dims: [...spec.shape].reverse(),
      type: GGML_TYPE_ID[t],
      data: () => {
        let v = tensor(spec);
        if (h.endsWith("q_proj.weight")) v = permuteRows(v, spec.shape[1]!, ropeToInterleavedPerm(spec.shape[0]!, config.numAttentionHeads));
        else if (h.endsWith("k_proj.weight")) v = permuteRows(v, spec.shape[1]!, ropeToInterleavedPerm(spec.shape[0]!, config.numKeyValueHeads));
        if (t === "f32") return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
        return quantize(v, spec.shape[0]!, spec.shape[1]!, t).data;
      },
    });
  }
  return { metadata: md, tensors };
}

// ---- RoPE scaling ----

/**
 * RoPE scaling in GGUF, as llama.cpp writes it: `linear` as `llama.rope.scaling.type` +
 * `llama.rope.scaling.factor`; Llama 3.1's `llama3` rule as the tensor `rope_freqs.weight`
 * (F32, [headDim/2]: the divisor of each frequency, rope.ts `ropeFreqFactors`), to which we add
 * `llama.rope.scaling.original_context_length` (ignored by llama.cpp outside YaRN) so that the
 * rule's parameters are recovered exactly.
 */
const ROPE_FREQS = "rope_freqs.weight";

function ropeScalingMetadata(c: LlamaConfig): Map<string, GgufValue> {
  const md = new Map<string, GgufValue>();
  const s = c.ropeScaling;
  if (s?.type === "linear") {
    md.set("llama.rope.scaling.type", gguf.str("linear"));
    md.set("llama.rope.scaling.factor", gguf.f32(s.factor));
  } else if (s?.type === "llama3") {
    md.set("llama.rope.scaling.original_context_length", gguf.u32(s.originalMaxPositionEmbeddings));
  }
  return md;
}

function ropeFreqsTensor(c: LlamaConfig): GgufTensorToWrite | undefined {
  if (c.ropeScaling?.type !== "llama3") return undefined;
  const factors = new Float32Array(ropeFreqFactors(headDim(c), c.ropeTheta, c.ropeScaling));
  return { name: ROPE_FREQS, dims: [factors.length], type: GGML_TYPE_ID.f32, data: () => new Uint8Array(factors.buffer) };
}

/** The scaling rule a GGUF file describes (config holds its theta and head size), if any. */
function ropeScalingFromGguf(f: GgufFile, c: LlamaConfig): RopeScaling | undefined {
  const type = f.getString("llama.rope.scaling.type");
  const factor = f.getNumber("llama.rope.scaling.factor") ?? f.getNumber("llama.rope.scale_linear");
  const hasFreqs = f.tensorsByName.has(ROPE_FREQS);
  let s: RopeScaling | undefined;
  if (type === "linear" || (type === undefined && factor !== undefined && factor !== 1)) {
    if (factor === undefined) throw new UserError(`${f.path}: llama.rope.scaling.type is "linear" but llama.rope.scaling.factor is missing`);
    s = { type: "linear", factor: shortestF32(factor) };
  } else if (type !== undefined && type !== "none") {
    throw new UserError(`${f.path}: RoPE scaling "${type}" is not supported (llama-ts implements "linear" and Llama 3's rope_freqs)`);
  }
  if (hasFreqs) {
    if (s) throw new UserError(`${f.path}: ${ROPE_FREQS} together with linear RoPE scaling is not supported`);
    s = llama3FromRopeFreqs(f, c) ?? undefined;
  }
  const problem = s && ropeScalingProblem(s);
  if (problem) throw new UserError(`${f.path}: RoPE scaling: ${problem}`);
  return s;
}

function llama3FromRopeFreqs(f: GgufFile, c: LlamaConfig): RopeScaling | null {
  const info = f.tensorsByName.get(ROPE_FREQS)!;
  const half = headDim(c) / 2;
  if (info.type !== GGML_TYPE_ID.f32 || info.dims.length !== 1 || info.dims[0] !== half) {
    throw new UserError(`${f.path}: ${ROPE_FREQS} must be F32 with ${half} values (head dimension / 2), got ${ggmlTypeName(info.type)} [${info.dims.join(", ")}]`);
  }
  const bytes = f.readTensorBytes(ROPE_FREQS);
  const factors = Array.from(new Float32Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, half));
  const s = llama3FromFreqFactors(headDim(c), c.ropeTheta, factors, f.getNumber("llama.rope.scaling.original_context_length"));
  if (s === undefined) throw new UserError(`${f.path}: ${ROPE_FREQS} does not follow Llama 3's RoPE scaling rule (factor, low/high frequency factors); other frequency factors are not supported`);
  return s;
}

// ---- reading ----

/** The fewest bytes per weight of any tensor type a GGUF may hold (its header is checked against it). */
const MIN_BYTES_PER_WEIGHT = Math.min(...Object.values(GGML_TYPES).map((t) => t.typeSize / t.blockSize));

/** f16 / bf16 bit patterns with an all-ones exponent are Inf or NaN. */
const F16_EXP = 0x7c00;
const BF16_EXP = 0x7f80;
const F32_EXP = 0x7f800000;

/**
 * Throws a UserError naming the tensor when its stored values hold NaN or ±Inf. One check at
 * load for every reader (quantised matrices kept as they are included): F32 values, F16 and
 * BF16 values, and the f16 scale at the head of every Q8_0 / Q4_0 block (a finite scale times
 * small integers is finite, so the scales are all that can be non-finite there).
 */
export function checkTensorFinite(file: string, name: string, type: number, bytes: Uint8Array): void {
  const bad = (i: number, what: string): never => {
    throw new UserError(`${file}: tensor ${q(name)} holds a non-finite value (${what} at byte ${i}); the file is corrupt`);
  };
  // Plain loops over integer views (the bit patterns: Inf/NaN have an all-ones exponent): these
  // scan every weight of a mapped file at load, so they run at memory speed, not DataView speed.
  const exponentScan = (words: Uint16Array | Uint32Array, exp: number, width: number, what: string): void => {
    if (fastExponentScan) {
      const at = fastExponentScan(words, exp);
      if (at >= 0) bad(at * width, what);
      return;
    }
    for (let i = 0; i < words.length; i++) if ((words[i]! & exp) === exp) bad(i * width, what);
  };
  switch (type) {
    case GGML_TYPE_ID.f32: {
      const w = typedView(bytes.subarray(0, bytes.length & ~3), Uint32Array);
      for (let i = 0; i < w.length; i++) {
        if ((w[i]! & F32_EXP) === F32_EXP) bad(i * 4, String(new Float32Array(w.buffer, w.byteOffset + 4 * i, 1)[0]));
      }
      return;
    }
    case GGML_TYPE_ID.f16:
      return exponentScan(typedView(bytes.subarray(0, bytes.length & ~1), Uint16Array), F16_EXP, 2, "f16 Inf/NaN");
    case GGML_TYPE_ID.bf16:
      return exponentScan(typedView(bytes.subarray(0, bytes.length & ~1), Uint16Array), BF16_EXP, 2, "bf16 Inf/NaN");
    default: {
      // Block types (q8_0, q4_0, K-quants): their f16 scales, at the offsets the registry names.
      const fmt = quantFormatById(type);
      if (!fmt) return;
      const at = nonFiniteHalfAt(fmt.name, bytes);
      if (at >= 0) bad(at, "block scale Inf/NaN");
    }
  }
}

/** Index of the first element whose `mask` bits are all set, or −1 (checkTensorFinite's scan). */
export type ExponentScan = (words: Uint16Array | Uint32Array, mask: number) => number;
let fastExponentScan: ExponentScan | undefined;

/**
 * Installs a faster scan for checkTensorFinite (the native addon's, installed by the Node file
 * layer, runtime/mapped-file.ts); this module itself stays plain TypeScript for the browser.
 */
export function setExponentScan(scan: ExponentScan | undefined): void {
  fastExponentScan = scan;
}

/** The LlamaConfig a GGUF file describes (architecture `llama`). */
export function configFromGguf(f: GgufFile): LlamaConfig {
  const where = f.path;
  const arch = f.getString("general.architecture");
  if (arch !== "llama") throw new UserError(`${where}: general.architecture is ${arch === undefined ? "missing" : q(arch)}; llama-ts reads "llama" models`);
  const int = (k: string, max: number = CONFIG_LIMITS.vocabSize): number | undefined => f.getInteger(k, 1, max);
  const need = (k: string, max?: number): number => {
    const v = int(k, max);
    if (v === undefined) throw new UserError(`${where}: metadata ${k} is missing`);
    return v;
  };
  const emb = f.tensorsByName.get("token_embd.weight");
  if (!emb) throw new UserError(`${where}: tensor token_embd.weight is missing`);
  if (emb.dims.length !== 2) throw new UserError(`${where}: token_embd.weight must be 2-D`);
  const tokens = f.get("tokenizer.ggml.tokens");
  const vocab = int("llama.vocab_size") ?? (Array.isArray(tokens) ? tokens.length : emb.dims[1]!);
  const hidden = need("llama.embedding_length", CONFIG_LIMITS.hiddenSize);
  const heads = need("llama.attention.head_count", CONFIG_LIMITS.numAttentionHeads);
  const tokenId = (k: string): number | undefined => f.getInteger(k, 0, vocab - 1);
  const config: LlamaConfig = {
    vocabSize: vocab,
    hiddenSize: hidden,
    intermediateSize: need("llama.feed_forward_length", CONFIG_LIMITS.intermediateSize),
    numHiddenLayers: need("llama.block_count", CONFIG_LIMITS.numHiddenLayers),
    numAttentionHeads: heads,
    numKeyValueHeads: int("llama.attention.head_count_kv", CONFIG_LIMITS.numKeyValueHeads) ?? heads,
    rmsNormEps: shortestF32(f.getNumber("llama.attention.layer_norm_rms_epsilon") ?? 1e-5),
    ropeTheta: shortestF32(f.getNumber("llama.rope.freq_base") ?? 10000),
    maxPositionEmbeddings: int("llama.context_length", CONFIG_LIMITS.maxPositionEmbeddings) ?? 2048,
    tieWordEmbeddings: !f.tensorsByName.has("output.weight"),
    bosTokenId: tokenId("tokenizer.ggml.bos_token_id") ?? 1,
    eosTokenId: tokenId("tokenizer.ggml.eos_token_id") ?? 2,
  };
  validateConfig(config, where);
  // Before anything is sized from the header: its tensors must fit in the file's data section.
  checkConfigFitsBytes(config, f.fileSize - f.dataOffset, MIN_BYTES_PER_WEIGHT, where);
  const rd = f.getInteger("llama.rope.dimension_count", 0, CONFIG_LIMITS.hiddenSize);
  if (rd !== undefined && rd !== headDim(config)) throw new UserError(`${where}: llama.rope.dimension_count ${rd} != head dimension ${headDim(config)} (partial RoPE is not supported)`);
  const scaling = ropeScalingFromGguf(f, config);
  if (scaling) config.ropeScaling = scaling;
  if (f.metadata.has("llama.expert_count") && (f.getInteger("llama.expert_count") ?? 0) > 0) throw new UserError(`${where}: mixture-of-experts models are not supported`);
  return config;
}

/**
 * Reads one tensor for the model: checked against the expected PyTorch shape; q/k rows
 * un-permuted to the rotate_half layout. `keepQuant` keeps matrices of the registry types (src/kernels/quant/) quantised.
 */
function readModelTensor(f: GgufFile, c: LlamaConfig, g: string, h: string, shape: readonly number[], keepQuant: boolean, keepQkOrder = false): Weight {
  const info = f.tensorsByName.get(g);
  if (!info) throw new UserError(`${f.path}: tensor ${g} is missing`);
  const want = [...shape].reverse();
  // llama.cpp stores 1-D norms as [n]; matrices as [cols, rows].
  if (info.dims.length !== want.length || info.dims.some((d, i) => d !== want[i])) {
    throw new UserError(`${f.path}: tensor ${g} has dims [${info.dims.join(", ")}], the metadata implies [${want.join(", ")}]`);
  }
  const bytes = f.readTensorBytes(g); // a view into a mapping, or a fresh read
  checkTensorFinite(f.path, g, info.type, bytes);
  const rows = shape.length === 2 ? shape[0]! : 1;
  const cols = shape.length === 2 ? shape[1]! : shape[0]!;
  let perm: number[] | undefined;
  if (keepQkOrder) perm = undefined; // used as stored: the model reorders the activations (ModelTensors.qkInterleaved)
  else if (h.endsWith("q_proj.weight")) perm = interleavedToRopePerm(rows, c.numAttentionHeads);
  else if (h.endsWith("k_proj.weight")) perm = interleavedToRopePerm(rows, c.numKeyValueHeads);
  let out: Weight;
  if (info.type === GGML_TYPE_ID.f32) {
    out = typedView(bytes, Float32Array);
  } else {
    const fmt = quantFormatById(info.type);
    if (!fmt) {
      const known = ["F32", ...QUANT_FORMATS.map((q) => q.ggmlName)].join(", ");
      throw new UserError(`${f.path}: tensor ${g} is ${ggmlTypeName(info.type)}; llama-ts reads ${known} tensors (re-quantise to one of those)`);
    }
    if (!canQuantize(fmt.name, cols)) throw new UserError(`${f.path}: tensor ${g} is ${fmt.ggmlName} with rows of ${cols} values, not a multiple of its block (${fmt.blockSize})`);
    // Matrices stay in their stored type (a view: no copy); q/k rows are reordered into a copy.
    const q: QuantMatrix = { kind: "quant", type: fmt.name, rows, cols, data: bytes };
    if (keepQuant && shape.length === 2) return perm ? permuteQuantRows(q, perm) : q;
    if (fmt.name === "f16") out = f16ArrayToF32(typedView(bytes, Uint16Array));
    else if (fmt.name === "bf16") out = bf16ArrayToF32(typedView(bytes, Uint16Array));
    else out = dequantize(q);
  }
  return perm ? permuteRows(out, cols, perm) : out;
}

/**
 * `bytes` as a typed array without a copy when its offset is aligned for the element size (a
 * fresh read always is; a mapped tensor is when the file's alignment is a multiple of the
 * element size, as GGUF's default 32 and safetensors' usual 8-byte-aligned offsets are).
 * Otherwise a copy: a typed array cannot start at an unaligned byte offset.
 */
export function typedView<T extends Float32Array | Uint16Array | Uint32Array>(bytes: Uint8Array, Ctor: { new (b: ArrayBuffer, off: number, len: number): T; new (len: number): T; BYTES_PER_ELEMENT: number }): T {
  const n = bytes.length / Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  const out = new Ctor(n);
  new Uint8Array(out.buffer, 0, bytes.length).set(bytes);
  return out;
}

function checkTensorSet(f: GgufFile, c: LlamaConfig): Map<string, string> {
  const names = ggufTensorNames(c);
  const extra = f.tensors.map((t) => t.name).filter((n) => !names.has(n) && n !== ROPE_FREQS);
  if (extra.length > 0) {
    throw new UserError(`${f.path}: unexpected tensors for a llama model: ${extra.slice(0, 5).map((n) => q(n)).join(", ")}${extra.length > 5 ? ` (+${extra.length - 5} more)` : ""}`);
  }
  return names;
}

export interface GgufModel {
  path: string;
  config: LlamaConfig;
  /** The tokenizer rebuilt from the file's tokenizer keys, if it has them. */
  tokenizer: ModelProto | undefined;
  /** For a byte-level BPE ("gpt2") vocabulary: the tokenizer.json it corresponds to. */
  tokenizerJson?: Record<string, unknown>;
  fileType: number | undefined;
  /** The ggml type names its tensors are stored in ("F32", "Q8_0", ...), each once. */
  tensorTypes: string[];
}

function tensorTypeNames(f: GgufFile): string[] {
  return [...new Set(f.tensors.map((t) => ggmlTypeName(t.type)))];
}

/** A GGUF model as float32 parameters in `paramLayout` order (every type dequantised). */
export function loadGgufParams(path: string): GgufModel & { params: Float32Array } {
  const f = GgufFile.open(path);
  try {
    const config = configFromGguf(f);
    const names = checkTensorSet(f, config);
    const layout = paramLayout(config);
    const params = new Float32Array(layout.total);
    for (const [g, h] of names) {
      const spec = layout.byName.get(h)!;
      params.set(readModelTensor(f, config, g, h, spec.shape, false) as Float32Array, spec.offset);
    }
    return { path, config, params, tokenizer: tokenizerFromGguf(f), tokenizerJson: tokenizerJsonFromGguf(f), fileType: f.getInteger("general.file_type"), tensorTypes: tensorTypeNames(f) };
  } finally {
    f.close();
  }
}

/**
 * A GGUF model's tensors for inference: linear matrices and the embedding stay in their stored
 * registry type (F16, BF16, Q8_0, Q4_0, K-quants; q/k rows un-permuted into a copy when read), norms are
 * float32. With `opts.mapped` (the file mapped, runtime/mapped-file.ts) every matrix is a view
 * into the mapping, q/k included (left in the interleaved order, `qkInterleaved`): nothing is
 * read, copied or converted here but the finiteness scan.
 */
export function loadGgufTensors(path: string, opts: GgufOpenOptions = {}): GgufModel & { tensors: ModelTensors<Weight>; chatTemplate: string | undefined } {
  const f = GgufFile.open(path, opts);
  try {
    return ggufModelTensors(f, opts.mapped !== undefined);
  } finally {
    f.close();
  }
}

/** `loadGgufTensors` over an open GgufFile (from a path or from bytes); the caller closes it. */
export function ggufModelTensors(f: GgufFile, mapped = false): GgufModel & { tensors: ModelTensors<Weight>; chatTemplate: string | undefined } {
  const config = configFromGguf(f);
  const names = checkTensorSet(f, config);
  const layout = paramLayout(config);
  const byHf = new Map<string, Weight>();
  for (const [g, h] of names) {
    const spec = layout.byName.get(h)!;
    const keepQuant = spec.shape.length === 2;
    // Mapped: q/k rows stay in the file's interleaved order (no copy of read-only memory).
    byHf.set(h, readModelTensor(f, config, g, h, spec.shape, keepQuant, mapped));
  }
  // checkTensorSet made sure every name is there
  const tensors: ModelTensors<Weight> = modelTensorsFrom(config, (h) => byHf.get(h)!);
  if (mapped) tensors.qkInterleaved = true;
  return {
    path: f.path, config, tensors, tokenizer: tokenizerFromGguf(f), tokenizerJson: tokenizerJsonFromGguf(f), fileType: f.getInteger("general.file_type"),
    tensorTypes: tensorTypeNames(f), chatTemplate: f.getString("tokenizer.chat_template"),
  };
}

/** True when the path looks like a GGUF file (by extension, or by magic if it is a regular file). */
export function isGgufPath(p: string): boolean {
  if (p.toLowerCase().endsWith(".gguf")) return true;
  try {
    // fileSource never opens a FIFO or device (opening a FIFO blocks until a writer appears).
    const src = fileSource(p);
    try {
      return src.size >= 4 && String.fromCharCode(...src.read(0, 4)) === "GGUF";
    } finally {
      src.close();
    }
  } catch {
    return false;
  }
}
