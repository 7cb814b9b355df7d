import type { Command } from "commander";
import { UserError } from "../../util/errors.js";
import { runConvert } from "./convert.js";
import { GGUF_FILE_TYPES } from "../../formats/gguf-mixture.js";

/** quantize --type choices: every GGUF file type but f32. */
const QUANTIZE_TYPES: readonly string[] = GGUF_FILE_TYPES.filter((t) => t !== "f32");

interface QuantizeOptions {
  model: string;
  type: string;
  out: string;
  name?: string;
}

export function register(program: Command): void {
  program
    .command("quantize")
    .description(
      "Write a model as a GGUF file with quantised weights (GGUF block layouts, usable by llama.cpp):\n" +
        "q8_0 (8.5 bits/weight), q6_K (6.56), q5_K (5.5), q4_K (4.5), q4_0 (4.5), q3_K (3.44), q2_K (2.63) or f16, and\n" +
        "llama.cpp's mixtures q5_K_M / q4_K_M (attn_v and ffn_down at q6_K in the first and last eighth of the layers\n" +
        "and every third layer between). Norms stay f32; the output head is q6_K in K-quant files and q8_0 in q4_0 files; matrices\n" +
        "whose rows are not whole blocks fall back to q8_0, else f16.",
    )
    .requiredOption("--model <path>", "model folder (or a .gguf / llama2.c .bin file)")
    .requiredOption("--type <type>", QUANTIZE_TYPES.join(", "))
    .requiredOption("--out <file.gguf>", "output GGUF file")
    .option("--name <name>", "general.name stored in the file")
    .action((opts: QuantizeOptions) => {
      if (!QUANTIZE_TYPES.includes(opts.type)) throw new UserError(`--type must be one of ${QUANTIZE_TYPES.join(", ")}, got "${opts.type}"`);
      if (!opts.out.toLowerCase().endsWith(".gguf")) throw new UserError(`--out must be a .gguf file, got "${opts.out}"`);
      const o: Parameters<typeof runConvert>[0] = { from: opts.model, to: opts.out, type: opts.type, binVersion: "0" };
      if (opts.name) o.name = opts.name;
      runConvert(o);
    });
}
