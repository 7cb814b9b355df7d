/**
 * Conversions between model files: a Hugging Face folder, GGUF (f32/f16/q8_0/q4_0, K-quants and their _M mixtures: gguf-mixture.ts) and
 * llama2.c `.bin` (legacy or version 1). The format is chosen by the path: a `.gguf` file, a
 * `.bin` file, or otherwise a folder (a name with dots such as `TinyLlama-1.1B-Chat` is a folder;
 * only extensions of other model or data files are refused). Everything passes through float32
 * parameters in our layout. (Reading is runtime/load.ts's `loadModel` + `float32Params`; it also
 * reads Meta's release folders, params.json + consolidated.NN.pth, which are never written.)
 *
 * Writing is safe by default: existing output files are refused unless `overwrite`; a GGUF
 * without a tokenizer (which llama.cpp-based tools abort on) unless `noVocab`; a llama2.c file
 * that would lose the model's rms_norm_eps unless `force`; re-quantising already quantised
 * weights unless `allowRequantize` (llama.cpp's rule). A llama2.c `.bin` gets the
 * `tokenizer.bin` run.c reads beside it when the model has a tokenizer.
 */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../util/errors.js";
import { MAX_TOKENIZER_BYTES, readRegularFile, refuseExisting, writeFileAtomic } from "../util/files.js";
import type { LlamaConfig } from "../model/config.js";
import { saveModelFolder, type FolderDtype, type SaveFolderOptions } from "./hf-folder.js";
import { GGUF_EXPORT_TYPES, saveGguf, type GgufExportType } from "./gguf-model.js";
import { llama2cTokenizerBytes, saveLlama2c, type Llama2cVersion } from "./llama2c.js";
import { parseModelProto, type ModelProto } from "../tokenizer/model-proto.js";
import { ProtobufError } from "../tokenizer/protobuf.js";
import type { HfTokenizer } from "../tokenizer/hf-json.js";

export type ModelFormat = "hf" | "gguf" | "llama2c" | "meta";

/** A model as float32 parameters in our layout, ready to be written in any format. */
export interface LoadedWeights {
  config: LlamaConfig;
  params: Float32Array;
  tokenizer: ModelProto | undefined;
  /** A tokenizer.json tokenizer (when there is no SentencePiece model): GGUF gets a gpt2/llama vocabulary from it. */
  hfTokenizer?: HfTokenizer;
  /** The tokenizer.json file it came from: copied into folder output. */
  hfTokenizerFile?: string;
  /** ggml type names of a GGUF source's tensors (to detect re-quantisation); absent for float formats. */
  tensorTypes?: string[];
}

/** Extensions of files we cannot write: an output path ending in one is a mistake, not a folder name. */
const NOT_A_FOLDER = new Set([
  ".safetensors", ".pth", ".pt", ".ckpt", ".ggml", ".ggmf", ".ggjt", ".onnx", ".h5", ".msgpack", ".npz", ".npy",
  ".json", ".jsonl", ".txt", ".model", ".zip", ".tar", ".gz", ".xz", ".zst", ".parquet",
]);

/** The format to write at a path: .gguf, .bin, else a folder (dots in a folder name are fine). */
export function detectOutputFormat(p: string): ModelFormat {
  const lower = p.toLowerCase();
  if (lower.endsWith(".gguf")) return "gguf";
  if (lower.endsWith(".bin")) return "llama2c";
  const ext = path.extname(lower);
  if (NOT_A_FOLDER.has(ext) && !(fs.existsSync(p) && fs.statSync(p).isDirectory())) {
    throw new UserError(`${p}: unknown output format "${path.extname(p)}" (write a .gguf or .bin file, or a model folder)`);
  }
  if (fs.existsSync(p) && !fs.statSync(p).isDirectory()) throw new UserError(`${p} exists and is not a folder`);
  return "hf";
}

export function readTokenizerFile(file: string): ModelProto {
  const buf = readRegularFile(file, { maxBytes: MAX_TOKENIZER_BYTES, what: "tokenizer" });
  try {
    return parseModelProto(buf);
  } catch (e) {
    if (e instanceof ProtobufError) throw new UserError(`${file} is not a SentencePiece model (${e.message})`);
    throw e;
  }
}

export interface SaveOptions {
  /** Storage type: GGUF takes GGUF_EXPORT_TYPES (f32 … q4_K_M); folders and llama2.c files are float32. */
  type?: GgufExportType;
  llama2cVersion?: Llama2cVersion;
  name?: string;
  /** Replace existing output files (CLI --overwrite). */
  overwrite?: boolean;
  /** Write a GGUF without tokenizer keys (CLI --no-vocab). */
  noVocab?: boolean;
  /** Write a llama2.c file although it cannot hold the model's rms_norm_eps (CLI --force). */
  force?: boolean;
  /** Quantise weights that are already quantised (CLI --allow-requantize). */
  allowRequantize?: boolean;
  /** Folder output: storage type of model.safetensors (CLI --dtype; default f32). */
  dtype?: FolderDtype;
}

