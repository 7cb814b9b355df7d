/**
 * llama-ts in a browser: the library's names for running models, from one ESM file
 * (dist/browser/llama-ts.js, built by scripts/build-browser.mjs; no Node built-ins).
 *
 *   const { loadModel, generate, GenerationSession } = await import("/dist/llama-ts.js");
 *   const lm = await loadModel("/model.gguf");                       // URL, ArrayBuffer, Blob, File, or HF folder files
 *   const ids = lm.tokenizer.encode("Once upon a time", { bos: true });
 *   const { tokens } = await generate(lm, { tokens: ids, maxTokens: 32, temperature: 0 });
 *   const session = new GenerationSession(lm);
 *   for await (const chunk of session.stream("Hello", { maxTokens: 32 })) out.textContent += chunk.text;
 *
 * The names and shapes are those of the Node library (src/index.ts); only `loadModel` takes
 * bytes instead of paths (src/browser/load.ts).
 */

// Loading and running models
export { loadModel, type ModelSource, type BrowserLoadModelOptions } from "./load.js";
export type { LanguageModel } from "../runtime/language-model.js";
export * from "../api-shared.js"; // generation and the model: the names Node shares

// Tokenizers
export { SentencePieceTokenizer } from "../tokenizer/tokenizer.js";
export { HfTokenizer } from "../tokenizer/hf-json.js";
export type { EncodeOptions, Tokenizer, TokenDecodeStream } from "../tokenizer/types.js";

// Files (bytes in, bytes out)
export { GgufFile, ggufFromBytes, ggufBytes } from "../formats/gguf.js";
export { ggufModelBytes, type GgufExportOptions, type GgufExportType } from "../formats/gguf-model.js";
export { bytesSource, type ByteSource } from "../util/byte-source.js";

// Kernels and utilities
export { getBackend, setBackend, initBackend, chooseBackend, canUseThreads, type BackendPreference, type BackendOptions } from "./backend.js";
export type { Backend } from "../kernels/types.js";
export { UserError } from "../util/errors.js";

// Training in the page (src/browser/train.ts)
export {
  TextTrainer, TINY_DEFAULTS, tinyConfig, tinyHyperparameters, trainTokenizerOnText, tokenizeParagraphs,
  type TinyTrainOptions, type StepLog, type TrainHyperparameters,
} from "./train.js";
