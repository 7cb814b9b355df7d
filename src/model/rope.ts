/**
 * Rotary position embedding tables, with the RoPE scaling rules of the LLaMA family.
 *
 *   θ_i = theta^(-2i/headDim) / s_i,   angle(pos, i) = pos · θ_i        (i < headDim/2)
 *
 * where s_i is the per-frequency divisor of the scaling rule:
 *   none     s_i = 1
 *   linear   s_i = factor                     (positions divided by factor)
 *   llama3   (Llama 3.1) with wavelength λ_i = 2π / θ_i (unscaled), L = original context,
 *            λ_i < L / high_freq_factor   →  s_i = 1                    (high frequencies kept)
 *            λ_i > L / low_freq_factor    →  s_i = factor               (low frequencies scaled)
 *            otherwise, with smooth = (L/λ_i − low_freq_factor) / (high_freq_factor − low_freq_factor),
 *            θ_i ← (1 − smooth) · θ_i / factor + smooth · θ_i  (i.e. s_i = 1 / ((1 − smooth)/factor + smooth))
 *
 * The s_i are what llama.cpp stores in a GGUF as the `rope_freqs.weight` tensor (its
 * "frequency factors": the model's frequencies are divided by them); `llama3FromFreqFactors`
 * recovers the llama3 parameters from such a tensor, so a GGUF becomes a config.json again.
 */
export type RopeScaling =
  | { type: "linear"; factor: number }
  | {
      type: "llama3";
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

/** The unscaled inverse frequencies theta^(-2i/headDim), rounded to float32 as PyTorch computes them. */
function baseInvFreqs(headDim: number, theta: number): number[] {
  return Array.from({ length: headDim / 2 }, (_, i) => Math.fround(1 / Math.pow(theta, (2 * i) / headDim)));
}

/** The per-frequency divisors s_i of a scaling rule (all 1 without one). */
export function ropeFreqFactors(headDim: number, theta: number, scaling: RopeScaling | undefined): number[] {
  const inv = baseInvFreqs(headDim, theta);
  if (!scaling) return inv.map(() => 1);
  if (scaling.type === "linear") return inv.map(() => scaling.factor);
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: orig } = scaling;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < orig / high) return 1;
    if (wavelen > orig / low) return factor;
    const smooth = (orig / wavelen - low) / (high - low);
    return 1 / ((1 - smooth) / factor + smooth);
  });
}

/** cos/sin tables [maxPos × headDim/2] of the angles pos · θ_i. */
export function ropeTables(
  headDim: number,
  maxPos: number,
  theta: number,
  scaling?: RopeScaling,
): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  const inv = baseInvFreqs(headDim, theta);
  const div = ropeFreqFactors(headDim, theta, scaling);
  for (let i = 0; i < half; i++) {
    // Frequencies in float32 (as PyTorch holds inv_freq), angles and cos/sin in float64 then
    // rounded; the difference is below float32 resolution for the sizes we use.
    const invFreq = Math.fround(inv[i]! / div[i]!);
    for (let p = 0; p < maxPos; p++) {
      const a = p * invFreq;
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/** Checks a scaling rule's numbers; returns an error text, or undefined when it is valid. */
export function ropeScalingProblem(s: RopeScaling): string | undefined {
  if (!(s.factor > 0) || !Number.isFinite(s.factor)) return `factor must be a positive number, got ${s.factor}`;
  if (s.type === "linear") return undefined;
  if (!(s.lowFreqFactor > 0) || !Number.isFinite(s.lowFreqFactor)) return `low_freq_factor must be a positive number, got ${s.lowFreqFactor}`;
  if (!(s.highFreqFactor > s.lowFreqFactor) || !Number.isFinite(s.highFreqFactor)) {
    return `high_freq_factor (${s.highFreqFactor}) must be greater than low_freq_factor (${s.lowFreqFactor})`;
  }
  if (!(s.originalMaxPositionEmbeddings > 0) || !Number.isFinite(s.originalMaxPositionEmbeddings)) {
    return `original_max_position_embeddings must be a positive number, got ${s.originalMaxPositionEmbeddings}`;
  }
  return undefined;
}

/** True when two factor lists agree to float32 storage precision. */
function sameFactors(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]!) <= 1e-5 * Math.max(1, Math.abs(x)));
}

/** x to 6 significant digits: the fitted parameters come from float32 data (checked afterwards). */
function tidy(x: number): number {
  return Number(x.toPrecision(6));
}

/**
 * The llama3 rule whose frequency factors are `factors` (as stored in a GGUF's rope_freqs),
 * or undefined when no llama3 rule gives them. All ones means no scaling (returns null).
 *
 * In the band between the two cut-offs, 1/s_i = (1 − smooth)/factor + smooth with
 * smooth = a/λ_i − b, a = L/(high − low), b = low/(high − low): two points of that band
 * give a and b. `originalContext` (L, when the file records it) then fixes low and high;
 * without it low_freq_factor is taken as 1 (every Meta release). With fewer than two points
 * in the band the Meta constants (low 1, high 4, L 8192 unless given) are tried. Every
 * candidate is checked by recomputing all the factors.
 */
export function llama3FromFreqFactors(
  headDim: number,
  theta: number,
  factors: readonly number[],
  originalContext?: number,
): RopeScaling | null | undefined {
  if (factors.length !== headDim / 2) return undefined;
  if (factors.every((f) => f === 1)) return null;
  const factor = Math.max(...factors);
  const inv = baseInvFreqs(headDim, theta);
  const mid: Array<{ wavelen: number; smooth: number }> = [];
  factors.forEach((s, i) => {
    if (s > 1 + 1e-6 && s < factor * (1 - 1e-6)) mid.push({ wavelen: (2 * Math.PI) / inv[i]!, smooth: (1 / s - 1 / factor) / (1 - 1 / factor) });
  });
  const candidates: Array<{ low: number; high: number; orig: number }> = [];
  if (mid.length >= 2) {
    const p = mid[0]!;
    const q = mid[mid.length - 1]!;
    const a = (p.smooth - q.smooth) / (1 / p.wavelen - 1 / q.wavelen);
    const b = a / p.wavelen - p.smooth;
    if (originalContext !== undefined) {
      const width = originalContext / a;
      candidates.push({ low: b * width, high: b * width + width, orig: originalContext });
    } else if (b > 0) {
      candidates.push({ low: 1, high: 1 + 1 / b, orig: a / b });
    }
  }
  candidates.push({ low: 1, high: 4, orig: originalContext ?? 8192 });
  for (const c of candidates) {
    const s: RopeScaling = {
      type: "llama3",
      factor: tidy(factor),
      lowFreqFactor: tidy(c.low),
      highFreqFactor: tidy(c.high),
      originalMaxPositionEmbeddings: Math.round(c.orig),
    };
    if (ropeScalingProblem(s) === undefined && sameFactors(ropeFreqFactors(headDim, theta, s), factors)) return s;
  }
  return undefined;
}
