import fs from "node:fs";
import type { Command } from "commander";
import { UserError } from "../../util/errors.js";
import { readTokenizerFile, saveAnyModel } from "../../formats/convert.js";
import { float32Params, loadModelSync } from "../../runtime/load.js";
import { SentencePieceTokenizer } from "../../tokenizer/tokenizer.js";
import { GGUF_EXPORT_TYPES, type GgufExportType } from "../../formats/gguf-model.js";

interface ConvertOptions {
  from: string;
  to: string;
  type?: string;
  tokenizer?: string;
  binVersion: string;
  name?: string;
}

export function parseExportType(t: string | undefined, flag = "--type"): GgufExportType | undefined {
  if (t === undefined) return undefined;
  if (!(GGUF_EXPORT_TYPES as readonly string[]).includes(t)) throw new UserError(`${flag} must be one of ${GGUF_EXPORT_TYPES.join(", ")}, got "${t}"`);
  return t as GgufExportType;
}

/** Reads `from`, writes `to`; prints one summary line (and notes on stderr). */
export function runConvert(opts: ConvertOptions): void {
  const type = parseExportType(opts.type);
  if (opts.binVersion !== "0" && opts.binVersion !== "1") throw new UserError(`--bin-version must be 0 (legacy, read by run.c) or 1 (ak42 header), got "${opts.binVersion}"`);
  const lm = loadModelSync(opts.from);
  const m = {
    config: lm.config,
    params: float32Params(lm),
    tokenizer: opts.tokenizer !== undefined ? readTokenizerFile(opts.tokenizer) : lm.tokenizer instanceof SentencePieceTokenizer ? lm.tokenizer.model : undefined,
  };
  const saveOpts: Parameters<typeof saveAnyModel>[2] = { llama2cVersion: opts.binVersion === "1" ? 1 : 0 };
  if (type) saveOpts.type = type;
  if (opts.name) saveOpts.name = opts.name;
  const notes = saveAnyModel(opts.to, m, saveOpts);
  for (const n of notes) process.stderr.write(`note: ${n}\n`);
  const st = fs.statSync(opts.to);
  const size = st.isDirectory() ? "" : `, ${(st.size / 1048576).toFixed(2)} MiB`;
  process.stdout.write(`wrote ${opts.to} (${type ?? "f32"}${size}) from ${opts.from} (${lm.format})\n`);
}

export function register(program: Command): void {
  program
    .command("convert")
    .description(
      "Convert a model between a Hugging Face folder, GGUF (.gguf) and llama2.c (.bin), chosen by path.\n" +
        "Also reads Meta's release folders (params.json + consolidated.NN.pth, model-parallel shards merged).\n" +
        `GGUF output takes --type ${GGUF_EXPORT_TYPES.join("|")} (default f32); folders and .bin files are float32.\n` +
        "q/k rows are permuted between our rotate_half layout and the interleaved RoPE layout of GGUF and llama2.c.",
    )
    .requiredOption("--from <path>", "model folder, .gguf file, llama2.c .bin file, or Meta folder with params.json + consolidated.NN.pth")
    .requiredOption("--to <path>", "output: a .gguf file, a .bin file, or a folder")
    .option("--type <type>", `GGUF tensor type: ${GGUF_EXPORT_TYPES.join(", ")}`)
    .option("--tokenizer <file>", "SentencePiece tokenizer.model to store with the output (e.g. for llama2.c input)")
    .option("--bin-version <v>", "llama2.c output format: 0 = legacy (run.c), 1 = ak42 header", "0")
    .option("--name <name>", "general.name for GGUF output")
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  llama-ts convert --from llama-2-7b --to llama-2-7b-hf          # Meta params.json + consolidated.*.pth -> HF folder\n" +
        "  llama-ts convert --from llama-2-7b-hf --to model.gguf --type f16",
    )
    .action((opts: ConvertOptions) => runConvert(opts));
}
