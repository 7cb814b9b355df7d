import type { Command } from "commander";
import { fitScalingLaw } from "../../scaling/fit.js";
import { readRunsCsv } from "../../scaling/csv.js";
import { recommend } from "../../scaling/recommend.js";
import { FIT_JSON_SHAPE, fitJson, fitText } from "../../scaling/report.js";
import { parseNumberOption } from "../../util/errors.js";

interface FitCli { csv: string; json?: boolean; bootstrap: string; seed: string; serveTokens?: string; trainFlops?: string }

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
        "least 5 rows. `llama-ts sweep` writes such a file (sweep.csv).\n\n" +
        `--json prints one object: ${FIT_JSON_SHAPE}\n\n` +
        "Examples:\n  llama-ts sweep fit --csv runs/sweep/sweep.csv\n  llama-ts sweep fit --csv runs.csv --json --serve-tokens 1e12",
    )
    .requiredOption("--csv <file>", "CSV with columns params,tokens,val_loss")
    .option("--json", "print the fit as one JSON object")
    .option("--bootstrap <n>", "bootstrap resamples for the intervals (0: none)", "200")
    .option("--seed <s>", "bootstrap seed", "0")
    .option("--serve-tokens <T>", "also recommend the (N, D) minimising 6ND + 2NT at the compute-optimal loss")
    .option("--train-flops <C>", "training compute for the recommendation (default: the largest 6ND in the CSV)")
    .action((o: FitCli) => {
      const obs = readRunsCsv(o.csv);
      const fit = fitScalingLaw(obs, {
        delta: DELTA,
        bootstrap: parseNumberOption(o.bootstrap, "--bootstrap", { min: 0, max: 100000, integer: true }),
        seed: parseNumberOption(o.seed, "--seed", { integer: true }),
      });
      const rec = o.serveTokens === undefined ? undefined : recommend(
        fit,
        o.trainFlops !== undefined ? parseNumberOption(o.trainFlops, "--train-flops", { min: 1 }) : Math.max(...obs.map((r) => 6 * r.params * r.tokens)),
        parseNumberOption(o.serveTokens, "--serve-tokens", { min: 0 }),
      );
      process.stdout.write(o.json ? JSON.stringify(fitJson(fit, DELTA, rec)) + "\n" : fitText(fit, rec));
    });
}

export function register(program: Command): void {
  const sweep = program
    .command("sweep")
    .summary("scaling-law sweep: train a grid of sizes × token budgets, fit L(N, D), recommend (N, D) for a serving budget");
  registerFit(sweep);
}
