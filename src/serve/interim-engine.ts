/**
 * TEMPORARY stand-in for GenerationSession until the runtime lands on main: one request at a
 * time (a FIFO queue, `maxQueue` waiting), decoded with `generateTokens`, yielding to the event
 * loop after every token. It supports what the chat page needs (text streaming, max tokens,
 * temperature, top-p, seed, stop strings, abort); no log-probabilities. Removed on merge.
 */
import type { GenerateOptions, GenerationChunk, GenerationResult, SessionStats } from "../generate/types.js";
import { generateTokens } from "../generate/generate.js";
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
    let text = "";
    let stopReason: GenerationResult["stopReason"] = "max_tokens";
    try {
      const gen = generateTokens(this.model, prompt, {
        maxTokens: opts.maxTokens ?? 128,
        temperature: opts.temperature ?? 0.6,
        topP: opts.topP ?? 0.9,
        seed: opts.seed ?? 0,
        stopAtEos: !(opts.ignoreEos ?? false),
      });
      const dec = this.tokenizer?.decodeStream();
      if (dec) for (const id of prompt) dec.push(id);
      const stops = opts.stop ?? [];
      for (;;) {
        if (opts.signal?.aborted) { stopReason = "aborted"; break; }
        const r = gen.next();
        if (r.done) { stopReason = r.value.stopReason; break; }
        tokens.push(r.value);
        this.counters.generatedTokens++;
        const piece = dec ? dec.push(r.value) : "";
        const before = text.length;
        text += piece;
        const hit = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
        if (hit.length > 0) {
          const cut = Math.min(...hit);
          const emit = text.slice(before, Math.max(before, cut));
          text = text.slice(0, cut);
          if (emit) yield { text: emit, tokens: [r.value] };
          stopReason = "stop";
          break;
        }
        yield { text: piece, tokens: [r.value] };
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.release();
    }
    const ms = performance.now() - t0;
    return { tokens, text, stopReason, promptTokens: [...prompt], timings: { ttftMs: 0, prefillMs: 0, decodeMs: ms, decodeTokensPerSecond: NaN } };
  }
}
