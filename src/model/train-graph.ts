/**
 * Training forward and hand-written backward for the whole LLaMA decoder, following the
 * paper's §2.4: no autograd tape; the forward keeps only the costly activations (the outputs
 * of the linear layers, the per-row RMS statistics, the attention output and its
 * log-sum-exp) and the backward recomputes the cheap ones (the normalised inputs, RoPE'd
 * queries and keys, SiLU(gate)·up). Attention runs in tiles with an online softmax and never
 * stores a T×T matrix; the loss is a fused softmax + cross-entropy computed in chunks of rows,
 * so full logits never exist either.
 *
 * Generic over Float32Array (training) and Float64Array (finite-difference checks): every op
 * runs on the `KernelOps` it is given (a backend, or `referenceOps` in float64). A linear layer
 * out = x · Wᵀ is `matmul`; its backward is dX (+)= dOut · W (`matmulNN`) and dW += dOutᵀ · X
 * (`matmulTN`). RoPE's backward is `rope` with the sin table negated (ops/rope.ts).
 */
import type { FloatArray, KernelOps } from "../kernels/types.js";
import { embeddingBackward, embeddingForward } from "../kernels/ops/embedding.js";
import type { LlamaConfig } from "./config.js";
import { headDim } from "./config.js";
import { paramLayout, tensorViews, type ModelTensors, type ParamLayout } from "./params.js";
import { ropeTables } from "./rope.js";

/** Saved activations of one layer (everything else is recomputed in the backward). */
interface LayerActivations<F> {
  /** Residual stream entering the layer [N × d]. */
  xIn: F;
  invRmsAttn: F;
  /** Linear outputs before RoPE: q [N × qDim], k, v [N × kvDim]. */
  q: F;
  k: F;
  v: F;
  /** Attention output (input of o_proj) [N × qDim] and its log-sum-exp [N × heads]. */
  attn: F;
  lse: F;
  /** Residual stream after the attention sub-layer [N × d]. */
  xMid: F;
  invRmsFfn: F;
  /** Linear outputs gate, up [N × ffn]. */
  gate: F;
  up: F;
}

export class TrainGraph<F extends FloatArray> {
  readonly layout: ParamLayout;
  /** Rows per micro-batch (B) and sequence length (T). */
  readonly N: number;
  private readonly acts: LayerActivations<F>[];
  private readonly xFinal: F;
  private readonly invRmsFinal: F;
  private readonly cos: F;
  private readonly sin: F;
  /** −sin: RoPE's backward is the forward with this table. */
  private readonly negSin: F;
  // Work buffers, reused.
  private readonly xn: F;
  private readonly qr: F;
  private readonly kr: F;
  private readonly dx: F;
  private readonly dxn: F;
  private readonly dq: F;
  private readonly dk: F;
  private readonly dv: F;
  private readonly dAttn: F;
  private readonly h: F;
  private readonly dGate: F;
  private readonly dUp: F;
  private readonly logitsChunk: F;
  private readonly tmpD: F;
  readonly lossChunkRows: number;
  /** Model sizes the forward and backward both use. */
  private readonly dims: { d: number; hd: number; nH: number; nKv: number; qDim: number; kvDim: number; F: number };

