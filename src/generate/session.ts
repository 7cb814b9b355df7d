/**
 * The generation session: every way of generating text (the CLI's generate and chat, the
 * server, scripts) goes through here.
 *
 *   const lm = await loadModel("stories15M.gguf");
 *   const session = new GenerationSession(lm, { parallel: 4 });
 *   for await (const chunk of session.stream("Once upon a time", { maxTokens: 64 })) process.stdout.write(chunk.text);
 *
 * Continuous batching: the session keeps up to `parallel` sequences in flight, each with its
 * own KV cache, and runs them all in one batched forward per step (`LlamaModel.forwardBatch`):
 * a sequence still reading its prompt contributes its next chunk of prompt tokens, a
 * generating one its last sampled token. New requests join between steps, finished or
 * cancelled ones leave and free their caches. Between steps the loop yields to the event
 * loop, so a server stays responsive while it decodes. Each sequence samples with its own
 * seeded RNG from its own logits row, so its tokens do not depend on what else is in the batch.
 *
 * A request's life: prompt (string → ids with BOS, or ids as given) → prefill in chunks of
 * `prefillChunk` tokens (with `promptLogprobs`, every prompt row is scored on the way) → from
 * the last prompt row on, sample → emit → feed the sampled token, until a stop token, a stop
 * string, `maxTokens` or the context ends it.
 */
import type { BatchSegment, KVCache, LlamaModel } from "../model/llama.js";
import type { LanguageModel } from "../runtime/language-model.js";
import type { Tokenizer, TokenDecodeStream } from "../tokenizer/types.js";
import { UserError } from "../util/errors.js";
import { Rng } from "../util/rng.js";
import { adjustLogits, sampleToken } from "./sampler.js";
import { StopMatcher } from "./stop.js";
import type {
  GenerateOptions,
  GenerationChunk,
  GenerationResult,
  SessionOptions,
  SessionStats,
  StopReason,
  TokenLogprob,
  TopLogprob,
} from "./types.js";

/** The session's queue is full (the server answers 429). */
export class QueueFullError extends Error {
  override readonly name = "QueueFullError";
}

/** A request the session cannot run as asked (bad ids, a prompt longer than the context, ...): a client error. */
export class RequestError extends UserError {
  constructor(message: string, readonly param?: string) {
    super(message);
  }
}

export const GENERATE_DEFAULTS = { temperature: 0.6, topP: 0.9, maxTokens: 128, seed: 0, penaltyWindow: 64 } as const;
const MAX_TOP_LOGPROBS = 20;

/** One request in flight: prompt progress, cache, sampler state and the chunks not yet read. */
class Sequence {
  cache: KVCache | undefined;
  /** Prompt tokens already run through the model. */
  fed = 0;
  /** The last sampled token, to be run in the next step. */
  pending: number | undefined;
  readonly generated: number[] = [];
  readonly counts = new Map<number, number>();
  readonly rng: Rng;
  readonly stopIds: Set<number>;
  readonly stopper: StopMatcher;
  readonly decoder: TokenDecodeStream | undefined;
  text = "";
  readonly chunks: GenerationChunk[] = [];
  readonly promptLogprobs: TokenLogprob[] | undefined;
  readonly logprobs: TokenLogprob[] | undefined;
  /** Decodes prompt tokens for `textPiece` while scoring the prompt. */
  readonly promptDecoder: TokenDecodeStream | undefined;
  result: GenerationResult | undefined;
  error: unknown;
  wake: (() => void) | undefined;
  readonly tSubmit = performance.now();
  tAdmit = 0;
  tFirst = 0;

  constructor(readonly prompt: readonly number[], readonly opts: GenerateOptions, readonly capacity: number, readonly tokenizer: Tokenizer | undefined, eog: readonly number[]) {
    this.rng = new Rng(opts.seed ?? GENERATE_DEFAULTS.seed);
    this.stopIds = new Set(opts.ignoreEos ? [] : (opts.stopTokenIds ?? eog));
    this.stopper = new StopMatcher(opts.stop ?? []);
    // The decoder reads the prompt first so the generated text continues it (a first generated
    // "▁there" after a prompt is " there", not "there" as at the start of a text).
    this.decoder = tokenizer?.decodeStream();
    if (this.decoder) for (const id of prompt) this.decoder.push(id);
    this.promptLogprobs = opts.promptLogprobs !== undefined ? [] : undefined;
    this.promptDecoder = opts.promptLogprobs !== undefined ? tokenizer?.decodeStream() : undefined;
    if (this.promptDecoder) this.promptDecoder.push(prompt[0]!);
    this.logprobs = opts.logprobs !== undefined ? [] : undefined;
  }

