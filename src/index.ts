/** llama-ts public API. */
export * from "./kernels/index.js";
export { UserError } from "./util/errors.js";
export { Rng } from "./util/rng.js";
export * from "./model/config.js";
export * from "./model/params.js";
export { initParams } from "./model/init.js";
export { LlamaModel, KVCache } from "./model/llama.js";
export { TrainGraph } from "./model/train-graph.js";
export { backendLinearOps, referenceLinearOps, type LinearOps } from "./model/linear.js";
export { loadModelFolder, saveModelFolder, readConfig, type ModelFolder } from "./formats/hf-folder.js";
export * from "./formats/safetensors.js";
export { generateTokens, type GenerateOptions, type GenerateStats, type StopReason } from "./generate/generate.js";
export { sampleToken, argmax, nucleus, softmaxWithTemperature, type SamplingOptions } from "./generate/sampler.js";
export { Trainer, PAPER_DEFAULTS, type TrainHyperparameters, type WindowSource, type StepLog, type TrainerState } from "./train/trainer.js";
export { trainRun, type TrainRunOptions, type TrainRunResult } from "./train/run.js";
export * from "./data/index.js";
export * from "./tokenizer/index.js";
export * from "./eval/index.js";
