/**
 * GGUF: container round trips, the llama mapping (HF -> GGUF -> HF exact in f32), an
 * independent interleaved-RoPE forward on the exported tensors against the PyTorch fixtures
 * (this is what pins the direction of the q/k permutation), quantised inference error, the
 * tokenizer keys, and crafted / truncated files.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadModelFolder } from "../../src/formats/hf-folder.js";
import { GgufFile, GgufValueType, gguf, writeGguf, type GgufValue } from "../../src/formats/gguf.js";
import { loadGgufParams, loadGgufTensors, saveGguf, tokenizerFromGguf } from "../../src/formats/gguf-model.js";
import { f16ArrayToF32 } from "../../src/formats/half.js";
import { LlamaModel } from "../../src/model/llama.js";
import { paramLayout } from "../../src/model/params.js";
import type { LlamaConfig } from "../../src/model/config.js";
import { dequantize, type QuantMatrix } from "../../src/kernels/quant.js";
import { referenceBackend } from "../../src/kernels/backend.js";
import { loadNativeBackend } from "../../src/kernels/native.js";
import { SentencePieceTokenizer } from "../../src/tokenizer/index.js";
import { PieceType } from "../../src/tokenizer/model-proto.js";
import { UserError } from "../../src/util/errors.js";
import { assertClose, fixturesDir, randomArray, sharedFixturesDir } from "../helpers.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ts-gguf-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

interface Expected { tokens: number[]; logits: number[][] }
const MODELS = ["gqa-f32", "tied-bf16", "mqa-f16-sharded"];
const fixture = (name: string) => ({
  folder: loadModelFolder(path.join(fixturesDir, "models", name)),
  expected: JSON.parse(fs.readFileSync(path.join(fixturesDir, "models", `${name}.expected.json`), "utf8")) as Expected,
});

/** Relative max error as assertClose measures it. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let mx = 0, d = 0;
  for (let i = 0; i < b.length; i++) { mx = Math.max(mx, Math.abs(b[i]!)); d = Math.max(d, Math.abs(a[i]! - b[i]!)); }
  return d / mx;
}

// ---- container ----

test("container: every metadata value type round-trips (incl. u64/i64, nested arrays, unicode)", () => {
  const md = new Map<string, GgufValue>([
    ["general.architecture", gguf.str("test")],
    ["u8", { type: GgufValueType.UINT8, value: 255 }],
    ["i8", { type: GgufValueType.INT8, value: -128 }],
    ["u16", { type: GgufValueType.UINT16, value: 65535 }],
    ["i16", { type: GgufValueType.INT16, value: -32768 }],
    ["u32", gguf.u32(4294967295)],
    ["i32", gguf.i32(-2147483648)],
    ["f32", gguf.f32(0.5)],
    ["f64", { type: GgufValueType.FLOAT64, value: Math.PI }],
    ["u64", { type: GgufValueType.UINT64, value: 18446744073709551615n }],
    ["i64", { type: GgufValueType.INT64, value: -9223372036854775808n }],
    ["bool", gguf.bool(true)],
    ["str", gguf.str("héllo ▁ 🦙")],
    ["strs", gguf.strings(["a", "", "ü"])],
    ["nested", { type: GgufValueType.ARRAY, itemType: GgufValueType.ARRAY, value: [{ itemType: GgufValueType.INT32, value: [1, -2] }, { itemType: GgufValueType.STRING, value: ["x"] }] }],
  ]);
  const file = path.join(tmp, "meta.gguf");
  const t = new Uint8Array(4 * 3 * 2);
  new Float32Array(t.buffer).set([1, 2, 3, 4, 5, 6]);
  writeGguf(file, md, [{ name: "w", dims: [3, 2], type: 0, data: t }, { name: "v", dims: [5], type: 0, data: new Uint8Array(20) }]);
  const f = GgufFile.open(file);
  try {
    assert.equal(f.version, 3);
    for (const [k, v] of md) assert.deepEqual(f.metadata.get(k), v, k);
    assert.deepEqual([...f.metadata.keys()], [...md.keys()]);
    assert.deepEqual(f.tensors.map((x) => [x.name, x.dims, x.offset]), [["w", [3, 2], 0], ["v", [5], 32]]);
    assert.equal(f.dataOffset % 32, 0);
    assert.deepEqual(Array.from(new Float32Array(f.readTensorBytes("w").buffer)), [1, 2, 3, 4, 5, 6]);
  } finally {
    f.close();
  }
});

// ---- llama mapping ----

for (const name of MODELS) {
  test(`${name}: HF -> GGUF (f32) -> HF is exact (params and config)`, () => {
    const { folder } = fixture(name);
    const file = path.join(tmp, `${name}.gguf`);
    saveGguf(file, folder.config, folder.params, { type: "f32" });
    const back = loadGgufParams(file);
    assert.deepEqual(back.config, folder.config);
    assert.deepEqual(back.params, folder.params);
  });
}

/**
 * An independent forward over GGUF tensors, written as llama2.c's run.c does it: RoPE rotates
 * adjacent pairs (2i, 2i+1) — the interleaved layout GGUF stores — no KV cache, float64.
 */