  get maxTokens(): number {
    return this.opts.maxTokens ?? GENERATE_DEFAULTS.maxTokens;
  }

  /** The segment this sequence adds to the next batched forward, or undefined when it has nothing to run. */
  nextSegment(prefillChunk: number): BatchSegment | undefined {
    const cache = this.cache!;
    if (this.fed < this.prompt.length) {
      const n = Math.min(prefillChunk, this.prompt.length - this.fed);
      const last = this.fed + n === this.prompt.length;
      const logitsFrom = this.promptLogprobs ? 0 : last && this.maxTokens > 0 ? n - 1 : n;
      return { tokens: this.prompt.slice(this.fed, this.fed + n), cache, pos0: this.fed, logitsFrom };
    }
    if (this.pending !== undefined) return { tokens: [this.pending], cache, pos0: cache.length, logitsFrom: 0 };
    return undefined;
  }

  /** Takes the logits of the segment it contributed; samples when the prompt is done. */
  consume(seg: BatchSegment, logits: Float32Array, V: number): void {
    const T = seg.tokens.length;
    this.cache!.length = seg.pos0! + T;
    if (this.fed < this.prompt.length) {
      const start = this.fed;
      if (this.promptLogprobs) {
        // Row r (position start + r) predicts prompt token start + r + 1.
        for (let r = 0; r < T && start + r + 1 < this.prompt.length; r++) {
          const id = this.prompt[start + r + 1]!;
          const piece = this.promptDecoder ? this.promptDecoder.push(id) : "";
          this.promptLogprobs.push(tokenLogprob(logits.subarray(r * V, (r + 1) * V), id, piece, this.opts.promptLogprobs!, this.tokenizer));
        }
      }
      this.fed += T;
      if (this.fed < this.prompt.length) return;
      if (this.maxTokens === 0) return this.finish("max_tokens");
      this.sample(logits.subarray(logits.length - V)); // the last prompt row
    } else {
      this.sample(logits.subarray(0, V));
    }
  }

  private sample(row: Float32Array): void {
    const o = this.opts;
    if (this.generated.length === 0) this.tFirst = performance.now();
    let l = row;
    const penalised = (o.repetitionPenalty ?? 1) !== 1 || (o.frequencyPenalty ?? 0) !== 0 || (o.presencePenalty ?? 0) !== 0;
    if (o.logitBias || penalised) {
      l = Float32Array.from(row);
      const w = o.penaltyWindow ?? GENERATE_DEFAULTS.penaltyWindow;
      const all = this.prompt.concat(this.generated);
      adjustLogits(l, o, all.slice(Math.max(0, all.length - w)), this.counts);
    }
    const sampling = { temperature: o.temperature ?? GENERATE_DEFAULTS.temperature, topP: o.topP ?? GENERATE_DEFAULTS.topP, topK: o.topK ?? 0, minP: o.minP ?? 0 };
    const id = sampleToken(l, sampling, this.rng);
    if (!Number.isInteger(id) || id < 0 || id >= row.length) throw new Error(`internal error: sampled token ${id} is outside [0, ${row.length})`);
    if (this.stopIds.has(id)) return this.finish("eos");
    this.generated.push(id);
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
    const piece = this.decoder ? this.decoder.push(id) : "";
    const text = this.stopper.push(piece);
    this.text += text;
    const chunk: GenerationChunk = { text, tokens: [id] };
    if (this.logprobs) {
      const lp = tokenLogprob(row, id, piece, o.logprobs!, this.tokenizer);
      this.logprobs.push(lp);
      chunk.logprobs = [lp];
    }
    this.chunks.push(chunk);
    if (this.stopper.stopped) return this.finish("stop");
    if (this.generated.length >= this.maxTokens) return this.finish("max_tokens");
    if (this.cache!.length >= this.capacity) return this.finish("context");
    this.pending = id;
  }

