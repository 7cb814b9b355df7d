/** Pieces shared by CLI commands: model loading, thread settings, option parsing. */
import { getBackend } from "../kernels/backend.js";
import { loadModelFolder, type ModelFolder } from "../formats/hf-folder.js";
import { LlamaModel } from "../model/llama.js";
import type { LlamaConfig } from "../model/config.js";
import { isGgufPath, loadGgufTensors } from "../formats/gguf-model.js";
import { SentencePieceTokenizer } from "../tokenizer/index.js";
import { parseNumberOption, UserError } from "../util/errors.js";

export function applyThreads(threads: string | undefined): void {
  if (threads === undefined) return;
  const n = parseNumberOption(threads, "--threads", { min: 1, max: 1024, integer: true });
  getBackend().setThreads(n);
}

export interface LoadedModel {
  /** Where the model came from; `tokenizerPath` is the folder's tokenizer.model (or the .gguf holding tokenizer keys). */
  folder: Pick<ModelFolder, "dir" | "config" | "tokenizerPath">;
  model: LlamaModel;
  /** The model's tokenizer (tokenizer.model in a folder, tokenizer.ggml.* keys in a GGUF), if it has one. */
  tokenizer(): SentencePieceTokenizer | undefined;
}

/** Loads a model folder (HF layout) or a .gguf file (f32/f16/bf16/q8_0/q4_0 tensors, kept quantised). */
export function loadModel(pathArg: string): LoadedModel {
  if (isGgufPath(pathArg)) {
    const g = loadGgufTensors(pathArg);
    const config: LlamaConfig = g.config;
    const proto = g.tokenizer;
    return {
      folder: { dir: pathArg, config, tokenizerPath: proto ? pathArg : undefined },
      model: new LlamaModel(config, g.tensors),
      tokenizer: () => (proto ? SentencePieceTokenizer.fromModel(proto, `${pathArg} (tokenizer.ggml.* keys)`) : undefined),
    };
  }
  const folder = loadModelFolder(pathArg);
  return {
    folder,
    model: new LlamaModel(folder.config, folder.params),
    tokenizer: () => (folder.tokenizerPath ? SentencePieceTokenizer.fromFile(folder.tokenizerPath) : undefined),
  };
}

/** Throws a UserError when a token id is outside the model's vocabulary. */
export function checkTokenIds(ids: readonly number[], vocabSize: number, flag: string): void {
  for (const id of ids) {
    if (id < 0 || id >= vocabSize) {
      throw new UserError(`${flag}: token id ${id} is outside the model's vocabulary [0, ${vocabSize})`);
    }
  }
}

