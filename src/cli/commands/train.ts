import type { Command } from "commander";
import { applyThreads } from "../common.js";
import { trainRun } from "../../train/run.js";
import { parseNumberOption, UserError } from "../../util/errors.js";

interface TrainCli {
  data: string; out: string; config?: string; init?: string; resume?: boolean; steps: string; batch: string;
  seqLen: string; gradAccum: string; lr: string; warmup?: string; minLrRatio: string; totalSteps?: string; wd: string;
  clip: string; order?: string; seed: string; dataDtype?: string; saveEvery: string; evalEvery: string; logJson?: boolean;
  threads?: string;
}

export function register(program: Command): void {
  program
    .command("train")
    .summary("train a LLaMA model with the paper's recipe (resumable)")
    .description(
      "Train a LLaMA model with the paper's recipe: AdamW (β1 0.9, β2 0.95, eps 1e-8, weight decay on matrices), " +
        "linear warm-up then cosine decay to --min-lr-ratio × --lr at --total-steps, global-norm clipping, gradient accumulation.\n\n" +
        "RUN_DIR becomes a Hugging Face model folder (generate/logits/eval take it directly) plus optimizer.safetensors, " +
        "trainer_state.json and loss.svg. Saves are atomic; --resume continues exactly where the run stopped (Ctrl-C saves).\n\n" +
        "Data contract for a raw token file with --order sequential: row r (0 <= r < B·A) of step s is the window " +
        "tokens[(s·B·A + r)·T : (s·B·A + r)·T + T + 1] (the file wraps around); the loss is the mean over all B·A·T targets.",
    )
    .requiredOption("--data <path>", "prepared dataset folder (llama-ts prepare) or a raw token file (tokens.bin)")
    .requiredOption("--out <dir>", "run folder to write (or to resume)")
    .option("--config <preset|file>", "model shape: a preset (tiny, small, stories15M, stories42M, stories110M, 7B, 13B, 33B, 65B) or a config.json; with a prepared dataset a preset takes its vocabulary", "small")
    .option("--init <dir>", "start from the weights of this model folder")
    .option("--resume", "continue the run in --out from its last save")
    .option("--steps <n>", "train until this many optimiser steps are done in total", "1000")
    .option("--batch <b>", "sequences per micro-batch (B)", "8")
    .option("--seq-len <t>", "tokens per sequence (T)", "128")
    .option("--grad-accum <a>", "micro-batches per optimiser step (A)", "1")
    .option("--lr <lr>", "peak learning rate", "3e-4")
    .option("--warmup <w>", "linear warm-up steps (default: min(2000, 10% of --total-steps))")
    .option("--min-lr-ratio <r>", "final learning rate as a fraction of --lr", "0.1")
    .option("--total-steps <n>", "length of the cosine schedule (default: --steps)")
    .option("--wd <wd>", "AdamW weight decay (on 2-D matrices only)", "0.1")
    .option("--clip <c>", "global gradient-norm clipping threshold", "1.0")
    .option("--order <order>", "sequential|shuffled (default: sequential for a token file, shuffled for a prepared dataset)")
    .option("--seed <s>", "seed for initialisation and data order", "0")
    .option("--data-dtype <dtype>", "uint16|int32: element type of a raw token file", "uint16")
    .option("--save-every <k>", "save the run folder every K steps (and always at the end)", "100")
    .option("--eval-every <k>", "validation loss every K steps (prepared datasets; 0 = only at the end)", "0")
    .option("--log-json", "print one JSON line per step: {\"step\", \"loss\", \"lr\", \"grad_norm\", \"tokens_per_s\"}")
    .option("--threads <n>", "kernel threads (default: all cores)")
    .action(async (o: TrainCli) => {
      applyThreads(o.threads);
      const int = (v: string, flag: string, min = 1): number => parseNumberOption(v, flag, { min, integer: true });
      if (o.order !== undefined && o.order !== "sequential" && o.order !== "shuffled") throw new UserError(`--order must be sequential or shuffled, got "${o.order}"`);
      if (o.dataDtype !== undefined && o.dataDtype !== "uint16" && o.dataDtype !== "int32") throw new UserError(`--data-dtype must be uint16 or int32, got "${o.dataDtype}"`);
      const steps = int(o.steps, "--steps");
      const result = await trainRun({
        data: o.data,
        out: o.out,
        ...(o.config !== undefined ? { config: o.config } : {}),
        ...(o.init !== undefined ? { init: o.init } : {}),
        resume: o.resume === true,
        steps,
        batch: int(o.batch, "--batch"),
        seqLen: int(o.seqLen, "--seq-len"),
        gradAccum: int(o.gradAccum, "--grad-accum"),
        lr: parseNumberOption(o.lr, "--lr", { min: 0 }),
        ...(o.warmup !== undefined ? { warmup: int(o.warmup, "--warmup", 0) } : {}),
        minLrRatio: parseNumberOption(o.minLrRatio, "--min-lr-ratio", { min: 0, max: 1 }),
        ...(o.totalSteps !== undefined ? { totalSteps: int(o.totalSteps, "--total-steps") } : {}),
        weightDecay: parseNumberOption(o.wd, "--wd", { min: 0 }),
        clip: parseNumberOption(o.clip, "--clip", { min: 0 }),
        ...(o.order !== undefined ? { order: o.order as "sequential" | "shuffled" } : {}),
        seed: parseNumberOption(o.seed, "--seed", { integer: true }),
        ...(o.dataDtype !== undefined ? { dataDtype: o.dataDtype as "uint16" | "int32" } : {}),
        saveEvery: int(o.saveEvery, "--save-every", 0),
        evalEvery: int(o.evalEvery, "--eval-every", 0),
        logJson: o.logJson === true,
      });
      if (!o.logJson) {
        const last = result.losses[result.losses.length - 1];
        process.stderr.write(
          `done: ${result.steps} steps, last loss ${last?.toFixed(4) ?? "-"}` +
            `${result.valLoss !== undefined ? `, validation loss ${result.valLoss.toFixed(4)}` : ""}` +
            `, ${Math.round(result.tokensPerSecond)} tokens/s; run folder ${result.runDir}, loss curve ${result.curvePath}\n`,
        );
      }
    });
}
