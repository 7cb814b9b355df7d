/**
 * Opens a model and wraps it in a ready-to-listen LlamaServer: the one place where the CLI,
 * the tests and the benchmark turn `serve` options into a ServeModel and a GenerationSession.
 */
import { chatGenerateOptions, renderChat } from "../generate/chat.js";
import { GenerationSession } from "../generate/session.js";
import { loadModel, modelName, type LanguageModel } from "../runtime/load.js";
import { UserError } from "../util/errors.js";
import type { ChatTurn, ServeModel } from "./engine.js";
import { LlamaServer } from "./server.js";

export interface OpenServerOptions {
  /** Model folder, .gguf or llama2.c .bin (or an already loaded model). */
  model: string | LanguageModel;
  /** A tokenizer file that replaces (or supplies) the model's own. */
  tokenizer?: string;
  /** Model id (default: the model file's or folder's base name, as `modelName`). */
  alias?: string;
  /** Sequences decoded together per step (default 4). */
  parallel?: number;
  /** Context length per sequence (default and maximum: the model's). */
  contextLength?: number;
  /** Requests waiting beyond `parallel` before 429 (default 64). */
  maxQueue?: number;
  apiKey?: string;
  maxBodyBytes?: number;
  staticDir?: string;
  log?: (line: string) => void;
}

export async function openServer(opts: OpenServerOptions): Promise<LlamaServer> {
  const lm = typeof opts.model === "string" ? await loadModel(opts.model, { tokenizer: opts.tokenizer }) : opts.model;
  const config = lm.config;
  if (opts.contextLength !== undefined && opts.contextLength > config.maxPositionEmbeddings) {
    throw new UserError(`--ctx ${opts.contextLength} is more than the model's context length ${config.maxPositionEmbeddings}`);
  }
  const session = new GenerationSession(lm, { parallel: opts.parallel ?? 4, contextLength: opts.contextLength, maxQueue: opts.maxQueue ?? 64 });
  const tokenizer = lm.tokenizer;
  const model: ServeModel = {
    id: opts.alias ?? (typeof opts.model === "string" ? modelName(opts.model) : lm.name),
    tokenizer,
    // Ids the tokenizer cannot decode are refused too (a model's vocabulary may be padded past the tokenizer's).
    vocabSize: tokenizer ? Math.min(config.vocabSize, tokenizer.vocabSize) : config.vocabSize,
    contextLength: session.contextLength,
    chatTemplate: lm.chatTemplate,
    renderChat: (messages: readonly ChatTurn[]) => renderChat(lm, messages, { addGenerationPrompt: true }),
    chatStop: chatGenerateOptions(lm).stop ?? [],
  };
  return new LlamaServer({ model, engine: session, apiKey: opts.apiKey, maxBodyBytes: opts.maxBodyBytes, staticDir: opts.staticDir, log: opts.log });
}
