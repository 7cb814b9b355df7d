/**
 * One evaluation task end to end: read the data file (and labels / few-shot files), score
 * every item, aggregate the metrics. The CLI (`llama-ts eval`) is a thin layer over this.
 */
import path from "node:path";
import type { LlamaModel } from "../model/llama.js";
import { UserError } from "../util/errors.js";
import { FormatError, defaultLabelsPath, parseJsonl, readLabels, readTextFile, type SkippedLine } from "./data.js";
import { MultipleChoiceEvaluator, mcMetrics, type McItemResult } from "./multiple-choice.js";
import { documentNll, perplexityMetrics, type DocumentNll } from "./perplexity.js";
import { ClosedBookQaEvaluator, type QaItemResult } from "./qa.js";
import { LoglikelihoodScorer, type EvalTokenizer, type ScorerStats } from "./scorer.js";
import { MC_TASKS, TASK_NAMES, parseQa, taskKind, type McExample, type QaExample } from "./tasks.js";

export interface EvalTaskOptions {
  /** Task name: hellaswag, piqa, siqa, arc_easy, arc_challenge, boolq, winogrande, openbookqa, mc, qa (nq, triviaqa), perplexity. */
  task: string;
  /** JSONL data file (a text file, or JSONL with "text", for perplexity). */
  data: string;
  /** Labels file for PIQA / Social IQa; default: `<data>-labels.lst` beside the data when it exists. */
  labels?: string;
  shots?: number;
  /** File the few-shot examples are drawn from (same format as the data). */
  fewshotData?: string;
  /** Labels of the few-shot file (PIQA / Social IQa). */
  fewshotLabels?: string;
  /** Few-shot sampling seed (default 1234, the harness's). */
  seed?: number;
  /** Evaluate only the first N items. */
  limit?: number;
  /** Most tokens per forward call (default 1024; perplexity: 512). */
  batchTokens?: number;
  /** Multiple choice: most choices (continuations) per forward call; whole questions are batched together while they fit (default 32). */
  batchSize?: number;
  /** Prepend BOS to contexts (default true). */
  bos?: boolean;
  /** Closed-book QA: most generated tokens (default 32). */
  maxTokens?: number;
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
  task: string;
  /** Items evaluated. */
  n: number;
  metrics: Record<string, number>;
  /** Malformed lines, skipped. */
  skipped: SkippedLine[];
  /** Model cost for log-likelihood tasks. */
  stats?: ScorerStats;
  seconds: number;
}

interface Parsed<T> {
  line: number;
  example: T;
}

function readExamples<T>(file: string, parse: (record: unknown, label: string | undefined) => T, labelsFile: string | undefined, skipped: SkippedLine[]): Parsed<T>[] {
  const local: SkippedLine[] = [];
  const records = parseJsonl(readTextFile(file), file, local);
  const labels = labelsFile ? readLabels(labelsFile) : undefined;
  // Labels pair with the data file's non-blank lines in order (malformed ones included).
  const lineOrder = new Map<number, number>();
  if (labels) {
    const all = [...records.map((r) => r.line), ...local.map((s) => s.line)].sort((a, b) => a - b);
    if (labels.length !== all.length) {
      throw new UserError(`${labelsFile} has ${labels.length} labels but ${file} has ${all.length} records; they must match line for line`);
    }
    all.forEach((line, i) => lineOrder.set(line, i));
  }
  const out: Parsed<T>[] = [];
  for (const r of records) {
    try {
      const label = labels ? labels[lineOrder.get(r.line)!] : undefined;
      out.push({ line: r.line, example: parse(r.value, label) });
    } catch (e) {
      if (e instanceof FormatError) local.push({ file, line: r.line, reason: e.message });
      else throw e;
    }
  }
  for (const s of local) {
    if (!skipped.some((k) => k.file === s.file && k.line === s.line)) skipped.push(s);
  }
  skipped.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
  return out;
}

function sameFile(a: string | undefined, b: string): boolean {
  return a !== undefined && path.resolve(a) === path.resolve(b);
}