  finish(reason: StopReason): void {
    if (this.result) return;
    this.pending = undefined;
    this.cache = undefined;
    let tail = "";
    if (reason !== "stop" && reason !== "aborted") tail = this.stopper.push(this.decoder ? this.decoder.flush() : "") + this.stopper.flush();
    this.text += tail;
    const end = performance.now();
    const first = this.tFirst || end;
    const decodeMs = end - first;
    const n = this.generated.length;
    const result: GenerationResult = {
      tokens: this.generated.slice(),
      text: this.text,
      stopReason: reason,
      promptTokens: this.prompt.slice(),
      timings: {
        ttftMs: first - this.tSubmit,
        prefillMs: this.tAdmit ? first - this.tAdmit : 0,
        decodeMs,
        decodeTokensPerSecond: n > 1 && decodeMs > 0 ? ((n - 1) * 1000) / decodeMs : NaN,
      },
    };
    if (this.promptLogprobs) result.promptLogprobs = this.promptLogprobs;
    if (this.logprobs) result.logprobs = this.logprobs;
    this.result = result;
    this.chunks.push({ text: tail, tokens: [], result });
    this.wake?.();
  }

  fail(err: unknown): void {
    if (this.result || this.error) return;
    this.error = err;
    this.cache = undefined;
    this.wake?.();
  }
}

/** log p(id) and the top-k alternatives from a logits row: log_softmax in float64. */
function tokenLogprob(row: Float32Array, id: number, textPiece: string, k: number, tok: Tokenizer | undefined): TokenLogprob {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  const lse = max + Math.log(sum);
  const top: TopLogprob[] = [];
  if (k > 0) {
    // Keep the k largest in a small sorted array (k <= 20).
    const ids: number[] = [];
    for (let i = 0; i < row.length; i++) {
      const v = row[i]!;
      if (ids.length === k && v <= row[ids[k - 1]!]!) continue;
      let j = ids.length < k ? ids.length : k - 1;
      while (j > 0 && row[ids[j - 1]!]! < v) {
        if (j < k) ids[j] = ids[j - 1]!;
        j--;
      }
      ids[j] = i;
    }
    for (const t of ids) top.push({ token: t, text: pieceText(tok, t), logprob: row[t]! - lse });
  }
  return { token: id, text: pieceText(tok, id), textPiece, logprob: row[id]! - lse, top };
}

/** A token's vocabulary piece with SentencePiece's `▁` shown as a space. */
export function pieceText(tok: Tokenizer | undefined, id: number): string {
  if (!tok || id >= tok.vocabSize) return String(id);
  return tok.idToPiece(id).replaceAll("\u2581", " ");
}

/** Runs one batched forward over every sequence that has something to run. */
function step(model: LlamaModel, seqs: readonly Sequence[], prefillChunk: number): void {
  const segs: BatchSegment[] = [];
  const owners: Sequence[] = [];
  for (const s of seqs) {
    if (s.result || s.error !== undefined) continue;
    const seg = s.nextSegment(prefillChunk);
    if (seg) {
      segs.push(seg);
      owners.push(s);
    } else {
      // Every unfinished sequence has a prompt chunk or a sampled token to run; one without
      // would otherwise keep the loop spinning forever.
      s.fail(new Error("internal error: a sequence has nothing to run but has not finished"));
    }
  }
  if (segs.length === 0) return;
  const outs = model.forwardBatch(segs);
  const V = model.config.vocabSize;
  owners.forEach((s, i) => s.consume(segs[i]!, outs[i]!, V));
}

/**
 * Resolves on a next turn of the event loop: setImmediate in Node; in a browser a
 * MessageChannel message (setTimeout(0) is clamped to 4 ms there, which would cap decoding).
 */
const yieldToEventLoop: () => Promise<void> =
  typeof setImmediate === "function"
    ? () => new Promise((resolve) => setImmediate(resolve))
    : (() => {
        const channel = new MessageChannel();
        const waiting: (() => void)[] = [];
        channel.port1.onmessage = () => waiting.shift()?.();
        return () => new Promise<void>((resolve) => {
          waiting.push(resolve);
          channel.port2.postMessage(0);
        });
      })();

export class GenerationSession {
  readonly parallel: number;
  readonly contextLength: number;
  readonly maxQueue: number;
  readonly prefillChunk: number;
  private readonly queue: Sequence[] = [];
  private active: Sequence[] = [];
  private loop: Promise<void> | undefined;
  private closed = false;
  private readonly counters = { requests: 0, promptTokens: 0, generatedTokens: 0 };

