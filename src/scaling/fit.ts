/**
 * Scaling-law fits (Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models").
 *
 * Approach 3: the parametric loss
 *     L(N, D) = E + A / N^α + B / D^β
 * with A = e^a, B = e^b, E = e^e, fitted by minimising over θ = (a, b, e, α, β)
 *     Σ_i Huber_δ( LSE(a − α log N_i, b − β log D_i, e) − log L_i ),   δ = 1e-3,
 * where LSE(x, y, z) = m + log(e^{x−m} + e^{y−m} + e^{z−m}), m = max(x, y, z) (so nothing
 * overflows), and Huber_δ(r) = r²/2 for |r| ≤ δ, δ(|r| − δ/2) otherwise. L-BFGS is run from
 * every point of a grid of initialisations (the paper's: α, β ∈ {0, 0.5, …, 2},
 * e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25}) and the lowest objective wins. Confidence
 * intervals come from a seeded bootstrap over runs (resample the observations with
 * replacement, refit from the full fit's best distinct minima, take the 2.5 / 97.5 %
 * percentiles).
 *
 * The compute-optimal frontier for C = 6ND (the paper's eq. 4):
 *     G = (αA / (βB))^{1/(α+β)},  N_opt(C) = G (C/6)^{β/(α+β)},  D_opt(C) = G^{-1} (C/6)^{α/(α+β)}.
 *
 * Approach 2 (IsoFLOP profiles): runs are bucketed by C = 6ND (log10 C within a bucket width),
 * and for every bucket with at least three model sizes a parabola of loss in log N is fitted by
 * least squares; its vertex (when the parabola opens upwards and the vertex lies inside the
 * bucket's range of N) is that budget's optimal N. With two or more minima, N_opt ∝ C^a and
 * D_opt ∝ C^b are fitted by least squares in log-log.
 */
import { Rng } from "../util/rng.js";
import { lbfgs } from "./lbfgs.js";

/** One training run: parameters N, training tokens D, final (validation) loss L. */
export interface Observation {
  params: number;
  tokens: number;
  loss: number;
}

export interface LawParams {
  E: number;
  A: number;
  alpha: number;
  B: number;
  beta: number;
}

export type Interval = [number, number];

export interface IsoFlopMinimum {
  /** The bucket's compute (geometric mean of its runs' 6ND). */
  flops: number;
  params: number;
  tokens: number;
  loss: number;
  runs: number;
}

export interface IsoFlopResult {
  minima: IsoFlopMinimum[];
  /** N_opt ∝ C^a, D_opt ∝ C^b (present with two or more minima). */
  paramsExponent?: number;
  tokensExponent?: number;
}

export interface ScalingFit extends LawParams {
  /** The Huber objective at the optimum. */
  objective: number;
  /** Number of initialisations that were run. */
  initialisations: number;
  observations: number;
  /** 95 % percentile intervals from the bootstrap (absent with bootstrap = 0). */
  intervals?: Record<keyof LawParams, Interval>;
  bootstrap: number;
  isoflop: IsoFlopResult;
}

export interface FitOptions {
  /** Huber δ (default 1e-3, the paper's). */
  delta?: number;
  /** Bootstrap resamples (default 200; 0 = none). */
  bootstrap?: number;
  seed?: number;
  /** Initialisation grid: "paper" (4500 points) or "coarse" (α, β ∈ {0.25, 0.75}, e ∈ {−1, 0, 1}, a, b ∈ {0, 10, 20}). */
  grid?: "paper" | "coarse";
  /** log10 width of an IsoFLOP bucket (default 0.1). */
  isoflopBucket?: number;
}

/** θ = (a, b, e, α, β) → (E, A, α, B, β). */
export function lawFromTheta(theta: ArrayLike<number>): LawParams {
  return { A: Math.exp(theta[0]!), B: Math.exp(theta[1]!), E: Math.exp(theta[2]!), alpha: theta[3]!, beta: theta[4]! };
}

/** L(N, D) = E + A/N^α + B/D^β. */
export function predictLoss(p: LawParams, params: number, tokens: number): number {
  return p.E + p.A / Math.pow(params, p.alpha) + p.B / Math.pow(tokens, p.beta);
}

/** Huber_δ(r). */
export function huber(r: number, delta: number): number {
  const a = Math.abs(r);
  return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}

/** Observations as the objective reads them: log N, log D, log L. */
export interface LogData { logN: Float64Array; logD: Float64Array; logL: Float64Array }

export function toLogData(obs: readonly Observation[]): LogData {
  return {
    logN: Float64Array.from(obs, (o) => Math.log(o.params)),
    logD: Float64Array.from(obs, (o) => Math.log(o.tokens)),
    logL: Float64Array.from(obs, (o) => Math.log(o.loss)),
  };
}

/**
 * The approach-3 objective Σ Huber_δ(LSE(a − α log N, b − β log D, e) − log L) and its gradient
 * with respect to θ = (a, b, e, α, β) (written into `grad`).
 */
