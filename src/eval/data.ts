/**
 * Reading evaluation data: JSONL (one record a line, blank lines ignored), a `.json` file
 * holding an array of records or TriviaQA's release layout {"Data": [...]}, label files
 * (`*-labels.lst`, one label a line, as PIQA and Social IQa are distributed) and plain text.
 * A malformed record is not fatal: it is reported with its line number (JSONL) or its index
 * (`Data[i]`), skipped and counted. With a limit N only the first N records are read, so a
 * problem after them is never reported (lm-evaluation-harness's --limit).
 */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../util/errors.js";

/** A record's problem: the item is skipped and reported with its file and line. */
export class FormatError extends Error {
  override readonly name = "FormatError";
}

export interface JsonlRecord {
  /** 1-based line number in the file. */
  line: number;
  value: unknown;
}

export interface SkippedLine {
  file: string;
  /** 1-based line (JSONL) or entry number (.json). */
  line: number;
  reason: string;
  /** How to name the place when it is not a line, e.g. "Data[3]". */
  where?: string;
}

/** "file:line" or "file: Data[i]". */
export function placeOf(s: SkippedLine): string {
  return s.where ? `${s.file}: ${s.where}` : `${s.file}:${s.line}`;
}

export function readTextFile(file: string, what = "data file"): string {
  if (!fs.existsSync(file)) throw new UserError(`${what} ${file} does not exist`);
  if (!fs.statSync(file).isFile()) throw new UserError(`${what} ${file} is not a file`);
  return fs.readFileSync(file, "utf8");
}

/** Parses JSONL text (at most `maxRecords` non-blank lines); lines that are not JSON go to `skipped`. */
export function parseJsonl(text: string, file: string, skipped: SkippedLine[], maxRecords = Infinity): JsonlRecord[] {
  const out: JsonlRecord[] = [];
  const lines = text.split("\n");
  let seen = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, "");
    if (raw.trim() === "") continue;
    if (seen++ >= maxRecords) break;
    try {
      out.push({ line: i + 1, value: JSON.parse(raw) as unknown });
    } catch (e) {
      skipped.push({ file, line: i + 1, reason: `not valid JSON (${(e as Error).message})` });
    }
  }
  return out;
}

/** Records of a data file and how many the whole file holds (the harness's n-samples "original"). */
export interface RecordSet {
  records: JsonlRecord[];
  /** Records in the whole file (non-blank JSONL lines, or entries). */
  total: number;
  /** Set for `.json` files: records are entries, named `${container}[i]`. */
  container?: string;
}

/**
 * The records of a data file: a `.json` file is one JSON value, an array of records or an
 * object with a "Data" array (TriviaQA's release); anything else is JSONL.
 */
export function readRecords(file: string, skipped: SkippedLine[], maxRecords = Infinity): RecordSet {
  const text = readTextFile(file);
  if (!/\.json$/i.test(file)) {
    const total = text.split("\n").filter((l) => l.replace(/\r$/, "").trim() !== "").length;
    return { records: parseJsonl(text, file, skipped, maxRecords), total };
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (e) {
    throw new UserError(`${file} is not valid JSON (${(e as Error).message}); use .jsonl for one record a line`);
  }
  let entries: unknown[];
  let container: string;
  if (Array.isArray(value)) {
    entries = value;
    container = "";
  } else if (typeof value === "object" && value !== null && Array.isArray((value as Record<string, unknown>)["Data"])) {
    entries = (value as Record<string, unknown>)["Data"] as unknown[];
    container = "Data";
  } else {
    throw new UserError(`${file}: expected a JSON array of records or TriviaQA's {"Data": [...]} layout`);
  }
  const records = entries.slice(0, Math.min(entries.length, maxRecords)).map((v, i) => ({ line: i + 1, value: v }));
  return { records, total: entries.length, container };
}

/** The place of record `line` of a set: "Data[i]" (0-based, as in the JSON) for entries. */
export function entryName(set: RecordSet, line: number): string | undefined {
  return set.container === undefined ? undefined : `${set.container}[${line - 1}]`;
}

/** One label per non-empty line, with its line number. */
export function readLabels(file: string): string[] {
  const lines = readTextFile(file, "labels file").split("\n").map((s) => s.trim());
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** `valid.jsonl` -> `valid-labels.lst` beside it, as PIQA and Social IQa are released. */
export function defaultLabelsPath(dataFile: string): string | undefined {
  const dir = path.dirname(dataFile);
  const base = path.basename(dataFile).replace(/\.jsonl?$/, "");
  const p = path.join(dir, `${base}-labels.lst`);
  return fs.existsSync(p) ? p : undefined;
}

// Field access helpers that throw FormatError naming the field.

export function asObject(v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new FormatError("expected a JSON object");
  return v as Record<string, unknown>;
}

export function str(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== "string") throw new FormatError(`field "${key}" ${v === undefined ? "is missing" : "must be a string"}`);
  return v;
}

export function optStr(o: Record<string, unknown>, key: string): string | undefined {
  return o[key] === undefined ? undefined : str(o, key);
}

export function strArray(o: Record<string, unknown>, key: string, minLength = 1): string[] {
  const v = o[key];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new FormatError(`field "${key}" ${v === undefined ? "is missing" : "must be an array of strings"}`);
  }
  if (v.length < minLength) throw new FormatError(`field "${key}" needs at least ${minLength} entries`);
  return v as string[];
}

/** An integer in [0, n) given as a number or a numeric string. */
export function index(v: unknown, n: number, what: string, base = 0): number {
  const x = typeof v === "number" ? v : typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(x) || x - base < 0 || x - base >= n) {
    throw new FormatError(`${what} ${JSON.stringify(v)} is not ${base === 0 ? "an index" : "a label"} in [${base}, ${n + base - 1}]`);
  }
  return x - base;
}
