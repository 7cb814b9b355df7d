/**
 * `llama-ts quantize` and `llama-ts convert` as a user runs them, and `logits` / `generate`
 * with `--model FILE.gguf`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { assertClose, fixturesDir, repoRoot } from "../helpers.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-convert-cli-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

function run(args: string[], env: NodeJS.ProcessEnv = process.env): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const model = path.join(fixturesDir, "models", "mqa-f16-sharded");
const expected = JSON.parse(fs.readFileSync(path.join(fixturesDir, "models", "mqa-f16-sharded.expected.json"), "utf8")) as {
  tokens: number[]; logits: number[][]; greedy_prompt: number[]; greedy_tokens: number[];
};

test("quantize --type f16|q8_0 writes a GGUF that logits and generate read", () => {
  for (const type of ["f16", "q8_0"]) {
    const out = path.join(tmp, `m-${type}.gguf`);
    const q = run(["quantize", "--model", model, "--type", type, "--out", out, "--no-vocab"]);
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout, new RegExp(`wrote .*m-${type}\\.gguf \\(${type}`));
    const r = run(["logits", "--model", out, "--tokens", expected.tokens.join(",")]);
    assert.equal(r.code, 0, r.stderr);
    const logits = (JSON.parse(r.stdout) as { logits: number[][] }).logits.flat();
    // f16 is exact for this f16 fixture; q8_0 measured 4.7e-2 (q/k x6 fixture)
    assertClose(logits, expected.logits.flat(), type === "f16" ? 1e-4 : 0.1, `${type} logits`);
  }
  const g = run(["generate", "--model", path.join(tmp, "m-f16.gguf"), "--tokens", expected.greedy_prompt.join(","), "--max-tokens", String(expected.greedy_tokens.length), "--temperature", "0", "--json"]);
  assert.equal(g.code, 0, g.stderr);
  const toks = (JSON.parse(g.stdout) as { tokens: number[] }).tokens;
  assert.deepEqual(toks, expected.greedy_tokens.slice(0, toks.length));
});

test("convert folder -> .gguf -> .bin (v1) -> .bin (legacy) -> folder keeps the logits exactly", () => {
  const a = path.join(tmp, "a.gguf"), b = path.join(tmp, "b.bin"), c = path.join(tmp, "c.bin"), d = path.join(tmp, "d");
  // llama2.c assumes eps 1e-5 and theta 10000, which this fixture has
  for (const [from, to, extra] of [[model, a, ["--no-vocab"]], [a, b, ["--bin-version", "1"]], [b, c, []], [c, d, []]] as const) {
    const r = run(["convert", "--from", from, "--to", to, ...extra]);
    assert.equal(r.code, 0, r.stderr);
  }
  // The same float32 values everywhere: compared on the reference backend, since the native one
  // runs the f16 source folder with its f16 kernels (weights kept as stored) and the f32 copies
  // with the f32 ones, which round differently.
  const ref = { ...process.env, LLAMA_TS_BACKEND: "reference" };
  const want = JSON.parse(run(["logits", "--model", model, "--tokens", "1,2,3"], ref).stdout) as unknown;
  for (const p of [a, d]) {
    const got = JSON.parse(run(["logits", "--model", p, "--tokens", "1,2,3"], ref).stdout) as unknown;
    assert.deepEqual(got, want, p);
  }
});

test("convert / quantize mistakes: one line, exit code 2", () => {
  const cases: Array<[string[], RegExp]> = [
    [["convert", "--from", path.join(tmp, "missing"), "--to", path.join(tmp, "x.gguf")], /does not exist/],
    [["convert", "--from", model, "--to", path.join(tmp, "x.txt")], /unknown output format/],
    [["convert", "--from", model, "--to", path.join(tmp, "x.bin"), "--type", "q8_0"], /applies to \.gguf output/],
    [["convert", "--from", model, "--to", path.join(tmp, "x.gguf"), "--type", "q5_k"], /--type must be one of/],
    [["quantize", "--model", model, "--type", "q4_0", "--out", path.join(tmp, "x.bin")], /--out must be a \.gguf/],
    [["quantize", "--model", model, "--type", "q5_k", "--out", path.join(tmp, "x.gguf")], /--type must be one of f32, f16, q8_0, q4_0, q6_K/],
    [["logits", "--model", path.join(fixturesDir, "models", "gqa-f32.expected.json"), "--tokens", "1"], /./],
  ];
  fs.writeFileSync(path.join(tmp, "junk.gguf"), "GGUF not really");
  cases.push([["logits", "--model", path.join(tmp, "junk.gguf"), "--tokens", "1"], /junk\.gguf/]);
  for (const [args, re] of cases) {
    const r = run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