function interleavedForward(file: string, tokens: number[]): number[] {
  const f = GgufFile.open(file);
  try {
    const num = (k: string): number => f.getNumber(k)!;
    const d = num("llama.embedding_length"), nH = num("llama.attention.head_count"), nKv = num("llama.attention.head_count_kv");
    const L = num("llama.block_count"), eps = num("llama.attention.layer_norm_rms_epsilon"), theta = num("llama.rope.freq_base");
    const hd = d / nH;
    const T = (n: string): Float32Array => {
      const info = f.tensorsByName.get(n)!;
      const b = f.readTensorBytes(n);
      if (info.type === 0) return new Float32Array(b.buffer);
      if (info.type === 1) return f16ArrayToF32(new Uint16Array(b.buffer));
      throw new Error("test forward reads f32/f16 only");
    };
    const emb = T("token_embd.weight");
    const V = f.tensorsByName.get("token_embd.weight")!.dims[1]!;
    const out = f.tensorsByName.has("output.weight") ? T("output.weight") : emb;
    const matvec = (w: Float32Array, x: number[], rows: number): number[] => {
      const k = x.length;
      return Array.from({ length: rows }, (_, r) => x.reduce((s, v, i) => s + v * w[r * k + i]!, 0));
    };
    const rms = (x: number[], w: Float32Array): number[] => {
      const ms = x.reduce((s, v) => s + v * v, 0) / x.length;
      return x.map((v, i) => (v / Math.sqrt(ms + eps)) * w[i]!);
    };
    const rope = (v: number[], heads: number, pos: number): void => {
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < hd; i += 2) {
          const a = pos * Math.pow(theta, -i / hd);
          const x0 = v[h * hd + i]!, x1 = v[h * hd + i + 1]!;
          v[h * hd + i] = x0 * Math.cos(a) - x1 * Math.sin(a);
          v[h * hd + i + 1] = x0 * Math.sin(a) + x1 * Math.cos(a);
        }
      }
    };
    let xs = tokens.map((t) => Array.from(emb.subarray(t * d, (t + 1) * d)));
    for (let l = 0; l < L; l++) {
      const p = `blk.${l}.`;
      const wq = T(p + "attn_q.weight"), wk = T(p + "attn_k.weight"), wv = T(p + "attn_v.weight"), wo = T(p + "attn_output.weight");
      const hs = xs.map((x) => rms(x, T(p + "attn_norm.weight")));
      const qs = hs.map((h, t) => { const q = matvec(wq, h, nH * hd); rope(q, nH, t); return q; });
      const ks = hs.map((h, t) => { const k = matvec(wk, h, nKv * hd); rope(k, nKv, t); return k; });
      const vs = hs.map((h) => matvec(wv, h, nKv * hd));
      xs = xs.map((x, t) => {
        const att = new Array<number>(nH * hd).fill(0);
        for (let h = 0; h < nH; h++) {
          const kvh = Math.floor(h / (nH / nKv));
          const sc = Array.from({ length: t + 1 }, (_, s) => {
            let dot = 0;
            for (let i = 0; i < hd; i++) dot += qs[t]![h * hd + i]! * ks[s]![kvh * hd + i]!;
            return dot / Math.sqrt(hd);
          });
          const mx = Math.max(...sc);
          const e = sc.map((v) => Math.exp(v - mx));
          const z = e.reduce((a, b) => a + b, 0);
          for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) att[h * hd + i]! += (e[s]! / z) * vs[s]![kvh * hd + i]!;
        }
        const o = matvec(wo, att, d);
        return x.map((v, i) => v + o[i]!);
      });
      const F = num("llama.feed_forward_length");
      const wg = T(p + "ffn_gate.weight"), wu = T(p + "ffn_up.weight"), wd = T(p + "ffn_down.weight");
      xs = xs.map((x) => {
        const h = rms(x, T(p + "ffn_norm.weight"));
        const g = matvec(wg, h, F), u = matvec(wu, h, F);
        const o = matvec(wd, g.map((v, i) => (v / (1 + Math.exp(-v))) * u[i]!), d);
        return x.map((v, i) => v + o[i]!);
      });
    }
    return xs.flatMap((x) => matvec(out, rms(x, T("output_norm.weight")), V));
  } finally {
    f.close();
  }
}

