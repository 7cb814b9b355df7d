/**
 * Meta's original LLaMA release folders: `params.json` + `consolidated.00.pth` …
 * `consolidated.NN.pth` (one file per model-parallel rank), `tokenizer.model` beside them or
 * one level up. They become our config and float32 parameters (HF names, rotate_half RoPE).
 *
 * params.json -> LlamaConfig:
 *   dim -> hidden, n_layers, n_heads, n_kv_heads (default n_heads), norm_eps,
 *   rope_theta (default 10000), vocab_size (-1: the rows of tok_embeddings),
 *   FFN hidden = multiple_of · ceil(trunc(ffn_dim_multiplier · floor(8·dim/3)) / multiple_of)
 *   (Meta's model.py; the multiplier step only when given). The context length is not in
 *   params.json: max_seq_len when present, else what Hugging Face's converter uses per release
 *   (8192 for Llama 3's rope_theta 500000, 4096 for Llama 2's norm_eps 1e-5, else 2048).
 *
 * Tensors (Meta name -> HF name, how model parallelism split it):
 *   tok_embeddings -> embed_tokens   columns (LLaMA 1/2 ParallelEmbedding) or rows (Llama 3
 *                                    VocabParallelEmbedding): told apart by the shard shape
 *   layers.L.attention.wq/wk/wv -> q/k/v_proj         rows (column-parallel)
 *   layers.L.attention.wo       -> o_proj             columns (row-parallel)
 *   layers.L.feed_forward.w1/w3 -> gate/up_proj       rows
 *   layers.L.feed_forward.w2    -> down_proj          columns
 *   layers.L.attention_norm / ffn_norm, norm -> RMSNorm weights, replicated (checked equal)
 *   output -> lm_head                                 rows
 *   rope.freqs                                        ignored (recomputed)
 * After merging, q/k rows go from Meta's interleaved RoPE pairs to rotate_half
 * (`interleavedToRopePerm`, per head; k with the kv head count).
 *
 * Memory: the shards' pickles are read up front (shapes only); tensor data is then read one
 * shard's tensor at a time into its slot of the output buffer.
 */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../util/errors.js";
import { ffnHiddenSize, validateConfig, type LlamaConfig } from "../model/config.js";
import { LAYER_TENSOR_NAMES, paramLayout, type LayerTensors } from "../model/params.js";
import { interleavedToRopePerm, permuteRows } from "./gguf-model.js";
import { closePth, openPth, readPthTensorF32, type PthFile, type PthTensor } from "./pth.js";
import { assertFinite } from "./safetensors.js";

export interface MetaCheckpoint {
  config: LlamaConfig;
  /** Contiguous parameters in `paramLayout(config)` order. */
  params: Float32Array;
  /**
   * `tokenizer.model` beside the shards or one folder up, when there is one and it is
   * SentencePiece (Llama 3's tiktoken tokenizer.model is not: undefined then).
   */
  tokenizerPath: string | undefined;
}

const SHARD_RE = /^consolidated\.(\d+)\.pth$/;
export const META_PARAMS_FILE = "params.json";

/** The consolidated.NN.pth files of a folder, in rank order (checked to be 0..N-1). */
export function metaShardFiles(dir: string): string[] {
  const found = fs.readdirSync(dir).flatMap((f) => {
    const m = SHARD_RE.exec(f);
    return m ? [{ f, rank: Number(m[1]) }] : [];
  });
  found.sort((a, b) => a.rank - b.rank);
  found.forEach((s, i) => {
    if (s.rank !== i) throw new UserError(`${dir}: model-parallel shard consolidated.${String(i).padStart(2, "0")}.pth is missing (found ${found.map((x) => x.f).join(", ")})`);
  });
  return found.map((s) => path.join(dir, s.f));
}

/**
 * The release folder a path names: a folder with params.json and consolidated.*.pth, or one of
 * its consolidated.NN.pth files. Undefined when the path is neither.
 */
export function metaCheckpointDir(p: string): string | undefined {
  if (!fs.existsSync(p)) return undefined;
  const dir = fs.statSync(p).isDirectory() ? p : SHARD_RE.test(path.basename(p)) ? path.dirname(p) : undefined;
  if (dir === undefined || !fs.existsSync(path.join(dir, META_PARAMS_FILE))) return undefined;
  return fs.readdirSync(dir).some((f) => SHARD_RE.test(f)) ? dir : undefined;
}

interface MetaParams {
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** -1: take it from tok_embeddings. */
  vocabSize: number;
  multipleOf: number;
  ffnDimMultiplier: number | undefined;
  normEps: number;
  ropeTheta: number;
  maxSeqLen: number | undefined;
}

