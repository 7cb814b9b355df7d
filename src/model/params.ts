/**
 * Parameters live in one contiguous Float32Array (and gradients, Adam m and v in buffers of
 * the same layout), with named views per tensor in the Hugging Face LlamaForCausalLM naming.
 * One fused optimiser pass and one global norm then run over the whole buffer.
 */
import type { LlamaConfig } from "./config.js";
import { headDim } from "./config.js";
import { UserError } from "../util/errors.js";

export interface ParamSpec {
  /** Hugging Face tensor name, e.g. `model.layers.3.self_attn.q_proj.weight`. */
  name: string;
  shape: number[];
  offset: number;
  size: number;
  /** Weight decay applies to matrices (incl. embeddings and head), never to RMSNorm weights. */
  decay: boolean;
}

export interface ParamLayout {
  specs: ParamSpec[];
  byName: Map<string, ParamSpec>;
  total: number;
}

export function paramLayout(c: LlamaConfig): ParamLayout {
  const specs: ParamSpec[] = [];
  let offset = 0;
  const add = (name: string, shape: number[]): void => {
    const size = shape.reduce((a, b) => a * b, 1);
    specs.push({ name, shape, offset, size, decay: shape.length === 2 });
    offset += size;
  };
  const d = c.hiddenSize;
  const qDim = c.numAttentionHeads * headDim(c);
  const kvDim = c.numKeyValueHeads * headDim(c);
  add("model.embed_tokens.weight", [c.vocabSize, d]);
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    const N = LAYER_TENSOR_NAMES;
    add(p + N.inputNorm, [d]);
    add(p + N.wq, [qDim, d]);
    add(p + N.wk, [kvDim, d]);
    add(p + N.wv, [kvDim, d]);
    add(p + N.wo, [d, qDim]);
    add(p + N.postAttentionNorm, [d]);
    add(p + N.wGate, [c.intermediateSize, d]);
    add(p + N.wUp, [c.intermediateSize, d]);
    add(p + N.wDown, [d, c.intermediateSize]);
  }
  add("model.norm.weight", [d]);
  if (!c.tieWordEmbeddings) add("lm_head.weight", [c.vocabSize, d]);
  return { specs, byName: new Map(specs.map((s) => [s.name, s])), total: offset };
}

export interface LayerTensors<F> {
  inputNorm: F;
  wq: F;
  wk: F;
  wv: F;
  wo: F;
  postAttentionNorm: F;
  wGate: F;
  wUp: F;
  wDown: F;
}

export interface ModelTensors<F> {
  embedTokens: F;
  layers: LayerTensors<F>[];
  finalNorm: F;
  /** The output head: its own tensor, or the embedding when tied. */
  lmHead: F;
  /**
   * True when the rows of wq and wk are in the interleaved RoPE order of GGUF files (pairs
   * (2i, 2i+1) per head, formats/gguf-model.ts) rather than HF's rotate_half order: weights used
   * straight from a mapped GGUF. The model then reorders the q/k activations instead (the same
   * values), so the weights need no copy.
   */
  qkInterleaved?: boolean;
}

/**
 * The Hugging Face name of each per-layer tensor after the `model.layers.N.` prefix: the one list
 * the parameter layout, the named views and the GGUF name map (formats/gguf-model.ts) read.
 */
export const LAYER_TENSOR_NAMES: Readonly<Record<keyof LayerTensors<unknown>, string>> = {
  inputNorm: "input_layernorm.weight",
  wq: "self_attn.q_proj.weight",
  wk: "self_attn.k_proj.weight",
  wv: "self_attn.v_proj.weight",
  wo: "self_attn.o_proj.weight",
  postAttentionNorm: "post_attention_layernorm.weight",
  wGate: "mlp.gate_proj.weight",
  wUp: "mlp.up_proj.weight",
  wDown: "mlp.down_proj.weight",
};

/** A model's tensors fetched by Hugging Face name (views into a buffer, or loaded weights). */
export function modelTensorsFrom<F>(c: LlamaConfig, get: (name: string) => F): ModelTensors<F> {
  const layers: LayerTensors<F>[] = [];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    const t = (key: keyof LayerTensors<F>): F => get(p + LAYER_TENSOR_NAMES[key]);
    layers.push({
      inputNorm: t("inputNorm"),
      wq: t("wq"),
      wk: t("wk"),
      wv: t("wv"),
      wo: t("wo"),
      postAttentionNorm: t("postAttentionNorm"),
      wGate: t("wGate"),
      wUp: t("wUp"),
      wDown: t("wDown"),
    });
  }
  const embedTokens = get("model.embed_tokens.weight");
  return {
    embedTokens,
    layers,
    finalNorm: get("model.norm.weight"),
    lmHead: c.tieWordEmbeddings ? embedTokens : get("lm_head.weight"),
  };
}

/** Named views into a buffer laid out by `layout` (works for params, grads and Adam moments). */
export function tensorViews<F extends Float32Array | Float64Array>(c: LlamaConfig, layout: ParamLayout, buf: F): ModelTensors<F> {
  return modelTensorsFrom(c, (name: string): F => {
    const s = layout.byName.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return buf.subarray(s.offset, s.offset + s.size) as F;
  });
}

/**
 * The number of parameters of a config as the paper counts it (a tied head counted once), in
 * closed form, equal to `paramLayout(c).total` without building the per-tensor list (so a
 * header claiming 2·10⁹ layers costs nothing to check):
 *   V·d (embedding) + L·(2d + d·qDim·2 + d·kvDim·2 + 3·d·ff) + d (final norm) + V·d (untied head).
 */
export function parameterCount(c: LlamaConfig): number {
  const d = c.hiddenSize;
  const qDim = c.numAttentionHeads * headDim(c);
  const kvDim = c.numKeyValueHeads * headDim(c);
  const perLayer = 2 * d + 2 * d * qDim + 2 * d * kvDim + 3 * d * c.intermediateSize;
  return c.vocabSize * d * (c.tieWordEmbeddings ? 1 : 2) + c.numHiddenLayers * perLayer + d;
}

/**
 * Throws a UserError when the tensors `c` describes cannot be stored in `bytes` bytes at
 * `minBytesPerParam` or more per parameter (e.g. 2 for f16 files, 18/32 for q4_0): a header
 * whose sizes do not match its file is refused before any buffer is allocated from it.
 */
export function checkConfigFitsBytes(c: LlamaConfig, bytes: number, minBytesPerParam: number, where: string): void {
  const n = parameterCount(c);
  if (n * minBytesPerParam > bytes) {
    throw new UserError(
      `${where}: the config (hidden ${c.hiddenSize}, ${c.numHiddenLayers} layers, vocab ${c.vocabSize}, FFN ${c.intermediateSize}) implies ${n} parameters, ` +
        `more than the ${bytes} bytes of weights can hold; the header is corrupt or the weights are truncated`,
    );
  }
}

