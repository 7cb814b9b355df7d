import type { Command } from "commander";
import { applyThreads, checkTokenIds, MODEL_HELP } from "../common.js";
import { loadModel } from "../../runtime/load.js";
import { parseIntList, UserError } from "../../util/errors.js";

export function register(program: Command): void {
  program
    .command("logits")
    .summary("print output logits for a token sequence as JSON")
    .description("Print the model's output logits for a token sequence as JSON: {\"logits\": [[...vocab floats...], ...]}, one row per input position.")
    .requiredOption("--model <path>", MODEL_HELP)
    .requiredOption("--tokens <ids>", "comma-separated input token ids, e.g. 1,2,3")
    .option("--last", "print only the last position's row")
    .option("--threads <n>", "kernel threads (default: every core if a start-up measurement finds them faster than one, else 1)")
    .action(async (opts: { model: string; tokens: string; last?: boolean; threads?: string }) => {
      applyThreads(opts.threads);
      const tokens = parseIntList(opts.tokens, "--tokens");
      const { model } = await loadModel(opts.model);
      checkTokenIds(tokens, model.config.vocabSize, "--tokens");
      if (tokens.length > model.config.maxPositionEmbeddings) {
        throw new UserError(`--tokens: ${tokens.length} tokens exceed the context length ${model.config.maxPositionEmbeddings}`);
      }
      const logits = model.forward(tokens, model.newCache(tokens.length), !opts.last);
      const V = model.config.vocabSize;
      const rows: number[][] = [];
      for (let r = 0; r < logits.length / V; r++) rows.push(Array.from(logits.subarray(r * V, (r + 1) * V)));
      process.stdout.write(JSON.stringify({ logits: rows }) + "\n");
    });
}
