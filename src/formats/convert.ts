/**
 * Writing model files: a Hugging Face folder, GGUF (f32/f16/q8_0/q4_0, K-quants and their _M mixtures: gguf-mixture.ts) and llama2.c `.bin`
 * (legacy or version 1). The format is chosen by the path: a `.gguf` file, a `.bin` file, or
 * otherwise a folder. Everything passes through float32 parameters in our layout. (Reading is
 * runtime/load.ts's `loadModel`, plus `float32Params` to get the float32 buffer; it also reads
 * Meta's release folders, params.json + consolidated.NN.pth, which are never written.)
 */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../util/errors.js";
import type { LlamaConfig } from "../model/config.js";
import { saveModelFolder, writeFileAtomic } from "./hf-folder.js";
import { GGUF_EXPORT_TYPES, saveGguf, type GgufExportType } from "./gguf-model.js";
import { saveLlama2c, type Llama2cVersion } from "./llama2c.js";
import { parseModelProto, serializeModelProto, type ModelProto } from "../tokenizer/model-proto.js";
import { ProtobufError } from "../tokenizer/protobuf.js";

export type ModelFormat = "hf" | "gguf" | "llama2c" | "meta";

/** A model as float32 parameters in our layout, ready to be written in any format. */
export interface LoadedWeights {
  config: LlamaConfig;
  params: Float32Array;
  tokenizer: ModelProto | undefined;
}

/** The format to write at a path: .gguf, .bin, else a folder. */
export function detectOutputFormat(p: string): ModelFormat {
  const lower = p.toLowerCase();
  if (lower.endsWith(".gguf")) return "gguf";
  if (lower.endsWith(".bin")) return "llama2c";
  if (/\.[a-z0-9]{1,12}$/.test(lower) && !(fs.existsSync(p) && fs.statSync(p).isDirectory())) {
    throw new UserError(`${p}: unknown output format "${path.extname(p)}" (use a .gguf or .bin file, or a folder path without extension)`);
  }
  if (fs.existsSync(p) && !fs.statSync(p).isDirectory()) throw new UserError(`${p} exists and is not a folder`);
  return "hf";
}

export function readTokenizerFile(file: string): ModelProto {
  let buf: Uint8Array;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read tokenizer ${file}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
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
}

/** Writes a model at `p` in the format its path names. Returns notes for the user. */
export function saveAnyModel(p: string, m: LoadedWeights, opts: SaveOptions = {}): string[] {
  const format = detectOutputFormat(p);
  const type = opts.type ?? "f32";
  if (!GGUF_EXPORT_TYPES.includes(type)) throw new UserError(`--type must be one of ${GGUF_EXPORT_TYPES.join(", ")}, got "${String(type)}"`);
  if (format !== "gguf" && type !== "f32") {
    throw new UserError(`--type ${type} applies to .gguf output; ${format === "hf" ? "model folders" : "llama2.c files"} are written as float32`);
  }
  const notes: string[] = [];
  if (format === "gguf") {
    const opt: Parameters<typeof saveGguf>[3] = { type };
    if (m.tokenizer) opt.tokenizer = m.tokenizer;
    else notes.push("no tokenizer: the GGUF has no tokenizer.ggml.* vocabulary (pass --tokenizer FILE to add one)");
    if (opts.name) opt.name = opts.name;
    saveGguf(p, m.config, m.params, opt);
  } else if (format === "llama2c") {
    notes.push(...saveLlama2c(p, m.config, m.params, { version: opts.llama2cVersion ?? 0 }));
    if (m.tokenizer) notes.push("llama2.c keeps its tokenizer in a separate tokenizer.bin; the vocabulary was not written");
  } else {
    saveModelFolder(p, m.config, m.params);
    if (m.tokenizer) writeFileAtomic(path.join(p, "tokenizer.model"), serializeModelProto(m.tokenizer));
  }
  return notes;
}
