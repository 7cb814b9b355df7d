/**
 * Runs as CSV: a header row naming the columns, then one row per run. `readRunsCsv` takes the
 * columns `params`, `tokens` and `val_loss` (any order; other columns are ignored) and checks
 * every value; `formatCsv` writes rows (quoting a field only when it holds a comma, quote or
 * newline).
 */
import fs from "node:fs";
import { UserError } from "../util/errors.js";
import type { Observation } from "./fit.js";

/** Splits one CSV line into fields (RFC 4180 quotes: "a,b" and "" inside quotes). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") { out.push(cur); cur = ""; }
    else cur += ch;
  }
  out.push(cur);
  return out.map((f) => f.trim());
}


/**
 * Parses CSV text into observations; `where` names the file in errors. `paramsColumn` names the
 * column read as N (default `params`; e.g. `params_total` of a sweep.csv).
 */
export function parseRunsCsv(text: string, where: string, paramsColumn = "params"): Observation[] {
  const columns = [paramsColumn.toLowerCase(), "tokens", "val_loss"];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/).map((l, i) => ({ l, n: i + 1 })).filter(({ l }) => l.trim() !== "");
  if (lines.length === 0) throw new UserError(`${where}: empty file (expected a header with columns ${columns.join(",")})`);
  const header = splitCsvLine(lines[0]!.l).map((h) => h.toLowerCase());
  const index: number[] = [];
  const missing: string[] = [];
  for (const c of columns) {
    const i = header.indexOf(c);
    if (i < 0) missing.push(c);
    index.push(i);
  }
  if (missing.length > 0) throw new UserError(`${where}: missing column${missing.length > 1 ? "s" : ""} ${missing.join(", ")} in the header (need ${columns.join(",")}; found ${header.join(",")})`);
  const obs: Observation[] = [];
  for (const { l, n } of lines.slice(1)) {
    const fields = splitCsvLine(l);
    const v = columns.map((c, k) => {
      const raw = fields[index[k]!];
      const x = raw === undefined || raw === "" ? NaN : Number(raw);
      if (!Number.isFinite(x) || x <= 0) throw new UserError(`${where}:${n}: ${c} ${raw === undefined ? "is missing" : `"${raw}" is not a positive number`}`);
      return x;
    });
    obs.push({ params: v[0]!, tokens: v[1]!, loss: v[2]! });
  }
  if (obs.length < 5) throw new UserError(`${where}: ${obs.length} run${obs.length === 1 ? "" : "s"}; the fit has 5 parameters and needs at least 5 runs`);
  return obs;
}

export function readRunsCsv(file: string, paramsColumn = "params"): Observation[] {
  if (!fs.existsSync(file)) throw new UserError(`--csv ${file}: no such file`);
  if (fs.statSync(file).isDirectory()) throw new UserError(`--csv ${file}: is a directory, expected a CSV file`);
  return parseRunsCsv(fs.readFileSync(file, "utf8"), file, paramsColumn);
}

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function formatCsv(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  return [header, ...rows].map((r) => r.map(csvField).join(",")).join("\n") + "\n";
}
