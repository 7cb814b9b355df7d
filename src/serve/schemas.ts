/**
 * Request bodies of the OpenAI-compatible endpoints, validated with zod. Unknown fields are
 * ignored (clients send `user`, `stream_options`, ... freely); JSON `null` means "not given".
 * A body that does not match gives a 400 naming the first offending field (`param`).
 */
import { z } from "zod";
import { badRequest, type ApiError } from "./errors.js";

const int = z.number().int();
const tokenIds = z.array(int);

/** Sampling fields shared by /v1/completions and /v1/chat/completions (OpenAI's plus llama.cpp's extras). */
const sampling = {
  model: z.string().nullish(),
  temperature: z.number().min(0).max(100).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: int.min(0).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  /** llama.cpp's name for the repetition penalty window. */
  repeat_last_n: int.min(0).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: z.record(z.string().regex(/^\d+$/, { error: "logit_bias keys must be token ids" }), z.number().min(-100).max(100)).nullish(),
  seed: int.nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(16)], { error: "stop must be a string or an array of at most 16 strings" }).nullish(),
  max_tokens: int.min(0).nullish(),
  n: z.literal(1, { error: "only n = 1 is supported" }).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  /** Keep generating past EOS (llama.cpp's extension). */
  ignore_eos: z.boolean().nullish(),
};

export const completionRequest = z.object({
  ...sampling,
  prompt: z.union([z.string(), tokenIds, z.array(z.string()), z.array(tokenIds)], {
    error: "prompt must be a string, an array of token ids, or an array of strings or of token-id arrays",
  }),
  echo: z.boolean().nullish(),
  logprobs: int.min(0).max(20, { error: "logprobs must be at most 20" }).nullish(),
  best_of: z.literal(1, { error: "only best_of = 1 is supported" }).nullish(),
  suffix: z.null({ error: "suffix is not supported" }).optional(),
});
export type CompletionRequest = z.infer<typeof completionRequest>;

const contentPart = z.object({ type: z.literal("text", { error: "only text content parts are supported" }), text: z.string() });

export const chatMessage = z.object({
  role: z.string(),
  content: z.union([z.string(), z.array(contentPart), z.null()], { error: "content must be a string or an array of text parts" }).optional(),
  name: z.string().nullish(),
});

export const chatRequest = z.object({
  ...sampling,
  messages: z.array(chatMessage).min(1, { error: "messages must have at least one message" }),
  max_completion_tokens: int.min(0).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: int.min(0).max(20, { error: "top_logprobs must be at most 20" }).nullish(),
});
export type ChatRequest = z.infer<typeof chatRequest>;

/**
 * /tokenize: llama.cpp server's `{content, add_special, parse_special, with_pieces}`, or vLLM's
 * `{prompt, add_special_tokens}` (what lm-evaluation-harness's `tokenizer_backend=remote` sends).
 */
export const tokenizeRequest = z
  .object({
    content: z.string().optional(),
    prompt: z.string().optional(),
    add_special: z.boolean().nullish(),
    add_special_tokens: z.boolean().nullish(),
    parse_special: z.boolean().nullish(),
    with_pieces: z.boolean().nullish(),
  })
  .refine((r) => r.content !== undefined || r.prompt !== undefined, { error: "'content' (a string) is required", path: ["content"] });

/** /detokenize: `{tokens}` (llama.cpp and vLLM). */
export const detokenizeRequest = z.object({ tokens: tokenIds });

/** Parses `body` with `schema` or throws a 400 naming the first bad field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  throw zodToApiError(r.error);
}

function zodToApiError(err: z.ZodError): ApiError {
  const issue = err.issues[0];
  if (!issue) return badRequest("invalid request body");
  const param = issue.path.map(String).join(".");
  if (param === "") return badRequest(`the request body must be a JSON object (${issue.message})`);
  if (issue.code === "invalid_type" && issue.message.includes("received undefined")) {
    return badRequest(`'${param}' is required`, param, "missing_required_parameter");
  }
  return badRequest(`'${param}': ${issue.message}`, param, "invalid_value");
}
