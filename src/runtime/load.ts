/**
 * The one way to open a model. `await loadModel(path)` takes
 *   - a Hugging Face folder: config.json + model.safetensors (or shards) + tokenizer.model or
 *     tokenizer.json (+ the chat template from chat_template.jinja or tokenizer_config.json),
 *   - a .gguf file: weights stay in their stored f16/q8_0/q4_0 blocks, tokenizer (SentencePiece
 *     "llama" or byte-level "gpt2" vocabularies) and chat template from the tokenizer.* keys,
 *   - a llama2.c .bin file (no tokenizer inside: pass `tokenizer`),
 *   - Meta's release folder (params.json + consolidated.NN.pth, read by a restricted unpickler
 *     that executes nothing; model-parallel shards merged),
 * and returns the ready-to-run model with its tokenizer and chat template. Every command
 * (generate, logits, eval, chat, serve, quantize, convert) goes through here.
 *
 * This is the Node layer: it finds the files and reads them; the parts are assembled by the
 * source-agnostic core (runtime/language-model.ts), which the browser loader shares.
 *
 * Memory: on the native backend, GGUF and safetensors weights are mapped read-only from their
 * files (./mapped-file.ts; `mmap: false` or LLAMA_TS_MMAP=0 reads them) and kept in their stored
 * type (f16, bf16, quantised blocks; norms float32), so a model costs about its file size; the
 * reference backend reads (HF folders as float32 parameters).
 */
import fs from "node:fs";
import path from "node:path";
import type { Backend } from "../kernels/types.js";
import type { LlamaConfig } from "../model/config.js";
import { LAYER_TENSOR_NAMES, paramLayout, tensorViews } from "../model/params.js";
import { dequantizeRows, isQuantMatrix, type Weight } from "../kernels/quant.js";
import type { ModelFormat } from "../formats/convert.js";
import { loadModelFolder, loadModelFolderTensors } from "../formats/hf-folder.js";
import { GgufFile } from "../formats/gguf.js";
import { interleavedToRopePerm, isGgufPath, permuteRows } from "../formats/gguf-model.js";
import { loadLlama2c } from "../formats/llama2c.js";
import { loadMetaCheckpoint, metaCheckpointDir } from "../formats/meta.js";
import { SentencePieceTokenizer } from "../tokenizer/tokenizer.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { HfTokenizer } from "../tokenizer/hf-json.js";
import { assembleLanguageModel, ggufModelParts, modelIdFromBaseName, type LanguageModel, type ModelParts } from "./language-model.js";
import { loadTokenizer, readTokenizerConfig } from "../tokenizer/load.js";
import { UserError } from "../util/errors.js";
import { kindOf } from "../util/files.js";
import { getBackend } from "../kernels/backend.js";
import { canMapFiles, mapFile } from "./mapped-file.js";

export type { ModelFormat };

export type { LanguageModel };

export interface LoadModelOptions {
  /** A tokenizer file that replaces (or supplies) the model's own. */
  tokenizer?: string;
  /** Kernels to run on (default: the process-wide backend). */
  backend?: Backend;
  /**
   * Map GGUF and safetensors weight files into memory instead of reading them (no copy; pages
   * shared with other processes). Default: when the model runs on the native backend and the
   * addon can map (`LLAMA_TS_MMAP=0` turns it off); the reference backend reads.
   */
  mmap?: boolean;
}

/** Whether this load maps its weight files (see LoadModelOptions.mmap). */
function useMmap(opts: LoadModelOptions): boolean {
  if (!canMapFiles()) return false;
  return opts.mmap ?? (opts.backend ?? getBackend()).name === "native";
}

/** The format of an existing model path. */
export function detectModelFormat(p: string): ModelFormat {
  if (!fs.existsSync(p)) throw new UserError(`${p} does not exist`);
  if (metaCheckpointDir(p) !== undefined) return "meta";
  const st = fs.statSync(p);
  if (st.isDirectory()) return "hf";
  if (!st.isFile()) throw new UserError(`${p} is not a folder or a model file (it is ${kindOf(st)})`);
  if (isGgufPath(p)) return "gguf";
  const lower = p.toLowerCase();
  if (lower.endsWith(".bin")) return "llama2c";
  if (lower.endsWith(".pth") || lower.endsWith(".pt")) throw new UserError(`${p}: a PyTorch checkpoint is read as a Meta release: give a folder with params.json and consolidated.NN.pth (or one of those files)`);
  if (lower.endsWith(".safetensors")) throw new UserError(`${p}: give the model folder (with config.json), not the .safetensors file`);
  throw new UserError(`${p}: unknown model format (expected a model folder, a .gguf file or a llama2.c .bin file)`);
}

/** The model's id as the server and reports show it: the base name without a model-file extension. */
export function modelName(p: string): string {
  return modelIdFromBaseName(path.basename(path.resolve(p)));
}

