/**
 * The pieces of a whole small-model pipeline that `npm start` (demo.ts) and
 * `train --text FILE` (text.ts) share: a SentencePiece BPE tokenizer trained on the text,
 * the small model and recipe that learns visibly in minutes on 2 cores, and the
 * Table-1-style report of a prepared dataset for a planned run.
 */
import type { LlamaConfig } from "../model/config.js";
import { ffnHiddenSize } from "../model/config.js";
import { summarizeManifest, type Manifest } from "../data/index.js";
import { SentencePieceTokenizer, TrainError, trainBpeFromFiles } from "../tokenizer/index.js";
import { writeFileAtomic } from "../formats/hf-folder.js";
import { UserError } from "../util/errors.js";

/** The small model: dim 192, 4 layers, 6 heads (GQA with 2 kv heads), ~2.4M parameters at a 2048 vocabulary. */
export function smallModelConfig(vocabSize: number, maxPositionEmbeddings = 256): LlamaConfig {
  const dim = 192;
  return {
    vocabSize, hiddenSize: dim, intermediateSize: ffnHiddenSize(dim), numHiddenLayers: 4, numAttentionHeads: 6,
    numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings, tieWordEmbeddings: false,
    bosTokenId: 1, eosTokenId: 2,
  };
}

/** Batch, sequence length and peak learning rate that train the small model well (measured on the bundled text). */
export const SMALL_RECIPE = { batch: 16, seqLen: 128, lr: 2e-3 } as const;

/**
 * Trains a BPE tokenizer with LLaMA's options on `files` and writes it to `out`. With
 * `exact: false` a corpus too small for `vocabSize` gives a smaller vocabulary instead of an
 * error. Tokenizer-training failures (a vocabulary too small for the text's characters, no
 * text) are one-line user errors.
 */
export function trainTokenizerOn(files: readonly string[], opts: { vocabSize: number; seed: number; out: string; exact?: boolean; progress?: boolean }): SentencePieceTokenizer {
  let tokenizer: SentencePieceTokenizer;
  try {
    const { model } = trainBpeFromFiles(files, {
      vocabSize: opts.vocabSize, seed: opts.seed, progress: opts.progress ?? true, hardVocabLimit: opts.exact ?? true,
    });
    tokenizer = SentencePieceTokenizer.fromModel(model);
  } catch (e) {
    if (e instanceof TrainError) throw new UserError(`tokenizer training (--vocab-size ${opts.vocabSize}): ${e.message}`);
    throw e;
  }
  writeFileAtomic(opts.out, tokenizer.toBytes());
  return tokenizer;
}

/** Logs Table 1 of the paper for a prepared dataset and a run of `trainTokens`: share and epochs per source. */
export function logTable1(manifest: Manifest, trainTokens: number, log: (line: string) => void): void {
  log("  source   sampling %   train tokens   val tokens   epochs in this run");
  for (const s of summarizeManifest(manifest, trainTokens)) {
    log(`  ${s.name.padEnd(8)} ${(s.share * 100).toFixed(1).padStart(8)} %  ${String(s.trainTokens).padStart(12)}  ${String(s.valTokens).padStart(11)}   ${(s.epochs ?? 0).toFixed(2)}`);
  }
}
