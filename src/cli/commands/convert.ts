import fs from "node:fs";
import type { Command } from "commander";
import { UserError } from "../../util/errors.js";
import { saveAnyModel, type LoadedWeights, type SaveOptions } from "../../formats/convert.js";
import { HfTokenizer } from "../../tokenizer/hf-json.js";
import { loadTokenizer } from "../../tokenizer/load.js";
import { isQuantMatrix, type Weight } from "../../kernels/quant.js";
import type { ModelTensors } from "../../model/params.js";
import { float32Params, loadModelSync } from "../../runtime/load.js";
import { SentencePieceTokenizer } from "../../tokenizer/tokenizer.js";
import { GGUF_EXPORT_TYPES, type GgufExportType } from "../../formats/gguf-model.js";

export interface ConvertOptions {
  from: string;
  to: string;
  type?: string;
  tokenizer?: string;
  binVersion: string;
  name?: string;
  overwrite?: boolean;
  /** commander's --no-vocab sets this to false. */
  vocab?: boolean;
  force?: boolean;
  allowRequantize?: boolean;
  dtype?: string;
}

export function parseExportType(t: string | undefined, flag = "--type"): GgufExportType | undefined {
  if (t === undefined) return undefined;
  if (!(GGUF_EXPORT_TYPES as readonly string[]).includes(t)) throw new UserError(`${flag} must be one of ${GGUF_EXPORT_TYPES.join(", ")}, got "${t}"`);
  return t as GgufExportType;
}

/** The storage types of a loaded model's weights ("Q8_0", "F16", "F32"), each once. */
function storedTypes(w: ModelTensors<Weight>): string[] {
  const all: Weight[] = [w.embedTokens, w.finalNorm, w.lmHead, ...w.layers.flatMap((l) => Object.values(l) as Weight[])];
  return [...new Set(all.map((x) => (isQuantMatrix(x) ? x.type.toUpperCase() : "F32")))];
}

/** Reads `from`, writes `to`; prints one summary line (and notes on stderr). */
export function runConvert(opts: ConvertOptions): void {
  const type = parseExportType(opts.type);
  if (opts.binVersion !== "0" && opts.binVersion !== "1") throw new UserError(`--bin-version must be 0 (legacy, read by run.c) or 1 (ak42 header), got "${opts.binVersion}"`);
  const lm = loadModelSync(opts.from);
  const tok = opts.tokenizer !== undefined ? loadTokenizer(opts.tokenizer) : lm.tokenizer;
  const tokSource = opts.tokenizer ?? lm.tokenizerSource;
  const m: LoadedWeights = {
    config: lm.config,
    params: float32Params(lm),
    tokenizer: tok instanceof SentencePieceTokenizer ? tok.model : undefined,
    tensorTypes: storedTypes(lm.model.weights),
  };
  if (tok instanceof HfTokenizer) {
    m.hfTokenizer = tok;
    if (tokSource?.endsWith(".json")) m.hfTokenizerFile = tokSource;
  }
  const saveOpts: SaveOptions = {
    llama2cVersion: opts.binVersion === "1" ? 1 : 0,
    overwrite: opts.overwrite === true,
    noVocab: opts.vocab === false,
    force: opts.force === true,
    allowRequantize: opts.allowRequantize === true,
  };
  if (type) saveOpts.type = type;
  if (opts.dtype !== undefined) {
    if (!["f32", "f16", "bf16"].includes(opts.dtype)) throw new UserError(`--dtype must be f32, f16 or bf16, got "${opts.dtype}"`);
    saveOpts.dtype = opts.dtype as "f32" | "f16" | "bf16";
  }
  if (opts.name) saveOpts.name = opts.name;
  const notes = saveAnyModel(opts.to, m, saveOpts);
  for (const n of notes) process.stderr.write(`note: ${n}\n`);
  const st = fs.statSync(opts.to);
  const size = st.isDirectory() ? "" : `, ${(st.size / 1048576).toFixed(2)} MiB`;
  process.stdout.write(`wrote ${opts.to} (${type ?? "f32"}${size}) from ${opts.from} (${lm.format})\n`);
}

/** The output-safety options convert and quantize share. */
export function addWriteSafetyOptions(cmd: Command): Command {
  return cmd
    .option("--overwrite", "replace existing output files (refused otherwise)")
    .option("--no-vocab", "allow writing a GGUF without a tokenizer (llama.cpp-based tools abort on such a file)")
    .option("--allow-requantize", "quantise weights that are already quantised (q8_0/q4_0/...), losing more precision");
}

export function register(program: Command): void {
  const cmd = program
    .command("convert")
    .description(
      "Convert a model between a Hugging Face folder, GGUF (.gguf) and llama2.c (.bin), chosen by path.\n" +
        "Also reads Meta's release folders (params.json + consolidated.NN.pth, model-parallel shards merged).\n" +
        `GGUF output takes --type ${GGUF_EXPORT_TYPES.join("|")} (default f32); folders take --dtype f32|f16|bf16; .bin files are float32.\n` +
        "q/k rows are permuted between our rotate_half layout and the interleaved RoPE layout of GGUF and llama2.c.\n" +
        "A .bin gets llama2.c's tokenizer.bin beside it when the model has a tokenizer.\n" +
        "Existing outputs are never replaced without --overwrite.",
    )
    .requiredOption("--from <path>", "model folder, .gguf file, llama2.c .bin file, or Meta folder with params.json + consolidated.NN.pth")
    .requiredOption("--to <path>", "output: a .gguf file, a .bin file, or a folder")
    .option("--type <type>", `GGUF tensor type: ${GGUF_EXPORT_TYPES.join(", ")}`)
    .option("--tokenizer <file>", "tokenizer.model or tokenizer.json to store with the output (e.g. for llama2.c input)")
    .option("--bin-version <v>", "llama2.c output format: 0 = legacy (run.c), 1 = ak42 header", "0")
    .option("--name <name>", "general.name for GGUF output")
    .option("--dtype <dtype>", "folder output: model.safetensors as f32, f16 or bf16 (default f32)")
    .option("--force", "write a llama2.c .bin even though it cannot hold the model's rms_norm_eps (run.c assumes 1e-5)");
  addWriteSafetyOptions(cmd)
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  llama-ts convert --from llama-2-7b --to llama-2-7b-hf          # Meta params.json + consolidated.*.pth -> HF folder\n" +
        "  llama-ts convert --from TinyLlama-1.1B-Chat --to tinyllama-q8.gguf --type q8_0\n" +
        "  llama-ts convert --from stories15M.bin --tokenizer tokenizer.model --to stories15M\n" +
        "  llama-ts convert --from model.gguf --to out/model.bin   # also writes out/tokenizer.bin\n" +
        "  llama-ts convert --from runs/start/model --to shared-model --dtype bf16\n" +
        "  llama-ts convert --from run/ --to run.gguf --overwrite",
    )
    .action((opts: ConvertOptions) => runConvert(opts));
}
