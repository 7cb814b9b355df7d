/**
 * Model folders in the Hugging Face Llama layout: `config.json`, `model.safetensors` (or
 * shards with `model.safetensors.index.json`), optionally `tokenizer.model`. Loads are checked
 * (missing or extra tensors, shapes, NaN/Inf) and every failure names the file and the problem.
 * config.json must be a regular file of sane size, the config's sizes must fit in the bytes the
 * weight files hold before the parameter buffer is allocated, and every file read must resolve
 * inside the folder (util/files.ts).
 */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../util/errors.js";
import type { ByteViews } from "../util/byte-source.js";
import type { LlamaConfig } from "../model/config.js";
import { configToHf } from "../model/config.js";
import { modelTensorsFrom, paramLayout, type ModelTensors } from "../model/params.js";
import { GGML_TYPE_ID, dequantize, isQuantMatrix, type Weight } from "../kernels/quant.js";
import { checkTensorFinite, typedView } from "./gguf-model.js";
import { MAX_TOKENIZER_BYTES, makeDir, readRegularFile, readRegularText, resolveInside, writeFileAtomic } from "../util/files.js";
import { assertFinite, openSafetensorsSet, readTensorBytes, writeSafetensorsRaw, type SafetensorsFile } from "./safetensors.js";
import { checkSafetensorsSet, configFromJsonText, paramsFromSafetensors } from "./hf-params.js";
import { f32ToBf16, f32ToF16 } from "./half.js";
import { parseModelProto, serializeModelProto, type ModelProto } from "../tokenizer/model-proto.js";
import { modelProtoToTokenizerJson, specialTokensMapFor, tokenizerConfigFor } from "../tokenizer/hf-write.js";

export { writeFileAtomic } from "../util/files.js";

export interface ModelFolder {
  dir: string;
  config: LlamaConfig;
  /** Contiguous parameters in `paramLayout(config)` order. */
  params: Float32Array;
  /** Path of `tokenizer.model` when the folder has one. */
  tokenizerPath: string | undefined;
}

/** A config.json larger than this is refused (real ones are a few KB). */
const MAX_CONFIG_BYTES = 16 << 20;

export function readConfig(dir: string): LlamaConfig {
  const file = path.join(dir, "config.json");
  if (!fs.existsSync(dir)) throw new UserError(`model folder ${dir} does not exist`);
  if (!fs.statSync(dir).isDirectory()) throw new UserError(`${dir} is not a folder (a model is a folder with config.json and model.safetensors)`);
  if (!fs.existsSync(file)) throw new UserError(`${file} is missing (a model folder needs config.json)`);
  return configFromJsonText(readRegularText(resolveInside(dir, "config.json"), { maxBytes: MAX_CONFIG_BYTES, what: "config" }), file);
}

export function loadModelFolder(dir: string): ModelFolder {
  const config = readConfig(dir);
  const set = openSafetensorsSet(dir);
  let params: Float32Array;
  try {
    params = paramsFromSafetensors(config, set, dir, path.join(dir, "config.json"));
  } finally {
    set.close();
  }
  return { dir, config, params, tokenizerPath: folderTokenizerPath(dir) };
}

function folderTokenizerPath(dir: string): string | undefined {
  return fs.existsSync(path.join(dir, "tokenizer.model")) ? resolveInside(dir, "tokenizer.model") : undefined;
}

export interface FolderTensorsOptions {
  /**
   * Maps a weight file read-only (runtime/mapped-file.ts's mapFile; undefined: not available):
   * tensors are then views into the mapping. Without it, each tensor is read once.
   */
  mapFile?: (file: string) => ByteViews | undefined;
}

