/**
 * One evaluation task end to end: read the data file (and labels / few-shot files), score
 * every item, aggregate the metrics and their standard errors. The CLI (`llama-ts eval`) is
 * a thin layer over this.
 *
 * `limit` N keeps the first N records of the data file before anything is checked: a
 * malformed record after them is neither read nor reported. Items that cannot be scored
 * because they do not fit the model's context window are reported apart (`tooLong`), not
 * as malformed. Few-shot examples come from `fewshotData` (the training split) when given,
 * else from the evaluated file without the item itself, drawn with Python's
 * random.Random(seed) as the harness does (seed 1234 by default).
 */
import path from "node:path";
import type { LlamaModel } from "../model/llama.js";
import { UserError } from "../util/errors.js";
import { FormatError, defaultLabelsPath, entryName, readLabels, readRecords, readTextFile, type SkippedLine } from "./data.js";
import { MultipleChoiceEvaluator, mcMetrics, mcScores, type McItemResult } from "./multiple-choice.js";
import { documentNll, perplexityMetrics, type DocumentNll } from "./perplexity.js";
import { ClosedBookQaEvaluator, type QaItemResult, type QaNormalization, type QaStyle } from "./qa.js";
import { LoglikelihoodScorer, TooLongError, type EvalTokenizer, type ScorerStats } from "./scorer.js";
import { meanStderr } from "./stats.js";
import { MC_TASKS, TASK_NAMES, canonicalTask, parseQa, taskKind, type McExample, type QaExample } from "./tasks.js";

export interface EvalTaskOptions {
  /** Task name: hellaswag, piqa, siqa (social_iqa), arc_easy, arc_challenge, boolq, winogrande, openbookqa, mc, nq_open (qa, nq), triviaqa, perplexity. */
  task: string;
  /** Data file: JSONL, a .json array, TriviaQA's {"Data": [...]} .json; a text file or {"text"} JSONL for perplexity. */
  data: string;
  /** Labels file for PIQA / Social IQa; default: `<data>-labels.lst` beside the data when it exists. */
  labels?: string;
  shots?: number;
  /** File the few-shot examples are drawn from (the training split, same format as the data); default: the data file itself, never the item itself. */
  fewshotData?: string;
  /** Labels of the few-shot file (PIQA / Social IQa). */
  fewshotLabels?: string;
  /** Few-shot sampling seed (default 1234, the harness's fewshot_random_seed). */
  seed?: number;
  /** Evaluate only the first N records. */
  limit?: number;
  /** Most tokens per forward call (default 1024; perplexity: 512). */
  batchTokens?: number;
  /** Multiple choice: most choices (continuations) per forward call; whole questions are batched together while they fit (default 32). */
  batchSize?: number;
  /** Prepend BOS to contexts (default true, as the harness with a LLaMA tokenizer). */
  bos?: boolean;
  /** Closed-book QA: most generated tokens (default 256, the harness's max_gen_toks). */
  maxTokens?: number;
  /** Closed-book QA: the harness's exact match (default) or the official TriviaQA normalisation. */
  normalization?: QaNormalization;
  /** Perplexity: window and stride in tokens. */
  window?: number;
  stride?: number;
  /** Called after each item with (done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Called with each item's scores (for --log-samples). */
  onSample?: (sample: EvalSample) => void;
}

export type EvalSample =
  | ({ kind: "mc" } & McItemResult)
  | ({ kind: "qa" } & QaItemResult)
  | ({ kind: "perplexity"; line: number } & DocumentNll);

export interface EvalReport {
  /** The task as named by the user. */
  task: string;
  /** Its canonical name (nq → nq_open, social_iqa → siqa). */
  canonical: string;
  /** Items evaluated (the harness's n-samples "effective"). */
  n: number;
  /** Records in the data file (n-samples "original"). */
  original: number;
  /** Few-shot examples per item. */
  shots: number;
  metrics: Record<string, number>;
  /** Standard error of each metric aggregated by mean (undefined: not defined, e.g. n = 1 or perplexity). */
  stderr: Record<string, number | undefined>;
  /** Malformed records, skipped. */
  skipped: SkippedLine[];
  /** Items skipped because they do not fit the context window. */
  tooLong: SkippedLine[];
  /** Model cost for log-likelihood tasks. */
  stats?: ScorerStats;
  seconds: number;
}

