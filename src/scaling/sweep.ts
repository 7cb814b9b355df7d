/**
 * A scaling-law sweep: a grid of small LLaMA shapes × training budgets on one prepared
 * dataset, each run trained with the paper's recipe (AdamW β 0.9/0.95, weight decay 0.1,
 * clip 1.0, warm-up then cosine to 10 % sized to that run's own steps) and scored by held-out
 * loss; then the approach-3 fit, IsoFLOP minima, plots and the inference-aware recommendation.
 *
 * Shapes (the paper's rules, scaled down): width d, head dim h (paper 128; default 16 here),
 * heads d/h, key-value heads heads/gqa, depth max(1, round(d/32)) (the paper has d/layers ≈
 * 100–128, which at this width would leave one layer), SwiGLU hidden ffnHiddenSize(d, 16).
 * N in the design and the fit is the non-embedding count by default: all parameters minus the
 * token embedding and the output head (Kaplan et al. 2020); `count: "total"` uses every parameter
 * (Hoffmann et al. 2022). At this scale the two disagree wildly: the embedding and head are most of
 * a width-32 model, so a non-embedding IsoFLOP design hands the smallest widths the most tokens
 * and their real compute far exceeds 6ND (Pearce & Song 2024 trace the Kaplan/Chinchilla
 * disagreement to this choice).
 *
 * The default grid is an IsoFLOP design (Chinchilla approach 2): compute budgets C_k = C_0·3^k
 * and, for each width, D = C_k / (6N), so every budget has one run per width. C_0 is chosen so
 * that the estimated time Σ steps × (seconds per step of that width, measured by a short
 * calibration) fills the budget; when the smallest run would fall under `minSteps`, the grid
 * shrinks (largest width first, down to 3 widths; then the top budget, down to 2) so a small
 * budget keeps ≥ 6 runs over ≥ 3 sizes. `--flops` fixes the budgets C_k instead (a grid that does
 * not depend on how fast the machine was during calibration); `--tokens` replaces the design by a
 * fixed list of D.
 *
 * Layout of OUT: plan.json (the grid, fixed at the first start so a rerun continues the same
 * sweep), runs/NAME/ (a resumable training run folder; result.json marks it done), sweep.csv,
 * fit.json, loss-vs-tokens.svg, isoflop.svg, frontier.svg, recommendation.txt.
 *
 * Training FLOPs per token, counted from the shape ("flops_counted"): 3 × forward, forward =
 * 2·(matrix parameters in the blocks) + 2·V·d (output head) + 2·L·qDim·(T+1) (causal attention
 * scores and values, mean context (T+1)/2, two matmuls of 2 FLOPs per multiply-add).
 */
import fs from "node:fs";
import path from "node:path";
import { configToHf, ffnHiddenSize, headDim, type LlamaConfig } from "../model/config.js";
import { paramLayout } from "../model/params.js";
import { initParams } from "../model/init.js";
import { writeFileAtomic } from "../formats/hf-folder.js";
import { openWindowSource } from "../train/data-source.js";
import { PAPER_DEFAULTS, Trainer } from "../train/trainer.js";
import { trainRun } from "../train/run.js";
import { UserError } from "../util/errors.js";
import { fitScalingLaw, type Observation, type ScalingFit } from "./fit.js";
import { recommend, type Recommendation } from "./recommend.js";
import { formatCsv } from "./csv.js";
import { fitJson, fitText } from "./report.js";
import { frontierSvg, isoFlopSvg, lossVsTokensSvg } from "./plots.js";

export interface ShapeOptions { headDim: number; gqa: number; maxPositions: number }

export interface VocabInfo { vocabSize: number; bosId: number; eosId: number }

/** The sweep's model for width `dim` (see the module comment for the rules). */
export function sweepShape(dim: number, vocab: VocabInfo, o: ShapeOptions): LlamaConfig {
  if (dim % o.headDim !== 0) throw new UserError(`--sizes: width ${dim} is not a multiple of the head dim ${o.headDim}`);
  const heads = dim / o.headDim;
  if (heads % o.gqa !== 0) throw new UserError(`--gqa ${o.gqa} does not divide the ${heads} heads of width ${dim}`);
  return {
    vocabSize: vocab.vocabSize, hiddenSize: dim, intermediateSize: ffnHiddenSize(dim, 16), numHiddenLayers: Math.max(1, Math.round(dim / 32)),
    numAttentionHeads: heads, numKeyValueHeads: heads / o.gqa, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: o.maxPositions,
    tieWordEmbeddings: false, bosTokenId: vocab.bosId, eosTokenId: vocab.eosId,
  };
}

