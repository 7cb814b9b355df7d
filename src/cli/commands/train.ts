import { Option, type Command } from "commander";
import { applyThreads } from "../common.js";
import { RESUME_OVERRIDABLE, TRAIN_DEFAULTS, TRAIN_LIMITS, trainRun, type TrainRunOptions, type TrainRunResult } from "../../train/run.js";
import { trainFromText } from "../../train/text.js";
import { parseNumberOption, UserError } from "../../util/errors.js";

interface TrainCli {
  data?: string; text?: string; vocabSize?: string; out: string; config?: string; init?: string; resume?: boolean; overwrite?: boolean;
  // Flags with a default hold a number until the user types them (only typed ones are read).
  steps: string; batch: string; seqLen: string; gradAccum: string; lr: string; warmup?: string; minLrRatio: string; totalSteps?: string;
  wd: string; clip: string; order?: string; seed: string; dataDtype?: string; saveEvery: string; evalEvery: string; logJson?: boolean;
  threads?: string;
}

/** An integer flag within [min, max]; the error names the allowed range. */
function intInRange(text: string, flag: string, min: number, max: number): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || !Number.isInteger(v)) throw new UserError(`${flag}: "${text}" is not an integer (allowed range ${min}..${max})`);
  if (v < min || v > max) throw new UserError(`${flag}: ${text} is outside the allowed range ${min}..${max}`);
  return v;
}

