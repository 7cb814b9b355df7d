import type { Command } from "commander";
import { fitScalingLaw } from "../../scaling/fit.js";
import { readRunsCsv } from "../../scaling/csv.js";
import { recommend } from "../../scaling/recommend.js";
import { FIT_JSON_SHAPE, fitJson, fitText } from "../../scaling/report.js";
import fs from "node:fs";
import path from "node:path";
import { runSweep } from "../../scaling/sweep.js";
import { applyThreads } from "../common.js";
import { parseIntList, parseNumberOption, UserError } from "../../util/errors.js";

interface FitCli { csv: string; paramsColumn: string; json?: boolean; bootstrap: string; seed: string; serveTokens?: string; trainFlops?: string }

const DELTA = 1e-3;

function registerFit(sweep: Command): void {
  sweep
    .command("fit")
    .summary("fit L(N, D) = E + A/N^alpha + B/D^beta to a CSV of runs")
    .description(
      "Fit the Chinchilla \"approach 3\" law L(N, D) = E + A/N^alpha + B/D^beta to runs in a CSV file: Huber loss " +
        "(delta 1e-3) on log-loss, L-BFGS from the paper's grid of 4500 initialisations, 95 % intervals from a seeded " +
        "bootstrap over runs; plus the IsoFLOP minima (\"approach 2\") where several sizes share a compute budget.\n\n" +
        "The CSV needs a header with the columns params,tokens,val_loss (any order; other columns are ignored) and at " +
        "least 5 rows. `llama-ts sweep` writes such a file (sweep.csv); --params-column params_total fits its total " +
        "parameter counts instead of the non-embedding ones.\n\n" +
        `--json prints one object: ${FIT_JSON_SHAPE}\n\n` +
        "Examples:\n  llama-ts sweep fit --csv runs/sweep/sweep.csv\n  llama-ts sweep fit --csv runs.csv --json --serve-tokens 1e12\n" +
        "  llama-ts sweep fit --csv runs/sweep/sweep.csv --params-column params_total",
    )
    .requiredOption("--csv <file>", "CSV with columns params,tokens,val_loss")
    .option("--params-column <name>", "the CSV column read as N", "params")
    .option("--json", "print the fit as one JSON object")
    .option("--bootstrap <n>", "bootstrap resamples for the intervals (0: none)", "200")
    .option("--seed <s>", "bootstrap seed", "0")
    .option("--serve-tokens <T>", "also recommend the (N, D) minimising 6ND + 2NT at the compute-optimal loss")
    .option("--train-flops <C>", "training compute for the recommendation (default: the largest 6ND in the CSV)")
    .action((o: FitCli) => {
      const obs = readRunsCsv(o.csv, o.paramsColumn);
      const fit = fitScalingLaw(obs, {
        delta: DELTA,
        bootstrap: parseNumberOption(o.bootstrap, "--bootstrap", { min: 0, max: 100000, integer: true }),
        seed: parseNumberOption(o.seed, "--seed", { integer: true }),
      });
      let rec: ReturnType<typeof recommend> | undefined;
      if (o.serveTokens !== undefined) {
        const flops = o.trainFlops !== undefined ? parseNumberOption(o.trainFlops, "--train-flops", { min: 1 }) : Math.max(...obs.map((r) => 6 * r.params * r.tokens));
        const serve = parseNumberOption(o.serveTokens, "--serve-tokens", { min: 0 });
        try {
          rec = recommend(fit, flops, serve);
        } catch (e) {
          if (e instanceof RangeError) throw new UserError(`--serve-tokens: ${e.message}`);
          throw e;
        }
      }
      process.stdout.write(o.json ? JSON.stringify(fitJson(fit, DELTA, rec)) + "\n" : fitText(fit, rec));
    });
}

interface SweepCli {
  data?: string; out: string; budget: string; sizes: string; tokens?: string; flops?: string; params: string; threads?: string; serveTokens: string; seqLen: string;
  batch: string; lr: string; seed: string; headDim: string; gqa: string; minSteps: string; evalBatches: string; bootstrap: string;
}