/** Parameters without the token embedding and output head. */
export function nonEmbeddingParams(c: LlamaConfig): number {
  return paramLayout(c).total - c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
}

/** Training FLOPs for `tokens` tokens at sequence length T, counted from the shape. */
export function countedTrainingFlops(c: LlamaConfig, tokens: number, seqLen: number): number {
  const qDim = c.numAttentionHeads * headDim(c);
  const kvDim = c.numKeyValueHeads * headDim(c);
  const d = c.hiddenSize;
  const blockMatrices = c.numHiddenLayers * (d * qDim + 2 * d * kvDim + qDim * d + 3 * d * c.intermediateSize);
  const forward = 2 * blockMatrices + 2 * c.vocabSize * d + 2 * c.numHiddenLayers * qDim * (seqLen + 1);
  return 3 * forward * tokens;
}

export interface PlannedRun { name: string; dim: number; tokens: number; steps: number; estSeconds: number }

/** Which parameter count N the IsoFLOP design and the fit use. */
export type ParamCount = "non-embedding" | "total";

export interface SweepPlan {
  version: 1;
  /** Absent in plans written before the option existed: "non-embedding". */
  count?: ParamCount;
  data: string;
  seqLen: number;
  batch: number;
  lr: number;
  seed: number;
  headDim: number;
  gqa: number;
  evalBatches: number;
  runs: PlannedRun[];
}

export interface Calibration { dim: number; params: number; secondsPerStep: number }

export interface GridOptions {
  budgetSeconds: number;
  tokensPerStep: number;
  minSteps: number;
  /** Fixed token budgets D (replaces the IsoFLOP design). */
  tokens?: number[];
  /** Fixed IsoFLOP budgets C_k = 6·N·D (replaces sizing the design from the calibration). */
  flops?: number[];
  /** Compute rungs of the IsoFLOP design (default 3). */
  rungs?: number;
  /** Ratio between rungs (default 3). */
  rungRatio?: number;
}

function runName(dim: number, tokens: number): string {
  return `d${dim}-t${tokens}`;
}

/**
 * Chooses the runs (pure: the calibration in, the grid out). Widths come sorted ascending in
 * `calib`; N is each width's parameter count as the design counts it.
 */
export function planGrid(calib: readonly Calibration[], o: GridOptions): PlannedRun[] {
  let sizes = [...calib].sort((a, b) => a.dim - b.dim);
  // The floor grows with the rung, so budgets clamped to the minimum stay distinct runs.
  const make = (dimSet: readonly Calibration[], tokensFor: (c: Calibration, k: number) => number, rungs: number, floorRatio: number): PlannedRun[] => {
    const runs: PlannedRun[] = [];
    const seen = new Set<string>();
    for (let k = 0; k < rungs; k++) {
      for (const c of dimSet) {
        const steps = Math.max(Math.ceil(o.minSteps * floorRatio ** k), Math.round(tokensFor(c, k) / o.tokensPerStep));
        const tokens = steps * o.tokensPerStep;
        if (seen.has(runName(c.dim, tokens))) continue; // two budgets clamped to the same minimum
        seen.add(runName(c.dim, tokens));
        runs.push({ name: runName(c.dim, tokens), dim: c.dim, tokens, steps, estSeconds: steps * c.secondsPerStep });
      }
    }
    return runs;
  };
  const total = (runs: readonly PlannedRun[]): number => runs.reduce((s, r) => s + r.estSeconds, 0);
  if (o.tokens) {
    const list = [...o.tokens].sort((a, b) => a - b);
    let runs = make(sizes, (_, k) => list[k]!, list.length, 1);
    while (total(runs) > o.budgetSeconds && (sizes.length > 3 || list.length > 2)) {
      if (sizes.length > 3) sizes = sizes.slice(0, -1);
      else list.pop();
      runs = make(sizes, (_, k) => list[k]!, list.length, 1);
    }
    return runs;
  }
  if (o.flops) {
    const budgets = [...o.flops].sort((a, b) => a - b);
    return make(sizes, (c, k) => budgets[k]! / (6 * c.params), budgets.length, 1);
  }
  let rungs = o.rungs ?? 3;
  const ratio = o.rungRatio ?? 3;
  for (;;) {
    // Estimated seconds of the design per unit C_0: Σ_k ratio^k Σ_widths steps/C_0 × s/step.
    const perC0 = Array.from({ length: rungs }, (_, k) => ratio ** k).reduce((a, b) => a + b, 0) *
      sizes.reduce((s, c) => s + c.secondsPerStep / (6 * c.params * o.tokensPerStep), 0);
    const c0 = o.budgetSeconds / perC0;
    const largest = sizes[sizes.length - 1]!;
    const smallestSteps = c0 / (6 * largest.params * o.tokensPerStep);
    if (smallestSteps >= o.minSteps || (sizes.length <= 3 && rungs <= 2)) {
      return make(sizes, (c, k) => (c0 * ratio ** k) / (6 * c.params), rungs, ratio);
    }
    if (sizes.length > 3) sizes = sizes.slice(0, -1);
    else rungs--;
  }
}

