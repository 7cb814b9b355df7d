/**
 * Opens a model and wraps it in a ready-to-listen LlamaServer: the one place where the CLI,
 * the tests and the benchmark turn `serve` options into a ServeModel and an engine.
 */
import path from "node:path";
import { loadModel } from "../cli/common.js";
import { UserError } from "../util/errors.js";
import type { ChatTurn, ServeModel } from "./engine.js";
import { InterimEngine } from "./interim-engine.js";
import { LlamaServer } from "./server.js";

export interface OpenServerOptions {
  /** Model folder, .gguf or llama2.c .bin. */
  model: string;
  /** Model id (default: the base name of `model`). */
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
  const loaded = loadModel(opts.model);
  const config = loaded.model.config;
  const contextLength = opts.contextLength ?? config.maxPositionEmbeddings;
  if (contextLength > config.maxPositionEmbeddings) {
    throw new UserError(`--ctx ${contextLength} is more than the model's context length ${config.maxPositionEmbeddings}`);
  }
  const tokenizer = loaded.tokenizer();
  const model: ServeModel = {
    id: opts.alias ?? path.basename(path.resolve(opts.model)),
    tokenizer,
    vocabSize: config.vocabSize,
    contextLength,
    renderChat: (messages: readonly ChatTurn[]) => messages.map((m) => `${m.role}: ${m.content}\n`).join("") + "assistant:",
  };
  const engine = new InterimEngine(loaded.model, tokenizer, opts.maxQueue ?? 64);
  return new LlamaServer({ model, engine, apiKey: opts.apiKey, maxBodyBytes: opts.maxBodyBytes, staticDir: opts.staticDir, log: opts.log });
}
