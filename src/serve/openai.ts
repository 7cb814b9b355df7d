/**
 * POST /v1/completions and /v1/chat/completions in OpenAI's formats.
 *
 * Completions: `prompt` is a string (tokenised with BOS, as `llama-ts generate --prompt`), an
 * array of token ids (used as given, as `--tokens`), or an array of either; each prompt becomes
 * one choice (index = its position), all decoded together by the engine. `max_tokens` defaults
 * to 16 (OpenAI's) and may be 0; generation also ends when the context is full
 * (finish_reason "length"). `echo` prepends the prompt's text (and, with `logprobs`, its
 * tokens' log-probabilities: see logprobs.ts).
 *
 * Chat: `messages` are rendered with the model's chat template (the assistant's turn opened),
 * tokenised with special tokens recognised and no extra BOS; `max_completion_tokens` or
 * `max_tokens` default to the rest of the context.
 *
 * Both stream with server-sent events when `stream` is true (headers are sent with the first
 * event, so a full queue is still a 429); `stream_options.include_usage` adds a final usage
 * event. The request's AbortSignal (client disconnect) cancels every stream of the request.
 */
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { GenerateOptions, GenerationResult, StopReason, TokenLogprob } from "../generate/types.js";
import { ApiError, badRequest } from "./errors.js";
import { runJob, type ChatTurn, type ServeEngine, type ServeModel } from "./engine.js";
import { sendJson, SseWriter } from "./http.js";
import { chatLogprobs, joinTexts, legacyLogprobs, LegacyLogprobStream } from "./logprobs.js";
import type { ServerMetrics } from "./metrics.js";
import { chatRequest, completionRequest, parseBody, type ChatRequest, type CompletionRequest } from "./schemas.js";

export interface RequestContext {
  model: ServeModel;
  engine: ServeEngine;
  metrics: ServerMetrics;
  signal: AbortSignal;
}

/** OpenAI's legacy default for max_tokens. */
const DEFAULT_COMPLETION_TOKENS = 16;

type SamplingFields = Pick<
  CompletionRequest,
  | "temperature" | "top_p" | "top_k" | "min_p" | "repetition_penalty" | "repeat_last_n" | "frequency_penalty"
  | "presence_penalty" | "logit_bias" | "seed" | "stop" | "ignore_eos"
>;

export function checkModel(model: ServeModel, name: string | null | undefined): void {
  if (name !== undefined && name !== null && name !== "" && name !== model.id) {
    throw new ApiError(404, `The model '${name}' does not exist; this server serves '${model.id}'`, "invalid_request_error", "model", "model_not_found");
  }
}

/** Engine options from the request's sampling fields (unset fields keep the engine's defaults). */
function samplingOptions(model: ServeModel, r: SamplingFields): GenerateOptions {
  const o: GenerateOptions = {};
  if (r.temperature != null) o.temperature = r.temperature;
  if (r.top_p != null) {
    if (r.top_p === 0) o.temperature = 0; // no mass kept: the most likely token, i.e. greedy
    else o.topP = r.top_p;
  }
  if (r.top_k != null) o.topK = r.top_k;
  if (r.min_p != null) o.minP = r.min_p;
  if (r.repetition_penalty != null) o.repetitionPenalty = r.repetition_penalty;
  if (r.repeat_last_n != null) o.penaltyWindow = r.repeat_last_n;
  if (r.frequency_penalty != null) o.frequencyPenalty = r.frequency_penalty;
  if (r.presence_penalty != null) o.presencePenalty = r.presence_penalty;
  if (r.seed != null) o.seed = r.seed;
  if (r.ignore_eos != null) o.ignoreEos = r.ignore_eos;
  if (r.stop != null) {
    const stop = (typeof r.stop === "string" ? [r.stop] : r.stop).filter((s) => s !== "");
    if (stop.length > 0) {
      if (!model.tokenizer) throw badRequest("stop strings need a tokenizer, and this model has none", "stop");
      o.stop = stop;
    }
  }
  if (r.logit_bias != null) {
    const bias: Record<number, number> = {};
    for (const [k, v] of Object.entries(r.logit_bias)) {
      const id = Number(k);
      if (id >= model.vocabSize) throw badRequest(`logit_bias: token id ${id} is outside the vocabulary [0, ${model.vocabSize})`, "logit_bias", "invalid_token_id");
      bias[id] = v;
    }
    o.logitBias = bias;
  }
  return o;
}

function checkIds(model: ServeModel, ids: readonly number[], param: string): void {
  if (ids.length === 0) throw badRequest(`'${param}' is empty; give at least one token`, param);
  for (const id of ids) {
    if (id < 0 || id >= model.vocabSize) {
      throw badRequest(`'${param}': token id ${id} is outside the model's vocabulary [0, ${model.vocabSize})`, param, "invalid_token_id");
    }
  }
  if (ids.length > model.contextLength) {
    throw badRequest(
      `This model's maximum context length is ${model.contextLength} tokens, but the prompt has ${ids.length} tokens`,
      param,
      "context_length_exceeded",
    );
  }
}

