/**
 * Autoregressive decoding with a KV cache: the prompt is run once (prefill), then each new
 * token is one forward pass of a single position. Stops at EOS, at `maxTokens`, or when the
 * context is full.
 */
import type { LlamaModel } from "../model/llama.js";
import { Rng } from "../util/rng.js";
import type { SamplingOptions } from "./sampler.js";
import { sampleToken } from "./sampler.js";

export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  seed: number;
  /** Token that ends generation (not included in the output); default: the config's EOS. */
  eosTokenId?: number;
  /** Set false to keep generating past EOS. */
  stopAtEos?: boolean;
}

export type StopReason = "eos" | "max_tokens" | "context";

export interface GenerateStats {
  promptTokens: number;
  generatedTokens: number;
  prefillSeconds: number;
  decodeSeconds: number;
  stopReason: StopReason;
}

/** Yields generated token ids one by one; returns statistics when done. */
export function* generateTokens(model: LlamaModel, prompt: readonly number[], opts: GenerateOptions): Generator<number, GenerateStats> {
  if (prompt.length === 0) throw new RangeError("the prompt needs at least one token");
  const capacity = model.config.maxPositionEmbeddings;
  if (prompt.length > capacity) throw new RangeError(`the prompt has ${prompt.length} tokens, more than the context length ${capacity}`);
  const eos = opts.eosTokenId ?? model.config.eosTokenId;
  const stopAtEos = opts.stopAtEos ?? true;
  const rng = new Rng(opts.seed);
  const cache = model.newCache(Math.min(capacity, prompt.length + opts.maxTokens));

  let t0 = performance.now();
  let logits = model.forward(prompt, cache, false);
  const prefillSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  let generated = 0;
  let stopReason: StopReason = "max_tokens";
  while (generated < opts.maxTokens) {
    const next = sampleToken(logits, opts, rng);
    if (stopAtEos && next === eos) {
      stopReason = "eos";
      break;
    }
    generated++;
    yield next;
    if (generated >= opts.maxTokens) break;
    if (cache.length >= capacity) {
      stopReason = "context";
      break;
    }
    logits = model.forward([next], cache, false);
  }
  return {
    promptTokens: prompt.length,
    generatedTokens: generated,
    prefillSeconds,
    decodeSeconds: (performance.now() - t0) / 1000,
    stopReason,
  };
}
