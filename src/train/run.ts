/**
 * A training run from start to finish: resolve the model (preset, config.json, --init or
 * --resume), open the data, step with progress and logs, validate and save periodically, and
 * write the loss curve. `llama-ts train` and `npm start` both call this.
 */
import fs from "node:fs";
import path from "node:path";
import { configFromHf, presetConfig, type LlamaConfig } from "../model/config.js";
import { initParams } from "../model/init.js";
import { parameterCount } from "../model/params.js";
import { loadModelFolder } from "../formats/hf-folder.js";
import type { TokenDType } from "../data/types.js";
import type { WindowOrder } from "../data/index.js";
import { UserError } from "../util/errors.js";
import { createProgress } from "../util/progress.js";
import { NonFiniteLossError, PAPER_DEFAULTS, Trainer, type StepLog, type TrainHyperparameters } from "./trainer.js";
import { openWindowSource } from "./data-source.js";
import { lossCurveSvg } from "./plot.js";

export interface TrainRunOptions {
  data: string;
  out: string;
  /** A preset name or a config.json path (ignored with init/resume). Default "small". */
  config?: string;
  init?: string;
  resume?: boolean;
  /** Train until this many steps are done in total. */
  steps: number;
  batch: number;
  seqLen: number;
  gradAccum: number;
  lr: number;
  /** Default: min(2000, 10 % of the total steps). */
  warmup?: number;
  minLrRatio?: number;
  /** Schedule length N; default `steps`. */
  totalSteps?: number;
  weightDecay?: number;
  clip?: number;
  order?: WindowOrder;
  seed: number;
  dataDtype?: TokenDType;
  saveEvery: number;
  /** Validation every K steps (0: only at the end); needs a prepared dataset. */
  evalEvery: number;
  evalBatches?: number;
  logJson?: boolean;
  /** Tokenizer copied into the run folder (default: the prepared dataset's). */
  tokenizer?: string;
  quiet?: boolean;
}

export interface TrainRunResult {
  runDir: string;
  config: LlamaConfig;
  steps: number;
  losses: number[];
  valLoss: number | undefined;
  tokensPerSecond: number;
  curvePath: string;
}

function resolveConfig(spec: string): LlamaConfig {
  if (spec.endsWith(".json") || fs.existsSync(spec)) {
    if (!fs.existsSync(spec)) throw new UserError(`--config ${spec}: no such file`);
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(spec, "utf8"));
    } catch (e) {
      throw new UserError(`${spec}: not valid JSON (${(e as Error).message})`);
    }
    return configFromHf(raw, spec);
  }
  return presetConfig(spec);
}

