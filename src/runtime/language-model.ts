/**
 * The source-agnostic half of `loadModel`: parsed parts (config, weights, tokenizer, chat
 * template) -> the LanguageModel every command and page runs. Nothing here touches a file
 * system: the Node loader (runtime/load.ts: paths) and the browser loader (browser/load.ts:
 * ArrayBuffer, Blob, File, URL) read bytes their own way, parse them with the same format
 * readers, and finish here, so a model loaded either way is the same object with the same
 * logits.
 */
import type { Backend } from "../kernels/types.js";
import type { Weight } from "../kernels/quant.js";
import type { LlamaConfig } from "../model/config.js";
import { LlamaModel } from "../model/llama.js";
import type { ModelTensors } from "../model/params.js";
import type { ModelFormat } from "../formats/convert.js";
import type { GgufFile } from "../formats/gguf.js";
import { ggufModelTensors } from "../formats/gguf-model.js";
import { SentencePieceTokenizer } from "../tokenizer/tokenizer.js";
import { HfTokenizer } from "../tokenizer/hf-json.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { UserError } from "../util/errors.js";

/** A loaded model: what `loadModel` returns and what generation, chat, eval and serve take. */
export interface LanguageModel {
  /** The model's id: the file's or folder's base name (e.g. `stories15M.gguf` → `stories15M`). */
  readonly name: string;
  /** The path (Node) or the file name / URL (browser) it was loaded from. */
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

/** What a format reader hands over: everything but the LlamaModel itself. */
export interface ModelParts {
  name: string;
  path: string;
  format: ModelFormat;
  config: LlamaConfig;
  /** Float32 parameters in `paramLayout` order, or per-tensor weights (quantised matrices kept). */
  weights: Float32Array | ModelTensors<Weight>;
  tokenizer?: Tokenizer;
  tokenizerSource?: string;
  chatTemplate?: string;
}

/** The model's id from a file or folder base name: `stories15M.gguf` -> `stories15M`. */
export function modelIdFromBaseName(base: string): string {
  return base.replace(/\.(gguf|bin)$/i, "");
}

/** Builds the LlamaModel on `backend` and checks that the tokenizer fits the vocabulary. */
export function assembleLanguageModel(parts: ModelParts, backend?: Backend): LanguageModel {
  const { tokenizer, tokenizerSource, config } = parts;
  if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
    throw new UserError(`${tokenizerSource}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${config.vocabSize}`);
  }
  const model = new LlamaModel(config, parts.weights, backend);
  return {
    name: parts.name,
    path: parts.path,
    format: parts.format,
    config,
    model,
    tokenizer,
    tokenizerSource,
    chatTemplate: parts.chatTemplate,
  };
}

/**
 * The parts of an open GGUF file: weights in their stored types, the tokenizer from the
 * `tokenizer.ggml.*` keys (SentencePiece "llama" or byte-level "gpt2" vocabularies) unless
 * `withTokenizer` is false, and `tokenizer.chat_template`.
 */
export function ggufModelParts(f: GgufFile, name: string, withTokenizer = true, mapped = false): ModelParts {
  const g = ggufModelTensors(f, mapped);
  let tokenizer: Tokenizer | undefined;
  if (withTokenizer) {
    if (g.tokenizer) tokenizer = SentencePieceTokenizer.fromModel(g.tokenizer, `${f.path} (tokenizer.ggml.* keys)`);
    else if (g.tokenizerJson) tokenizer = HfTokenizer.fromJson(g.tokenizerJson); // byte-level BPE (Llama 3)
  }
  return {
    name,
    path: f.path,
    format: "gguf",
    config: g.config,
    weights: g.tensors,
    tokenizer,
    tokenizerSource: tokenizer ? f.path : undefined,
    chatTemplate: g.chatTemplate,
  };
}
