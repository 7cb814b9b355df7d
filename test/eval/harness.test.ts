/**
 * lm-evaluation-harness parity: few-shot draws equal CPython's random.Random(seed).sample,
 * standard errors equal statistics.stdev / sqrt(n) (tools/gen_eval_fixtures.py, harness.json)
 * and a second formula, nq_open / triviaqa exact match and the official TriviaQA rule on
 * hand-picked answers (decided by the Python reimplementation), release formats (Social IQa
 * v1.4 "correct", TriviaQA's {"Data": [...]}, NQ-open), --limit before checks, items too long
 * for the context, the results JSON layout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fixturesDir } from "../helpers.js";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { LlamaModel } from "../../src/model/llama.js";
import { SentencePieceTokenizer } from "../../src/tokenizer/index.js";
import {
  PyFloat, PyRandom, exactMatch, harnessDateId, harnessNormalize, harnessResults, meanStderr, parseQa, resultsFilePath, runEvalTask, sanitizeModelName,
  pythonJson, triviaqaNormalize, writeHarnessResults, type EvalReport, type EvalSample, type McItemResult, type QaItemResult, type RunInfo,
} from "../../src/eval/index.js";

const evalDir = path.join(fixturesDir, "eval");
const folder = loadModelFolder(path.join(evalDir, "model"));
const model = new LlamaModel(folder.config, folder.params);
const tokenizer = SentencePieceTokenizer.fromFile(folder.tokenizerPath!);

const harness = JSON.parse(fs.readFileSync(path.join(evalDir, "harness.json"), "utf8")) as {
  stderr_cases: Array<{ x: number[]; stderr: number }>;
  task_stderr: Record<string, Record<string, number | null>>;
  random: Array<{ seed: number; n: number; k: number; draws: number[][] }>;
  qa: Array<{ prediction: string; answers: string[]; nq_open: boolean; triviaqa: boolean; official: boolean; official_norm: string }>;
};
const expected = JSON.parse(fs.readFileSync(path.join(evalDir, "expected.json"), "utf8")) as {
  tasks: Record<string, { file: string; items: Array<{ line: number; loglikelihoods: number[] }>; metrics: Record<string, number> }>;
};

function close(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);
}

test("few-shot draws are CPython's random.Random(seed).sample", () => {
  assert.ok(harness.random.length >= 30);
  for (const c of harness.random) {
    const rnd = new PyRandom(c.seed);
    const pop = Array.from({ length: c.n }, (_, i) => i);
    for (const want of c.draws) assert.deepEqual(rnd.sample(pop, c.k), want, `seed ${c.seed} n ${c.n} k ${c.k}`);
  }
});

test("few-shot examples come from the training file, in the harness's draw order", () => {
  const samples: McItemResult[] = [];
  runEvalTask(model, tokenizer, {
    task: "piqa", data: path.join(evalDir, "piqa-valid.jsonl"), shots: 2, fewshotData: path.join(evalDir, "piqa-train.jsonl"),
    onSample: (s) => samples.push(s as McItemResult),
  });
  const train = fs.readFileSync(path.join(evalDir, "piqa-train.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { goal: string; sol1: string });
  const draws = harness.random.find((c) => c.seed === 1234 && c.n === 3 && c.k === 2)!.draws;
  samples.forEach((s, i) => {
    const shots = draws[i]!.map((j) => `Question: ${train[j]!.goal}\nAnswer: ${train[j]!.sol1}`);
    assert.equal(s.context, shots.join("\n\n") + "\n\n" + s.context.split("\n\n").pop()!);
  });
  // Without a training file the pool is the evaluated file, never the item itself.
  const own: McItemResult[] = [];
  runEvalTask(model, tokenizer, { task: "piqa", data: path.join(evalDir, "piqa-train.jsonl"), shots: 2, onSample: (s) => own.push(s as McItemResult) });
  own.forEach((s, i) => {
    const parts = s.context.split("\n\n");
    assert.equal(parts.length, 3);
    assert.ok(!parts.slice(0, 2).some((p) => p.startsWith(`Question: ${train[i]!.goal}\n`)), `item ${i} sees itself`);
  });
});

test("standard errors: the harness's mean_stderr, checked two ways", () => {
  for (const c of harness.stderr_cases) close(meanStderr(c.x)!, c.stderr, 1e-12, JSON.stringify(c.x));
  assert.equal(meanStderr([1]), undefined);
  for (const [task, want] of Object.entries(harness.task_stderr)) {
    const r = runEvalTask(model, tokenizer, { task, data: path.join(evalDir, expected.tasks[task]!.file) });
    for (const k of ["acc", "acc_norm", "paper"]) {
      const w = want[k];
      if (w === null) assert.equal(r.stderr[k], undefined, `${task} ${k}`);
      else {
        close(r.stderr[k]!, w!, 1e-12, `${task} ${k}`);
        // 0/1 scores: sqrt(p(1 - p) / (n - 1)).
        const p = r.metrics[k]!;
        close(r.stderr[k]!, Math.sqrt((p * (1 - p)) / (r.n - 1)), 1e-12, `${task} ${k} binomial form`);
      }
    }
  }
});

test("nq_open / triviaqa exact match and the official TriviaQA normalisation, as the Python reference decides", () => {
  for (const c of harness.qa) {
    const ex = { question: "q", answers: c.answers };
    const what = `${JSON.stringify(c.prediction)} vs ${JSON.stringify(c.answers)}`;
    assert.equal(exactMatch(c.prediction.trim(), ex, "nq_open"), c.nq_open, `nq_open ${what}`);
    assert.equal(exactMatch(c.prediction.trim(), ex, "triviaqa"), c.triviaqa, `triviaqa ${what}`);
    assert.equal(exactMatch(c.prediction.trim(), ex, "triviaqa", "triviaqa-official"), c.official, `official ${what}`);
    assert.equal(triviaqaNormalize(c.prediction), c.official_norm, what);
  }
  // Hand-checked: nq_open drops a leading article, triviaqa does not; punctuation is deleted.
  const beatles = { question: "q", answers: ["beatles"] };
  assert.ok(exactMatch("The Beatles.", beatles, "nq_open"));
  assert.ok(!exactMatch("The Beatles.", beatles, "triviaqa"));
  assert.ok(exactMatch("The Beatles.", beatles, "triviaqa", "triviaqa-official"));
  assert.equal(harnessNormalize("The Beatles.", ["\\b(?:The |the |An |A |The |a |an )"]), "beatles");
  assert.equal(harnessNormalize("Charles  Darwin", []), "charles  darwin");
  assert.equal(triviaqaNormalize("The_Rolling Stones!"), "rolling stones");
});

test("release formats: Social IQa v1.4 \"correct\", TriviaQA {\"Data\": [...]}, NQ-open", () => {
  // Social IQa v1.4 scores as the labels-file release of the same items.
  const samples: McItemResult[] = [];
  const r = runEvalTask(model, tokenizer, { task: "social_iqa", data: path.join(evalDir, "socialIQa_v1.4_dev.jsonl"), onSample: (s) => samples.push(s as McItemResult) });
  assert.equal(r.n, 2);
  assert.deepEqual(r.skipped.map((s) => [s.line, s.reason]), [[3, 'field "correct" "D" is not one of "A", "B", "C"']]);
  const want = expected.tasks["siqa"]!;
  samples.forEach((s, i) => s.loglikelihoods.forEach((v, j) => close(v, want.items[i]!.loglikelihoods[j]!, 1e-4, `siqa v1.4 item ${i} choice ${j}`)));
  assert.deepEqual(r.metrics, want.metrics);

  // TriviaQA's original release: answers are the Aliases, the official rule uses NormalizedAliases (+ HumanAnswers).
  const data = JSON.parse(fs.readFileSync(path.join(evalDir, "triviaqa-dev.json"), "utf8")) as { Data: unknown[] };
  const paris = parseQa(data.Data[1]);
  assert.deepEqual(paris, { question: "Which city is the capital of France?", answers: ["Paris", "Paris, France"], normalizedAnswers: ["paris", "paris france"], humanAnswers: ["The City of Light"] });
  assert.ok(exactMatch("city of light", paris, "triviaqa", "triviaqa-official"));
  assert.ok(!exactMatch("city of light", paris, "triviaqa"));
  const qa: QaItemResult[] = [];
  const t = runEvalTask(model, tokenizer, { task: "triviaqa", data: path.join(evalDir, "triviaqa-dev.json"), maxTokens: 4, onSample: (s) => qa.push(s as QaItemResult) });
  assert.equal(t.n, 3);
  assert.equal(t.original, 4);
  assert.equal(t.skipped.length, 1);
  assert.equal(t.skipped[0]!.where, "Data[2]");
  assert.equal(qa[0]!.prompt, "Question: Who wrote On the Origin of Species??\nAnswer:");
  assert.deepEqual(qa[2]!.answers, ["Jupiter", "Planet Jupiter"]);

  // NQ-open: {"question", "answer": [...]}; the prompt has the task's description.
  const nq: QaItemResult[] = [];
  const n = runEvalTask(model, tokenizer, { task: "nq_open", data: path.join(evalDir, "nq_open-dev.jsonl"), maxTokens: 4, onSample: (s) => nq.push(s as QaItemResult) });
  assert.equal(n.n, 3);
  assert.equal(nq[1]!.prompt, "Answer these questions:\n\nQ: what is the capital of france?\nA:");
  assert.deepEqual(nq[1]!.answers, ["Paris", "Paris, France"]);
});

test("--limit applies before problems are reported; too-long items are reported as such", () => {
  // The malformed record of each file comes after the limit: nothing to report.
  const nq = runEvalTask(model, tokenizer, { task: "nq_open", data: path.join(evalDir, "nq_open-dev.jsonl"), maxTokens: 2, limit: 3 });
  assert.deepEqual([nq.n, nq.skipped.length, nq.original], [3, 0, 4]);
  const siqa = runEvalTask(model, tokenizer, { task: "siqa", data: path.join(evalDir, "socialIQa_v1.4_dev.jsonl"), limit: 2 });
  assert.deepEqual([siqa.n, siqa.skipped.length], [2, 0]);
  const tq = runEvalTask(model, tokenizer, { task: "triviaqa", data: path.join(evalDir, "triviaqa-dev.json"), maxTokens: 2, limit: 2 });
  assert.deepEqual([tq.n, tq.skipped.length], [2, 0]);
  const mc = runEvalTask(model, tokenizer, { task: "mc", data: path.join(evalDir, "mc.jsonl"), limit: 1 });
  assert.deepEqual([mc.n, mc.skipped.length], [1, 0]);
  // A labels file only needs to cover the limited records.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-harness-"));
  const labels = path.join(tmp, "labels.lst");
  fs.writeFileSync(labels, "0\n");
  const piqa = runEvalTask(model, tokenizer, { task: "piqa", data: path.join(evalDir, "piqa-valid.jsonl"), labels, limit: 1 });
  assert.equal(piqa.n, 1);
  assert.throws(() => runEvalTask(model, tokenizer, { task: "piqa", data: path.join(evalDir, "piqa-valid.jsonl"), labels }), /1 labels but .* 2 records/);

  // A choice longer than the context window (512 tokens) cannot be scored: too long, not malformed.
  const long = path.join(tmp, "long.jsonl");
  const words = Array.from({ length: 700 }, (_, i) => `w${i}`).join(" ");
  fs.writeFileSync(long, [
    JSON.stringify({ context: "A short question:", choices: ["yes", "no"], gold: 0 }),
    JSON.stringify({ context: "A long one:", choices: [words, "no"], gold: 1 }),
    "not json",
  ].join("\n") + "\n");
  const r = runEvalTask(model, tokenizer, { task: "mc", data: long });
  assert.equal(r.n, 1);
  assert.deepEqual(r.skipped.map((s) => s.line), [3]);
  assert.deepEqual(r.tooLong.map((s) => s.line), [2]);
  assert.match(r.tooLong[0]!.reason, /more than the context window 512/);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function runInfo(extra: Partial<RunInfo> = {}): RunInfo {
  return {
    model: "models/My Model:v1", batchSize: 32, limit: 10, fewshotSeed: 1234, bos: true, maxTokens: 256, normalization: "harness",
    startTime: 1700000000.5, totalSeconds: 12.25, maxLength: 512, eosTokenId: 2, files: [], ...extra,
  };
}

test("results JSON: the harness's layout and key names", () => {
  const reports: EvalReport[] = [];
  const samples: EvalSample[] = [];
  reports.push(runEvalTask(model, tokenizer, { task: "siqa", data: path.join(evalDir, "siqa-dev.jsonl") }));
  reports.push(runEvalTask(model, tokenizer, { task: "nq", data: path.join(evalDir, "nq_open-dev.jsonl"), maxTokens: 2, shots: 1, fewshotData: path.join(evalDir, "qa-train.jsonl"), onSample: (s) => samples.push(s) }));
  reports.push(runEvalTask(model, tokenizer, { task: "arc_challenge", data: path.join(evalDir, "arc_challenge.jsonl") }));
  const files = [{ data: "siqa-dev.jsonl" }, { data: "nq_open-dev.jsonl", fewshotData: "qa-train.jsonl" }, { data: "arc_challenge.jsonl" }];
  const text = pythonJson(harnessResults(reports, runInfo({ files })));
  // Python's json.dumps layout: floats keep their fraction ("0.0"), N/A is a string.
  assert.match(text, /\n {4}"social_iqa": \{\n {6}"name": "social_iqa",\n {6}"alias": "social_iqa",\n {6}"sample_len": 2,\n {6}"acc,none": 0\.0,/);
  assert.match(text, /"acc_stderr,none": "N\/A"/);
  assert.match(text, /"versions": \{\n {4}"arc_challenge": 1\.0,/);
  const res = JSON.parse(text) as Record<string, Record<string, Record<string, unknown>>> & Record<string, unknown>;
  for (const k of ["results", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "config", "date", "total_evaluation_time_seconds"]) {
    assert.ok(k in res, k);
  }
  const siqa = res["results"]!["social_iqa"]!;
  assert.deepEqual(Object.keys(siqa), [
    "name", "alias", "sample_len", "acc,none", "acc_stderr,none", "acc_norm,none", "acc_norm_stderr,none", "paper,none", "paper_stderr,none",
  ]);
  assert.equal(siqa["alias"], "social_iqa");
  assert.equal(siqa["acc,none"], reports[0]!.metrics["acc"]);
  assert.equal(siqa["acc_stderr,none"], reports[0]!.stderr["acc"]);
  // One item: the standard error is not defined, written "N/A" as the harness does.
  assert.equal(res["results"]!["arc_challenge"]!["acc_stderr,none"], "N/A");
  const nq = res["results"]!["nq_open"]!;
  assert.deepEqual(Object.keys(nq), ["name", "alias", "sample_len", "exact_match,remove_whitespace", "exact_match_stderr,remove_whitespace"]);
  assert.deepEqual(res["n-shot"], { arc_challenge: 0, nq_open: 1, social_iqa: 0 });
  assert.deepEqual(res["versions"], { arc_challenge: 1, nq_open: 4, social_iqa: 0 });
  assert.deepEqual(res["n-samples"]!["nq_open"], { original: 4, effective: 3 });
  assert.deepEqual(res["higher_is_better"]!["nq_open"], { exact_match: true });
  const cfg = res["configs"]!["nq_open"]!;
  for (const k of ["task", "num_fewshot", "output_type", "metric_list", "description", "target_delimiter", "fewshot_delimiter", "generation_kwargs", "filter_list", "metadata"]) {
    assert.ok(k in cfg, `configs.nq_open.${k}`);
  }
  assert.equal(cfg["output_type"], "generate_until");
  assert.equal(cfg["description"], "Answer these questions:\n\n");
  assert.equal(cfg["fewshot_delimiter"], "\n");
  assert.deepEqual((cfg["generation_kwargs"] as { until: string[] }).until, ["\n", ".", ","]);
  assert.deepEqual(cfg["metric_list"], [{ metric: "exact_match", aggregation: "mean", higher_is_better: true, ignore_case: true, ignore_punctuation: true, regexes_to_ignore: ["\\b(?:The |the |An |A |The |a |an )"] }]);
  assert.equal(res["configs"]!["social_iqa"]!["output_type"], "multiple_choice");
  const config = res["config"] as unknown as Record<string, unknown>;
  for (const k of ["model", "model_args", "batch_size", "limit", "bootstrap_iters", "fewshot_seed"]) assert.ok(k in config, `config.${k}`);
  assert.equal(config["limit"], 10);
  assert.equal(res["total_evaluation_time_seconds"], "12.25");
  assert.equal(res["model_name_sanitized"], "models__My Model__v1");
  // The shot is from the training file: "Q: {q}?\nA: {first answer}\n".
  const first = samples[0] as QaItemResult;
  assert.match(first.prompt, /^Answer these questions:\n\nQ: [^\n]+\?\nA: [^\n]+\nQ: who wrote the origin of species\?\nA:$/);
});

test("results file: where the harness puts it, never overwritten", () => {
  assert.equal(sanitizeModelName('a/b:c"d<e>f|g\\h?i*j[k]l'), "a__b__c__d__e__f__g__h__i__j__k__l");
  const d = new Date(2026, 10, 30, 9, 5, 7, 42);
  assert.equal(harnessDateId(d), "2026-11-30T09-05-07.042000");
  assert.equal(harnessDateId(new Date(2026, 0, 2, 3, 4, 5, 0)), "2026-01-02T03-04-05");
  assert.equal(resultsFilePath("out", "/m/x", "D"), path.join("out", "__m__x", "results_D.json"));
  assert.equal(resultsFilePath("out/run.json", "/m/x", "D"), path.join("out", "run_D.json"));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-results-"));
  assert.equal(pythonJson({ a: [new PyFloat(1), new PyFloat(0.25), 3, "é\n"], b: {}, c: [] }), '{\n  "a": [\n    1.0,\n    0.25,\n    3,\n    "é\\n"\n  ],\n  "b": {},\n  "c": []\n}');
  const json = { results: {} };
  const f1 = writeHarnessResults(tmp, json, "m", d);
  assert.equal(f1, path.join(tmp, "m", "results_2026-11-30T09-05-07.042000.json"));
  assert.deepEqual(JSON.parse(fs.readFileSync(f1, "utf8")), json);
  assert.throws(() => writeHarnessResults(tmp, { other: 1 }, "m", d), /already exists; not overwriting/);
  assert.deepEqual(JSON.parse(fs.readFileSync(f1, "utf8")), json);
  const f2 = writeHarnessResults(path.join(tmp, "sub", "r.json"), json, "m", d);
  assert.equal(f2, path.join(tmp, "sub", "r_2026-11-30T09-05-07.042000.json"));
  fs.writeFileSync(path.join(tmp, "plain"), "x");
  assert.throws(() => writeHarnessResults(path.join(tmp, "plain"), json, "m", d), /is a file/);
  fs.rmSync(tmp, { recursive: true, force: true });
});
