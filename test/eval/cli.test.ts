/** `llama-ts eval` as a user runs it: --json, several tasks with the harness's table, --log-samples, --output-path, errors. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fixturesDir, repoRoot } from "../helpers.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
const evalDir = path.join(fixturesDir, "eval");
const model = path.join(evalDir, "model");
const expected = JSON.parse(fs.readFileSync(path.join(evalDir, "expected.json"), "utf8")) as {
  tasks: Record<string, { metrics: Record<string, number>; n: number; skipped: number }>;
};
const harness = JSON.parse(fs.readFileSync(path.join(evalDir, "harness.json"), "utf8")) as { task_stderr: Record<string, Record<string, number | null>> };

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, "eval", ...args], { encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("eval --json prints {task, n, metrics} and reports malformed lines", () => {
  const r = run(["--model", model, "--task", "mc", "--data", path.join(evalDir, "mc.jsonl"), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { task: string; n: number; metrics: Record<string, number>; stderr: Record<string, number | null>; skipped: number; too_long: number; original: number };
  assert.equal(out.task, "mc");
  assert.equal(out.n, 3);
  assert.equal(out.skipped, 2);
  assert.equal(out.too_long, 0);
  assert.equal(out.original, 5);
  assert.deepEqual(out.metrics, expected.tasks["mc"]!.metrics);
  for (const [k, v] of Object.entries(harness.task_stderr["mc"]!)) assert.ok(Math.abs(out.stderr[k]! - v!) < 1e-12, k);
  assert.match(r.stderr, /mc\.jsonl:2: not valid JSON/);
  assert.match(r.stderr, /mc\.jsonl:3: .*gold/);
});

test("several tasks give a Markdown table; --log-samples writes every item", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-eval-"));
  const log = path.join(tmp, "samples.jsonl");
  const r = run([
    "--model", model, "--task", "boolq,piqa,winogrande",
    "--data", ["boolq.jsonl", "piqa-valid.jsonl", "winogrande.jsonl"].map((f) => path.join(evalDir, f)).join(","),
    "--log-samples", log,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  // lm-evaluation-harness's make_table: one row per task and metric, "±" and the standard error.
  assert.equal(lines[0], "|Tasks|Version|Filter|n-shot|n|Metric| |Value| |Stderr|");
  assert.equal(lines.length, 2 + 3 * 3);
  const boolq = expected.tasks["boolq"]!;
  const se = harness.task_stderr["boolq"]!;
  assert.equal(lines[2], `|boolq|2|none|0|${boolq.n}|acc|↑|${boolq.metrics["acc"]!.toFixed(4)}|±|${se["acc"]!.toFixed(4)}|`);
  assert.equal(lines[3], `||||||acc_norm|↑|${boolq.metrics["acc_norm"]!.toFixed(4)}|±|${se["acc_norm"]!.toFixed(4)}|`);
  const samples = fs.readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { task: string; loglikelihoods: number[]; unconditional?: number[] });
  assert.equal(samples.length, 6);
  assert.deepEqual(samples.map((s) => s.task), ["boolq", "boolq", "piqa", "piqa", "winogrande", "winogrande"]);
  assert.equal(samples[0]!.unconditional!.length, 2);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("eval mistakes are one line with exit code 2", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--model", model, "--task", "nope", "--data", "x"], /unknown task "nope"/],
    [["--model", model, "--task", "mc,boolq", "--data", path.join(evalDir, "mc.jsonl")], /one file per task/],
    [["--model", model, "--task", "mc", "--data", "/no/such.jsonl"], /does not exist/],
    [["--model", model, "--task", "mc", "--data", path.join(evalDir, "mc.jsonl"), "--normalization", "squad"], /--normalization: "squad" is not one of harness, triviaqa-official/],
    [["--model", model, "--task", "mc", "--data", path.join(evalDir, "mc.jsonl"), "--output-path", path.join(evalDir, "mc.jsonl")], /--output-path .*mc\.jsonl is a file/],
    [["--model", model, "--task", "nq_open", "--data", path.join(evalDir, "qa.jsonl"), "--max-tokens", "600"], /--max-tokens 600 leaves no room/],
    [["--model", model, "--task", "ppl", "--data", path.join(evalDir, "ppl.txt"), "--shots", "1"], /--shots does not apply to perplexity/],
    [["--model", model, "--task", "mc", "--data", path.join(evalDir, "mc.jsonl"), "--log-samples", path.join(evalDir, "mc.jsonl")], /--log-samples .*mc\.jsonl already exists; not overwriting/],
    [["--model", path.join(fixturesDir, "models", "gqa-f32"), "--task", "mc", "--data", path.join(evalDir, "mc.jsonl")], /eval needs a tokenizer/],
  ];
  for (const [args, re] of cases) {
    const r = run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

test("a data file with no scorable item is an error (exit 2), not NaN metrics", () => {
  const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-eval-")), "bad.jsonl");
  fs.writeFileSync(bad, "not json\n");
  const r = run(["--model", path.join(fixturesDir, "eval", "model"), "--task", "hellaswag", "--data", bad, "--json"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.jsonl:1: .*skipped/);
  assert.match(r.stderr, /llama-ts: error: .*no item of task hellaswag could be scored \(1 line\(s\) skipped/);
  assert.equal(r.stdout, "");
});

test("--output-path writes the harness's results JSON under PATH/<model>/; --help has examples", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-eval-"));
  const r = run([
    "--model", model, "--task", "boolq,nq", "--data", [path.join(evalDir, "boolq.jsonl"), path.join(evalDir, "nq_open-dev.jsonl")].join(","),
    "--limit", "3", "--max-tokens", "3", "--output-path", tmp, "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const dir = path.join(tmp, model.replace(/["<>:/|\\?*[\]]+/g, "__"));
  const files = fs.readdirSync(dir);
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^results_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(\.\d{6})?\.json$/);
  assert.match(r.stderr, new RegExp(`results written to .*${files[0]!.replace(/\./g, "\\.")}`));
  const res = JSON.parse(fs.readFileSync(path.join(dir, files[0]!), "utf8")) as Record<string, Record<string, Record<string, unknown>>>;
  const boolq = res["results"]!["boolq"]!;
  assert.equal(boolq["acc,none"], expected.tasks["boolq"]!.metrics["acc"]);
  assert.equal(boolq["acc_stderr,none"], harness.task_stderr["boolq"]!["acc"]);
  assert.equal(boolq["alias"], "boolq");
  assert.ok("exact_match,remove_whitespace" in res["results"]!["nq_open"]!);
  assert.deepEqual(res["n-samples"]!["nq_open"], { original: 4, effective: 3 });
  assert.equal((res["config"] as unknown as Record<string, unknown>)["limit"], 3);
  assert.equal(typeof (res as unknown as Record<string, unknown>)["date"], "number");
  const help = spawnSync(process.execPath, [cli, "eval", "--help"], { encoding: "utf8" }).stdout;
  for (const flag of ["--output-path", "--normalization", "--limit", "--fewshot-data", "--no-bos"]) assert.match(help, new RegExp(`Examples:[\\s\\S]*${flag}`), flag);
  fs.rmSync(tmp, { recursive: true, force: true });
});
