/** `llama-ts sweep fit`: the CSV contract, the --json shape, and one-line errors (exit 2). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { repoRoot } from "../helpers.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
const run = (args: string[]): { code: number; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-fit-"));
const write = (name: string, text: string): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

// L = 2 + 300/N^0.3 + 500/D^0.3, written with extra columns in a different order.
function lawCsv(): string {
  const rows = ["name,val_loss,wall_s,tokens,params"];
  for (const n of [2e5, 1e6, 5e6, 2.5e7]) for (const d of [1e7, 1e8, 1e9]) {
    rows.push(`"run, ${n}",${2 + 300 / n ** 0.3 + 500 / d ** 0.3},12.5,${d},${n}`);
  }
  return rows.join("\n") + "\n";
}

test("sweep fit --json recovers a known law from a CSV with extra columns", () => {
  const r = run(["sweep", "fit", "--csv", write("law.csv", lawCsv()), "--json", "--bootstrap", "20", "--serve-tokens", "1e10"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, unknown> & { intervals: Record<string, [number, number]>; recommendation: { inference_aware: { params: number }; compute_optimal: { params: number } } };
  const want: Record<string, number> = { E: 2, A: 300, alpha: 0.3, B: 500, beta: 0.3 };
  for (const [k, v] of Object.entries(want)) {
    assert.ok(Math.abs((j[k] as number) - v) / v < 1e-4, `${k}: ${String(j[k])}`);
    const ci = j.intervals[k]!;
    assert.ok(Array.isArray(ci) && ci.length === 2 && ci[0] <= v * (1 + 1e-4) && v * (1 - 1e-4) <= ci[1], `${k} interval ${JSON.stringify(ci)}`);
  }
  assert.equal(j["runs"], 12);
  assert.ok(j.recommendation.inference_aware.params < j.recommendation.compute_optimal.params);
});

test("sweep fit --params-column reads N from another column (sweep.csv's params_total)", () => {
  // The law holds in params_total; `params` holds a different (wrong) N, so only the chosen column recovers it.
  const rows = ["params,params_total,tokens,val_loss"];
  for (const n of [2e5, 1e6, 5e6, 2.5e7]) for (const d of [1e7, 1e8, 1e9]) rows.push(`${n / 7 + 1000},${n},${d},${2 + 300 / n ** 0.3 + 500 / d ** 0.3}`);
  const file = write("total.csv", rows.join("\n") + "\n");
  const r = run(["sweep", "fit", "--csv", file, "--json", "--bootstrap", "0", "--params-column", "params_total"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, number>;
  for (const [k, v] of Object.entries({ E: 2, A: 300, alpha: 0.3, B: 500, beta: 0.3 })) assert.ok(Math.abs(j[k]! - v) / v < 1e-4, `${k}: ${j[k]}`);
  const plain = JSON.parse(run(["sweep", "fit", "--csv", file, "--json", "--bootstrap", "0"]).stdout) as Record<string, number>;
  assert.ok(Math.abs(plain["alpha"]! - 0.3) > 1e-3 || Math.abs(plain["A"]! - 300) > 1, "the default column is a different fit");
  const bad = run(["sweep", "fit", "--csv", file, "--params-column", "n_total"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^llama-ts: error: .*missing column n_total/);
});

test("sweep fit prints a readable table", () => {
  const r = run(["sweep", "fit", "--csv", write("law2.csv", lawCsv()), "--bootstrap", "0"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /alpha\s+0\.3000/);
  assert.match(r.stdout, /compute-optimal frontier: N_opt ∝ C\^0\.500/);
});

test("sweep fit: user mistakes are one line, exit 2", () => {
  const cases: Array<[string, RegExp]> = [
    ["params,tokens\n1,2\n", /missing column val_loss/],
    ["tokens,loss\n1,2\n", /missing columns params, val_loss/],
    ["params,tokens,val_loss\n1e6,1e9,3.1\n2e6,abc,3.0\n", /:3: tokens "abc" is not a positive number/],
    ["params,tokens,val_loss\n1e6,1e9,3.1\n2e6,1e9,3.0\n", /2 runs; the fit has 5 parameters and needs at least 5 runs/],
    ["", /empty file/],
  ];
  for (const [i, [text, re]] of cases.entries()) {
    const r = run(["sweep", "fit", "--csv", write(`bad${i}.csv`, text)]);
    assert.equal(r.code, 2, `case ${i}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^llama-ts: error: /);
  }
  const missing = run(["sweep", "fit", "--csv", path.join(dir, "nope.csv")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no such file/);
});