function readParams(file: string): MetaParams {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new UserError(`${file}: cannot read params.json (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new UserError(`${file}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  const num = (key: string, fallback?: number): number => {
    const v = o[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new UserError(`${file}: missing "${key}"`);
    }
    if (typeof v !== "number" || !Number.isFinite(v)) throw new UserError(`${file}: "${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  if (o["use_scaled_rope"] === true) throw new UserError(`${file}: use_scaled_rope (Llama 3.1 RoPE scaling) is not supported yet`);
  const nHeads = num("n_heads");
  const mult = o["ffn_dim_multiplier"];
  return {
    dim: num("dim"),
    nLayers: num("n_layers"),
    nHeads,
    nKvHeads: num("n_kv_heads", nHeads),
    vocabSize: num("vocab_size", -1),
    multipleOf: num("multiple_of", 256),
    ffnDimMultiplier: mult === undefined || mult === null ? undefined : num("ffn_dim_multiplier"),
    normEps: num("norm_eps"),
    ropeTheta: num("rope_theta", 10000),
    maxSeqLen: o["max_seq_len"] === undefined ? undefined : num("max_seq_len"),
  };
}

type Split = "rows" | "cols" | "replicated";

interface TensorRule {
  meta: string;
  hf: string;
  split: Split;
  /** Heads for the interleaved -> rotate_half row permutation (q and k only). */
  ropeHeads?: number;
}

const META_LAYER_NAMES: Readonly<Record<keyof LayerTensors<unknown>, { meta: string; split: Split }>> = {
  inputNorm: { meta: "attention_norm.weight", split: "replicated" },
  wq: { meta: "attention.wq.weight", split: "rows" },
  wk: { meta: "attention.wk.weight", split: "rows" },
  wv: { meta: "attention.wv.weight", split: "rows" },
  wo: { meta: "attention.wo.weight", split: "cols" },
  postAttentionNorm: { meta: "ffn_norm.weight", split: "replicated" },
  wGate: { meta: "feed_forward.w1.weight", split: "rows" },
  wUp: { meta: "feed_forward.w3.weight", split: "rows" },
  wDown: { meta: "feed_forward.w2.weight", split: "cols" },
};

const EMBEDDING = "tok_embeddings.weight";
const IGNORED = new Set(["rope.freqs"]);

function tensorRules(c: LlamaConfig, embeddingSplit: Split): TensorRule[] {
  const rules: TensorRule[] = [{ meta: EMBEDDING, hf: "model.embed_tokens.weight", split: embeddingSplit }];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    for (const key of Object.keys(META_LAYER_NAMES) as Array<keyof LayerTensors<unknown>>) {
      const m = META_LAYER_NAMES[key];
      const rule: TensorRule = { meta: `layers.${l}.${m.meta}`, hf: `model.layers.${l}.${LAYER_TENSOR_NAMES[key]}`, split: m.split };
      if (key === "wq") rule.ropeHeads = c.numAttentionHeads;
      if (key === "wk") rule.ropeHeads = c.numKeyValueHeads;
      rules.push(rule);
    }
  }
  rules.push({ meta: "norm.weight", hf: "model.norm.weight", split: "replicated" });
  rules.push({ meta: "output.weight", hf: "lm_head.weight", split: "rows" });
  return rules;
}

function shardTensor(shard: PthFile, name: string): PthTensor {
  const t = shard.tensors.get(name);
  if (!t) throw new UserError(`${shard.path}: tensor ${name} is missing`);
  return t;
}

/** How tok_embeddings was split, and the vocabulary size it implies. */
function embeddingLayout(shards: PthFile[], dim: number): { split: Split; vocab: number } {
  const shapes = shards.map((s) => shardTensor(s, EMBEDDING).shape);
  const first = shapes[0]!;
  const bad = (): never => {
    throw new UserError(`${shards[0]!.path}: ${EMBEDDING} has shape [${first.join(", ")}], which does not fit dim ${dim} over ${shards.length} shard(s)`);
  };
  if (first.length !== 2) bad();
  if (shards.length > 1 && first[1] !== dim && first[1]! * shards.length === dim) return { split: "cols", vocab: first[0]! };
  if (first[1] !== dim) bad();
  return { split: "rows", vocab: shapes.reduce((a, s) => a + (s[0] ?? 0), 0) };
}

function defaultContext(p: MetaParams): number {
  if (p.maxSeqLen !== undefined) return p.maxSeqLen;
  if (p.ropeTheta >= 500000) return 8192;
  return p.normEps === 1e-5 ? 4096 : 2048;
}

function metaConfig(p: MetaParams, vocab: number, where: string): LlamaConfig {
  if (p.vocabSize !== -1 && p.vocabSize !== vocab) throw new UserError(`${where}: vocab_size ${p.vocabSize} but tok_embeddings has ${vocab} rows`);
  const llama3Vocab = vocab === 128256;
  return validateConfig(
    {
      vocabSize: vocab,
      hiddenSize: p.dim,
      intermediateSize: ffnHiddenSize(p.dim, p.multipleOf, p.ffnDimMultiplier),
      numHiddenLayers: p.nLayers,
      numAttentionHeads: p.nHeads,
      numKeyValueHeads: p.nKvHeads,
      rmsNormEps: p.normEps,
      ropeTheta: p.ropeTheta,
      maxPositionEmbeddings: defaultContext(p),
      tieWordEmbeddings: false,
      // SentencePiece LLaMA: <s> = 1, </s> = 2; Llama 3's tiktoken vocabulary: <|begin_of_text|>, <|end_of_text|>.
      bosTokenId: llama3Vocab ? 128000 : 1,
      eosTokenId: llama3Vocab ? 128001 : 2,
    },
    where,
  );
}

function shapeText(s: readonly number[]): string {
  return `[${s.join(", ")}]`;
}

/** Reads one HF tensor from the shards into `dst` (row-major `shape`), merging along its split. */
function mergeTensor(shards: PthFile[], rule: TensorRule, shape: readonly number[], dst: Float32Array): void {
  const n = shards.length;
  const rows = shape[0]!;
  const cols = shape.length > 1 ? shape[1]! : 1;
  const split: Split = n === 1 ? "replicated" : rule.split;
  const part = split === "rows" ? [rows / n, cols] : split === "cols" ? [rows, cols / n] : [...shape];
  if (!part.every(Number.isInteger)) {
    throw new UserError(`${shards[0]!.path}: ${rule.meta} of shape ${shapeText(shape)} cannot be split over ${n} model-parallel shards`);
  }
  const want = shape.length === 1 ? [part[0]!] : part;
  let first: Float32Array | undefined;
  for (let s = 0; s < n; s++) {
    const shard = shards[s]!;
    const t = shardTensor(shard, rule.meta);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new UserError(`${shard.path}: ${rule.meta} has shape ${shapeText(t.shape)}, expected ${shapeText(want)}${n > 1 ? ` (shard ${s} of ${n})` : ""} from params.json`);
    }
    const data = readPthTensorF32(shard, rule.meta);
    assertFinite(rule.meta, data, shard.path);
    if (split === "replicated") {
      if (first === undefined) {
        first = data;
        dst.set(data);
      } else if (data.some((v, i) => v !== first![i])) {
        throw new UserError(`${shard.path}: ${rule.meta} differs from shard 0's copy (replicated tensors must be equal)`);
      }
    } else if (split === "rows") {
      dst.set(data, s * part[0]! * cols);
    } else {
      const pc = part[1]!;
      for (let r = 0; r < rows; r++) dst.set(data.subarray(r * pc, (r + 1) * pc), r * cols + s * pc);
    }
  }
  if (rule.ropeHeads !== undefined) dst.set(permuteRows(dst, cols, interleavedToRopePerm(rows, rule.ropeHeads)));
}

