/**
 * One-call generation over the session (session.ts), and the token-level synchronous form
 * that scripts, the eval's QA tasks and the demo use. Both run the same per-sequence logic.
 *
 *   const lm = await loadModel("model-folder");
 *   const { text, stopReason } = await generate(lm, { prompt: "The capital of France is", maxTokens: 16, temperature: 0 });
 */
import type { LlamaModel } from "../model/llama.js";
import type { LanguageModel } from "../runtime/language-model.js";
import { GenerationSession } from "./session.js";
import type { GenerateOptions, GenerationResult, StopReason } from "./types.js";

export type GenerateRequest = GenerateOptions & ({ prompt: string; tokens?: undefined } | { tokens: readonly number[]; prompt?: undefined });

/** Generates from `prompt` (text, BOS prepended) or `tokens` (ids as given) and resolves to the whole result. */
export async function generate(lm: Pick<LanguageModel, "model" | "tokenizer" | "config">, req: GenerateRequest): Promise<GenerationResult> {
  const session = new GenerationSession(lm, { parallel: 1 });
  return session.generate(req.prompt ?? req.tokens, req);
}

export interface GenerateTokensOptions extends Omit<GenerateOptions, "stop" | "stopTokenIds" | "ignoreEos" | "signal"> {
  maxTokens: number;
  seed: number;
  temperature: number;
  topP: number;
  /** Token that ends generation (not included in the output); default: the config's EOS. */
  eosTokenId?: number;
  /** Set false to keep generating past EOS. */
  stopAtEos?: boolean;
}

export interface GenerateStats {
  promptTokens: number;
  generatedTokens: number;
  prefillSeconds: number;
  decodeSeconds: number;
  stopReason: StopReason;
}

/** Yields generated token ids one by one (synchronously); returns statistics when done. */
export function* generateTokens(model: LlamaModel, prompt: readonly number[], opts: GenerateTokensOptions): Generator<number, GenerateStats> {
  if (prompt.length === 0) throw new RangeError("the prompt needs at least one token");
  const session = new GenerationSession({ model, config: model.config, tokenizer: undefined }, { parallel: 1 });
  const it = session.streamSync(prompt, {
    ...opts,
    stopTokenIds: [opts.eosTokenId ?? model.config.eosTokenId],
    ignoreEos: opts.stopAtEos === false,
  });
  for (;;) {
    const r = it.next();
    if (r.done) {
      const t = r.value.timings;
      return {
        promptTokens: prompt.length,
        generatedTokens: r.value.tokens.length,
        prefillSeconds: t.prefillMs / 1000,
        decodeSeconds: t.decodeMs / 1000,
        stopReason: r.value.stopReason,
      };
    }
    yield* r.value.tokens;
  }
}
