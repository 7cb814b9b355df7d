import fs from "node:fs";
import type { Command } from "commander";
import { applyThreads, MODEL_HELP } from "../common.js";
import { loadModel } from "../../runtime/load.js";
import { parseNumberOption, UserError } from "../../util/errors.js";
import { createProgress, type Progress } from "../../util/progress.js";
import { runEvalTask, type EvalReport } from "../../eval/run.js";
import { TASK_NAMES, taskKind } from "../../eval/tasks.js";

interface EvalCliOptions {
  model: string;
  task: string;
  data: string;
  labels?: string;
  shots: string;
  fewshotData?: string;
  fewshotLabels?: string;
  seed: string;
  limit?: string;
  batch: string;
  batchTokens: string;
  json?: boolean;
  logSamples?: string;
  bos: boolean;
  tokenizer?: string;
  maxTokens: string;
  window?: string;
  stride?: string;
  threads?: string;
}

export function register(program: Command): void {
  program
    .command("eval")
    .description(
      "Evaluate a model folder with the LLaMA paper's protocol (lm-evaluation-harness prompts).\n" +
        `Tasks: ${TASK_NAMES.join(", ")}.\n` +
        "Multiple choice reports acc, acc_norm (log-likelihood per character) and paper (acc_norm; for boolq and\n" +
        "openbookqa logP(answer|context) - logP(answer|\"Answer:\")). qa reports exact_match; perplexity reports\n" +
        "token/byte/word perplexity and bits per byte. Several tasks: --task a,b --data fa,fb (one file each).\n" +
        "Malformed lines are reported with their line number, skipped and counted.",
    )
    .requiredOption("--model <path>", MODEL_HELP)
    .option("--tokenizer <file>", "tokenizer.model to use instead of the model's own")
    .requiredOption("--task <names>", "task name(s), comma-separated")
    .requiredOption("--data <files>", "data file(s), comma-separated, one per task (JSONL; a text or {\"text\"} JSONL file for perplexity)")
    .option("--labels <files>", "labels file(s) for piqa/siqa (default: <data>-labels.lst beside the data file)")
    .option("--shots <k>", "few-shot examples per item", "0")
    .option("--fewshot-data <files>", "file(s) the few-shot examples are drawn from, one per task")
    .option("--fewshot-labels <files>", "labels of the few-shot file(s) for piqa/siqa")
    .option("--seed <s>", "few-shot sampling seed", "1234")
    .option("--limit <n>", "evaluate only the first N items of each task")
    .option(
      "--batch <n>",
      "multiple choice: most choices scored per forward call; the choices of several questions are batched\n" +
        "together (each question's context run once, shared by its choices; one KV cache per question in flight);\n" +
        "1 = one choice per call",
      "32",
    )
    .option("--batch-tokens <n>", "most tokens per forward call (a memory bound: longer inputs run in chunks)", "1024")
    .option("--no-bos", "do not prepend BOS to contexts (lm-evaluation-harness's default for HF models)")
    .option("--max-tokens <n>", "qa: most tokens generated per answer", "32")
    .option("--window <n>", "perplexity: tokens per window (default: the model's context length)")
    .option("--stride <n>", "perplexity: tokens between window starts (default: the window)")
    .option("--json", "print one JSON object per task: {\"task\", \"n\", \"metrics\": {...}, \"skipped\"}")
    .option("--log-samples <file>", "write every item's scores as JSONL")
    .option("--threads <n>", "kernel threads (default: all cores)")
    .action((opts: EvalCliOptions) => run(opts));
}

function list(text: string | undefined): Array<string | undefined> {
  if (text === undefined) return [];
  return text.split(",").map((s) => (s.trim() === "" ? undefined : s.trim()));
}

