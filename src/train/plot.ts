/**
 * The training picture as a small standalone SVG (no plotting dependency): two panels over
 * the same step axis.
 *
 * - Top: the loss in nats per token: every step's raw training loss (light), its smoothed
 *   value (an exponential moving average with TensorBoard's bias correction,
 *   ema_t = (β·m_{t-1} + (1-β)·x_t) / (1 - β^t) with m the uncorrected average, β = 1 - 2/(span+1),
 *   span = clamp(steps / 30, 1, 100)), and the validation loss; a second axis on top gives
 *   the tokens seen (step × tokens per step); the y range has 6 % headroom either side.
 * - Bottom: the learning-rate schedule (warm-up, cosine, floor) over the whole schedule,
 *   drawn solid up to the steps done and dashed after.
 */
import { learningRate, type LrSchedule } from "../kernels/optim.js";

export interface TrainingCurve {
  title: string;
  /** Training loss of steps 0, 1, ... (nats/token). */
  losses: readonly number[];
  /** Validation loss after `step` steps. */
  valLosses: ReadonlyArray<{ step: number; loss: number }>;
  tokensPerStep: number;
  schedule: LrSchedule;
}

export function niceTicks(min: number, max: number, count: number): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9 * step; v += step) ticks.push(Number(v.toPrecision(10)));
  return ticks;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** 1234567 -> "1.23M", 2048 -> "2.05k" (axis labels). */
export function formatCount(v: number): string {
  const a = Math.abs(v);
  for (const [s, u] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]] as const) {
    if (a >= s) return `${Number((v / s).toPrecision(3))}${u}`;
  }
  return String(Number(v.toPrecision(3)));
}

/** Bias-corrected exponential moving average (see the module comment). */
export function emaSmooth(values: readonly number[], beta: number): number[] {
  const out: number[] = [];
  let m = 0;
  let weight = 0;
  for (const x of values) {
    m = beta * m + (1 - beta) * x;
    weight = beta * weight + (1 - beta);
    out.push(m / weight);
  }
  return out;
}

/** The smoothing factor for a run of n steps. */
export function emaBeta(n: number): number {
  const span = Math.max(1, Math.min(100, n / 30));
  return 1 - 2 / (span + 1);
}