export function runEvalTask(model: LlamaModel, tokenizer: EvalTokenizer, opts: EvalTaskOptions): EvalReport {
  const kind = taskKind(opts.task);
  if (!kind) throw new UserError(`unknown task "${opts.task}"; known tasks: ${TASK_NAMES.join(", ")}`);
  const shots = opts.shots ?? 0;
  if (shots > 0 && !opts.fewshotData) throw new UserError(`--shots ${shots} needs --fewshot-data FILE to draw the examples from`);
  const seed = opts.seed ?? 1234;
  const t0 = performance.now();
  const skipped: SkippedLine[] = [];
  const limit = opts.limit ?? Infinity;
  const progress = opts.onProgress ?? (() => {});

  if (kind === "perplexity") {
    const docs = perplexityDocuments(opts.data, skipped).slice(0, limit);
    const results: DocumentNll[] = [];
    docs.forEach((d, i) => {
      const r = documentNll(model, tokenizer, d.text, { window: opts.window, stride: opts.stride, maxChunk: opts.batchTokens });
      results.push(r);
      opts.onSample?.({ kind: "perplexity", line: d.line, ...r });
      progress(i + 1, docs.length);
    });
    if (results.length === 0) throw new UserError(`${opts.data}: no text to evaluate`);
    return { task: opts.task, n: results.length, metrics: perplexityMetrics(results), skipped, seconds: (performance.now() - t0) / 1000 };
  }

  if (kind === "qa") {
    const items = readExamples<QaExample>(opts.data, parseQa, undefined, skipped).slice(0, limit);
    const pool = shots > 0 ? readExamples<QaExample>(opts.fewshotData!, parseQa, undefined, skipped) : [];
    const ev = new ClosedBookQaEvaluator(model, tokenizer, { shots, pool, sameFile: sameFile(opts.fewshotData, opts.data), seed, maxTokens: opts.maxTokens, bos: opts.bos });
    checkPool(shots, pool.length, opts);
    let correct = 0;
    items.forEach((it, i) => {
      const r = ev.evaluate(it.line, it.example);
      if (r.correct) correct++;
      opts.onSample?.({ kind: "qa", ...r });
      progress(i + 1, items.length);
    });
    return { task: opts.task, n: items.length, metrics: { exact_match: correct / items.length }, skipped, seconds: (performance.now() - t0) / 1000 };
  }

  const spec = MC_TASKS[opts.task]!;
  const labels = spec.labelsFile ? opts.labels ?? defaultLabelsPath(opts.data) : undefined;
  const items = readExamples<McExample>(opts.data, (r, l) => spec.parse(r, l), labels, skipped).slice(0, limit);
  let pool: Parsed<McExample>[] = [];
  if (shots > 0) {
    const fsLabels = spec.labelsFile ? opts.fewshotLabels ?? defaultLabelsPath(opts.fewshotData!) : undefined;
    pool = readExamples<McExample>(opts.fewshotData!, (r, l) => spec.parse(r, l), fsLabels, skipped);
    checkPool(shots, pool.length, opts);
  }
  const scorer = new LoglikelihoodScorer(model, tokenizer, { bos: opts.bos, maxChunk: opts.batchTokens, batchSize: opts.batchSize });
  const ev = new MultipleChoiceEvaluator(scorer, spec.paperRule, shots > 0 ? { pool, shots, seed, sameFile: sameFile(opts.fewshotData, opts.data) } : undefined);
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
        skipped.push({ file: opts.data, line: batch[k]!.line, reason: r.message });
        return;
      }
      results.push(r);
      opts.onSample?.({ kind: "mc", ...r });
      progress(i + k + 1, items.length);
    });
    i = j;
  }
  return { task: opts.task, n: results.length, metrics: mcMetrics(results), skipped, stats: { ...scorer.stats }, seconds: (performance.now() - t0) / 1000 };
}

function checkPool(shots: number, size: number, opts: EvalTaskOptions): void {
  const need = shots + (sameFile(opts.fewshotData, opts.data) ? 1 : 0);
  if (shots > 0 && size < need) throw new UserError(`--shots ${shots}: ${opts.fewshotData} has only ${size} usable examples`);
}

/** A .jsonl file holds one document per line ({"text": ...}); anything else is one document. */
function perplexityDocuments(file: string, skipped: SkippedLine[]): Array<{ line: number; text: string }> {
  const text = readTextFile(file);
  if (!/\.jsonl$/i.test(file)) return text.length > 0 ? [{ line: 1, text }] : [];
  const out: Array<{ line: number; text: string }> = [];
  for (const r of parseJsonl(text, file, skipped)) {
    const o = r.value;
    if (typeof o === "object" && o !== null && typeof (o as Record<string, unknown>)["text"] === "string" && ((o as Record<string, unknown>)["text"] as string).length > 0) {
      out.push({ line: r.line, text: (o as Record<string, unknown>)["text"] as string });
    } else {
      skipped.push({ file, line: r.line, reason: `expected {"text": "..."} with non-empty text` });
    }
  }
  return out;
}
