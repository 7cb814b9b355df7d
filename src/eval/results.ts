/**
 * Results in lm-evaluation-harness's JSON layout (what `lm_eval --output_path` writes:
 * lm_eval/evaluator_utils.py `_to_eval_results`, lm_eval/evaluator.py `simple_evaluate`,
 * lm_eval/loggers/evaluation_tracker.py `save_results_aggregated`), so that tools reading
 * harness results (its `make_table`, leaderboards' parsers) read ours:
 *
 *   results.<task>    {"name", "alias", "sample_len", "<metric>,<filter>",
 *                      "<metric>_stderr,<filter>", ...}   filter "none" for multiple choice
 *                      and perplexity, "remove_whitespace" for nq_open / triviaqa; a
 *                      standard error that is not defined is "N/A" (as the harness writes)
 *   group_subtasks    {<task>: []}
 *   configs.<task>    the task config (task, dataset_*, *_split, doc_to_*, description,
 *                      target_delimiter, fewshot_delimiter, num_fewshot, metric_list,
 *                      output_type, generation_kwargs, filter_list, metadata.version, ...)
 *   versions, n-shot, higher_is_better, n-samples {original, effective}
 *   config            {model, model_args, batch_size, device, limit, bootstrap_iters,
 *                      gen_kwargs, random_seed, numpy_seed, torch_seed, fewshot_seed}
 *   date (Unix time the run started), total_evaluation_time_seconds (a string),
 *   model_source, model_name, model_name_sanitized, max_length, eot_token_id
 *
 * Tasks the harness also has are keyed by its name (siqa → "social_iqa"). Where the file
 * goes follows the harness: a PATH ending in ".json" gives `<stem>_<date>.json` beside it;
 * any other PATH is a directory, and the file is `PATH/<model_name_sanitized>/
 * results_<date>.json`, <date> being the local time as Python's
 * `datetime.now().isoformat().replace(":", "-")`. An existing file is never overwritten.
 */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../util/errors.js";
import { QA_FORMATS, type QaNormalization, type QaStyle } from "./qa.js";
import type { EvalReport } from "./run.js";
import { HARNESS_TASKS, taskKind } from "./tasks.js";

export interface RunInfo {
  /** The model path as given. */
  model: string;
  batchSize: number;
  limit: number | undefined;
  fewshotSeed: number;
  bos: boolean;
  maxTokens: number;
  normalization: QaNormalization;
  /** Unix time (seconds) the evaluation started. */
  startTime: number;
  totalSeconds: number;
  maxLength: number;
  eosTokenId: number;
  /** Per task (by index in reports): its data files, recorded in the task's metadata. */
  files: Array<{ data: string; fewshotData?: string }>;
}

/** A number Python holds as a float: written with a fraction (0.0, 1.0), as json.dumps writes floats. */
export class PyFloat {
  constructor(readonly value: number) {}
}

export type Json = null | boolean | number | string | PyFloat | Json[] | { [key: string]: Json };

const f = (x: number): PyFloat => new PyFloat(x);

/** JSON text as Python's json.dumps(obj, indent=2, ensure_ascii=False) writes it (floats keep ".0"). */
export function pythonJson(value: Json, indent = 2, depth = 0): string {
  if (value instanceof PyFloat) {
    const v = value.value;
    if (Number.isNaN(v)) return "NaN";
    if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
    const t = String(v);
    return Number.isInteger(v) && !/e/.test(t) ? `${t}.0` : t;
  }
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const pad = " ".repeat(indent * (depth + 1));
  const end = " ".repeat(indent * depth);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => pad + pythonJson(v, indent, depth + 1)).join(",\n")}\n${end}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${pythonJson(v, indent, depth + 1)}`).join(",\n")}\n${end}}`;
}

/** The key a task has in the results (the harness's task name when it has the task). */
export function resultsTaskName(report: EvalReport): string {
  return HARNESS_TASKS[report.canonical]?.harnessName ?? report.canonical;
}

/** The filter name the harness gives the task's metrics. */
function filterOf(report: EvalReport): string {
  return taskKind(report.canonical) === "qa" ? "remove_whitespace" : "none";
}

/** Metrics that go into the results (counts such as tokens/bytes are not metrics). */
function metricNames(report: EvalReport): string[] {
  return Object.keys(report.metrics).filter((k) => k !== "tokens" && k !== "bytes");
}

