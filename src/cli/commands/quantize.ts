import type { Command } from "commander";
import { UserError } from "../../util/errors.js";
import { MODEL_HELP } from "../common.js";
import { GGUF_EXPORT_TYPES } from "../../formats/gguf-model.js";
import { addWriteSafetyOptions, runConvert, type ConvertOptions } from "./convert.js";

interface QuantizeOptions {
  model: string;
  type: string;
  out: string;
  name?: string;
  overwrite?: boolean;
  vocab?: boolean;
  allowRequantize?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command("quantize")
    .description(
      "Write a model as a GGUF file with quantised weights (GGUF block layouts, usable by llama.cpp):\n" +
        "q8_0 (8.5 bits/weight), q6_K (6.56), q5_K (5.5), q4_K (4.5), q4_0 (4.5), q3_K (3.44), q2_K (2.63), f16, or f32 (as convert),\n" +
        "and llama.cpp's mixtures q5_K_M / q4_K_M (attn_v and ffn_down at q6_K in the first and last eighth of the layers\n" +
        "and every third layer between). Norms stay f32; the output head is q6_K in K-quant files and q8_0 in q4_0 files; matrices\n" +
        "whose rows are not whole blocks fall back to q8_0, else f16.\n" +
        "An already quantised input is refused unless --allow-requantize (as llama.cpp's quantize).",
    )
    .requiredOption("--model <path>", MODEL_HELP)
    .requiredOption("--type <type>", GGUF_EXPORT_TYPES.join(", "))
    .requiredOption("--out <file.gguf>", "output GGUF file")
    .option("--name <name>", "general.name stored in the file");
  addWriteSafetyOptions(cmd)
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  llama-ts quantize --model TinyLlama-1.1B-Chat --type q4_0 --out tinyllama-q4_0.gguf\n" +
        "  llama-ts quantize --model model-f16.gguf --type q8_0 --out model-q8_0.gguf --overwrite",
    )
    .action((opts: QuantizeOptions) => {
      if (!(GGUF_EXPORT_TYPES as readonly string[]).includes(opts.type)) throw new UserError(`--type must be one of ${GGUF_EXPORT_TYPES.join(", ")}, got "${opts.type}"`);
      if (!opts.out.toLowerCase().endsWith(".gguf")) throw new UserError(`--out must be a .gguf file, got "${opts.out}"`);
      const o: ConvertOptions = { from: opts.model, to: opts.out, type: opts.type, binVersion: "0" };
      if (opts.name) o.name = opts.name;
      if (opts.overwrite) o.overwrite = true;
      if (opts.vocab === false) o.vocab = false;
      if (opts.allowRequantize) o.allowRequantize = true;
      runConvert(o);
    });
}