export function register(program: Command): void {
  program
    .command("train")
    .summary("train a LLaMA model with the paper's recipe (resumable)")
    .description(
      "Train a LLaMA model with the paper's recipe: AdamW (β1 0.9, β2 0.95, eps 1e-8, weight decay on matrices), " +
        "linear warm-up then cosine decay to --min-lr-ratio × --lr at --total-steps, global-norm clipping, gradient accumulation.\n\n" +
        "RUN_DIR becomes a Hugging Face model folder (generate/logits/eval take it directly) plus checkpoint/optimizer.safetensors, " +
        "trainer_state.json and loss.svg (loss, smoothed loss, validation, learning rate; rewritten at every save). Saves are atomic. " +
        "A new run needs a new or empty --out (or --overwrite, which replaces only a run's own files); one training per folder (a lock file). " +
        "Ctrl-C saves and exits with 130.\n\n" +
        "--resume continues the run in --out exactly where it stopped, with its saved options (data, seed, batch, schedule, ...); " +
        `flags given with it must equal the saved ones, except ${RESUME_OVERRIDABLE.join(", ")} (--data: where the same data now is).\n\n` +
        "--text FILE trains from one text file in one command: a BPE tokenizer on it (vocabulary from its size), shards in RUN/data, " +
        "and the small model for about 4 epochs (50..2000 steps); it prints what it chose, and every flag given replaces a choice.\n\n" +
        "Data contract for a raw token file with --order sequential: row r (0 <= r < B·A) of step s is the window " +
        "tokens[(s·B·A + r)·T : (s·B·A + r)·T + T + 1] (the file wraps around); the loss is the mean over all B·A·T targets.\n\n" +
        "Examples:\n" +
        "  llama-ts train --text corpus.txt --out runs/mine\n" +
        "  llama-ts train --data data/ --config small --steps 2000 --out runs/small\n" +
        "  llama-ts train --resume --out runs/small --steps 4000\n" +
        "  llama-ts train --resume --out runs/start/model --steps 3000   # npm start's run",
    )
    .option("--data <path>", "prepared dataset folder (llama-ts prepare) or a raw token file (tokens.bin); a resumed run defaults to its own")
    .option("--text <file>", "train from one text file: tokenizer, shards (in RUN/data) and a small model, in one command")
    .option("--vocab-size <n>", "with --text: tokenizer vocabulary (default: 512..8192 from the file's size)")
    .requiredOption("--out <dir>", "run folder to write (or to resume)")
    .option("--config <preset|file>", "model shape: a preset (tiny, small, stories15M, stories42M, stories110M, 7B, 13B, 33B, 65B) or a config.json; with a prepared dataset a preset takes its vocabulary", TRAIN_DEFAULTS.config)
    .option("--init <dir>", "start from the weights of this model folder")
    .option("--resume", "continue the run in --out from its last save, with its saved options")
    .option("--overwrite", "start a new run in a non-empty --out (replaces a previous run's files; deletes nothing else)")
    .addOption(new Option("--steps <n>", `train until this many optimiser steps are done in total (1..${TRAIN_LIMITS.steps})`).default(TRAIN_DEFAULTS.steps))
    .addOption(new Option("--batch <b>", `sequences per micro-batch (B, 1..${TRAIN_LIMITS.batch})`).default(TRAIN_DEFAULTS.batch))
    .addOption(new Option("--seq-len <t>", `tokens per sequence (T, 1..${TRAIN_LIMITS.seqLen})`).default(TRAIN_DEFAULTS.seqLen))
    .addOption(new Option("--grad-accum <a>", `micro-batches per optimiser step (A, 1..${TRAIN_LIMITS.gradAccum})`).default(TRAIN_DEFAULTS.gradAccum))
    .addOption(new Option("--lr <lr>", "peak learning rate").default(TRAIN_DEFAULTS.lr))
    .option("--warmup <w>", "linear warm-up steps (default: min(2000, 10% of --total-steps))")
    .addOption(new Option("--min-lr-ratio <r>", "final learning rate as a fraction of --lr").default(TRAIN_DEFAULTS.minLrRatio))
    .option("--total-steps <n>", "length of the cosine schedule (default: --steps)")
    .addOption(new Option("--wd <wd>", "AdamW weight decay (on 2-D matrices only)").default(TRAIN_DEFAULTS.weightDecay))
    .addOption(new Option("--clip <c>", "global gradient-norm clipping threshold").default(TRAIN_DEFAULTS.clip))
    .option("--order <order>", "sequential|shuffled (default: sequential for a token file, shuffled for a prepared dataset)")
    .addOption(new Option("--seed <s>", "seed for initialisation and data order").default(TRAIN_DEFAULTS.seed))
    .option("--data-dtype <dtype>", "uint16|int32: element type of a raw token file (default uint16)")
    .addOption(new Option("--save-every <k>", "save the run folder every K steps (and always at the end)").default(TRAIN_DEFAULTS.saveEvery))
    .addOption(new Option("--eval-every <k>", "validation loss every K steps (prepared datasets; 0 = only at the end)").default(TRAIN_DEFAULTS.evalEvery))
    .option("--log-json", "print one JSON line per step: {\"step\", \"loss\", \"lr\", \"grad_norm\", \"tokens_per_s\"}")
    .option("--threads <n>", "kernel threads (default: every core if a start-up measurement finds them faster than one, else 1)")
    .action(async (o: TrainCli, cmd: Command) => {
      applyThreads(o.threads);
      // Only the flags the user typed: defaults come from TRAIN_DEFAULTS (a new run) or the saved run (--resume).
      const given = (name: keyof TrainCli): boolean => cmd.getOptionValueSource(name) === "cli";
      const int = (name: keyof TrainCli, flag: string, min: number, max: number): number | undefined =>
        given(name) ? intInRange(o[name] as string, flag, min, max) : undefined;
      const num = (name: keyof TrainCli, flag: string, range: { min?: number; max?: number }): number | undefined =>
        given(name) ? parseNumberOption(o[name] as string, flag, range) : undefined;
      if (o.order !== undefined && o.order !== "sequential" && o.order !== "shuffled") throw new UserError(`--order must be sequential or shuffled, got ${JSON.stringify(o.order)}`);
      if (o.dataDtype !== undefined && o.dataDtype !== "uint16" && o.dataDtype !== "int32") throw new UserError(`--data-dtype must be uint16 or int32, got ${JSON.stringify(o.dataDtype)}`);
      if (o.vocabSize !== undefined && o.text === undefined) throw new UserError("--vocab-size goes with --text (a prepared dataset has its tokenizer)");
      const picked: Record<string, unknown> = {
        data: o.data,
        config: given("config") ? o.config : undefined,
        init: o.init,
        steps: int("steps", "--steps", 1, TRAIN_LIMITS.steps),
        batch: int("batch", "--batch", 1, TRAIN_LIMITS.batch),
        seqLen: int("seqLen", "--seq-len", 1, TRAIN_LIMITS.seqLen),
        gradAccum: int("gradAccum", "--grad-accum", 1, TRAIN_LIMITS.gradAccum),
        lr: num("lr", "--lr", { min: 0 }),
        warmup: int("warmup", "--warmup", 0, TRAIN_LIMITS.warmup),
        minLrRatio: num("minLrRatio", "--min-lr-ratio", { min: 0, max: 1 }),
        totalSteps: int("totalSteps", "--total-steps", 1, TRAIN_LIMITS.totalSteps),
        weightDecay: num("wd", "--wd", { min: 0 }),
        clip: num("clip", "--clip", { min: 0 }),
        order: o.order,
        seed: given("seed") ? parseNumberOption(o.seed, "--seed", { integer: true }) : undefined,
        dataDtype: o.dataDtype,
        saveEvery: int("saveEvery", "--save-every", 0, TRAIN_LIMITS.saveEvery),
        evalEvery: int("evalEvery", "--eval-every", 0, TRAIN_LIMITS.evalEvery),
      };
      const opts = Object.fromEntries(Object.entries(picked).filter(([, v]) => v !== undefined)) as Partial<TrainRunOptions>;
      const common: TrainRunOptions = { ...opts, out: o.out, resume: o.resume === true, overwrite: o.overwrite === true, logJson: o.logJson === true };
      if (o.resume && o.overwrite) throw new UserError("--resume and --overwrite exclude each other (continue the run, or start a new one over it)");
      let result: TrainRunResult;
      if (o.text !== undefined) {
        const vocabSize = o.vocabSize !== undefined ? intInRange(o.vocabSize, "--vocab-size", 300, 65536) : undefined;
        result = await trainFromText({ ...common, text: o.text, ...(vocabSize !== undefined ? { vocabSize } : {}) });
      } else {
        result = await trainRun(common);
      }
      if (result.interrupted) process.exitCode = 130;
      if (!o.logJson) {
        const last = result.losses[result.losses.length - 1];
        process.stderr.write(
          `${result.interrupted ? "stopped" : "done"}: ${result.steps} steps, last loss ${last?.toFixed(4) ?? "-"}` +
            `${result.valLoss !== undefined ? `, validation loss ${result.valLoss.toFixed(4)}` : ""}` +
            `, ${Math.round(result.tokensPerSecond)} tokens/s; run folder ${result.runDir}, loss curve ${result.curvePath}\n`,
        );
      }
    });
}