/** Where `npm start` (llama-ts start, default --out runs/start) writes its prepared dataset. */
const START_DATA = path.join("runs", "start", "data");

function parseNumberList(text: string, flag: string): number[] {
  const parts = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (parts.length === 0) throw new UserError(`${flag} needs at least one number, e.g. ${flag} 4096,16384`);
  return parts.map((p) => parseNumberOption(p, flag, { min: 1 }));
}

export function register(program: Command): void {
  const sweep = program
    .command("sweep")
    .enablePositionalOptions() // `sweep fit --seed ...` belongs to fit, not to sweep
    .summary("scaling-law sweep: train a grid of sizes × token budgets, fit L(N, D), recommend (N, D) for a serving budget")
    .description(
      "Train a grid of small LLaMA shapes × token budgets on a prepared dataset with the paper's recipe (AdamW 0.9/0.95, " +
        "weight decay 0.1, clip 1.0, warm-up and a cosine schedule sized to each run), score each by held-out loss, fit " +
        "L(N, D) = E + A/N^alpha + B/D^beta (Chinchilla approach 3, bootstrap intervals) and the IsoFLOP minima (approach 2), " +
        "and recommend the (N, D) minimising training + inference FLOPs 6ND + 2NT for --serve-tokens T at the loss of the " +
        "compute-optimal model for the grid's largest compute.\n\n" +
        "Shapes: width d from --sizes, head dim --head-dim, d/head-dim heads (/ --gqa kv heads), round(d/32) layers, " +
        "SwiGLU hidden ffnHiddenSize(d, 16). N is the non-embedding parameter count (Kaplan et al.), or with --params " +
        "total every parameter (Hoffmann et al.; at these widths the embedding and head are most of the model).\n\n" +
        "Grid: by default an IsoFLOP design (3 compute budgets ×3 apart, each width trained for D = C/(6N)) sized by a " +
        "short calibration to fit --budget; a small budget drops the widest sizes and the top budget but keeps at least " +
        "6 runs over 3 sizes. --flops C1,C2,... fixes the budgets instead (the same grid on any machine); --tokens " +
        "D1,D2,... trains every width on each listed token count instead.\n\n" +
        "Resumable: OUT/plan.json fixes the grid; each run trains in OUT/runs/NAME (saved every ~20 % of its steps; " +
        "result.json marks it done). Rerun the same command after a kill or Ctrl-C to continue.\n\n" +
        "Writes OUT/sweep.csv (run, dim, layers, heads, kv_heads, params [non-embedding], params_total, tokens, steps, " +
        "flops_6nd, flops_counted [from the shape, incl. attention and head], val_loss, train_loss, wall_s, tokens_per_s, " +
        "resumed), fit.json (the `sweep fit --json` object with its recommendation), recommendation.txt, loss-vs-tokens.svg, " +
        "isoflop.svg and frontier.svg.\n\n" +
        "Examples:\n  npm start && llama-ts sweep --out runs/sweep\n  llama-ts sweep --data data/prepared --out runs/sweep --budget 6 --serve-tokens 1e9\n" +
        "  llama-ts sweep --out runs/sweep30 --params total --sizes 16,24,32,48,64,96,128 --flops 1e12,3e12,9e12\n" +
        "  llama-ts sweep fit --csv runs/sweep/sweep.csv --json",
    )
    .option("--data <dir>", `prepared dataset (llama-ts prepare); default: ${START_DATA} from npm start`)
    .option("--out <dir>", "sweep folder (created, or continued when it holds a plan.json)", "runs/sweep")
    .option("--budget <minutes>", "wall-clock budget for the whole grid", "30")
    .option("--sizes <list>", "model widths d", "32,48,64,96,128")
    .option("--tokens <list>", "fixed training token counts D for every width (default: the IsoFLOP design)")
    .option("--flops <list>", "fixed IsoFLOP budgets C = 6ND (default: sized by a calibration to fit --budget)")
    .option("--params <count>", "N for the design and the fit: non-embedding or total", "non-embedding")
    .option("--serve-tokens <T>", "tokens expected at inference, for the recommendation", "1e12")
    .option("--seq-len <t>", "tokens per sequence", "64")
    .option("--batch <b>", "sequences per step", "8")
    .option("--lr <lr>", "peak learning rate (cosine to 10 %)", "2e-3")
    .option("--head-dim <h>", "attention head dimension", "16")
    .option("--gqa <g>", "query heads per key-value head (1: multi-head attention)", "1")
    .option("--min-steps <n>", "fewest optimiser steps of any run", "20")
    .option("--eval-batches <n>", "held-out batches per run's validation loss", "8")
    .option("--bootstrap <n>", "bootstrap resamples for the fit's intervals", "200")
    .option("--seed <s>", "seed for initialisation, data order and the bootstrap", "0")
    .option("--threads <n>", "kernel threads (default: every core if a start-up measurement finds them faster than one, else 1)")
    .action(async (o: SweepCli) => {
      applyThreads(o.threads);
      let data = o.data;
      if (data === undefined) {
        if (!fs.existsSync(path.join(START_DATA, "manifest.json"))) {
          throw new UserError(`no --data given and no npm start dataset at ${START_DATA}; run \`npm start\` first or prepare one with \`llama-ts prepare\` and pass --data DIR`);
        }
        data = START_DATA;
      } else if (!fs.existsSync(path.join(data, "manifest.json"))) {
        throw new UserError(`--data ${data}: not a prepared dataset (no manifest.json); prepare one with \`llama-ts prepare\``);
      }
      const int = (v: string, flag: string, min = 1): number => parseNumberOption(v, flag, { min, integer: true });
      const sizes = parseIntList(o.sizes, "--sizes");
      if (sizes.some((s) => s < 2)) throw new UserError("--sizes: widths must be at least 2");
      if (new Set(sizes).size < 3) throw new UserError(`--sizes: a fit needs at least 3 different widths, got ${o.sizes}`);
      if (o.params !== "non-embedding" && o.params !== "total") throw new UserError(`--params must be non-embedding or total, got "${o.params}"`);
      if (o.flops !== undefined && o.tokens !== undefined) throw new UserError("--flops and --tokens are two different grids; give one");
      const r = await runSweep({
        data, out: o.out,
        budgetMinutes: parseNumberOption(o.budget, "--budget", { min: 0.1 }),
        sizes: [...new Set(sizes)].sort((a, b) => a - b),
        ...(o.tokens !== undefined ? { tokens: parseNumberList(o.tokens, "--tokens") } : {}),
        ...(o.flops !== undefined ? { flops: parseNumberList(o.flops, "--flops") } : {}),
        count: o.params,
        seqLen: int(o.seqLen, "--seq-len"), batch: int(o.batch, "--batch"), lr: parseNumberOption(o.lr, "--lr", { min: 0 }),
        seed: parseNumberOption(o.seed, "--seed", { integer: true }), headDim: int(o.headDim, "--head-dim", 2), gqa: int(o.gqa, "--gqa"),
        minSteps: int(o.minSteps, "--min-steps"), evalBatches: int(o.evalBatches, "--eval-batches"),
        serveTokens: parseNumberOption(o.serveTokens, "--serve-tokens", { min: 0 }),
        bootstrap: int(o.bootstrap, "--bootstrap", 0),
        log: (line) => process.stderr.write(line + "\n"),
      });
      if (r.fit) process.stdout.write(fitText(r.fit, r.recommendation));
      process.stdout.write(`${r.complete ? "sweep complete" : "sweep stopped (rerun to continue)"}: ${r.results.length} runs; outputs in ${o.out} (sweep.csv, fit.json, recommendation.txt, *.svg)\n`);
    });
  registerFit(sweep);
}
