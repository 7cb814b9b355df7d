/**
 * Training runs are never lost, run as a user would (the CLI in a child process): a
 * non-empty --out is refused without --resume/--overwrite and --overwrite deletes nothing
 * it did not write; --resume takes the saved options (from any working directory) and
 * refuses conflicting flags; the lock refuses a second training and takes over a stale one;
 * unrelated *.tmp-* / *.next files survive; size caps and the memory estimate refuse before
 * allocating; Ctrl-C saves, exits 130 and resumes to the uninterrupted final loss;
 * `train --text` trains from one file. Every refusal: exit 2, one stderr line, files untouched.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { prepareDataset } from "../../src/data/prepare.js";
import { fixturesDir, repoRoot } from "../helpers.js";
import { ByteTokenizer } from "../data/helpers.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
const fx = path.join(fixturesDir, "train");

interface Run { code: number; stdout: string; stderr: string }

function run(args: string[], cwd?: string): Run {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", ...(cwd ? { cwd } : {}) });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function tmp(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `llama-ts-safety-${tag}-`));
}

/** Exit 2 with exactly one `llama-ts: error:` line matching `want`. */
function assertRefused(r: Run, want: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line expected:\n${r.stderr}`);
  assert.match(lines[0]!, /^llama-ts: error: /);
  assert.match(lines[0]!, want);
}

/** Name -> content of every file under dir (to show a refusal touched nothing). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) out[f] = fs.readFileSync(p).toString("base64");
  }
  return out;
}

const tiny = ["--data", path.join(fx, "tokens.bin"), "--init", path.join(fx, "model"), "--batch", "2", "--seq-len", "8"];
const losses = (stdout: string): number[] => stdout.trim().split("\n").filter((l) => l.length > 0).map((l) => (JSON.parse(l) as { loss: number }).loss);

test("a non-empty --out is refused without --resume/--overwrite; --overwrite replaces only a run's own files", () => {
  const dir = tmp("out");
  const runDir = path.join(dir, "run");
  assert.equal(run(["train", ...tiny, "--steps", "2", "--out", runDir]).code, 0);
  const before = snapshot(runDir);
  assertRefused(run(["train", ...tiny, "--steps", "3", "--out", runDir]), /already holds a training run; add --resume to continue it, or --overwrite/);
  assert.deepEqual(snapshot(runDir), before);

  const other = path.join(dir, "mine");
  fs.mkdirSync(other);
  fs.writeFileSync(path.join(other, "notes.txt"), "mine");
  assertRefused(run(["train", ...tiny, "--steps", "2", "--out", other]), /is not empty .*"notes.txt".*--overwrite/);
  assert.deepEqual(fs.readdirSync(other), ["notes.txt"]);

  // --overwrite on the run: a new run, the user's files beside it kept.
  fs.writeFileSync(path.join(runDir, "notes.txt"), "mine");
  fs.writeFileSync(path.join(runDir, "x.tmp-123"), "mine");
  fs.writeFileSync(path.join(runDir, "y.next"), "mine");
  const r = run(["train", ...tiny, "--steps", "1", "--log-json", "--out", runDir, "--overwrite"]);
  assert.equal(r.code, 0, r.stderr);
  const state = JSON.parse(fs.readFileSync(path.join(runDir, "trainer_state.json"), "utf8")) as { step: number };
  assert.equal(state.step, 1);
  for (const f of ["notes.txt", "x.tmp-123", "y.next"]) assert.equal(fs.readFileSync(path.join(runDir, f), "utf8"), "mine", f);
  assert.ok(!fs.existsSync(path.join(runDir, ".llama-ts-train.lock")), "the lock is released");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("--resume takes the saved options (a prepared dataset, seed 1), from another working directory; conflicting flags are refused", async () => {
  const dir = tmp("resume");
  const corpus = path.join(dir, "corpus.txt");
  fs.writeFileSync(corpus, Array.from({ length: 80 }, (_, i) => `Line ${i}: a small corpus for a resumable run, with words ${i * 13}.`).join("\n\n"));
  fs.writeFileSync(path.join(dir, "tok.model"), "tokenizer bytes");
  await prepareDataset(
    { sources: [{ name: "text", paths: [corpus], format: "text", weight: 1, split: "paragraphs", chunkChars: 200 }], valFraction: 0.1, seed: 3 },
    { outDir: path.join(dir, "data"), tokenizer: new ByteTokenizer(), tokenizerPath: path.join(dir, "tok.model"), shardTokens: 4096 },
  );
  // The schedule spans 6 steps in both runs (a shorter first run would otherwise get a shorter cosine).
  const opts = ["--config", "tiny", "--batch", "2", "--seq-len", "16", "--lr", "1e-2", "--seed", "1", "--total-steps", "6", "--warmup", "1", "--log-json"];
  const straight = run(["train", "--data", "data", ...opts, "--steps", "6", "--out", "straight"], dir);
  assert.equal(straight.code, 0, straight.stderr);
  const first = run(["train", "--data", "data", ...opts, "--steps", "3", "--out", "run"], dir);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(fs.readFileSync(path.join(dir, "run", "tokenizer.model"), "utf8"), "tokenizer bytes");

  // Conflicts name the flag, the saved and the given value; nothing changes.
  const before = snapshot(path.join(dir, "run"));
  assertRefused(run(["train", "--resume", "--out", "run", "--seed", "0"], dir), /--seed 0 conflicts with the run's saved --seed 1/);
  assertRefused(run(["train", "--resume", "--out", "run", "--batch", "4"], dir), /--batch 4 conflicts with the run's saved --batch 2/);
  assertRefused(run(["train", "--resume", "--out", "run", "--config", "small"], dir), /--config small describes a different model/);
  assert.deepEqual(snapshot(path.join(dir, "run")), before);

  // --resume --steps N alone, from another directory: the saved data, seed and schedule.
  const elsewhere = tmp("cwd");
  const resumed = run(["train", "--resume", "--out", path.join(dir, "run"), "--steps", "6", "--log-json", "--lr", "1e-2"], elsewhere);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual([...losses(first.stdout), ...losses(resumed.stdout)], losses(straight.stdout));
  assert.ok(!fs.readdirSync(path.join(dir, "run")).some((f) => f.endsWith(".next")));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(elsewhere, { recursive: true, force: true });
});

test("one training per --out: a live lock refuses, a stale one is taken over; unrelated *.tmp-* and *.next files survive", () => {
  const dir = tmp("lock");
  const runDir = path.join(dir, "run");
  assert.equal(run(["train", ...tiny, "--steps", "1", "--out", runDir]).code, 0);
  const lock = path.join(runDir, ".llama-ts-train.lock");
  fs.writeFileSync(lock, `${process.pid}\n`); // this test process is alive
  assertRefused(run(["train", "--resume", "--out", runDir, "--steps", "2"]), new RegExp(`is being trained by process ${process.pid}`));
  assert.equal(fs.readFileSync(lock, "utf8"), `${process.pid}\n`);

  const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
  fs.writeFileSync(lock, `${dead}\n`);
  for (const f of ["notes.tmp-123", "other.next", "model.safetensors.bak"]) fs.writeFileSync(path.join(runDir, f), "mine");
  fs.writeFileSync(path.join(runDir, "model.safetensors.tmp-99"), "half of one of our writes");
  const r = run(["train", "--resume", "--out", runDir, "--steps", "2"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`taking over the stale lock .* of process ${dead}`));
  assert.ok(!fs.existsSync(lock));
  for (const f of ["notes.tmp-123", "other.next", "model.safetensors.bak"]) assert.equal(fs.readFileSync(path.join(runDir, f), "utf8"), "mine", f);
  assert.ok(!fs.existsSync(path.join(runDir, "model.safetensors.tmp-99")), "our own half-written file is removed by its exact name");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("two trainings started together into one new --out: one trains, the other is refused with one line", async () => {
  const dir = tmp("race");
  const out = path.join(dir, "run");
  const start = (): Promise<Run> => new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, "train", ...tiny, "--steps", "20", "--out", out], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on("data", (b: Buffer) => { stderr += b.toString(); });
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  const results = await Promise.all([start(), start()]);
  const codes = results.map((r) => r.code).sort();
  assert.deepEqual(codes, [0, 2], results.map((r) => r.stderr).join("\n---\n"));
  assertRefused(results.find((r) => r.code === 2)!, /is being (trained by process \d+|claimed by another training)|already holds a training run|is not empty/);
  assert.equal((JSON.parse(fs.readFileSync(path.join(out, "trainer_state.json"), "utf8")) as { step: number }).step, 20);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("caps and the memory estimate: one line with the allowed range or the memory needed, nothing written", () => {
  const dir = tmp("caps");
  const out = path.join(dir, "run");
  const data = ["--data", path.join(fx, "tokens.bin"), "--out", out];
  assertRefused(run(["train", ...data, "--steps", "1e30"]), /--steps: 1e30 is outside the allowed range 1\.\.10000000/);
  assertRefused(run(["train", ...data, "--grad-accum", "1e30"]), /--grad-accum: 1e30 is outside the allowed range 1\.\.65536/);
  assertRefused(run(["train", ...data, "--batch", "1e30"]), /--batch: 1e30 is outside the allowed range 1\.\.65536/);
  assertRefused(run(["train", ...data, "--seq-len", "1e30"]), /--seq-len: 1e30 is outside the allowed range 1\.\.1048576/);
  const gib = (os.totalmem() / 2 ** 30).toFixed(1);
  // 65B needs ~1 TiB on any machine (7B against a 24 GiB machine: test/train/plot.test.ts).
  assertRefused(run(["train", ...data, "--config", "65B"]), new RegExp(`needs about [\\d.]+ GiB \\(65.29B parameters: .*this machine has ${gib} GiB in total`));
  assertRefused(run(["start", "--vocab-size", "300", "--out", out]), /--vocab-size: 300 is outside the allowed range 512\.\.65536/);
  assertRefused(run(["start", "--steps", "1e30", "--out", out]), /--steps: 1e30 is outside the allowed range 1\.\.10000000/);
  assert.deepEqual(fs.readdirSync(dir), [], "nothing written");
  // `start` into a folder with someone else's files.
  fs.writeFileSync(path.join(dir, "notes.txt"), "mine");
  assertRefused(run(["start", "--steps", "1", "--out", dir]), /holds files that `start` did not write \(e\.g\. "notes\.txt"\)/);
  assert.deepEqual(fs.readdirSync(dir), ["notes.txt"]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("Ctrl-C saves and exits 130; --resume reaches the uninterrupted final loss", async () => {
  const dir = tmp("sigint");
  const common = [...tiny, "--lr", "1e-2", "--warmup", "5", "--steps", "40", "--save-every", "1000", "--log-json"];
  const straight = run(["train", ...common, "--out", path.join(dir, "straight")]);
  assert.equal(straight.code, 0, straight.stderr);
  const want = losses(straight.stdout);

  const runDir = path.join(dir, "run");
  const child = spawn(process.execPath, [cli, "train", ...common, "--out", runDir], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => { stderr += b.toString(); });
  child.stdout.on("data", (b: Buffer) => {
    stdout += b.toString();
    if (stdout.includes("\n") && !child.killed) child.kill("SIGINT"); // after the first logged step
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /SIGINT: saved the run at step \d+; continue with: llama-ts train --resume --out /);
  const state = JSON.parse(fs.readFileSync(path.join(runDir, "trainer_state.json"), "utf8")) as { step: number };
  assert.ok(state.step >= 1 && state.step < 40, `saved at step ${state.step}`);
  assert.ok(fs.existsSync(path.join(runDir, "loss.svg")), "the loss picture is written with the save");
  const resumed = run(["train", "--resume", "--out", runDir, "--log-json"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  const lines = resumed.stdout.trim().split("\n").map((l) => JSON.parse(l) as { step: number; loss: number });
  assert.equal(lines.length, 40 - state.step);
  assert.equal(lines[0]!.step, state.step);
  for (const l of lines) assert.equal(l.loss, want[l.step], `step ${l.step}`); // the final loss included
  fs.rmSync(dir, { recursive: true, force: true });
});

test("train --text FILE: tokenizer, shards and a run in one command, printing its choices; --resume continues it", () => {
  const dir = tmp("text");
  const text = path.join(dir, "corpus.txt");
  const words = ["the", "whale", "sea", "ship", "captain", "said", "and", "of", "a", "to", "in", "white", "long", "voyage"];
  let s = "";
  for (let i = 0; s.length < 30_000; i++) s += (i % 9 === 8 ? "\n\n" : "") + words[(i * 7 + (i >> 3)) % words.length] + (i % 11 === 10 ? ". " : " ");
  fs.writeFileSync(text, s);
  const out = path.join(dir, "run");
  const r = run(["train", "--text", text, "--out", out, "--steps", "2", "--batch", "2", "--seq-len", "16"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /chose: vocabulary \d+; model small \([\d.]+M parameters: dim 192, 4 layers, 6 heads\); 2 steps of 2×16 tokens/);
  for (const f of ["config.json", "model.safetensors", "tokenizer.model", "trainer_state.json", "loss.svg", "data/manifest.json", "data/tokenizer.model"]) {
    assert.ok(fs.existsSync(path.join(out, f)), f);
  }
  const resumed = run(["train", "--resume", "--out", out, "--steps", "3"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal((JSON.parse(fs.readFileSync(path.join(out, "trainer_state.json"), "utf8")) as { step: number }).step, 3);
  assertRefused(run(["train", "--text", path.join(dir, "missing.txt"), "--out", path.join(dir, "r2")]), /--text .*missing\.txt: no such file/);
  fs.rmSync(dir, { recursive: true, force: true });
});
