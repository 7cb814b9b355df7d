/**
 * The training step, with no Node built-ins: the one implementation that the Node trainer
 * (trainer.ts, which adds files, checkpoints and resumption around it) and the browser build
 * (src/browser/train.ts) both run. Step s (0-based) with B rows, A micro-batches, T tokens:
 *
 *   g      = Σ_a ∇ Σ_{targets of micro-batch a} −log p / (B·A·T)       (TrainGraph forward + backward)
 *   loss   = the same sum of the per-target losses
 *   scale  = min(1, clip / ‖g‖₂)                                          (global-norm clipping)
 *   lr_s   = warm-up then cosine to minLrRatio·lr                         (kernels/optim.ts learningRate)
 *   θ      ← AdamW(θ, scale·g; lr_s, β1, β2, eps, weight decay on matrices only, t = s + 1)
 *
 * Micro-batch a of step s takes rows (s·A + a)·B … +B−1 of the window source, so a source that
 * is a pure function of the row index (train/windows.ts, data/sampler.ts) makes a run
 * reproducible from (seed, data) alone.
 */
import type { LlamaConfig } from "../model/config.js";
import { paramLayout, type ParamLayout } from "../model/params.js";
import { TrainGraph } from "../model/train-graph.js";
import type { KernelOps } from "../kernels/types.js";
import { adamwStep, clipScale, learningRate, type DecayMask } from "../kernels/optim.js";
import { UserError } from "../util/errors.js";
import { TokenWindowOrder, type WindowOrder } from "../data/order.js";

export interface TrainHyperparameters {
  batch: number;
  seqLen: number;
  gradAccum: number;
  lr: number;
  warmup: number;
  minLrRatio: number;
  totalSteps: number;
  weightDecay: number;
  clip: number;
  beta1: number;
  beta2: number;
  eps: number;
  seed: number;
}

export const PAPER_DEFAULTS: Pick<TrainHyperparameters, "minLrRatio" | "weightDecay" | "clip" | "beta1" | "beta2" | "eps"> = {
  minLrRatio: 0.1,
  weightDecay: 0.1,
  clip: 1.0,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
};

/**
 * Where training windows come from. Window `row` (a global row counter: step s, micro-batch
 * a, row b is row s·B·A + a·B + b) is T+1 consecutive tokens; sources are deterministic
 * functions of the row index, so resuming only needs the step number.
 */
export interface WindowSource {
  readonly description: string;
  /** Writes `rows` windows of T+1 tokens, starting at global row `firstRow`, into `out`. */
  fill(out: Int32Array, firstRow: number, rows: number, T: number): void;
  /** The data position after the windows drawn so far (saved in trainer_state.json). */
  cursor?: () => unknown;
  /** Held-out windows for validation loss: `rows` windows starting at held-out row `index`; false when none. */
  validation?: (out: Int32Array, index: number, rows: number, T: number) => boolean;
}

/**
 * Windows from tokens in memory, in the order a raw token file of the same tokens gives
 * (data/order.ts: sequential, or seeded shuffled epochs), read circularly; the cursor is the
 * number of windows drawn, as data/sampler.ts TokenFileSampler records it.
 */
export function tokenArrayWindows(tokens: ArrayLike<number>, opts: { seqLen: number; order: WindowOrder; seed: number; description?: string }): WindowSource {
  const L = tokens.length;
  if (L < 2) throw new UserError(`training needs at least 2 tokens, got ${L}`);
  const order = new TokenWindowOrder(L, opts.seqLen, opts.order, opts.seed);
  let drawn = 0;
  return {
    description: opts.description ?? `${L} tokens in memory`,
    fill(out, firstRow, rows, T) {
      if (T !== opts.seqLen) throw new Error(`tokenArrayWindows: made for T = ${opts.seqLen}, asked for ${T}`);
      for (let r = 0; r < rows; r++) {
        let pos = order.start(firstRow + r) % L;
        for (let o = r * (T + 1), end = o + T + 1; o < end; o++) {
          out[o] = tokens[pos]!;
          if (++pos === L) pos = 0;
        }
      }
      drawn = firstRow + rows;
    },
    cursor: () => ({ kind: "tokenfile", order: opts.order, seed: opts.seed, seqLen: opts.seqLen, tokens: L, windows: drawn }),
  };
}

export interface StepLog {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens_per_s: number;
}