  constructor(readonly lm: Pick<LanguageModel, "model" | "tokenizer" | "config">, opts: SessionOptions = {}) {
    this.parallel = positiveInt(opts.parallel ?? 4, "parallel");
    const maxCtx = lm.config.maxPositionEmbeddings;
    this.contextLength = Math.min(positiveInt(opts.contextLength ?? maxCtx, "contextLength"), maxCtx);
    this.maxQueue = Math.max(0, Math.trunc(opts.maxQueue ?? 64));
    this.prefillChunk = positiveInt(opts.prefillChunk ?? 256, "prefillChunk");
  }

  /**
   * Starts generating; the request is checked and queued now (a RequestError or QueueFullError
   * is thrown here, before anything runs). Iterate the result for chunks; its return value
   * (also on the last chunk's `result`) says how it ended. Leaving the loop early cancels it.
   */
  stream(prompt: string | readonly number[], opts: GenerateOptions = {}): AsyncGenerator<GenerationChunk, GenerationResult> {
    const seq = this.submit(prompt, opts);
    return this.iterate(seq);
  }

  /** Generates to the end and returns the whole result. */
  async generate(prompt: string | readonly number[], opts: GenerateOptions = {}): Promise<GenerationResult> {
    const it = this.stream(prompt, opts);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  /**
   * Generates without awaiting (for scripts and synchronous callers): runs this request alone,
   * outside the batch loop. Same tokens as `generate` for the same request.
   */
  generateSync(prompt: string | readonly number[], opts: GenerateOptions = {}): GenerationResult {
    const it = this.streamSync(prompt, opts);
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
    }
  }

  /** `stream` as a synchronous generator: this request alone, blocking between chunks. */
  *streamSync(prompt: string | readonly number[], opts: GenerateOptions = {}): Generator<GenerationChunk, GenerationResult> {
    const seq = this.prepare(prompt, opts);
    this.admit(seq);
    try {
      while (!seq.result) {
        step(this.lm.model, [seq], this.prefillChunk);
        yield* seq.chunks.splice(0);
      }
      return seq.result;
    } finally {
      if (!seq.result) seq.finish("aborted");
      this.retire(seq);
    }
  }

  /** Tokenises a string prompt as `generate` will (BOS prepended unless `bos: false`). */
  encodePrompt(prompt: string | readonly number[], opts: Pick<GenerateOptions, "bos" | "parseSpecial"> = {}): number[] {
    if (typeof prompt !== "string") return Array.from(prompt);
    const tok = this.lm.tokenizer;
    if (!tok) throw new RequestError("this model has no tokenizer: give the prompt as token ids", "prompt");
    return tok.encode(prompt, { bos: opts.bos ?? true, parseSpecial: opts.parseSpecial ?? false });
  }

  stats(): SessionStats {
    return { active: this.active.length, queued: this.queue.length, ...this.counters };
  }

