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
import { dequantizeRows, isQuantMatrix, type QuantMatrix, type Weight } from "../kernels/quant.js";
import { paramLayout, tensorViews } from "./params.js";
import { ropeTables } from "./rope.js";

/** Positions allocated up front by a KV cache or the RoPE tables; more are added as they are used. */
const INITIAL_POSITIONS = 256;

/**
 * Keys and values of every layer for positions 0..length-1 (after RoPE). `capacity` is the most
 * positions the cache may hold; memory is allocated as positions are used (doubling), so a
 * model whose max_position_embeddings is 128k (or a corrupt 10⁷) costs nothing until used.
 */
export class KVCache {
  /** Per layer, [allocated × kvDim]; forwardBatch grows them (ensure) before writing. */
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  /** Number of positions already in the cache. */
  length = 0;
  private readonly kvDim: number;

  constructor(readonly config: LlamaConfig, readonly capacity: number = config.maxPositionEmbeddings) {
    this.kvDim = config.numKeyValueHeads * headDim(config);
    const n = Math.min(capacity, INITIAL_POSITIONS) * this.kvDim;
    this.keys = Array.from({ length: config.numHiddenLayers }, () => new Float32Array(n));
    this.values = Array.from({ length: config.numHiddenLayers }, () => new Float32Array(n));
  }

  /** Positions currently allocated (<= capacity). */
  get allocated(): number {
    return (this.keys[0]?.length ?? 0) / this.kvDim;
  }

  /** Makes room for positions 0..positions-1 (at most `capacity`), keeping what is stored. */
  ensure(positions: number): void {
    const have = this.allocated;
    if (positions <= have) return;
    const n = Math.min(this.capacity, Math.max(positions, 2 * have)) * this.kvDim;
    const grow = (a: Float32Array): Float32Array => {
      const b = new Float32Array(n);
      b.set(a);
      return b;
    };
    for (let l = 0; l < this.keys.length; l++) {
      this.keys[l] = grow(this.keys[l]!);
      this.values[l] = grow(this.values[l]!);
    }
  }

  reset(): void {
    this.length = 0;
  }
}

/**
 * One sequence of a batched forward pass (`LlamaModel.forwardBatch`): `tokens` at positions
 * pos0..pos0+tokens.length-1 of `cache`, attending to the keys/values at positions 0..pos0-1
 * that `cache` holds when the segment's turn comes (see forwardBatch for the order).
 */
export interface BatchSegment {
  tokens: readonly number[];
  cache: KVCache;
  /** First position (default: cache.length when the call starts). */
  pos0?: number;
  /** Logits are returned for rows logitsFrom..tokens.length-1 (default tokens.length: none). */
  logitsFrom?: number;
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
  /** Linear matrices (and the embedding) may be quantised (GGUF blocks of any registry type, src/kernels/quant/). */
  readonly weights: ModelTensors<Weight>;
  /** The contiguous float32 parameters, when the model was built from them (not from quantised tensors). */
  readonly params: Float32Array | undefined;
  /** RoPE tables for the positions used so far (grown on demand up to max_position_embeddings). */
  private ropeCos: Float32Array;
  private ropeSin: Float32Array;
  private scratch: Scratch | undefined;
  /** For weights with interleaved q/k rows (ModelTensors.qkInterleaved): the HF order of q and k outputs. */
  private readonly qkOrder: { q: Int32Array; k: Int32Array; row: Float32Array } | undefined;
  /** forwardBatch's new keys and values, [rows × kvDim] each, before they go to their caches. */
  private batchKv: { k: Float32Array; v: Float32Array; rows: number } | undefined;