/** Opens a model (see the module comment). Resolves once the weights are in memory. */
export async function loadModel(p: string, opts: LoadModelOptions = {}): Promise<LanguageModel> {
  return loadModelSync(p, opts);
}

/** `loadModel` for scripts that prefer not to await. */
export function loadModelSync(p: string, opts: LoadModelOptions = {}): LanguageModel {
  const format = detectModelFormat(p);
  const name = modelName(format === "meta" ? metaCheckpointDir(p)! : p);
  const withTokenizer = opts.tokenizer === undefined;
  let parts: ModelParts;
  if (format === "gguf") {
    const mapped = useMmap(opts) ? mapFile(p) : undefined;
    const f = GgufFile.open(p, { mapped });
    try {
      parts = ggufModelParts(f, name, withTokenizer, mapped !== undefined);
    } finally {
      f.close();
    }
  } else if (format === "hf") {
    // Native kernels multiply f16/bf16 weights as stored (mapped when possible); the reference
    // backend takes the float32 parameters.
    const folder = (opts.backend ?? getBackend()).name === "native"
      ? loadModelFolderTensors(p, { mapFile: useMmap(opts) ? mapFile : undefined })
      : loadModelFolder(p);
    parts = { name, path: p, format, config: folder.config, weights: "params" in folder ? folder.params : folder.tensors, chatTemplate: folderChatTemplate(p) };
    const tokFiles = ["tokenizer.model", "tokenizer.json"].map((f) => path.join(p, f)).filter((f) => fs.existsSync(f));
    if (tokFiles.length > 0 && withTokenizer) {
      parts.tokenizer = loadTokenizer(p); // SentencePiece tokenizer.model first, else tokenizer.json
      parts.tokenizerSource = parts.tokenizer instanceof HfTokenizer ? path.join(p, "tokenizer.json") : tokFiles[0];
    }
  } else if (format === "meta") {
    const m = loadMetaCheckpoint(metaCheckpointDir(p)!);
    parts = { name, path: p, format, config: m.config, weights: m.params };
    if (m.tokenizerPath && withTokenizer) {
      parts.tokenizer = SentencePieceTokenizer.fromFile(m.tokenizerPath);
      parts.tokenizerSource = m.tokenizerPath;
    }
  } else {
    const l = loadLlama2c(p);
    parts = { name, path: p, format, config: l.config, weights: l.params };
  }
  if (opts.tokenizer !== undefined) {
    parts.tokenizer = loadTokenizerFile(opts.tokenizer);
    parts.tokenizerSource = opts.tokenizer;
  }
  return assembleLanguageModel(parts, opts.backend);
}

/** A tokenizer file given by the user: tokenizer.model, tokenizer.json, or a folder holding one. */
export function loadTokenizerFile(file: string): Tokenizer {
  return loadTokenizer(file);
}

/**
 * The chat template of a model folder: `chat_template.jinja`, else `chat_template` in
 * tokenizer_config.json (a string, or a list of {name, template} of which "default" is taken).
 */
function folderChatTemplate(dir: string): string | undefined {
  const jinja = path.join(dir, "chat_template.jinja");
  if (fs.existsSync(jinja)) return fs.readFileSync(jinja, "utf8");
  return readTokenizerConfig(dir)?.chatTemplate;
}

/**
 * The model's parameters as one float32 buffer in `paramLayout` order (quantised matrices
 * dequantised): what the converters and the trainer take.
 */
export function float32Params(lm: Pick<LanguageModel, "config" | "model">): Float32Array {
  const m = lm.model;
  if (m.params) return m.params;
  const layout = paramLayout(lm.config);
  const out = new Float32Array(layout.total);
  const dst = tensorViews(lm.config, layout, out);
  const copy = (to: Float32Array, from: Weight): void => {
    if (isQuantMatrix(from)) dequantizeRows(from, 0, from.rows, to);
    else to.set(from);
  };
  const w = m.weights;
  copy(dst.embedTokens, w.embedTokens);
  w.layers.forEach((L, l) => {
    for (const key of Object.keys(LAYER_TENSOR_NAMES) as (keyof typeof LAYER_TENSOR_NAMES)[]) copy(dst.layers[l]![key], L[key]);
  });
  copy(dst.finalNorm, w.finalNorm);
  if (!lm.config.tieWordEmbeddings) copy(dst.lmHead, w.lmHead);
  if (w.qkInterleaved) {
    // a mapped GGUF's q/k rows are in the file's order: back to HF's rotate_half order
    const c = lm.config;
    for (const L of dst.layers) {
      L.wq.set(permuteRows(L.wq, c.hiddenSize, interleavedToRopePerm(L.wq.length / c.hiddenSize, c.numAttentionHeads)));
      L.wk.set(permuteRows(L.wk, c.hiddenSize, interleavedToRopePerm(L.wk.length / c.hiddenSize, c.numKeyValueHeads)));
    }
  }
  return out;
}
