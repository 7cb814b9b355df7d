import fs from "node:fs";
import type { Command } from "commander";
import { applyThreads, MODEL_HELP } from "../common.js";
import { loadModel } from "../../runtime/load.js";
import { parseNumberOption, UserError } from "../../util/errors.js";
import { createProgress, type Progress } from "../../util/progress.js";
import { placeOf } from "../../eval/data.js";
import { QA_NORMALIZATIONS, type QaNormalization } from "../../eval/qa.js";
import { checkOutputPath, harnessResults, resultsTaskName, writeHarnessResults } from "../../eval/results.js";
import { runEvalTask, type EvalReport } from "../../eval/run.js";
import { HARNESS_TASKS, TASK_NAMES, canonicalTask, taskKind } from "../../eval/tasks.js";

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
  outputPath?: string;
  bos: boolean;
  tokenizer?: string;
  maxTokens: string;
  normalization: string;
  window?: string;
  stride?: string;
  threads?: string;
}

const EXAMPLES = `
Examples:
  llama-ts eval --model MODEL --task hellaswag --data hellaswag_val.jsonl
  llama-ts eval --model MODEL --task piqa,siqa --data piqa/valid.jsonl,socialIQa_v1.4_dev.jsonl --limit 500
  llama-ts eval --model MODEL --task arc_easy --data ARC-Easy-Test.jsonl --shots 5 --fewshot-data ARC-Easy-Train.jsonl
  llama-ts eval --model MODEL --task nq_open --data NQ-open.dev.jsonl --shots 5 --fewshot-data NQ-open.train.jsonl
  llama-ts eval --model MODEL --task triviaqa --data qa/wikipedia-dev.json --normalization triviaqa-official
  llama-ts eval --model MODEL --task boolq --data boolq/val.jsonl --output-path results/   # results/<model>/results_<date>.json
  llama-ts eval --model MODEL --task boolq --data boolq/val.jsonl --no-bos
`;

export function register(program: Command): void {
  program
    .command("eval")
    .description(
      "Evaluate a model with the LLaMA paper's protocol and lm-evaluation-harness's prompts, metrics and results layout.\n" +
        `Tasks: ${TASK_NAMES.join(", ")} (aliases: social_iqa = siqa; qa, nq, naturalquestions = nq_open; ppl = perplexity).\n` +
        "Multiple choice reports acc, acc_norm (log-likelihood per character) and paper (acc_norm; for boolq and\n" +
        "openbookqa logP(answer|context) - logP(answer|\"Answer:\")), each with its standard error (the harness's\n" +
        "mean_stderr: sample standard deviation / sqrt(n)). nq_open and triviaqa report exact_match with the harness's\n" +
        "prompts and answer normalisation; perplexity reports token/byte/word perplexity and bits per byte.\n" +
        "Data as released: JSONL (Social IQa v1.4 \"correct\": \"A\" or *-labels.lst; ARC/OpenBookQA, BoolQ, PIQA, WinoGrande,\n" +
        "HellaSwag, NQ-open), TriviaQA's {\"Data\": [...]} .json, or the Hugging Face field layouts.\n" +
        "Several tasks: --task a,b --data fa,fb (one file each). Malformed records are reported with their line number,\n" +
        "skipped and counted; items too long for the context are reported apart.",
    )
    .requiredOption("--model <path>", MODEL_HELP)
    .option("--tokenizer <file>", "tokenizer.model to use instead of the model's own")
    .requiredOption("--task <names>", "task name(s), comma-separated")
    .requiredOption("--data <files>", "data file(s), comma-separated, one per task (JSONL, .json; text or {\"text\"} JSONL for perplexity)")
    .option("--labels <files>", "labels file(s) for piqa/siqa (default: <data>-labels.lst beside the data file)")
    .option("--shots <k>", "few-shot examples per item", "0")
    .option(
      "--fewshot-data <files>",
      "file(s) the few-shot examples are drawn from, one per task: the training split (default: the evaluated file,\n" +
        "never the item itself, as the harness does for a task without a training split)",
    )
    .option("--fewshot-labels <files>", "labels of the few-shot file(s) for piqa/siqa")
    .option("--seed <s>", "few-shot sampling seed: Python random.Random(seed).sample per item, in file order (the harness's fewshot_seed)", "1234")
    .option("--limit <n>", "evaluate only the first N records of each file (later records are not read or checked)")
    .option(
      "--batch <n>",
      "multiple choice: most choices scored per forward call; the choices of several questions are batched\n" +
        "together (each question's context run once, shared by its choices; one KV cache per question in flight);\n" +
        "1 = one choice per call",
      "32",
    )
    .option("--batch-tokens <n>", "most tokens per forward call (a memory bound: longer inputs run in chunks)", "1024")
    .option(
      "--no-bos",
      "do not prepend BOS (default: BOS first, as the harness does for LLaMA tokenizers; versions 0.4.0-0.4.2 did not)",
    )
    .option("--max-tokens <n>", "nq_open/triviaqa: most tokens generated per answer (the harness's max_gen_toks)", "256")
    .option(
      "--normalization <rule>",
      "nq_open/triviaqa answer matching: harness (the task's exact_match: regexes, case, punctuation) or\n" +
        "triviaqa-official (the official TriviaQA evaluation's normalize_answer, NormalizedAliases when present)",
      "harness",
    )
    .option("--window <n>", "perplexity: tokens per window (default: the model's context length)")
    .option("--stride <n>", "perplexity: tokens between window starts (default: the window)")
    .option("--json", "print one JSON object per task: {\"task\", \"n\", \"metrics\", \"stderr\", \"skipped\", \"too_long\", ...}")
    .option("--log-samples <file>", "write every item's scores as JSONL to a new file")
    .option(
      "--output-path <path>",
      "write lm-evaluation-harness's results JSON: PATH/<model>/results_<date>.json for a directory,\n" +
        "<stem>_<date>.json beside PATH for a path ending in .json (never overwriting a file)",
    )
    .option("--threads <n>", "kernel threads (default: every core if a start-up measurement finds them faster than one, else 1)")
    .addHelpText("after", EXAMPLES)
    .action((opts: EvalCliOptions) => run(opts));
}