interface Parsed<T> {
  line: number;
  example: T;
}

interface Examples<T> {
  items: Parsed<T>[];
  total: number;
}

/**
 * Reads and parses up to `limit` records; problems go to `skipped` (when given). Labels
 * pair with the file's non-blank lines in order, malformed ones included.
 */
function readExamples<T>(file: string, parse: (record: unknown, label: string | undefined) => T, labelsFile: string | undefined, skipped: SkippedLine[] | undefined, limit = Infinity): Examples<T> {
  const local: SkippedLine[] = [];
  const set = readRecords(file, local, limit);
  const labels = labelsFile ? readLabels(labelsFile) : undefined;
  const lineOrder = new Map<number, number>();
  if (labels) {
    const all = [...set.records.map((r) => r.line), ...local.map((s) => s.line)].sort((a, b) => a - b);
    const whole = all.length === set.total;
    if (labels.length < all.length || (whole && labels.length !== all.length)) {
      throw new UserError(`${labelsFile} has ${labels.length} labels but ${file} has ${set.total} records; they must match line for line`);
    }
    all.forEach((line, i) => lineOrder.set(line, i));
  }
  const items: Parsed<T>[] = [];
  for (const r of set.records) {
    try {
      const label = labels ? labels[lineOrder.get(r.line)!] : undefined;
      items.push({ line: r.line, example: parse(r.value, label) });
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      const s: SkippedLine = { file, line: r.line, reason: e.message };
      const where = entryName(set, r.line);
      if (where) s.where = where;
      local.push(s);
    }
  }
  if (skipped) {
    for (const s of local) if (!skipped.some((k) => k.file === s.file && k.line === s.line)) skipped.push(s);
    skipped.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
  }
  return { items, total: set.total };
}

function sameFile(a: string | undefined, b: string): boolean {
  return a === undefined || path.resolve(a) === path.resolve(b);
}

function stderrOf(scores: Record<string, number[]>): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  for (const [k, xs] of Object.entries(scores)) out[k] = meanStderr(xs);
  return out;
}

