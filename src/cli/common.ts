/** Pieces shared by CLI commands: model loading, thread settings, option parsing. */
import { getBackend } from "../kernels/backend.js";
import { loadModelFolder, type ModelFolder } from "../formats/hf-folder.js";
import { LlamaModel } from "../model/llama.js";
import { parseNumberOption, UserError } from "../util/errors.js";

export function applyThreads(threads: string | undefined): void {
  if (threads === undefined) return;
  const n = parseNumberOption(threads, "--threads", { min: 1, max: 1024, integer: true });
  getBackend().setThreads(n);
}

export function loadModel(dir: string): { folder: ModelFolder; model: LlamaModel } {
  const folder = loadModelFolder(dir);
  return { folder, model: new LlamaModel(folder.config, folder.params) };
}

/** Throws a UserError when a token id is outside the model's vocabulary. */
export function checkTokenIds(ids: readonly number[], vocabSize: number, flag: string): void {
  for (const id of ids) {
    if (id < 0 || id >= vocabSize) {
      throw new UserError(`${flag}: token id ${id} is outside the model's vocabulary [0, ${vocabSize})`);
    }
  }
}

