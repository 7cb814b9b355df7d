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
 * BOS: the harness's current HFLM (lm_eval/models/huggingface.py, `add_bos_token: bool |
 * None = None`, "If None, uses the tokenizer's default behavior"; tok_encode passes no
 * add_special_tokens then, lm_eval/models/utils.py `_add_special_kwargs`) encodes with the
 * tokenizer's default, and LLaMA tokenizers (LlamaTokenizer / tokenizer_config
 * add_bos_token: true) prepend BOS: so does our default. `bos: false` drops it (harness
 * v0.4.0–0.4.2 defaulted to no BOS for non-Gemma models).
 *
 * Batching: requests come in groups (the choices of one question). A group's shared context
 * prefix (the longest common prefix of its contexts) is run once, into one KV cache, and each
 * request runs only what follows it: the rest of its own context, if any (WinoGrande), and its
 * continuation but the last token (whose prediction comes from the row before it). All of
 * this goes through `LlamaModel.forwardBatch`, so the linear layers of one forward call are
 * one product over the prefix rows and every branch's rows, of several questions at once;
 * attention of a branch reads its group's prefix, then its own keys. A forward call holds at
 * most `batchSize` requests and `maxChunk` tokens. A cache keeps its group's prefix for the
 * next call: a later group with the same start does not run it again.
 *
 * The log-softmax of a logits row needs only logsumexp(row), computed once per row with a
 * table-driven exp over the row (see `logSumExp`), not with Math.exp per element.
 */
import type { BatchSegment, KVCache, LlamaModel } from "../model/llama.js";

/** What the scorer needs from a tokenizer (SentencePieceTokenizer has it). */
export interface EvalTokenizer {
  encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[];
  decode(ids: readonly number[]): string;
  readonly bosId: number;
  readonly eosId: number;
}

/** A request that cannot be scored because it does not fit the model's context window. */
export class TooLongError extends RangeError {
  override readonly name = "TooLongError";
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
  /** Most tokens per forward call (long inputs are run in chunks); default 1024. */
  maxChunk?: number;
  /** Most requests (continuations) per forward call; default 32. */
  batchSize?: number;
}

/** Moves the context's trailing whitespace to the continuation, as the harness's _encode_pair. */
export function splitTrailingSpace(context: string, continuation: string): [string, string] {
  const trimmed = context.replace(/\s+$/u, "");
  const n = context.length - trimmed.length;
  if (n === 0) return [context, continuation];
  return [trimmed, context.slice(trimmed.length) + continuation];
}

/** log softmax(row)[token], in float64: the plain reference (Math.exp per element). */
export function logSoftmaxAt(row: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return row[token]! - max - Math.log(sum);
}

// exp(x) for x <= 0 as 2^(-k/64) · e^r with k = round(-64·x/ln 2), |r| <= ln 2/128: the power
// of two from a table, e^r from its cubic Taylor polynomial (relative error below 4e-11, so
// below 4e-11 on logsumexp). Terms below e^-40 are left out: next to the row's maximum
// (e^0 = 1) they change the sum by less than vocab · 4e-18. About 2.5x faster than Math.exp.
const EXP_CUT = -40;
const EXP_N = 64;
const EXP_INV = EXP_N / Math.LN2;
const EXP_STEP = Math.LN2 / EXP_N;
const EXP_TABLE = (() => {
  const t = new Float64Array(Math.ceil(-EXP_CUT * EXP_INV) + 2);
  for (let j = 0; j < t.length; j++) t[j] = Math.pow(2, -j / EXP_N);
  return t;
})();

/** What one logits row gives every token: log p(token) = row[token] − lse. */
export interface RowStats {
  /** logsumexp of the row (float64). */
  lse: number;
  /** First index of the row's maximum (numpy.argmax). */
  argmax: number;
}

/** logsumexp and argmax of a row in two passes (max, then a table-driven exp sum). */
export function logSumExp(row: Float32Array): RowStats {
  const n = row.length;
  let max = -Infinity;
  let argmax = 0;
  for (let i = 0; i < n; i++) {
    const v = row[i]!;
    if (v > max) {
      max = v;
      argmax = i;
    }
  }
  if (!Number.isFinite(max)) return { lse: max === -Infinity || Number.isNaN(max) ? NaN : Infinity, argmax };
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = row[i]! - max;
    if (x < EXP_CUT) continue;
    const k = (0.5 - x * EXP_INV) | 0;
    const r = x + k * EXP_STEP;
    sum += EXP_TABLE[k]! * (1 + r * (1 + r * (0.5 + r * (1 / 6))));
  }
  return { lse: max + Math.log(sum), argmax };
}

/** One forward-call piece: `tokens` at `pos0` of a cache; targets are rows whose logits score a request's token. */
interface Piece {
  slot: CacheSlot;
  pos0: number;
  tokens: number[];
  /** Starts a request's branch (counts towards batchSize). */
  opens: boolean;
  /** Ascending by row. */
  targets: Target[];
  /** Row that is the slot's prefix's last row, to be kept in `slot.lastRow`. */
  keepRow?: number;
}

interface Target {
  row: number;
  /** Index of the request in the flat list of this call to loglikelihoodGroups. */
  req: number;
  /** Index of the continuation token the row predicts. */
  tok: number;
}

interface CacheSlot {
  cache: KVCache;
  /** Tokens whose keys/values are in the cache, positions 0..tokens.length-1. */
  tokens: number[];
  /** The logits row after all of `tokens`, when it was computed. */
  lastRow: Float32Array | undefined;
}

interface Accumulator {
  logprob: number;
  greedy: boolean;
  tokens: number;
  /** Continuation ids. */
  cont: number[];
}

export class LoglikelihoodScorer {
  readonly stats: ScorerStats = { requests: 0, forwardCalls: 0, forwardedTokens: 0 };
  private readonly bos: boolean;
  private readonly maxChunk: number;
  readonly batchSize: number;
  private readonly capacity: number;
  /** One KV cache per group in flight, kept between calls with their prefixes. */
  private readonly slots: CacheSlot[] = [];

  constructor(readonly model: LlamaModel, readonly tokenizer: EvalTokenizer, opts: ScorerOptions = {}) {
    this.bos = opts.bos ?? true;
    this.maxChunk = Math.max(1, opts.maxChunk ?? 1024);
    this.batchSize = Math.max(1, opts.batchSize ?? 32);
    this.capacity = model.config.maxPositionEmbeddings;
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

  /**
   * The request as it will be run: the context loses tokens from its left end when context +
   * continuation[:-1] exceeds the context window (harness: left truncation). Throws RangeError
   * for a request that cannot be scored.
   */
  prepare(req: TokenizedRequest): TokenizedRequest {
    const cont = req.continuation;
    if (cont.length === 0) throw new RangeError("the continuation has no tokens");
    const capacity = this.capacity;
    if (cont.length > capacity) throw new TooLongError(`the continuation has ${cont.length} tokens, more than the context window ${capacity}`);
    let ctx = req.context;
    const over = ctx.length + cont.length - 1 - capacity;
    if (over > 0) ctx = ctx.slice(over);
    if (ctx.length === 0) throw new TooLongError("no context token left after truncation");
    return { context: ctx, continuation: cont };
  }

  /** Log-likelihood of `continuation` after `context` (strings). */
  loglikelihood(context: string, continuation: string): LoglikelihoodResult {
    return this.loglikelihoodTokens(this.tokenize(context, continuation));
  }

  /** Log-likelihood of the continuation ids after the context ids. */
  loglikelihoodTokens(req: TokenizedRequest): LoglikelihoodResult {
    return this.loglikelihoodGroups([[req]])[0]![0]!;
  }

  /**
   * Log-likelihoods of groups of requests; the requests of a group (the choices of one
   * question) share their context's common prefix, run once. Several groups go through the
   * same forward calls, up to `batchSize` requests and `maxChunk` tokens per call.
   */
  loglikelihoodGroups(groups: ReadonlyArray<readonly TokenizedRequest[]>): LoglikelihoodResult[][] {
    const prepared = groups.map((g) => g.map((r) => this.prepare(r)));
    const acc: Accumulator[] = [];
    const pieces: Piece[] = [];
    const used = new Set<CacheSlot>();
    const slotPrefix = new Map<CacheSlot, number[]>();
    /** Requests whose first token is predicted by a slot's stored last row. */
    const fromStoredRow: Array<{ slot: CacheSlot; req: number }> = [];

    for (const group of prepared) {
      if (group.length === 0) continue;
      let p = group[0]!.context.length;
      for (const r of group) p = Math.min(p, commonPrefix(group[0]!.context, r.context, p));
      const prefix = group[0]!.context.slice(0, p);
      const need = Math.max(...group.map((r) => r.context.length + r.continuation.length - 1));
      const slot = this.acquire(prefix, need, used);
      const lcp = commonPrefix(slot.tokens, prefix, p);
      const first = acc.length;
      for (const r of group) {
        acc.push({ logprob: 0, greedy: true, tokens: r.continuation.length, cont: r.continuation });
        this.stats.requests++;
      }
      const ending = group.map((r, i) => (r.context.length === p ? first + i : -1)).filter((i) => i >= 0);
      if (ending.length > 0 && lcp === p && slot.lastRow && slot.tokens.length === p) {
        for (const req of ending) fromStoredRow.push({ slot, req });
      } else if (ending.length > 0) {
        const start = Math.min(lcp, p - 1);
        const row = p - 1 - start;
        pieces.push({ slot, pos0: start, tokens: prefix.slice(start), opens: false, targets: ending.map((req) => ({ row, req, tok: 0 })), keepRow: row });
      } else if (lcp < p) {
        pieces.push({ slot, pos0: lcp, tokens: prefix.slice(lcp), opens: false, targets: [] });
      }
      slotPrefix.set(slot, prefix);
      group.forEach((r, i) => {
        const tokens = [...r.context.slice(p), ...r.continuation.slice(0, -1)];
        if (tokens.length === 0) return;
        const targets: Target[] = [];
        for (let j = 0; j < r.continuation.length; j++) {
          const row = r.context.length - p - 1 + j;
          if (row >= 0) targets.push({ row, req: first + i, tok: j });
        }
        pieces.push({ slot, pos0: p, tokens, opens: true, targets });
      });
    }

    // Stored rows first (they predict each request's first token), then the forward calls.
    for (const { slot, req } of fromStoredRow) this.score(acc[req]!, slot.lastRow!, 0, logSumExp(slot.lastRow!));
    for (const slot of slotPrefix.keys()) {
      slot.tokens = [];
      if (!fromStoredRow.some((f) => f.slot === slot)) slot.lastRow = undefined;
    }
    for (const call of this.pack(pieces)) this.runCall(call, acc);
    for (const [slot, prefix] of slotPrefix) slot.tokens = prefix;

    const out: LoglikelihoodResult[][] = [];
    let i = 0;
    for (const g of prepared) out.push(g.map(() => {
      const a = acc[i++]!;
      return { logprob: a.logprob, greedy: a.greedy, tokens: a.tokens };
    }));
    return out;
  }

  /** The free cache slot with the longest common prefix with `prefix`, holding at least `need` positions. */
  private acquire(prefix: readonly number[], need: number, used: Set<CacheSlot>): CacheSlot {
    let best: CacheSlot | undefined;
    let bestLen = -1;
    for (const s of this.slots) {
      if (used.has(s)) continue;
      const n = commonPrefix(s.tokens, prefix, prefix.length);
      if (n > bestLen) {
        best = s;
        bestLen = n;
      }
    }
    if (best && best.cache.capacity < need) {
      const capacity = Math.min(this.capacity, Math.max(need, 2 * best.cache.capacity));
      best.cache = this.model.newCache(capacity);
      best.tokens = [];
      best.lastRow = undefined;
    }
    if (!best) {
      best = { cache: this.model.newCache(Math.min(this.capacity, Math.max(need, 64))), tokens: [], lastRow: undefined };
      this.slots.push(best);
    }
    used.add(best);
    return best;
  }

  /** Pieces in order into forward calls of at most maxChunk tokens and batchSize opened requests; long pieces are split. */
  private pack(pieces: readonly Piece[]): Piece[][] {
    const calls: Piece[][] = [];
    let cur: Piece[] = [];
    let tokens = 0;
    let requests = 0;
    const flush = (): void => {
      if (cur.length > 0) calls.push(cur);
      cur = [];
      tokens = 0;
      requests = 0;
    };
    for (let piece of pieces) {
      const opens = piece.opens ? 1 : 0;
      if (tokens + piece.tokens.length > this.maxChunk || requests + opens > this.batchSize) flush();
      while (piece.tokens.length > this.maxChunk) {
        const [head, rest] = splitPiece(piece, this.maxChunk);
        calls.push([head]);
        piece = rest;
      }
      cur.push(piece);
      tokens += piece.tokens.length;
      requests += piece.opens ? 1 : 0;
    }
    flush();
    return calls;
  }

  private runCall(call: readonly Piece[], acc: Accumulator[]): void {
    const segments: BatchSegment[] = call.map((p) => ({
      tokens: p.tokens,
      cache: p.slot.cache,
      pos0: p.pos0,
      logitsFrom: p.targets.length > 0 ? p.targets[0]!.row : p.tokens.length,
    }));
    const logits = this.model.forwardBatch(segments);
    this.stats.forwardCalls++;
    const V = this.model.config.vocabSize;
    call.forEach((p, i) => {
      this.stats.forwardedTokens += p.tokens.length;
      const from = segments[i]!.logitsFrom!;
      const rows = logits[i]!;
      let statsRow = -1;
      let stats: RowStats | undefined;
      for (const t of p.targets) {
        const row = rows.subarray((t.row - from) * V, (t.row - from + 1) * V);
        if (t.row !== statsRow) {
          stats = logSumExp(row);
          statsRow = t.row;
        }
        this.score(acc[t.req]!, row, t.tok, stats!);
      }
      if (p.keepRow !== undefined) p.slot.lastRow = rows.slice((p.keepRow - from) * V, (p.keepRow - from + 1) * V);
    });
  }

  private score(a: Accumulator, row: Float32Array, tok: number, stats: RowStats): void {
    const id = a.cont[tok]!;
    a.logprob += row[id]! - stats.lse;
    if (stats.argmax !== id) a.greedy = false;
  }
}

/** Length of the common prefix of a and b, at most `limit`. */
function commonPrefix(a: readonly number[], b: readonly number[], limit: number): number {
  const n = Math.min(a.length, b.length, limit);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** The first `n` tokens of a piece, and the rest (positions and target rows shifted). */
function splitPiece(p: Piece, n: number): [Piece, Piece] {
  const head: Piece = { slot: p.slot, pos0: p.pos0, tokens: p.tokens.slice(0, n), opens: p.opens, targets: p.targets.filter((t) => t.row < n) };
  const rest: Piece = {
    slot: p.slot, pos0: p.pos0 + n, tokens: p.tokens.slice(n), opens: false,
    targets: p.targets.filter((t) => t.row >= n).map((t) => ({ ...t, row: t.row - n })),
  };
  if (p.keepRow !== undefined) {
    if (p.keepRow < n) head.keepRow = p.keepRow;
    else rest.keepRow = p.keepRow - n;
  }
  return [head, rest];
}
