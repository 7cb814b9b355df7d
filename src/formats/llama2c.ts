/**
 * llama2.c checkpoints (karpathy/llama2.c `.bin`), float32 only.
 *
 * Version 0 ("legacy", what run.c reads): 7 int32 — dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len; a negative vocab_size means the classifier is NOT shared
 * with the embedding. Then float32 tensors: token embedding [vocab, dim]; attention norms of all
 * layers; wq, wk, wv, wo of all layers (each kind for every layer before the next kind);
 * ffn norms; w1 (gate), w2 (down), w3 (up); final norm; freq_cis_real and freq_cis_imag
 * [seq_len, head_size/2]; the classifier [vocab, dim] when not shared.
 *
 * Version 1: a 256-byte header — uint32 magic "ak42" (0x616b3432), int32 version 1, the same 7
 * int32 (vocab_size positive), a uint8 shared-classifier flag, zero padding — then the norms
 * (attention norms, ffn norms, final norm), the embedding, wq, wk, wv, wo, w1, w2, w3 of all
 * layers, and the classifier when not shared. No freq_cis block.
 *
 * llama2.c's q/k rows are in Meta's interleaved-RoPE layout (its export permutes Hugging Face
 * weights), so they are permuted to our rotate_half layout on read and back on write. run.c
 * assumes RoPE theta 10000 and RMSNorm eps 1e-5.
 *
 * The header's sizes are checked against the file's actual size (in closed form, before any
 * buffer is sized from them), so a 28-byte file claiming huge dimensions is refused at once.
 *
 * Beside a checkpoint, run.c reads `tokenizer.bin` (llama2.c's tokenizer.py export):
 *   u32 max_token_length, then for each of the vocab_size tokens:
 *   f32 score | u32 byte length | the piece's UTF-8 bytes (no terminator)
 * with "▁" written as a space, the BOS piece as "\n<s>\n" and the EOS piece as "\n</s>\n"
 * (run.c strips the space after BOS when decoding), and byte pieces kept as "<0xHH>" text
 * (run.c's decoder parses them back into the byte).
 */
import fs from "node:fs";
import { UserError } from "../util/errors.js";
import { openRegularFile, writeFileAtomicWith } from "../util/files.js";
import type { LlamaConfig } from "../model/config.js";
import { headDim, validateConfig } from "../model/config.js";
import { parameterCount, paramLayout, type ParamLayout } from "../model/params.js";
import { PieceType, type ModelProto } from "../tokenizer/model-proto.js";
import { interleavedToRopePerm, permuteRows, ropeToInterleavedPerm } from "./gguf-model.js";

const MAGIC = 0x616b3432;
const V1_HEADER = 256;

export type Llama2cVersion = 0 | 1;

interface Header {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seqLen: number;
  shared: boolean;
  version: Llama2cVersion;
  dataOffset: number;
}

/** One tensor of the file: HF name (undefined for freq_cis), float count. */
interface Piece {
  name: string | undefined;
  size: number;
}

function pieces(c: LlamaConfig, version: Llama2cVersion): Piece[] {
  const layout = paramLayout(c);
  const out: Piece[] = [];
  const add = (name: string): void => {
    out.push({ name, size: layout.byName.get(name)!.size });
  };
  const perLayer = (suffix: string): void => {
    for (let l = 0; l < c.numHiddenLayers; l++) add(`model.layers.${l}.${suffix}`);
  };
  const mats = (): void => {
    for (const s of ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight"]) perLayer(s);
  };
  if (version === 0) {
    add("model.embed_tokens.weight");
    perLayer("input_layernorm.weight");
    mats();
    perLayer("post_attention_layernorm.weight");
    for (const s of ["mlp.gate_proj.weight", "mlp.down_proj.weight", "mlp.up_proj.weight"]) perLayer(s);
    add("model.norm.weight");
    const half = (headDim(c) / 2) * c.maxPositionEmbeddings;
    out.push({ name: undefined, size: half }, { name: undefined, size: half });
  } else {
    perLayer("input_layernorm.weight");
    perLayer("post_attention_layernorm.weight");
    add("model.norm.weight");
    add("model.embed_tokens.weight");
    mats();
    for (const s of ["mlp.gate_proj.weight", "mlp.down_proj.weight", "mlp.up_proj.weight"]) perLayer(s);
  }
  if (!c.tieWordEmbeddings) add("lm_head.weight");
  return out;
}

function configOf(h: Header, where: string): LlamaConfig {
  const c: LlamaConfig = {
    vocabSize: h.vocab,
    hiddenSize: h.dim,
    intermediateSize: h.hidden,
    numHiddenLayers: h.layers,
    numAttentionHeads: h.heads,
    numKeyValueHeads: h.kvHeads,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: h.seqLen,
    tieWordEmbeddings: h.shared,
    bosTokenId: 1,
    eosTokenId: 2,
  };
  return validateConfig(c, where);
}

function readHeader(fd: number, size: number, where: string): Header {
  const b = Buffer.alloc(Math.min(size, V1_HEADER));
  fs.readSync(fd, b, 0, b.length, 0);
  if (size < 28) throw new UserError(`${where}: not a llama2.c checkpoint (only ${size} bytes)`);
  let version: Llama2cVersion = 0;
  let o = 0;
  let sharedFlag: boolean | undefined;
  if (b.readUInt32LE(0) === MAGIC) {
    if (size < V1_HEADER) throw new UserError(`${where}: truncated llama2.c header (ak42 files have a 256-byte header)`);
    const v = b.readInt32LE(4);
    if (v === 2) throw new UserError(`${where}: llama2.c version 2 (int8 "Q8_0" export) is not supported; export version 0 or 1 (float32)`);
    if (v !== 1) throw new UserError(`${where}: unknown llama2.c version ${v} (supported: legacy and version 1)`);
    version = 1;
    o = 8;
    const flag = b.readUInt8(36);
    if (flag > 1) throw new UserError(`${where}: shared-classifier flag is ${flag}, expected 0 or 1`);
    sharedFlag = flag === 1;
  }
  const ints = Array.from({ length: 7 }, (_, i) => b.readInt32LE(o + 4 * i));
  const [dim, hidden, layers, heads, kvHeads, vocabRaw, seqLen] = ints as [number, number, number, number, number, number, number];
  const names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];
  ints.forEach((v, i) => {
    if (i !== 5 && v <= 0) throw new UserError(`${where}: header field ${names[i]} is ${v}; not a llama2.c checkpoint`);
  });
  if (vocabRaw === 0) throw new UserError(`${where}: header field vocab_size is 0`);
  if (version === 1 && vocabRaw < 0) throw new UserError(`${where}: version 1 header has a negative vocab_size`);
  return {
    dim, hidden, layers, heads, kvHeads,
    vocab: Math.abs(vocabRaw),
    seqLen,
    shared: sharedFlag ?? vocabRaw > 0,
    version,
    dataOffset: version === 1 ? V1_HEADER : 28,
  };
}

