/**
 * Standard errors as lm-evaluation-harness reports them (`lm_eval/api/metrics.py`): a metric
 * aggregated by `mean` over per-item scores x_1..x_n has the closed-form standard error of
 * the mean with the sample standard deviation (Bessel's correction),
 *
 *   mean_stderr(x) = sqrt( Σ (x_i − x̄)² / (n − 1) ) / sqrt(n)
 *
 * (for 0/1 scores: sqrt(p(1 − p) / (n − 1))), and "N/A" when n ≤ 1 (the harness's
 * `_compute_task_aggregations` writes "N/A" unless len(items) > 1). Perplexity-like
 * aggregates have no closed form there and are bootstrapped or "N/A"; we report "N/A".
 */

/** `mean_stderr` of per-item scores, or undefined when it is not defined (n ≤ 1). */
export function meanStderr(xs: readonly number[]): number | undefined {
  const n = xs.length;
  if (n <= 1) return undefined;
  let mu = 0;
  for (const x of xs) mu += x;
  mu /= n;
  let ss = 0;
  for (const x of xs) ss += (x - mu) * (x - mu);
  return Math.sqrt(ss / (n - 1)) / Math.sqrt(n);
}
