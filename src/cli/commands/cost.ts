import type { Command } from "commander";
import { COST_TYPES, costTable, DEFAULT_USD_PER_CORE_HOUR, EXTRAPOLATION_CONTEXT, runCost, type CostType } from "../../scaling/cost.js";
import { MODEL_HELP } from "../common.js";
import { parseIntList, parseNumberOption, UserError } from "../../util/errors.js";

interface CostCli { model: string; types: string; threads?: string; json?: boolean; usdPerCoreHour: string; promptTokens: string; decodeTokens: string }

export function register(program: Command): void {
  program
    .command("cost")
    .summary("inference cost: prefill/decode tokens/s, TTFT, peak memory, $ per million tokens; extrapolated to 7B-65B")
    .description(
      "Measure the inference cost of a model for each weight type (quantised in memory from the model and written as a " +
        "temporary GGUF) and thread count, each in a child process of its own: prefill and decode tokens/s, time to first " +
        "token, peak RSS, and USD per million generated tokens. Then extrapolate to the paper's 7B/13B/33B/65B shapes: " +
        "decode tokens/s = the measured matrix-vector bandwidth of that type / bytes of weights read per token; prefill " +
        `tokens/s = the measured matmul FLOP/s / (2 × matrix parameters); memory = weights + an f32 KV cache of ${EXTRAPOLATION_CONTEXT} positions. ` +
        "Every row says whether it is measured or extrapolated.\n\n" +
        "--json prints {\"model\", \"usd_per_core_hour\", \"prompt_tokens\", \"decode_tokens\", \"method\", " +
        "\"measured\": [{\"type\", \"threads\", \"prefill_tok_s\", \"decode_tok_s\", \"ttft_ms\", \"peak_rss_mb\", \"usd_per_mtok\", " +
        "\"bandwidth_gb_s\", \"matmul_gflop_s\", \"weight_mb\"}], \"extrapolated\": [{\"preset\", \"type\", \"threads\", \"prefill_tok_s\", " +
        "\"decode_tok_s\", \"ttft_ms\", \"peak_rss_mb\", \"usd_per_mtok\"}]}.\n\n" +
        "Examples:\n  llama-ts cost --model runs/start/model\n  llama-ts cost --model stories15M.gguf --types f32,q8_0,q4_0 --threads 1,2 --json",
    )
    .requiredOption("--model <path>", MODEL_HELP)
    .option("--types <list>", `weight types to measure (${COST_TYPES.join(", ")})`, "f32,f16,q8_0,q4_0")
    .option("--threads <list>", "thread counts to measure, e.g. 1,2 (default: the backend's current count)")
    .option("--json", "print the report as one JSON object")
    .option("--usd-per-core-hour <x>", "price of one core for one hour", String(DEFAULT_USD_PER_CORE_HOUR))
    .option("--prompt-tokens <n>", "prompt length for prefill and TTFT", "64")
    .option("--decode-tokens <n>", "tokens decoded for the decode rate", "32")
    .action(async (o: CostCli) => {
      const types = o.types.split(",").map((s) => s.trim()).filter((s) => s !== "");
      for (const t of types) if (!(COST_TYPES as readonly string[]).includes(t)) throw new UserError(`--types: "${t}" is not one of ${COST_TYPES.join(", ")}`);
      if (types.length === 0) throw new UserError(`--types needs at least one of ${COST_TYPES.join(", ")}`);
      const { getBackend } = await import("../../kernels/backend.js");
      const threads = o.threads !== undefined ? parseIntList(o.threads, "--threads") : [getBackend().threads];
      for (const t of threads) if (t < 1 || t > 1024) throw new UserError(`--threads: ${t} is not between 1 and 1024`);
      const report = runCost({
        model: o.model, types: [...new Set(types)] as CostType[], threads: [...new Set(threads)],
        promptTokens: parseNumberOption(o.promptTokens, "--prompt-tokens", { min: 1, integer: true }),
        decodeTokens: parseNumberOption(o.decodeTokens, "--decode-tokens", { min: 1, integer: true }),
        usdPerCoreHour: parseNumberOption(o.usdPerCoreHour, "--usd-per-core-hour", { min: 0 }),
        log: o.json ? () => {} : (line) => process.stderr.write(line + "\n"),
      });
      process.stdout.write(o.json ? JSON.stringify(report) + "\n" : costTable(report));
    });
}