for (const name of ["gqa-f32", "tied-bf16"]) {
  test(`${name}: an interleaved-RoPE forward on the exported GGUF tensors equals PyTorch (q/k permutation)`, () => {
    const { folder, expected } = fixture(name);
    const file = path.join(tmp, `${name}-il.gguf`);
    saveGguf(file, folder.config, folder.params, { type: "f32" });
    assertClose(interleavedForward(file, expected.tokens), expected.logits.flat(), 1e-5, `${name} interleaved logits`);
    // Without the permutation the same forward is far off (the check has teeth).
    const plain = path.join(tmp, `${name}-noperm.gguf`);
    const f = GgufFile.open(file);
    const md = new Map(f.metadata);
    const tensors = f.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: f.readTensorBytes(t.name) }));
    f.close();
    const layout = paramLayout(folder.config);
    for (const t of tensors) {
      const m = /^blk\.(\d+)\.attn_([qk])\.weight$/.exec(t.name);
      if (!m) continue;
      const spec = layout.byName.get(`model.layers.${m[1]}.self_attn.${m[2]}_proj.weight`)!;
      t.data = new Uint8Array(folder.params.slice(spec.offset, spec.offset + spec.size).buffer);
    }
    writeGguf(plain, md, tensors);
    assert.ok(relErr(interleavedForward(plain, expected.tokens), expected.logits.flat()) > 1e-2);
  });
}

const backends = [referenceBackend(), ...(loadNativeBackend().backend ? [loadNativeBackend().backend!] : [])];

for (const name of MODELS) {
  test(`${name}: logits from GGUF (f32 and f16 files) match PyTorch`, () => {
    const { folder, expected } = fixture(name);
    for (const type of ["f32", "f16"] as const) {
      const file = path.join(tmp, `${name}-${type}.gguf`);
      saveGguf(file, folder.config, folder.params, { type });
      const g = loadGgufTensors(file);
      for (const b of backends) {
        const model = new LlamaModel(g.config, g.tensors, b);
        const logits = model.forward(expected.tokens, model.newCache(), true);
        // f16 storage: bf16 and f16 fixtures are exact in f16; the f32 fixture rounds (measured 1.2e-3).
        const tol = type === "f32" || name !== "gqa-f32" ? 1e-4 : 3e-3;
        assertClose(logits, expected.logits.flat(), tol, `${name} ${type} [${b.name}]`);
      }
    }
  });
}

