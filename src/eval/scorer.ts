/**
 * Log-likelihood of a continuation given a context, tokenised and computed the way
 * lm-evaluation-harness does it for a causal model with a SentencePiece tokenizer:
 *
 *  - trailing whitespace of the context moves to the front of the continuation
 *    ("Answer: " + "Paris" is scored as "Answer:" + " Paris");
 *  - context tokens = encode(context); continuation tokens = encode(context + continuation)
 *    without its first len(encode(context)) tokens (SentencePiece's dummy prefix and merges
 *    across the boundary make encode(continuation) alone wrong);
 *  - an empty context is replaced by the prefix token (BOS);
 *  - a sequence longer than the context window loses tokens from its left end.
 *
 * One difference, on purpose: the harness (v0.4, HFLM) adds no BOS to a non-empty context by
 * default; we prepend BOS, as LLaMA was trained with it and Meta's evaluation feeds it
 * (`bos: false` gives the harness's default).
 *
 * The KV cache is reused between consecutive requests: the tokens they share at the start
 * are not run again. The choices of one question share their context, so the context is run
 * once per question and each choice only runs its own continuation (all but its last token,
 * whose prediction comes from the row before it).
 */
import type { KVCache, LlamaModel } from "../model/llama.js";

/** What the scorer needs from a tokenizer (SentencePieceTokenizer has it). */
export interface EvalTokenizer {
  encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[];
  decode(ids: readonly number[]): string;
  readonly bosId: number;
  readonly eosId: number;
}

export interface TokenizedRequest {
  context: number[];
  continuation: number[];
}

export interface LoglikelihoodResult {
  /** Sum of log-probabilities (natural log) of the continuation tokens. */
  logprob: number;
  /** True when every continuation token is the argmax of its row (the harness's is_greedy). */
  greedy: boolean;
  /** Number of continuation tokens. */
  tokens: number;
}

export interface ScorerStats {
  requests: number;
  forwardCalls: number;
  /** Tokens run through the model (the cost; a shared context counts once). */
  forwardedTokens: number;
}

export interface ScorerOptions {
  /** Prepend BOS to every context (default true). */
  bos?: boolean;
  /** Most tokens per forward call (long inputs are run in chunks); default 512. */
  maxChunk?: number;
}

/** Moves the context's trailing whitespace to the continuation, as the harness's _encode_pair. */
export function splitTrailingSpace(context: string, continuation: string): [string, string] {
  const trimmed = context.replace(/\s+$/u, "");
  const n = context.length - trimmed.length;
  if (n === 0) return [context, continuation];
  return [trimmed, context.slice(trimmed.length) + continuation];
}

/** log softmax(row)[token], in float64. */
export function logSoftmaxAt(row: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return row[token]! - max - Math.log(sum);
}

function argmaxRow(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

export class LoglikelihoodScorer {
  readonly stats: ScorerStats = { requests: 0, forwardCalls: 0, forwardedTokens: 0 };
  private readonly bos: boolean;
  private readonly maxChunk: number;
  private readonly cache: KVCache;
  /** Tokens whose keys/values are in the cache, positions 0..cached.length-1. */
  private cached: number[] = [];
  /** The logits row after the last context that was run, and that context's length. */
  private lastContext: { length: number; row: Float32Array } | undefined;

  constructor(readonly model: LlamaModel, readonly tokenizer: EvalTokenizer, opts: ScorerOptions = {}) {
    this.bos = opts.bos ?? true;
    this.maxChunk = Math.max(1, opts.maxChunk ?? 512);
    this.cache = model.newCache();
  }

  /** Context and continuation token ids as the harness builds them (see the file comment). */
  tokenize(context: string, continuation: string): TokenizedRequest {
    const [ctx, cont] = splitTrailingSpace(context, continuation);
    const prefix = this.bos ? [this.tokenizer.bosId] : [];
    if (ctx === "") {
      const first = this.tokenizer.bosId >= 0 ? this.tokenizer.bosId : this.tokenizer.eosId;
      return { context: [first], continuation: this.tokenizer.encode(cont) };
    }
    const whole = this.tokenizer.encode(ctx + cont);
    const ctxIds = this.tokenizer.encode(ctx);
    return { context: [...prefix, ...ctxIds], continuation: whole.slice(ctxIds.length) };
  }

  /** Log-likelihood of `continuation` after `context` (strings). */
  loglikelihood(context: string, continuation: string): LoglikelihoodResult {
    return this.loglikelihoodTokens(this.tokenize(context, continuation));
  }

  /** Log-likelihood of the continuation ids after the context ids. */
  loglikelihoodTokens(req: TokenizedRequest): LoglikelihoodResult {
    const cont = req.continuation;
    if (cont.length === 0) throw new RangeError("the continuation has no tokens");
    let ctx = req.context;
    const capacity = this.cache.capacity;
    if (cont.length > capacity) throw new RangeError(`the continuation has ${cont.length} tokens, more than the context window ${capacity}`);
    // The model sees ctx + cont[:-1]; keep its last `capacity` tokens (harness: left truncation).
    const over = ctx.length + cont.length - 1 - capacity;
    if (over > 0) ctx = ctx.slice(over);
    if (ctx.length === 0) throw new RangeError("no context token left after truncation");
    this.stats.requests++;

    let lcp = 0;
    const limit = Math.min(this.cached.length, ctx.length);
    while (lcp < limit && this.cached[lcp] === ctx[lcp]) lcp++;
    let row: Float32Array;
    if (lcp === ctx.length && this.lastContext?.length === ctx.length) {
      row = this.lastContext.row;
    } else {
      const start = Math.min(lcp, ctx.length - 1);
      this.cache.length = start;
      row = this.run(ctx.slice(start), false);
      this.lastContext = { length: ctx.length, row };
    }
    this.cache.length = ctx.length;
    this.cached = ctx.slice();

    let logprob = logSoftmaxAt(row, cont[0]!);
    let greedy = argmaxRow(row) === cont[0]!;
    if (cont.length > 1) {
      const inputs = cont.slice(0, -1);
      const logits = this.run(inputs, true);
      const V = this.model.config.vocabSize;
      for (let i = 1; i < cont.length; i++) {
        const r = logits.subarray((i - 1) * V, i * V);
        logprob += logSoftmaxAt(r, cont[i]!);
        if (greedy && argmaxRow(r) !== cont[i]!) greedy = false;
      }
      this.cached.push(...inputs);
    }
    return { logprob, greedy, tokens: cont.length };
  }

  /** Runs tokens at cache.length.., in chunks of maxChunk; all rows or only the last. */
  private run(tokens: number[], allLogits: boolean): Float32Array {
    const V = this.model.config.vocabSize;
    const out = allLogits ? new Float32Array(tokens.length * V) : undefined;
    let last: Float32Array | undefined;
    for (let s = 0; s < tokens.length; s += this.maxChunk) {
      const piece = tokens.slice(s, s + this.maxChunk);
      const isLast = s + piece.length >= tokens.length;
      const logits = this.model.forward(piece, this.cache, allLogits);
      this.stats.forwardCalls++;
      this.stats.forwardedTokens += piece.length;
      if (out) out.set(logits, s * V);
      else if (isLast) last = logits;
    }
    return out ?? last!;
  }
}