  /**
   * `params` is the contiguous parameter buffer in `paramLayout(config)` order, or named tensors
   * whose matrices may be quantised (e.g. from `loadGgufTensors`).
   */
  constructor(readonly config: LlamaConfig, params: Float32Array | ModelTensors<Weight>, private readonly backendOverride?: Backend) {
    this.layout = paramLayout(config);
    if (params instanceof Float32Array) {
      if (params.length !== this.layout.total) {
        throw new Error(`parameter buffer has ${params.length} floats, the config needs ${this.layout.total}`);
      }
      this.params = params;
      this.weights = tensorViews(config, this.layout, params);
    } else {
      this.params = undefined;
      this.weights = params;
      checkTensors(config, this.layout, params);
    }
    if (this.weights.qkInterleaved) {
      const hd = headDim(config);
      this.qkOrder = { q: interleavedOrder(config.numAttentionHeads, hd), k: interleavedOrder(config.numKeyValueHeads, hd), row: new Float32Array(config.numAttentionHeads * hd) };
    }
    const t = ropeTables(headDim(config), Math.min(config.maxPositionEmbeddings, INITIAL_POSITIONS), config.ropeTheta, config.ropeScaling);
    this.ropeCos = t.cos;
    this.ropeSin = t.sin;
  }

  /** Extends the RoPE tables to cover positions 0..positions-1 (values do not depend on the table size). */
  private ensureRope(positions: number): void {
    const c = this.config;
    const half = headDim(c) / 2;
    const have = this.ropeCos.length / half;
    if (positions <= have) return;
    const t = ropeTables(headDim(c), Math.min(c.maxPositionEmbeddings, Math.max(positions, 2 * have)), c.ropeTheta, c.ropeScaling);
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
    if (tokens.length === 0) throw new Error("forward needs at least one token");
    const pos0 = cache.length;
    // One sequence is a batch of one segment.
    const [logits] = this.forwardBatch([{ tokens, cache, pos0, logitsFrom: allLogits ? 0 : tokens.length - 1 }]);
    cache.length = pos0 + tokens.length;
    return logits!;
  }

  /**
   * Runs several sequences at once: every linear layer is one product over the rows of all
   * segments, while attention runs per segment against its own cache. Within each layer the
   * segments are processed in order, and each writes its keys/values at positions
   * pos0..pos0+T-1 of its cache before attending, so a segment may extend a prefix written by
   * an earlier segment of the same call (a shared context followed by several continuations),
   * and segments that share a cache and positions overwrite each other's keys/values (the
   * last one wins). Results equal running each segment with `forward` on a cache holding the
   * same prefix. `cache.length` is left as it is (the caller knows what each cache holds).
   * Returns, per segment, logits [rows × vocab] for its rows logitsFrom.. (empty when none).
   */
  forwardBatch(segments: readonly BatchSegment[]): Float32Array[] {
    const c = this.config;
    const V = c.vocabSize;
    const starts: number[] = [];
    const firsts: number[] = [];
    let M = 0;
    let R = 0;
    for (const seg of segments) {
      const T = seg.tokens.length;
      const pos0 = seg.pos0 ?? seg.cache.length;
      if (T === 0) throw new Error("forwardBatch: every segment needs at least one token");
      const limit = Math.min(seg.cache.capacity, c.maxPositionEmbeddings);
      if (!Number.isInteger(pos0) || pos0 < 0 || pos0 + T > limit) {
        throw new Error(`sequence of ${pos0 + T} positions exceeds the context length ${limit}`);
      }
      for (const id of seg.tokens) {
        if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`token id ${id} is outside the vocabulary [0, ${V})`);
      }
      const from = seg.logitsFrom ?? T;
      if (!Number.isInteger(from) || from < 0 || from > T) throw new RangeError(`logitsFrom ${from} is outside [0, ${T}]`);
      starts.push(pos0);
      firsts.push(from);
      M += T;
      R += T - from;
      seg.cache.ensure(pos0 + T);
      this.ensureRope(pos0 + T);
    }
    if (M === 0) return [];
    const k = this.backend;
    const d = c.hiddenSize;
    const hd = headDim(c);
    const nH = c.numAttentionHeads;
    const nKv = c.numKeyValueHeads;
    const qDim = nH * hd;
    const kvDim = nKv * hd;
    const F = c.intermediateSize;
    if (!this.scratch || this.scratch.rows < M) this.scratch = new Scratch(M, c);
    if (!this.batchKv || this.batchKv.rows < M) this.batchKv = { k: new Float32Array(M * kvDim), v: new Float32Array(M * kvDim), rows: M };
    const s = this.scratch;
    const x = s.x.subarray(0, M * d);
    const xn = s.xn.subarray(0, M * d);
    const q = s.q.subarray(0, M * qDim);
    const attn = s.attn.subarray(0, M * qDim);
    const proj = s.proj.subarray(0, M * d);
    const gate = s.gate.subarray(0, M * F);
    const up = s.up.subarray(0, M * F);
    const kNew = this.batchKv.k.subarray(0, M * kvDim);
    const vNew = this.batchKv.v.subarray(0, M * kvDim);
    const w = this.weights;

