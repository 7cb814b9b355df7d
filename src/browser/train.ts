/**
 * Training a tiny LLaMA on a text, with no Node built-ins (the page's training panel, and any
 * page that imports the bundle). The pipeline of `train --text`, shrunk to run in a tab:
 *
 *  1. a SentencePiece BPE tokenizer trained on the text (tokenizer/trainer.ts, SentencePiece's
 *     rules: the tokenizer.model goes into the GGUF, so the CLI and llama.cpp read it);
 *  2. the text cut into paragraphs (blank lines), each encoded with BOS, concatenated;
 *  3. windows of T+1 tokens in seeded shuffled epochs (train/loop.ts tokenArrayWindows: the
 *     order a token file of the same tokens gets from the Node sampler);
 *  4. the step of the Node trainer (train/loop.ts TrainLoop: AdamW, warm-up + cosine,
 *     clipping) on the current kernel backend, from initParams(config, seed);
 *  5. samples with the inference model, and the model as GGUF bytes (f32).
 *
 * Same text, options and seed ⇒ the same tokens and windows as the Node trainer given those
 * tokens; the losses then agree to float32 rounding of the kernels (test/browser/train-page.test.ts).
 */
import { ffnHiddenSize, type LlamaConfig } from "../model/config.js";
import { initParams } from "../model/init.js";
import { LlamaModel } from "../model/llama.js";
import { generateTokens } from "../generate/generate.js";
import { getBackend } from "../kernels/backend.js";
import { BpeTrainer } from "../tokenizer/trainer.js";
import { SentencePieceTokenizer } from "../tokenizer/tokenizer.js";
import { ggufModelBytes } from "../formats/gguf-model.js";
import { PAPER_DEFAULTS, TrainLoop, tokenArrayWindows, type StepLog, type TrainHyperparameters } from "../train/loop.js";
import { UserError } from "../util/errors.js";

export type { StepLog, TrainHyperparameters } from "../train/loop.js";

/** The shape of the tiny model and its run; every field has a default (TINY_DEFAULTS). */
export interface TinyTrainOptions {
  /** Tokenizer pieces (with <unk>, <s>, </s> and the 256 byte pieces). */
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  /** Optimiser steps planned (the cosine schedule's length). */
  steps: number;
  batch: number;
  seqLen: number;
  lr: number;
  warmup: number;
  seed: number;
}

/** About 0.2M parameters: learns visibly in a minute or two on the TypeScript kernels. */
export const TINY_DEFAULTS: TinyTrainOptions = {
  vocabSize: 512, hiddenSize: 64, layers: 2, heads: 4, steps: 200, batch: 4, seqLen: 64, lr: 3e-3, warmup: 15, seed: 0,
};

/** The tiny LLaMA for a vocabulary: SwiGLU width from ffnHiddenSize, untied head, context 2·T, at least 256 (llama.cpp allocates no smaller context). */
export function tinyConfig(o: Pick<TinyTrainOptions, "hiddenSize" | "layers" | "heads" | "seqLen">, vocabSize: number): LlamaConfig {
  return {
    vocabSize, hiddenSize: o.hiddenSize, intermediateSize: ffnHiddenSize(o.hiddenSize), numHiddenLayers: o.layers,
    numAttentionHeads: o.heads, numKeyValueHeads: o.heads, rmsNormEps: 1e-5, ropeTheta: 10000,
    maxPositionEmbeddings: Math.max(256, 2 * o.seqLen), tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
  };
}

/** A SentencePiece BPE tokenizer (LLaMA's options: byte fallback, split digits) trained on `text`, one sentence per line. */
export function trainTokenizerOnText(text: string, opts: { vocabSize: number; seed: number }): SentencePieceTokenizer {
  const trainer = new BpeTrainer({ vocabSize: opts.vocabSize, seed: opts.seed, hardVocabLimit: false });
  trainer.addText(text);
  return SentencePieceTokenizer.fromModel(trainer.train().model);
}

/** The text as training tokens: paragraphs (split at blank lines, whitespace-trimmed), each BOS + its pieces, concatenated. */
export function tokenizeParagraphs(tokenizer: SentencePieceTokenizer, text: string): Int32Array {
  const out: number[] = [];
  for (const para of text.split(/\r?\n\s*\r?\n/)) {
    const p = para.trim();
    if (p.length > 0) for (const id of tokenizer.encode(p, { bos: true })) out.push(id);
  }
  return Int32Array.from(out);
}

/** The hyperparameters of a tiny run: the options' batch, length and schedule with the paper's AdamW settings. */
export function tinyHyperparameters(o: TinyTrainOptions): TrainHyperparameters {
  return {
    ...PAPER_DEFAULTS, batch: o.batch, seqLen: o.seqLen, gradAccum: 1, lr: o.lr, warmup: o.warmup, totalSteps: o.steps, seed: o.seed,
  };
}

/** A tiny LLaMA being trained on one text: step it, sample it, export it. */
export class TextTrainer {
  readonly options: TinyTrainOptions;
  readonly tokenizer: SentencePieceTokenizer;
  readonly tokens: Int32Array;
  readonly config: LlamaConfig;
  readonly params: Float32Array;
  private readonly loop: TrainLoop;

  constructor(text: string, options: Partial<TinyTrainOptions> = {}) {
    const o = { ...TINY_DEFAULTS, ...options };
    this.options = o;
    this.tokenizer = trainTokenizerOnText(text, o);
    this.tokens = tokenizeParagraphs(this.tokenizer, text);
    if (this.tokens.length < o.seqLen + 1) throw new UserError(`the text gives ${this.tokens.length} tokens, fewer than one window of ${o.seqLen + 1}`);
    this.config = tinyConfig(o, this.tokenizer.vocabSize);
    this.params = initParams(this.config, o.seed);
    const data = tokenArrayWindows(this.tokens, { seqLen: o.seqLen, order: "shuffled", seed: o.seed, description: "text in the page" });
    this.loop = new TrainLoop(this.config, this.params, tinyHyperparameters(o), data, getBackend());
  }

  /** Steps done. */
  get step(): number {
    return this.loop.progress.step;
  }

  /** The loss of each step done. */
  get losses(): readonly number[] {
    return this.loop.progress.losses;
  }

  /** One optimiser step. */
  trainStep(): StepLog {
    return this.loop.step();
  }

  /** A continuation of `prompt` by the model as it is now (temperature sampling, seeded). */
  sample(prompt: string, opts: { maxTokens?: number; temperature?: number; seed?: number } = {}): string {
    const model = new LlamaModel(this.config, this.params);
    const ids = this.tokenizer.encode(prompt, { bos: true });
    const out = [...generateTokens(model, ids, { maxTokens: opts.maxTokens ?? 40, temperature: opts.temperature ?? 0.8, topP: 0.95, seed: opts.seed ?? 0 })];
    return this.tokenizer.decode([...ids, ...out]);
  }

  /** The model as a GGUF file (f32 weights, the SentencePiece vocabulary): what the page offers as a download. */
  gguf(name = "llama-ts tiny (trained in the browser)"): Uint8Array {
    return ggufModelBytes(this.config, this.params, { type: "f32", tokenizer: this.tokenizer.toBytes(), name });
  }
}