export async function trainRun(opts: TrainRunOptions): Promise<TrainRunResult> {
  const log = (line: string): void => {
    if (!opts.quiet) process.stderr.write(line + "\n");
  };
  if (opts.resume && opts.init) throw new UserError("--resume and --init exclude each other (a resumed run already has its weights)");
  const prior = opts.resume ? Trainer.readState(opts.out) : undefined;
  const seqLen = prior?.hyperparameters.seqLen ?? opts.seqLen;
  const data = openWindowSource(opts.data, {
    seqLen,
    ...(opts.order ? { order: opts.order } : {}),
    seed: opts.seed,
    ...(opts.dataDtype ? { dtype: opts.dataDtype } : {}),
    ...(prior?.dataCursor !== undefined ? { cursor: prior.dataCursor } : {}),
  });
  try {
    const totalSteps = opts.totalSteps ?? opts.steps;
    const hp: TrainHyperparameters = {
      ...PAPER_DEFAULTS,
      batch: opts.batch, seqLen: opts.seqLen, gradAccum: opts.gradAccum, lr: opts.lr,
      warmup: opts.warmup ?? Math.min(2000, Math.round(totalSteps * 0.1)),
      minLrRatio: opts.minLrRatio ?? PAPER_DEFAULTS.minLrRatio, totalSteps,
      weightDecay: opts.weightDecay ?? PAPER_DEFAULTS.weightDecay, clip: opts.clip ?? PAPER_DEFAULTS.clip, seed: opts.seed,
    };
    let trainer: Trainer;
    if (opts.resume) {
      // The run's own hyperparameters govern (same losses as an uninterrupted run); only the
      // step target may grow.
      trainer = Trainer.load(opts.out, data.source, { totalSteps: prior!.hyperparameters.totalSteps });
      log(`resuming ${opts.out} at step ${trainer.state.step}`);
    } else {
      let config: LlamaConfig;
      let params: Float32Array;
      if (opts.init) {
        const folder = loadModelFolder(opts.init);
        config = folder.config;
        params = folder.params;
      } else {
        config = resolveConfig(opts.config ?? "small");
        if (data.manifest && !(opts.config ?? "").endsWith(".json")) {
          // A preset takes the prepared data's vocabulary.
          config = { ...config, vocabSize: data.manifest.tokenizer.vocabSize, bosTokenId: data.manifest.tokenizer.bosId, eosTokenId: data.manifest.tokenizer.eosId };
        }
        if (config.maxPositionEmbeddings < seqLen) config = { ...config, maxPositionEmbeddings: seqLen };
        params = initParams(config, opts.seed);
      }
      if (data.manifest && data.manifest.tokenizer.vocabSize > config.vocabSize) {
        throw new UserError(`the prepared data uses ${data.manifest.tokenizer.vocabSize} token ids but the model's vocab_size is ${config.vocabSize}`);
      }
      trainer = new Trainer(config, params, hp, data.source);
    }
    const config = trainer.config;
    const tokenizer = opts.tokenizer ?? data.manifest?.tokenizer.path ?? undefined;
    const h = trainer.hp;
    const tokensPerStep = h.batch * h.gradAccum * h.seqLen;
    log(`model: ${config.numHiddenLayers} layers, dim ${config.hiddenSize}, ${config.numAttentionHeads} heads (${config.numKeyValueHeads} kv), vocab ${config.vocabSize}, ${(parameterCount(config) / 1e6).toFixed(2)}M parameters`);
    log(`data: ${data.source.description}; ${tokensPerStep} tokens per step (batch ${h.batch} × accum ${h.gradAccum} × seq ${h.seqLen}); lr ${h.lr}, warm-up ${h.warmup}, cosine to ${h.minLrRatio * h.lr} at step ${h.totalSteps}`);

    const start = trainer.state.step;
    const progress = createProgress("train", opts.steps, { silent: opts.quiet || opts.logJson, unit: "steps" });
    progress.update(start);
    let stop = false;
    const onSignal = (): void => { stop = true; };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    let tokensDone = 0;
    const t0 = performance.now();
    let lastVal: number | undefined;
    try {
      while (trainer.state.step < opts.steps && !stop) {
        let rec: StepLog;
        try {
          rec = trainer.step();
        } catch (e) {
          if (e instanceof RangeError && /outside the vocabulary/.test(e.message)) {
            throw new UserError(`${opts.data}: ${e.message}; the data does not fit this model (check --config / vocab_size and --data-dtype)`);
          }
          if (e instanceof NonFiniteLossError) {
            throw new UserError(`${e.message} The last checkpoint in ${opts.out} is intact.`);
          }
          throw e;
        }
        tokensDone += tokensPerStep;
        if (opts.logJson) process.stdout.write(JSON.stringify(rec) + "\n");
        progress.update(trainer.state.step, { loss: rec.loss, lr: rec.lr, "tok/s": Math.round(rec.tokens_per_s) });
        const s = trainer.state.step;
        if (opts.evalEvery > 0 && s % opts.evalEvery === 0) {
          lastVal = trainer.validationLoss(opts.evalBatches ?? 8);
          if (lastVal !== undefined && !opts.quiet && !opts.logJson) log(`${process.stderr.isTTY ? "\n" : ""}step ${s}: validation loss ${lastVal.toFixed(4)}`);
        }
        if (opts.saveEvery > 0 && s % opts.saveEvery === 0 && s < opts.steps) trainer.save(opts.out, tokenizer);
        // Let signals (Ctrl-C) through between steps.
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      progress.stop();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    if (trainer.state.step > start) {
      if (opts.evalEvery === 0 || trainer.state.step % opts.evalEvery !== 0) lastVal = trainer.validationLoss(opts.evalBatches ?? 8);
      trainer.save(opts.out, tokenizer);
    }
    const curvePath = path.join(opts.out, "loss.svg");
    const points = trainer.state.losses.map((y, i) => ({ x: i + 1, y }));
    const val = trainer.state.valLosses.map((v) => ({ x: v.step, y: v.loss }));
    fs.writeFileSync(curvePath, lossCurveSvg(`llama-ts training loss (${(parameterCount(config) / 1e6).toFixed(1)}M parameters)`, [
      { name: "train", color: "#1f6fd1", points },
      ...(val.length > 0 ? [{ name: "validation", color: "#d1491f", points: val }] : []),
    ]));
    if (stop) log(`stopped at step ${trainer.state.step}; resume with --resume`);
    const seconds = (performance.now() - t0) / 1000;
    return {
      runDir: opts.out, config, steps: trainer.state.step, losses: trainer.state.losses, valLoss: lastVal,
      tokensPerSecond: seconds > 0 ? tokensDone / seconds : 0, curvePath,
    };
  } finally {
    data.close();
  }
}