function higherIsBetter(report: EvalReport): Record<string, boolean> {
  const perplexity = taskKind(report.canonical) === "perplexity";
  const out: Record<string, boolean> = {};
  for (const k of metricNames(report)) out[k] = !perplexity;
  return out;
}

function taskConfig(report: EvalReport, run: RunInfo, files: { data: string; fewshotData?: string }): { [key: string]: Json } {
  const name = resultsTaskName(report);
  const kind = taskKind(report.canonical)!;
  const info = HARNESS_TASKS[report.canonical];
  const cfg: { [key: string]: Json } = { task: name };
  if (info) {
    cfg["dataset_path"] = info.datasetPath;
    if (info.datasetName) cfg["dataset_name"] = info.datasetName;
    if (info.trainingSplit) cfg["training_split"] = info.trainingSplit;
    if (info.validationSplit) cfg["validation_split"] = info.validationSplit;
    if (info.testSplit) cfg["test_split"] = info.testSplit;
    cfg["doc_to_text"] = info.docToText;
    cfg["doc_to_target"] = info.docToTarget;
    if (info.docToChoice !== undefined) cfg["doc_to_choice"] = info.docToChoice;
  } else if (kind === "mc") {
    cfg["doc_to_text"] = "{{context}}";
    cfg["doc_to_target"] = "{{gold}}";
    cfg["doc_to_choice"] = "{{choices}}";
  } else {
    cfg["doc_to_target"] = "{{text}}";
  }
  const higher = higherIsBetter(report);
  if (kind === "qa") {
    const q = QA_FORMATS[report.canonical as QaStyle];
    cfg["description"] = q.description;
    cfg["target_delimiter"] = q.targetDelimiter;
    cfg["fewshot_delimiter"] = q.fewshotDelimiter;
    cfg["num_fewshot"] = report.shots;
    const em: { [key: string]: Json } = { metric: "exact_match", aggregation: "mean", higher_is_better: true };
    if (run.normalization === "harness") {
      em["ignore_case"] = true;
      em["ignore_punctuation"] = true;
      if (q.regexesToIgnore.length > 0) em["regexes_to_ignore"] = [...q.regexesToIgnore];
    } else {
      em["normalization"] = run.normalization;
    }
    cfg["metric_list"] = [em];
    cfg["output_type"] = "generate_until";
    cfg["generation_kwargs"] = { until: [...q.until], do_sample: false, temperature: f(0), max_gen_toks: run.maxTokens };
    cfg["repeats"] = 1;
    cfg["filter_list"] = [{ name: "remove_whitespace", filter: [{ function: "remove_whitespace" }, { function: "take_first" }] }];
  } else {
    cfg["description"] = "";
    cfg["target_delimiter"] = " ";
    cfg["fewshot_delimiter"] = "\n\n";
    cfg["num_fewshot"] = report.shots;
    cfg["metric_list"] = metricNames(report).map((m) => ({ metric: m, aggregation: kind === "mc" ? "mean" : m, higher_is_better: higher[m]! }));
    cfg["output_type"] = kind === "mc" ? "multiple_choice" : "loglikelihood_rolling";
    cfg["repeats"] = 1;
  }
  cfg["should_decontaminate"] = false;
  const meta: { [key: string]: Json } = { version: info ? f(info.version) : null, data: files.data };
  if (files.fewshotData) meta["fewshot_data"] = files.fewshotData;
  cfg["metadata"] = meta;
  return cfg;
}

