/**
 * Next-token choice with Meta's semantics: temperature 0 is greedy (argmax, first index on
 * ties); otherwise probabilities are softmax(logits / T) and top-p keeps the smallest set of
 * most likely tokens whose probability reaches p (a token is dropped when the probability of
 * the tokens ranked above it already reaches p; Meta's code differs only when that mass equals p
 * exactly), renormalised, then sampled.
 */
import type { Rng } from "../util/rng.js";

export interface SamplingOptions {
  /** 0 means greedy. */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 keeps every token. */
  topP: number;
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
  for (let i = 0; i < n; i++) if (probs[i]! >= cutoff) ids.push(i);
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

export function sampleToken(logits: Float32Array, opts: SamplingOptions, rng: Rng): number {
  if (opts.temperature <= 0) return argmax(logits);
  const probs = softmaxWithTemperature(logits, opts.temperature);
  const { ids, mass } = nucleus(probs, opts.topP);
  const r = rng.next() * mass;
  let cum = 0;
  for (const id of ids) {
    cum += probs[id]!;
    if (r < cum) return id;
  }
  return ids[ids.length - 1]!;
}
