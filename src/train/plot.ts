/**
 * A loss curve as a small standalone SVG (no plotting dependency: a polyline and a few
 * labelled ticks are all a loss curve needs).
 */
export interface Series {
  name: string;
  color: string;
  points: Array<{ x: number; y: number }>;
}

function niceTicks(min: number, max: number, count: number): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) ticks.push(Number(v.toPrecision(10)));
  return ticks;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** `opts.xFromZero` (default true) starts the x axis at 0; false fits it to the data (log axes). */
export function lossCurveSvg(title: string, series: Series[], xLabel = "step", yLabel = "loss", opts: { xFromZero?: boolean } = {}): string {
  const W = 720, H = 420, left = 64, right = 20, top = 40, bottom = 52;
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y));
  const xMin = opts.xFromZero === false ? Math.min(...all.map((p) => p.x)) : Math.min(...all.map((p) => p.x), 0);
  const xMax = opts.xFromZero === false ? Math.max(...all.map((p) => p.x), xMin + 1e-9) : Math.max(...all.map((p) => p.x), 1);
  let yMin = Math.min(...all.map((p) => p.y));
  let yMax = Math.max(...all.map((p) => p.y));
  if (!Number.isFinite(yMin)) { yMin = 0; yMax = 1; }
  if (yMax - yMin < 1e-9) { yMin -= 0.5; yMax += 0.5; }
  const sx = (x: number) => left + ((x - xMin) / (xMax - xMin)) * (W - left - right);
  const sy = (y: number) => top + (1 - (y - yMin) / (yMax - yMin)) * (H - top - bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
  ];
  for (const t of niceTicks(yMin, yMax, 6)) {
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(xMin, xMax, 8)) {
    parts.push(`<line x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}" y1="${top}" y2="${H - bottom}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${sx(t).toFixed(1)}" y="${H - bottom + 16}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  parts.push(`<text x="16" y="${(top + H - bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(top + H - bottom) / 2})">${escapeXml(yLabel)}</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p.y)).map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
    if (s.points.length === 1) {
      const p = s.points[0]!;
      parts.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    } else {
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.6" points="${pts}"/>`);
    }
    parts.push(`<line x1="${W - right - 150}" x2="${W - right - 130}" y1="${top + 16 + i * 16}" y2="${top + 16 + i * 16}" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(`<text x="${W - right - 124}" y="${top + 20 + i * 16}">${escapeXml(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