/** Python's re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name) (lm_eval/utils.py sanitize_model_name). */
export function sanitizeModelName(name: string): string {
  return name.replace(/["<>:/|\\?*[\]]+/g, "__");
}

/** The harness's results object for a run. */
export function harnessResults(reports: readonly EvalReport[], run: RunInfo): { [key: string]: Json } {
  const results: { [key: string]: Json } = {};
  const groupSubtasks: { [key: string]: Json } = {};
  const configs: { [key: string]: Json } = {};
  const versions: { [key: string]: Json } = {};
  const nShot: { [key: string]: Json } = {};
  const higher: { [key: string]: Json } = {};
  const nSamples: { [key: string]: Json } = {};
  reports.forEach((r, i) => {
    const name = resultsTaskName(r);
    const filter = filterOf(r);
    const entry: { [key: string]: Json } = { name, alias: name, sample_len: r.n };
    for (const m of metricNames(r)) {
      entry[`${m},${filter}`] = f(r.metrics[m]!);
      const se = r.stderr[m];
      entry[`${m}_stderr,${filter}`] = se === undefined ? "N/A" : f(se);
    }
    results[name] = entry;
    groupSubtasks[name] = [];
    configs[name] = taskConfig(r, run, run.files[i] ?? { data: "" });
    const version = HARNESS_TASKS[r.canonical]?.version;
    versions[name] = version === undefined ? null : f(version);
    nShot[name] = r.shots;
    higher[name] = higherIsBetter(r);
    nSamples[name] = { original: r.original, effective: r.n };
  });
  const sorted = (o: { [key: string]: Json }): { [key: string]: Json } => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return {
    results,
    group_subtasks: groupSubtasks,
    configs: sorted(configs),
    versions: sorted(versions),
    "n-shot": sorted(nShot),
    higher_is_better: sorted(higher),
    "n-samples": nSamples,
    config: {
      model: "llama-ts",
      model_args: `pretrained=${run.model},add_bos_token=${run.bos ? "True" : "False"}`,
      batch_size: run.batchSize,
      batch_sizes: [],
      device: "cpu",
      use_cache: null,
      limit: run.limit ?? null,
      bootstrap_iters: 100000,
      gen_kwargs: null,
      random_seed: 0,
      numpy_seed: 1234,
      torch_seed: 1234,
      fewshot_seed: run.fewshotSeed,
    },
    git_hash: null,
    date: f(run.startTime),
    task_hashes: {},
    model_source: "llama-ts",
    model_name: run.model,
    model_name_sanitized: sanitizeModelName(run.model),
    max_length: run.maxLength,
    eot_token_id: run.eosTokenId,
    total_evaluation_time_seconds: String(run.totalSeconds),
  };
}

/** Python's `datetime.now().isoformat().replace(":", "-")` for a JS date (local time). */
export function harnessDateId(d: Date, micros = 0): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  const us = d.getMilliseconds() * 1000 + micros;
  const base = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`;
  return us === 0 ? base : `${base}.${p(us, 6)}`;
}

/** Where the harness would write the results for `outputPath` (see the file comment). */
export function resultsFilePath(outputPath: string, modelName: string, dateId: string): string {
  if (path.extname(outputPath).toLowerCase() === ".json") {
    const stem = path.basename(outputPath, path.extname(outputPath));
    return path.join(path.dirname(outputPath), `${stem}_${dateId}.json`);
  }
  return path.join(outputPath, sanitizeModelName(modelName), `results_${dateId}.json`);
}

/** Refuses an output path that cannot work (an existing non-directory without .json), before any work is done. */
export function checkOutputPath(outputPath: string): void {
  if (path.extname(outputPath).toLowerCase() !== ".json" && fs.existsSync(outputPath) && !fs.statSync(outputPath).isDirectory()) {
    throw new UserError(`--output-path ${outputPath} is a file; give a directory (results go to DIR/<model>/results_<date>.json) or a path ending in .json`);
  }
  if (path.extname(outputPath).toLowerCase() === ".json" && fs.existsSync(path.dirname(outputPath)) && !fs.statSync(path.dirname(outputPath)).isDirectory()) {
    throw new UserError(`--output-path ${outputPath}: ${path.dirname(outputPath)} is not a directory`);
  }
}

/** Writes the results JSON (indent 2, as the harness) to a new file; returns its path. */
export function writeHarnessResults(outputPath: string, results: { [key: string]: Json }, modelName: string, now = new Date()): string {
  checkOutputPath(outputPath);
  const file = resultsFilePath(outputPath, modelName, harnessDateId(now));
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  } catch (e) {
    throw new UserError(`--output-path: cannot create ${path.dirname(file)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let fd: number;
  try {
    fd = fs.openSync(file, "wx");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new UserError(`${file} already exists; not overwriting it`);
    throw new UserError(`--output-path: cannot write ${file} (${code ?? (e as Error).message})`);
  }
  try {
    fs.writeSync(fd, pythonJson(results));
  } finally {
    fs.closeSync(fd);
  }
  return file;
}
