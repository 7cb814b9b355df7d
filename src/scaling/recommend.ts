/**
 * The inference-aware optimum (Sardana & Frankle 2023, "Beyond Chinchilla-Optimal"): the LLaMA
 * paper's argument that a model which will serve many tokens should be smaller and trained on
 * more tokens than the compute-optimal one.
 *
 * Given a fitted law L(N, D) = E + A/N^α + B/D^β, a training compute C and T tokens expected at
 * inference, take the compute-optimal model's loss ℓ = L(N_opt(C), D_opt(C)) and find
 *     argmin over (N, D) with L(N, D) = ℓ  of  6·N·D + 2·N·T.
 * On the iso-loss curve D(N) = (B / (ℓ − E − A/N^α))^{1/β}, defined for N > N_min =
 * (A / (ℓ − E))^{1/α}; total FLOPs F(N) = 6·N·D(N) + 2·N·T is minimised by golden-section search
 * in log N (F is unimodal there: 6ND(N) has its single minimum at N_opt, and 2NT only
 * increases, so the optimum lies in (N_min, N_opt]).
 */
import { computeOptimal, type LawParams } from "./fit.js";

export interface ModelChoice {
  params: number;
  tokens: number;
  loss: number;
  trainFlops: number;
  inferenceFlops: number;
  totalFlops: number;
}

export interface Recommendation {
  serveTokens: number;
  /** The training compute whose compute-optimal loss is the target. */
  trainFlops: number;
  computeOptimal: ModelChoice;
  inferenceAware: ModelChoice;
  /** inferenceAware.params / computeOptimal.params (≤ 1). */
  paramsRatio: number;
  /** inferenceAware.tokens / computeOptimal.tokens (≥ 1). */
  tokensRatio: number;
  /** 1 − inferenceAware.totalFlops / computeOptimal.totalFlops. */
  flopsSaved: number;
}

/** D such that L(N, D) = loss, or Infinity when N alone cannot reach that loss. */
export function tokensForLoss(p: LawParams, params: number, loss: number): number {
  const gap = loss - p.E - p.A / Math.pow(params, p.alpha);
  return gap > 0 ? Math.pow(p.B / gap, 1 / p.beta) : Infinity;
}

function choice(params: number, tokens: number, loss: number, serveTokens: number): ModelChoice {
  const trainFlops = 6 * params * tokens;
  const inferenceFlops = 2 * params * serveTokens;
  return { params, tokens, loss, trainFlops, inferenceFlops, totalFlops: trainFlops + inferenceFlops };
}

export function recommend(p: LawParams, trainFlops: number, serveTokens: number): Recommendation {
  if (!(trainFlops > 0) || !(serveTokens >= 0) || !Number.isFinite(trainFlops) || !Number.isFinite(serveTokens)) {
    throw new RangeError("training FLOPs must be positive and serve tokens non-negative");
  }
  if (!(p.alpha > 0 && p.beta > 0 && p.A > 0 && p.B > 0)) {
    throw new RangeError(`the fitted law has no compute-optimal frontier (alpha ${p.alpha}, beta ${p.beta}); the runs do not show loss falling with both N and D`);
  }
  const opt = computeOptimal(p, trainFlops);
  const loss = opt.loss;
  const nMin = Math.pow(p.A / (loss - p.E), 1 / p.alpha);
  const total = (logN: number): number => {
    const n = Math.exp(logN);
    return 6 * n * tokensForLoss(p, n, loss) + 2 * n * serveTokens;
  };
  // Golden section on [log N_min, log N_opt]; the interval shrinks by 0.618 per step.
  let lo = Math.log(nMin), hi = Math.log(opt.params);
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
  let f1 = total(x1), f2 = total(x2);
  for (let i = 0; i < 200 && hi - lo > 1e-13 * Math.max(1, Math.abs(hi)); i++) {
    if (f1 <= f2) { hi = x2; x2 = x1; f2 = f1; x1 = hi - g * (hi - lo); f1 = total(x1); }
    else { lo = x1; x1 = x2; f1 = f2; x2 = lo + g * (hi - lo); f2 = total(x2); }
  }
  let logN = (lo + hi) / 2;
  // The end point N_opt is a candidate too (T = 0 puts the optimum exactly there).
  if (total(Math.log(opt.params)) <= total(logN)) logN = Math.log(opt.params);
  const n = Math.exp(logN);
  const co = choice(opt.params, opt.tokens, loss, serveTokens);
  const ia = choice(n, logN === Math.log(opt.params) ? opt.tokens : tokensForLoss(p, n, loss), loss, serveTokens);
  return {
    serveTokens, trainFlops, computeOptimal: co, inferenceAware: ia,
    paramsRatio: ia.params / co.params, tokensRatio: ia.tokens / co.tokens, flopsSaved: 1 - ia.totalFlops / co.totalFlops,
  };
}