export interface RunResult {
  name: string;
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  params: number;
  paramsTotal: number;
  tokens: number;
  steps: number;
  flops6nd: number;
  flopsCounted: number;
  valLoss: number;
  trainLoss: number;
  wallSeconds: number;
  tokensPerSecond: number;
  resumed: boolean;
}

export const CSV_HEADER = [
  "run", "dim", "layers", "heads", "kv_heads", "params", "params_total", "tokens", "steps", "flops_6nd", "flops_counted",
  "val_loss", "train_loss", "wall_s", "tokens_per_s", "resumed",
] as const;

export function resultRow(r: RunResult): Array<string | number> {
  return [
    r.name, r.dim, r.layers, r.heads, r.kvHeads, r.params, r.paramsTotal, r.tokens, r.steps, r.flops6nd, r.flopsCounted,
    Number(r.valLoss.toFixed(6)), Number(r.trainLoss.toFixed(6)), Number(r.wallSeconds.toFixed(3)), Math.round(r.tokensPerSecond), r.resumed ? 1 : 0,
  ];
}

export interface SweepOptions {
  data: string;
  out: string;
  budgetMinutes: number;
  sizes: number[];
  tokens?: number[];
  flops?: number[];
  /** N for the design and the fit (default "non-embedding"). */
  count?: ParamCount;
  seqLen: number;
  batch: number;
  lr: number;
  seed: number;
  headDim: number;
  gqa: number;
  minSteps: number;
  evalBatches: number;
  serveTokens: number;
  bootstrap: number;
  log: (line: string) => void;
}

export interface SweepResult {
  results: RunResult[];
  fit?: ScalingFit;
  recommendation?: Recommendation;
  /** False when the sweep stopped early (Ctrl-C); rerun to continue. */
  complete: boolean;
}