export function huberObjective(theta: ArrayLike<number>, data: LogData, delta: number, grad?: Float64Array): number {
  const a = theta[0]!, b = theta[1]!, e = theta[2]!, alpha = theta[3]!, beta = theta[4]!;
  const { logN, logD, logL } = data;
  let total = 0;
  let ga = 0, gb = 0, ge = 0, gAlpha = 0, gBeta = 0;
  for (let i = 0; i < logN.length; i++) {
    const x = a - alpha * logN[i]!;
    const y = b - beta * logD[i]!;
    const m = Math.max(x, y, e);
    const ex = Math.exp(x - m), ey = Math.exp(y - m), ez = Math.exp(e - m);
    const sum = ex + ey + ez;
    const r = m + Math.log(sum) - logL[i]!;
    const ar = Math.abs(r);
    total += ar <= delta ? 0.5 * r * r : delta * (ar - 0.5 * delta);
    const dr = ar <= delta ? r : delta * Math.sign(r);
    const wx = (dr * ex) / sum, wy = (dr * ey) / sum, wz = (dr * ez) / sum;
    ga += wx; gAlpha -= wx * logN[i]!;
    gb += wy; gBeta -= wy * logD[i]!;
    ge += wz;
  }
  if (grad) { grad[0] = ga; grad[1] = gb; grad[2] = ge; grad[3] = gAlpha; grad[4] = gBeta; }
  return total;
}

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to + 1e-9; v += step) out.push(Number(v.toFixed(6)));
  return out;
}

/** The initialisation grid as θ vectors (a, b, e, α, β). */
export function initialisationGrid(kind: "paper" | "coarse"): number[][] {
  const exps = kind === "paper" ? range(0, 2, 0.5) : [0.25, 0.75];
  const es = kind === "paper" ? range(-1, 1, 0.5) : [-1, 0, 1];
  const abs = kind === "paper" ? range(0, 25, 5) : [0, 10, 20];
  const out: number[][] = [];
  for (const alpha of exps) for (const beta of exps) for (const e of es) for (const a of abs) for (const b of abs) out.push([a, b, e, alpha, beta]);
  return out;
}

interface Minimum { theta: Float64Array; f: number }

/**
 * L-BFGS from every start for `scoutIter` iterations, then the best `polish` distinct results
 * are continued to convergence (most starts land in the same few basins; finishing them all
 * would cost 10× more for the same answer). Returns the results, best first.
 */
function minimiseFrom(starts: readonly (readonly number[] | Float64Array)[], obs: readonly Observation[], delta: number, scoutIter = 100, polish = 8): Minimum[] {
  const data = toLogData(obs);
  const fg = (x: Float64Array, g: Float64Array): number => huberObjective(x, data, delta, g);
  const run = (s: ArrayLike<number>, maxIter: number): Minimum | undefined => {
    const r = lbfgs(fg, s, { maxIter, gradTol: 1e-12, fTol: 1e-13 });
    return Number.isFinite(r.f) ? { theta: r.x, f: r.f } : undefined;
  };
  const byF = (p: Minimum, q: Minimum): number => p.f - q.f;
  const scouted = starts.map((s) => run(s, scoutIter)).filter((m): m is Minimum => m !== undefined).sort(byF);
  const top = distinctMinima(scouted, polish);
  const polished = top.map((m) => run(m.theta, 2000) ?? m);
  return [...polished, ...scouted.slice(top.length)].sort(byF);
}

/** Up to k minima whose θ differ (rounded to 2 decimals), best first. */
function distinctMinima(found: readonly Minimum[], k: number): Minimum[] {
  const seen = new Set<string>();
  const out: Minimum[] = [];
  for (const m of found) {
    const key = Array.from(m.theta, (v) => v.toFixed(2)).join(",");
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(m);
    if (out.length === k) break;
  }
  return out;
}

function checkObservations(obs: readonly Observation[]): void {
  for (const [i, o] of obs.entries()) {
    if (!(o.params > 0 && o.tokens > 0 && o.loss > 0) || ![o.params, o.tokens, o.loss].every(Number.isFinite)) {
      throw new RangeError(`observation ${i}: params, tokens and loss must be positive finite numbers`);
    }
  }
}

