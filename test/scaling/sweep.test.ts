/**
 * The sweep: grid planning under a budget (pure), shapes and FLOP counts against hand
 * computations, and an end-to-end tiny sweep that is SIGKILLed mid-grid and resumed without
 * retraining its finished runs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { repoRoot } from "../helpers.js";
import { ByteTokenizer, tempDir } from "../data/helpers.js";
import { prepareDataset } from "../../src/data/prepare.js";
import { parseMixture } from "../../src/data/mixture.js";
import { countedTrainingFlops, nonEmbeddingParams, planGrid, sweepShape, type Calibration } from "../../src/scaling/sweep.js";
import { paramLayout } from "../../src/model/params.js";

const calib: Calibration[] = [32, 48, 64, 96, 128].map((dim, i) => ({ dim, params: 12 * dim * dim * Math.round(dim / 32), secondsPerStep: 0.01 * (i + 1) }));

test("planGrid: a big budget keeps every width × 3 IsoFLOP budgets and fills the budget", () => {
  const runs = planGrid(calib, { budgetSeconds: 3600, tokensPerStep: 512, minSteps: 20 });
  assert.equal(runs.length, 15);
  const est = runs.reduce((s, r) => s + r.estSeconds, 0);
  assert.ok(est > 3600 * 0.97 && est < 3600 * 1.03, `estimated ${est}`);
  // Each budget has one run per width at (nearly) the same 6ND, 3× apart.
  for (let k = 0; k < 3; k++) {
    const c = runs.slice(k * 5, k * 5 + 5).map((r) => 6 * calib.find((x) => x.dim === r.dim)!.params * r.tokens);
    for (const v of c) assert.ok(Math.abs(v / c[0]! - 1) < 0.05, `budget ${k}: ${c}`);
    if (k > 0) assert.ok(Math.abs(c[0]! / (6 * calib[0]!.params * runs[(k - 1) * 5]!.tokens) - 3) < 0.1);
  }
});

test("planGrid: a small budget shrinks to ≥ 6 runs over 3 widths; a tiny one never goes below", () => {
  for (const budget of [20, 5, 0.1]) {
    const runs = planGrid(calib, { budgetSeconds: budget, tokensPerStep: 512, minSteps: 20 });
    const widths = new Set(runs.map((r) => r.dim));
    assert.ok(runs.length >= 6 && widths.size >= 3, `budget ${budget}: ${runs.length} runs over ${widths.size} widths`);
    assert.ok(runs.every((r) => r.steps >= 20));
    assert.equal(new Set(runs.map((r) => r.name)).size, runs.length, "unique run names");
  }
  // 20 s: the full grid's smallest run would be under 20 steps, so the widest sizes go.
  assert.ok(new Set(planGrid(calib, { budgetSeconds: 20, tokensPerStep: 512, minSteps: 20 }).map((r) => r.dim)).size < 5);
  // Fixed --tokens: all widths × tokens when it fits, shrunk (widths first) when not.
  assert.equal(planGrid(calib, { budgetSeconds: 1e6, tokensPerStep: 512, minSteps: 20, tokens: [10240, 20480] }).length, 10);
  const small = planGrid(calib, { budgetSeconds: 1, tokensPerStep: 512, minSteps: 20, tokens: [10240, 20480, 40960] });
  assert.equal(small.length, 6);
  assert.deepEqual([...new Set(small.map((r) => r.dim))], [32, 48, 64]);
});

test("planGrid: --flops fixes the IsoFLOP budgets whatever the calibration says", () => {
  for (const budgetSeconds of [1, 1e6]) {
    const runs = planGrid(calib, { budgetSeconds, tokensPerStep: 512, minSteps: 20, flops: [9e12, 1e12, 3e12] });
    assert.equal(runs.length, 15);
    for (const [k, c] of [1e12, 3e12, 9e12].entries()) {
      for (const r of runs.slice(k * 5, k * 5 + 5)) {
        const n = calib.find((x) => x.dim === r.dim)!.params;
        // D = C/(6N) rounded to whole steps of 512 tokens.
        assert.equal(r.steps, Math.max(20, Math.round(c / (6 * n) / 512)), r.name);
        assert.equal(r.tokens, r.steps * 512);
      }
    }
  }
});

test("sweep shapes follow the paper's rules; N and the counted FLOPs match a hand computation", () => {
  const c = sweepShape(64, { vocabSize: 259, bosId: 1, eosId: 2 }, { headDim: 16, gqa: 2, maxPositions: 64 });
  assert.equal(c.numAttentionHeads, 4);
  assert.equal(c.numKeyValueHeads, 2);
  assert.equal(c.numHiddenLayers, 2);
  assert.equal(c.intermediateSize, 176); // floor(2·4·64/3) = 170 → next multiple of 16
  // Per layer: q 64·64, k and v 32·64 each, o 64·64, FFN 3·176·64, two norms of 64.
  const perLayer = 4096 + 2048 + 2048 + 4096 + 3 * 176 * 64 + 128;
  assert.equal(nonEmbeddingParams(c), 2 * perLayer + 64);
  assert.equal(paramLayout(c).total, nonEmbeddingParams(c) + 2 * 259 * 64);
  // forward/token = 2·(matrices) + 2·V·d + 2·L·qDim·(T+1); training = 3×.
  const matrices = 2 * (4096 + 2048 + 2048 + 4096 + 3 * 176 * 64);
  assert.equal(countedTrainingFlops(c, 1000, 64), 3 * 1000 * (2 * matrices + 2 * 259 * 64 + 2 * 2 * 64 * 65));
});

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");

async function tinyDataset(dir: string): Promise<string> {
  const words = "the whale sea ship captain harpoon white deep water wind sail crew storm night moon island boat oil".split(" ");
  let s = 7;
  const r = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const lines: string[] = [];
  for (let d = 0; d < 200; d++) {
    let t = "";
    for (let i = 0; i < 50; i++) t += words[Math.floor(r() * words.length)]! + (r() < 0.1 ? ". " : " ");
    lines.push(JSON.stringify({ text: t }));
  }
  fs.writeFileSync(path.join(dir, "a.jsonl"), lines.join("\n") + "\n");
  fs.writeFileSync(path.join(dir, "tok.model"), "byte tokenizer stand-in\n");
  const mixtureFile = path.join(dir, "mixture.json");
  fs.writeFileSync(mixtureFile, JSON.stringify({ sources: [{ name: "a", paths: ["a.jsonl"], format: "jsonl", weight: 1 }], valFraction: 0.2, seed: 1 }));
  const out = path.join(dir, "data");
  await prepareDataset(parseMixture(JSON.parse(fs.readFileSync(mixtureFile, "utf8")), mixtureFile), {
    outDir: out, tokenizer: new ByteTokenizer(), tokenizerPath: path.join(dir, "tok.model"),
  });
  return out;
}

test("slow: a tiny sweep writes every output and, SIGKILLed mid-grid, resumes without retraining finished runs", async () => {
  const t = tempDir("sweep");
  try {
    const data = await tinyDataset(t.dir);
    const out = path.join(t.dir, "sweep");
    const args = [cli, "sweep", "--data", data, "--out", out, "--sizes", "8,16,24", "--head-dim", "8", "--seq-len", "16", "--batch", "4",
      "--tokens", "6400,19200", "--min-steps", "10", "--bootstrap", "10", "--serve-tokens", "1e6", "--threads", "1"];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => { stderr += b.toString(); });
    const results = (): string[] => fs.existsSync(path.join(out, "runs"))
      ? fs.readdirSync(path.join(out, "runs")).filter((n) => fs.existsSync(path.join(out, "runs", n, "result.json"))) : [];
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const deadline = Date.now() + 120_000;
    while (results().length < 2 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGKILL");
    await exited;
    const before = results();
    assert.ok(before.length >= 2 && before.length < 6, `killed after ${before.length} finished runs; ${stderr}`);
    const saved = new Map(before.map((n) => [n, fs.readFileSync(path.join(out, "runs", n, "result.json"), "utf8")]));
    const again = spawnSync(process.execPath, args, { encoding: "utf8" });
    assert.equal(again.status, 0, again.stderr);
    for (const n of before) {
      assert.match(again.stderr, new RegExp(`${n}: done earlier`));
      assert.equal(fs.readFileSync(path.join(out, "runs", n, "result.json"), "utf8"), saved.get(n), `${n} was retrained`);
    }
    assert.match(again.stderr, /continuing the sweep/);
    assert.equal(results().length, 6);
    const csv = fs.readFileSync(path.join(out, "sweep.csv"), "utf8").trim().split("\n");
    assert.equal(csv.length, 7);
    assert.equal(csv[0], "run,dim,layers,heads,kv_heads,params,params_total,tokens,steps,flops_6nd,flops_counted,val_loss,train_loss,wall_s,tokens_per_s,resumed");
    for (const row of csv.slice(1)) {
      const f = row.split(",");
      assert.ok(Number(f[11]) > 0 && Number(f[11]) < Math.log(259) + 1, `val_loss ${f[11]}`);
      assert.equal(Number(f[9]), 6 * Number(f[5]) * Number(f[7]));
    }
    const fit = JSON.parse(fs.readFileSync(path.join(out, "fit.json"), "utf8")) as Record<string, unknown>;
    for (const k of ["E", "A", "alpha", "B", "beta", "intervals", "recommendation"]) assert.ok(k in fit, `fit.json lacks ${k}`);
    for (const f of ["loss-vs-tokens.svg", "isoflop.svg", "frontier.svg"]) assert.match(fs.readFileSync(path.join(out, f), "utf8"), /^<svg[\s\S]*<\/svg>\n$/);
    assert.match(fs.readFileSync(path.join(out, "recommendation.txt"), "utf8"), /inference-aware: N/);
    // The fit command reads the sweep's CSV.
    const fitCli = spawnSync(process.execPath, [cli, "sweep", "fit", "--csv", path.join(out, "sweep.csv"), "--json", "--bootstrap", "0"], { encoding: "utf8" });
    assert.equal(fitCli.status, 0, fitCli.stderr);
    assert.equal((JSON.parse(fitCli.stdout) as { runs: number }).runs, 6);
  } finally {
    t.cleanup();
  }
});

test("sweep: no dataset is a one-line error naming npm start", () => {
  const t = tempDir("sweep-nodata");
  try {
    const r = spawnSync(process.execPath, [cli, "sweep", "--out", path.join(t.dir, "o")], { encoding: "utf8", cwd: t.dir });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^llama-ts: error: no --data given and no npm start dataset at runs\/start\/data; run `npm start`/);
    const bad = spawnSync(process.execPath, [cli, "sweep", "--data", t.dir, "--out", path.join(t.dir, "o")], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /not a prepared dataset/);
  } finally {
    t.cleanup();
  }
});
