/**
 * Perplexity of text with a sliding window: windows of `window` tokens start every `stride`
 * tokens, and each token is scored once, in the first window that predicts it (so, after the
 * first window, with at least window − stride tokens of context). stride = window (the
 * default) gives lm-evaluation-harness's disjoint rolling windows; a smaller stride gives
 * more context per token at more cost. A document is BOS + its tokens; every token of the
 * document is scored (BOS is the harness's prefix token).
 *
 * Reported: token perplexity exp(nll/tokens), byte perplexity exp(nll/bytes), bits per byte
 * nll/(bytes·ln 2) (UTF-8 bytes), and word perplexity exp(nll/words) with words counted as
 * the harness does (re.split(r"\s+", text)).
 */
import type { LlamaModel } from "../model/llama.js";
import { logSumExp, type EvalTokenizer } from "./scorer.js";

export interface PerplexityOptions {
  /** Tokens per window (default: the model's context length). */
  window?: number;
  /** Tokens between window starts (default: window). */
  stride?: number;
  /** Most tokens per forward call (default 512). */
  maxChunk?: number;
}

export interface DocumentNll {
  /** Negative log-likelihood (nats) of all document tokens. */
  nll: number;
  tokens: number;
  bytes: number;
  words: number;
  forwardedTokens: number;
}

export interface PerplexityMetrics {
  token_perplexity: number;
  byte_perplexity: number;
  bits_per_byte: number;
  word_perplexity: number;
  tokens: number;
  bytes: number;
  [key: string]: number;
}

/** NLL of token ids[1..] given ids[0..] with the sliding window; ids[0] is the prefix (BOS). */
export function slidingNll(model: LlamaModel, ids: readonly number[], opts: PerplexityOptions = {}): { nll: number; scored: number; forwardedTokens: number } {
  const window = opts.window ?? model.config.maxPositionEmbeddings;
  const stride = opts.stride ?? window;
  const maxChunk = Math.max(1, opts.maxChunk ?? 512);
  if (!Number.isInteger(window) || window < 1 || window > model.config.maxPositionEmbeddings) {
    throw new RangeError(`window ${window} must be in [1, ${model.config.maxPositionEmbeddings}]`);
  }
  if (!Number.isInteger(stride) || stride < 1 || stride > window) throw new RangeError(`stride ${stride} must be in [1, window ${window}]`);
  const V = model.config.vocabSize;
  const N = ids.length;
  const cache = model.newCache(window);
  let nll = 0;
  let next = 1; // next target index to score
  let forwardedTokens = 0;
  for (let begin = 0; next < N; begin += stride) {
    const lastTarget = Math.min(begin + window, N - 1);
    if (lastTarget < next) continue;
    // Input ids[begin..lastTarget-1]; row r predicts ids[begin + r + 1].
    cache.reset();
    const input = ids.slice(begin, lastTarget);
    const firstRow = next - 1 - begin;
    for (let s = 0; s < input.length; s += maxChunk) {
      const piece = input.slice(s, s + maxChunk);
      const logits = model.forward(piece, cache, true);
      forwardedTokens += piece.length;
      for (let r = Math.max(0, firstRow - s); r < piece.length; r++) {
        const row = logits.subarray(r * V, (r + 1) * V);
        nll -= row[ids[begin + s + r + 1]!]! - logSumExp(row).lse;
      }
    }
    next = lastTarget + 1;
  }
  return { nll, scored: N - 1, forwardedTokens };
}

export function documentNll(model: LlamaModel, tokenizer: EvalTokenizer, text: string, opts: PerplexityOptions = {}): DocumentNll {
  const prefix = tokenizer.bosId >= 0 ? tokenizer.bosId : tokenizer.eosId;
  const ids = [prefix, ...tokenizer.encode(text)];
  const r = slidingNll(model, ids, opts);
  return { nll: r.nll, tokens: r.scored, bytes: Buffer.byteLength(text, "utf8"), words: text.split(/\s+/).length, forwardedTokens: r.forwardedTokens };
}

export function perplexityMetrics(docs: readonly DocumentNll[]): PerplexityMetrics {
  let nll = 0, tokens = 0, bytes = 0, words = 0;
  for (const d of docs) {
    nll += d.nll;
    tokens += d.tokens;
    bytes += d.bytes;
    words += d.words;
  }
  return {
    token_perplexity: Math.exp(nll / tokens),
    byte_perplexity: Math.exp(nll / bytes),
    bits_per_byte: nll / bytes / Math.LN2,
    word_perplexity: Math.exp(nll / words),
    tokens,
    bytes,
  };
}