/** The progress of a run: what trainer_state.json holds (the Node trainer adds `run`). */
export interface TrainProgress {
  /** Steps completed. */
  step: number;
  /** The data source's cursor after `step` steps (see WindowSource.cursor). */
  dataCursor?: unknown;
  losses: number[];
  valLosses: Array<{ step: number; loss: number }>;
}

export class NonFiniteLossError extends UserError {}

function decayRanges(layout: ParamLayout): DecayMask {
  return layout.specs.filter((s) => s.decay).map((s) => [s.offset, s.offset + s.size] as const);
}

/** Parameters, gradients and AdamW moments of one model, and the step that updates them. */
export class TrainLoop {
  readonly layout: ParamLayout;
  readonly grads: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  private readonly graph: TrainGraph<Float32Array>;
  private readonly decay: DecayMask;
  private readonly windows: Int32Array;

  constructor(
    readonly config: LlamaConfig,
    readonly params: Float32Array,
    readonly hp: TrainHyperparameters,
    readonly data: WindowSource,
    /** The kernels (the backend in use: getBackend()). */
    private readonly ops: KernelOps<Float32Array>,
    readonly progress: TrainProgress = { step: 0, losses: [], valLosses: [] },
    moments?: { m: Float32Array; v: Float32Array },
  ) {
    this.layout = paramLayout(config);
    if (params.length !== this.layout.total) throw new Error(`params has ${params.length} floats, the config needs ${this.layout.total}`);
    if (hp.seqLen > config.maxPositionEmbeddings) {
      throw new UserError(`--seq-len ${hp.seqLen} exceeds the model's max_position_embeddings ${config.maxPositionEmbeddings}`);
    }
    this.grads = new Float32Array(this.layout.total);
    this.m = moments?.m ?? new Float32Array(this.layout.total);
    this.v = moments?.v ?? new Float32Array(this.layout.total);
    this.graph = new TrainGraph<Float32Array>(config, hp.batch, hp.seqLen, ops, (n) => new Float32Array(n));
    this.decay = decayRanges(this.layout);
    this.windows = new Int32Array(hp.batch * (hp.seqLen + 1));
  }

  /** One optimiser step (B·A windows); returns its log line. Throws on a non-finite loss. */
  step(): StepLog {
    const { hp, progress } = this;
    const s = progress.step;
    const t0 = performance.now();
    this.grads.fill(0);
    const totalTargets = hp.batch * hp.gradAccum * hp.seqLen;
    let loss = 0;
    for (let a = 0; a < hp.gradAccum; a++) {
      this.data.fill(this.windows, (s * hp.gradAccum + a) * hp.batch, hp.batch, hp.seqLen);
      loss += this.graph.step(this.params, this.grads, this.windows, totalTargets);
    }
    const norm = Math.sqrt(this.ops.sumSquares(this.grads, this.grads.length));
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      throw new NonFiniteLossError(`step ${s}: the loss is ${loss} (gradient norm ${norm}); stopping. Try a lower --lr or more --warmup.`);
    }
    const lr = learningRate(s, { lr: hp.lr, warmup: hp.warmup, totalSteps: hp.totalSteps, minLrRatio: hp.minLrRatio });
    adamwStep(this.params, this.grads, this.m, this.v, this.decay, this.params.length, {
      lr, beta1: hp.beta1, beta2: hp.beta2, eps: hp.eps, weightDecay: hp.weightDecay, step: s + 1,
      gradScale: clipScale(norm, hp.clip),
    }, (...args) => this.ops.adamwSegment(...args));
    progress.step = s + 1;
    progress.losses.push(loss);
    if (this.data.cursor) progress.dataCursor = this.data.cursor();
    const seconds = (performance.now() - t0) / 1000;
    return { step: s, loss, lr, grad_norm: norm, tokens_per_s: totalTargets / seconds };
  }

  /** Mean loss over `batches` held-out batches (needs a validation source); recorded in the progress. */
  validationLoss(batches: number): number | undefined {
    const val = this.data.validation;
    if (!val) return undefined;
    let total = 0;
    let n = 0;
    for (let i = 0; i < batches; i++) {
      if (!val(this.windows, i * this.hp.batch, this.hp.batch, this.hp.seqLen)) break;
      total += this.graph.evalLoss(this.params, this.windows);
      n++;
    }
    if (n === 0) return undefined;
    const loss = total / n;
    this.progress.valLosses.push({ step: this.progress.step, loss });
    return loss;
  }
}