/** Reads a llama2.c checkpoint (legacy or version 1) into our parameter layout. */
export function loadLlama2c(path: string): { config: LlamaConfig; params: Float32Array; version: Llama2cVersion } {
  const { fd, size } = openRegularFile(path, "llama2.c checkpoint");
  try {
    const h = readHeader(fd, size, path);
    const config = configOf(h, `${path} (llama2.c header)`);
    // Closed form (equal to the sum over pieces()), so nothing is sized from an unchecked header.
    const floats = parameterCount(config) + (h.version === 0 ? headDim(config) * config.maxPositionEmbeddings : 0);
    const expected = h.dataOffset + floats * 4;
    if (expected !== size) {
      throw new UserError(
        `${path}: the llama2.c header (dim ${h.dim}, hidden ${h.hidden}, layers ${h.layers}, heads ${h.heads}/${h.kvHeads}, vocab ${h.vocab}${h.shared ? " shared" : ""}, seq_len ${h.seqLen}) ` +
          `implies ${expected} bytes, the file has ${size}${expected > size ? " (truncated?)" : ""}`,
      );
    }
    const list = pieces(config, h.version);
    const layout = paramLayout(config);
    const params = new Float32Array(layout.total);
    let pos = h.dataOffset;
    for (const p of list) {
      const bytes = p.size * 4;
      if (p.name !== undefined) {
        const spec = layout.byName.get(p.name)!;
        const view = new Uint8Array(params.buffer, spec.offset * 4, bytes);
        let got = 0;
        while (got < bytes) {
          const n = fs.readSync(fd, view, got, Math.min(bytes - got, 1 << 30), pos + got);
          if (n <= 0) throw new UserError(`${path}: read error`);
          got += n;
        }
      }
      pos += bytes;
    }
    for (let i = 0; i < params.length; i++) {
      if (!Number.isFinite(params[i]!)) throw new UserError(`${path}: non-finite weight (${params[i]}) at parameter ${i}`);
    }
    permuteQK(config, layout, params, "toRotateHalf");
    return { config, params, version: h.version };
  } finally {
    fs.closeSync(fd);
  }
}

function permuteQK(c: LlamaConfig, layout: ParamLayout, params: Float32Array, dir: "toRotateHalf" | "toInterleaved"): void {
  for (let l = 0; l < c.numHiddenLayers; l++) {
    for (const [name, heads] of [["q_proj", c.numAttentionHeads], ["k_proj", c.numKeyValueHeads]] as const) {
      const spec = layout.byName.get(`model.layers.${l}.self_attn.${name}.weight`)!;
      const rows = spec.shape[0]!;
      const perm = dir === "toRotateHalf" ? interleavedToRopePerm(rows, heads) : ropeToInterleavedPerm(rows, heads);
      params.set(permuteRows(params.subarray(spec.offset, spec.offset + spec.size), spec.shape[1]!, perm), spec.offset);
    }
  }
}

/**
 * Writes a llama2.c checkpoint. Returns warnings about settings llama2.c cannot represent
 * (it assumes RMSNorm eps 1e-5); RoPE theta other than 10000 is an error.
 */
