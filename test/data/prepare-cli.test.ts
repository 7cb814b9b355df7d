import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Command } from "commander";
import { parseTokenCount, register } from "../../src/cli/commands/prepare.js";
import { readManifest } from "../../src/data/shards.js";
import { UserError } from "../../src/util/errors.js";
import { repoRoot, sharedFixturesDir } from "../helpers.js";
import { tempDir } from "./helpers.js";

function program(): Command {
  const p = new Command().exitOverride();
  register(p);
  return p;
}

test("--plan-tokens accepts K/M/B/T suffixes", () => {
  assert.equal(parseTokenCount("5000", "--plan-tokens"), 5000);
  assert.equal(parseTokenCount("20M", "--plan-tokens"), 20e6);
  assert.equal(parseTokenCount("1.4T", "--plan-tokens"), 1.4e12);
  assert.equal(parseTokenCount("2e6", "--plan-tokens"), 2e6);
  assert.throws(() => parseTokenCount("lots", "--plan-tokens"), (e: unknown) => e instanceof UserError && /--plan-tokens: "lots" is not a token count/.test(e.message));
});

test("prepare: user mistakes are one-line UserErrors naming the flag or file", async () => {
  const t = tempDir("cli");
  try {
    const mix = path.join(t.dir, "mixture.json");
    writeFileSync(mix, JSON.stringify({ sources: [{ name: "a", paths: ["a.txt"], format: "txt", weight: 1 }] }));
    const run = (args: string[]) => program().parseAsync(["prepare", ...args], { from: "user" });
    await assert.rejects(run(["--tokenizer", "t.model", "--out", t.dir]), (e: unknown) => e instanceof UserError && /needs --mixture FILE/.test(e.message));
    await assert.rejects(run(["--mixture", mix, "--bundled", "--tokenizer", "t.model", "--out", t.dir]), (e: unknown) => e instanceof UserError && /not both/.test(e.message));
    await assert.rejects(run(["--mixture", mix, "--tokenizer", "t.model", "--out", t.dir]), (e: unknown) => e instanceof UserError && e.message === `${mix}: sources[0].format must be "text", "jsonl" or "parquet" (got "txt")`);
    writeFileSync(mix, JSON.stringify({ sources: [{ name: "a", paths: ["a.txt"], format: "text", weight: 1 }] }));
    await assert.rejects(run(["--mixture", mix, "--tokenizer", path.join(t.dir, "none.model"), "--out", t.dir]), (e: unknown) => e instanceof UserError && /none\.model: no such file/.test(e.message));
    await assert.rejects(run(["--mixture", mix, "--tokenizer", "t.model", "--out", t.dir, "--shard-tokens", "12"]), (e: unknown) => e instanceof UserError && /--shard-tokens/.test(e.message));
  } finally {
    t.cleanup();
  }
});

const tokenizerModule = path.join(repoRoot, "dist", "src", "tokenizer", "index.js");
const llamaModel = path.join(sharedFixturesDir, "llama-tokenizer.model");
const haveTokenizer = existsSync(tokenizerModule) && existsSync(llamaModel);

test("llama-ts prepare with the real LLaMA tokenizer writes uint16 shards and a JSON report", { skip: haveTokenizer ? false : "src/tokenizer or the shared LLaMA tokenizer.model is not available" }, () => {
  const t = tempDir("cli-real");
  try {
    writeFileSync(path.join(t.dir, "a.txt"), "The quick brown fox jumps over the lazy dog. ".repeat(20));
    writeFileSync(path.join(t.dir, "b.jsonl"), JSON.stringify({ text: "Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about." }) + "\nnot json\n");
    const mix = path.join(t.dir, "mixture.json");
    writeFileSync(mix, JSON.stringify({ sources: [{ name: "txt", paths: ["a.txt"], format: "text", weight: 3 }, { name: "js", paths: ["b.jsonl"], format: "jsonl", weight: 1 }], valFraction: 0 }));
    const out = path.join(t.dir, "out");
    const r = spawnSync(process.execPath, [path.join(repoRoot, "dist", "src", "cli", "main.js"), "prepare", "--mixture", mix, "--tokenizer", llamaModel, "--out", out, "--plan-tokens", "1K", "--json"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { sources: { name: string; trainTokens: number; malformed: number; epochs: number }[]; warnings: number };
    assert.equal(report.warnings, 1);
    assert.match(r.stderr, /b\.jsonl:2: malformed JSON/);
    const m = readManifest(out);
    assert.equal(m.dtype, "uint16");
    assert.equal(m.tokenizer.vocabSize, 32000);
    assert.equal(m.tokenizer.bosId, 1);
    assert.equal(report.sources[0]!.trainTokens, m.sources[0]!.train.tokens);
    assert.ok(Math.abs(report.sources[1]!.epochs - 250 / m.sources[1]!.train.tokens) < 1e-9);
  } finally {
    t.cleanup();
  }
});