/** Tensor types that are already lossy block quantisations (anything but F32/F16/BF16). */
function quantisedTypes(m: Omit<LoadedWeights, "format">): string[] {
  return (m.tensorTypes ?? []).filter((t) => !["F32", "F16", "BF16"].includes(t));
}

/** The files a save at `p` in `format` writes (for the overwrite check). */
function outputFiles(p: string, format: ModelFormat, hasTokenizer: boolean): string[] {
  if (format === "gguf") return [p];
  if (format === "llama2c") return hasTokenizer ? [p, llama2cTokenizerPath(p)] : [p];
  return [
    "config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.model",
    "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
  ].map((f) => path.join(p, f));
}

/** run.c's default tokenizer path, beside the checkpoint. */
export function llama2cTokenizerPath(binPath: string): string {
  return path.join(path.dirname(binPath), "tokenizer.bin");
}

/** Writes a model at `p` in the format its path names. Returns notes for the user. */
export function saveAnyModel(p: string, m: LoadedWeights, opts: SaveOptions = {}): string[] {
  const format = detectOutputFormat(p);
  const type = opts.type ?? "f32";
  if (!GGUF_EXPORT_TYPES.includes(type)) throw new UserError(`--type must be one of ${GGUF_EXPORT_TYPES.join(", ")}, got "${String(type)}"`);
  if (format !== "gguf" && type !== "f32") {
    throw new UserError(`--type ${type} applies to .gguf output; ${format === "hf" ? "model folders take --dtype f32|f16|bf16" : "llama2.c files are written as float32"}`);
  }
  if (opts.dtype !== undefined && opts.dtype !== "f32" && format !== "hf") throw new UserError(`--dtype ${opts.dtype} applies to model folder output; use --type for .gguf`);
  const quantised = quantisedTypes(m);
  if (quantised.length > 0 && type !== "f32" && !opts.allowRequantize) {
    throw new UserError(`the input is already quantised (${quantised.join(", ")}); quantising it again to ${type} loses more precision. Start from the f32/f16 model, or pass --allow-requantize`);
  }
  refuseExisting(outputFiles(p, format, m.tokenizer !== undefined), opts.overwrite === true, "--overwrite");
  const notes: string[] = [];
  if (format === "gguf") {
    const opt: Parameters<typeof saveGguf>[3] = { type };
    if (m.tokenizer) opt.tokenizer = m.tokenizer;
    else if (m.hfTokenizer) opt.hfTokenizer = m.hfTokenizer;
    else if (!opts.noVocab) {
      throw new UserError(`the model has no tokenizer, and a GGUF without tokenizer.ggml.* keys makes llama.cpp-based tools (node-llama-cpp) abort; pass --tokenizer tokenizer.model to add one, or --no-vocab to write it anyway`);
    } else notes.push("no tokenizer: the GGUF has no tokenizer.ggml.* vocabulary (--no-vocab); llama.cpp tools cannot run it");
    if (opts.name) opt.name = opts.name;
    saveGguf(p, m.config, m.params, opt);
  } else if (format === "llama2c") {
    if (Math.abs(m.config.rmsNormEps - 1e-5) > 1e-12 && !opts.force) {
      throw new UserError(`llama2.c files cannot store rms_norm_eps (run.c assumes 1e-5) and this model uses ${m.config.rmsNormEps}: its logits would change when read back. Pass --force to write it anyway, or write a .gguf or a folder`);
    }
    notes.push(...saveLlama2c(p, m.config, m.params, { version: opts.llama2cVersion ?? 0 }));
    if (m.tokenizer) {
      const tokFile = llama2cTokenizerPath(p);
      writeFileAtomic(tokFile, llama2cTokenizerBytes(m.tokenizer, m.config.vocabSize));
      notes.push(`wrote ${tokFile} for llama2.c's run (run ${path.basename(p)} -z ${tokFile})`);
    } else notes.push("no tokenizer: no tokenizer.bin was written (pass --tokenizer tokenizer.model to write one)");
  } else {
    const folderOpts: SaveFolderOptions = { dtype: opts.dtype ?? "f32" };
    if (m.tokenizer) folderOpts.tokenizer = m.tokenizer;
    saveModelFolder(p, m.config, m.params, folderOpts);
    if (!m.tokenizer && m.hfTokenizerFile) {
      // The tokenizer.json and its config files are copied as they are.
      const from = path.dirname(m.hfTokenizerFile);
      for (const f of [path.basename(m.hfTokenizerFile), "tokenizer_config.json", "special_tokens_map.json"]) {
        const src = path.join(from, f);
        if (fs.existsSync(src)) writeFileAtomic(path.join(p, f === path.basename(m.hfTokenizerFile) ? "tokenizer.json" : f), fs.readFileSync(src));
      }
    }
  }
  return notes;
}
