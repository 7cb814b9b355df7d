/**
 * Weight files mapped into memory (native/mmap.c, runtime/mapped-file.ts): a mapped model gives
 * bit-identical logits to the same model read with plain reads (GGUF q8_0 and f32, safetensors
 * f16 and bf16 from the PyTorch fixtures), its tensors are views into the mapping (no copy, kept in
 * their stored type), the PyTorch logits are still matched, crafted files are still refused, and
 * the reference backend still loads everything by plain reads.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { float32Params, loadModel } from "../../src/runtime/load.js";
import { canMapFiles, isMapped, mapFile } from "../../src/runtime/mapped-file.js";
import { loadModelFolderTensors } from "../../src/formats/hf-folder.js";
import { checkTensorFinite, saveGguf, setExponentScan, typedView } from "../../src/formats/gguf-model.js";
import { LlamaModel } from "../../src/model/llama.js";
import { paramLayout } from "../../src/model/params.js";
import type { LlamaConfig } from "../../src/model/config.js";
import { isQuantMatrix, type Weight } from "../../src/kernels/quant.js";
import { referenceBackend } from "../../src/kernels/backend.js";
import { loadNativeBackend } from "../../src/kernels/native.js";
import { UserError } from "../../src/util/errors.js";
import { assertClose, fixturesDir, randomArray } from "../helpers.js";

const native = loadNativeBackend().backend;
const canMap = native !== undefined && canMapFiles();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-mmap-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

const config: LlamaConfig = {
  vocabSize: 96, hiddenSize: 64, intermediateSize: 160, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
  rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 64, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
};
const TOKENS = [1, 5, 17, 42, 3, 71, 60, 9]; // < 83: also fits the fixtures

function randomParams(c: LlamaConfig, seed: number): Float32Array {
  const layout = paramLayout(c);
  const p = randomArray(layout.total, seed, 0.08);
  for (const s of layout.specs) if (s.shape.length === 1) p.fill(1, s.offset, s.offset + s.size); // norms
  return p;
}

function logitsOf(model: LlamaModel): Float32Array {
  return model.forward(TOKENS, model.newCache(), true);
}

/** Whether `w`'s bytes are a view into a mapped file, not a copy. */
function isViewOfFile(w: Weight): boolean {
  return isMapped(isQuantMatrix(w) ? w.data : w);
}

for (const type of ["q8_0", "f32"] as const) {
  test(`GGUF ${type}: mapped and read loads give bit-identical logits; mapped tensors are views into the file`, { skip: !canMap }, async () => {
    const file = path.join(tmp, `m-${type}.gguf`);
    saveGguf(file, config, randomParams(config, 7), { type });
    const mapped = await loadModel(file, { mmap: true });
    const read = await loadModel(file, { mmap: false });
    const wm = mapped.model.weights;
    const wr = read.model.weights;
    // every matrix is used as stored, q/k too (the model reorders their activations instead)
    for (const w of [wm.layers[1]!.wv, wm.layers[0]!.wq, wm.layers[1]!.wk, wm.lmHead, wm.embedTokens]) assert.ok(isViewOfFile(w));
    assert.ok(wm.qkInterleaved === true && wr.qkInterleaved === undefined);
    assert.ok(!isViewOfFile(wr.layers[1]!.wv));
    if (type === "q8_0") assert.ok(isQuantMatrix(wm.layers[0]!.wDown) && wm.layers[0]!.wDown.type === "q8_0");
    assert.deepEqual(logitsOf(mapped.model), logitsOf(read.model));
    // one token at a time through the cache (decode) too
    const step = (m: LlamaModel): Float32Array[] => {
      const cache = m.newCache();
      return TOKENS.map((t) => m.forward([t], cache).slice());
    };
    assert.deepEqual(step(mapped.model), step(read.model));
    assert.deepEqual(float32Params(mapped), float32Params(read), "float32 parameters (converters) in HF order either way");
  });
}

const FOLDERS = [["tied-bf16", "bf16"], ["mqa-f16-sharded", "f16"]] as const;
for (const [name, stored] of FOLDERS) {
  test(`safetensors ${name}: ${stored} kept as stored; mapped = read bit for bit; PyTorch logits (rel err <= 1e-4)`, { skip: !canMap }, () => {
    const dir = path.join(fixturesDir, "models", name);
    const expected = JSON.parse(fs.readFileSync(path.join(fixturesDir, "models", `${name}.expected.json`), "utf8")) as { tokens: number[]; logits: number[][] };
    const m = loadModelFolderTensors(dir, { mapFile });
    const r = loadModelFolderTensors(dir);
    const wq = m.tensors.layers[0]!.wq;
    assert.ok(isQuantMatrix(wq) && wq.type === stored, `q_proj kept as ${stored}`);
    assert.ok(isQuantMatrix(m.tensors.embedTokens) && m.tensors.embedTokens.type === stored);
    assert.ok(m.tensors.finalNorm instanceof Float32Array, "norms are float32");
    assert.ok(isViewOfFile(wq), "a view into the mapped file");
    assert.ok(!isViewOfFile(r.tensors.layers[0]!.wq), "read, not mapped");
    const lm = new LlamaModel(m.config, m.tensors, native);
    const lr = new LlamaModel(r.config, r.tensors, native);
    const a = lm.forward(expected.tokens, lm.newCache(), true);
    assert.deepEqual(a, lr.forward(expected.tokens, lr.newCache(), true));
    assertClose(a, expected.logits.flat(), 1e-4, `${name} logits`);
  });
}

