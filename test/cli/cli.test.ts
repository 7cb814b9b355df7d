/**
 * The command-line contracts, run as a user would: `logits`, `generate --json`, `train`
 * (including kill + --resume), and one-line errors with exit code 2.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { assertClose, fixturesDir, repoRoot } from "../helpers.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");

function run(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const model = path.join(fixturesDir, "models", "gqa-f32");
const expected = JSON.parse(fs.readFileSync(path.join(fixturesDir, "models", "gqa-f32.expected.json"), "utf8")) as {
  tokens: number[]; logits: number[][]; greedy_prompt: number[]; greedy_tokens: number[];
};

test("logits --tokens prints every row; --last only the last", () => {
  const r = run(["logits", "--model", model, "--tokens", expected.tokens.join(",")]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { logits: number[][] };
  assert.equal(out.logits.length, expected.tokens.length);
  assertClose(out.logits.flat(), expected.logits.flat(), 1e-4, "logits");
  const last = JSON.parse(run(["logits", "--model", model, "--tokens", expected.tokens.join(","), "--last"]).stdout) as { logits: number[][] };
  assert.equal(last.logits.length, 1);
  assertClose(last.logits[0]!, expected.logits[expected.logits.length - 1]!, 1e-4, "last row");
});

test("generate --temperature 0 --json gives PyTorch's greedy tokens (no text without a tokenizer)", () => {
  const r = run(["generate", "--model", model, "--tokens", expected.greedy_prompt.join(","), "--max-tokens", String(expected.greedy_tokens.length), "--temperature", "0", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { tokens: number[]; text?: string };
  // Generation stops early at EOS (id 2); compare up to there.
  const eos = expected.greedy_tokens.indexOf(2);
  assert.deepEqual(out.tokens, eos < 0 ? expected.greedy_tokens : expected.greedy_tokens.slice(0, eos));
  assert.equal(out.text, undefined);
});

test("seeded sampling repeats; different seeds differ", () => {
  const args = ["generate", "--model", model, "--tokens", "5,6,7", "--max-tokens", "20", "--temperature", "1.5", "--top-p", "0.95", "--json"];
  const a = JSON.parse(run([...args, "--seed", "1"]).stdout) as { tokens: number[] };
  const b = JSON.parse(run([...args, "--seed", "1"]).stdout) as { tokens: number[] };
  const c = JSON.parse(run([...args, "--seed", "2"]).stdout) as { tokens: number[] };
  assert.deepEqual(a.tokens, b.tokens);
  assert.notDeepEqual(a.tokens, c.tokens);
});

test("--version prints the package version", () => {
  const r = run(["--version"]);
  assert.equal(r.code, 0);
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string };
  assert.equal(r.stdout.trim(), pkg.version);
});

test("user mistakes are one line on stderr with exit code 2", () => {
  const cases: Array<[string[], RegExp]> = [
    [["logits", "--model", "/no/such/dir", "--tokens", "1"], /does not exist/],
    [["logits", "--model", model, "--tokens", "1,x"], /"x" is not an integer/],
    [["logits", "--model", model, "--tokens", "1,500"], /token id 500 is outside/],
    [["generate", "--model", model, "--prompt", "hello"], /--prompt needs a tokenizer/],
    [["generate", "--model", model], /exactly one of --prompt/],
    [["generate", "--model", model, "--tokens", "1", "--top-p", "2"], /--top-p: 2 is above the maximum 1/],
    [["generate", "--model", model, "--tokens", "1", "--temperature", "-1"], /--temperature/],
  ];
  for (const [args, pattern] of cases) {
    const r = run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}, stderr ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line expected: ${r.stderr}`);
  }
});

test("LLAMA_TS_BACKEND=reference gives the same logits", () => {
  const r = run(["logits", "--model", model, "--tokens", expected.tokens.join(","), "--last"], { LLAMA_TS_BACKEND: "reference" });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { logits: number[][] };
  assertClose(out.logits[0]!, expected.logits[expected.logits.length - 1]!, 1e-4);
  assert.equal(run(["logits", "--model", model, "--tokens", "1"], { LLAMA_TS_BACKEND: "gpu" }).code !== 0, true);
});

interface StepLine { step: number; loss: number; lr: number; grad_norm: number; tokens_per_s: number }

test("train --log-json follows the contract (PyTorch losses); stop + --resume gives the same losses", () => {
  const dir = path.join(fixturesDir, "train");
  const exp = JSON.parse(fs.readFileSync(path.join(dir, "expected.json"), "utf8")) as { steps: Array<{ loss: number; lr: number }> };
  const common = ["--data", path.join(dir, "tokens.bin"), "--batch", "2", "--grad-accum", "2", "--seq-len", "8", "--lr", "3e-2", "--warmup", "2", "--total-steps", "5", "--log-json"];
  const out1 = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-cli-"));
  const r = run(["train", ...common, "--init", path.join(dir, "model"), "--out", out1, "--steps", "6"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as StepLine);
  assert.deepEqual(lines.map((l) => l.step), [0, 1, 2, 3, 4, 5]);
  lines.forEach((l, i) => {
    assert.ok(Math.abs(l.loss - exp.steps[i]!.loss) < 2e-5 * exp.steps[i]!.loss, `step ${i}: ${l.loss} vs ${exp.steps[i]!.loss}`);
    assert.ok(Math.abs(l.lr - exp.steps[i]!.lr) < 1e-12);
    assert.ok(l.grad_norm > 0 && l.tokens_per_s > 0);
  });
  const out2 = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-cli-"));
  const a = run(["train", ...common, "--init", path.join(dir, "model"), "--out", out2, "--steps", "2"]);
  const b = run(["train", ...common, "--resume", "--out", out2, "--steps", "6"]);
  assert.equal(b.code, 0, b.stderr);
  const resumed = [...a.stdout.trim().split("\n"), ...b.stdout.trim().split("\n")].map((l) => (JSON.parse(l) as StepLine).loss);
  assert.deepEqual(resumed, lines.map((l) => l.loss));
  for (const f of ["config.json", "generation_config.json", "model.safetensors", "checkpoint/optimizer.safetensors", "trainer_state.json", "loss.svg"]) {
    assert.ok(fs.existsSync(path.join(out2, f)), f);
  }
  // The run folder is a model folder.
  const g = run(["generate", "--model", out2, "--tokens", "1,2,3", "--max-tokens", "3", "--json"]);
  assert.equal(g.code, 0, g.stderr);
});

test("train killed with SIGKILL at a random moment resumes with exactly the uninterrupted losses", async () => {
  const dir = path.join(fixturesDir, "train");
  const common = ["--data", path.join(dir, "tokens.bin"), "--batch", "2", "--seq-len", "8", "--lr", "1e-2", "--warmup", "5", "--steps", "150", "--save-every", "1", "--log-json"];
  const straightDir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-kill-"));
  const straight = run(["train", ...common, "--init", path.join(dir, "model"), "--out", straightDir]);
  assert.equal(straight.code, 0, straight.stderr);
  const want = straight.stdout.trim().split("\n").map((l) => (JSON.parse(l) as StepLine).loss);

  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-kill-"));
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, [cli, "train", ...common, "--init", path.join(dir, "model"), "--out", runDir], { stdio: "ignore" });
  // Kill once a few checkpoints exist (often in the middle of writing the next one).
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      const f = path.join(runDir, "trainer_state.json");
      if (fs.existsSync(f)) {
        try {
          if ((JSON.parse(fs.readFileSync(f, "utf8")) as { step: number }).step >= 20) { clearInterval(poll); resolve(); }
        } catch { /* being renamed */ }
      }
    }, 5);
  });
  child.kill("SIGKILL");
  await new Promise((r) => child.on("exit", r));
  const resumed = run(["train", ...common, "--resume", "--out", runDir]);
  assert.equal(resumed.code, 0, resumed.stderr);
  const lines = resumed.stdout.trim().split("\n").map((l) => JSON.parse(l) as StepLine);
  assert.ok(lines.length > 0 && lines[lines.length - 1]!.step === 149);
  for (const l of lines) assert.equal(l.loss, want[l.step], `step ${l.step}`);
});

