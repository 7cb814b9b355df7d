/**
 * The library names that Node (src/index.ts) and the browser bundle (src/browser/index.ts) both
 * export, from one list: generation (the session, one-shot generation, chat templates, sampling)
 * and the model (configs, parameters, the forward pass). Each entry point adds what only it has
 * (Node: files, serving, training runs; browser: loading from bytes and URLs, its backend choice).
 */

// Running models
export { GenerationSession, QueueFullError, RequestError, GENERATE_DEFAULTS } from "./generate/session.js";
export { generate, generateTokens, type GenerateRequest, type GenerateTokensOptions, type GenerateStats } from "./generate/generate.js";
export type {
  GenerateOptions,
  GenerationChunk,
  GenerationResult,
  GenerationTimings,
  SamplingParams,
  SessionOptions,
  SessionStats,
  StopReason,
  TokenLogprob,
  TopLogprob,
} from "./generate/types.js";
export { renderChat, chatGenerateOptions, FALLBACK_CHAT_TEMPLATE, type ChatMessage } from "./generate/chat.js";
export { sampleToken, type SamplingOptions } from "./generate/sampler.js";

// The model
export { PRESETS, presetConfig, configFromHf, configToHf, ffnHiddenSize, headDim, type LlamaConfig } from "./model/config.js";
export { parameterCount } from "./model/params.js";
export { initParams } from "./model/init.js";
export { LlamaModel, KVCache, type BatchSegment } from "./model/llama.js";
export { ropeFreqFactors, type RopeScaling } from "./model/rope.js";