export function saveLlama2c(path: string, config: LlamaConfig, params: Float32Array, opts: { version?: Llama2cVersion } = {}): string[] {
  const version = opts.version ?? 0;
  const layout = paramLayout(config);
  if (params.length !== layout.total) throw new Error(`params has ${params.length} floats, the config needs ${layout.total}`);
  if (config.ropeTheta !== 10000) throw new UserError(`llama2.c checkpoints assume RoPE theta 10000; this model uses ${config.ropeTheta}`);
  if (config.ropeScaling) throw new UserError(`llama2.c checkpoints have no RoPE scaling; this model uses "${config.ropeScaling.type}" rope_scaling`);
  const warnings: string[] = [];
  if (Math.abs(config.rmsNormEps - 1e-5) > 1e-12) warnings.push(`llama2.c assumes RMSNorm eps 1e-5; this model uses ${config.rmsNormEps}`);
  const perm = params.slice();
  permuteQK(config, layout, perm, "toInterleaved");
  const header = Buffer.alloc(version === 1 ? V1_HEADER : 28);
  let o = 0;
  if (version === 1) {
    header.writeUInt32LE(MAGIC, 0);
    header.writeInt32LE(1, 4);
    o = 8;
  }
  const vocab = version === 0 && !config.tieWordEmbeddings ? -config.vocabSize : config.vocabSize;
  [config.hiddenSize, config.intermediateSize, config.numHiddenLayers, config.numAttentionHeads, config.numKeyValueHeads, vocab, config.maxPositionEmbeddings]
    .forEach((v, i) => header.writeInt32LE(v, o + 4 * i));
  if (version === 1) header.writeUInt8(config.tieWordEmbeddings ? 1 : 0, 36);
  writeFileAtomicWith(path, (write) => {
    write(header);
    const freq = freqCis(config);
    let freqBlock = 0;
    for (const p of pieces(config, version)) {
      if (p.name !== undefined) {
        const spec = layout.byName.get(p.name)!;
        write(new Uint8Array(perm.buffer, spec.offset * 4, spec.size * 4));
      } else {
        const t = freqBlock++ === 0 ? freq.real : freq.imag;
        write(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
      }
    }
  });
  return warnings;
}

/**
 * The `tokenizer.bin` llama2.c's run.c reads for a model of `vocabSize` tokens (layout in the
 * module comment). A tokenizer with fewer pieces than the model's vocabulary is padded with
 * `[PADn]` pieces scored -1e9 (run.c needs a non-empty entry for every id; the same padding as
 * our GGUF writer); more pieces than the vocabulary is a UserError.
 */
export function llama2cTokenizerBytes(proto: ModelProto, vocabSize: number): Uint8Array {
  if (proto.pieces.length > vocabSize) throw new UserError(`the tokenizer has ${proto.pieces.length} pieces but the model's vocab_size is ${vocabSize}`);
  const bosPiece = proto.trainerSpec.bosPiece ?? "<s>";
  const eosPiece = proto.trainerSpec.eosPiece ?? "</s>";
  const entries: Array<{ bytes: Buffer; score: number }> = [];
  for (let i = 0; i < vocabSize; i++) {
    const p = proto.pieces[i];
    let text: string;
    let score: number;
    if (p === undefined) {
      text = `[PAD${i}]`;
      score = -1e9;
    } else {
      const control = p.type === PieceType.CONTROL;
      text = control && p.piece === bosPiece ? "\n<s>\n" : control && p.piece === eosPiece ? "\n</s>\n" : p.piece.replaceAll("\u2581", " ");
      score = p.score;
    }
    entries.push({ bytes: Buffer.from(text, "utf8"), score });
  }
  const maxLen = entries.reduce((m, e) => Math.max(m, e.bytes.length), 0);
  const out = Buffer.alloc(4 + entries.reduce((a, e) => a + 8 + e.bytes.length, 0));
  out.writeUInt32LE(maxLen, 0);
  let o = 4;
  for (const e of entries) {
    out.writeFloatLE(e.score, o);
    out.writeUInt32LE(e.bytes.length, o + 4);
    e.bytes.copy(out, o + 8);
    o += 8 + e.bytes.length;
  }
  return out;
}

/** The legacy format's freq_cis tables: cos/sin(pos · 10000^(−2i/head_size)), [seq_len × head_size/2]. */
function freqCis(c: LlamaConfig): { real: Float32Array; imag: Float32Array } {
  const hd = headDim(c);
  const half = hd / 2;
  const real = new Float32Array(c.maxPositionEmbeddings * half);
  const imag = new Float32Array(c.maxPositionEmbeddings * half);
  for (let i = 0; i < half; i++) {
    const f = Math.fround(1 / Math.pow(10000, (2 * i) / hd));
    for (let p = 0; p < c.maxPositionEmbeddings; p++) {
      const a = Math.fround(p * f);
      real[p * half + i] = Math.cos(a);
      imag[p * half + i] = Math.sin(a);
    }
  }
  return { real, imag };
}
