/**
 * Conversions between model files: a Hugging Face folder, GGUF (f32/f16/q8_0/q4_0) and
 * llama2.c `.bin` (legacy or version 1); Meta's release folders (params.json +
 * consolidated.NN.pth) are read only. The format is chosen by the path: a `.gguf` file, a
 * `.bin` file, a Meta folder (or one of its consolidated.NN.pth), or otherwise a folder. Everything passes through float32 parameters in our
 * layout (quantised GGUF tensors are dequantised on read).
 */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../util/errors.js";
import type { LlamaConfig } from "../model/config.js";
import { loadModelFolder, saveModelFolder, writeFileAtomic } from "./hf-folder.js";
import { GGUF_EXPORT_TYPES, isGgufPath, loadGgufParams, saveGguf, type GgufExportType } from "./gguf-model.js";
import { loadLlama2c, saveLlama2c, type Llama2cVersion } from "./llama2c.js";
import { parseModelProto, serializeModelProto, type ModelProto } from "../tokenizer/model-proto.js";
import { ProtobufError } from "../tokenizer/protobuf.js";
import { loadMetaCheckpoint, metaCheckpointDir } from "./meta.js";

export type ModelFormat = "hf" | "gguf" | "llama2c" | "meta";

export interface LoadedWeights {
  format: ModelFormat;
  config: LlamaConfig;
  params: Float32Array;
  tokenizer: ModelProto | undefined;
}

/** The format of an existing model path (for reading). */
export function detectInputFormat(p: string): ModelFormat {
  if (!fs.existsSync(p)) throw new UserError(`${p} does not exist`);
  if (metaCheckpointDir(p) !== undefined) return "meta";
  if (fs.statSync(p).isDirectory()) return "hf";
  if (isGgufPath(p)) return "gguf";
  const lower = p.toLowerCase();
  if (lower.endsWith(".bin")) return "llama2c";
  if (lower.endsWith(".pth") || lower.endsWith(".pt")) throw new UserError(`${p}: a PyTorch checkpoint is read as a Meta release: give a folder with params.json and consolidated.NN.pth (or one of those files)`);
  if (lower.endsWith(".safetensors")) throw new UserError(`${p}: give the model folder (with config.json), not the .safetensors file`);
  throw new UserError(`${p}: unknown model format (expected a model folder, a .gguf file or a llama2.c .bin file)`);
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

export function loadAnyModel(p: string): LoadedWeights {
  const format = detectInputFormat(p);
  if (format === "hf") {
    const f = loadModelFolder(p);
    return { format, config: f.config, params: f.params, tokenizer: f.tokenizerPath ? readTokenizerFile(f.tokenizerPath) : undefined };
  }
  if (format === "gguf") {
    const g = loadGgufParams(p);
    return { format, config: g.config, params: g.params, tokenizer: g.tokenizer };
  }
  if (format === "meta") {
    const m = loadMetaCheckpoint(metaCheckpointDir(p)!);
    return { format, config: m.config, params: m.params, tokenizer: m.tokenizerPath ? readTokenizerFile(m.tokenizerPath) : undefined };
  }
  const l = loadLlama2c(p);
  return { format, config: l.config, params: l.params, tokenizer: undefined };
}

export interface SaveOptions {
  /** Storage type: GGUF takes f32/f16/q8_0/q4_0; folders and llama2.c files are float32. */
  type?: GgufExportType;
  llama2cVersion?: Llama2cVersion;
  name?: string;
}

/** Writes a model at `p` in the format its path names. Returns notes for the user. */
export function saveAnyModel(p: string, m: Omit<LoadedWeights, "format">, opts: SaveOptions = {}): string[] {
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
