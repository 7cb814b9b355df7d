/**
 * TEMPORARY stand-in for GenerationSession until the runtime lands on main: one request at a
 * time (a FIFO queue, `maxQueue` waiting), decoded with `generateTokens`, yielding to the event
 * loop after every token: text streaming, max tokens, temperature, top-p, seed, stop strings,
 * abort, log-probabilities. Removed on merge.
 */
import type { GenerateOptions, GenerationChunk, GenerationResult, SessionStats, TokenLogprob } from "../generate/types.js";
import { sampleToken } from "../generate/sampler.js";
import { logSumExp } from "../eval/scorer.js";
import { Rng } from "../util/rng.js";
import type { LlamaModel } from "../model/llama.js";
import type { Tokenizer } from "../tokenizer/types.js";
import type { ServeEngine } from "./engine.js";

export class QueueFullError extends Error {
  override readonly name = "QueueFullError";
}

export class InterimEngine implements ServeEngine {
  private queue: Array<() => void> = [];
  private busy = false;
  private readonly counters = { requests: 0, promptTokens: 0, generatedTokens: 0 };

  constructor(private readonly model: LlamaModel, private readonly tokenizer: Tokenizer | undefined, private readonly maxQueue = 64) {}

  stats(): SessionStats {
    return { active: this.busy ? 1 : 0, queued: this.queue.length, ...this.counters };
  }

  async close(): Promise<void> {
    this.queue = [];
  }

  private async acquire(): Promise<void> {
    if (!this.busy) {
      this.busy = true;
      return;
    }
    if (this.queue.length >= this.maxQueue) throw new QueueFullError("the request queue is full");
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.busy = false;
  }

  async *stream(prompt: readonly number[], opts: GenerateOptions): AsyncGenerator<GenerationChunk, GenerationResult> {
    await this.acquire();
    const t0 = performance.now();
    this.counters.requests++;
    this.counters.promptTokens += prompt.length;
    const tokens: number[] = [];
    const logprobs: TokenLogprob[] = [];
    let promptLogprobs: TokenLogprob[] | undefined;
    let text = "";
    let stopReason: GenerationResult["stopReason"] = "max_tokens";
    try {
      const m = this.model;
      const V = m.config.vocabSize;
      const capacity = m.config.maxPositionEmbeddings;
      const maxTokens = opts.maxTokens ?? 128;
      const sampling = { temperature: opts.temperature ?? 0.6, topP: opts.topP ?? 0.9 };
      const rng = new Rng(opts.seed ?? 0);
      const eos = m.config.eosTokenId;
      const cache = m.newCache(Math.min(capacity, prompt.length + maxTokens));
      const all = m.forward(prompt, cache, opts.promptLogprobs !== undefined);
      const rows = all.length / V;
      if (opts.promptLogprobs !== undefined) {
        promptLogprobs = [];
        for (let i = 1; i < prompt.length; i++) promptLogprobs.push(this.logprob(all.subarray((i - 1) * V, i * V), prompt[i]!, opts.promptLogprobs));
      }
      let logits = all.subarray((rows - 1) * V, rows * V);
      const dec = this.tokenizer?.decodeStream();
      if (dec) for (const id of prompt) dec.push(id);
      const stops = opts.stop ?? [];
      while (tokens.length < maxTokens) {
        if (opts.signal?.aborted) { stopReason = "aborted"; break; }
        const next = sampleToken(logits, sampling, rng);
        if (!(opts.ignoreEos ?? false) && next === eos) { stopReason = "eos"; break; }
        const lp = opts.logprobs !== undefined ? this.logprob(logits, next, opts.logprobs) : undefined;
        tokens.push(next);
        if (lp) logprobs.push(lp);
        this.counters.generatedTokens++;
        const piece = dec ? dec.push(next) : "";
        const before = text.length;
        text += piece;
        const hit = stops.map((x) => text.indexOf(x)).filter((i) => i >= 0);
        if (hit.length > 0) {
          const cut = Math.min(...hit);
          const emit = text.slice(before, Math.max(before, cut));
          text = text.slice(0, cut);
          if (emit) yield { text: emit, tokens: [next] };
          stopReason = "stop";
          break;
        }
        yield { text: piece, tokens: [next], ...(lp ? { logprobs: [lp] } : {}) };
        if (tokens.length >= maxTokens) break;
        if (cache.length >= capacity) { stopReason = "context"; break; }
        logits = m.forward([next], cache, false);
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.release();
    }
    const ms = performance.now() - t0;
    const result: GenerationResult = { tokens, text, stopReason, promptTokens: [...prompt], timings: { ttftMs: 0, prefillMs: 0, decodeMs: ms, decodeTokensPerSecond: NaN } };
    if (promptLogprobs) result.promptLogprobs = promptLogprobs;
    if (opts.logprobs !== undefined) result.logprobs = logprobs;
    return result;
  }

  private logprob(row: Float32Array, token: number, k: number): TokenLogprob {
    const { lse } = logSumExp(row);
    const text = (id: number): string => (this.tokenizer ? this.tokenizer.decode([id]) : "");
    const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b).slice(0, k);
    return { token, text: text(token), logprob: row[token]! - lse, top: order.map((id) => ({ token: id, text: text(id), logprob: row[id]! - lse })) };
  }
}
