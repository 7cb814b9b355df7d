/**
 * A training run from start to finish: claim the run folder (run-folder.ts: never overwrite a
 * run or a user's files unasked, one training per folder), resolve the options (a new run's
 * flags with TRAIN_DEFAULTS, or a resumed run's saved ones), resolve the model (preset,
 * config.json, --init or the run's own), check it fits in memory, open the data, step with
 * progress and logs, validate and save periodically (the loss curve with every save), and
 * stop cleanly on Ctrl-C (save, `interrupted`). `llama-ts train`, `train --text` and
 * `npm start` all call this.
 *
 * Resuming: trainer_state.json holds the hyperparameters and the run's options (the data
 * path relative to the run folder, order, step target, save/eval cadence), so `--resume`
 * alone continues the run. A flag given with `--resume` must equal the saved value, except
 * the overridable ones (RESUME_OVERRIDABLE: the step target, the schedule length, the
 * save/eval cadence, logging, threads, and --data for where the same data now lives: the
 * data cursor checks that it is the same data).
 */
import { constants as bufferConstants } from "node:buffer";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { configFromHf, configToHf, presetConfig, type LlamaConfig } from "../model/config.js";
import { initParams } from "../model/init.js";
import { parameterCount } from "../model/params.js";
import { trainGraphFloats } from "../model/train-graph.js";
import { loadModelFolder, readConfig, writeFileAtomic } from "../formats/hf-folder.js";
import { manifestTokenizerPath, type TokenDType } from "../data/index.js";
import type { WindowOrder } from "../data/index.js";
import { UserError } from "../util/errors.js";
import { storedRelative } from "../util/paths.js";
import { createProgress } from "../util/progress.js";
import { NonFiniteLossError, PAPER_DEFAULTS, Trainer, type SavedRunOptions, type StepLog, type TrainHyperparameters, type TrainerState } from "./trainer.js";
import { openWindowSource, type OpenedData } from "./data-source.js";
import { claimRunFolder, type RunFolderClaim } from "./run-folder.js";
import { formatCount, trainingCurveSvg } from "./plot.js";

export interface TrainRunOptions {
  /** Prepared dataset folder or raw token file (a resumed run defaults to its saved data). */
  data?: string;
  out: string;
  /** A preset name or a config.json path (new runs without init). Default "small". */
  config?: string;
  /** The model's shape as a value (library callers; takes precedence over `config`). */
  modelConfig?: LlamaConfig;
  init?: string;
  resume?: boolean;
  /** Write a new run into a non-empty --out (replacing only a run's own files). */
  overwrite?: boolean;
  /** Train until this many steps are done in total. */
  steps?: number;
  batch?: number;
  seqLen?: number;
  gradAccum?: number;
  lr?: number;
  /** Default: min(2000, 10 % of the total steps). */
  warmup?: number;
  minLrRatio?: number;
  /** Schedule length N; default `steps`. */
  totalSteps?: number;
  weightDecay?: number;
  clip?: number;
  order?: WindowOrder;
  seed?: number;
  dataDtype?: TokenDType;
  saveEvery?: number;
  /** Validation every K steps (0: only at the end); needs a prepared dataset. */
  evalEvery?: number;
  evalBatches?: number;
  logJson?: boolean;
  /** Tokenizer copied into the run folder (default: the prepared dataset's). */
  tokenizer?: string;
  quiet?: boolean;
  /** `train --text`: the text file the data was prepared from (saved, compared on resume). */
  text?: string;
}

/** Defaults of a new run (the CLI shows them in --help). */
export const TRAIN_DEFAULTS = {
  config: "small", steps: 1000, batch: 8, seqLen: 128, gradAccum: 1, lr: 3e-4, minLrRatio: 0.1, weightDecay: 0.1,
  clip: 1.0, seed: 0, saveEvery: 100, evalEvery: 0, evalBatches: 8,
} as const;

/** Upper bounds that keep a typo (`--steps 1e30`) from running forever or allocating without end. */
export const TRAIN_LIMITS = {
  steps: 10_000_000, totalSteps: 10_000_000, warmup: 10_000_000, batch: 65_536, seqLen: 1 << 20, gradAccum: 65_536,
  saveEvery: 10_000_000, evalEvery: 10_000_000, evalBatches: 100_000,
} as const;

/** Flags that `--resume` accepts with a value other than the saved one. */
export const RESUME_OVERRIDABLE = ["--steps", "--total-steps", "--save-every", "--eval-every", "--log-json", "--threads", "--data"] as const;

