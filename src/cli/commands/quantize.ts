import type { Command } from "commander";
import { UserError } from "../../util/errors.js";
import { runConvert } from "./convert.js";

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
        "q8_0 (8.5 bits/weight), q4_0 (4.5 bits/weight) or f16. Norms stay f32; in q4_0 files the output head is\n" +
        "q8_0; matrices whose rows are not a multiple of 32 fall back to f16.",
    )
    .requiredOption("--model <path>", "model folder (or a .gguf / llama2.c .bin file)")
    .requiredOption("--type <type>", "q8_0, q4_0 or f16")
    .requiredOption("--out <file.gguf>", "output GGUF file")
    .option("--name <name>", "general.name stored in the file")
    .action((opts: QuantizeOptions) => {
      if (!["q8_0", "q4_0", "f16"].includes(opts.type)) throw new UserError(`--type must be q8_0, q4_0 or f16, got "${opts.type}"`);
      if (!opts.out.toLowerCase().endsWith(".gguf")) throw new UserError(`--out must be a .gguf file, got "${opts.out}"`);
      const o: Parameters<typeof runConvert>[0] = { from: opts.model, to: opts.out, type: opts.type, binVersion: "0" };
      if (opts.name) o.name = opts.name;
      runConvert(o);
    });
}