async function run(opts: EvalCliOptions): Promise<void> {
  applyThreads(opts.threads);
  const tasks = list(opts.task);
  const data = list(opts.data);
  if (tasks.some((t) => t === undefined)) throw new UserError(`--task: empty task name in "${opts.task}"`);
  for (const t of tasks) if (!taskKind(t!)) throw new UserError(`--task: unknown task "${t}"; known tasks: ${TASK_NAMES.join(", ")}`);
  if (data.length !== tasks.length || data.some((d) => d === undefined)) {
    throw new UserError(`--data needs one file per task: ${tasks.length} task(s), ${data.filter((d) => d).length} file(s)`);
  }
  const perTask = (flag: string, text: string | undefined): Array<string | undefined> => {
    const l = list(text);
    if (l.length > 0 && l.length !== tasks.length) throw new UserError(`${flag} needs one entry per task (leave an entry empty, e.g. "a,,c", to skip a task)`);
    return l;
  };
  const labels = perTask("--labels", opts.labels);
  const fewshot = perTask("--fewshot-data", opts.fewshotData);
  const fewshotLabels = perTask("--fewshot-labels", opts.fewshotLabels);
  const shots = parseNumberOption(opts.shots, "--shots", { min: 0, integer: true });
  const seed = parseNumberOption(opts.seed, "--seed", { integer: true });
  const limit = opts.limit === undefined ? undefined : parseNumberOption(opts.limit, "--limit", { min: 1, integer: true });
  const batch = parseNumberOption(opts.batch, "--batch", { min: 1, integer: true });
  const batchTokens = parseNumberOption(opts.batchTokens, "--batch-tokens", { min: 1, integer: true });
  const maxTokens = parseNumberOption(opts.maxTokens, "--max-tokens", { min: 1, integer: true });
  const window = opts.window === undefined ? undefined : parseNumberOption(opts.window, "--window", { min: 2, integer: true });
  const stride = opts.stride === undefined ? undefined : parseNumberOption(opts.stride, "--stride", { min: 1, integer: true });
  if (shots > 0 && fewshot.filter((f) => f).length === 0) throw new UserError(`--shots ${shots} needs --fewshot-data FILE to draw the examples from`);

  const lm = await loadModel(opts.model, opts.tokenizer === undefined ? {} : { tokenizer: opts.tokenizer });
  const { model, tokenizer } = lm;
  if (!tokenizer) throw new UserError(`eval needs a tokenizer, but ${opts.model} has none (add --tokenizer FILE)`);
  const ctxLen = model.config.maxPositionEmbeddings;
  if (window !== undefined && window > ctxLen) throw new UserError(`--window ${window} exceeds the model's context length ${ctxLen}`);
  if (stride !== undefined && stride > (window ?? ctxLen)) throw new UserError(`--stride ${stride} must not exceed the window (${window ?? ctxLen})`);

  const samples = opts.logSamples ? fs.openSync(opts.logSamples, "w") : undefined;
  const reports: EvalReport[] = [];
  try {
    tasks.forEach((task, i) => {
      let progress: Progress | undefined;
      const report = runEvalTask(model, tokenizer, {
        task: task!,
        data: data[i]!,
        labels: labels[i],
        shots: fewshot[i] ? shots : 0,
        fewshotData: fewshot[i],
        fewshotLabels: fewshotLabels[i],
        seed,
        limit,
        batchSize: batch,
        batchTokens: batchTokens,
        bos: opts.bos,
        maxTokens,
        window,
        stride,
        onProgress: (done, total) => {
          progress ??= createProgress(`eval ${task}`, total, { silent: opts.json, unit: "items" });
          progress.update(done);
        },
        onSample: samples === undefined ? undefined : (s) => fs.writeSync(samples, JSON.stringify({ task, ...s }) + "\n"),
      });
      progress?.stop();
      reportSkipped(report);
      if (report.n === 0) {
        // Metrics over no items would be NaN: a wrong number, not a result.
        throw new UserError(`${data[i]}: no item of task ${task} could be scored (${report.skipped.length} line(s) skipped; see the messages above)`);
      }
      reports.push(report);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ task: report.task, n: report.n, metrics: report.metrics, skipped: report.skipped.length }) + "\n");
      } else {
        const rate = report.n / Math.max(report.seconds, 1e-9);
        process.stderr.write(`${task}: ${report.n} items in ${report.seconds.toFixed(1)} s (${rate.toFixed(2)} items/s)\n`);
      }
    });
  } finally {
    if (samples !== undefined) fs.closeSync(samples);
  }
  if (!opts.json) process.stdout.write(markdownTable(reports));
}

function reportSkipped(r: EvalReport): void {
  const shown = r.skipped.slice(0, 20);
  for (const s of shown) process.stderr.write(`${s.file}:${s.line}: ${s.reason} (skipped)\n`);
  if (r.skipped.length > shown.length) process.stderr.write(`... ${r.skipped.length - shown.length} more malformed lines skipped\n`);
  if (r.skipped.length > 0) process.stderr.write(`${r.task}: ${r.skipped.length} malformed line(s) skipped\n`);
}

/** One row per task, one column per metric (the union, in first-seen order). */
export function markdownTable(reports: readonly EvalReport[]): string {
  const keys: string[] = [];
  for (const r of reports) for (const k of Object.keys(r.metrics)) if (!keys.includes(k)) keys.push(k);
  const counts = new Set(["tokens", "bytes"]);
  const fmt = (k: string, v: number | undefined): string => (v === undefined ? "" : counts.has(k) ? String(v) : v.toFixed(4));
  const lines = [
    `| task | n | skipped | ${keys.join(" | ")} |`,
    `|---|---|---|${keys.map(() => "---|").join("")}`,
    ...reports.map((r) => `| ${r.task} | ${r.n} | ${r.skipped.length} | ${keys.map((k) => fmt(k, r.metrics[k])).join(" | ")} |`),
  ];
  return lines.join("\n") + "\n";
}
