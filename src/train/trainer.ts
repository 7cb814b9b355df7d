/**
 * The paper's training recipe: AdamW (β1 0.9, β2 0.95, eps 1e-8, weight decay 0.1 on every
 * matrix, none on RMSNorm weights), linear warm-up then cosine decay to a fraction of the peak
 * learning rate, global-norm gradient clipping, gradient accumulation, over one contiguous
 * parameter buffer; the step itself is train/loop.ts (Node-free, shared with the browser build),
 * this module adds the files around it. Runs are folders: a Hugging Face model folder plus checkpoint/optimizer.safetensors
 * and trainer_state.json, saved atomically, so `--resume` continues exactly where it stopped.
 */
import fs from "node:fs";
import path from "node:path";
import type { LlamaConfig } from "../model/config.js";
import type { ParamLayout } from "../model/params.js";
import { getBackend } from "../kernels/backend.js";
import { writeFileAtomic, loadModelFolder, hfSideFiles } from "../formats/hf-folder.js";
import { parseModelProto, type ModelProto } from "../tokenizer/model-proto.js";
import { configToHf } from "../model/config.js";
import { openSafetensors, readTensorF32, writeSafetensors } from "../formats/safetensors.js";
import { UserError } from "../util/errors.js";
import { TrainLoop, type StepLog, type TrainHyperparameters, type TrainProgress, type WindowSource } from "./loop.js";

export { NonFiniteLossError, PAPER_DEFAULTS, type StepLog, type TrainHyperparameters, type WindowSource } from "./loop.js";

export interface TrainerState extends TrainProgress {
  version: 1;
  hyperparameters: TrainHyperparameters;
  data: string;
  /** The run's own options (not hyperparameters) that `--resume` reuses; see train/run.ts. */
  run?: SavedRunOptions;
}

/** What `--resume` needs besides the hyperparameters to continue a run with no flags. */
export interface SavedRunOptions {
  /** The training data, relative to the run folder (absolute when on another drive). */
  data: string;
  /** The same, absolute: used when the run folder was moved without its data. */
  dataAbsolute?: string;
  order: "sequential" | "shuffled";
  /** Element type of a raw token file. */
  dataDtype?: "uint16" | "int32";
  /** Target number of steps. */
  steps: number;
  saveEvery: number;
  evalEvery: number;
  evalBatches: number;
  /** `train --text FILE`: the text file, relative to the run folder. */
  text?: string;
}

export const STATE_FILE = "trainer_state.json";
/** The optimiser moments live in a checkpoint subfolder, so the run folder itself is a shareable model folder. */
export const OPTIMIZER_FILE = "checkpoint/optimizer.safetensors";
/** Where runs written before the checkpoint subfolder kept them (still read on resume). */
const LEGACY_OPTIMIZER_FILE = "optimizer.safetensors";

/** A run on the process's backend (train/loop.ts does the steps), saved to and resumed from a run folder. */
export class Trainer {
  readonly layout: ParamLayout;
  readonly grads: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  private readonly loop: TrainLoop;
  readonly state: TrainerState;

  constructor(
    readonly config: LlamaConfig,
    readonly params: Float32Array,
    readonly hp: TrainHyperparameters,
    readonly data: WindowSource,
    state?: TrainerState,
    moments?: { m: Float32Array; v: Float32Array },
  ) {
    this.state = state ?? { version: 1, step: 0, hyperparameters: hp, data: data.description, losses: [], valLosses: [] };
    this.loop = new TrainLoop(config, params, hp, data, getBackend(), this.state, moments);
    ({ layout: this.layout, grads: this.grads, m: this.m, v: this.v } = this.loop);
  }

  /** One optimiser step (B·A windows); returns its log line. Throws on a non-finite loss. */
  step(): StepLog {
    return this.loop.step();
  }

  /** Mean loss over `batches` held-out batches (needs a validation source). */
  validationLoss(batches: number): number | undefined {
    return this.loop.validationLoss(batches);
  }