function checkMaxTokens(model: ServeModel, n: number, param: string): void {
  if (n > model.contextLength) {
    throw badRequest(`'${param}' is ${n}, more than the model's context length ${model.contextLength}`, param, "context_length_exceeded");
  }
}

/** Token ids of a text prompt, BOS first when the tokenizer has one (as `llama-ts generate --prompt`). */
function encodePrompt(model: ServeModel, text: string, param: string): number[] {
  if (!model.tokenizer) throw badRequest("this model has no tokenizer: send the prompt as an array of token ids", param);
  return model.tokenizer.encode(text, { bos: model.tokenizer.bosId >= 0 });
}

function promptList(model: ServeModel, prompt: CompletionRequest["prompt"]): number[][] {
  if (typeof prompt === "string") return [encodePrompt(model, prompt, "prompt")];
  if (prompt.length === 0) throw badRequest("'prompt' is empty", "prompt");
  if (typeof prompt[0] === "number") return [prompt as number[]];
  return (prompt as Array<string | number[]>).map((p) => (typeof p === "string" ? encodePrompt(model, p, "prompt") : p));
}

function finishReason(r: StopReason): "stop" | "length" {
  return r === "max_tokens" || r === "context" ? "length" : "stop";
}

function newId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString("hex")}`;
}

function usage(results: readonly GenerationResult[]): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  let p = 0;
  let c = 0;
  for (const r of results) {
    p += r.promptTokens.length;
    c += r.tokens.length;
  }
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c };
}

/**
 * Runs every prompt as its own engine stream, concurrently; `onChunk(i, chunk)` sees each
 * stream's chunks. If one fails (e.g. the queue is full) the others are cancelled and the
 * first error is thrown.
 */
async function runAll(
  ctx: RequestContext,
  prompts: readonly number[][],
  opts: GenerateOptions,
  onChunk?: (index: number, text: string, tokens: number[], logprobs: TokenLogprob[] | undefined) => void,
): Promise<GenerationResult[]> {
  const inner = new AbortController();
  const signal = AbortSignal.any([ctx.signal, inner.signal]);
  const jobs = prompts.map((ids, i) => {
    ctx.metrics.promptTokens += ids.length;
    return runJob(ctx.engine, ids, { ...opts, signal }, (chunk) => {
      ctx.metrics.countGenerated(chunk.tokens.length);
      onChunk?.(i, chunk.text, chunk.tokens, chunk.logprobs);
    });
  });
  try {
    const results = await Promise.all(jobs);
    if (!ctx.signal.aborted && results.some((r) => r.stopReason === "aborted")) {
      throw new ApiError(503, "the request was cancelled: the server is shutting down", "unavailable_error", null, "shutting_down");
    }
    return results;
  } catch (err) {
    inner.abort();
    await Promise.allSettled(jobs);
    throw err;
  }
}

/** The SSE writer, created with the first event (so errors before it are plain JSON responses). */
class LazySse {
  private w: SseWriter | undefined;
  constructor(private readonly res: ServerResponse) {}
  send(event: unknown): void {
    (this.w ??= new SseWriter(this.res)).send(event);
  }
  done(): void {
    (this.w ??= new SseWriter(this.res)).done();
  }
}

export async function handleCompletions(ctx: RequestContext, body: unknown, res: ServerResponse): Promise<void> {
  const req = parseBody(completionRequest, body);
  const { model } = ctx;
  checkModel(model, req.model);
  const prompts = promptList(model, req.prompt);
  prompts.forEach((ids) => checkIds(model, ids, "prompt"));
  const maxTokens = req.max_tokens ?? DEFAULT_COMPLETION_TOKENS;
  checkMaxTokens(model, maxTokens, "max_tokens");
  const echo = req.echo ?? false;
  const k = req.logprobs ?? undefined;
  const opts: GenerateOptions = { ...samplingOptions(model, req), maxTokens };
  if (k !== undefined) opts.logprobs = k;
  if (echo && k !== undefined) opts.promptLogprobs = k;
  // lm-evaluation-harness scores loglikelihood with echo, logprobs and max_tokens 1, and drops
  // the last returned token: that token must exist even when it is EOS.
  if (echo && k !== undefined && maxTokens === 1) opts.ignoreEos = true;

  const id = newId("cmpl");
  const created = Math.floor(Date.now() / 1000);
  const base = { id, object: "text_completion", created, model: model.id };

  if (req.stream) {
    const sse = new LazySse(res);
    const sent = prompts.map(() => 0); // generated tokens already sent, per prompt
    const lpStreams = prompts.map((ids) => (k !== undefined ? new LegacyLogprobStream(model.tokenizer, ids) : undefined));
    const results = await runAll(ctx, prompts, opts, (i, text, tokens, lps) => {
      const logprobs = lpStreams[i]?.next(tokens, lps ?? []) ?? null;
      if (echo && sent[i] === 0 && tokens.length > 0) text = joinTexts(model.tokenizer, prompts[i]!) + text;
      sent[i] = sent[i]! + tokens.length;
      if (text !== "" || tokens.length > 0) sse.send({ ...base, choices: [{ index: i, text, logprobs, finish_reason: null }] });
    });
    results.forEach((r, i) => {
      const text = echo && sent[i] === 0 ? joinTexts(model.tokenizer, prompts[i]!) : "";
      sse.send({ ...base, choices: [{ index: i, text, logprobs: null, finish_reason: finishReason(r.stopReason) }] });
    });
    if (req.stream_options?.include_usage) sse.send({ ...base, choices: [], usage: usage(results) });
    sse.done();
    return;
  }

  const results = await runAll(ctx, prompts, opts);
  const choices = results.map((r, i) => {
    let logprobs = null;
    if (k !== undefined) {
      logprobs = legacyLogprobs({
        tokenizer: model.tokenizer,
        promptTokens: r.promptTokens,
        promptLogprobs: r.promptLogprobs,
        generated: r.tokens,
        generatedLogprobs: r.logprobs ?? [],
        echo,
      });
    }
    const text = (echo ? joinTexts(model.tokenizer, r.promptTokens) : "") + r.text;
    return { index: i, text, logprobs, finish_reason: finishReason(r.stopReason) };
  });
  sendJson(res, 200, { ...base, choices, usage: usage(results) });
}

function messageText(content: ChatRequest["messages"][number]["content"]): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  return content.map((p) => p.text).join("");
}

/** End-of-turn tokens of common chat formats, stopping generation besides EOS. */
const END_OF_TURN = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"];

export async function handleChat(ctx: RequestContext, body: unknown, res: ServerResponse): Promise<void> {
  const req = parseBody(chatRequest, body);
  const { model } = ctx;
  checkModel(model, req.model);
  const tokenizer = model.tokenizer;
  if (!tokenizer) throw badRequest("this model has no tokenizer, so it cannot chat; use /v1/completions with token ids", "messages");
  const turns: ChatTurn[] = req.messages.map((m) => ({ role: m.role, content: messageText(m.content) }));
  let text: string;
  try {
    text = model.renderChat(turns);
  } catch (err) {
    throw badRequest(`the chat template failed on these messages: ${(err as Error).message}`, "messages");
  }
  const ids = tokenizer.encode(text, { bos: false, parseSpecial: true });
  checkIds(model, ids, "messages");
  const requested = req.max_completion_tokens ?? req.max_tokens;
  if (requested != null) checkMaxTokens(model, requested, req.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens");
  const opts: GenerateOptions = { ...samplingOptions(model, req), maxTokens: requested ?? model.contextLength - ids.length };
  if (model.chatStop && model.chatStop.length > 0) opts.stop = [...(opts.stop ?? []), ...model.chatStop];
  const specials = tokenizer.specialTokens();
  const eot = END_OF_TURN.map((s) => specials.get(s)).filter((x): x is number => x !== undefined);
  if (eot.length > 0) opts.stopTokenIds = [...new Set([tokenizer.eosId, ...eot].filter((x) => x >= 0))];
  const wantLogprobs = req.logprobs ?? false;
  if (wantLogprobs) opts.logprobs = req.top_logprobs ?? 0;

  const id = newId("chatcmpl");
  const created = Math.floor(Date.now() / 1000);
  const base = { id, created, model: model.id };

  if (req.stream) {
    const sse = new LazySse(res);
    const chunk = (delta: object, finish: string | null, logprobs: object | null = null): object => ({
      ...base,
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta, logprobs, finish_reason: finish }],
    });
    let first = true;
    const [result] = await runAll(ctx, [ids], opts, (_i, t, _tokens, lps) => {
      if (first) {
        sse.send(chunk({ role: "assistant", content: "" }, null));
        first = false;
      }
      if (t !== "" || (wantLogprobs && lps && lps.length > 0)) {
        sse.send(chunk({ content: t }, null, wantLogprobs ? { content: chatLogprobs(lps ?? []) } : null));
      }
    });
    if (first) sse.send(chunk({ role: "assistant", content: "" }, null));
    sse.send(chunk({}, finishReason(result!.stopReason)));
    if (req.stream_options?.include_usage) sse.send({ ...base, object: "chat.completion.chunk", choices: [], usage: usage([result!]) });
    sse.done();
    return;
  }

  const [result] = await runAll(ctx, [ids], opts);
  const r = result!;
  sendJson(res, 200, {
    ...base,
    object: "chat.completion",
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: r.text },
        logprobs: wantLogprobs ? { content: chatLogprobs(r.logprobs ?? []) } : null,
        finish_reason: finishReason(r.stopReason),
      },
    ],
    usage: usage([r]),
  });
}