    const emb = w.embedTokens;
    let row = 0;
    for (const seg of segments) {
      for (const id of seg.tokens) {
        if (isQuantMatrix(emb)) dequantizeRows(emb, id, 1, x.subarray(row * d, (row + 1) * d));
        else x.set(emb.subarray(id * d, (id + 1) * d), row * d);
        row++;
      }
    }

    for (let l = 0; l < c.numHiddenLayers; l++) {
      const L = w.layers[l]!;
      k.rmsnorm(xn, x, L.inputNorm as Float32Array, M, d, c.rmsNormEps);
      this.linearMany([q, kNew, vNew], xn, [L.wq, L.wk, L.wv], M, [qDim, kvDim, kvDim], d);
      if (this.qkOrder) {
        reorderRows(q, M, this.qkOrder.q, this.qkOrder.row);
        reorderRows(kNew, M, this.qkOrder.k, this.qkOrder.row);
      }
      let r0 = 0;
      segments.forEach((seg, i) => {
        const T = seg.tokens.length;
        const pos0 = starts[i]!;
        const qs = q.subarray(r0 * qDim, (r0 + T) * qDim);
        const ks = kNew.subarray(r0 * kvDim, (r0 + T) * kvDim);
        k.rope(qs, T, nH, hd, pos0, this.ropeCos, this.ropeSin);
        k.rope(ks, T, nKv, hd, pos0, this.ropeCos, this.ropeSin);
        const kCache = seg.cache.keys[l]!;
        const vCache = seg.cache.values[l]!;
        kCache.set(ks, pos0 * kvDim);
        vCache.set(vNew.subarray(r0 * kvDim, (r0 + T) * kvDim), pos0 * kvDim);
        k.attention(attn.subarray(r0 * qDim, (r0 + T) * qDim), qs, kCache, vCache, T, pos0, nH, nKv, hd);
        r0 += T;
      });
      this.linear(proj, attn, L.wo, M, d, qDim);
      k.addInPlace(x, proj, M * d);

      k.rmsnorm(xn, x, L.postAttentionNorm as Float32Array, M, d, c.rmsNormEps);
      this.linearMany([gate, up], xn, [L.wGate, L.wUp], M, [F, F], d);
      k.swiglu(gate, gate, up, M * F);
      this.linear(proj, gate, L.wDown, M, d, F);
      k.addInPlace(x, proj, M * d);
    }