/** A random model whose rows are multiples of 32, so every matrix is block-quantised. */
function randomModel(): { config: LlamaConfig; params: Float32Array } {
  const config: LlamaConfig = {
    vocabSize: 96, hiddenSize: 64, intermediateSize: 160, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
    rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 32, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
  };
  const layout = paramLayout(config);
  const params = randomArray(layout.total, 11, 0.08);
  for (const s of layout.specs) {
    if (s.shape.length === 1) params.fill(1, s.offset, s.offset + s.size);
    if (/[qk]_proj/.test(s.name)) for (let i = s.offset; i < s.offset + s.size; i++) params[i]! *= 6;
  }
  return { config, params };
}

test("quantised GGUF inference (q8_0, q4_0, f16) stays close to f32 on both backends", () => {
  const { config, params } = randomModel();
  const tokens = [1, 5, 9, 33, 70, 2, 17, 88, 40, 3, 61, 12];
  const ref = new LlamaModel(config, params, referenceBackend());
  const want = ref.forward(tokens, ref.newCache(), true);
  // Measured (relative to the largest logit; uniform random weights with q/k x6 are a hard
  // case): f16 1.5e-3, q8_0 3.5e-2, q4_0 6.5e-1. With the weights' quantisation error alone
  // (dequantised weights, f32 products): f16 1.5e-3, q8_0 2.0e-2, q4_0 6.6e-1; the 8-bit
  // activations of the block products add 2.5e-2 (q8_0) / 3.9e-2 (q4_0) against that.
  const bounds = { f16: 3e-3, q8_0: 6e-2, q4_0: 1.0 } as const;
  for (const type of ["f16", "q8_0", "q4_0"] as const) {
    const file = path.join(tmp, `rand-${type}.gguf`);
    saveGguf(file, config, params, { type });
    const g = loadGgufTensors(file);
    const wq = g.tensors.layers[0]!.wq as QuantMatrix;
    assert.equal(wq.type, type, "matrices stay quantised in memory");
    assert.equal((g.tensors.lmHead as QuantMatrix).type, type === "q4_0" ? "q8_0" : type, "q4_0 files keep the head at q8_0");
    const outs = backends.map((b) => {
      const m = new LlamaModel(g.config, g.tensors, b);
      const all = m.forward(tokens, m.newCache(), true);
      // Decoding one token at a time (per-row integer dot products) equals the prefill (dequantise-
      // on-pack float matmul for >= 4 rows) up to float summation order. For f16 that is all; for
      // q8_0/q4_0 the activations are rounded to int8 per block, and a 1e-7 difference upstream can
      // flip one rounding, moving a logit by one quantisation step (measured 3e-5 for q8_0).
      const cache = m.newCache();
      const rows: number[] = [...m.forward(tokens.slice(0, 4), cache, true)];
      for (let t = 4; t < tokens.length; t++) rows.push(...m.forward([tokens[t]!], cache));
      assertClose(rows, all, type === "f16" ? 1e-5 : 1e-3, `${type} [${b.name}] decode vs prefill`);
      return all;
    });
    outs.forEach((o, i) => {
      const err = relErr(o, want);
      assert.ok(err < bounds[type], `${type} [${backends[i]!.name}]: relative logit error ${err.toExponential(2)} >= ${bounds[type]}`);
    });
    // f16 products are float products: the backends agree to rounding. With 8-bit activations a
    // rounding flip in one block (from float-order differences upstream) moves a logit by up to a
    // quantisation step, so the backends agree only to the activation-quantisation level there;
    // the kernels themselves agree to 1e-6 (test/kernels/quant.test.ts).
    if (outs.length > 1) assertClose(outs[1]!, outs[0]!, type === "f16" ? 1e-4 : 6e-2, `${type} native vs reference`);
    // loadGgufParams dequantises to the same values the quantised model uses
    const deq = loadGgufParams(file);
    const dm = new LlamaModel(deq.config, deq.params, referenceBackend());
    const actErr = relErr(outs[0]!, dm.forward(tokens, dm.newCache(), true));
    assert.ok(actErr < (type === "f16" ? 1e-5 : 6e-2), `${type}: block products vs dequantised f32 products ${actErr.toExponential(2)}`);
    const layout = paramLayout(config);
    const s = layout.byName.get("model.layers.0.self_attn.q_proj.weight")!;
    assert.deepEqual(deq.params.subarray(s.offset, s.offset + s.size), dequantize(wq));
  }
});

