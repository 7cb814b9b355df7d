/**
 * llama2.c `.bin` checkpoints: legacy (7-int header, negative vocab = unshared classifier,
 * freq_cis block) and version 1 (`ak42` 256-byte header): round trips, the byte layout, the
 * interleaved q/k rows (the same as GGUF's), and malformed files.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { loadLlama2c, saveLlama2c } from "../../src/formats/llama2c.js";
import { saveGguf } from "../../src/formats/gguf-model.js";
import { GgufFile } from "../../src/formats/gguf.js";
import { paramLayout } from "../../src/model/params.js";
import { UserError } from "../../src/util/errors.js";
import { fixturesDir } from "../helpers.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-l2c-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
const load = (name: string) => loadModelFolder(path.join(fixturesDir, "models", name));

for (const name of ["gqa-f32", "tied-bf16", "mqa-f16-sharded"]) {
  for (const version of [0, 1] as const) {
    test(`${name}: HF -> llama2.c v${version} -> HF is exact`, () => {
      const f = load(name);
      const file = path.join(tmp, `${name}-v${version}.bin`);
      const cfg = { ...f.config, rmsNormEps: 1e-5, ropeTheta: 10000 };
      const warnings = saveLlama2c(file, cfg, f.params, { version });
      assert.deepEqual(warnings, []);
      const back = loadLlama2c(file);
      assert.equal(back.version, version);
      assert.deepEqual(back.config, cfg);
      assert.deepEqual(back.params, f.params);
    });
  }
}

test("legacy layout: header ints, negative vocab for an unshared classifier, freq_cis block, size", () => {
  const f = load("gqa-f32"); // dim 60, hidden 100, 2 layers, 6 heads, 2 kv heads, vocab 97, seq 64, untied
  const file = path.join(tmp, "layout.bin");
  saveLlama2c(file, { ...f.config, rmsNormEps: 1e-5 }, f.params);
  const b = fs.readFileSync(file);
  assert.deepEqual(Array.from({ length: 7 }, (_, i) => b.readInt32LE(4 * i)), [60, 100, 2, 6, 2, -97, 64]);
  const layout = paramLayout(f.config);
  const floats = layout.total + 2 * 64 * 5; // + freq_cis_real/imag [seq_len × head_size/2]
  assert.equal(b.length, 28 + 4 * floats);
  // the embedding comes first, then the attention norms
  const emb = layout.byName.get("model.embed_tokens.weight")!;
  assert.equal(b.readFloatLE(28), f.params[emb.offset]);
  const n0 = layout.byName.get("model.layers.0.input_layernorm.weight")!;
  assert.equal(b.readFloatLE(28 + 4 * emb.size), f.params[n0.offset]);
  // freq_cis_real[pos 1][i 1] = cos(1 · 10000^(-2/10))
  const freqAt = 28 + 4 * (layout.total - layout.byName.get("lm_head.weight")!.size);
  assert.ok(Math.abs(b.readFloatLE(freqAt + 4 * (5 + 1)) - Math.cos(Math.pow(10000, -0.2))) < 1e-6);
});

test("version 1 layout: ak42 magic, shared flag, 256-byte header, norms first", () => {
  const f = load("tied-bf16");
  const file = path.join(tmp, "v1.bin");
  saveLlama2c(file, { ...f.config, rmsNormEps: 1e-5, ropeTheta: 10000 }, f.params, { version: 1 });
  const b = fs.readFileSync(file);
  assert.equal(b.readUInt32LE(0), 0x616b3432);
  assert.equal(b.readInt32LE(4), 1);
  assert.equal(b.readInt32LE(8 + 20), 83); // vocab stays positive
  assert.equal(b.readUInt8(36), 1); // shared classifier
  const layout = paramLayout(f.config);
  assert.equal(b.length, 256 + 4 * layout.total);
  assert.equal(b.readFloatLE(256), f.params[layout.byName.get("model.layers.0.input_layernorm.weight")!.offset]);
});

test("q/k rows in the .bin are the interleaved rows GGUF stores", () => {
  const f = load("gqa-f32");
  const cfg = { ...f.config, rmsNormEps: 1e-5 };
  const bin = path.join(tmp, "perm.bin");
  const gg = path.join(tmp, "perm.gguf");
  saveLlama2c(bin, cfg, f.params, { version: 1 });
  saveGguf(gg, cfg, f.params, { type: "f32" });
  const b = fs.readFileSync(bin);
  const layout = paramLayout(cfg);
  const g = GgufFile.open(gg);
  try {
    // v1 order: norms (2 layers × 2 + final), embedding, then wq of every layer, then wk
    const d = cfg.hiddenSize;
    let at = 256 + 4 * (5 * d + layout.byName.get("model.embed_tokens.weight")!.size);
    for (const kind of ["q", "k"]) {
      for (let l = 0; l < 2; l++) {
        const want = g.readTensorBytes(`blk.${l}.attn_${kind}.weight`);
        assert.ok(Buffer.from(want).equals(b.subarray(at, at + want.length)), `${kind} layer ${l}`);
        at += want.length;
      }
    }
  } finally {
    g.close();
  }
});

test("writing: theta other than 10000 is an error, another eps a warning", () => {
  const f = load("tied-bf16"); // theta 500000, eps 1e-6
  assert.throws(() => saveLlama2c(path.join(tmp, "x.bin"), f.config, f.params), (e: unknown) => e instanceof UserError && /theta 10000/.test((e as Error).message));
  const w = saveLlama2c(path.join(tmp, "x.bin"), { ...f.config, ropeTheta: 10000 }, f.params);
  assert.equal(w.length, 1);
  assert.match(w[0]!, /eps 1e-5/);
});

test("malformed .bin files give clear UserErrors", () => {
  const f = load("mqa-f16-sharded");
  const good = path.join(tmp, "good.bin");
  saveLlama2c(good, { ...f.config, ropeTheta: 10000 }, f.params);
  const bytes = fs.readFileSync(good);
  const bad = path.join(tmp, "bad.bin");
  const cases: Array<[Buffer, RegExp]> = [
    [bytes.subarray(0, bytes.length - 4), /implies \d+ bytes, the file has \d+ \(truncated\?\)/],
    [Buffer.concat([bytes, Buffer.alloc(4)]), /implies/],
    [bytes.subarray(0, 10), /only 10 bytes/],
    [(() => { const c = Buffer.from(bytes); c.writeInt32LE(-5, 0); return c; })(), /dim is -5/],
    [(() => { const c = Buffer.from(bytes); c.writeInt32LE(5, 12); return c; })(), /not divisible|implies/],
    [(() => { const c = Buffer.alloc(300); c.writeUInt32LE(0x616b3432, 0); c.writeInt32LE(2, 4); return c; })(), /version 2/],
    [(() => { const c = Buffer.alloc(300); c.writeUInt32LE(0x616b3432, 0); c.writeInt32LE(7, 4); return c; })(), /unknown llama2.c version 7/],
    [(() => { const c = Buffer.from(bytes); c.writeFloatLE(NaN, 40); return c; })(), /non-finite/],
  ];
  for (const [content, re] of cases) {
    fs.writeFileSync(bad, content);
    assert.throws(() => loadLlama2c(bad), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match((e as Error).message, re);
      return true;
    });
  }
});
