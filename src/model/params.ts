/**
 * Parameters live in one contiguous Float32Array (and gradients, Adam m and v in buffers of
 * the same layout), with named views per tensor in the Hugging Face LlamaForCausalLM naming.
 * One fused optimiser pass and one global norm then run over the whole buffer.
 */
import type { LlamaConfig } from "./config.js";
import { headDim } from "./config.js";

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
    add(p + "input_layernorm.weight", [d]);
    add(p + "self_attn.q_proj.weight", [qDim, d]);
    add(p + "self_attn.k_proj.weight", [kvDim, d]);
    add(p + "self_attn.v_proj.weight", [kvDim, d]);
    add(p + "self_attn.o_proj.weight", [d, qDim]);
    add(p + "post_attention_layernorm.weight", [d]);
    add(p + "mlp.gate_proj.weight", [c.intermediateSize, d]);
    add(p + "mlp.up_proj.weight", [c.intermediateSize, d]);
    add(p + "mlp.down_proj.weight", [d, c.intermediateSize]);
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
}

/** Named views into a buffer laid out by `layout` (works for params, grads and Adam moments). */
export function tensorViews<F extends Float32Array | Float64Array>(c: LlamaConfig, layout: ParamLayout, buf: F): ModelTensors<F> {
  const view = (name: string): F => {
    const s = layout.byName.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return buf.subarray(s.offset, s.offset + s.size) as F;
  };
  const layers: LayerTensors<F>[] = [];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    layers.push({
      inputNorm: view(p + "input_layernorm.weight"),
      wq: view(p + "self_attn.q_proj.weight"),
      wk: view(p + "self_attn.k_proj.weight"),
      wv: view(p + "self_attn.v_proj.weight"),
      wo: view(p + "self_attn.o_proj.weight"),
      postAttentionNorm: view(p + "post_attention_layernorm.weight"),
      wGate: view(p + "mlp.gate_proj.weight"),
      wUp: view(p + "mlp.up_proj.weight"),
      wDown: view(p + "mlp.down_proj.weight"),
    });
  }
  const embedTokens = view("model.embed_tokens.weight");
  return {
    embedTokens,
    layers,
    finalNorm: view("model.norm.weight"),
    lmHead: c.tieWordEmbeddings ? embedTokens : view("lm_head.weight"),
  };
}

/** Parameter count as the paper counts it (tied heads counted once). */
export function parameterCount(c: LlamaConfig): number {
  return paramLayout(c).total;
}