test("mqa fixture: q8_0 / q4_0 GGUF logits vs PyTorch (rows of 56 fall back to f16)", () => {
  const { folder, expected } = fixture("mqa-f16-sharded");
  const errs: Record<string, number> = {};
  for (const type of ["q8_0", "q4_0"] as const) {
    const file = path.join(tmp, `mqa-${type}.gguf`);
    saveGguf(file, folder.config, folder.params, { type });
    const g = loadGgufTensors(file);
    assert.equal((g.tensors.layers[0]!.wDown as QuantMatrix).type, "f16");
    const m = new LlamaModel(g.config, g.tensors);
    errs[type] = relErr(m.forward(expected.tokens, m.newCache(), true), expected.logits.flat());
  }
  // Measured: q8_0 4.7e-2, q4_0 4.0e-1 (q/k scaled x6 amplify weight noise in this fixture).
  assert.ok(errs.q8_0! < 0.1 && errs.q4_0! < 0.8, JSON.stringify(errs));
  assert.ok(errs.q8_0! < errs.q4_0!);
});

test("tokenizer keys: LLaMA tokenizer -> GGUF -> tokenizer gives the same ids", { skip: !fs.existsSync(path.join(sharedFixturesDir, "llama-tokenizer.model")) }, () => {
  const tokFile = path.join(sharedFixturesDir, "llama-tokenizer.model");
  const bytes = fs.readFileSync(tokFile);
  const config: LlamaConfig = {
    vocabSize: 32000, hiddenSize: 32, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 2,
    rmsNormEps: 1e-6, ropeTheta: 10000, maxPositionEmbeddings: 16, tieWordEmbeddings: true, bosTokenId: 1, eosTokenId: 2,
  };
  const file = path.join(tmp, "tok.gguf");
  saveGguf(file, config, new Float32Array(paramLayout(config).total), { type: "q8_0", tokenizer: bytes });
  const f = GgufFile.open(file);
  try {
    assert.equal(f.getString("tokenizer.ggml.model"), "llama");
    const tokens = f.get("tokenizer.ggml.tokens") as string[];
    const types = f.get("tokenizer.ggml.token_type") as number[];
    assert.equal(tokens.length, 32000);
    assert.deepEqual([tokens[0], tokens[1], tokens[2], tokens[3]], ["<unk>", "<s>", "</s>", "<0x00>"]);
    assert.deepEqual([types[0], types[1], types[3], types[300]], [PieceType.UNKNOWN, PieceType.CONTROL, PieceType.BYTE, PieceType.NORMAL]);
    assert.deepEqual(
      ["bos_token_id", "eos_token_id", "unknown_token_id"].map((k) => f.getNumber(`tokenizer.ggml.${k}`)),
      [1, 2, 0],
    );
    assert.equal(f.get("tokenizer.ggml.add_bos_token"), true);
    const orig = SentencePieceTokenizer.fromFile(tokFile);
    const back = SentencePieceTokenizer.fromModel(tokenizerFromGguf(f)!);
    for (const text of ["Hello world", "  leading spaces and 12345 digits", "naïve café 🦙 日本語", "a\nb\tc"]) {
      assert.deepEqual(back.encode(text, { bos: true }), orig.encode(text, { bos: true }), text);
      assert.equal(back.decode(orig.encode(text)), orig.decode(orig.encode(text)));
    }
  } finally {
    f.close();
  }
});

// ---- crafted and truncated files ----