test("loadModel on the native backend keeps a bf16 folder in bf16; the reference backend reads float32 and agrees", { skip: !canMap }, async () => {
  const dir = path.join(fixturesDir, "models", "tied-bf16");
  const nat = await loadModel(dir, { backend: native });
  const ref = await loadModel(dir, { backend: referenceBackend() });
  assert.ok(isQuantMatrix(nat.model.weights.layers[0]!.wUp) && nat.model.params === undefined);
  assert.ok(ref.model.params instanceof Float32Array);
  assertClose(logitsOf(nat.model), logitsOf(ref.model), 1e-4, "native bf16 vs reference f32");
});

test("the reference backend loads GGUF q8_0 by plain reads and matches the mapped native model", { skip: !canMap }, async () => {
  const file = path.join(tmp, "ref-q8_0.gguf");
  saveGguf(file, config, randomParams(config, 11), { type: "q8_0" });
  const ref = await loadModel(file, { backend: referenceBackend() });
  const nat = await loadModel(file, { backend: native });
  assert.ok(!isViewOfFile(ref.model.weights.layers[0]!.wv), "the reference backend reads");
  assertClose(logitsOf(ref.model), logitsOf(nat.model), 1e-4, "reference vs native q8_0");
});

test("a mapped GGUF whose tensor runs past the end of the file is refused before anything is mapped into use", { skip: !canMap }, async () => {
  const file = path.join(tmp, "trunc.gguf");
  saveGguf(file, config, randomParams(config, 3), { type: "q8_0" });
  fs.truncateSync(file, fs.statSync(file).size - 100);
  await assert.rejects(loadModel(file, { mmap: true }), (e: unknown) => e instanceof UserError && /extends past the end of the file/.test(e.message));
});

test("mapFile: a missing file is one clear error; an empty file has size 0; views equal the file's bytes and outlive the MappedFile", { skip: !canMap }, () => {
  assert.throws(() => mapFile(path.join(tmp, "nope.gguf")), (e: unknown) => e instanceof UserError && /cannot map .*nope\.gguf: cannot open: No such file/.test(e.message));
  const empty = path.join(tmp, "empty.bin");
  fs.writeFileSync(empty, "");
  assert.equal(mapFile(empty)!.size, 0);
  assert.equal(mapFile(empty)!.view(0, 0).length, 0);
  const file = path.join(fixturesDir, "models", "tied-bf16", "config.json");
  const want = fs.readFileSync(file);
  let m = mapFile(file);
  assert.equal(m!.size, want.length);
  const views = [m!.view(0, want.length), m!.view(5, 17), m!.view(want.length - 3, 3), m!.view(want.length, 0)];
  m = undefined; // the views keep the mapping
  (globalThis as { gc?: () => void }).gc?.();
  assert.deepEqual([...views].map((v) => Buffer.from(v)), [want, want.subarray(5, 22), want.subarray(want.length - 3), Buffer.alloc(0)]);
  const again = mapFile(file)!;
  assert.throws(() => again.view(want.length - 2, 3), RangeError, "a range past the end is refused");
  assert.throws(() => again.view(-1, 2), RangeError);
});

test("typedView: no copy at an aligned offset, a copy with the same values at an unaligned one", () => {
  const f = new Float32Array([1.5, -2, 3.25, 4]);
  const bytes = new Uint8Array(f.buffer);
  const aligned = typedView(bytes.subarray(4, 12), Float32Array);
  assert.equal(aligned.buffer, f.buffer);
  assert.deepEqual(Array.from(aligned), [-2, 3.25]);
  const odd = new Uint8Array(17);
  odd.set(bytes, 1);
  const copy = typedView(odd.subarray(1, 17), Float32Array);
  assert.notEqual(copy.buffer, odd.buffer);
  assert.deepEqual(Array.from(copy), [1.5, -2, 3.25, 4]);
});

test("the load-time Inf/NaN scan (the addon's when it is built) names the byte of the first bad f16/bf16/f32 value", () => {
  canMapFiles(); // installs the native scan when the addon is there
  const f16 = new Uint16Array(1000).fill(0x3c00);
  f16[777] = 0x7e00; // NaN
  f16[900] = 0x7c00; // Inf, later
  const bf16 = new Uint16Array(130).fill(0x3f80);
  bf16[129] = 0xff80; // -Inf, in the tail after the blocks of 64
  const f32 = new Float32Array(300).fill(1);
  f32[64] = NaN;
  const cases = [[1, f16, 1554], [30, bf16, 258], [0, f32, 256]] as const;
  const check = (): void => {
    for (const [type, arr, byte] of cases) {
      const bytes = new Uint8Array(arr.buffer);
      assert.throws(() => checkTensorFinite("m.gguf", "t", type, bytes), (e: unknown) => e instanceof UserError && new RegExp(`at byte ${byte}\\)`).test(e.message), `type ${type}`);
    }
    checkTensorFinite("m.gguf", "t", 1, new Uint8Array(new Uint16Array(999).fill(0x3c00).buffer)); // all finite: no error
  };
  check();
  setExponentScan(undefined); // the plain TypeScript loops (the browser's): the same answers (last test of the file)
  check();
});
