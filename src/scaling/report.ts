/**
 * The fit and the recommendation as a JSON object (the `sweep fit --json` contract and
 * `fit.json`) and as text.
 *
 * JSON shape:
 *   { "E", "A", "alpha", "B", "beta": numbers,
 *     "intervals": { "E": [lo, hi], "A": [...], "alpha": [...], "B": [...], "beta": [...] }  (95 %, bootstrap; null without one),
 *     "objective", "runs", "initialisations", "bootstrap", "delta",
 *     "compute_optimal": { "params_exponent": β/(α+β), "tokens_exponent": α/(α+β) },
 *     "isoflop": { "minima": [{ "flops", "params", "tokens", "loss", "runs" }], "params_exponent"?, "tokens_exponent"? },
 *     "recommendation"?: { "serve_tokens", "train_flops", "compute_optimal": choice, "inference_aware": choice,
 *                         "params_ratio", "tokens_ratio", "flops_saved" } }
 *   where choice = { "params", "tokens", "loss", "train_flops", "inference_flops", "total_flops" }.
 */
import type { ScalingFit } from "./fit.js";
import type { ModelChoice, Recommendation } from "./recommend.js";

export const FIT_JSON_SHAPE =
  '{"E","A","alpha","B","beta": numbers; "intervals": {"E":[lo,hi],"A":[lo,hi],"alpha":[lo,hi],"B":[lo,hi],"beta":[lo,hi]} (95 % bootstrap, null with --bootstrap 0); ' +
  '"objective","runs","initialisations","bootstrap","delta"; "compute_optimal": {"params_exponent","tokens_exponent"}; ' +
  '"isoflop": {"minima": [{"flops","params","tokens","loss","runs"}], "params_exponent"?, "tokens_exponent"?}; ' +
  '"recommendation" (with --serve-tokens): {"serve_tokens","train_flops","compute_optimal","inference_aware","params_ratio","tokens_ratio","flops_saved"}}';

function choiceJson(c: ModelChoice): Record<string, number> {
  return { params: c.params, tokens: c.tokens, loss: c.loss, train_flops: c.trainFlops, inference_flops: c.inferenceFlops, total_flops: c.totalFlops };
}

export function recommendationJson(r: Recommendation): Record<string, unknown> {
  return {
    serve_tokens: r.serveTokens, train_flops: r.trainFlops, compute_optimal: choiceJson(r.computeOptimal),
    inference_aware: choiceJson(r.inferenceAware), params_ratio: r.paramsRatio, tokens_ratio: r.tokensRatio, flops_saved: r.flopsSaved,
  };
}

export function fitJson(fit: ScalingFit, delta: number, rec?: Recommendation): Record<string, unknown> {
  const iso: Record<string, unknown> = { minima: fit.isoflop.minima };
  if (fit.isoflop.paramsExponent !== undefined) iso["params_exponent"] = fit.isoflop.paramsExponent;
  if (fit.isoflop.tokensExponent !== undefined) iso["tokens_exponent"] = fit.isoflop.tokensExponent;
  return {
    E: fit.E, A: fit.A, alpha: fit.alpha, B: fit.B, beta: fit.beta,
    intervals: fit.intervals ?? null,
    objective: fit.objective, runs: fit.observations, initialisations: fit.initialisations, bootstrap: fit.bootstrap, delta,
    compute_optimal: { params_exponent: fit.beta / (fit.alpha + fit.beta), tokens_exponent: fit.alpha / (fit.alpha + fit.beta) },
    isoflop: iso,
    ...(rec ? { recommendation: recommendationJson(rec) } : {}),
  };
}

const g = (v: number, digits = 4): string => (Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(digits - 1) : v.toPrecision(digits));

export function fitText(fit: ScalingFit, rec?: Recommendation): string {
  const lines: string[] = [];
  lines.push(`L(N, D) = E + A/N^alpha + B/D^beta   (Chinchilla approach 3: Huber on log-loss, ${fit.initialisations} initialisations, ${fit.observations} runs)`);
  for (const k of ["E", "A", "alpha", "B", "beta"] as const) {
    const ci = fit.intervals?.[k];
    lines.push(`  ${k.padEnd(6)} ${g(fit[k]).padStart(10)}${ci ? `   95% CI [${g(ci[0])}, ${g(ci[1])}]` : ""}`);
  }
  if (fit.intervals) lines.push(`  (intervals: bootstrap over runs, ${fit.bootstrap} resamples)`);
  lines.push(`compute-optimal frontier: N_opt ∝ C^${g(fit.beta / (fit.alpha + fit.beta), 3)}, D_opt ∝ C^${g(fit.alpha / (fit.alpha + fit.beta), 3)}   (Chinchilla paper: alpha 0.34, beta 0.28 → C^0.45, C^0.55)`);
  if (fit.isoflop.minima.length === 0) {
    lines.push("IsoFLOP minima (approach 2): none (needs ≥ 3 model sizes at a similar 6ND with the loss curving up on both sides)");
  } else {
    lines.push("IsoFLOP minima (approach 2):");
    for (const m of fit.isoflop.minima) lines.push(`  C ${g(m.flops)}: N_opt ${g(m.params)}, D_opt ${g(m.tokens)}, loss ${g(m.loss)} (${m.runs} runs)`);
    if (fit.isoflop.paramsExponent !== undefined) lines.push(`  N_opt ∝ C^${g(fit.isoflop.paramsExponent, 3)}, D_opt ∝ C^${g(fit.isoflop.tokensExponent!, 3)}`);
  }
  if (rec) lines.push(...recommendationText(rec));
  return lines.join("\n") + "\n";
}

export function recommendationText(r: Recommendation): string[] {
  const c = r.computeOptimal, i = r.inferenceAware;
  return [
    `recommendation for ${g(r.serveTokens)} tokens served, at the loss ${g(c.loss)} of the compute-optimal model for ${g(r.trainFlops)} training FLOPs:`,
    `  compute-optimal: N ${g(c.params)}, D ${g(c.tokens)} (${g(c.tokens / c.params, 3)} tokens/param); train ${g(c.trainFlops)} + inference ${g(c.inferenceFlops)} = ${g(c.totalFlops)} FLOPs`,
    `  inference-aware: N ${g(i.params)}, D ${g(i.tokens)} (${g(i.tokens / i.params, 3)} tokens/param); train ${g(i.trainFlops)} + inference ${g(i.inferenceFlops)} = ${g(i.totalFlops)} FLOPs`,
    `  → ${g(r.paramsRatio, 3)}× the parameters, ${g(r.tokensRatio, 3)}× the tokens, ${(r.flopsSaved * 100).toFixed(1)} % fewer total FLOPs`,
  ];
}