  constructor(
    readonly config: LlamaConfig,
    readonly batch: number,
    readonly seqLen: number,
    private readonly kern: KernelOps<F>,
    private readonly alloc: (n: number) => F,
    opts: { lossChunkRows?: number } = {},
  ) {
    const c = config;
    if (seqLen > c.maxPositionEmbeddings) throw new RangeError(`sequence length ${seqLen} exceeds max_position_embeddings ${c.maxPositionEmbeddings}`);
    this.layout = paramLayout(c);
    const N = (this.N = batch * seqLen);
    const d = c.hiddenSize;
    const hd = headDim(c);
    const qDim = c.numAttentionHeads * hd;
    const kvDim = c.numKeyValueHeads * hd;
    const F = c.intermediateSize;
    this.dims = { d, hd, nH: c.numAttentionHeads, nKv: c.numKeyValueHeads, qDim, kvDim, F };
    this.acts = Array.from({ length: c.numHiddenLayers }, () => ({
      xIn: alloc(N * d), invRmsAttn: alloc(N), q: alloc(N * qDim), k: alloc(N * kvDim), v: alloc(N * kvDim),
      attn: alloc(N * qDim), lse: alloc(N * c.numAttentionHeads), xMid: alloc(N * d), invRmsFfn: alloc(N),
      gate: alloc(N * F), up: alloc(N * F),
    }));
    this.xFinal = alloc(N * d);
    this.invRmsFinal = alloc(N);
    const t = ropeTables(hd, seqLen, c.ropeTheta, c.ropeScaling);
    this.cos = alloc(t.cos.length);
    this.sin = alloc(t.sin.length);
    this.cos.set(t.cos);
    this.sin.set(t.sin);
    this.negSin = alloc(t.sin.length);
    for (let i = 0; i < t.sin.length; i++) this.negSin[i] = -t.sin[i]!;
    this.xn = alloc(N * d);
    this.qr = alloc(N * qDim);
    this.kr = alloc(N * kvDim);
    this.dx = alloc(N * d);
    this.dxn = alloc(N * d);
    this.dq = alloc(N * qDim);
    this.dk = alloc(N * kvDim);
    this.dv = alloc(N * kvDim);
    this.dAttn = alloc(N * qDim);
    this.h = alloc(N * F);
    this.dGate = alloc(N * F);
    this.dUp = alloc(N * F);
    this.lossChunkRows = Math.max(1, Math.min(N, opts.lossChunkRows ?? 256));
    this.logitsChunk = alloc(this.lossChunkRows * c.vocabSize);
    this.tmpD = alloc(N * d);
  }

  /**
   * Forward and backward of one micro-batch. `windows` holds `batch` rows of T+1 tokens
   * (inputs are tokens 0..T-1 of a row, targets 1..T). Gradients are ADDED to `grads`
   * (laid out like `params`); the loss is scaled by 1/totalTargets so that summing the
   * returned values over micro-batches gives the step's mean loss (and its gradient).
   */
  step(params: F, grads: F, windows: ArrayLike<number>, totalTargets: number): number {
    const c = this.config;
    const W = tensorViews(c, this.layout, params);
    const G = tensorViews(c, this.layout, grads);
    const { inputs, targets } = this.splitWindows(windows);
    this.forward(W, inputs);
    const loss = this.lossAndHeadBackward(W, G, targets, totalTargets);
    this.backward(W, G, inputs);
    return loss;
  }

