/**
 * `train --text corpus.txt --out RUN`: a model from one text file in one command, as
 * llama2.c and Hugging Face `run_clm --train_file` users expect. In RUN/data it trains a
 * BPE tokenizer on the file (vocabulary chosen from the file's size, TEXT_VOCAB), cuts the
 * text into paragraph chunks of about 1500 characters with a 5 % held-out split, and then
 * trains the small model (pipeline.ts) with SMALL_RECIPE for about TEXT_EPOCHS passes over
 * the text (between TEXT_STEPS_RANGE steps), validating ten times. Every given flag
 * (--vocab-size, --config, --steps, --batch, --seq-len, --lr, ...) replaces the choice. It
 * prints what it chose. `--resume` continues such a run like any other.
 */
import fs from "node:fs";
import path from "node:path";
import { prepareDataset, type MixtureConfig } from "../data/index.js";
import { parameterCount } from "../model/params.js";
import { UserError } from "../util/errors.js";
import { claimRunFolder } from "./run-folder.js";
import { logTable1, SMALL_RECIPE, smallModelConfig, trainTokenizerOn } from "./pipeline.js";
import { checkTrainingMemory, checkTrainLimits, resolveConfig, trainInClaimedFolder, type TrainRunOptions, type TrainRunResult } from "./run.js";

export interface TextTrainOptions extends TrainRunOptions {
  text: string;
  /** Tokenizer vocabulary (default from the file's size, see chooseVocabSize). */
  vocabSize?: number;
}

/** Vocabulary by text size: [at most this many bytes, pieces]. */
export const TEXT_VOCAB: ReadonlyArray<readonly [number, number]> = [[100e3, 512], [1e6, 1024], [10e6, 2048], [100e6, 4096], [Infinity, 8192]];
export const TEXT_EPOCHS = 4;
export const TEXT_STEPS_RANGE = [50, 2000] as const;
/** Characters per training document (paragraphs joined), as for the bundled books. */
const CHUNK_CHARS = 1500;

export function chooseVocabSize(bytes: number): number {
  return TEXT_VOCAB.find(([max]) => bytes <= max)![1];
}

export async function trainFromText(o: TextTrainOptions): Promise<TrainRunResult> {
  checkTrainLimits(o);
  let st: fs.Stats;
  try {
    st = fs.statSync(o.text);
  } catch {
    throw new UserError(`--text ${o.text}: no such file`);
  }
  if (!st.isFile()) throw new UserError(`--text ${o.text}: not a regular file (give one text file)`);
  if (st.size === 0) throw new UserError(`--text ${o.text}: the file is empty`);
  if (o.data !== undefined) throw new UserError("give either --text FILE or --data DIR, not both");
  const log = (line: string): void => {
    if (!o.quiet) process.stderr.write(line + "\n");
  };
  if (o.config !== undefined && !o.resume) {
    // Refuse a model this machine cannot train before spending minutes on the tokenizer.
    const c = { ...resolveConfig(o.config), vocabSize: o.vocabSize ?? chooseVocabSize(st.size) };
    checkTrainingMemory(c, o.batch ?? SMALL_RECIPE.batch, o.seqLen ?? SMALL_RECIPE.seqLen);
  }
  const claim = claimRunFolder(o.out, { resume: o.resume === true, overwrite: o.overwrite === true, note: log });
  try {
    if (o.resume) return await trainInClaimedFolder(o, claim);
    const dataDir = path.join(claim.dir, "data");
    fs.mkdirSync(dataDir, { recursive: true });
    const seed = o.seed ?? 0;
    const vocabSize = o.vocabSize ?? chooseVocabSize(st.size);
    log(`train --text: ${o.text} (${(st.size / 1e6).toFixed(2)} MB): training a ${vocabSize}-piece BPE tokenizer on it`);
    const tokenizerPath = path.join(dataDir, "tokenizer.model");
    const tokenizer = trainTokenizerOn([o.text], { vocabSize, seed, out: tokenizerPath, exact: o.vocabSize !== undefined, progress: !o.quiet });
    const mixture: MixtureConfig = {
      sources: [{ name: "text", paths: [path.resolve(o.text)], format: "text", weight: 1, split: "paragraphs", chunkChars: CHUNK_CHARS }],
      valFraction: 0.05, seed,
    };
    const manifest = await prepareDataset(mixture, { outDir: dataDir, tokenizer, tokenizerPath });
    const trainTokens = manifest.sources[0]!.train.tokens;
    if (trainTokens < 2) throw new UserError(`--text ${o.text}: no training text left after cleaning (too short?)`);

    const batch = o.batch ?? SMALL_RECIPE.batch;
    const seqLen = o.seqLen ?? SMALL_RECIPE.seqLen;
    const gradAccum = o.gradAccum ?? 1;
    const tokensPerStep = batch * gradAccum * seqLen;
    const steps = o.steps ?? Math.max(TEXT_STEPS_RANGE[0], Math.min(TEXT_STEPS_RANGE[1], Math.round((TEXT_EPOCHS * trainTokens) / tokensPerStep)));
    const modelConfig = o.config !== undefined
      ? { ...resolveConfig(o.config), vocabSize: tokenizer.vocabSize, bosTokenId: tokenizer.bosId, eosTokenId: tokenizer.eosId }
      : smallModelConfig(tokenizer.vocabSize, Math.max(256, seqLen));
    const lr = o.lr ?? SMALL_RECIPE.lr;
    const evalEvery = o.evalEvery ?? Math.max(10, Math.round(steps / 10));
    log(`chose: vocabulary ${tokenizer.vocabSize}; model ${o.config ?? "small"} (${(parameterCount(modelConfig) / 1e6).toFixed(2)}M parameters: dim ${modelConfig.hiddenSize}, ` +
      `${modelConfig.numHiddenLayers} layers, ${modelConfig.numAttentionHeads} heads); ${steps} steps of ${batch}×${gradAccum > 1 ? `${gradAccum}×` : ""}${seqLen} tokens ` +
      `(${steps * tokensPerStep} tokens, ${((steps * tokensPerStep) / trainTokens).toFixed(1)} epochs of the text's ${trainTokens} training tokens; ` +
      `${manifest.sources[0]!.val.tokens} held out); lr ${lr}, validation every ${evalEvery} steps`);
    logTable1(manifest, steps * tokensPerStep, log);
    return await trainInClaimedFolder({
      ...o, data: dataDir, modelConfig, steps, batch, seqLen, gradAccum, lr, evalEvery, evalBatches: o.evalBatches ?? 4,
      warmup: o.warmup ?? Math.max(5, Math.round(steps * 0.05)), seed,
    }, claim);
  } finally {
    claim.release();
  }
}