export function trainingCurveSvg(c: TrainingCurve): string {
  const W = 760, left = 70, right = 30, top = 64, lossH = 300, gap = 46, lrH = 90, bottom = 46;
  const H = top + lossH + gap + lrH + bottom;
  const plotW = W - left - right;
  const n = c.losses.length;
  const xMax = Math.max(1, n, c.schedule.totalSteps, ...c.valLosses.map((v) => v.step));
  const sx = (x: number): number => left + (x / xMax) * plotW;

  // Loss panel range, with headroom.
  const finite = [...c.losses, ...c.valLosses.map((v) => v.loss)].filter((y) => Number.isFinite(y));
  let yMin = finite.length > 0 ? Math.min(...finite) : 0;
  let yMax = finite.length > 0 ? Math.max(...finite) : 1;
  if (yMax - yMin < 1e-9) { yMin -= 0.5; yMax += 0.5; }
  const pad = 0.06 * (yMax - yMin);
  yMin = Math.max(0, yMin - pad);
  yMax += pad;
  const sy = (y: number): number => top + (1 - (y - yMin) / (yMax - yMin)) * lossH;
  const lrTop = top + lossH + gap;
  const lrPeak = c.schedule.lr > 0 ? c.schedule.lr * 1.1 : 1;
  const sl = (v: number): number => lrTop + (1 - v / lrPeak) * lrH;

  const f = (v: number): string => v.toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15">${escapeXml(c.title)}</text>`,
  ];
  // Grid and axes of the loss panel.
  for (const t of niceTicks(yMin, yMax, 6)) {
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e6e6e6"/>`);
    parts.push(`<text x="${left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${t}</text>`);
  }
  const stepTicks = niceTicks(0, xMax, 8);
  for (const t of stepTicks) {
    parts.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${top}" y2="${top + lossH}" stroke="#f0f0f0"/>`);
    parts.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${lrTop}" y2="${lrTop + lrH}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${f(sx(t))}" y="${lrTop + lrH + 16}" text-anchor="middle">${formatCount(t)}</text>`);
  }
  // Tokens axis on top of the loss panel.
  for (const t of niceTicks(0, xMax * c.tokensPerStep, 6)) {
    const x = sx(t / c.tokensPerStep);
    parts.push(`<line x1="${f(x)}" x2="${f(x)}" y1="${top - 4}" y2="${top}" stroke="#888"/>`);
    parts.push(`<text x="${f(x)}" y="${top - 8}" text-anchor="middle" fill="#555">${formatCount(t)}</text>`);
  }
  parts.push(`<text x="${left + plotW / 2}" y="${top - 26}" text-anchor="middle" fill="#555">tokens seen (${formatCount(c.tokensPerStep)} per step)</text>`);
  parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${lossH}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="18" y="${top + lossH / 2}" text-anchor="middle" transform="rotate(-90 18 ${top + lossH / 2})">loss (nats/token)</text>`);

  // The curves.
  const line = (pts: Array<[number, number]>, color: string, width: number, extra = ""): void => {
    if (pts.length === 0) return;
    if (pts.length === 1) {
      parts.push(`<circle cx="${f(pts[0]![0])}" cy="${f(pts[0]![1])}" r="3" fill="${color}"/>`);
      return;
    }
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="${width}"${extra} points="${pts.map(([x, y]) => `${f(x)},${f(y)}`).join(" ")}"/>`);
  };
  const raw: Array<[number, number]> = [];
  c.losses.forEach((y, i) => { if (Number.isFinite(y)) raw.push([sx(i + 1), sy(y)]); });
  const smooth = emaSmooth(c.losses.filter((y) => Number.isFinite(y)), emaBeta(n));
  line(raw, "#a9c8ee", 1);
  line(smooth.map((y, i) => [sx(i + 1), sy(y)]), "#1f5fbf", 2.2);
  const val = c.valLosses.filter((v) => Number.isFinite(v.loss)).map((v): [number, number] => [sx(v.step), sy(v.loss)]);
  line(val, "#d1491f", 2);
  for (const [x, y] of val) parts.push(`<circle cx="${f(x)}" cy="${f(y)}" r="3" fill="#d1491f"/>`);

  // Legend (with the last values).
  const last = (a: readonly number[]): string => (a.length > 0 ? a[a.length - 1]!.toFixed(3) : "-");
  const legend: Array<[string, string, string]> = [
    ["train (raw)", "#a9c8ee", last(c.losses)],
    ["train (smoothed)", "#1f5fbf", last(smooth)],
    ...(val.length > 0 ? [["validation", "#d1491f", last(c.valLosses.map((v) => v.loss))] as [string, string, string]] : []),
  ];
  const lx = W - right - 200;
  parts.push(`<rect x="${lx - 8}" y="${top + 8}" width="200" height="${legend.length * 18 + 8}" fill="white" fill-opacity="0.85" stroke="#ddd"/>`);
  legend.forEach(([name, color, v], i) => {
    const y = top + 22 + i * 18;
    parts.push(`<line x1="${lx}" x2="${lx + 22}" y1="${y - 4}" y2="${y - 4}" stroke="${color}" stroke-width="3"/>`);
    parts.push(`<text x="${lx + 28}" y="${y}">${escapeXml(name)}: ${v}</text>`);
  });

  // Learning-rate panel: the schedule over [0, xMax], solid where trained.
  const lrPts = (from: number, to: number): Array<[number, number]> => {
    const pts: Array<[number, number]> = [];
    const stride = Math.max(1, Math.floor((to - from) / 400));
    for (let s = from; s < to; s += stride) pts.push([sx(s), sl(learningRate(s, c.schedule))]);
    if (to > from) pts.push([sx(to), sl(learningRate(to - 1, c.schedule))]);
    return pts;
  };
  line(lrPts(0, Math.min(n, xMax)), "#2a9d4b", 2);
  if (n < xMax) line(lrPts(Math.max(0, n - 1), xMax), "#2a9d4b", 1.5, ' stroke-dasharray="5 4"');
  const floor = c.schedule.lr * c.schedule.minLrRatio;
  for (const t of floor > 0.2 * c.schedule.lr ? [0, floor, c.schedule.lr] : [floor, c.schedule.lr]) {
    parts.push(`<text x="${left - 6}" y="${f(sl(t) + 4)}" text-anchor="end">${t === 0 ? "0" : t.toExponential(1)}</text>`);
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${f(sl(t))}" y2="${f(sl(t))}" stroke="#eee"/>`);
  }
  parts.push(`<rect x="${left}" y="${lrTop}" width="${plotW}" height="${lrH}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="18" y="${lrTop + lrH / 2}" text-anchor="middle" transform="rotate(-90 18 ${lrTop + lrH / 2})">learning rate</text>`);
  const floorText = (c.schedule.lr * c.schedule.minLrRatio).toExponential(1);
  parts.push(`<text x="${W - right - 8}" y="${lrTop + 16}" text-anchor="end" fill="#2a9d4b">warm-up ${c.schedule.warmup} steps, cosine to ${floorText} at step ${c.schedule.totalSteps}</text>`);
  parts.push(`<text x="${left + plotW / 2}" y="${H - 10}" text-anchor="middle">optimiser step (${n} done)</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