  /** Cancels everything queued or in flight and waits for the loop to stop. */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of [...this.queue, ...this.active]) s.finish("aborted");
    this.queue.length = 0;
    await this.loop;
  }

  private prepare(prompt: string | readonly number[], opts: GenerateOptions): Sequence {
    if (this.closed) throw new RequestError("the session is closed");
    const ids = this.encodePrompt(prompt, opts);
    checkOptions(opts);
    const V = this.lm.config.vocabSize;
    if (ids.length === 0) throw new RequestError("the prompt is empty", "prompt");
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new RequestError(`token id ${id} is outside the vocabulary [0, ${V})`, "prompt");
    }
    if (ids.length > this.contextLength) {
      throw new RequestError(`the prompt has ${ids.length} tokens, more than the context length ${this.contextLength}`, "prompt");
    }
    const maxTokens = opts.maxTokens ?? GENERATE_DEFAULTS.maxTokens;
    const capacity = Math.min(this.contextLength, ids.length + Math.max(maxTokens, 1));
    const tok = this.lm.tokenizer;
    return new Sequence(ids, opts, capacity, tok, defaultStopIds(this.lm));
  }

  private submit(prompt: string | readonly number[], opts: GenerateOptions): Sequence {
    const seq = this.prepare(prompt, opts);
    if (this.queue.length >= this.maxQueue && this.active.length >= this.parallel) {
      throw new QueueFullError(`the queue is full (${this.queue.length} waiting, ${this.active.length} running)`);
    }
    const signal = opts.signal;
    if (signal) {
      if (signal.aborted) seq.finish("aborted");
      else signal.addEventListener("abort", () => this.cancel(seq), { once: true });
    }
    if (!seq.result) {
      this.queue.push(seq);
      this.kick();
    }
    return seq;
  }

  private cancel(seq: Sequence): void {
    seq.finish("aborted");
    const q = this.queue.indexOf(seq);
    if (q >= 0) this.queue.splice(q, 1);
  }

  private async *iterate(seq: Sequence): AsyncGenerator<GenerationChunk, GenerationResult> {
    try {
      for (;;) {
        while (seq.chunks.length > 0) yield seq.chunks.shift()!;
        if (seq.error !== undefined) throw seq.error;
        if (seq.result) return seq.result;
        await new Promise<void>((resolve) => (seq.wake = resolve));
        seq.wake = undefined;
      }
    } finally {
      if (!seq.result) this.cancel(seq);
    }
  }

  private admit(seq: Sequence): void {
    seq.cache = this.lm.model.newCache(seq.capacity);
    seq.tAdmit = performance.now();
    this.counters.requests++;
    this.counters.promptTokens += seq.prompt.length;
  }

  private retire(seq: Sequence): void {
    this.counters.generatedTokens += seq.generated.length;
  }

  private kick(): void {
    if (!this.loop) this.loop = this.run().finally(() => (this.loop = undefined));
  }

  private async run(): Promise<void> {
    for (;;) {
      while (this.active.length < this.parallel && this.queue.length > 0) {
        const s = this.queue.shift()!;
        if (s.result) continue;
        this.admit(s);
        this.active.push(s);
      }
      if (this.active.length === 0) return;
      try {
        step(this.lm.model, this.active, this.prefillChunk);
      } catch (err) {
        for (const s of this.active) s.fail(err);
      }
      for (const s of this.active) {
        if (s.chunks.length > 0) s.wake?.();
        if (s.result || s.error !== undefined) this.retire(s);
      }
      this.active = this.active.filter((s) => !s.result && s.error === undefined);
      await yieldToEventLoop();
    }
  }
}

/** Special tokens that end a turn in the LLaMA family's chat formats (Llama 3's <|eot_id|>, ...), besides EOS. */
const END_OF_TURN_TOKENS = ["<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>"];

/** Default stop ids: the tokenizer's EOS (else the config's) and any end-of-turn special token it has. */
function defaultStopIds(lm: Pick<LanguageModel, "tokenizer" | "config">): number[] {
  const tok = lm.tokenizer;
  const ids = [tok && tok.eosId >= 0 ? tok.eosId : lm.config.eosTokenId];
  if (tok) {
    const specials = tok.specialTokens();
    for (const t of END_OF_TURN_TOKENS) {
      const id = specials.get(t);
      if (id !== undefined && !ids.includes(id)) ids.push(id);
    }
  }
  return ids;
}

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer, got ${v}`);
  return v;
}

/** Checks option ranges once, so a bad request fails before it is queued. */
function checkOptions(o: GenerateOptions): void {
  const num = (v: number | undefined, name: string, lo: number, hi: number, int = false): void => {
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v))) {
      throw new RequestError(`${name} must be ${int ? "an integer" : "a number"} in [${lo}, ${hi}], got ${String(v)}`, name);
    }
  };
  num(o.temperature, "temperature", 0, 100);
  num(o.topP, "top_p", Number.MIN_VALUE, 1);
  num(o.topK, "top_k", 0, Number.MAX_SAFE_INTEGER, true);
  num(o.minP, "min_p", 0, 1);
  num(o.repetitionPenalty, "repetition_penalty", Number.MIN_VALUE, 100);
  num(o.frequencyPenalty, "frequency_penalty", -2, 2);
  num(o.presencePenalty, "presence_penalty", -2, 2);
  num(o.penaltyWindow, "penalty_window", 0, Number.MAX_SAFE_INTEGER, true);
  num(o.maxTokens, "max_tokens", 0, Number.MAX_SAFE_INTEGER, true);
  num(o.seed, "seed", -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
  num(o.logprobs, "logprobs", 0, MAX_TOP_LOGPROBS, true);
  num(o.promptLogprobs, "logprobs", 0, MAX_TOP_LOGPROBS, true);
  if (o.logitBias) for (const [k, v] of Object.entries(o.logitBias)) num(v, `logit_bias[${k}]`, -100, 100);
}
