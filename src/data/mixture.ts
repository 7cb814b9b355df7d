/**
 * The data mixture, as in the paper's Table 1: named sources with sampling weights.
 *
 * mixture.json:
 * ```json
 * { "sources": [ { "name": "books", "paths": ["corpora/books"], "format": "text", "weight": 4.5 },
 *                { "name": "web", "paths": ["cc.jsonl.gz"], "format": "jsonl", "field": "text", "weight": 67 } ],
 *   "valFraction": 0.01, "seed": 1 }
 * ```
 * Weights are sampling proportions and are normalised to sum to 1. Paths are relative to
 * the mixture file's folder. Optional per source: `field` (jsonl/parquet, default "text"),
 * `extensions` (which files to take from folders), `split` ("file" | "paragraphs") and
 * `chunkChars` (text), `dedupLines` (bool), `stripHeaders` (bool), `fraction` (keep a
 * hash-chosen subset of the documents), `filters` ({ minChars, minAlphaFraction,
 * maxRepeatedLineFraction }). Optional at the top: `filters` (defaults for every source),
 * `dedupDocuments` (default true).
 *
 * The file is validated by hand rather than with a schema library (zod): the schema is a
 * dozen fields, and hand-written checks give one precise line per mistake (file, JSON path,
 * what was expected, what was found) without a multi-megabyte dependency.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../util/errors.js";
import { DEFAULT_FILTERS, type FilterConfig } from "./clean.js";
import type { SourceFormat, SplitMode } from "./readers.js";

export interface MixtureSource {
  /** Letters, digits, ".", "_", "-"; also the source's folder name in the prepared output. */
  name: string;
  paths: string[];
  format: SourceFormat;
  /** JSONL / Parquet text field. Default "text". */
  field?: string;
  /** Sampling weight (any positive number; normalised over the sources). */
  weight: number;
  extensions?: string[];
  split?: SplitMode;
  chunkChars?: number;
  dedupLines?: boolean;
  /** Remove a leading licence/copyright comment from each document (code). */
  stripHeaders?: boolean;
  /** Keep only this fraction (0, 1] of the source's documents, chosen by content hash (a quick, uniform subset). */
  fraction?: number;
  filters?: Partial<FilterConfig>;
}

export interface MixtureConfig {
  sources: MixtureSource[];
  /** Fraction of each source's documents held out for validation (chosen by document hash). */
  valFraction: number;
  seed: number;
  filters?: Partial<FilterConfig>;
  dedupDocuments?: boolean;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? s.slice(0, 37) + "..." : s;
}

