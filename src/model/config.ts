/**
 * The LLaMA model configuration, with the Hugging Face `config.json` keys on disk, and the
 * paper's shapes as presets.
 */
import { oneLine, quoteForTerminal, UserError } from "../util/errors.js";
import { ropeScalingProblem, type RopeScaling } from "./rope.js";

export interface LlamaConfig {
  vocabSize: number;
  hiddenSize: number;
  /** The SwiGLU hidden size. */
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** Grouped-query attention: query head h reads kv head floor(h / (heads / kvHeads)). */
  numKeyValueHeads: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** RoPE scaling (Llama 3.1's `llama3` rule, or `linear`); absent: plain RoPE. See rope.ts. */
  ropeScaling?: RopeScaling;
  maxPositionEmbeddings: number;
  /** When true the output head reuses the token embedding (LLaMA itself is untied). */
  tieWordEmbeddings: boolean;
  bosTokenId: number;
  eosTokenId: number;
}

export function headDim(c: LlamaConfig): number {
  return c.hiddenSize / c.numAttentionHeads;
}

/**
 * The paper's feed-forward size: 2/3 of 4d (SwiGLU has three matrices instead of two, so the
 * hidden size shrinks to keep the parameter count), rounded up to a multiple of 256. Later
 * Meta releases scale it first by `ffn_dim_multiplier` (truncated, as Meta's model.py does:
 * `int(ffn_dim_multiplier * hidden)`) and round to their `multiple_of`.
 */
export function ffnHiddenSize(dim: number, multipleOf = 256, ffnDimMultiplier?: number): number {
  let hidden = Math.floor((2 * 4 * dim) / 3);
  if (ffnDimMultiplier !== undefined) hidden = Math.trunc(ffnDimMultiplier * hidden);
  return multipleOf * Math.ceil(hidden / multipleOf);
}

function preset(dim: number, heads: number, layers: number, extra: Partial<LlamaConfig> = {}): LlamaConfig {
  return {
    vocabSize: 32000,
    hiddenSize: dim,
    intermediateSize: ffnHiddenSize(dim),
    numHiddenLayers: layers,
    numAttentionHeads: heads,
    numKeyValueHeads: heads,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    maxPositionEmbeddings: 2048,
    tieWordEmbeddings: false,
    bosTokenId: 1,
    eosTokenId: 2,
    ...extra,
  };
}

/** The paper's Table 2 shapes (head dim 128) and small shapes that train on a laptop. */
export const PRESETS: Record<string, LlamaConfig> = {
  "7B": preset(4096, 32, 32),
  "13B": preset(5120, 40, 40),
  "33B": preset(6656, 52, 60),
  "65B": preset(8192, 64, 80),
  // llama2.c's TinyStories shapes (their FFN uses multiple_of 32 above 288; we keep the paper's rule).
  stories15M: preset(288, 6, 6, { maxPositionEmbeddings: 256 }),
  stories42M: preset(512, 8, 8, { maxPositionEmbeddings: 1024 }),
  stories110M: preset(768, 12, 12, { maxPositionEmbeddings: 1024 }),
  // Tiny shapes for tests and the `npm start` demo.
  tiny: preset(64, 4, 2, { vocabSize: 512, numKeyValueHeads: 2, maxPositionEmbeddings: 256 }),
  small: preset(192, 6, 4, { vocabSize: 2048, numKeyValueHeads: 2, maxPositionEmbeddings: 512 }),
};

export function presetConfig(name: string): LlamaConfig {
  const c = PRESETS[name];
  if (!c) throw new UserError(`unknown preset "${name}"; known presets: ${Object.keys(PRESETS).join(", ")}`);
  return { ...c };
}

/** Checks a config for internal consistency; `where` names the source in errors. */
export function validateConfig(c: LlamaConfig, where: string): LlamaConfig {
  const positive: Array<keyof LlamaConfig> = [
    "vocabSize", "hiddenSize", "intermediateSize", "numHiddenLayers", "numAttentionHeads", "numKeyValueHeads", "maxPositionEmbeddings",
  ];
  for (const key of positive) {
    const v = c[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new UserError(`${where}: ${hfKey(key)} must be a positive integer, got ${jsonForMessage(v)}`);
    }
  }
  for (const [key, max] of Object.entries(CONFIG_LIMITS) as Array<[keyof typeof CONFIG_LIMITS, number]>) {
    if (c[key] > max) {
      throw new UserError(`${where}: ${hfKey(key)} ${c[key]} is beyond any real model (limit ${max}); the file is corrupt or not a LLaMA config`);
    }
  }
  if (c.hiddenSize % c.numAttentionHeads !== 0) {
    throw new UserError(`${where}: hidden_size ${c.hiddenSize} is not divisible by num_attention_heads ${c.numAttentionHeads}`);
  }
  if (headDim(c) % 2 !== 0) throw new UserError(`${where}: head dimension ${headDim(c)} must be even for rotary embeddings`);
  if (c.numAttentionHeads % c.numKeyValueHeads !== 0) {
    throw new UserError(`${where}: num_attention_heads ${c.numAttentionHeads} is not a multiple of num_key_value_heads ${c.numKeyValueHeads}`);
  }
  if (!(c.rmsNormEps > 0) || !Number.isFinite(c.rmsNormEps)) throw new UserError(`${where}: rms_norm_eps must be a positive number`);
  if (!(c.ropeTheta > 0) || !Number.isFinite(c.ropeTheta)) throw new UserError(`${where}: rope_theta must be a positive number`);
  const scalingProblem = c.ropeScaling && ropeScalingProblem(c.ropeScaling);
  if (scalingProblem) throw new UserError(`${where}: rope_scaling (${c.ropeScaling!.type}): ${scalingProblem}`);
  return c;
}

/**
 * Upper bounds far above any published model (LLaMA 65B: hidden 8192, 80 layers, 64 heads,
 * FFN 22016; the largest vocabularies ~256k; the longest contexts ~10M), so that a corrupt or
 * crafted header is refused before anything is sized from it. Each reader also checks that the
 * tensors the config implies fit in the bytes it has (`checkConfigFitsBytes` in params.ts).
 */
export const CONFIG_LIMITS = {
  vocabSize: 1 << 24,
  hiddenSize: 1 << 17,
  intermediateSize: 1 << 20,
  numHiddenLayers: 1 << 12,
  numAttentionHeads: 1 << 12,
  numKeyValueHeads: 1 << 12,
  maxPositionEmbeddings: 1 << 24,
} as const satisfies Partial<Record<keyof LlamaConfig, number>>;

/** A JSON value from a file, for an error message: serialised, escaped and shortened. */
function jsonForMessage(v: unknown): string {
  if (typeof v === "string") return quoteForTerminal(v, 120);
  const text = oneLine(JSON.stringify(v) ?? String(v));
  return text.length > 120 ? `${text.slice(0, 100)}…` : text;
}

const HF_KEYS: Record<keyof LlamaConfig, string> = {
  vocabSize: "vocab_size",
  hiddenSize: "hidden_size",
  intermediateSize: "intermediate_size",
  numHiddenLayers: "num_hidden_layers",
  numAttentionHeads: "num_attention_heads",
  numKeyValueHeads: "num_key_value_heads",
  rmsNormEps: "rms_norm_eps",
  ropeTheta: "rope_theta",
  ropeScaling: "rope_scaling",
  maxPositionEmbeddings: "max_position_embeddings",
  tieWordEmbeddings: "tie_word_embeddings",
  bosTokenId: "bos_token_id",
  eosTokenId: "eos_token_id",
};

function hfKey(k: keyof LlamaConfig): string {
  return HF_KEYS[k];
}

/** Reads a Hugging Face `config.json` object (LlamaForCausalLM). */
export function configFromHf(raw: unknown, where: string): LlamaConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new UserError(`${where}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  const num = (key: string, fallback?: number): number => {
    const v = o[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new UserError(`${where}: missing "${key}"`);
    }
    if (typeof v !== "number" || !Number.isFinite(v)) throw new UserError(`${where}: "${key}" must be a number, got ${jsonForMessage(v)}`);
    return v;
  };
  const arch = o["architectures"];
  if (Array.isArray(arch) && arch.length > 0 && !arch.some((a) => a === "LlamaForCausalLM")) {
    throw new UserError(`${where}: architectures ${jsonForMessage(arch)} is not LlamaForCausalLM`);
  }
  const modelType = o["model_type"];
  if (modelType !== undefined && modelType !== "llama") throw new UserError(`${where}: model_type ${jsonForMessage(modelType)} is not "llama"`);
  for (const bias of ["attention_bias", "mlp_bias"]) {
    if (o[bias] === true) throw new UserError(`${where}: ${bias}=true is not supported (LLaMA has no biases)`);
  }
  const hidden = num("hidden_size");
  const heads = num("num_attention_heads");
  const hd = o["head_dim"];
  if (typeof hd === "number" && hidden % heads === 0 && hd !== hidden / heads) {
    throw new UserError(`${where}: head_dim ${hd} != hidden_size / num_attention_heads (${hidden / heads}); not supported`);
  }
  const eos = o["eos_token_id"];
  const cfg: LlamaConfig = {
    vocabSize: num("vocab_size"),
    hiddenSize: hidden,
    intermediateSize: num("intermediate_size"),
    numHiddenLayers: num("num_hidden_layers"),
    numAttentionHeads: heads,
    numKeyValueHeads: num("num_key_value_heads", heads),
    rmsNormEps: num("rms_norm_eps", 1e-6),
    ropeTheta: num("rope_theta", 10000),
    maxPositionEmbeddings: num("max_position_embeddings", 2048),
    tieWordEmbeddings: o["tie_word_embeddings"] === true,
    bosTokenId: num("bos_token_id", 1),
    // Some configs list several EOS ids; the first is the one we stop on.
    eosTokenId: Array.isArray(eos) && typeof eos[0] === "number" ? eos[0] : num("eos_token_id", 2),
  };
  const scaling = ropeScalingFromHf(o["rope_scaling"], where);
  if (scaling) cfg.ropeScaling = scaling;
  return validateConfig(cfg, where);
}

/**
 * `rope_scaling` of a config.json: null/absent or type "default" is plain RoPE; "llama3" and
 * "linear" are implemented; the type is read from `rope_type` (transformers >= 4.43) or `type`.
 */
function ropeScalingFromHf(raw: unknown, where: string): RopeScaling | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "object" || Array.isArray(raw)) throw new UserError(`${where}: rope_scaling must be an object or null`);
  const o = raw as Record<string, unknown>;
  const type = o["rope_type"] ?? o["type"];
  const num = (key: string): number => {
    const v = o[key];
    if (typeof v !== "number" || !Number.isFinite(v)) throw new UserError(`${where}: rope_scaling "${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  if (type === "default") return undefined;
  if (type === "linear") return { type: "linear", factor: num("factor") };
  if (type === "llama3") {
    return {
      type: "llama3",
      factor: num("factor"),
      lowFreqFactor: num("low_freq_factor"),
      highFreqFactor: num("high_freq_factor"),
      originalMaxPositionEmbeddings: num("original_max_position_embeddings"),
    };
  }
  throw new UserError(`${where}: rope_scaling type ${JSON.stringify(type)} is not supported (llama-ts implements "llama3" and "linear")`);
}

/** The config.json `rope_scaling` object, as transformers writes it. */
function ropeScalingToHf(s: RopeScaling): Record<string, unknown> {
  if (s.type === "linear") return { rope_type: "linear", factor: s.factor };
  return {
    rope_type: "llama3",
    factor: s.factor,
    low_freq_factor: s.lowFreqFactor,
    high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalMaxPositionEmbeddings,
  };
}

/** The Hugging Face `config.json` object for a config. */
export function configToHf(c: LlamaConfig): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: headDim(c),
    hidden_act: "silu",
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    ...(c.ropeScaling ? { rope_scaling: ropeScalingToHf(c.ropeScaling) } : {}),
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    attention_bias: false,
    mlp_bias: false,
    torch_dtype: "float32",
  };
}
