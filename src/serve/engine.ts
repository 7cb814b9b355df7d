/**
 * What the HTTP layer needs from the runtime: the model's identity, tokenizer and limits
 * (`ServeModel`) and a generation session that batches concurrent streams (`ServeEngine`,
 * which `GenerationSession` implements). Prompts reach the engine as token ids: the server
 * tokenises (so it can check lengths and answer 400 before queueing), exactly as the session
 * would (`bos` for a plain prompt, `parseSpecial` for rendered chat).
 */
import type { GenerateOptions, GenerationChunk, GenerationResult, SessionStats } from "../generate/types.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { UserError } from "../util/errors.js";
import { ApiError, badRequest } from "./errors.js";

export interface ChatTurn {
  role: string;
  content: string;
}

export interface ServeModel {
  /** The model id clients name (`--alias`, or the model file's / folder's base name). */
  id: string;
  tokenizer: Tokenizer | undefined;
  vocabSize: number;
  /** Tokens per sequence (prompt + generated). */
  contextLength: number;
  /** The Jinja chat template, when the model has one (reported by /tokenizer_info). */
  chatTemplate?: string;
  /** Renders a conversation with the model's chat template, ending with the assistant's turn. */
  renderChat(messages: readonly ChatTurn[]): string;
  /** Stop strings every chat reply gets (the fallback template's "\nUser:"). */
  chatStop?: readonly string[];
}

export interface ServeEngine {
  stream(prompt: readonly number[], opts: GenerateOptions): AsyncGenerator<GenerationChunk, GenerationResult>;
  stats(): SessionStats;
  close(): Promise<void>;
}

/** Seconds a client is told to wait (Retry-After) when the queue is full. */
export const RETRY_AFTER_SECONDS = 1;

/** Runs one stream to its end, handing each chunk to `onChunk`; engine errors become ApiErrors. */
export async function runJob(
  engine: ServeEngine,
  prompt: readonly number[],
  opts: GenerateOptions,
  onChunk: (chunk: GenerationChunk) => void,
): Promise<GenerationResult> {
  try {
    const it = engine.stream(prompt, opts);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
      onChunk(r.value);
    }
  } catch (err) {
    throw engineError(err);
  }
}

/** QueueFullError → 429 with Retry-After; a user mistake (UserError, RangeError) → 400; anything else unchanged. */
export function engineError(err: unknown): unknown {
  if (err instanceof ApiError) return err;
  if (err instanceof Error && err.name === "QueueFullError") {
    return new ApiError(429, `the server is busy (the request queue is full); retry in ${RETRY_AFTER_SECONDS} s`, "rate_limit_error", null, "rate_limit_exceeded", {
      "Retry-After": String(RETRY_AFTER_SECONDS),
    });
  }
  if (err instanceof UserError || err instanceof RangeError) {
    const param = (err as { param?: unknown }).param;
    return badRequest(err.message, typeof param === "string" ? param : null);
  }
  return err;
}