const PLAN_FILE = "plan.json";
const RESULT_FILE = "result.json";

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 90) return `${Math.round(s)}s`;
  if (s < 5400) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${(s / 3600).toFixed(1)}h`;
}

/** N of a shape under a parameter count. */
export function countParams(c: LlamaConfig, count: ParamCount): number {
  return count === "total" ? paramLayout(c).total : nonEmbeddingParams(c);
}

function calibrate(o: SweepOptions, vocab: VocabInfo): Calibration[] {
  return o.sizes.map((dim) => {
    const opened = openWindowSource(o.data, { seqLen: o.seqLen, seed: o.seed });
    try {
      const config = sweepShape(dim, vocab, { headDim: o.headDim, gqa: o.gqa, maxPositions: o.seqLen });
      const trainer = new Trainer(config, initParams(config, o.seed), {
        ...PAPER_DEFAULTS, batch: o.batch, seqLen: o.seqLen, gradAccum: 1, lr: o.lr, warmup: 1, totalSteps: 10, seed: o.seed,
      }, opened.source);
      trainer.step(); // warm-up (V8 tiers, buffers)
      const t0 = performance.now();
      trainer.step();
      trainer.step();
      return { dim, params: countParams(config, o.count ?? "non-embedding"), secondsPerStep: (performance.now() - t0) / 2000 };
    } finally {
      opened.close();
    }
  });
}

function readPlan(out: string): SweepPlan | undefined {
  const file = path.join(out, PLAN_FILE);
  if (!fs.existsSync(file)) return undefined;
  try {
    const plan = JSON.parse(fs.readFileSync(file, "utf8")) as SweepPlan;
    if (plan.version !== 1 || !Array.isArray(plan.runs)) throw new Error("not a sweep plan");
    return plan;
  } catch (e) {
    throw new UserError(`${file}: unreadable sweep plan (${(e as Error).message}); use a new --out`);
  }
}

/** Runs (or continues) the sweep in o.out and writes its outputs. */
export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  const { log } = o;
  const t0 = performance.now();
  const probe = openWindowSource(o.data, { seqLen: o.seqLen, seed: o.seed });
  const manifest = probe.manifest;
  probe.close();
  if (!manifest) throw new UserError(`--data ${o.data}: not a prepared dataset (no manifest.json); run llama-ts prepare first`);
  const vocab: VocabInfo = { vocabSize: manifest.tokenizer.vocabSize, bosId: manifest.tokenizer.bosId, eosId: manifest.tokenizer.eosId };
  fs.mkdirSync(path.join(o.out, "runs"), { recursive: true });
  let plan = readPlan(o.out);
  if (plan) {
    if (path.resolve(plan.data) !== path.resolve(o.data)) {
      throw new UserError(`${o.out} holds a sweep on ${plan.data}, not ${o.data}; use a new --out`);
    }
    log(`continuing the sweep in ${o.out} (${plan.runs.length} runs; its plan.json fixes the grid, so --budget, --sizes, --tokens, --flops and --params are not re-read)`);
  } else {
    log(`calibrating ${o.sizes.length} widths (${o.sizes.join(", ")}) at ${o.batch}×${o.seqLen} tokens per step`);
    const calib = calibrate(o, vocab);
    for (const c of calib) log(`  width ${c.dim}: ${(c.params / 1e6).toFixed(3)}M ${o.count ?? "non-embedding"} parameters, ${(c.secondsPerStep * 1000).toFixed(1)} ms/step`);
    const spent = (performance.now() - t0) / 1000;
    // Training gets 85 % of what is left; evaluation, saves, the fit and plots take the rest.
    const budgetSeconds = Math.max(1, (o.budgetMinutes * 60 - spent) * 0.85);
    const runs = planGrid(calib, {
      budgetSeconds, tokensPerStep: o.batch * o.seqLen, minSteps: o.minSteps, ...(o.tokens ? { tokens: o.tokens } : {}),
      ...(o.flops ? { flops: o.flops } : {}),
    });
    plan = {
      version: 1, count: o.count ?? "non-embedding", data: path.resolve(o.data), seqLen: o.seqLen, batch: o.batch, lr: o.lr, seed: o.seed, headDim: o.headDim, gqa: o.gqa,
      evalBatches: o.evalBatches, runs,
    };
    writeFileAtomic(path.join(o.out, PLAN_FILE), JSON.stringify(plan, null, 1) + "\n");
    const est = runs.reduce((s, r) => s + r.estSeconds, 0);
    const widths = new Set(runs.map((r) => r.dim)).size;
    log(`plan: ${runs.length} runs over ${widths} widths, estimated ${fmtSeconds(est)} of training (budget ${o.budgetMinutes} min)`);
    if (est > o.budgetMinutes * 60) log(`  (the smallest useful grid, ${o.minSteps}+ steps per run, needs more than --budget ${o.budgetMinutes}; it runs anyway)`);
  }
  const results: RunResult[] = [];
  let complete = true;
  let actual = 0, estimated = 0;
  const pending = plan.runs.filter((r) => !fs.existsSync(path.join(o.out, "runs", r.name, RESULT_FILE)));
  for (const [i, r] of plan.runs.entries()) {
    const dir = path.join(o.out, "runs", r.name);
    const resultFile = path.join(dir, RESULT_FILE);
    if (fs.existsSync(resultFile)) {
      results.push(JSON.parse(fs.readFileSync(resultFile, "utf8")) as RunResult);
      log(`[${i + 1}/${plan.runs.length}] ${r.name}: done earlier`);
      continue;
    }
    const remaining = pending.slice(pending.indexOf(r)).reduce((s, p) => s + p.estSeconds, 0);
    const speed = estimated > 0 ? actual / estimated : 1;
    log(`[${i + 1}/${plan.runs.length}] ${r.name}: width ${r.dim}, ${r.tokens} tokens (${r.steps} steps), est ${fmtSeconds(r.estSeconds * speed)}; grid ETA ${fmtSeconds(remaining * speed)}`);
    const config = sweepShape(r.dim, vocab, { headDim: plan.headDim, gqa: plan.gqa, maxPositions: plan.seqLen });
    fs.mkdirSync(dir, { recursive: true });
    const configFile = path.join(o.out, "runs", `${r.name}.config.json`);
    if (!fs.existsSync(configFile)) writeFileAtomic(configFile, JSON.stringify(configToHf(config), null, 2) + "\n");
    let resume = false;
    try { Trainer.readState(dir); resume = true; } catch { /* nothing saved yet: start the run */ }
    const w0 = performance.now();
    const res = await trainRun({
      data: plan.data, out: dir, config: configFile, resume, steps: r.steps, totalSteps: r.steps, batch: plan.batch, seqLen: plan.seqLen,
      gradAccum: 1, lr: plan.lr, seed: plan.seed, saveEvery: Math.max(1, Math.ceil(r.steps / 5)), evalEvery: 0, evalBatches: plan.evalBatches,
      quiet: true,
    });
    const wall = (performance.now() - w0) / 1000;
    if (res.steps < r.steps) { complete = false; log(`stopped in ${r.name} at step ${res.steps}; rerun the same command to continue`); break; }
    if (res.valLoss === undefined) throw new UserError(`${plan.data}: the dataset has no held-out split, so the sweep cannot score runs (prepare it with a validation fraction > 0)`);
    actual += wall;
    estimated += r.estSeconds;
    const layout = paramLayout(config);
    const result: RunResult = {
      name: r.name, dim: r.dim, layers: config.numHiddenLayers, heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads,
      params: nonEmbeddingParams(config), paramsTotal: layout.total, tokens: r.tokens, steps: r.steps,
      flops6nd: 6 * nonEmbeddingParams(config) * r.tokens, flopsCounted: countedTrainingFlops(config, r.tokens, plan.seqLen),
      valLoss: res.valLoss, trainLoss: res.losses[res.losses.length - 1] ?? NaN, wallSeconds: wall,
      tokensPerSecond: res.tokensPerSecond, resumed: resume,
    };
    writeFileAtomic(resultFile, JSON.stringify(result, null, 1) + "\n");
    results.push(result);
    log(`    validation loss ${result.valLoss.toFixed(4)} (train ${result.trainLoss.toFixed(4)}), ${fmtSeconds(wall)}, ${Math.round(result.tokensPerSecond)} tokens/s`);
  }
  writeFileAtomic(path.join(o.out, "sweep.csv"), formatCsv(CSV_HEADER, results.map(resultRow)));
  const out: SweepResult = { results, complete };
  if (results.length >= 5) {
    const count = plan.count ?? "non-embedding";
    const obs: Observation[] = results.map((r) => ({ params: count === "total" ? r.paramsTotal : r.params, tokens: r.tokens, loss: r.valLoss }));
    const fit = fitScalingLaw(obs, { bootstrap: o.bootstrap, seed: o.seed });
    const trainFlops = Math.max(...obs.map((r) => 6 * r.params * r.tokens));
    let rec: Recommendation | undefined;
    try {
      rec = recommend(fit, trainFlops, o.serveTokens);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      log(`no recommendation: ${e.message}`);
    }
    writeFileAtomic(path.join(o.out, "fit.json"), JSON.stringify(fitJson(fit, 1e-3, rec), null, 2) + "\n");
    writeFileAtomic(path.join(o.out, "recommendation.txt"), fitText(fit, rec));
    writeFileAtomic(path.join(o.out, "isoflop.svg"), isoFlopSvg(obs, fit));
    if (rec) writeFileAtomic(path.join(o.out, "frontier.svg"), frontierSvg(fit, o.serveTokens, obs));
    out.fit = fit;
    if (rec) out.recommendation = rec;
  } else {
    log(`${results.length} finished runs; the fit needs at least 5`);
  }
  writeFileAtomic(path.join(o.out, "loss-vs-tokens.svg"), lossVsTokensSvg(results.map((r) => ({ label: `width ${r.dim}`, key: r.dim, tokens: r.tokens, loss: r.valLoss }))));
  return out;
}