    // Final norm and output head over the wanted rows only, gathered together.
    const out: Float32Array[] = [];
    if (R === 0) return segments.map(() => new Float32Array(0));
    // Gathering moves rows only towards the front (g <= row), so it can be done in place in x.
    let g = 0;
    row = 0;
    segments.forEach((seg, i) => {
      const T = seg.tokens.length;
      const n = T - firsts[i]!;
      if (n > 0) x.copyWithin(g * d, (row + firsts[i]!) * d, (row + T) * d);
      row += T;
      g += n;
    });
    k.rmsnorm(xn.subarray(0, R * d), x.subarray(0, R * d), w.finalNorm as Float32Array, R, d, c.rmsNormEps);
    const logits = new Float32Array(R * V);
    this.linear(logits, xn.subarray(0, R * d), w.lmHead, R, V, d);
    g = 0;
    segments.forEach((seg, i) => {
      const n = seg.tokens.length - firsts[i]!;
      out.push(logits.subarray(g * V, (g + n) * V));
      g += n;
    });
    return out;
  }

  /**
   * linear() for several matrices that read the same input (q/k/v, gate/up): with quantised
   * weights, one qmatmulMany (the input quantised once, and when decoding all their rows one
   * threaded job); the results are the same as one linear() each.
   */
  private linearMany(outs: Float32Array[], a: Float32Array, ws: Weight[], rows: number, ns: number[], kDim: number): void {
    if (ws.every(isQuantMatrix)) {
      this.backend.qmatmulMany(outs, a, ws as QuantMatrix[], rows);
      return;
    }
    ws.forEach((w, i) => this.linear(outs[i]!, a, w, rows, ns[i]!, kDim));
  }

  /** out[rows × n] = a[rows × k] · wᵀ: matrix-vector for one row (decoding), matmul otherwise. */
  private linear(out: Float32Array, a: Float32Array, w: Weight, rows: number, n: number, kDim: number): void {
    if (isQuantMatrix(w)) {
      this.backend.qmatmul(out, a, w, rows);
    } else if (rows === 1) this.backend.matvec(out, w, a, n, kDim);
    else this.backend.matmul(out, a, w, rows, n, kDim);
  }
}

/**
 * order[r] = the position, in a q/k output row computed with interleaved weight rows, of HF
 * element r: within each head, r = j·hd/2 + i comes from 2i + j (formats/gguf-model.ts).
 */
function interleavedOrder(heads: number, hd: number): Int32Array {
  const order = new Int32Array(heads * hd);
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) order[h * hd + j * half + i] = h * hd + 2 * i + j;
    }
  }
  return order;
}

/** Each of the `rows` rows of x (width order.length) becomes row[r] = x[order[r]], in place. */
function reorderRows(x: Float32Array, rows: number, order: Int32Array, tmp: Float32Array): void {
  const w = order.length;
  for (let m = 0; m < rows; m++) {
    const base = m * w;
    for (let r = 0; r < w; r++) tmp[r] = x[base + order[r]!]!;
    x.set(tmp.subarray(0, w), base);
  }
}

/** Checks named tensors against the config's shapes (norms must be float32). */
function checkTensors(c: LlamaConfig, layout: ParamLayout, t: ModelTensors<Weight>): void {
  const check = (name: string, w: Weight | undefined, matrix: boolean): void => {
    const spec = layout.byName.get(name);
    if (!spec) throw new Error(`no parameter named ${name}`);
    if (w === undefined) throw new Error(`tensor ${name} is missing`);
    if (isQuantMatrix(w)) {
      if (!matrix || w.rows !== spec.shape[0] || w.cols !== spec.shape[1]) {
        throw new Error(`tensor ${name}: ${w.type} [${w.rows}, ${w.cols}] does not fit shape [${spec.shape.join(", ")}]`);
      }
    } else if (w.length !== spec.size) {
      throw new Error(`tensor ${name} has ${w.length} values, shape [${spec.shape.join(", ")}] needs ${spec.size}`);
    }
  };
  check("model.embed_tokens.weight", t.embedTokens, true);
  if (t.layers.length !== c.numHiddenLayers) throw new Error(`${t.layers.length} layers, the config has ${c.numHiddenLayers}`);
  t.layers.forEach((L, l) => {
    const p = `model.layers.${l}.`;
    check(p + "input_layernorm.weight", L.inputNorm, false);
    check(p + "self_attn.q_proj.weight", L.wq, true);
    check(p + "self_attn.k_proj.weight", L.wk, true);
    check(p + "self_attn.v_proj.weight", L.wv, true);
    check(p + "self_attn.o_proj.weight", L.wo, true);
    check(p + "post_attention_layernorm.weight", L.postAttentionNorm, false);
    check(p + "mlp.gate_proj.weight", L.wGate, true);
    check(p + "mlp.up_proj.weight", L.wUp, true);
    check(p + "mlp.down_proj.weight", L.wDown, true);
  });
  check("model.norm.weight", t.finalNorm, false);
  check(c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight", t.lmHead, true);
}