function expectUserError(file: string, re: RegExp): void {
  assert.throws(() => loadGgufParams(file), (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

test("truncated GGUF files give a clear UserError at every cut point", () => {
  const { folder } = fixture("mqa-f16-sharded");
  const file = path.join(tmp, "full.gguf");
  saveGguf(file, folder.config, folder.params, { type: "q4_0" });
  const full = fs.readFileSync(file);
  const cut = path.join(tmp, "cut.gguf");
  const f = GgufFile.open(file);
  const headerEnd = f.dataOffset;
  f.close();
  const points = new Set<number>();
  for (let i = 0; i < headerEnd; i += 7) points.add(i);
  for (let i = headerEnd; i < full.length; i += 997) points.add(i);
  points.add(full.length - 1);
  for (const n of points) {
    fs.writeFileSync(cut, full.subarray(0, n));
    expectUserError(cut, /truncated|not a GGUF|past the end|more than this file/);
  }
});

/** Builds a GGUF header by hand. */
class Bytes {
  parts: Buffer[] = [];
  u32(v: number): this { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.parts.push(b); return this; }
  u64(v: bigint): this { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); this.parts.push(b); return this; }
  str(s: string): this { this.u64(BigInt(Buffer.byteLength(s))); this.parts.push(Buffer.from(s)); return this; }
  raw(b: Buffer): this { this.parts.push(b); return this; }
  buf(): Buffer { return Buffer.concat(this.parts); }
}
const head = (nT: bigint, nKv: bigint): Bytes => new Bytes().u32(0x46554747).u32(3).u64(nT).u64(nKv);

test("crafted GGUF headers are rejected without huge allocations or crashes", () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ["bad magic", Buffer.from("GGML0000000000000000000000000000"), /not a GGUF/],
    ["version 1", new Bytes().u32(0x46554747).u32(1).u64(0n).u64(0n).buf(), /version 1/],
    ["big-endian", new Bytes().u32(0x46554747).u32(0x03000000).u64(0n).u64(0n).buf(), /big-endian/],
    ["huge tensor count", head(1n << 62n, 0n).buf(), /tensor count/],
    ["huge kv count", head(0n, 0xffffffffffffffffn).buf(), /metadata count/],
    ["huge key length", head(0n, 1n).u64(1n << 60n).buf(), /length of metadata key/],
    ["huge array", head(0n, 1n).str("a").u32(9).u32(6).u64(1n << 40n).buf(), /item count of "a"/],
    ["huge string array", head(0n, 1n).str("a").u32(9).u32(8).u64(1n << 33n).buf(), /item count of "a"/],
    ["unknown value type", head(0n, 1n).str("a").u32(99).raw(Buffer.alloc(16)).buf(), /unknown value type 99/],
    ["deep nesting", (() => { const b = head(0n, 1n).str("a").u32(9); for (let i = 0; i < 6; i++) b.u32(9).u64(1n); return b.raw(Buffer.alloc(64)).buf(); })(), /nested too deeply/],
    ["bad bool", head(0n, 1n).str("a").u32(7).raw(Buffer.from([5])).raw(Buffer.alloc(40)).buf(), /bool value 5/],
    ["duplicate key", head(0n, 2n).str("a").u32(4).u32(1).str("a").u32(4).u32(1).buf(), /duplicate metadata key/],
    ["bad alignment", head(0n, 1n).str("general.alignment").u32(4).u32(24).raw(Buffer.alloc(64)).buf(), /power of two/],
    ["5 dims", head(1n, 0n).str("t").u32(5).raw(Buffer.alloc(80)).buf(), /5 dimensions/],
    ["huge dims", head(1n, 0n).str("t").u32(2).u64(1n << 40n).u64(1n << 40n).u32(0).u64(0n).raw(Buffer.alloc(32)).buf(), /more elements than the file/],
    ["zero dim", head(1n, 0n).str("t").u32(1).u64(0n).u32(0).u64(0n).raw(Buffer.alloc(32)).buf(), /zero dimension/],
    ["unknown type", head(1n, 0n).str("t").u32(1).u64(4n).u32(77).u64(0n).raw(Buffer.alloc(32)).buf(), /unknown ggml type 77/],
    ["block mismatch", head(1n, 0n).str("t").u32(1).u64(33n).u32(8).u64(0n).raw(Buffer.alloc(64)).buf(), /multiple of the Q8_0 block/],
    ["misaligned offset", head(1n, 0n).str("t").u32(1).u64(4n).u32(0).u64(4n).raw(Buffer.alloc(64)).buf(), /not a multiple of the alignment/],
    ["data past end", head(1n, 0n).str("t").u32(1).u64(100n).u32(0).u64(0n).raw(Buffer.alloc(64)).buf(), /past the end/],
    ["offset past end", head(1n, 0n).str("t").u32(1).u64(4n).u32(0).u64(1n << 50n).raw(Buffer.alloc(32)).buf(), /data offset of "t"/],
    // llama.cpp refuses tensors whose bytes overlap: "a" is 64 bytes at 0, "b" starts at 32
    ["overlapping tensors", head(2n, 0n).str("a").u32(1).u64(16n).u32(0).u64(0n).str("b").u32(1).u64(8n).u32(0).u64(32n).raw(Buffer.alloc(192)).buf(), /tensors "a" \(bytes 0\.\.64\) and "b" \(from byte 32\) overlap/],
    ["duplicate tensor", head(2n, 0n).str("t").u32(1).u64(4n).u32(0).u64(0n).str("t").u32(1).u64(4n).u32(0).u64(32n).raw(Buffer.alloc(128)).buf(), /duplicate tensor/],
    ["not llama", head(0n, 1n).str("general.architecture").u32(8).str("gpt2").buf(), /architecture is "gpt2"/],
  ];
  for (const [what, bytes, re] of cases) {
    const file = path.join(tmp, "crafted.gguf");
    fs.writeFileSync(file, bytes);
    assert.throws(() => loadGgufParams(file), (e: unknown) => {
      assert.ok(e instanceof UserError, `${what}: expected a UserError, got ${String((e as Error)?.stack ?? e)}`);
      assert.match((e as Error).message, re, what);
      return true;
    }, what);
  }
});

