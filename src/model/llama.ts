/**
 * The LLaMA decoder for inference, written to read like the paper: pre-normalisation with
 * RMSNorm, rotary embeddings, causal (grouped-query) attention, SwiGLU feed-forward, final
 * norm and output head. A KV cache holds past keys and values so each new token costs one
 * pass over the weights.
 */
import type { Backend } from "../kernels/types.js";
import { getBackend } from "../kernels/backend.js";
import type { LlamaConfig } from "./config.js";
import { headDim } from "./config.js";
import type { ModelTensors, ParamLayout } from "./params.js";
import { paramLayout, tensorViews } from "./params.js";
import { ropeTables } from "./rope.js";

/** Keys and values of every layer for positions 0..length-1 (after RoPE). */
export class KVCache {
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  /** Number of positions already in the cache. */
  length = 0;

  constructor(readonly config: LlamaConfig, readonly capacity: number = config.maxPositionEmbeddings) {
    const kvDim = config.numKeyValueHeads * headDim(config);
    this.keys = Array.from({ length: config.numHiddenLayers }, () => new Float32Array(capacity * kvDim));
    this.values = Array.from({ length: config.numHiddenLayers }, () => new Float32Array(capacity * kvDim));
  }

  reset(): void {
    this.length = 0;
  }
}

/** Buffers for `rows` positions at a time, reused across calls. */
class Scratch {
  readonly x: Float32Array;
  readonly xn: Float32Array;
  readonly q: Float32Array;
  readonly attn: Float32Array;
  readonly proj: Float32Array;
  readonly gate: Float32Array;
  readonly up: Float32Array;

  constructor(readonly rows: number, c: LlamaConfig) {
    const d = c.hiddenSize;
    const qDim = c.numAttentionHeads * headDim(c);
    this.x = new Float32Array(rows * d);
    this.xn = new Float32Array(rows * d);
    this.q = new Float32Array(rows * qDim);
    this.attn = new Float32Array(rows * qDim);
    this.proj = new Float32Array(rows * d);
    this.gate = new Float32Array(rows * c.intermediateSize);
    this.up = new Float32Array(rows * c.intermediateSize);
  }
}

export class LlamaModel {
  readonly layout: ParamLayout;
  readonly weights: ModelTensors<Float32Array>;
  private readonly ropeCos: Float32Array;
  private readonly ropeSin: Float32Array;
  private scratch: Scratch | undefined;

  /** `params` is the contiguous parameter buffer in `paramLayout(config)` order. */
  constructor(readonly config: LlamaConfig, readonly params: Float32Array, private readonly backendOverride?: Backend) {
    this.layout = paramLayout(config);
    if (params.length !== this.layout.total) {
      throw new Error(`parameter buffer has ${params.length} floats, the config needs ${this.layout.total}`);
    }
    this.weights = tensorViews(config, this.layout, params);
    const t = ropeTables(headDim(config), config.maxPositionEmbeddings, config.ropeTheta);
    this.ropeCos = t.cos;
    this.ropeSin = t.sin;
  }

  get backend(): Backend {
    return this.backendOverride ?? getBackend();
  }

  newCache(capacity?: number): KVCache {
    return new KVCache(this.config, capacity ?? this.config.maxPositionEmbeddings);
  }

  /**
   * Runs `tokens` at positions cache.length.. and appends their keys/values to the cache.
   * Returns logits [rows × vocab] for every position, or only the last row when
   * `allLogits` is false.
   */
  forward(tokens: readonly number[], cache: KVCache, allLogits = false): Float32Array {
    const c = this.config;
    const T = tokens.length;
    const pos0 = cache.length;
    if (T === 0) throw new Error("forward needs at least one token");
    if (pos0 + T > cache.capacity) {
      throw new Error(`sequence of ${pos0 + T} positions exceeds the context length ${cache.capacity}`);
    }
    for (const id of tokens) {
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new RangeError(`token id ${id} is outside the vocabulary [0, ${c.vocabSize})`);
    }
    const k = this.backend;
    const d = c.hiddenSize;
    const hd = headDim(c);
    const nH = c.numAttentionHeads;
    const nKv = c.numKeyValueHeads;
    const qDim = nH * hd;
    const kvDim = nKv * hd;
    const F = c.intermediateSize;
    if (!this.scratch || this.scratch.rows < T) this.scratch = new Scratch(Math.max(T, 1), c);
    const s = this.scratch;
    const x = s.x.subarray(0, T * d);
    const xn = s.xn.subarray(0, T * d);
    const q = s.q.subarray(0, T * qDim);
    const attn = s.attn.subarray(0, T * qDim);
    const proj = s.proj.subarray(0, T * d);
    const gate = s.gate.subarray(0, T * F);
    const up = s.up.subarray(0, T * F);
    const w = this.weights;

    // Token embeddings.
    for (let t = 0; t < T; t++) x.set(w.embedTokens.subarray(tokens[t]! * d, (tokens[t]! + 1) * d), t * d);

    for (let l = 0; l < c.numHiddenLayers; l++) {
      const L = w.layers[l]!;
      const kCache = cache.keys[l]!;
      const vCache = cache.values[l]!;
      const kNew = kCache.subarray(pos0 * kvDim, (pos0 + T) * kvDim);
      const vNew = vCache.subarray(pos0 * kvDim, (pos0 + T) * kvDim);

      // Attention sub-layer: x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x)).
      k.rmsnorm(xn, x, L.inputNorm, T, d, c.rmsNormEps);
      this.linear(q, xn, L.wq, T, qDim, d);
      this.linear(kNew, xn, L.wk, T, kvDim, d);
      this.linear(vNew, xn, L.wv, T, kvDim, d);
      k.rope(q, T, nH, hd, pos0, this.ropeCos, this.ropeSin);
      k.rope(kNew, T, nKv, hd, pos0, this.ropeCos, this.ropeSin);
      k.attention(attn, q, kCache, vCache, T, pos0, nH, nKv, hd);
      this.linear(proj, attn, L.wo, T, d, qDim);
      k.addInPlace(x, proj, T * d);

      // Feed-forward sub-layer: x += W2 · (silu(W1·norm(x)) ⊙ W3·norm(x)).
      k.rmsnorm(xn, x, L.postAttentionNorm, T, d, c.rmsNormEps);
      this.linear(gate, xn, L.wGate, T, F, d);
      this.linear(up, xn, L.wUp, T, F, d);
      k.swiglu(gate, gate, up, T * F);
      this.linear(proj, gate, L.wDown, T, d, F);
      k.addInPlace(x, proj, T * d);
    }
    cache.length = pos0 + T;

    // Final norm and output head (only the rows the caller wants).
    const first = allLogits ? 0 : T - 1;
    const rows = T - first;
    k.rmsnorm(xn.subarray(first * d), x.subarray(first * d), w.finalNorm, rows, d, c.rmsNormEps);
    const logits = new Float32Array(rows * c.vocabSize);
    this.linear(logits, xn.subarray(first * d), w.lmHead, rows, c.vocabSize, d);
    return logits;
  }

  /** out[rows × n] = a[rows × k] · wᵀ: matrix-vector for one row (decoding), matmul otherwise. */
  private linear(out: Float32Array, a: Float32Array, w: Float32Array, rows: number, n: number, kDim: number): void {
    if (rows === 1) this.backend.matvec(out, w, a, n, kDim);
    else this.backend.matmul(out, a, w, rows, n, kDim);
  }
}
