/**
 * The sweep's SVG plots, drawn with the training loss-curve plotter (axes in log10 where the
 * quantity spans decades): validation loss against tokens per width, IsoFLOP profiles with
 * their fitted minima, and the compute-optimal frontier N_opt(C) beside the inference-aware
 * N(C, T).
 */
import { lossCurveSvg, type Series } from "../train/plot.js";
import { computeOptimal, isoFlopMinima, type Observation, type ScalingFit } from "./fit.js";
import { recommend } from "./recommend.js";

const COLORS = ["#1f6fd1", "#d1491f", "#2a9d3a", "#8e44ad", "#c0a000", "#17a2b8", "#e83e8c", "#555555"];
const color = (i: number): string => COLORS[i % COLORS.length]!;

export function lossVsTokensSvg(points: ReadonlyArray<{ label: string; key: number; tokens: number; loss: number }>): string {
  const keys = [...new Set(points.map((p) => p.key))].sort((a, b) => a - b);
  const series: Series[] = keys.map((k, i) => ({
    name: points.find((p) => p.key === k)!.label,
    color: color(i),
    points: points.filter((p) => p.key === k).sort((a, b) => a.tokens - b.tokens).map((p) => ({ x: Math.log10(p.tokens), y: p.loss })),
  }));
  return lossCurveSvg("validation loss against training tokens, per model width", series, "log10 tokens D", "validation loss", { xFromZero: false });
}

export function isoFlopSvg(obs: readonly Observation[], fit: ScalingFit): string {
  const series: Series[] = [];
  // Group runs the way isoFlopMinima does (0.1-decade buckets) and draw every bucket with ≥ 2 sizes.
  const sorted = [...obs].sort((a, b) => a.params * a.tokens - b.params * b.tokens);
  const buckets: Observation[][] = [];
  for (const o of sorted) {
    const cur = buckets[buckets.length - 1];
    if (cur && Math.log10(o.params * o.tokens) - Math.log10(cur[0]!.params * cur[0]!.tokens) <= 0.1) cur.push(o);
    else buckets.push([o]);
  }
  buckets.filter((b) => new Set(b.map((o) => o.params)).size >= 2).forEach((b, i) => {
    const c = 6 * b[0]!.params * b[0]!.tokens;
    series.push({
      name: `C ≈ ${c.toExponential(1)}`, color: color(i),
      points: [...b].sort((x, y) => x.params - y.params).map((o) => ({ x: Math.log10(o.params), y: o.loss })),
    });
  });
  const minima = fit.isoflop.minima.length > 0 ? fit.isoflop.minima : isoFlopMinima(obs).minima;
  for (const m of minima) series.push({ name: `minimum ${m.params.toExponential(1)}`, color: "#000000", points: [{ x: Math.log10(m.params), y: m.loss }] });
  return lossCurveSvg("IsoFLOP profiles: loss against model size at fixed 6ND (dots: parabola minima)", series, "log10 non-embedding parameters N", "validation loss", { xFromZero: false });
}

export function frontierSvg(fit: ScalingFit, serveTokens: number, obs: readonly Observation[]): string {
  const cs = obs.map((o) => 6 * o.params * o.tokens);
  const lo = Math.log10(Math.min(...cs)) - 1, hi = Math.log10(Math.max(...cs)) + 2;
  const opt: Array<{ x: number; y: number }> = [];
  const aware: Array<{ x: number; y: number }> = [];
  for (let lc = lo; lc <= hi + 1e-9; lc += (hi - lo) / 40) {
    const c = 10 ** lc;
    opt.push({ x: lc, y: Math.log10(computeOptimal(fit, c).params) });
    aware.push({ x: lc, y: Math.log10(recommend(fit, c, serveTokens).inferenceAware.params) });
  }
  return lossCurveSvg(
    `model size against training compute: compute-optimal vs inference-aware (T = ${serveTokens.toExponential(1)} tokens served)`,
    [
      { name: "compute-optimal N_opt(C)", color: color(0), points: opt },
      { name: "inference-aware N(C, T)", color: color(1), points: aware },
    ],
    "log10 training FLOPs C = 6ND", "log10 parameters N", { xFromZero: false },
  );
}