test("GGUF with missing, misshapen or unsupported tensors: clear errors", () => {
  const { folder } = fixture("gqa-f32");
  const file = path.join(tmp, "base.gguf");
  saveGguf(file, folder.config, folder.params, { type: "f32" });
  const f = GgufFile.open(file);
  const md = new Map(f.metadata);
  const tensors = f.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: f.readTensorBytes(t.name) as Uint8Array }));
  f.close();
  const out = path.join(tmp, "bad.gguf");
  writeGguf(out, md, tensors.filter((t) => t.name !== "blk.1.ffn_up.weight"));
  expectUserError(out, /blk\.1\.ffn_up\.weight is missing/);
  writeGguf(out, md, tensors.map((t) => (t.name === "output_norm.weight" ? { ...t, dims: [15, 4] } : t)));
  expectUserError(out, /output_norm\.weight has dims \[15, 4\]/);
  writeGguf(out, md, [...tensors, { name: "blk.0.attn_q.bias", dims: [20], type: 0, data: new Uint8Array(80) }]);
  expectUserError(out, /unexpected tensors.*blk\.0\.attn_q\.bias/);
  // rope_freqs (Llama 3.1 RoPE scaling) is read, but zeros are no llama3 rule.
  writeGguf(out, md, [...tensors, { name: "rope_freqs.weight", dims: [5], type: 0, data: new Uint8Array(20) }]);
  expectUserError(out, /rope_freqs\.weight does not follow Llama 3's RoPE scaling rule/);
  writeGguf(out, md, tensors.map((t) => (t.name === "blk.0.attn_v.weight" ? { ...t, type: 12, dims: [256, 1], data: new Uint8Array(144) } : t)));
  expectUserError(out, /has dims|Q4_K/);
  const nan = tensors.map((t) => (t.name === "output_norm.weight" ? { ...t, data: new Uint8Array(new Float32Array(60).fill(NaN).buffer) } : t));
  writeGguf(out, md, nan);
  expectUserError(out, /non-finite/);
  const md2 = new Map(md);
  md2.delete("llama.block_count");
  writeGguf(out, md2, tensors);
  expectUserError(out, /llama\.block_count is missing/);
});