/** Validates a parsed mixture.json; `file` names it in errors and is where relative paths start. */
export function parseMixture(json: unknown, file: string): MixtureConfig {
  const fail = (where: string, what: string, ...got: unknown[]): never => {
    throw new UserError(`${file}: ${where} ${what}${got.length === 0 ? "" : ` (got ${describe(got[0])})`}`);
  };
  if (!isObject(json)) fail("the top level", "must be an object with a \"sources\" array", json);
  const root = json as Record<string, unknown>;
  const known = new Set(["sources", "valFraction", "seed", "filters", "dedupDocuments"]);
  for (const k of Object.keys(root)) if (!known.has(k)) fail(`"${k}"`, `is not a known key (expected one of ${[...known].join(", ")})`);
  if (!Array.isArray(root["sources"]) || root["sources"].length === 0) fail("\"sources\"", "must be a non-empty array", root["sources"]);
  const baseDir = path.dirname(path.resolve(file));
  const names = new Set<string>();
  const sources = (root["sources"] as unknown[]).map((s, i): MixtureSource => {
    const at = `sources[${i}]`;
    if (!isObject(s)) fail(at, "must be an object", s);
    const src = s as Record<string, unknown>;
    const knownSrc = new Set(["name", "paths", "format", "field", "weight", "extensions", "split", "chunkChars", "dedupLines", "stripHeaders", "fraction", "filters"]);
    for (const k of Object.keys(src)) if (!knownSrc.has(k)) fail(`${at}.${k}`, `is not a known key (expected one of ${[...knownSrc].join(", ")})`);
    const name = src["name"];
    if (typeof name !== "string" || !NAME_RE.test(name)) fail(`${at}.name`, "must be a name of letters, digits, '.', '_' or '-'", name);
    if (names.has(name as string)) fail(`${at}.name`, `"${name as string}" is used twice`);
    names.add(name as string);
    const paths = src["paths"];
    if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === "string" && p.length > 0)) {
      fail(`${at}.paths`, "must be a non-empty array of file or folder paths", paths);
    }
    const format = src["format"];
    if (format !== "text" && format !== "jsonl" && format !== "parquet") fail(`${at}.format`, "must be \"text\", \"jsonl\" or \"parquet\"", format);
    const weight = src["weight"];
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight <= 0) fail(`${at}.weight`, "must be a positive number", weight);
    const out: MixtureSource = {
      name: name as string,
      paths: (paths as string[]).map((p) => path.resolve(baseDir, p)),
      format: format as SourceFormat,
      weight: weight as number,
    };
    if (src["field"] !== undefined) {
      if (typeof src["field"] !== "string" || src["field"].length === 0) fail(`${at}.field`, "must be a non-empty string", src["field"]);
      out.field = src["field"] as string;
    }
    if (src["extensions"] !== undefined) {
      const e = src["extensions"];
      if (!Array.isArray(e) || !e.every((x) => typeof x === "string")) fail(`${at}.extensions`, "must be an array of strings like \".txt\"", e);
      out.extensions = e as string[];
    }
    if (src["split"] !== undefined) {
      if (src["split"] !== "file" && src["split"] !== "paragraphs") fail(`${at}.split`, "must be \"file\" or \"paragraphs\"", src["split"]);
      out.split = src["split"] as SplitMode;
    }
    if (src["chunkChars"] !== undefined) {
      const c = src["chunkChars"];
      if (typeof c !== "number" || !Number.isInteger(c) || c < 0) fail(`${at}.chunkChars`, "must be a non-negative integer", c);
      out.chunkChars = c as number;
    }
    if (src["dedupLines"] !== undefined) {
      if (typeof src["dedupLines"] !== "boolean") fail(`${at}.dedupLines`, "must be true or false", src["dedupLines"]);
      out.dedupLines = src["dedupLines"] as boolean;
    }
    if (src["stripHeaders"] !== undefined) {
      if (typeof src["stripHeaders"] !== "boolean") fail(`${at}.stripHeaders`, "must be true or false", src["stripHeaders"]);
      out.stripHeaders = src["stripHeaders"] as boolean;
    }
    if (src["fraction"] !== undefined) {
      const f = src["fraction"];
      if (typeof f !== "number" || !(f > 0 && f <= 1)) fail(`${at}.fraction`, "must be a number in (0, 1]", f);
      out.fraction = f as number;
    }
    if (src["filters"] !== undefined) out.filters = parseFilters(src["filters"], `${at}.filters`, fail);
    return out;
  });
  const valFraction = root["valFraction"] ?? 0.01;
  if (typeof valFraction !== "number" || !(valFraction >= 0 && valFraction < 1)) fail("\"valFraction\"", "must be a number in [0, 1)", valFraction);
  const seed = root["seed"] ?? 1;
  if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0) fail("\"seed\"", "must be a non-negative integer", seed);
  const cfg: MixtureConfig = { sources, valFraction: valFraction as number, seed: seed as number };
  if (root["filters"] !== undefined) cfg.filters = parseFilters(root["filters"], "\"filters\"", fail);
  if (root["dedupDocuments"] !== undefined) {
    if (typeof root["dedupDocuments"] !== "boolean") fail("\"dedupDocuments\"", "must be true or false", root["dedupDocuments"]);
    cfg.dedupDocuments = root["dedupDocuments"] as boolean;
  }
  return cfg;
}

function parseFilters(v: unknown, at: string, fail: (where: string, what: string, ...got: unknown[]) => never): Partial<FilterConfig> {
  if (!isObject(v)) fail(at, "must be an object", v);
  const out: Partial<FilterConfig> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (!(k in DEFAULT_FILTERS)) fail(`${at}.${k}`, `is not a known filter (expected one of ${Object.keys(DEFAULT_FILTERS).join(", ")})`);
    if (typeof x !== "number" || !Number.isFinite(x) || x < 0) fail(`${at}.${k}`, "must be a non-negative number", x);
    out[k as keyof FilterConfig] = x as number;
  }
  return out;
}

/** Reads and validates a mixture.json file. */
export async function loadMixture(file: string): Promise<MixtureConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new UserError(`${file}: cannot read the mixture file (does it exist?)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  return parseMixture(json, file);
}

/** Weights scaled to sum to 1. */
export function normalizeWeights(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new Error("normalizeWeights: weights must sum to a positive number");
  return weights.map((w) => w / total);
}

export interface EpochRow {
  name: string;
  /** Normalised sampling proportion. */
  weight: number;
  /** Training tokens the source holds. */
  tokens: number;
  /** Tokens a run of `planTokens` draws from this source (expected value). */
  sampledTokens: number;
  /** sampledTokens / tokens: how many passes over the source the run makes (Table 1's "Epochs"). */
  epochs: number;
}

/** Table 1's epochs column: for a run of `planTokens` tokens, expected passes over each source. */
export function epochReport(sources: readonly { name: string; weight: number; tokens: number }[], planTokens: number): EpochRow[] {
  const w = normalizeWeights(sources.map((s) => s.weight));
  return sources.map((s, i) => {
    const sampled = planTokens * w[i]!;
    return { name: s.name, weight: w[i]!, tokens: s.tokens, sampledTokens: sampled, epochs: s.tokens > 0 ? sampled / s.tokens : Infinity };
  });
}