export function runEvalTask(model: LlamaModel, tokenizer: EvalTokenizer, opts: EvalTaskOptions): EvalReport {
  const kind = taskKind(opts.task);
  if (!kind) throw new UserError(`unknown task "${opts.task}"; known tasks: ${TASK_NAMES.join(", ")}`);
  const canonical = canonicalTask(opts.task);
  const shots = opts.shots ?? 0;
  const seed = opts.seed ?? 1234;
  const t0 = performance.now();
  const skipped: SkippedLine[] = [];
  const tooLong: SkippedLine[] = [];
  const limit = opts.limit ?? Infinity;
  const progress = opts.onProgress ?? (() => {});
  const own = sameFile(opts.fewshotData, opts.data);
  const fewshotFile = opts.fewshotData ?? opts.data;
  const base = { task: opts.task, canonical, shots, skipped, tooLong };

  if (kind === "perplexity") {
    if (shots > 0) throw new UserError(`--shots does not apply to perplexity`);
    const { docs, total } = perplexityDocuments(opts.data, skipped, limit);
    const results: DocumentNll[] = [];
    docs.forEach((d, i) => {
      const r = documentNll(model, tokenizer, d.text, { window: opts.window, stride: opts.stride, maxChunk: opts.batchTokens });
      results.push(r);
      opts.onSample?.({ kind: "perplexity", line: d.line, ...r });
      progress(i + 1, docs.length);
    });
    if (results.length === 0) throw new UserError(`${opts.data}: no text to evaluate`);
    const metrics = perplexityMetrics(results);
    const stderr: Record<string, number | undefined> = {};
    for (const k of Object.keys(metrics)) if (k !== "tokens" && k !== "bytes") stderr[k] = undefined;
    return { ...base, n: results.length, original: total, metrics, stderr, seconds: (performance.now() - t0) / 1000 };
  }

  if (kind === "qa") {
    const { items, total } = readExamples<QaExample>(opts.data, parseQa, undefined, skipped, limit);
    const pool = shots > 0 ? readExamples<QaExample>(fewshotFile, parseQa, undefined, own ? undefined : skipped).items : [];
    checkPool(shots, pool.length, own, fewshotFile);
    const ev = new ClosedBookQaEvaluator(model, tokenizer, {
      style: canonical as QaStyle, normalization: opts.normalization, shots, pool, sameFile: own, seed, maxTokens: opts.maxTokens, bos: opts.bos,
    });
    const scores: number[] = [];
    items.forEach((it, i) => {
      const r = ev.evaluate(it.line, it.example);
      scores.push(r.correct ? 1 : 0);
      opts.onSample?.({ kind: "qa", ...r });
      progress(i + 1, items.length);
    });
    const correct = scores.reduce((a, b) => a + b, 0);
    return {
      ...base, n: items.length, original: total, metrics: { exact_match: correct / items.length }, stderr: { exact_match: meanStderr(scores) },
      seconds: (performance.now() - t0) / 1000,
    };
  }

  const spec = MC_TASKS[canonical]!;
  const labels = spec.labelsFile ? opts.labels ?? defaultLabelsPath(opts.data) : undefined;
  const parse = (r: unknown, l: string | undefined): McExample => spec.parse(r, l);
  const { items, total } = readExamples<McExample>(opts.data, parse, labels, skipped, limit);
  let pool: Parsed<McExample>[] = [];
  if (shots > 0) {
    const fsLabels = spec.labelsFile ? (own ? labels : opts.fewshotLabels ?? defaultLabelsPath(fewshotFile)) : undefined;
    pool = readExamples<McExample>(fewshotFile, parse, fsLabels, own ? undefined : skipped).items;
    checkPool(shots, pool.length, own, fewshotFile);
  }
  const scorer = new LoglikelihoodScorer(model, tokenizer, { bos: opts.bos, maxChunk: opts.batchTokens, batchSize: opts.batchSize });
  const ev = new MultipleChoiceEvaluator(scorer, spec.paperRule, shots > 0 ? { pool, shots, seed, sameFile: own } : undefined);
  const results: McItemResult[] = [];
  // Whole questions go to the scorer while their choices fit in one forward call (the
  // scorer splits what does not fit, e.g. the unconditional rule's extra requests).
  for (let i = 0; i < items.length;) {
    let j = i;
    let requests = 0;
    do requests += items[j++]!.example.continuations.length;
    while (j < items.length && requests + items[j]!.example.continuations.length <= scorer.batchSize);
    const batch = items.slice(i, j);
    ev.evaluateMany(batch).forEach((r, k) => {
      if (r instanceof RangeError) {
        (r instanceof TooLongError ? tooLong : skipped).push({ file: opts.data, line: batch[k]!.line, reason: r.message });
        return;
      }
      results.push(r);
      opts.onSample?.({ kind: "mc", ...r });
      progress(i + k + 1, items.length);
    });
    i = j;
  }
  skipped.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
  return {
    ...base, n: results.length, original: total, metrics: mcMetrics(results), stderr: stderrOf(mcScores(results)),
    stats: { ...scorer.stats }, seconds: (performance.now() - t0) / 1000,
  };
}

function checkPool(shots: number, size: number, own: boolean, file: string): void {
  const need = shots + (own ? 1 : 0);
  if (shots > 0 && size < need) throw new UserError(`--shots ${shots}: ${file} has only ${own ? Math.max(0, size - 1) : size} usable examples${own ? " besides the evaluated item" : ""}`);
}

/** A .jsonl file holds one document per line ({"text": ...}); anything else is one document. */
function perplexityDocuments(file: string, skipped: SkippedLine[], limit: number): { docs: Array<{ line: number; text: string }>; total: number } {
  if (!/\.jsonl$/i.test(file)) {
    const text = readTextFile(file);
    return { docs: text.length > 0 ? [{ line: 1, text }] : [], total: 1 };
  }
  const out: Array<{ line: number; text: string }> = [];
  const set = readRecords(file, skipped, limit);
  for (const r of set.records) {
    const o = r.value;
    if (typeof o === "object" && o !== null && typeof (o as Record<string, unknown>)["text"] === "string" && ((o as Record<string, unknown>)["text"] as string).length > 0) {
      out.push({ line: r.line, text: (o as Record<string, unknown>)["text"] as string });
    } else {
      skipped.push({ file, line: r.line, reason: `expected {"text": "..."} with non-empty text` });
    }
  }
  return { docs: out, total: set.total };
}