test("a NaN loss stops training with one clear line, exit 2, and the last checkpoint intact", () => {
  const dir = path.join(fixturesDir, "train");
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-nan-"));
  const r = run(["train", "--data", path.join(dir, "tokens.bin"), "--init", path.join(dir, "model"), "--out", out, "--steps", "20",
    "--batch", "2", "--seq-len", "8", "--lr", "1e30", "--warmup", "0", "--save-every", "1", "--log-json"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /llama-ts: error: step \d+: the loss is NaN.*last checkpoint .* is intact/);
  const state = JSON.parse(fs.readFileSync(path.join(out, "trainer_state.json"), "utf8")) as { step: number; losses: number[] };
  assert.ok(state.step >= 1 && state.losses.every((l) => Number.isFinite(l)));
  // The checkpoint is a loadable model with finite weights.
  const g = run(["logits", "--model", out, "--tokens", "1,2", "--last"]);
  assert.equal(g.code, 0, g.stderr);
});

test("generate --prompt encodes with the folder's tokenizer; --json text is the decoded continuation", async () => {
  const { saveModelFolder } = await import("../../src/formats/hf-folder.js");
  const { initParams } = await import("../../src/model/init.js");
  const { presetConfig } = await import("../../src/model/config.js");
  const { SentencePieceTokenizer } = await import("../../src/tokenizer/index.js");
  const tokPath = path.join(fixturesDir, "tokenizer", "small-bpe.model");
  const tok = SentencePieceTokenizer.fromFile(tokPath);
  const config = { ...presetConfig("tiny"), vocabSize: tok.vocabSize };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-prompt-"));
  saveModelFolder(dir, config, initParams(config, 3, 0.5), { tokenizerPath: tokPath });
  const r = run(["generate", "--model", dir, "--prompt", "Hello world", "--max-tokens", "12", "--temperature", "0", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { tokens: number[]; text: string };
  assert.equal(out.text, tok.decode(out.tokens));
  // Same as feeding the ids SentencePiece gives for the prompt, with BOS.
  const ids = [tok.bosId, ...tok.encode("Hello world")];
  const viaIds = JSON.parse(run(["generate", "--model", dir, "--tokens", ids.join(","), "--max-tokens", "12", "--temperature", "0", "--json"]).stdout) as { tokens: number[] };
  assert.deepEqual(out.tokens, viaIds.tokens);
  // The prompt from a file or stdin is the same prompt; --json has the stop reason and speed.
  const file = path.join(dir, "prompt.txt");
  fs.writeFileSync(file, "Hello world");
  const fromFile = JSON.parse(run(["generate", "--model", dir, "--prompt-file", file, "--max-tokens", "12", "--temperature", "0", "--json"]).stdout) as { tokens: number[]; stop_reason: string; timings: { prompt_tokens: number } };
  assert.deepEqual(fromFile.tokens, out.tokens);
  assert.ok(["eos", "max_tokens"].includes(fromFile.stop_reason));
  assert.equal(fromFile.timings.prompt_tokens, ids.length);
  // Streaming prints the prompt and the same continuation.
  const s = run(["generate", "--model", dir, "--prompt", "Hello world", "--max-tokens", "12", "--temperature", "0"]);
  assert.equal(s.stdout, tok.decode([...ids, ...out.tokens]) + "\n");
});