function checkTensorNames(shards: PthFile[], rules: readonly TensorRule[]): void {
  const known = new Set(rules.map((r) => r.meta));
  for (const shard of shards) {
    const extra = [...shard.tensors.keys()].filter((k) => !known.has(k) && !IGNORED.has(k));
    if (extra.length > 0) {
      throw new UserError(`${shard.path}: unexpected tensors for a LLaMA checkpoint with these params.json: ${extra.slice(0, 5).join(", ")}${extra.length > 5 ? ` (+${extra.length - 5} more)` : ""}`);
    }
    for (const r of rules) shardTensor(shard, r.meta);
  }
}

/** True for Llama 3's tiktoken `tokenizer.model`: text lines "<base64 token> <rank>", not a SentencePiece protobuf. */
function isTiktokenFile(file: string): boolean {
  const fd = fs.openSync(file, "r");
  try {
    const head = Buffer.alloc(256);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return /^[A-Za-z0-9+/]+=* \d+\n/.test(head.subarray(0, n).toString("latin1"));
  } finally {
    fs.closeSync(fd);
  }
}

/** tokenizer.model beside the shards or one folder up (Meta's LLaMA 1 layout); Llama 3's tiktoken file is skipped. */
function findTokenizer(dir: string): string | undefined {
  for (const d of [dir, path.dirname(path.resolve(dir))]) {
    const p = path.join(d, "tokenizer.model");
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return isTiktokenFile(p) ? undefined : p;
  }
  return undefined;
}

/** Loads a Meta release folder (params.json + consolidated.NN.pth) as our config and float32 parameters. */
export function loadMetaCheckpoint(dir: string): MetaCheckpoint {
  const paramsFile = path.join(dir, META_PARAMS_FILE);
  if (!fs.existsSync(paramsFile)) throw new UserError(`${paramsFile} is missing (a Meta checkpoint folder has params.json and consolidated.NN.pth)`);
  const p = readParams(paramsFile);
  const files = metaShardFiles(dir);
  if (files.length === 0) throw new UserError(`${dir}: no consolidated.NN.pth files beside params.json`);
  const shards: PthFile[] = [];
  try {
    for (const f of files) shards.push(openPth(f));
    const emb = embeddingLayout(shards, p.dim);
    const config = metaConfig(p, emb.vocab, paramsFile);
    const rules = tensorRules(config, emb.split);
    checkTensorNames(shards, rules);
    const layout = paramLayout(config);
    const params = new Float32Array(layout.total);
    for (const rule of rules) {
      const spec = layout.byName.get(rule.hf)!;
      mergeTensor(shards, rule, spec.shape, params.subarray(spec.offset, spec.offset + spec.size));
    }
    return { config, params, tokenizerPath: findTokenizer(dir) };
  } finally {
    for (const s of shards) closePth(s);
  }
}
