/**
 * `llama-ts convert --from META_DIR --to OUT` as a user runs it: Meta checkpoints written by
 * torch.save (tools/gen_pth_fixtures.py) become HF folders whose logits match the fixture's
 * Meta-math reference; malicious or damaged checkpoints are one line, exit 2, nothing executed
 * and nothing written.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { assertClose, fixturesDir, repoRoot } from "../helpers.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
const meta = path.join(fixturesDir, "meta");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-meta-cli-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
/** The file the os.system / eval payloads would create (tools/gen_pth_fixtures.py MARKER). */
const MARKER = "/tmp/llama-ts-pth-pwned-marker";

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

for (const [name, from] of [["single-f16", "single-f16"], ["mp2-bf16-gqa", path.join("mp2-bf16-gqa", "consolidated.00.pth")]] as const) {
  test(`convert ${from} -> HF folder: logits match Meta's reference`, () => {
    const e = JSON.parse(fs.readFileSync(path.join(meta, `${name}.expected.json`), "utf8")) as { tokens: number[]; logits: number[][] };
    const out = path.join(tmp, name);
    const c = run(["convert", "--from", path.join(meta, from), "--to", out]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /\(meta\)/);
    const r = run(["logits", "--model", out, "--tokens", e.tokens.join(",")]);
    assert.equal(r.code, 0, r.stderr);
    assertClose((JSON.parse(r.stdout) as { logits: number[][] }).logits.flat(), e.logits.flat(), 1e-4, `${name} logits`);
  });
}

// The other damaged files of test/fixtures/meta/evil are refused by the reader (test/formats/pth.test.ts).
test("malicious or damaged checkpoints: one line, exit 2, payload not run, nothing written", () => {
  fs.rmSync(MARKER, { force: true });
  const cases: Array<[string, RegExp]> = [
    ["os-system", /refused pickle global posix\.system/],
    ["builtins-eval", /refused pickle global __builtin__\.eval/],
    ["opcode-inst", /unsupported pickle opcode 0x69/],
    ["storage-past-end", /but its data entry holds 16 bytes/],
  ];
  for (const [name, re] of cases) {
    const out = path.join(tmp, `evil-${name}`);
    const r = run(["convert", "--from", path.join(meta, "evil", name), "--to", out]);
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.match(r.stderr, /^llama-ts: error: /);
    assert.match(r.stderr, re, name);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.equal(fs.existsSync(out), false, `${name}: output written`);
    assert.equal(fs.existsSync(MARKER), false, `${name}: the payload ran`);
  }
  // A lone .pth without params.json is not a Meta release.
  const r = run(["convert", "--from", path.join(meta, "tensors.pth"), "--to", path.join(tmp, "x")]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /params\.json and consolidated\.NN\.pth/);
});
