/** Pieces shared by CLI commands: thread settings, option parsing. (Models load through runtime/load.ts.) */
import { getBackend } from "../kernels/backend.js";
import { parseNumberOption, UserError } from "../util/errors.js";

/** The --model option's description, the same in every command. */
export const MODEL_HELP = "model folder (config.json + model.safetensors [+ tokenizer.model/.json]), .gguf file, llama2.c .bin file, or Meta folder (params.json + consolidated.NN.pth)";

export function applyThreads(threads: string | undefined): void {
  if (threads === undefined) return;
  const n = parseNumberOption(threads, "--threads", { min: 1, max: 1024, integer: true });
  getBackend().setThreads(n);
}

/** Throws a UserError when a token id is outside the model's vocabulary. */
export function checkTokenIds(ids: readonly number[], vocabSize: number, flag: string): void {
  for (const id of ids) {
    if (id < 0 || id >= vocabSize) {
      throw new UserError(`${flag}: token id ${id} is outside the model's vocabulary [0, ${vocabSize})`);
    }
  }
}

