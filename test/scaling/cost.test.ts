/**
 * `llama-ts cost`: the report's structure and sanity on a tiny model (no timing asserts), and
 * the extrapolation arithmetic against a hand computation of the paper's 7B shape.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { repoRoot } from "../helpers.js";
import { tempDir } from "../data/helpers.js";
import { saveModelFolder } from "../../src/formats/hf-folder.js";
import { initParams } from "../../src/model/init.js";
import { PRESETS, type LlamaConfig } from "../../src/model/config.js";
import { extrapolate, storedSize, type CostReport } from "../../src/scaling/cost.js";

const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");

// LLaMA 7B by hand: 32 layers of q, k, v, o (4096²) and three FFN matrices (11008 × 4096),
// two 4096 norms per layer, a final norm, a 32000 × 4096 head and embedding.
const L = 32, d = 4096, F = 11008, V = 32000;
const blockParams = L * (4 * d * d + 3 * F * d);
const normBytes = (2 * L + 1) * d * 4;
const perTokenBytes: Record<string, number> = {
  f32: (blockParams + V * d) * 4 + normBytes,
  f16: (blockParams + V * d) * 2 + normBytes,
  q8_0: ((blockParams + V * d) / 32) * 34 + normBytes,
  q4_0: (blockParams / 32) * 18 + ((V * d) / 32) * 34 + normBytes, // the head stays q8_0
};
const embedBytes: Record<string, number> = { f32: V * d * 4, f16: V * d * 2, q8_0: (V * d / 32) * 34, q4_0: (V * d / 32) * 18 };

test("extrapolation to 7B matches a hand computation (bytes per token, FLOPs, memory, $)", () => {
  const rates = { bandwidthBytesPerS: 20e9, matmulFlopsPerS: 300e9 };
  for (const type of ["f32", "f16", "q8_0", "q4_0"] as const) {
    const s = storedSize(PRESETS["7B"]!, type);
    assert.equal(s.perTokenBytes, perTokenBytes[type], type);
    assert.equal(s.totalBytes, perTokenBytes[type]! + embedBytes[type]!, type);
    assert.equal(s.matmulParams, blockParams + V * d);
    const e = extrapolate(PRESETS["7B"]!, type, rates, 4, 100, 0.05);
    assert.ok(Math.abs(e.decode_tok_s - 20e9 / perTokenBytes[type]!) < 1e-9);
    assert.ok(Math.abs(e.prefill_tok_s - 300e9 / (2 * (blockParams + V * d))) < 1e-9);
    assert.ok(Math.abs(e.ttft_ms - (100 / e.prefill_tok_s) * 1000) < 1e-6);
    const kv = 2 * L * d * 2048 * 4;
    assert.ok(Math.abs(e.peak_rss_mb - (perTokenBytes[type]! + embedBytes[type]! + kv) / 2 ** 20) < 1e-6);
    assert.ok(Math.abs(e.usd_per_mtok - (0.05 * 4 / 3600 / e.decode_tok_s) * 1e6) < 1e-9);
  }
  // q8_0 7B: 6.74e9 weights → about 7.1 GB read per token.
  assert.ok(Math.abs(perTokenBytes["q8_0"]! / 1e9 - 7.02) < 0.05, String(perTokenBytes["q8_0"]));
});

test("slow: cost --json on a tiny model: every figure positive and finite, extrapolations consistent with the measured rates", () => {
  const t = tempDir("cost");
  try {
    const c: LlamaConfig = {
      vocabSize: 256, hiddenSize: 64, intermediateSize: 192, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
      rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 64, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
    };
    const model = path.join(t.dir, "m");
    saveModelFolder(model, c, initParams(c, 1));
    const r = spawnSync(process.execPath, [cli, "cost", "--model", model, "--types", "f32,q4_0", "--threads", "1", "--json", "--prompt-tokens", "8", "--decode-tokens", "4", "--usd-per-core-hour", "0.1"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as CostReport;
    assert.deepEqual(rep.measured.map((m) => [m.type, m.threads]), [["f32", 1], ["q4_0", 1]]);
    for (const m of rep.measured) {
      for (const k of ["prefill_tok_s", "decode_tok_s", "ttft_ms", "peak_rss_mb", "usd_per_mtok", "bandwidth_gb_s", "matmul_gflop_s", "weight_mb"] as const) {
        assert.ok(Number.isFinite(m[k]) && m[k] > 0, `${m.type} ${k} = ${m[k]}`);
      }
      assert.ok(Math.abs(m.usd_per_mtok - (0.1 / 3600 / m.decode_tok_s) * 1e6) < 1e-9 * m.usd_per_mtok);
      assert.ok(Math.abs(m.prefill_tok_s - 8 / (m.ttft_ms / 1000)) < 1e-6 * m.prefill_tok_s);
      assert.ok(m.peak_rss_mb > 10 && m.peak_rss_mb < 4096);
    }
    // q4_0 weights are smaller on disk than f32.
    assert.ok(rep.measured[1]!.weight_mb < rep.measured[0]!.weight_mb);
    assert.equal(rep.extrapolated.length, 8);
    for (const e of rep.extrapolated) {
      const m = rep.measured.find((x) => x.type === e.type && x.threads === e.threads)!;
      const expect = extrapolate(PRESETS[e.preset]!, e.type, { bandwidthBytesPerS: m.bandwidth_gb_s * 1e9, matmulFlopsPerS: m.matmul_gflop_s * 1e9 }, 1, 8, 0.1);
      assert.ok(Math.abs(e.decode_tok_s / expect.decode_tok_s - 1) < 1e-12, `${e.preset} ${e.type}`);
    }
    const b7 = rep.extrapolated.find((e) => e.preset === "7B" && e.type === "f32")!;
    const m32 = rep.measured[0]!;
    assert.ok(Math.abs(b7.decode_tok_s - (m32.bandwidth_gb_s * 1e9) / perTokenBytes["f32"]!) < 1e-9 * b7.decode_tok_s);
    const table = spawnSync(process.execPath, [cli, "cost", "--model", model, "--types", "q8_0", "--prompt-tokens", "4", "--decode-tokens", "2"], { encoding: "utf8" });
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /measured \(/);
    assert.match(table.stdout, /LLaMA 65B\s+q8_0 .* extrapolated/);
  } finally {
    t.cleanup();
  }
});

test("cost: user mistakes are one line, exit 2", () => {
  for (const [args, re] of [
    [["--model", "/no/such/model"], /does not exist/],
    [["--model", "/tmp", "--types", "q5_k"], /"q5_k" is not one of/],
  ] as Array<[string[], RegExp]>) {
    const r = spawnSync(process.execPath, [cli, "cost", ...args], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  }
});