  /**
   * Saves the run folder: model (HF layout), optimiser moments and state, as a two-phase
   * commit so that a kill at any moment leaves a consistent checkpoint: every file is first
   * written completely under a `.next` name (each itself via temporary file + rename), the
   * state last, which commits the set; then each is renamed into place. `recoverCheckpoint`
   * finishes an interrupted rename phase or discards an uncommitted set.
   */
  save(dir: string, tokenizerPath?: string): void {
    fs.mkdirSync(path.join(dir, path.dirname(OPTIMIZER_FILE)), { recursive: true });
    recoverCheckpoint(dir);
    const next = (f: string): string => path.join(dir, f + NEXT);
    try {
      writeSafetensors(next(MODEL_FILE), this.layout.specs.map((s) => ({
        name: s.name, shape: s.shape, data: this.params.subarray(s.offset, s.offset + s.size),
      })), { format: "pt", step: String(this.state.step) });
      writeFileAtomic(next(CONFIG_FILE), JSON.stringify(configToHf(this.config), null, 2) + "\n");
      writeSafetensors(next(OPTIMIZER_FILE), [
        { name: "adamw.exp_avg", shape: [this.m.length], data: this.m },
        { name: "adamw.exp_avg_sq", shape: [this.v.length], data: this.v },
      ], { step: String(this.state.step) });
      if (tokenizerPath && path.resolve(tokenizerPath) !== path.resolve(dir, "tokenizer.model")) {
        fs.copyFileSync(tokenizerPath, next("tokenizer.model"));
      }
      // The files Hugging Face tools expect beside the weights (generation config, fast tokenizer).
      const tokFile = tokenizerPath ?? path.join(dir, "tokenizer.model");
      const proto = fs.existsSync(tokFile) ? parseProtoOrUndefined(fs.readFileSync(tokFile)) : undefined;
      for (const [name, content] of hfSideFiles(this.config, proto)) writeFileAtomic(next(name), content);
      writeFileAtomic(next(STATE_FILE), JSON.stringify(this.state, null, 1) + "\n"); // the commit point
    } catch (e) {
      // Not committed: drop this save's files, the previous checkpoint stands.
      recoverCheckpoint(dir);
      const code = (e as NodeJS.ErrnoException).code;
      if (e instanceof UserError) throw new UserError(`cannot save the checkpoint in ${dir}: ${e.message}; the previous checkpoint is intact`);
      if (typeof code === "string") throw new UserError(`cannot save the checkpoint in ${dir}: ${code} (${(e as Error).message}); the previous checkpoint is intact`);
      throw e;
    }
    recoverCheckpoint(dir);
  }