/** Percentile (linear interpolation) of a sorted array, q in [0, 1]. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Approach 3 with a bootstrap, plus approach 2 on the same observations. */
export function fitScalingLaw(obs: readonly Observation[], opts: FitOptions = {}): ScalingFit {
  checkObservations(obs);
  if (obs.length < 5) throw new RangeError(`a fit of 5 parameters needs at least 5 observations, got ${obs.length}`);
  const delta = opts.delta ?? 1e-3;
  const grid = initialisationGrid(opts.grid ?? "paper");
  const found = minimiseFrom(grid, obs, delta);
  if (found.length === 0) throw new RangeError("no initialisation gave a finite objective");
  const best = found[0]!;
  const law = lawFromTheta(best.theta);
  const bootstrap = opts.bootstrap ?? 200;
  const fit: ScalingFit = {
    ...law, objective: best.f, initialisations: grid.length, observations: obs.length, bootstrap,
    isoflop: isoFlopMinima(obs, opts.isoflopBucket ?? 0.1),
  };
  if (bootstrap > 0) {
    const starts = distinctMinima(found, 4).map((m) => m.theta);
    const rng = new Rng(opts.seed ?? 0);
    const samples: Record<keyof LawParams, number[]> = { E: [], A: [], alpha: [], B: [], beta: [] };
    for (let k = 0; k < bootstrap; k++) {
      const resample = Array.from({ length: obs.length }, () => obs[rng.nextInt(obs.length)]!);
      const m = minimiseFrom(starts, resample, delta)[0];
      if (!m) continue;
      const p = lawFromTheta(m.theta);
      for (const key of Object.keys(samples) as Array<keyof LawParams>) samples[key].push(p[key]);
    }
    const intervals = {} as Record<keyof LawParams, Interval>;
    for (const key of Object.keys(samples) as Array<keyof LawParams>) {
      const s = samples[key].sort((x, y) => x - y);
      intervals[key] = [percentile(s, 0.025), percentile(s, 0.975)];
    }
    fit.intervals = intervals;
  }
  return fit;
}

/** The compute-optimal (N, D) for training compute C = 6ND under the law (eq. 4). */
export function computeOptimal(p: LawParams, flops: number): { params: number; tokens: number; loss: number } {
  const G = Math.pow((p.alpha * p.A) / (p.beta * p.B), 1 / (p.alpha + p.beta));
  const c6 = flops / 6;
  const params = G * Math.pow(c6, p.beta / (p.alpha + p.beta));
  const tokens = Math.pow(c6, p.alpha / (p.alpha + p.beta)) / G;
  return { params, tokens, loss: predictLoss(p, params, tokens) };
}

/** Least-squares polynomial of degree 1 or 2 in x: coefficients c0 + c1 x (+ c2 x²). */
export function polyfit(x: readonly number[], y: readonly number[], degree: 1 | 2): number[] {
  const k = degree + 1;
  // Normal equations (small and well-conditioned after centring x).
  const mean = x.reduce((s, v) => s + v, 0) / x.length;
  const M = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  for (let i = 0; i < x.length; i++) {
    const u = x[i]! - mean;
    const pw = [1, u, u * u];
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < k; c++) M[r]![c]! += pw[r]! * pw[c]!;
      M[r]![k]! += pw[r]! * y[i]!;
    }
  }
  for (let c = 0; c < k; c++) {
    let piv = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[piv]![c]!)) piv = r;
    [M[c], M[piv]] = [M[piv]!, M[c]!];
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / M[c]![c]!;
      for (let j = c; j <= k; j++) M[r]![j]! -= f * M[c]![j]!;
    }
  }
  const cu = M.map((row, i) => row[k]! / row[i]!);
  // Back from u = x − mean to x.
  if (degree === 1) return [cu[0]! - cu[1]! * mean, cu[1]!];
  return [cu[0]! - cu[1]! * mean + cu[2]! * mean * mean, cu[1]! - 2 * cu[2]! * mean, cu[2]!];
}

/** Approach 2: IsoFLOP buckets, a parabola in log N per bucket, its vertex. */
export function isoFlopMinima(obs: readonly Observation[], bucketWidth = 0.1): IsoFlopResult {
  const sorted = [...obs].sort((p, q) => p.params * p.tokens - q.params * q.tokens);
  const buckets: Observation[][] = [];
  for (const o of sorted) {
    const lc = Math.log10(6 * o.params * o.tokens);
    const cur = buckets[buckets.length - 1];
    if (cur && lc - Math.log10(6 * cur[0]!.params * cur[0]!.tokens) <= bucketWidth) cur.push(o);
    else buckets.push([o]);
  }
  const minima: IsoFlopMinimum[] = [];
  for (const b of buckets) {
    const sizes = new Set(b.map((o) => o.params));
    if (sizes.size < 3) continue;
    const x = b.map((o) => Math.log(o.params));
    const [c0, c1, c2] = polyfit(x, b.map((o) => o.loss), 2) as [number, number, number];
    if (!(c2 > 0)) continue;
    const xv = -c1 / (2 * c2);
    if (xv < Math.min(...x) || xv > Math.max(...x)) continue;
    const flops = Math.exp(b.reduce((s, o) => s + Math.log(6 * o.params * o.tokens), 0) / b.length);
    const params = Math.exp(xv);
    minima.push({ flops, params, tokens: flops / (6 * params), loss: c0 + c1 * xv + c2 * xv * xv, runs: b.length });
  }
  const result: IsoFlopResult = { minima };
  if (minima.length >= 2) {
    const lc = minima.map((m) => Math.log(m.flops));
    result.paramsExponent = polyfit(lc, minima.map((m) => Math.log(m.params)), 1)[1]!;
    result.tokensExponent = polyfit(lc, minima.map((m) => Math.log(m.tokens)), 1)[1]!;
  }
  return result;
}