export interface TrainRunResult {
  runDir: string;
  config: LlamaConfig;
  steps: number;
  losses: number[];
  valLoss: number | undefined;
  tokensPerSecond: number;
  curvePath: string;
  /** Stopped by Ctrl-C (SIGINT) or SIGTERM after saving; the CLI exits with 130. */
  interrupted: boolean;
}

/** Resolves a --config spec (preset or config.json). */
export function resolveConfig(spec: string): LlamaConfig {
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

function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/**
 * Bytes training allocates: 4 float buffers of the parameter count (weights, gradients,
 * Adam m and v) plus the activations of one micro-batch (TrainGraph) and its windows.
 */
export function trainingMemoryBytes(c: LlamaConfig, batch: number, seqLen: number): { total: number; params: number; activations: number } {
  const params = 4 * 4 * parameterCount(c);
  const activations = 4 * (trainGraphFloats(c, batch, seqLen) + batch * (seqLen + 1));
  return { total: params + activations, params, activations };
}

/** Refuses, before allocating, a model/batch that cannot fit in this machine's memory. */
export function checkTrainingMemory(c: LlamaConfig, batch: number, seqLen: number, machineBytes = os.totalmem()): void {
  const need = trainingMemoryBytes(c, batch, seqLen);
  const P = parameterCount(c);
  const what = P >= 1e9 ? `${(P / 1e9).toFixed(2)}B parameters` : `${(P / 1e6).toFixed(P >= 1e8 ? 0 : 2)}M parameters`;
  if (need.total > 0.9 * machineBytes) {
    throw new UserError(
      `training this model needs about ${gib(need.total)} (${what}: ${gib(need.params)} for weights, gradients and Adam m/v; ` +
        `${gib(need.activations)} of activations for batch ${batch} × seq ${seqLen}), but this machine has ${gib(machineBytes)} in total; ` +
        "use a smaller --config, --batch or --seq-len",
    );
  }
  if (4 * P > bufferConstants.MAX_LENGTH) {
    throw new UserError(`the model has ${what}: one buffer of ${gib(4 * P)} exceeds the ${gib(bufferConstants.MAX_LENGTH)} a single array can hold in this Node.js; use a smaller --config`);
  }
}

function checkRange(v: number | undefined, flag: string, min: number, max: number): void {
  if (v === undefined) return;
  if (!(Number.isInteger(v) && v >= min && v <= max)) throw new UserError(`${flag}: ${v} is outside the allowed range ${min}..${max}`);
}

/** Checks the step/batch/size options against TRAIN_LIMITS (one line naming the flag and the range). */
export function checkTrainLimits(o: TrainRunOptions): void {
  checkRange(o.steps, "--steps", 1, TRAIN_LIMITS.steps);
  checkRange(o.totalSteps, "--total-steps", 1, TRAIN_LIMITS.totalSteps);
  checkRange(o.warmup, "--warmup", 0, TRAIN_LIMITS.warmup);
  checkRange(o.batch, "--batch", 1, TRAIN_LIMITS.batch);
  checkRange(o.seqLen, "--seq-len", 1, TRAIN_LIMITS.seqLen);
  checkRange(o.gradAccum, "--grad-accum", 1, TRAIN_LIMITS.gradAccum);
  checkRange(o.saveEvery, "--save-every", 0, TRAIN_LIMITS.saveEvery);
  checkRange(o.evalEvery, "--eval-every", 0, TRAIN_LIMITS.evalEvery);
  checkRange(o.evalBatches, "--eval-batches", 1, TRAIN_LIMITS.evalBatches);
}

/** A new run's options: the given ones, TRAIN_DEFAULTS for the rest. */
interface Resolved {
  data: string;
  steps: number;
  hp: TrainHyperparameters;
  order: WindowOrder | undefined;
  dataDtype: TokenDType | undefined;
  saveEvery: number;
  evalEvery: number;
  evalBatches: number;
}

function resolveNew(o: TrainRunOptions): Resolved {
  if (o.data === undefined) throw new UserError("train needs --data DIR|tokens.bin (a prepared dataset or a token file) or --text FILE");
  const steps = o.steps ?? TRAIN_DEFAULTS.steps;
  const totalSteps = o.totalSteps ?? steps;
  return {
    data: o.data, steps,
    hp: {
      ...PAPER_DEFAULTS,
      batch: o.batch ?? TRAIN_DEFAULTS.batch, seqLen: o.seqLen ?? TRAIN_DEFAULTS.seqLen, gradAccum: o.gradAccum ?? TRAIN_DEFAULTS.gradAccum,
      lr: o.lr ?? TRAIN_DEFAULTS.lr, warmup: o.warmup ?? Math.min(2000, Math.round(totalSteps * 0.1)),
      minLrRatio: o.minLrRatio ?? TRAIN_DEFAULTS.minLrRatio, totalSteps, weightDecay: o.weightDecay ?? TRAIN_DEFAULTS.weightDecay,
      clip: o.clip ?? TRAIN_DEFAULTS.clip, seed: o.seed ?? TRAIN_DEFAULTS.seed,
    },
    order: o.order, dataDtype: o.dataDtype,
    saveEvery: o.saveEvery ?? TRAIN_DEFAULTS.saveEvery, evalEvery: o.evalEvery ?? TRAIN_DEFAULTS.evalEvery,
    evalBatches: o.evalBatches ?? TRAIN_DEFAULTS.evalBatches,
  };
}

/** Where a run's saved data path points now (relative to the run folder, or as saved). */
function savedDataPath(out: string, saved: SavedRunOptions): string {
  const relative = path.resolve(out, saved.data);
  return fs.existsSync(relative) || saved.dataAbsolute === undefined ? relative : saved.dataAbsolute;
}

/**
 * A resumed run's options: the saved ones, with each given flag checked against its saved
 * value (a conflict is one line naming the flag, the saved and the given value) unless it
 * is overridable.
 */
function resolveResume(o: TrainRunOptions, prior: TrainerState): Resolved {
  const stateFile = path.join(o.out, "trainer_state.json");
  const saved = prior.run;
  const h = prior.hyperparameters;
  const conflict = (flag: string, was: unknown, now: unknown): never => {
    throw new UserError(`--resume: ${flag} ${String(now)} conflicts with the run's saved ${flag} ${String(was)} (${stateFile}); drop ${flag}, or start a new run`);
  };
  const same = (flag: string, was: unknown, now: unknown): void => {
    if (now !== undefined && was !== undefined && now !== was) conflict(flag, was, now);
  };
  if (o.init !== undefined) throw new UserError("--resume and --init exclude each other (a resumed run already has its weights)");
  same("--batch", h.batch, o.batch);
  same("--seq-len", h.seqLen, o.seqLen);
  same("--grad-accum", h.gradAccum, o.gradAccum);
  same("--lr", h.lr, o.lr);
  same("--warmup", h.warmup, o.warmup);
  same("--min-lr-ratio", h.minLrRatio, o.minLrRatio);
  same("--wd", h.weightDecay, o.weightDecay);
  same("--clip", h.clip, o.clip);
  same("--seed", h.seed, o.seed);
  const cursor = prior.dataCursor as { order?: WindowOrder } | undefined;
  same("--order", saved?.order ?? cursor?.order, o.order);
  same("--data-dtype", saved?.dataDtype, o.dataDtype);
  if (o.text !== undefined && saved?.text !== undefined && path.resolve(o.text) !== path.resolve(o.out, saved.text)) {
    conflict("--text", path.resolve(o.out, saved.text), path.resolve(o.text));
  }
  const data = o.data ?? (saved ? savedDataPath(o.out, saved) : undefined);
  if (data === undefined) throw new UserError(`--resume: ${stateFile} does not record the training data (an older run); give --data`);
  const steps = o.steps ?? saved?.steps ?? TRAIN_DEFAULTS.steps;
  return {
    data, steps,
    hp: { ...h, ...(o.totalSteps !== undefined ? { totalSteps: o.totalSteps } : {}) },
    order: o.order ?? saved?.order ?? cursor?.order, dataDtype: o.dataDtype ?? saved?.dataDtype,
    saveEvery: o.saveEvery ?? saved?.saveEvery ?? TRAIN_DEFAULTS.saveEvery,
    evalEvery: o.evalEvery ?? saved?.evalEvery ?? TRAIN_DEFAULTS.evalEvery,
    evalBatches: o.evalBatches ?? saved?.evalBatches ?? TRAIN_DEFAULTS.evalBatches,
  };
}

/** The model of a new run: --init's, the given value, or a preset/config.json (a preset takes the data's vocabulary). */
function newRunConfig(o: TrainRunOptions, data: OpenedData, seqLen: number): LlamaConfig {
  let config: LlamaConfig;
  if (o.init !== undefined) return readConfig(o.init);
  if (o.modelConfig) config = { ...o.modelConfig };
  else {
    const spec = o.config ?? TRAIN_DEFAULTS.config;
    config = resolveConfig(spec);
    if (data.manifest && !(spec.endsWith(".json") || fs.existsSync(spec))) {
      const t = data.manifest.tokenizer;
      config = { ...config, vocabSize: t.vocabSize, bosTokenId: t.bosId, eosTokenId: t.eosId };
    }
  }
  if (config.maxPositionEmbeddings < seqLen) config = { ...config, maxPositionEmbeddings: seqLen };
  return config;
}

/** Trains into `opts.out` (claiming the folder first); see the module comment. */
export async function trainRun(opts: TrainRunOptions): Promise<TrainRunResult> {
  checkTrainLimits(opts);
  if (opts.resume && opts.init) throw new UserError("--resume and --init exclude each other (a resumed run already has its weights)");
  const claim = claimRunFolder(opts.out, { resume: opts.resume === true, overwrite: opts.overwrite === true, note: (l) => process.stderr.write(l + "\n") });
  try {
    return await trainInClaimedFolder(opts, claim);
  } finally {
    claim.release();
  }
}

/** trainRun's body, for callers that claimed the folder themselves (train --text prepares data in it first). */
export async function trainInClaimedFolder(opts: TrainRunOptions, claim: RunFolderClaim): Promise<TrainRunResult> {
  const out = claim.dir;
  const log = (line: string): void => {
    if (!opts.quiet) process.stderr.write(line + "\n");
  };
  checkTrainLimits(opts);
  let stop: string | undefined;
  const onSignal = (signal: string): void => { stop = signal; };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const prior = opts.resume ? Trainer.readState(out) : undefined;
    const r = prior ? resolveResume(opts, prior) : resolveNew(opts);
    const data = openWindowSource(r.data, {
      seqLen: r.hp.seqLen, seed: r.hp.seed,
      ...(r.order ? { order: r.order } : {}),
      ...(r.dataDtype ? { dtype: r.dataDtype } : {}),
      ...(prior?.dataCursor !== undefined ? { cursor: prior.dataCursor } : {}),
    });
    try {
      let tokenizer = opts.tokenizer ?? (data.manifest ? manifestTokenizerPath(r.data, data.manifest) : undefined);
      if (tokenizer !== undefined && !fs.existsSync(tokenizer)) {
        // A resumed run keeps the copy it made; a new run needs the file.
        if (prior && opts.tokenizer === undefined && fs.existsSync(path.join(out, "tokenizer.model"))) tokenizer = undefined;
        else throw new UserError(`${tokenizer}: the tokenizer to copy into the run is missing`);
      }
      let trainer: Trainer;
      if (prior) {
        const config = readConfig(out);
        if (opts.config !== undefined || opts.modelConfig !== undefined) {
          const given = opts.modelConfig ?? newRunConfig({ ...opts, init: undefined }, data, r.hp.seqLen);
          if (JSON.stringify(configToHf({ ...given, maxPositionEmbeddings: config.maxPositionEmbeddings })) !== JSON.stringify(configToHf(config))) {
            throw new UserError(`--resume: --config ${opts.config ?? "(given)"} describes a different model than the run's ${path.join(out, "config.json")}; drop --config`);
          }
        }
        checkTrainingMemory(config, r.hp.batch, r.hp.seqLen);
        trainer = Trainer.load(out, data.source, r.hp);
        log(`resuming ${out} at step ${trainer.state.step}`);
      } else {
        const config = newRunConfig(opts, data, r.hp.seqLen);
        checkTrainingMemory(config, r.hp.batch, r.hp.seqLen);
        const params = opts.init !== undefined ? loadModelFolder(opts.init).params : initParams(config, r.hp.seed);
        if (data.manifest && data.manifest.tokenizer.vocabSize > config.vocabSize) {
          throw new UserError(`the prepared data uses ${data.manifest.tokenizer.vocabSize} token ids but the model's vocab_size is ${config.vocabSize}`);
        }
        trainer = new Trainer(config, params, r.hp, data.source);
      }
      trainer.state.run = {
        data: storedRelative(out, r.data), dataAbsolute: path.resolve(r.data),
        order: r.order ?? (data.manifest ? "shuffled" : "sequential"),
        ...(r.dataDtype !== undefined ? { dataDtype: r.dataDtype } : {}),
        steps: r.steps, saveEvery: r.saveEvery, evalEvery: r.evalEvery, evalBatches: r.evalBatches,
        ...(opts.text !== undefined ? { text: storedRelative(out, opts.text) } : prior?.run?.text !== undefined ? { text: prior.run.text } : {}),
      };
      return await trainLoop(trainer, { ...r, out, tokenizer, log, opts, opened: data, stopped: () => stop });
    } finally {
      data.close();
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

interface LoopContext extends Resolved {
  out: string;
  tokenizer: string | undefined;
  log: (line: string) => void;
  opts: TrainRunOptions;
  opened: OpenedData;
  stopped: () => string | undefined;
}

async function trainLoop(trainer: Trainer, c: LoopContext): Promise<TrainRunResult> {
  const { out, log, opts } = c;
  const config = trainer.config;
  const h = trainer.hp;
  const tokensPerStep = h.batch * h.gradAccum * h.seqLen;
  log(`model: ${config.numHiddenLayers} layers, dim ${config.hiddenSize}, ${config.numAttentionHeads} heads (${config.numKeyValueHeads} kv), vocab ${config.vocabSize}, ${(parameterCount(config) / 1e6).toFixed(2)}M parameters`);
  log(`data: ${c.opened.source.description}; ${tokensPerStep} tokens per step (batch ${h.batch} × accum ${h.gradAccum} × seq ${h.seqLen}); lr ${h.lr}, warm-up ${h.warmup}, cosine to ${Number((h.minLrRatio * h.lr).toPrecision(6))} at step ${h.totalSteps}`);
  const curvePath = path.join(out, "loss.svg");
  const save = (): void => {
    trainer.save(out, c.tokenizer);
    try {
      writeFileAtomic(curvePath, trainingCurve(trainer));
    } catch (e) {
      throw new UserError(`${curvePath}: cannot write the loss picture (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the checkpoint is saved`);
    }
  };

  const start = trainer.state.step;
  const progress = createProgress("train", c.steps, { silent: opts.quiet || opts.logJson, unit: "steps" });
  progress.update(start);
  let tokensDone = 0;
  const t0 = performance.now();
  let lastVal: number | undefined;
  try {
    while (trainer.state.step < c.steps && c.stopped() === undefined) {
      let rec: StepLog;
      try {
        rec = trainer.step();
      } catch (e) {
        if (e instanceof RangeError && /outside the vocabulary/.test(e.message)) {
          throw new UserError(`${c.opened.source.description}: ${e.message}; the data does not fit this model (check --config / vocab_size and --data-dtype)`);
        }
        if (e instanceof NonFiniteLossError) {
          throw new UserError(`${e.message} The last checkpoint in ${out} is intact.`);
        }
        throw e;
      }
      tokensDone += tokensPerStep;
      if (opts.logJson) process.stdout.write(JSON.stringify(rec) + "\n");
      progress.update(trainer.state.step, { loss: rec.loss, lr: rec.lr, "tok/s": Math.round(rec.tokens_per_s) });
      const s = trainer.state.step;
      if (c.evalEvery > 0 && s % c.evalEvery === 0) {
        lastVal = trainer.validationLoss(c.evalBatches);
        if (lastVal !== undefined && !opts.quiet && !opts.logJson) log(`${process.stderr.isTTY ? "\n" : ""}step ${s}: validation loss ${lastVal.toFixed(4)}`);
      }
      if (c.saveEvery > 0 && s % c.saveEvery === 0 && s < c.steps) save();
      // Let signals (Ctrl-C) through between steps.
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    progress.stop();
  }
  const interrupted = c.stopped() !== undefined;
  if (trainer.state.step > start || !fs.existsSync(curvePath)) {
    if (!interrupted && (c.evalEvery === 0 || trainer.state.step % c.evalEvery !== 0)) lastVal = trainer.validationLoss(c.evalBatches);
    save();
  }
  if (interrupted) log(`${c.stopped()}: saved the run at step ${trainer.state.step}; continue with: llama-ts train --resume --out ${out}`);
  const seconds = (performance.now() - t0) / 1000;
  return {
    runDir: out, config, steps: trainer.state.step, losses: trainer.state.losses, valLoss: lastVal,
    tokensPerSecond: seconds > 0 ? tokensDone / seconds : 0, curvePath, interrupted,
  };
}

/** The run's loss picture (see plot.ts) from its state. */
export function trainingCurve(trainer: Trainer): string {
  const h = trainer.hp;
  return trainingCurveSvg({
    title: `llama-ts training (${formatCount(parameterCount(trainer.config))} parameters)`,
    losses: trainer.state.losses,
    valLosses: trainer.state.valLosses,
    tokensPerStep: h.batch * h.gradAccum * h.seqLen,
    schedule: { lr: h.lr, warmup: h.warmup, totalSteps: h.totalSteps, minLrRatio: h.minLrRatio },
  });
}
