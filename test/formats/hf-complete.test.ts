/**
 * Model folders we write are complete for Hugging Face tools: generation_config.json,
 * tokenizer.json that HF's own (Rust) tokenizers library loads with our SentencePiece ids,
 * tokenizer_config.json and special_tokens_map.json; and `convert --dtype f16|bf16` stores
 * half-precision weights that load back to the rounded values.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { Tokenizer as HfRust } from "@anush008/tokenizers";
import { loadModelFolder, saveModelFolder } from "../../src/formats/hf-folder.js";
import { openSafetensors } from "../../src/formats/safetensors.js";
import { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from "../../src/formats/half.js";
import { SentencePieceTokenizer } from "../../src/tokenizer/tokenizer.js";
import { fixturesDir, repoRoot } from "../helpers.js";

const evalModel = path.join(fixturesDir, "eval", "model");
const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");

test("a saved model folder has the files HF tools load, and HF's tokenizer gives our ids", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-hf-"));
  try {
    const src = loadModelFolder(evalModel);
    const out = path.join(dir, "m");
    saveModelFolder(out, src.config, src.params, { tokenizerPath: path.join(evalModel, "tokenizer.model") });
    for (const f of ["config.json", "generation_config.json", "model.safetensors", "tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
      assert.ok(fs.existsSync(path.join(out, f)), f);
    }
    const gen = JSON.parse(fs.readFileSync(path.join(out, "generation_config.json"), "utf8")) as { bos_token_id: number; eos_token_id: number };
    assert.equal(gen.bos_token_id, src.config.bosTokenId);
    assert.equal(gen.eos_token_id, src.config.eosTokenId);
    const ours = SentencePieceTokenizer.fromFile(path.join(out, "tokenizer.model"));
    const hf = HfRust.fromFile(path.join(out, "tokenizer.json"));
    const texts = ["Hello world", "  two  spaces\tand a tab\n", "digits 1234567 and ünïcödé 😀", "The quick brown fox."];
    const encs = await hf.encodeBatch(texts, { addSpecialTokens: false });
    texts.forEach((t, i) => assert.deepEqual(Array.from(encs[i]!.getIds()), ours.encode(t), t));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

for (const dtype of ["f16", "bf16"] as const) {
  test(`convert --dtype ${dtype} writes ${dtype.toUpperCase()} safetensors holding the rounded weights`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-dtype-"));
    try {
      const out = path.join(dir, "half");
      const r = spawnSync(process.execPath, [cli, "convert", "--from", evalModel, "--to", out, "--dtype", dtype], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const f = openSafetensors(path.join(out, "model.safetensors"));
      assert.ok([...f.tensors.values()].every((t) => t.dtype === dtype.toUpperCase()));
      f.close();
      assert.equal((JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8")) as { torch_dtype: string }).torch_dtype, dtype === "f16" ? "float16" : "bfloat16");
      const a = loadModelFolder(evalModel).params;
      const b = loadModelFolder(out).params;
      const round = dtype === "f16" ? (x: number) => f16ToF32(f32ToF16(x)) : (x: number) => bf16ToF32(f32ToBf16(x));
      for (let i = 0; i < a.length; i += 97) assert.equal(b[i], Math.fround(round(a[i]!)));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
