/**
 * Log-probabilities in OpenAI's two response formats.
 *
 * Legacy completions (`logprobs: k`): four parallel arrays over the returned tokens,
 *   tokens[i]          the token's text,
 *   token_logprobs[i]  log p(token i | tokens before it), null for the first prompt token,
 *   top_logprobs[i]    {text: logprob} of the k most likely tokens there, null where the first is,
 *   text_offset[i]     where tokens[i] starts in prompt + completion, in Unicode code points
 *                      (Python string indices, as the OpenAI API and lm-evaluation-harness count).
 * With `echo` the arrays start with the prompt's tokens (BOS included, with null entries); without
 * it they hold the completion only and text_offset starts at the prompt's length.
 *
 * The token texts come from one incremental decode of prompt + completion, so they concatenate
 * to exactly the text the response returns (a byte-fallback piece that ends inside a UTF-8
 * character has "" and the piece completing it carries the character).
 *
 * Chat completions (`logprobs: true, top_logprobs: k`): `content` is a list of
 * {token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]} per generated token.
 */
import type { TokenLogprob } from "../generate/types.js";
import type { Tokenizer } from "../tokenizer/types.js";

export interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}

/** Texts of `ids` decoded one after the other (see the file comment); "" each without a tokenizer. */
export function tokenTexts(tokenizer: Tokenizer | undefined, ids: readonly number[]): string[] {
  if (!tokenizer) return ids.map(() => "");
  const stream = tokenizer.decodeStream();
  const out = ids.map((id) => stream.push(id));
  const tail = stream.flush();
  if (out.length > 0) out[out.length - 1] += tail;
  return out;
}

/** Length in Unicode code points. */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** The {text: logprob} map of one position; the first (most likely) entry wins when two tokens share a text. */
function topMap(lp: TokenLogprob): Record<string, number> {
  const m: Record<string, number> = {};
  for (const t of lp.top) if (!(t.text in m)) m[t.text] = t.logprob;
  return m;
}

export interface LegacyLogprobsInput {
  tokenizer: Tokenizer | undefined;
  promptTokens: readonly number[];
  /** Log-probabilities of prompt tokens 1.. (present with echo). */
  promptLogprobs?: readonly TokenLogprob[];
  generated: readonly number[];
  generatedLogprobs: readonly TokenLogprob[];
  echo: boolean;
}

/** The legacy `logprobs` object; `texts` are returned too so the caller's text matches the token texts. */
export function legacyLogprobs(inp: LegacyLogprobsInput): LegacyLogprobs {
  const texts = tokenTexts(inp.tokenizer, [...inp.promptTokens, ...inp.generated]);
  const P = inp.promptTokens.length;
  const out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let offset = 0;
  for (let i = 0; i < texts.length; i++) {
    const inPrompt = i < P;
    if (inPrompt && !inp.echo) {
      offset += codePointLength(texts[i]!);
      continue;
    }
    const lp = inPrompt ? (i === 0 ? undefined : inp.promptLogprobs?.[i - 1]) : inp.generatedLogprobs[i - P];
    out.tokens.push(texts[i]!);
    out.token_logprobs.push(lp ? lp.logprob : null);
    out.top_logprobs.push(lp ? topMap(lp) : null);
    out.text_offset.push(offset);
    offset += codePointLength(texts[i]!);
  }
  return out;
}

/** Legacy logprobs of a streamed completion, one chunk of generated tokens at a time (no echo). */
export class LegacyLogprobStream {
  private readonly stream: ReturnType<Tokenizer["decodeStream"]> | undefined;
  private offset = 0;

  constructor(tokenizer: Tokenizer | undefined, promptTokens: readonly number[]) {
    this.stream = tokenizer?.decodeStream();
    if (this.stream) for (const id of promptTokens) this.offset += codePointLength(this.stream.push(id));
  }

  next(tokens: readonly number[], lps: readonly TokenLogprob[]): LegacyLogprobs {
    const out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    tokens.forEach((id, i) => {
      const text = this.stream ? this.stream.push(id) : "";
      const lp = lps[i];
      out.tokens.push(text);
      out.token_logprobs.push(lp ? lp.logprob : null);
      out.top_logprobs.push(lp ? topMap(lp) : null);
      out.text_offset.push(this.offset);
      this.offset += codePointLength(text);
    });
    return out;
  }
}

/** Concatenation of a slice of token texts (the echoed prompt's text). */
export function joinTexts(tokenizer: Tokenizer | undefined, ids: readonly number[]): string {
  return tokenTexts(tokenizer, ids).join("");
}

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

const utf8 = new TextEncoder();

/** The chat `logprobs.content` list of generated tokens. */
export function chatLogprobs(lps: readonly TokenLogprob[]): ChatTokenLogprob[] {
  return lps.map((lp) => ({
    token: lp.text,
    logprob: lp.logprob,
    bytes: Array.from(utf8.encode(lp.text)),
    top_logprobs: lp.top.map((t) => ({ token: t.text, logprob: t.logprob, bytes: Array.from(utf8.encode(t.text)) })),
  }));
}
