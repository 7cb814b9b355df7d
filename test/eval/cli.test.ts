/** `llama-ts eval` as a user runs it: --json, several tasks with a Markdown table, --log-samples, errors. */
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

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, "eval", ...args], { encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("eval --json prints {task, n, metrics} and reports malformed lines", () => {
  const r = run(["--model", model, "--task", "mc", "--data", path.join(evalDir, "mc.jsonl"), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { task: string; n: number; metrics: Record<string, number>; skipped: number };
  assert.equal(out.task, "mc");
  assert.equal(out.n, 3);
  assert.equal(out.skipped, 2);
  assert.deepEqual(out.metrics, expected.tasks["mc"]!.metrics);
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
  assert.equal(lines[0], "| task | n | skipped | acc | acc_norm | paper |");
  assert.equal(lines.length, 5);
  const boolq = expected.tasks["boolq"]!;
  assert.equal(lines[2], `| boolq | ${boolq.n} | ${boolq.skipped} | ${["acc", "acc_norm", "paper"].map((k) => boolq.metrics[k]!.toFixed(4)).join(" | ")} |`);
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
    [["--model", model, "--task", "mc", "--data", path.join(evalDir, "mc.jsonl"), "--shots", "2"], /--fewshot-data/],
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