  static readState(dir: string): TrainerState {
    recoverCheckpoint(dir);
    const stateFile = path.join(dir, STATE_FILE);
    if (!fs.existsSync(stateFile)) throw new UserError(`--resume: ${stateFile} does not exist (nothing to resume in ${dir})`);
    let state: TrainerState;
    try {
      state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as TrainerState;
    } catch (e) {
      throw new UserError(`${stateFile}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof state !== "object" || state === null || state.version !== 1 || typeof state.step !== "number" ||
        typeof state.hyperparameters !== "object" || state.hyperparameters === null || !Array.isArray(state.losses)) {
      throw new UserError(`${stateFile}: not a llama-ts trainer state`);
    }
    const h = state.hyperparameters as unknown as Record<string, unknown>;
    for (const k of ["batch", "seqLen", "gradAccum", "lr", "warmup", "minLrRatio", "totalSteps", "weightDecay", "clip", "beta1", "beta2", "eps", "seed"]) {
      const v = h[k];
      const isInt = ["batch", "seqLen", "gradAccum", "totalSteps"].includes(k);
      if (typeof v !== "number" || !Number.isFinite(v) || (isInt && !(Number.isSafeInteger(v) && v >= 1))) {
        throw new UserError(`${stateFile}: hyperparameters.${k} is ${JSON.stringify(v) ?? String(v)}, not a valid value`);
      }
    }
    return state;
  }

  static load(dir: string, data: WindowSource, override: Partial<TrainHyperparameters> = {}): Trainer {
    const state = Trainer.readState(dir);
    const folder = loadModelFolder(dir);
    let optFile = path.join(dir, OPTIMIZER_FILE);
    if (!fs.existsSync(optFile) && fs.existsSync(path.join(dir, LEGACY_OPTIMIZER_FILE))) optFile = path.join(dir, LEGACY_OPTIMIZER_FILE);
    if (!fs.existsSync(optFile)) throw new UserError(`${optFile} is missing; cannot resume the optimiser`);
    const f = openSafetensors(optFile);
    const m = readTensorF32(f, "adamw.exp_avg");
    const v = readTensorF32(f, "adamw.exp_avg_sq");
    f.close();
    if (m.length !== folder.params.length || v.length !== folder.params.length) {
      throw new UserError(`${optFile}: optimiser state has ${m.length} values, the model has ${folder.params.length} parameters`);
    }
    const hp = { ...state.hyperparameters, ...override };
    return new Trainer(folder.config, folder.params, hp, data, { ...state, hyperparameters: hp }, { m, v });
  }
}

/** A tokenizer file that is not a SentencePiece model (a run may use any tokenizer) gets no HF tokenizer files. */
function parseProtoOrUndefined(bytes: Uint8Array): ModelProto | undefined {
  try {
    return parseModelProto(bytes);
  } catch {
    return undefined;
  }
}

const NEXT = ".next";
const MODEL_FILE = "model.safetensors";
const CONFIG_FILE = "config.json";
/** Files of a checkpoint, the state last (renaming it completes the checkpoint). */
const CHECKPOINT_FILES = [
  MODEL_FILE, CONFIG_FILE, OPTIMIZER_FILE, "tokenizer.model",
  "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
  STATE_FILE,
];

/**
 * Brings a run folder to a consistent checkpoint after an interrupted save: if the new state
 * was written (committed), the remaining `.next` files are renamed into place; otherwise the
 * uncommitted `.next` files are removed and the previous checkpoint stands.
 */
export function recoverCheckpoint(dir: string): void {
  // Temporary files of one of our writes that was killed half-way are never part of a
  // checkpoint; they are removed by their exact names (nothing else in the folder is touched).
  if (fs.existsSync(dir)) {
    for (const sub of [".", path.dirname(OPTIMIZER_FILE)]) {
      const d = path.join(dir, sub);
      if (fs.existsSync(d)) for (const f of fs.readdirSync(d)) if (OWN_TEMP.test(f)) fs.rmSync(path.join(d, f), { force: true });
    }
  }
  const committed = fs.existsSync(path.join(dir, STATE_FILE + NEXT));
  for (const f of CHECKPOINT_FILES) {
    const pending = path.join(dir, f + NEXT);
    if (!fs.existsSync(pending)) continue;
    if (committed) fs.renameSync(pending, path.join(dir, f));
    else fs.rmSync(pending, { force: true });
  }
}

/** The files a run folder's checkpoint and loss curve consist of (what `--overwrite` replaces). */
export const RUN_FILES: readonly string[] = [...CHECKPOINT_FILES, "loss.svg"];

/**
 * True for what an interrupted first save leaves in a run folder: our `.next` / temporary files
 * and the (empty, or holding only such files) checkpoint subfolder. A folder holding only these
 * is still an empty folder for a new run.
 */
export function isCheckpointLeftover(dir: string, name: string): boolean {
  if (OWN_TEMP.test(name) || RUN_FILES.some((f) => name === `${path.basename(f)}${NEXT}`)) return true;
  const sub = path.dirname(OPTIMIZER_FILE);
  if (name !== sub) return false;
  const full = path.join(dir, sub);
  return fs.statSync(full).isDirectory() && fs.readdirSync(full).every((f) => isCheckpointLeftover(full, f) || f === `${path.basename(OPTIMIZER_FILE)}${NEXT}`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `<one of our files>[.next].tmp-<pid>[-<n>]`: the temporary names our atomic writes use. */
const OWN_TEMP = new RegExp(`^(${RUN_FILES.map((f) => escapeRegExp(path.basename(f))).join("|")})(\\.next)?\\.tmp-\\d+(-\\d+)?$`);