function list(text: string | undefined): Array<string | undefined> {
  if (text === undefined) return [];
  return text.split(",").map((s) => (s.trim() === "" ? undefined : s.trim()));
}

async function run(opts: EvalCliOptions): Promise<void> {
  const startTime = Date.now() / 1000;
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
  const seed = parseNumberOption(opts.seed, "--seed", { integer: true, min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
  const limit = opts.limit === undefined ? undefined : parseNumberOption(opts.limit, "--limit", { min: 1, integer: true });
  const batch = parseNumberOption(opts.batch, "--batch", { min: 1, integer: true });
  const batchTokens = parseNumberOption(opts.batchTokens, "--batch-tokens", { min: 1, integer: true });
  const maxTokens = parseNumberOption(opts.maxTokens, "--max-tokens", { min: 1, integer: true });
  const window = opts.window === undefined ? undefined : parseNumberOption(opts.window, "--window", { min: 2, integer: true });
  const stride = opts.stride === undefined ? undefined : parseNumberOption(opts.stride, "--stride", { min: 1, integer: true });
  if (!(QA_NORMALIZATIONS as readonly string[]).includes(opts.normalization)) {
    throw new UserError(`--normalization: "${opts.normalization}" is not one of ${QA_NORMALIZATIONS.join(", ")} (e.g. --normalization triviaqa-official)`);
  }
  const normalization = opts.normalization as QaNormalization;
  if (shots > 0 && tasks.some((t) => taskKind(t!) === "perplexity")) throw new UserError(`--shots does not apply to perplexity`);
  if (opts.outputPath !== undefined) checkOutputPath(opts.outputPath);

  const lm = await loadModel(opts.model, opts.tokenizer === undefined ? {} : { tokenizer: opts.tokenizer });
  const { model, tokenizer } = lm;
  if (!tokenizer) throw new UserError(`eval needs a tokenizer, but ${opts.model} has none (add --tokenizer FILE)`);
  const ctxLen = model.config.maxPositionEmbeddings;
  if (window !== undefined && window > ctxLen) throw new UserError(`--window ${window} exceeds the model's context length ${ctxLen}`);
  if (stride !== undefined && stride > (window ?? ctxLen)) throw new UserError(`--stride ${stride} must not exceed the window (${window ?? ctxLen})`);

  if (maxTokens >= ctxLen && tasks.some((t) => taskKind(t!) === "qa")) {
    throw new UserError(`--max-tokens ${maxTokens} leaves no room for the prompt in the model's context of ${ctxLen} tokens`);
  }

  const samples = opts.logSamples ? openNew(opts.logSamples, "--log-samples") : undefined;
  const reports: EvalReport[] = [];
  try {
    tasks.forEach((task, i) => {
      let progress: Progress | undefined;
      const report = runEvalTask(model, tokenizer, {
        task: task!,
        data: data[i]!,
        labels: labels[i],
        shots,
        fewshotData: fewshot[i],
        fewshotLabels: fewshotLabels[i],
        seed,
        limit,
        batchSize: batch,
        batchTokens: batchTokens,
        bos: opts.bos,
        maxTokens,
        normalization,
        window,
        stride,
        onProgress: (done, total) => {
          progress ??= createProgress(`eval ${task}`, total, { silent: opts.json, unit: "items" });
          progress.update(done);
        },
        onSample: samples === undefined ? undefined : (s) => fs.writeSync(samples, JSON.stringify({ task, ...s }) + "\n"),
      });
      progress?.stop();
      if (shots > 0 && !fewshot[i]) process.stderr.write(`${task}: few-shot examples drawn from ${data[i]} itself (no --fewshot-data), never an item's own\n`);
      reportSkipped(report);
      if (report.n === 0) {
        // Metrics over no items would be NaN: a wrong number, not a result.
        const tooLong = report.tooLong.length > 0 ? `, ${report.tooLong.length} too long for the context` : "";
        throw new UserError(`${data[i]}: no item of task ${task} could be scored (${report.skipped.length} line(s) skipped${tooLong}; see the messages above)`);
      }
      reports.push(report);
      if (opts.json) {
        const stderr = Object.fromEntries(Object.entries(report.stderr).map(([k, v]) => [k, v ?? null]));
        process.stdout.write(JSON.stringify({
          task: report.task, n: report.n, metrics: report.metrics, stderr, skipped: report.skipped.length, too_long: report.tooLong.length,
          original: report.original, shots: report.shots,
        }) + "\n");
      } else {
        const rate = report.n / Math.max(report.seconds, 1e-9);
        process.stderr.write(`${task}: ${report.n} items in ${report.seconds.toFixed(1)} s (${rate.toFixed(2)} items/s)\n`);
      }
    });
  } finally {
    if (samples !== undefined) fs.closeSync(samples);
  }
  if (!opts.json) process.stdout.write(markdownTable(reports));
  if (opts.outputPath !== undefined) {
    const results = harnessResults(reports, {
      model: opts.model, batchSize: batch, limit, fewshotSeed: seed, bos: opts.bos, maxTokens, normalization,
      startTime, totalSeconds: Date.now() / 1000 - startTime, maxLength: ctxLen, eosTokenId: tokenizer.eosId,
      files: tasks.map((_, i) => ({ data: data[i]!, ...(fewshot[i] ? { fewshotData: fewshot[i] } : {}) })),
    });
    const file = writeHarnessResults(opts.outputPath, results, opts.model);
    process.stderr.write(`results written to ${file}\n`);
  }
}

/** Opens a file that must not exist yet (nothing the user has is overwritten). */
function openNew(file: string, flag: string): number {
  try {
    return fs.openSync(file, "wx");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new UserError(`${flag} ${file} already exists; not overwriting it (remove it or choose another name)`);
    throw new UserError(`${flag}: cannot write ${file} (${code ?? (e as Error).message})`);
  }
}

function reportSkipped(r: EvalReport): void {
  const shown = r.skipped.slice(0, 20);
  for (const s of shown) process.stderr.write(`${placeOf(s)}: ${s.reason} (skipped)\n`);
  if (r.skipped.length > shown.length) process.stderr.write(`... ${r.skipped.length - shown.length} more malformed lines skipped\n`);
  if (r.skipped.length > 0) process.stderr.write(`${r.task}: ${r.skipped.length} malformed line(s) skipped\n`);
  const long = r.tooLong.slice(0, 5);
  for (const s of long) process.stderr.write(`${placeOf(s)}: too long for the context: ${s.reason} (skipped)\n`);
  if (r.tooLong.length > 0) process.stderr.write(`${r.task}: ${r.tooLong.length} item(s) too long for the context, skipped\n`);
}

const HIGHER = { true: "↑", false: "↓" } as const;

/**
 * lm-evaluation-harness's results table (lm_eval/utils.py make_table): one row per task and
 * metric, metrics in alphabetical order, value and standard error to 4 decimals ("N/A"
 * when not defined); the task's item count n after n-shot.
 */
export function markdownTable(reports: readonly EvalReport[]): string {
  const lines = ["|Tasks|Version|Filter|n-shot|n|Metric| |Value| |Stderr|", "|---|---:|---|---:|---:|---|---|---:|---|---:|"];
  for (const r of reports) {
    const name = resultsTaskName(r);
    const version = HARNESS_TASKS[canonicalTask(r.task)]?.version;
    const filter = taskKind(r.task) === "qa" ? "remove_whitespace" : "none";
    const perplexity = taskKind(r.task) === "perplexity";
    const metrics = Object.keys(r.metrics).filter((k) => k !== "tokens" && k !== "bytes").sort();
    metrics.forEach((m, i) => {
      const se = r.stderr[m];
      const head = i === 0 ? [name, version === undefined ? "N/A" : String(version), filter, String(r.shots), String(r.n)] : ["", "", "", "", ""];
      const seText = ["±", se === undefined ? "N/A" : se.toFixed(4)];
      lines.push(`|${[...head, m, HIGHER[perplexity ? "false" : "true"], r.metrics[m]!.toFixed(4), ...seText].join("|")}|`);
    });
  }
  return lines.join("\n") + "\n";
}
