/**
 * The LLaMA model configuration, with the Hugging Face `config.json` keys on disk, and the
 * paper's shapes as presets.
 */
import { UserError } from "../util/errors.js";

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
      throw new UserError(`${where}: ${hfKey(key)} must be a positive integer, got ${JSON.stringify(v)}`);
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
  return c;
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
    if (typeof v !== "number" || !Number.isFinite(v)) throw new UserError(`${where}: "${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const arch = o["architectures"];
  if (Array.isArray(arch) && arch.length > 0 && !arch.some((a) => a === "LlamaForCausalLM")) {
    throw new UserError(`${where}: architectures ${JSON.stringify(arch)} is not LlamaForCausalLM`);
  }
  const modelType = o["model_type"];
  if (modelType !== undefined && modelType !== "llama") throw new UserError(`${where}: model_type "${String(modelType)}" is not "llama"`);
  if (o["rope_scaling"] !== undefined && o["rope_scaling"] !== null) {
    throw new UserError(`${where}: rope_scaling is not supported yet`);
  }
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
  return validateConfig(cfg, where);
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
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    attention_bias: false,
    mlp_bias: false,
    torch_dtype: "float32",
  };
}
