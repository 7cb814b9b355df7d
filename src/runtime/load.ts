/**
 * The one way to open a model. `await loadModel(path)` takes
 *   - a Hugging Face folder: config.json + model.safetensors (or shards) + tokenizer.model,
 *   - a .gguf file: weights stay in their stored f16/q8_0/q4_0 blocks, tokenizer and chat
 *     template from the tokenizer.* keys,
 *   - a llama2.c .bin file (no tokenizer inside: pass `tokenizer`),
 * and returns the ready-to-run model with its tokenizer and chat template. Every command
 * (generate, logits, eval, chat, serve, quantize, convert) goes through here.
 */
import fs from "node:fs";
import path from "node:path";
import type { Backend } from "../kernels/types.js";
import type { LlamaConfig } from "../model/config.js";
import { LlamaModel } from "../model/llama.js";
import { LAYER_TENSOR_NAMES, paramLayout, tensorViews } from "../model/params.js";
import { dequantizeRows, isQuantMatrix, type Weight } from "../kernels/quant.js";
import type { ModelFormat } from "../formats/convert.js";
import { loadModelFolder } from "../formats/hf-folder.js";
import { GgufFile } from "../formats/gguf.js";
import { isGgufPath, loadGgufTensors } from "../formats/gguf-model.js";
import { loadLlama2c } from "../formats/llama2c.js";
import { SentencePieceTokenizer } from "../tokenizer/tokenizer.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { UserError } from "../util/errors.js";

export type { ModelFormat };

/** A loaded model: what `loadModel` returns and what generation, chat, eval and serve take. */
export interface LanguageModel {
  /** The model's id: the file's or folder's base name (e.g. `stories15M.gguf` → `stories15M`). */
  readonly name: string;
  readonly path: string;
  readonly format: ModelFormat;
  readonly config: LlamaConfig;
  readonly model: LlamaModel;
  /** Undefined when the model came without one (a llama2.c file, a GGUF without vocabulary). */
  readonly tokenizer: Tokenizer | undefined;
  /** Where the tokenizer came from (a file, or the GGUF's tokenizer keys). */
  readonly tokenizerSource: string | undefined;
  /** A Jinja chat template from the GGUF or tokenizer_config.json, if the model has one. */
  readonly chatTemplate: string | undefined;
}

export interface LoadModelOptions {
  /** A tokenizer file that replaces (or supplies) the model's own. */
  tokenizer?: string;
  /** Kernels to run on (default: the process-wide backend). */
  backend?: Backend;
}

/** The format of an existing model path. */
export function detectModelFormat(p: string): ModelFormat {
  if (!fs.existsSync(p)) throw new UserError(`${p} does not exist`);
  if (fs.statSync(p).isDirectory()) return "hf";
  if (isGgufPath(p)) return "gguf";
  const lower = p.toLowerCase();
  if (lower.endsWith(".bin")) return "llama2c";
  if (lower.endsWith(".pth") || lower.endsWith(".pt")) throw new UserError(`${p}: a PyTorch checkpoint; convert Meta's release folder first with llama-ts convert`);
  if (lower.endsWith(".safetensors")) throw new UserError(`${p}: give the model folder (with config.json), not the .safetensors file`);
  throw new UserError(`${p}: unknown model format (expected a model folder, a .gguf file or a llama2.c .bin file)`);
}

/** The model's id as the server and reports show it: the base name without a model-file extension. */
export function modelName(p: string): string {
  const base = path.basename(path.resolve(p));
  return base.replace(/\.(gguf|bin)$/i, "");
}

/** Opens a model (see the module comment). Resolves once the weights are in memory. */
export async function loadModel(p: string, opts: LoadModelOptions = {}): Promise<LanguageModel> {
  return loadModelSync(p, opts);
}

/** `loadModel` for scripts that prefer not to await. */
export function loadModelSync(p: string, opts: LoadModelOptions = {}): LanguageModel {
  const format = detectModelFormat(p);
  let config: LlamaConfig;
  let model: LlamaModel;
  let tokenizer: Tokenizer | undefined;
  let tokenizerSource: string | undefined;
  let chatTemplate: string | undefined;
  if (format === "hf") {
    const folder = loadModelFolder(p);
    config = folder.config;
    model = new LlamaModel(config, folder.params, opts.backend);
    if (folder.tokenizerPath && opts.tokenizer === undefined) {
      tokenizer = SentencePieceTokenizer.fromFile(folder.tokenizerPath);
      tokenizerSource = folder.tokenizerPath;
    }
    chatTemplate = folderChatTemplate(p);
  } else if (format === "gguf") {
    const g = loadGgufTensors(p);
    config = g.config;
    model = new LlamaModel(config, g.tensors, opts.backend);
    if (g.tokenizer && opts.tokenizer === undefined) {
      tokenizer = SentencePieceTokenizer.fromModel(g.tokenizer, `${p} (tokenizer.ggml.* keys)`);
      tokenizerSource = p;
    }
    chatTemplate = ggufChatTemplate(p);
  } else {
    const l = loadLlama2c(p);
    config = l.config;
    model = new LlamaModel(config, l.params, opts.backend);
  }
  if (opts.tokenizer !== undefined) {
    tokenizer = loadTokenizerFile(opts.tokenizer);
    tokenizerSource = opts.tokenizer;
  }
  if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
    throw new UserError(`${tokenizerSource}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${config.vocabSize}`);
  }
  return { name: modelName(p), path: p, format, config, model, tokenizer, tokenizerSource, chatTemplate };
}

/** A tokenizer file given by the user (a SentencePiece tokenizer.model). */
export function loadTokenizerFile(file: string): Tokenizer {
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) {
    const inside = path.join(file, "tokenizer.model");
    if (!fs.existsSync(inside)) throw new UserError(`${file}: no tokenizer.model in this folder`);
    return SentencePieceTokenizer.fromFile(inside);
  }
  return SentencePieceTokenizer.fromFile(file);
}

/**
 * The chat template of a model folder: `chat_template.jinja`, else `chat_template` in
 * tokenizer_config.json (a string, or a list of {name, template} of which "default" is taken).
 */
function folderChatTemplate(dir: string): string | undefined {
  const jinja = path.join(dir, "chat_template.jinja");
  if (fs.existsSync(jinja)) return fs.readFileSync(jinja, "utf8");
  const file = path.join(dir, "tokenizer_config.json");
  if (!fs.existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const t = (raw as { chat_template?: unknown }).chat_template;
  if (t === undefined || t === null) return undefined;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const named = t as { name?: unknown; template?: unknown }[];
    const hit = named.find((x) => x.name === "default") ?? named[0];
    if (hit && typeof hit.template === "string") return hit.template;
  }
  throw new UserError(`${file}: chat_template must be a string or a list of {name, template}`);
}

function ggufChatTemplate(p: string): string | undefined {
  const f = GgufFile.open(p);
  try {
    return f.getString("tokenizer.chat_template");
  } finally {
    f.close();
  }
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
  return out;
}
