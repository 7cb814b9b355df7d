/**
 * llama-ts public API: what an application needs. Internals (kernels' plumbing, format
 * readers' pieces, test hooks) are not exported; import paths inside the package are not a
 * stable interface.
 *
 * Run a model:
 *   import { loadModel, generate, GenerationSession } from "llama-ts";
 *   const lm = await loadModel("stories15M.gguf");                 // folder, .gguf or llama2.c .bin
 *   const { text } = await generate(lm, { prompt: "Once upon a time", maxTokens: 64, temperature: 0 });
 *   const session = new GenerationSession(lm, { parallel: 4 });     // continuous batching
 *   for await (const chunk of session.stream("Hello", { maxTokens: 32, stop: ["\n"] })) process.stdout.write(chunk.text);
 *
 * Chat:
 *   import { renderChat, chatGenerateOptions } from "llama-ts";
 *   const prompt = renderChat(lm, [{ role: "user", content: "Hi!" }]);
 *   await session.generate(prompt, chatGenerateOptions(lm, { maxTokens: 128 }));
 *
 * Tokenize:
 *   import { SentencePieceTokenizer } from "llama-ts";
 *   SentencePieceTokenizer.fromFile("tokenizer.model").encode("Hello", { bos: true });
 *
 * Train (see README for the CLI):
 *   import { trainRun } from "llama-ts";
 *
 * Evaluate:
 *   import { runEvalTask } from "llama-ts";
 *   runEvalTask(lm.model, lm.tokenizer!, { task: "hellaswag", data: "hellaswag.jsonl", ... });
 *
 * Files:
 *   import { saveModel, float32Params } from "llama-ts";
 *   saveModel("out.gguf", { config: lm.config, params: float32Params(lm), tokenizer: undefined }, { type: "q8_0" });
 */

// Loading and running models
export {
  loadModel,
  loadModelSync,
  detectModelFormat,
  float32Params,
  modelName,
  type LanguageModel,
  type LoadModelOptions,
  type ModelFormat,
} from "./runtime/load.js";
export * from "./api-shared.js"; // generation and the model: the names the browser bundle shares

// Serving (OpenAI-compatible HTTP API: docs/serve.md)
export { LlamaServer, type ServerOptions } from "./serve/server.js";
export { openServer, type OpenServerOptions } from "./serve/start.js";


// Tokenizers
export {
  SentencePieceTokenizer,
  trainBpeFromFiles,
  type BpeTrainerOptions,
  type EncodeOptions,
  type Tokenizer,
  type TokenDecodeStream,
  type TrainStats,
} from "./tokenizer/index.js";

// Training and data
export { Trainer, PAPER_DEFAULTS, type TrainHyperparameters, type StepLog, type TrainerState } from "./train/trainer.js";
export { trainRun, type TrainRunOptions, type TrainRunResult } from "./train/run.js";
export { trainFromText, type TextTrainOptions } from "./train/text.js";
export { prepareDataset, type PrepareOptions } from "./data/prepare.js";
export { TrainLoop, tokenArrayWindows, type WindowSource } from "./train/loop.js";
export { TextTrainer, TINY_DEFAULTS, tinyConfig, trainTokenizerOnText, tokenizeParagraphs, type TinyTrainOptions } from "./browser/train.js";
export { ggufModelBytes } from "./formats/gguf-model.js";

// Evaluation
export { runEvalTask, TASK_NAMES, type EvalReport, type EvalTaskOptions } from "./eval/index.js";

// Files
export { loadModelFolder, saveModelFolder, type ModelFolder } from "./formats/hf-folder.js";
export { saveAnyModel as saveModel, type SaveOptions } from "./formats/convert.js";
export { GgufFile } from "./formats/gguf.js";
export { loadMetaCheckpoint, metaCheckpointDir, type MetaCheckpoint } from "./formats/meta.js";

// Kernels and utilities
export { getBackend, setBackend, type Backend } from "./kernels/index.js";
export { UserError } from "./util/errors.js";

// Scaling laws and inference cost (llama-ts sweep / sweep fit / cost)
export {
  fitScalingLaw, computeOptimal, predictLoss, isoFlopMinima,
  type Observation, type LawParams, type ScalingFit, type FitOptions, type IsoFlopResult, type IsoFlopMinimum,
} from "./scaling/fit.js";
export { recommend, type Recommendation, type ModelChoice } from "./scaling/recommend.js";
export { runSweep, planGrid, sweepShape, type SweepOptions, type SweepResult, type RunResult } from "./scaling/sweep.js";
export { runCost, extrapolate, storedSize, type CostReport, type CostOptions, type MeasuredCost, type ExtrapolatedCost } from "./scaling/cost.js";
export { writeMegatronDatasets, type MegatronOutput } from "./data/megatron.js";
