/**
 * The generation API's types: what a request asks for, what a stream yields, and how it ended.
 * `GenerationSession` (session.ts) implements them; `generate`, `chat`, `eval` and `serve` use
 * only these.
 */

/** How the next token is chosen. Every field has a default (shown). */
export interface SamplingParams {
  /** Softmax temperature; 0 = greedy (argmax, lowest id on ties). Default 0.6 (Meta's example). */
  temperature?: number;
  /** Nucleus mass in (0, 1]: keep the smallest set of most likely tokens reaching it (Meta's rule). Default 0.9. */
  topP?: number;
  /** Keep only the k most likely tokens; 0 = off (default). */
  topK?: number;
  /** Drop tokens whose probability is below minP × the top token's; 0 = off (default). */
  minP?: number;
  /** CTRL-style repetition penalty over the penalty window: logit / r if > 0 else logit · r; 1 = off (default). */
  repetitionPenalty?: number;
  /** OpenAI's: logit -= frequencyPenalty · count(token in the generated text); 0 = off (default). */
  frequencyPenalty?: number;
  /** OpenAI's: logit -= presencePenalty if the token was generated; 0 = off (default). */
  presencePenalty?: number;
  /** How many most recent tokens (prompt and generated) the repetition penalty sees; default 64. */
  penaltyWindow?: number;
  /** Added to the logits of the given token ids before sampling (e.g. -100 bans a token). */
  logitBias?: Readonly<Record<number, number>>;
  /** Random seed for sampling; default 0. Same seed, same request: same tokens. */
  seed?: number;
}

export interface GenerateOptions extends SamplingParams {
  /** Maximum number of tokens to generate; 0 allowed (only the prompt is run). Default 128. */
  maxTokens?: number;
  /** Stop strings: generation ends before the first occurrence, which is not emitted (even when split across tokens). */
  stop?: readonly string[];
  /** Token ids that end generation (not emitted); default: the tokenizer's / config's EOS. */
  stopTokenIds?: readonly number[];
  /** Keep generating past EOS (default false). */
  ignoreEos?: boolean;
  /** With a string prompt: prepend BOS (default true, as `llama-ts generate --prompt`). */
  bos?: boolean;
  /** With a string prompt: parse special-token strings such as `<s>` (default false; chat sets it). */
  parseSpecial?: boolean;
  /** Return this many top alternatives (0..20) with each generated token's log-probability; undefined = none. */
  logprobs?: number;
  /** Also score the prompt: log-probabilities of prompt tokens 1.. given what precedes (OpenAI `echo`), with this many top alternatives. */
  promptLogprobs?: number;
  /** Cancels the request; the stream then ends with stopReason "aborted" and its KV cache is freed. */
  signal?: AbortSignal;
}

export interface TopLogprob {
  token: number;
  /** The token's vocabulary piece with `▁` shown as a space (unique per id; byte pieces stay `<0xNN>`). */
  text: string;
  logprob: number;
}

/** A token with its log-probability under the model (natural log, of the unmodified softmax at temperature 1). */
export interface TokenLogprob extends TopLogprob {
  /** What this token adds to the decoded text (concatenated over a sequence they give exactly its text; "" for BOS or an incomplete UTF-8 byte). */
  textPiece: string;
  /** The `k` most likely tokens at that position, most likely first. */
  top: TopLogprob[];
}

/** One step of a stream: the tokens it sampled and the text that became final. */
export interface GenerationChunk {
  /** New text (UTF-8 safe; text that might start a stop string is held back until it cannot). */
  text: string;
  /** Ids sampled in this step (may be non-empty while text is "" and vice versa). */
  tokens: number[];
  /** With `logprobs`: one entry per id in `tokens`. */
  logprobs?: TokenLogprob[];
  /** On the last chunk of a stream only: how it ended (the same object the stream returns). */
  result?: GenerationResult;
}

/** Why generation ended: EOS / a stop token, a stop string, max tokens, a full context, or cancelled. */
export type StopReason = "eos" | "stop" | "max_tokens" | "context" | "aborted";

export interface GenerationTimings {
  /** From the call to the first sampled token (queueing + prefill), ms. */
  ttftMs: number;
  prefillMs: number;
  decodeMs: number;
  /** Generated tokens per second over the decode phase (NaN with fewer than 2 tokens). */
  decodeTokensPerSecond: number;
}

export interface GenerationResult {
  /** The generated ids only (not the prompt; stop tokens and tokens past a stop string excluded). */
  tokens: number[];
  /** The generated text (empty when the model has no tokenizer). */
  text: string;
  stopReason: StopReason;
  /** The prompt as ids (after tokenisation). */
  promptTokens: number[];
  /** With `promptLogprobs`: for prompt positions 1.. (position 0 has none). */
  promptLogprobs?: TokenLogprob[];
  /** With `logprobs`: one per generated token. */
  logprobs?: TokenLogprob[];
  timings: GenerationTimings;
}

export interface SessionOptions {
  /** Sequences decoded together in one batched forward per step (continuous batching); default 4. */
  parallel?: number;
  /** Context length per sequence (default: the model's max_position_embeddings). */
  contextLength?: number;
  /** Requests waiting beyond `parallel` before `stream` rejects with QueueFullError; default 64. */
  maxQueue?: number;
  /** Prompt tokens run per sequence per step (keeps the event loop responsive during long prompts); default 256. */
  prefillChunk?: number;
}

export interface SessionStats {
  /** Sequences in the current batch. */
  active: number;
  /** Requests waiting for a slot. */
  queued: number;
  requests: number;
  promptTokens: number;
  generatedTokens: number;
}