  /** Splits `batch` windows of T+1 tokens into inputs (tokens 0..T-1) and targets (1..T), checking ids. */
  private splitWindows(windows: ArrayLike<number>): { inputs: Int32Array; targets: Int32Array } {
    const { batch: B, seqLen: T, N } = this;
    const V = this.config.vocabSize;
    if (windows.length !== B * (T + 1)) throw new RangeError(`expected ${B}×${T + 1} tokens, got ${windows.length}`);
    const inputs = new Int32Array(N);
    const targets = new Int32Array(N);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        inputs[b * T + t] = windows[b * (T + 1) + t]!;
        targets[b * T + t] = windows[b * (T + 1) + t + 1]!;
      }
    }
    for (let i = 0; i < N; i++) {
      const a = inputs[i]!, y = targets[i]!;
      if (a < 0 || a >= V || y < 0 || y >= V) throw new RangeError(`token id ${a < 0 || a >= V ? a : y} outside the vocabulary [0, ${V})`);
    }
    return { inputs, targets };
  }

  /** Loss only (no gradients), e.g. for validation. Returns the mean over the batch's targets. */
  evalLoss(params: F, windows: ArrayLike<number>): number {
    const c = this.config;
    const N = this.N;
    const W = tensorViews(c, this.layout, params);
    const { inputs, targets } = this.splitWindows(windows);
    this.forward(W, inputs);
    const d = c.hiddenSize;
    const V = c.vocabSize;
    const xn = this.xn;
    this.kern.rmsnormApply(xn, this.xFinal, W.finalNorm, this.invRmsFinal, N, d);
    let loss = 0;
    for (let r0 = 0; r0 < N; r0 += this.lossChunkRows) {
      const rows = Math.min(this.lossChunkRows, N - r0);
      const logits = this.logitsChunk.subarray(0, rows * V) as F;
      this.kern.matmul(logits, xn.subarray(r0 * d, (r0 + rows) * d) as F, W.lmHead, rows, V, d);
      loss += this.kern.crossEntropy(logits, targets.subarray(r0, r0 + rows), rows, V, N);
    }
    return loss;
  }

  private forward(W: ModelTensors<F>, inputs: Int32Array): void {
    const c = this.config;
    const { batch: B, seqLen: T, N } = this;
    const { d, hd, nH, nKv, qDim, kvDim, F } = this.dims;
    const K = this.kern;
    const { xn, qr, kr, h } = this;
    const x = this.tmpD; // the running residual stream

    embeddingForward(x, W.embedTokens, inputs, N, d);
    for (let l = 0; l < c.numHiddenLayers; l++) {
      const L = W.layers[l]!;
      const A = this.acts[l]!;
      A.xIn.set(x);
      // Attention sub-layer.
      K.rmsnormStats(xn, A.invRmsAttn, x, L.inputNorm, N, d, c.rmsNormEps);
      K.matmul(A.q, xn, L.wq, N, qDim, d);
      K.matmul(A.k, xn, L.wk, N, kvDim, d);
      K.matmul(A.v, xn, L.wv, N, kvDim, d);
      this.applyRope(qr, A.q, nH);
      this.applyRope(kr, A.k, nKv);
      K.attentionTrainForward(A.attn, A.lse, qr, kr, A.v, B, T, nH, nKv, hd);
      K.matmul(this.dxn, A.attn, L.wo, N, d, qDim); // dxn used as scratch for the projection
      K.addInPlace(x, this.dxn, N * d);
      A.xMid.set(x);
      // Feed-forward sub-layer.
      K.rmsnormStats(xn, A.invRmsFfn, x, L.postAttentionNorm, N, d, c.rmsNormEps);
      K.matmul(A.gate, xn, L.wGate, N, F, d);
      K.matmul(A.up, xn, L.wUp, N, F, d);
      K.swiglu(h, A.gate, A.up, N * F);
      K.matmul(this.dxn, h, L.wDown, N, d, F);
      K.addInPlace(x, this.dxn, N * d);
    }
    this.xFinal.set(x);
    K.rmsnormStats(xn, this.invRmsFinal, x, W.finalNorm, N, d, c.rmsNormEps);
  }

  /** q or k with RoPE applied, written into `dst` (the saved linear output stays as is). */
  private applyRope(dst: F, src: F, heads: number): void {
    const { batch: B, seqLen: T } = this;
    const hd = headDim(this.config);
    dst.set(src);
    for (let b = 0; b < B; b++) {
      this.kern.rope(dst.subarray(b * T * heads * hd, (b + 1) * T * heads * hd) as F, T, heads, hd, 0, this.cos, this.sin);
    }
  }

  /** Chunked fused head + cross-entropy: loss, dHead, and dxn (gradient of the final norm's output). */
  private lossAndHeadBackward(W: ModelTensors<F>, G: ModelTensors<F>, targets: Int32Array, totalTargets: number): number {
    const c = this.config;
    const N = this.N;
    const d = c.hiddenSize;
    const V = c.vocabSize;
    const xn = this.xn; // final-norm output from the forward
    let loss = 0;
    for (let r0 = 0; r0 < N; r0 += this.lossChunkRows) {
      const rows = Math.min(this.lossChunkRows, N - r0);
      const logits = this.logitsChunk.subarray(0, rows * V) as F;
      const xnChunk = xn.subarray(r0 * d, (r0 + rows) * d) as F;
      this.kern.matmul(logits, xnChunk, W.lmHead, rows, V, d);
      loss += this.kern.crossEntropy(logits, targets.subarray(r0, r0 + rows), rows, V, totalTargets);
      // logits now hold dLogits.
      this.dWeight(G.lmHead, logits, xnChunk, rows, V, d);
      this.dInput(this.dxn.subarray(r0 * d, (r0 + rows) * d) as F, logits, W.lmHead, rows, V, d, false);
    }
    return loss;
  }

  /** A linear layer out[m×n] = a[m×k] · wᵀ's input gradient: dA[m×k] (+)= dOut[m×n] · w[n×k]. */
  private dInput(dA: F, dOut: F, w: F, m: number, n: number, k: number, accumulate: boolean): void {
    this.kern.matmulNN(dA, dOut, w, m, k, n, accumulate);
  }

  /** Its weight gradient: dW[n×k] += dOut[m×n]ᵀ · a[m×k]. */
  private dWeight(dW: F, dOut: F, a: F, m: number, n: number, k: number): void {
    this.kern.matmulTN(dW, dOut, a, n, k, m, true);
  }

  private backward(W: ModelTensors<F>, G: ModelTensors<F>, inputs: Int32Array): void {
    const c = this.config;
    const { batch: B, seqLen: T, N } = this;
    const { d, hd, nH, nKv, qDim, kvDim, F } = this.dims;
    const K = this.kern;
    const { xn, qr, kr, dx, dxn, dq, dk, dv, dAttn, h, dGate, dUp } = this;

    // Final norm: dx = d(loss)/d(residual stream at the top).
    K.rmsnormBackward(dx, G.finalNorm, dxn, this.xFinal, W.finalNorm, this.invRmsFinal, N, d, false);

    for (let l = c.numHiddenLayers - 1; l >= 0; l--) {
      const L = W.layers[l]!;
      const GL = G.layers[l]!;
      const A = this.acts[l]!;

      // Feed-forward: out = xMid + W2·(silu(W1·n) ⊙ W3·n), n = norm(xMid). Recompute n and h.
      K.rmsnormApply(xn, A.xMid, L.postAttentionNorm, A.invRmsFfn, N, d);
      K.swiglu(h, A.gate, A.up, N * F);
      this.dWeight(GL.wDown, dx, h, N, d, F);
      this.dInput(h, dx, L.wDown, N, d, F, false); // h now holds dH
      K.swigluBackward(dGate, dUp, h, A.gate, A.up, N * F);
      this.dWeight(GL.wGate, dGate, xn, N, F, d);
      this.dWeight(GL.wUp, dUp, xn, N, F, d);
      this.dInput(dxn, dGate, L.wGate, N, F, d, false);
      this.dInput(dxn, dUp, L.wUp, N, F, d, true);
      // dx (gradient at xMid) = dx (residual path) + norm backward.
      K.rmsnormBackward(dx, GL.postAttentionNorm, dxn, A.xMid, L.postAttentionNorm, A.invRmsFfn, N, d, true);

      // Attention: xMid = xIn + Wo·attn(rope(Wq·n), rope(Wk·n), Wv·n), n = norm(xIn).
      this.dWeight(GL.wo, dx, A.attn, N, d, qDim);
      this.dInput(dAttn, dx, L.wo, N, d, qDim, false);
      this.applyRope(qr, A.q, nH);
      this.applyRope(kr, A.k, nKv);
      K.attentionTrainBackward(dq, dk, dv, dAttn, qr, kr, A.v, A.attn, A.lse, B, T, nH, nKv, hd, false);
      for (let b = 0; b < B; b++) {
        K.rope(dq.subarray(b * T * qDim, (b + 1) * T * qDim) as F, T, nH, hd, 0, this.cos, this.negSin);
        K.rope(dk.subarray(b * T * kvDim, (b + 1) * T * kvDim) as F, T, nKv, hd, 0, this.cos, this.negSin);
      }
      K.rmsnormApply(xn, A.xIn, L.inputNorm, A.invRmsAttn, N, d);
      this.dWeight(GL.wq, dq, xn, N, qDim, d);
      this.dWeight(GL.wk, dk, xn, N, kvDim, d);
      this.dWeight(GL.wv, dv, xn, N, kvDim, d);
      this.dInput(dxn, dq, L.wq, N, qDim, d, false);
      this.dInput(dxn, dk, L.wk, N, kvDim, d, true);
      this.dInput(dxn, dv, L.wv, N, kvDim, d, true);
      K.rmsnormBackward(dx, GL.inputNorm, dxn, A.xIn, L.inputNorm, A.invRmsAttn, N, d, true);
    }
    embeddingBackward(G.embedTokens, dx, inputs, N, d);
  }
}

/**
 * Floats a TrainGraph allocates for micro-batches of `batch` × `seqLen` (the saved
 * activations per layer, the final norm, the RoPE tables (cos, sin, −sin), the work buffers and the loss
 * chunk, as in the constructor above): what training needs besides the parameters, their
 * gradients and the optimiser moments.
 */
export function trainGraphFloats(c: LlamaConfig, batch: number, seqLen: number, lossChunkRows = 256): number {
  const N = batch * seqLen;
  const d = c.hiddenSize;
  const hd = headDim(c);
  const qDim = c.numAttentionHeads * hd;
  const kvDim = c.numKeyValueHeads * hd;
  const F = c.intermediateSize;
  // xIn, xMid; q, attn; k, v; the two RMS rows; lse; gate, up
  const perLayer = N * (2 * d + 2 * qDim + 2 * kvDim + 2 + c.numAttentionHeads + 2 * F);
  const work = N * (4 * d + 3 * qDim + 3 * kvDim + 3 * F);
  return c.numHiddenLayers * perLayer + N * (d + 1) + (3 * seqLen * hd) / 2 + work + Math.max(1, Math.min(N, lossChunkRows)) * c.vocabSize;
}
