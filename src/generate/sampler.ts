/**
 * Next-token choice with Meta's semantics: temperature 0 is greedy (argmax, first index on
 * ties); otherwise probabilities are softmax(logits / T) and top-p keeps the smallest set of
 * most likely tokens whose probability reaches p (a token is dropped when the probability of
 * the tokens ranked above it already reaches p; Meta's code differs only when that mass equals p
 * exactly), renormalised, then sampled.
 *
 * Extensions, each off by default so the above is unchanged: after the temperature, top-k
 * keeps the k most likely tokens and min-p drops tokens with p < minP · p_max; the nucleus is
 * then taken over what is left. Before everything, `adjustLogits` applies the logit bias and
 * the repetition / frequency / presence penalties:
 *   l'_i = l_i + bias_i                                   (logit bias)
 *   l'_i = l'_i / r  if l'_i > 0 else l'_i · r            (repetition, tokens seen in the window; CTRL, llama.cpp)
 *   l'_i = l'_i − f · count_i − p · [count_i > 0]         (frequency / presence, OpenAI; counts over generated tokens)
 */
import type { Rng } from "../util/rng.js";

export interface SamplingOptions {
  /** 0 means greedy. */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 keeps every token. */
  topP: number;
  /** Keep the k most likely tokens; 0 or undefined = off. */
  topK?: number;
  /** Drop tokens whose probability is below minP × the most likely one's; 0 or undefined = off. */
  minP?: number;
}

export interface LogitAdjustments {
  logitBias?: Readonly<Record<number, number>>;
  repetitionPenalty?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
}

/**
 * Applies bias and penalties (formulas in the module comment) to `logits` in place.
 * `window`: ids the repetition penalty sees; `counts`: generated-token counts for the OpenAI penalties.
 */
export function adjustLogits(logits: Float32Array, a: LogitAdjustments, window: Iterable<number>, counts: ReadonlyMap<number, number>): void {
  if (a.logitBias) {
    for (const [k, b] of Object.entries(a.logitBias)) {
      const id = Number(k);
      if (id >= 0 && id < logits.length) logits[id] = logits[id]! + b;
    }
  }
  const r = a.repetitionPenalty ?? 1;
  if (r !== 1) {
    for (const id of new Set(window)) {
      const l = logits[id]!;
      logits[id] = l > 0 ? l / r : l * r;
    }
  }
  const f = a.frequencyPenalty ?? 0;
  const p = a.presencePenalty ?? 0;
  if (f !== 0 || p !== 0) {
    for (const [id, n] of counts) if (n > 0) logits[id] = logits[id]! - f * n - p;
  }
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  let bestVal = logits[0]!;
  for (let i = 1; i < logits.length; i++) {
    if (logits[i]! > bestVal) {
      bestVal = logits[i]!;
      best = i;
    }
  }
  return best;
}

/** probs = softmax(logits / temperature), computed in float64. */
export function softmaxWithTemperature(logits: Float32Array, temperature: number, out = new Float64Array(logits.length)): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp((logits[i]! - max) / temperature);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < logits.length; i++) out[i] = out[i]! / sum;
  return out;
}

/**
 * The nucleus: token ids sorted by decreasing probability, the smallest prefix whose mass
 * reaches topP (never empty). Returns the kept ids and their mass.
 */
export function nucleus(probs: Float64Array, topP: number): { ids: number[]; mass: number } {
  // Tokens below (1 - p) / (n - 1) can never be inside the nucleus: if one were, every token
  // ranked above it would be at least as large, and the mass above it would exceed p.
  const n = probs.length;
  const cutoff = n > 1 && topP < 1 ? (1 - topP) / (n - 1) : 0;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) if (probs[i]! >= cutoff && probs[i]! > 0) ids.push(i);
  ids.sort((a, b) => probs[b]! - probs[a]! || a - b);
  let cum = 0;
  let kept = 0;
  for (; kept < ids.length; kept++) {
    const p = probs[ids[kept]!]!;
    if (cum >= topP) break; // cum is the mass ranked above this token: the set already reaches p
    cum += p;
  }
  ids.length = Math.max(1, kept);
  let mass = 0;
  for (const id of ids) mass += probs[id]!;
  return { ids, mass };
}

/** Zeroes every probability outside the k largest (ties at the k-th value are kept). */
function keepTopK(probs: Float64Array, k: number): void {
  if (k <= 0 || k >= probs.length) return;
  const sorted = Float64Array.from(probs).sort();
  const kth = sorted[probs.length - k]!;
  for (let i = 0; i < probs.length; i++) if (probs[i]! < kth) probs[i] = 0;
}

/** Zeroes every probability below minP × max. */
function keepMinP(probs: Float64Array, minP: number): void {
  if (minP <= 0) return;
  let max = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i]! > max) max = probs[i]!;
  const cut = minP * max;
  for (let i = 0; i < probs.length; i++) if (probs[i]! < cut) probs[i] = 0;
}

export function sampleToken(logits: Float32Array, opts: SamplingOptions, rng: Rng): number {
  if (opts.temperature <= 0) return argmax(logits);
  const probs = softmaxWithTemperature(logits, opts.temperature);
  if (opts.topK) keepTopK(probs, opts.topK);
  if (opts.minP) keepMinP(probs, opts.minP);
  // The nucleus of what is left: renormalising first does not change which tokens are kept
  // relative to p, so the mass is taken over the surviving tokens.
  if (opts.topK || opts.minP) {
    let sum = 0;
    for (let i = 0; i < probs.length; i++) sum += probs[i]!;
    for (let i = 0; i < probs.length; i++) probs[i] = probs[i]! / sum;
  }
  const { ids, mass } = nucleus(probs, opts.topP);
  const r = rng.next() * mass;
  let cum = 0;
  for (const id of ids) {
    cum += probs[id]!;
    if (r < cum) return id;
  }
  return ids[ids.length - 1]!;
}