/** A model folder for inference: tensors in their stored types (see loadModelFolderTensors). */
export interface ModelFolderTensors {
  dir: string;
  config: LlamaConfig;
  tensors: ModelTensors<Weight>;
  tokenizerPath: string | undefined;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A model folder's tensors as the inference model takes them, in their stored type: F16 and
 * BF16 matrices (and the embedding) as f16 / bf16 registry matrices, F32 tensors as float32
 * arrays, each a view into the mapped file (or one read of its bytes); 1-D norms stored in
 * F16/BF16 and F64 tensors are widened to float32. Checked as loadModelFolder checks (names,
 * shapes, NaN/Inf, a tied head copy equal to the embedding).
 */
export function loadModelFolderTensors(dir: string, opts: FolderTensorsOptions = {}): ModelFolderTensors {
  const config = readConfig(dir);
  const set = openSafetensorsSet(dir);
  try {
    const { tiedHeadCopy } = checkSafetensorsSet(config, set, dir, path.join(dir, "config.json"));
    const maps = new Map<SafetensorsFile, ByteViews | undefined>();
    for (const f of set.files) {
      const m = HOST_LITTLE_ENDIAN ? opts.mapFile?.(f.path) : undefined;
      if (m !== undefined && m.size !== f.fileSize) throw new UserError(`${f.path}: the file changed while it was being opened`);
      maps.set(f, m);
    }
    const bytesOf = (name: string): Uint8Array => {
      const { file, entry } = set.tensors.get(name)!;
      const m = maps.get(file);
      return m ? m.view(entry.byteOffset, entry.byteLength) : readTensorBytes(file, name);
    };
    const loaded = new Map<string, Weight>();
    const weight = (name: string): Weight => {
      const have = loaded.get(name);
      if (have) return have;
      const { file, entry } = set.tensors.get(name)!;
      const stored = entry.dtype === "F16" ? "f16" : entry.dtype === "BF16" ? "bf16" : undefined;
      let w: Weight;
      if (stored !== undefined && entry.shape.length === 2 && HOST_LITTLE_ENDIAN) {
        const data = bytesOf(name);
        checkTensorFinite(file.path, name, GGML_TYPE_ID[stored], data);
        w = { kind: "quant", type: stored, rows: entry.shape[0]!, cols: entry.shape[1]!, data };
      } else if (entry.dtype === "F32" && HOST_LITTLE_ENDIAN) {
        w = typedView(bytesOf(name), Float32Array);
        assertFinite(name, w, file);
      } else {
        w = set.readF32(name);
        assertFinite(name, w, file);
      }
      loaded.set(name, w);
      return w;
    };
    const tensors = modelTensorsFrom(config, weight);
    if (tiedHeadCopy) {
      const same = sameValues(weight("lm_head.weight"), tensors.embedTokens);
      if (!same) throw new UserError(`${dir}: tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight`);
    }
    return { dir, config, tensors, tokenizerPath: folderTokenizerPath(dir) };
  } finally {
    set.close(); // the mappings outlive the descriptors
  }
}

/** Whether two weights hold the same values (the same stored bytes, or equal floats). */
function sameValues(a: Weight, b: Weight): boolean {
  const sameType = isQuantMatrix(a) && isQuantMatrix(b) && a.type === b.type;
  const values = (w: Weight): ArrayLike<number> => (isQuantMatrix(w) ? (sameType ? w.data : dequantize(w)) : w);
  const fa = values(a);
  const fb = values(b);
  if (fa.length !== fb.length) return false;
  for (let i = 0; i < fa.length; i++) if (fa[i] !== fb[i]) return false;
  return true;
}

/** Writes config.json and model.safetensors (F32), each atomically; copies a tokenizer if given. */
export type FolderDtype = "f32" | "f16" | "bf16";

export interface SaveFolderOptions {
  /** A tokenizer.model file to copy into the folder. */
  tokenizerPath?: string;
  /** The tokenizer (when not given by path): written as tokenizer.model. */
  tokenizer?: ModelProto;
  /** Storage type of model.safetensors (default f32); config.json's torch_dtype says it. */
  dtype?: FolderDtype;
}

/**
 * Writes a model folder that Hugging Face tools load as it is: config.json,
 * generation_config.json, model.safetensors, and with a tokenizer also tokenizer.model,
 * tokenizer.json (HF's fast tokenizer, same ids), tokenizer_config.json and
 * special_tokens_map.json (`hfSideFiles`).
 */
export function saveModelFolder(dir: string, config: LlamaConfig, params: Float32Array, opts: SaveFolderOptions = {}): void {
  const layout = paramLayout(config);
  if (params.length !== layout.total) throw new Error(`params has ${params.length} floats, the config needs ${layout.total}`);
  makeDir(dir);
  const dtype = opts.dtype ?? "f32";
  writeSafetensorsRaw(
    path.join(dir, "model.safetensors"),
    layout.specs.map((s) => ({ name: s.name, shape: s.shape, ...storeAs(params.subarray(s.offset, s.offset + s.size), dtype) })),
    { format: "pt" },
  );
  writeFileAtomic(path.join(dir, "config.json"), JSON.stringify({ ...configToHf(config), torch_dtype: TORCH_DTYPE[dtype] }, null, 2) + "\n");
  let proto = opts.tokenizer;
  if (opts.tokenizerPath) {
    const bytes = readRegularFile(opts.tokenizerPath, { maxBytes: MAX_TOKENIZER_BYTES, what: "tokenizer" });
    if (path.resolve(opts.tokenizerPath) !== path.resolve(dir, "tokenizer.model")) writeFileAtomic(path.join(dir, "tokenizer.model"), bytes);
    proto = parseModelProto(bytes);
  } else if (proto) writeFileAtomic(path.join(dir, "tokenizer.model"), serializeModelProto(proto));
  for (const [name, content] of hfSideFiles(config, proto)) writeFileAtomic(path.join(dir, name), content);
}

const TORCH_DTYPE: Record<FolderDtype, string> = { f32: "float32", f16: "float16", bf16: "bfloat16" };

function storeAs(data: Float32Array, dtype: FolderDtype): { dtype: "F32" | "F16" | "BF16"; data: ArrayBufferView } {
  if (dtype === "f32") return { dtype: "F32", data };
  const out = new Uint16Array(data.length);
  const conv = dtype === "f16" ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < data.length; i++) out[i] = conv(data[i]!);
  return { dtype: dtype === "f16" ? "F16" : "BF16", data: out };
}

/**
 * The small JSON files that make a model folder complete for Hugging Face tools:
 * generation_config.json always; with a SentencePiece tokenizer also tokenizer.json,
 * tokenizer_config.json and special_tokens_map.json (left out when the tokenizer cannot be
 * expressed as a LlamaTokenizerFast, e.g. custom normalisation rules).
 */
export function hfSideFiles(config: LlamaConfig, tokenizer: ModelProto | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const json = (v: unknown): string => JSON.stringify(v, null, 2) + "\n";
  out.set("generation_config.json", json({ _from_model_config: true, bos_token_id: config.bosTokenId, eos_token_id: config.eosTokenId }));
  if (tokenizer) {
    try {
      out.set("tokenizer.json", JSON.stringify(modelProtoToTokenizerJson(tokenizer)));
      out.set("tokenizer_config.json", json(tokenizerConfigFor(tokenizer, { modelMaxLength: config.maxPositionEmbeddings })));
      out.set("special_tokens_map.json", json(specialTokensMapFor(tokenizer)));
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) out.delete(f);
    }
  }
  return out;
}
